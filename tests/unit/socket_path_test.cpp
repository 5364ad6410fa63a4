#include "pdc/core/socket_path.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace pdc {
namespace {

// Sets (or unsets, for nullopt) one environment variable and restores it on exit.
class scoped_env {
 public:
  scoped_env(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(SocketPath, PdcSocketEnvironmentWins) {
  const scoped_env sock("PDC_SOCKET", "/tmp/custom/pdcd.sock");
  const scoped_env xdg("XDG_RUNTIME_DIR", "/run/user/1000");

  EXPECT_EQ(default_socket_path(), "/tmp/custom/pdcd.sock");
  EXPECT_EQ(default_socket_path_for(0), "/tmp/custom/pdcd.sock");
  EXPECT_EQ(default_socket_path_for(1000), "/tmp/custom/pdcd.sock");
}

TEST(SocketPath, EmptyPdcSocketCountsAsUnset) {
  const scoped_env sock("PDC_SOCKET", "");
  const scoped_env xdg("XDG_RUNTIME_DIR", "/run/user/1000");

  EXPECT_EQ(default_socket_path_for(1000), "/run/user/1000/pdcd/pdcd.sock");
}

TEST(SocketPath, RootUsesRunDirectory) {
  const scoped_env sock("PDC_SOCKET", std::nullopt);
  const scoped_env xdg("XDG_RUNTIME_DIR", "/run/user/0");

  EXPECT_EQ(default_socket_path_for(0), "/run/pdcd/pdcd.sock");
}

TEST(SocketPath, UserUsesXdgRuntimeDirectory) {
  const scoped_env sock("PDC_SOCKET", std::nullopt);
  const scoped_env xdg("XDG_RUNTIME_DIR", "/run/user/1000");

  EXPECT_EQ(default_socket_path_for(1000), "/run/user/1000/pdcd/pdcd.sock");
}

TEST(SocketPath, UserWithoutXdgFallsBackToTmpPerUid) {
  const scoped_env sock("PDC_SOCKET", std::nullopt);
  const scoped_env xdg("XDG_RUNTIME_DIR", std::nullopt);

  EXPECT_EQ(default_socket_path_for(1234), "/tmp/pdcd-1234/pdcd.sock");
}

TEST(SocketPath, EmptyXdgCountsAsUnset) {
  const scoped_env sock("PDC_SOCKET", std::nullopt);
  const scoped_env xdg("XDG_RUNTIME_DIR", "");

  EXPECT_EQ(default_socket_path_for(1234), "/tmp/pdcd-1234/pdcd.sock");
}

TEST(SocketPath, DefaultUsesEffectiveUid) {
  const scoped_env sock("PDC_SOCKET", std::nullopt);

  EXPECT_EQ(default_socket_path(), default_socket_path_for(::geteuid()));
}

TEST(SocketPath, ExplicitFlagBeatsEnvironment) {
  const scoped_env sock("PDC_SOCKET", "/tmp/env.sock");

  EXPECT_EQ(resolve_socket_path("/tmp/flag.sock"), "/tmp/flag.sock");
}

TEST(SocketPath, EmptyFlagFallsBackToDefault) {
  const scoped_env sock("PDC_SOCKET", "/tmp/env.sock");

  EXPECT_EQ(resolve_socket_path(""), "/tmp/env.sock");
}

// A folder under /tmp, removed with what it holds.
class temp_dir {
 public:
  temp_dir() {
    char tmpl[] = "/tmp/pdc-socket-path-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Binds a Unix socket at `path` (a socket file that exists; nobody listens).
void make_socket_file(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  ::close(fd);
}

TEST(ClientSocketPath, SystemSocketWhenNoPerUserSocket) {
  const temp_dir runtime;
  const temp_dir system;
  const scoped_env sock("PDC_SOCKET", std::nullopt);
  const scoped_env xdg("XDG_RUNTIME_DIR", runtime.path());
  const std::string system_path = system.path() + "/pdcd.sock";

  // The system socket's folder exists: a system pdcd is installed.
  EXPECT_EQ(default_client_socket_path_for(1000, system_path), system_path);
}

TEST(ClientSocketPath, PerUserSocketWinsWhenItExists) {
  const temp_dir runtime;
  const temp_dir system;
  const scoped_env sock("PDC_SOCKET", std::nullopt);
  const scoped_env xdg("XDG_RUNTIME_DIR", runtime.path());
  ASSERT_EQ(::mkdir((runtime.path() + "/pdcd").c_str(), 0700), 0);
  make_socket_file(runtime.path() + "/pdcd/pdcd.sock");

  EXPECT_EQ(default_client_socket_path_for(1000, system.path() + "/pdcd.sock"), runtime.path() + "/pdcd/pdcd.sock");
}

TEST(ClientSocketPath, PerUserPathWhenNoSystemDaemon) {
  const temp_dir runtime;
  const temp_dir system;
  const scoped_env sock("PDC_SOCKET", std::nullopt);
  const scoped_env xdg("XDG_RUNTIME_DIR", runtime.path());

  // Neither exists: the error will name the user's own path.
  EXPECT_EQ(default_client_socket_path_for(1000, system.path() + "/absent/pdcd.sock"),
            runtime.path() + "/pdcd/pdcd.sock");
}

TEST(ClientSocketPath, EnvironmentAndRootKeepTheDaemonRule) {
  const temp_dir system;
  const std::string system_path = system.path() + "/pdcd.sock";
  {
    const scoped_env sock("PDC_SOCKET", "/tmp/env.sock");
    EXPECT_EQ(default_client_socket_path_for(1000, system_path), "/tmp/env.sock");
  }
  const scoped_env sock("PDC_SOCKET", std::nullopt);
  EXPECT_EQ(default_client_socket_path_for(0, system_path), "/run/pdcd/pdcd.sock");
  EXPECT_EQ(resolve_client_socket_path("/tmp/flag.sock"), "/tmp/flag.sock");
}

}  // namespace
}  // namespace pdc
