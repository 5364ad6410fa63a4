// Who may do what (docs/security.md, "Authorization"). A client is known by
// the credentials its socket had when it connected (SO_PEERCRED,
// SO_PEERGROUPS). Administrators (root, the daemon's own user, members of
// the configured admin_group) manage plugins, pools and kernels; anyone else
// may only use a kernel as its access list grants: send, attach, subscribe,
// status. A kernel's owner (the uid that launched it) has every right on it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/core/result.hpp"

namespace pdc::daemon {

/// A connected client's credentials, read once at connect.
struct peer_credentials {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
  std::vector<std::uint32_t> groups;  ///< Supplementary groups.
  bool admin = false;                 ///< Decided at connect (see is_administrator).

  [[nodiscard]] bool in_group(std::uint32_t g) const noexcept;
};

/// What a kernel's access list can grant (bits).
enum class kernel_right : std::uint8_t {
  send = 1U << 0,       ///< Send over the socket (Send).
  attach = 1U << 1,     ///< Open an attachment (Attach).
  subscribe = 1U << 2,  ///< Receive its outputs (Subscribe).
  status = 1U << 3,     ///< See it in list, status and metrics.
};
/// "send", "attach", "subscribe", "status".
std::string_view to_string(kernel_right r) noexcept;

/// One entry: who (a user, a group, anyone here, or another node of the
/// cluster) and which rights.
struct access_entry {
  enum class who : std::uint8_t { user, group, anyone, node };
  who to = who::anyone;
  std::uint32_t id = 0;  ///< uid or gid
  std::string node;      ///< who::node: the node's name, or "*" for every node
  std::uint8_t rights = 0;
  std::string text;  ///< As written, for status.
};

/// A kernel's access list, resolved at launch (names looked up then).
class access_list {
 public:
  /// Parses entries like "user:alice=send,attach", "group:pdc=all",
  /// "uid:1000=status", "anyone=status", "node:b=send", "node:*=send";
  /// invalid_argument or not_found (an unknown user or group) naming the
  /// entry. "anyone" means any local client: another node needs a node: entry.
  static result<access_list> parse(const std::vector<std::string>& entries);

  /// True when `peer` may use the kernel so (administrators and `owner` may do anything).
  [[nodiscard]] bool permits(const peer_credentials& peer, std::uint32_t owner, kernel_right r) const noexcept;
  /// True when a sender on node `node` of the cluster may use the kernel so
  /// (only node: entries grant it; docs/cluster.md).
  [[nodiscard]] bool permits_node(std::string_view node, kernel_right r) const noexcept;
  /// The entries as written.
  [[nodiscard]] std::vector<std::string> texts() const;

 private:
  std::vector<access_entry> entries_;
};

/// The administrator rule: root, the daemon's effective uid, or a member of `admin_gid`.
bool is_administrator(const peer_credentials& peer, std::optional<std::uint32_t> admin_gid) noexcept;

/// Reads SO_PEERCRED and SO_PEERGROUPS of a connected Unix socket.
result<peer_credentials> credentials_of(int socket_fd);

/// The gid of group `name`, or not_found.
result<std::uint32_t> group_id(const std::string& name);
/// The uid of the user `name`, or not_found.
result<std::uint32_t> user_uid(const std::string& name);

}  // namespace pdc::daemon
