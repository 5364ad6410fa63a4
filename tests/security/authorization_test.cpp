// Authorization against a real pdcd: who may manage kernels, what an access
// list grants, and which plugin files the daemon agrees to open. Clients of
// other users are forked children that drop to uid 65534 (nobody) before
// they connect, so these tests need root (CI runs as root); as another user
// they are skipped, saying why.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "integration/harness.hpp"
#include "integration/messages.hpp"
#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::test {
namespace {

constexpr std::uint32_t k_nobody = 65534;
constexpr std::int64_t k_wait_ns = 20'000'000'000;

// Runs `body` in a child that became uid/gid (with `groups`) and returns what
// it wrote: one line per observation, which the test then checks.
std::string run_as(std::uint32_t uid, std::uint32_t gid, const std::vector<gid_t>& groups,
                   const std::function<std::string()>& body) {
  int out[2];
  if (::pipe(out) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(out[0]);
    std::string text;
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
      text = "cannot drop privileges";
    } else {
      text = body();
    }
    (void)!::write(out[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  ::waitpid(pid, nullptr, 0);
  return got;
}

// "ok" or "<errc name>: <message>" of a call.
template <typename T>
std::string outcome(const result<T>& r) {
  return r ? "ok" : std::string(name_of(r.code())) + ": " + r.err().what();
}

class AuthorizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: clients of other users are made with setuid";
  }

  // A daemon whose socket others may reach (its folder and the socket opened up).
  std::unique_ptr<daemon_process> start(std::vector<std::string> args) {
    auto d = std::make_unique<daemon_process>(std::move(args));
    EXPECT_TRUE(d->ready()) << d->log();
    ::chmod(d->dir().c_str(), 0755);
    ::chmod(d->socket().c_str(), 0666);
    return d;
  }
};

TEST_F(AuthorizationTest, AnotherUserMayNotManagePluginsOrKernels) {
  auto d = start({"--load", "pdc_echo.so"});
  auto admin = client::connect(d->socket());
  ASSERT_TRUE(admin);
  launch_options o;
  o.kernel_type = "echo";
  o.kernel_id = "mine";
  ASSERT_TRUE(admin->launch(o));

  const std::string seen = run_as(k_nobody, k_nobody, {}, [&] {
    auto c = client::connect(d->socket());
    if (!c) return "connect: " + c.err().what();
    launch_options l;
    l.kernel_type = "echo";
    l.kernel_id = "theirs";
    std::string out;
    out += "launch " + outcome(c->launch(l)) + "\n";
    out += "terminate " + outcome(c->terminate("mine")) + "\n";
    out += "load " + outcome(c->plugin_load("pdc_echo.so")) + "\n";
    auto listed = c->list();
    out += "list " + (listed ? std::to_string(listed->size()) : outcome(listed)) + "\n";
    return out;
  });

  EXPECT_NE(
      seen.find("launch permission_denied: uid 65534 may not launch kernel 'theirs': only administrators may (root, "
                "pdcd's user)"),
      std::string::npos)
      << seen;
  EXPECT_NE(seen.find("terminate permission_denied: uid 65534 may not terminate kernel 'mine'"), std::string::npos)
      << seen;
  EXPECT_NE(seen.find("load permission_denied: uid 65534 may not load plugin 'pdc_echo.so'"), std::string::npos)
      << seen;
  EXPECT_NE(seen.find("list 0\n"), std::string::npos) << seen;  // it may see no kernel
  EXPECT_EQ(admin->list()->size(), 1U);
  EXPECT_EQ(admin->status("mine")->state, kernel_state::launched);
}

TEST_F(AuthorizationTest, AnAccessListGrantsWhatItNamesAndNothingElse) {
  auto d = start({"--load", "pdc_echo.so"});
  auto admin = client::connect(d->socket());
  ASSERT_TRUE(admin);
  launch_options o;
  o.kernel_type = "echo";
  o.kernel_id = "shared";
  o.access = {"uid:65534=send,status"};
  ASSERT_TRUE(admin->launch(o));
  ASSERT_TRUE(admin->activate("shared"));

  const std::string seen = run_as(k_nobody, k_nobody, {}, [&] {
    auto c = client::connect(d->socket());
    if (!c) return "connect: " + c.err().what();
    std::string out;
    auto reply = c->request("shared", bytes("hi"), k_wait_ns);
    out += "request " +
           (reply ? std::string(reinterpret_cast<const char*>(reply->payload.data()), 2) : outcome(reply)) + "\n";
    out += "status " + outcome(c->status("shared")) + "\n";
    out += "attach " + outcome(c->attach("shared")) + "\n";
    out += "subscribe " + outcome(c->subscribe("shared")) + "\n";
    return out;
  });

  EXPECT_NE(seen.find("request hi\n"), std::string::npos) << seen;
  EXPECT_NE(seen.find("status ok\n"), std::string::npos) << seen;
  EXPECT_NE(seen.find("attach permission_denied: uid 65534 may not attach kernel 'shared': its access list does not "
                      "grant it"),
            std::string::npos)
      << seen;
  EXPECT_NE(seen.find("subscribe permission_denied"), std::string::npos) << seen;
  const auto s = admin->status("shared");
  EXPECT_EQ(s->denied, 2U);
  EXPECT_EQ(s->access, std::vector<std::string>{"uid:65534=send,status"});
  EXPECT_EQ(s->owner_uid, 0U);
}

TEST_F(AuthorizationTest, MembersOfTheAdminGroupAreAdministrators) {
  temp_dir cfg_dir;
  const std::string cfg = cfg_dir.path() + "/pdcd.toml";
  std::ofstream(cfg) << "admin_group = \"nogroup\"\n";
  auto d = start({"--config", cfg, "--load", "pdc_echo.so"});

  // Primary group "daemon" (1); "nogroup" only as a supplementary group.
  const std::string seen = run_as(k_nobody, 1, {static_cast<gid_t>(k_nobody)}, [&] {
    auto c = client::connect(d->socket());
    if (!c) return "connect: " + c.err().what();
    launch_options l;
    l.kernel_type = "echo";
    l.kernel_id = "by-admin";
    return "launch " + outcome(c->launch(l)) + "\n";
  });

  EXPECT_EQ(seen, "launch ok\n");
  auto admin = client::connect(d->socket());
  EXPECT_EQ(admin->status("by-admin")->owner_uid, k_nobody);
}

TEST_F(AuthorizationTest, AnUnknownAdminGroupStopsTheDaemonFromStarting) {
  temp_dir cfg_dir;
  const std::string cfg = cfg_dir.path() + "/pdcd.toml";
  std::ofstream(cfg) << "admin_group = \"no-such-group-here\"\n";
  daemon_process d({"--config", cfg});

  EXPECT_TRUE(wait_until([&] { return d.exited(); }));
  EXPECT_EQ(d.exit_code(), 1);
  EXPECT_NE(d.log().find("admin_group: no group named 'no-such-group-here'"), std::string::npos) << d.log();
}

class PluginFolderTest : public AuthorizationTest {
 protected:
  void SetUp() override {
    AuthorizationTest::SetUp();
    if (IsSkipped()) return;
    ::chmod(plugins_.path().c_str(), 0755);
    std::filesystem::copy_file(std::string(PDC_KERNELS_DIR) + "/pdc_echo.so", plugin_);
    ::chmod(plugin_.c_str(), 0644);
    daemon_ = start({"--plugin-dir", plugins_.path()});
    auto c = client::connect(daemon_->socket());
    ASSERT_TRUE(c);
    admin_.emplace(std::move(c).value());
  }
  temp_dir plugins_;
  const std::string plugin_ = plugins_.path() + "/pdc_copied_echo.so";
  std::unique_ptr<daemon_process> daemon_;
  std::optional<client> admin_;
};

TEST_F(PluginFolderTest, APathOutsideThePluginFoldersIsRefusedBeforeItIsOpened) {
  const auto r = admin_->plugin_load("/nonexistent/elsewhere/evil.so");

  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::permission_denied);
  EXPECT_NE(r.err().what().find("is outside the plugin folders"), std::string::npos) << r.err().what();
  EXPECT_NE(r.err().what().find("refused before opening it"), std::string::npos);
}

TEST_F(PluginFolderTest, ARelativePathIsRefused) {
  const auto r = admin_->plugin_load("sub/pdc_copied_echo.so");

  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::invalid_argument);
  EXPECT_NE(r.err().what().find("is relative"), std::string::npos) << r.err().what();
}

TEST_F(PluginFolderTest, AFileOthersMayWriteIsRefused) {
  ::chmod(plugin_.c_str(), 0666);

  const auto r = admin_->plugin_load("pdc_copied_echo.so");

  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::permission_denied);
  EXPECT_NE(r.err().what().find("it is writable by its group or by others"), std::string::npos) << r.err().what();
}

TEST_F(PluginFolderTest, AFolderOthersMayWriteIsRefused) {
  ::chmod(plugins_.path().c_str(), 0777);

  const auto r = admin_->plugin_load(plugin_);

  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::permission_denied);
  EXPECT_NE(r.err().what().find("is writable by its group or by others, so another user could replace it"),
            std::string::npos)
      << r.err().what();
}

TEST_F(PluginFolderTest, AFileOwnedByAnotherUserIsRefused) {
  ASSERT_EQ(::chown(plugin_.c_str(), k_nobody, k_nobody), 0);

  const auto r = admin_->plugin_load("pdc_copied_echo.so");

  ASSERT_FALSE(r);
  EXPECT_NE(r.err().what().find("it is owned by uid 65534, neither root nor pdcd's user"), std::string::npos)
      << r.err().what();
}

TEST_F(PluginFolderTest, ASafeFileInAPluginFolderLoadsByNameOrByAbsolutePath) {
  auto by_path = admin_->plugin_load(plugin_);
  ASSERT_TRUE(by_path) << by_path.err().what();
  EXPECT_EQ(by_path->path, plugin_);
}

// The socket's folder (docs/security.md, "The socket").
TEST(SocketFolder, AFolderPdcdCreatesIsPrivate) {
  temp_dir base;
  const std::string sock = base.path() + "/made/pdcd.sock";
  daemon_process d({}, sock);
  ASSERT_TRUE(d.ready()) << d.log();

  struct stat st {};
  ASSERT_EQ(::stat((base.path() + "/made").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700U);
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660U);  // created so, not chmod-ed later
}

TEST(SocketFolder, AFolderOthersMayWriteIsRefused) {
  temp_dir base;
  ::chmod(base.path().c_str(), 0777);
  daemon_process d({}, base.path() + "/pdcd.sock");

  EXPECT_TRUE(wait_until([&] { return d.exited(); }));
  EXPECT_EQ(d.exit_code(), 1);
  EXPECT_NE(d.log().find("is writable by its group or others, who could replace the socket; refused"),
            std::string::npos)
      << d.log();
}

TEST(SocketFolder, AStickyFolderSuchAsTmpIsAccepted) {
  temp_dir base;
  ::chmod(base.path().c_str(), 01777);
  daemon_process d({}, base.path() + "/pdcd.sock");

  EXPECT_TRUE(d.ready()) << d.log();
}

TEST(SocketFolder, ASocketAnotherUserLeftAtThePathIsNotReplaced) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the other user's socket is made with setuid";
  temp_dir base;
  ::chmod(base.path().c_str(), 01777);
  const std::string sock = base.path() + "/pdcd.sock";
  const std::string made = run_as(k_nobody, k_nobody, {}, [&] {
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
    return std::string(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? "bound" : "bind failed");
  });
  ASSERT_EQ(made, "bound");

  daemon_process d({}, sock);

  EXPECT_TRUE(wait_until([&] { return d.exited(); }));
  EXPECT_EQ(d.exit_code(), 1);
  EXPECT_NE(d.log().find("is a socket of uid 65534, neither root nor pdcd's user; refusing to use or replace it"),
            std::string::npos)
      << d.log();
}

}  // namespace
}  // namespace pdc::test
