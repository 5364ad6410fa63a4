// Who awaits the answer to a message: decoded once, at the edge where the
// message enters a kernel (an attachment's ring, or the socket path), and
// carried typed from there on. Plugins see it only as an opaque token
// (pdc_message.reply_to, 0 when nobody waits).
#pragma once

#include <cstdint>

namespace pdc::daemon {

struct reply_address {
  enum class kind : std::uint8_t {
    none,        ///< Nobody waits: an answer is an output (subscribers, connections).
    session,     ///< A socket-path sender: the session with this id.
    attachment,  ///< An attachment's reply ring (attachment id).
  };
  kind to = kind::none;
  std::uint64_t id = 0;

  static constexpr reply_address nobody() noexcept { return {}; }
  static constexpr reply_address session(std::uint64_t session_id) noexcept { return {kind::session, session_id}; }
  static constexpr reply_address attachment(std::uint64_t attachment_id) noexcept {
    return {kind::attachment, attachment_id};
  }

  [[nodiscard]] constexpr bool expects_reply() const noexcept { return to != kind::none; }

  /// The token a plugin sees: the kind in the top two bits, the id below.
  [[nodiscard]] constexpr std::uint64_t token() const noexcept {
    switch (to) {
      case kind::none:
        return 0;
      case kind::session:
        return k_session_bit | (id & k_id_mask);
      case kind::attachment:
        return k_attachment_bit | (id & k_id_mask);
    }
    return 0;
  }

  /// The address a token names; a token no daemon made reads as nobody.
  static constexpr reply_address decode(std::uint64_t token) noexcept {
    const std::uint64_t kind_bits = token & ~k_id_mask;
    if (kind_bits == k_session_bit) return session(token & k_id_mask);
    if (kind_bits == k_attachment_bit) return attachment(token & k_id_mask);
    return nobody();
  }

  friend constexpr bool operator==(const reply_address&, const reply_address&) = default;

 private:
  static constexpr std::uint64_t k_session_bit = 1ULL << 62;
  static constexpr std::uint64_t k_attachment_bit = 1ULL << 63;
  static constexpr std::uint64_t k_id_mask = k_session_bit - 1;
};

}  // namespace pdc::daemon
