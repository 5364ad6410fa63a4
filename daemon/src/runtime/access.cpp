#include "runtime/access.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace pdc::daemon {

namespace {

constexpr std::uint8_t k_all_rights = 0x0f;

std::uint8_t bit(kernel_right r) noexcept {
  return static_cast<std::uint8_t>(r);
}

error bad_entry(const std::string& entry, const std::string& why) {
  return make_error(errc::invalid_argument,
                    "access entry '" + entry + "': " + why +
                        " (expected user:NAME, group:NAME, uid:N, gid:N, node:NAME, node:* or anyone, then "
                        "=send,attach,subscribe,status or =all)");
}

result<std::uint8_t> parse_rights(const std::string& entry, std::string_view list) {
  std::uint8_t rights = 0;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view word = list.substr(0, comma);
    if (word == "all") {
      rights |= k_all_rights;
    } else if (word == "send") {
      rights |= bit(kernel_right::send);
    } else if (word == "attach") {
      rights |= bit(kernel_right::attach);
    } else if (word == "subscribe") {
      rights |= bit(kernel_right::subscribe);
    } else if (word == "status") {
      rights |= bit(kernel_right::status);
    } else {
      return bad_entry(entry, "unknown right '" + std::string(word) + "'");
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (rights == 0) return bad_entry(entry, "no right named");
  return rights;
}

result<std::uint32_t> number(const std::string& entry, std::string_view digits) {
  std::uint32_t v = 0;
  const auto* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, v);
  if (ec != std::errc() || ptr != end || digits.empty()) return bad_entry(entry, "not a number");
  return v;
}

result<std::uint32_t> user_id(const std::string& entry, const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return make_error(errc::not_found, "access entry '" + entry + "': no user named '" + name + "'");
  }
  return static_cast<std::uint32_t>(found->pw_uid);
}

}  // namespace

bool peer_credentials::in_group(std::uint32_t g) const noexcept {
  return gid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

std::string_view to_string(kernel_right r) noexcept {
  switch (r) {
    case kernel_right::send:
      return "send";
    case kernel_right::attach:
      return "attach";
    case kernel_right::subscribe:
      return "subscribe";
    case kernel_right::status:
      return "status";
  }
  return "unknown";
}

result<std::uint32_t> user_uid(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return make_error(errc::not_found, "no user named '" + name + "'");
  }
  return static_cast<std::uint32_t>(found->pw_uid);
}

result<std::uint32_t> group_id(const std::string& name) {
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return make_error(errc::not_found, "no group named '" + name + "'");
  }
  return static_cast<std::uint32_t>(found->gr_gid);
}

result<access_list> access_list::parse(const std::vector<std::string>& entries) {
  access_list out;
  for (const auto& text : entries) {
    const auto eq = text.find('=');
    if (eq == std::string::npos) return bad_entry(text, "no '='");
    auto rights = parse_rights(text, std::string_view(text).substr(eq + 1));
    if (!rights) return std::move(rights).err();
    const std::string who = text.substr(0, eq);
    access_entry e;
    e.rights = *rights;
    e.text = text;
    if (who == "anyone") {
      e.to = access_entry::who::anyone;
    } else {
      const auto colon = who.find(':');
      if (colon == std::string::npos) return bad_entry(text, "no kind before the name");
      const std::string kind = who.substr(0, colon);
      const std::string name = who.substr(colon + 1);
      if (name.empty()) return bad_entry(text, "no name");
      result<std::uint32_t> id = make_error(errc::internal);
      if (kind == "user") {
        e.to = access_entry::who::user;
        id = user_id(text, name);
      } else if (kind == "uid") {
        e.to = access_entry::who::user;
        id = number(text, name);
      } else if (kind == "group") {
        e.to = access_entry::who::group;
        id = group_id(name);
        if (!id) return make_error(errc::not_found, "access entry '" + text + "': " + id.err().what());
      } else if (kind == "gid") {
        e.to = access_entry::who::group;
        id = number(text, name);
      } else if (kind == "node") {
        e.to = access_entry::who::node;
        e.node = name;
        id = 0U;
      } else {
        return bad_entry(text, "unknown kind '" + kind + "'");
      }
      if (!id) return std::move(id).err();
      e.id = *id;
    }
    out.entries_.push_back(std::move(e));
  }
  return out;
}

bool access_list::permits(const peer_credentials& peer, std::uint32_t owner, kernel_right r) const noexcept {
  if (peer.admin || peer.uid == owner) return true;
  for (const auto& e : entries_) {
    if ((e.rights & bit(r)) == 0) continue;
    switch (e.to) {
      case access_entry::who::anyone:
        return true;
      case access_entry::who::user:
        if (peer.uid == e.id) return true;
        break;
      case access_entry::who::group:
        if (peer.in_group(e.id)) return true;
        break;
      case access_entry::who::node:
        break;  // another node's senders, not a local client
    }
  }
  return false;
}

bool access_list::permits_node(std::string_view node, kernel_right r) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(), [&](const access_entry& e) {
    return e.to == access_entry::who::node && (e.rights & bit(r)) != 0 && (e.node == "*" || e.node == node);
  });
}

std::vector<std::string> access_list::texts() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.text);
  return out;
}

bool is_administrator(const peer_credentials& peer, std::optional<std::uint32_t> admin_gid) noexcept {
  if (peer.uid == 0 || peer.uid == static_cast<std::uint32_t>(::geteuid())) return true;
  return admin_gid && peer.in_group(*admin_gid);
}

result<peer_credentials> credentials_of(int socket_fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return make_error(errc::system_error, std::string("SO_PEERCRED: ") + std::strerror(errno));
  }
  peer_credentials p;
  p.uid = static_cast<std::uint32_t>(cred.uid);
  p.gid = static_cast<std::uint32_t>(cred.gid);
  p.pid = cred.pid;
  // The peer's supplementary groups as the kernel recorded them at connect.
  std::vector<gid_t> groups(64);
  for (int tries = 0; tries < 4; ++tries) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      p.groups.assign(groups.begin(), groups.end());
      return p;
    }
    if (errno != ERANGE) break;
    groups.resize(bytes / sizeof(gid_t) + 1);
  }
  return make_error(errc::system_error, std::string("SO_PEERGROUPS: ") + std::strerror(errno));
}

}  // namespace pdc::daemon
