#include "isolation/confinement.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#ifdef PDC_HAVE_SECCOMP
#include <seccomp.h>
#endif

namespace pdc::daemon {

namespace {

error os_error(const std::string& what) {
  return make_error(errc::system_error, what + ": " + std::strerror(errno));
}

// Soft and hard limit `value`, or hard `value + hard_extra`: for CPU time the
// soft limit sends SIGXCPU and the hard one SIGKILL, so the hard limit lies
// one second later and the host's end names the limit it hit.
result<void> limit(int resource, const char* name, std::uint64_t value, std::uint64_t hard_extra = 0) {
  if (value == 0) return ok();
  const rlimit l{static_cast<rlim_t>(value), static_cast<rlim_t>(value + hard_extra)};
  if (::setrlimit(resource, &l) != 0) return os_error(std::string("setrlimit(") + name + ")");
  return ok();
}

result<void> become(const std::string& user) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return make_error(errc::not_found, "no user named '" + user + "'");
  }
  if (found->pw_uid == ::geteuid()) return ok();
  // Groups first, the uid last: once it is dropped, nothing else may change.
  if (::initgroups(found->pw_name, found->pw_gid) != 0) return os_error("initgroups(" + user + ")");
  if (::setgid(found->pw_gid) != 0) return os_error("setgid");
  if (::setuid(found->pw_uid) != 0) return os_error("setuid(" + user + ")");
  if (::setuid(0) == 0) return make_error(errc::internal, "could regain root after dropping to '" + user + "'");
  return ok();
}

#ifdef PDC_HAVE_SECCOMP
// What no kernel needs, whatever its tier: running other programs, tracing
// or reading other processes, changing the system, namespaces, loading
// kernel code. A deny list: handlers that do I/O (the threaded tier's
// purpose) keep files and sockets. A call on it ends the host with SIGSYS
// (pdcd reports it and restarts the host); ptrace answers EPERM instead, so
// a sanitizer's leak check at exit fails softly.
result<void> load_filter() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return make_error(errc::system_error, "seccomp_init failed");
  static const int killed[] = {
      SCMP_SYS(execve),
      SCMP_SYS(execveat),
      SCMP_SYS(mount),
      SCMP_SYS(umount2),
      SCMP_SYS(pivot_root),
      SCMP_SYS(chroot),
      SCMP_SYS(kexec_load),
      SCMP_SYS(kexec_file_load),
      SCMP_SYS(init_module),
      SCMP_SYS(finit_module),
      SCMP_SYS(delete_module),
      SCMP_SYS(reboot),
      SCMP_SYS(swapon),
      SCMP_SYS(swapoff),
      SCMP_SYS(bpf),
      SCMP_SYS(setns),
      SCMP_SYS(unshare),
      SCMP_SYS(keyctl),
      SCMP_SYS(add_key),
      SCMP_SYS(request_key),
      SCMP_SYS(userfaultfd),
      SCMP_SYS(perf_event_open),
      SCMP_SYS(process_vm_readv),
      SCMP_SYS(process_vm_writev),
      SCMP_SYS(open_by_handle_at),
      SCMP_SYS(iopl),
      SCMP_SYS(ioperm),
      SCMP_SYS(settimeofday),
      SCMP_SYS(clock_settime),
      SCMP_SYS(acct),
      SCMP_SYS(quotactl),
  };
  int rc = 0;
  for (const int sys : killed) {
    if (sys < 0) continue;  // not on this architecture
    rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, sys, 0);
    if (rc != 0) break;
  }
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ptrace), 0);
  if (rc == 0) rc = seccomp_load(ctx);  // sets no_new_privs first
  seccomp_release(ctx);
  if (rc != 0)
    return make_error(errc::system_error, "cannot load the seccomp filter: " + std::string(std::strerror(-rc)));
  return ok();
}
#endif

}  // namespace

result<void> confine(const host_confinement& c) {
  if (auto r = limit(RLIMIT_AS, "RLIMIT_AS", std::uint64_t{c.max_address_space_mb} << 20); !r) return r;
  if (auto r = limit(RLIMIT_CPU, "RLIMIT_CPU", c.max_cpu_seconds, 1); !r) return r;
  if (auto r = limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", c.max_open_files); !r) return r;
  if (!c.user.empty()) {
    if (auto r = become(c.user); !r) return r;
  }
  if (c.seccomp) {
#ifdef PDC_HAVE_SECCOMP
    if (auto r = load_filter(); !r) return r;
#else
    return make_error(errc::not_supported, "this pdc-kernel-host was built without libseccomp");
#endif
  }
  return ok();
}

}  // namespace pdc::daemon
