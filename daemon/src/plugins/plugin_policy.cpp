#include "plugins/plugin_policy.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

namespace pdc::daemon {

namespace {

std::string folders_text(const std::vector<std::string>& dirs) {
  if (dirs.empty()) return "none configured";
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ", ") + d;
  return out;
}

// The canonical form of `path` (symlinks resolved), or empty when it does not exist.
std::string canonical(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr), &std::free);
  return resolved ? std::string(resolved.get()) : std::string();
}

bool trusted_owner(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

// Why `st` (of `what`) may be changed by an untrusted user, or "" when it cannot.
std::string unsafe(const struct stat& st, const std::string& what, bool is_dir) {
  if (!trusted_owner(st.st_uid)) {
    return what + " is owned by uid " + std::to_string(st.st_uid) + ", neither root nor pdcd's user";
  }
  const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  // A sticky folder (such as /tmp) lets nobody rename or remove what others own.
  if (others_write && !(is_dir && (st.st_mode & S_ISVTX) != 0)) {
    return what + " is writable by its group or by others";
  }
  return {};
}

result<void> check_file_and_folders(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return make_error(errc::not_found, "cannot load plugin '" + file + "': " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return make_error(errc::invalid_argument, "cannot load plugin '" + file + "': not a file");
  if (auto why = unsafe(st, "it", false); !why.empty()) {
    return make_error(errc::permission_denied, "cannot load plugin '" + file + "': " + why + "; refused");
  }
  for (auto dir = std::filesystem::path(file).parent_path(); !dir.empty(); dir = dir.parent_path()) {
    struct stat ds {};
    if (::stat(dir.c_str(), &ds) != 0) {
      return make_error(errc::permission_denied, "cannot load plugin '" + file + "': cannot check folder " +
                                                     dir.string() + ": " + std::strerror(errno));
    }
    if (auto why = unsafe(ds, "folder " + dir.string(), true); !why.empty()) {
      return make_error(errc::permission_denied,
                        "cannot load plugin '" + file + "': " + why + ", so another user could replace it; refused");
    }
    if (dir == dir.root_path()) break;
  }
  return ok();
}

}  // namespace

result<std::string> trusted_plugin_path(const std::string& name_or_path, const std::vector<std::string>& dirs) {
  std::string resolved;
  if (name_or_path.find('/') == std::string::npos) {
    for (const auto& dir : dirs) {
      resolved = canonical((std::filesystem::path(dir) / name_or_path).string());
      if (!resolved.empty()) break;
    }
    if (resolved.empty()) {
      return make_error(errc::not_found,
                        "no plugin '" + name_or_path + "' in the plugin folders (" + folders_text(dirs) + ")");
    }
  } else {
    if (name_or_path.front() != '/') {
      return make_error(errc::invalid_argument,
                        "plugin path '" + name_or_path +
                            "' is relative: give a file name (searched in the plugin folders) or an absolute path");
    }
    resolved = canonical(name_or_path);
    bool inside = false;
    for (const auto& dir : dirs) {
      const std::string d = canonical(dir);
      if (!d.empty() && !resolved.empty() && resolved.size() > d.size() && resolved.compare(0, d.size(), d) == 0 &&
          resolved[d.size()] == '/') {
        inside = true;
      }
    }
    if (!inside) {
      return make_error(errc::permission_denied, "plugin path '" + name_or_path + "' is outside the plugin folders (" +
                                                     folders_text(dirs) + "); refused before opening it");
    }
  }
  if (auto checked = check_file_and_folders(resolved); !checked) return std::move(checked).err();
  return resolved;
}

}  // namespace pdc::daemon
