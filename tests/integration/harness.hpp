// Integration-test harness: a real pdcd process in a temporary folder, and
// real pdcctl runs. Waits are conditions with deadlines, never sleeps.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace pdc::test {

/// The whole text of a small file such as /proc/PID/stat; empty when it cannot
/// be read. read(2), not an ifstream: a process that exits while its /proc
/// files are read fails the read with ESRCH, which an ifstream throws.
inline std::string read_small_file(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

/// State letter ('R', 'S', 'Z', ...) and parent of process `pid`, from
/// /proc/PID/stat; state 0 when it is gone.
struct proc_stat {
  char state = 0;
  int ppid = 0;
};
inline proc_stat read_proc_stat(int pid) {
  proc_stat st;
  const std::string line = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return st;
  std::istringstream rest(line.substr(close + 2));
  rest >> st.state >> st.ppid;
  return st;
}

/// The processes whose parent is `pid` now, from /proc.
inline std::vector<int> children_of(int pid) {
  std::vector<int> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (const dirent* e = ::readdir(proc)) {
    const int child = std::atoi(e->d_name);
    if (child > 0 && read_proc_stat(child).ppid == pid) out.push_back(child);
  }
  ::closedir(proc);
  return out;
}

/// A fresh temporary folder, removed at destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pdc-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
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

/// Output and exit status of a finished process.
struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `argv` to completion, capturing stdout and stderr (through files).
inline run_result run_command(const std::vector<std::string>& argv, const std::string& scratch_dir) {
  static int counter = 0;
  const std::string out_path = scratch_dir + "/cmd" + std::to_string(++counter) + ".out";
  const std::string err_path = out_path + ".err";
  const pid_t pid = ::fork();
  if (pid == 0) {
    (void)!::freopen(out_path.c_str(), "w", stdout);
    (void)!::freopen(err_path.c_str(), "w", stderr);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  run_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream o(out_path);
  std::stringstream so;
  so << o.rdbuf();
  r.out = so.str();
  std::ifstream e(err_path);
  std::stringstream se;
  se << e.rdbuf();
  r.err = se.str();
  return r;
}

/// True when something accepts connections on the Unix SEQPACKET socket `path`.
inline bool socket_answers(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// Kills and reaps a forked child when it goes out of scope, so a failed
/// assertion never leaves a child process running.
struct child_reaper {
  pid_t pid;
  ~child_reaper() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

/// A pdcd process serving a socket in a temporary folder, with the example
/// plugins' folder as its plugin dir. Stopped with SIGTERM at destruction.
class daemon_process {
 public:
  /// `socket`: path to serve (default: pdcd.sock in a fresh temporary folder).
  explicit daemon_process(std::vector<std::string> extra_args = {}, std::string socket = {}) {
    socket_ = socket.empty() ? dir_.path() + "/pdcd.sock" : std::move(socket);
    log_ = dir_.path() + "/pdcd.log";
    std::vector<std::string> argv{PDC_PDCD_PATH,  "--socket",           socket_,       "--plugin-dir", PDC_KERNELS_DIR,
                                  "--plugin-dir", PDC_TEST_PLUGINS_DIR, "--log-level", "debug"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      (void)!::freopen(log_.c_str(), "w", stderr);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ready_ = wait_until([&] { return socket_answers(socket_) || exited(); });
  }
  ~daemon_process() {
    if (pid_ <= 0 || reaped_) return;
    // Its kernel hosts would outlive it, waiting for the next pdcd: they go too.
    const auto hosts = children();
    stop(SIGKILL);
    for (const int h : hosts) ::kill(h, SIGKILL);
  }
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  [[nodiscard]] bool ready() const { return ready_ && socket_answers(socket_); }
  [[nodiscard]] const std::string& socket() const { return socket_; }
  [[nodiscard]] const std::string& dir() const { return dir_.path(); }
  [[nodiscard]] pid_t pid() const { return pid_; }

  /// Sends `sig` and waits for exit; returns the exit code (128+signal if killed).
  int stop(int sig = SIGTERM) {
    if (reaped_) return exit_code_;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

  /// True once the process has exited (reaps it).
  bool exited() {
    if (reaped_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return reaped_;
  }
  [[nodiscard]] int exit_code() const { return exit_code_; }

  [[nodiscard]] std::string log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  /// Its child processes now (kernel hosts), from /proc.
  [[nodiscard]] std::vector<int> children() const { return children_of(pid_); }

  /// Runs pdcctl against this daemon.
  run_result pdcctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{PDC_PDCCTL_PATH, "--socket", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, dir_.path());
  }

 private:
  temp_dir dir_;
  std::string socket_;
  std::string log_;
  pid_t pid_ = -1;
  bool ready_ = false;
  bool reaped_ = false;
  int exit_code_ = -1;
};

}  // namespace pdc::test
