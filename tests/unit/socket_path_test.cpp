#include "pdc/core/socket_path.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
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

}  // namespace
}  // namespace pdc
