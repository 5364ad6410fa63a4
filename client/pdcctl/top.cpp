#include "top.hpp"

#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <unordered_map>

#include "format.hpp"
#include "table.hpp"

namespace pdc::ctl {

namespace {

constexpr std::string_view k_names[] = {"kernel", "state", "tier", "in",     "out",
                                        "queue",  "wait",  "proc", "errors", "drops"};
constexpr std::string_view k_titles[] = {"KERNEL", "STATE",    "TIER",     "IN/S",   "OUT/S",
                                         "QUEUE",  "WAIT P99", "PROC P99", "ERRORS", "DROPS"};

std::string rate_text(const std::optional<double>& r) {
  if (!r) return "-";
  char buf[32];
  if (*r < 1000.0) {
    std::snprintf(buf, sizeof buf, "%.0f", *r);
  } else if (*r < 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fk", *r / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fM", *r / 1e6);
  }
  return buf;
}

std::string p99_text(std::uint64_t ns) {
  return ns == 0 ? "-" : format_duration_ns(ns);
}

// Set by SIGINT/SIGTERM while top runs: the loop ends and restores the terminal.
volatile sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int /*sig*/) {
  g_interrupted = 1;
}

// The terminal in a mode for top while it lives: keys without Enter and no
// echo on stdin; the alternate screen, cursor hidden, on stdout. Restored
// however top ends (q, a signal, an error).
class terminal_mode {
 public:
  terminal_mode(std::ostream& out, bool keys) : out_(out) {
    if (keys && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      restore_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    out_ << "\x1b[?1049h\x1b[?25l" << std::flush;
  }
  ~terminal_mode() {
    out_ << "\x1b[?25h\x1b[?1049l" << std::flush;
    if (restore_) (void)::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  terminal_mode(const terminal_mode&) = delete;
  terminal_mode& operator=(const terminal_mode&) = delete;

 private:
  std::ostream& out_;
  termios saved_{};
  bool restore_ = false;
};

// Handlers for SIGINT and SIGTERM that only set the flag (no SA_RESTART, so
// the wait returns), restored at the end.
class interrupt_guard {
 public:
  interrupt_guard() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = &on_interrupt;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~interrupt_guard() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  interrupt_guard(const interrupt_guard&) = delete;
  interrupt_guard& operator=(const interrupt_guard&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::string clock_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::string_view name_of(top_column c) {
  return k_names[static_cast<std::size_t>(c)];
}

std::optional<top_column> parse_top_column(std::string_view name) {
  for (const auto c : k_top_columns) {
    if (name_of(c) == name) return c;
  }
  return std::nullopt;
}

std::vector<top_row> top_rows(std::span<const kernel_info> before, std::span<const kernel_info> now,
                              std::uint64_t dt_ns) {
  std::unordered_map<std::string_view, const kernel_info*> earlier;
  for (const auto& k : before) earlier.emplace(k.kernel_id, &k);
  const double seconds = static_cast<double>(dt_ns) / 1e9;
  std::vector<top_row> rows;
  rows.reserve(now.size());
  for (const auto& k : now) {
    top_row r;
    r.kernel_id = k.kernel_id;
    r.state = k.state;
    r.tier = k.tier;
    r.queue_depth = k.queue_depth;
    r.capacity = k.capacity;
    r.wait_p99_ns = k.queue_wait.count == 0 ? 0 : std::max<std::uint64_t>(k.queue_wait.p99_ns, 1);
    r.proc_p99_ns = k.processing.count == 0 ? 0 : std::max<std::uint64_t>(k.processing.p99_ns, 1);
    r.errors = k.handler_errors;
    r.drops = k.dropped + k.rejected;
    const auto it = earlier.find(k.kernel_id);
    // A kernel relaunched under the same id restarts its counters: no rate then.
    if (it != earlier.end() && seconds > 0 && k.messages_in >= it->second->messages_in &&
        k.messages_out >= it->second->messages_out) {
      r.in_per_s = static_cast<double>(k.messages_in - it->second->messages_in) / seconds;
      r.out_per_s = static_cast<double>(k.messages_out - it->second->messages_out) / seconds;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

void sort_top_rows(std::vector<top_row>& rows, top_column by, bool reverse) {
  const auto key = [by](const top_row& r) -> double {
    switch (by) {
      case top_column::in:
        return r.in_per_s.value_or(-1);
      case top_column::out:
        return r.out_per_s.value_or(-1);
      case top_column::queue:
        return static_cast<double>(r.queue_depth);
      case top_column::wait:
        return static_cast<double>(r.wait_p99_ns);
      case top_column::proc:
        return static_cast<double>(r.proc_p99_ns);
      case top_column::errors:
        return static_cast<double>(r.errors);
      case top_column::drops:
        return static_cast<double>(r.drops);
      case top_column::kernel:
      case top_column::state:
      case top_column::tier:
        return 0;
    }
    return 0;
  };
  const auto text = [by](const top_row& r) -> std::string {
    if (by == top_column::state) return std::string(to_string(r.state));
    if (by == top_column::tier) return std::string(to_string(r.tier));
    return {};
  };
  const bool textual = by == top_column::kernel || by == top_column::state || by == top_column::tier;
  std::stable_sort(rows.begin(), rows.end(), [&](const top_row& a, const top_row& b) {
    if (textual) {
      const auto ta = text(a);
      const auto tb = text(b);
      return ta != tb ? ta < tb : a.kernel_id < b.kernel_id;
    }
    const double ka = key(a);
    const double kb = key(b);
    return ka != kb ? ka > kb : a.kernel_id < b.kernel_id;  // largest first; ties by name
  });
  if (reverse) std::reverse(rows.begin(), rows.end());
}

std::string render_top(std::span<const top_row> rows, top_column by) {
  std::vector<column> cols;
  for (const auto c : k_top_columns) {
    const auto i = static_cast<std::size_t>(c);
    const bool right = c != top_column::kernel && c != top_column::state && c != top_column::tier;
    cols.push_back({std::string(k_titles[i]) + (c == by ? "*" : ""), right});
  }
  text_table t(std::move(cols));
  for (const auto& r : rows) {
    t.add_row({r.kernel_id, std::string(to_string(r.state)), std::string(to_string(r.tier)), rate_text(r.in_per_s),
               rate_text(r.out_per_s), std::to_string(r.queue_depth) + "/" + std::to_string(r.capacity),
               p99_text(r.wait_p99_ns), p99_text(r.proc_p99_ns), std::to_string(r.errors), std::to_string(r.drops)});
  }
  return t.render();
}

result<void> run_top(client& session, std::ostream& out, const top_options& opts) {
  const bool interactive = ::isatty(STDOUT_FILENO) == 1;
  const bool keys = interactive && ::isatty(STDIN_FILENO) == 1;
  interrupt_guard interrupts;
  std::optional<terminal_mode> mode;
  if (interactive) mode.emplace(out, keys);

  top_column sort = opts.sort;
  bool reverse = opts.reverse;
  std::vector<kernel_info> before;
  auto sampled_at = std::chrono::steady_clock::now();
  for (std::uint32_t n = 0; opts.iterations == 0 || n < opts.iterations; ++n) {
    auto now = session.list();
    if (!now) return std::move(now).err();
    const auto t = std::chrono::steady_clock::now();
    const auto dt =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - sampled_at).count());
    sampled_at = t;
    auto rows = top_rows(before, *now, dt);
    sort_top_rows(rows, sort, reverse);
    const std::string table = render_top(rows, sort);
    const std::string title = "pdcctl top  " + clock_text() + "  " + std::to_string(rows.size()) + " kernels, every " +
                              std::to_string(opts.interval_ms) + " ms, sorted by " + std::string(name_of(sort)) +
                              (reverse ? " (reversed)" : "");
    if (interactive) {
      // Home, the frame with each line's rest cleared, then the screen's rest.
      std::string frame = "\x1b[H" + title + (keys ? "  [s: sort  r: reverse  q: quit]" : "") + "\x1b[K\n\x1b[K\n";
      for (std::size_t at = 0; at < table.size();) {
        const auto end = table.find('\n', at);
        frame += table.substr(at, end - at) + "\x1b[K\n";
        if (end == std::string::npos) break;
        at = end + 1;
      }
      out << frame << "\x1b[J" << std::flush;
    } else {
      out << (n == 0 ? "" : "\n") << title << '\n' << table << std::flush;
    }
    before = std::move(*now);
    if (opts.iterations != 0 && n + 1 == opts.iterations) break;

    // Wait for the next sample, answering keys meanwhile.
    const auto next = t + std::chrono::milliseconds(opts.interval_ms);
    bool redraw = false;
    while (!redraw && !g_interrupted) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{STDIN_FILENO, POLLIN, 0};
      const int rc = ::poll(&p, keys ? 1 : 0, static_cast<int>(left.count()));
      if (rc < 0 && errno != EINTR) break;
      if (rc <= 0 || (p.revents & POLLIN) == 0) continue;
      char key = 0;
      if (::read(STDIN_FILENO, &key, 1) != 1) continue;
      if (key == 'q' || key == 'Q') return ok();
      if (key == 's') {
        sort = k_top_columns[(static_cast<std::size_t>(sort) + 1) % std::size(k_top_columns)];
        redraw = true;
      } else if (key == 'r') {
        reverse = !reverse;
        redraw = true;
      }
    }
    if (g_interrupted) return ok();
  }
  return ok();
}

}  // namespace pdc::ctl
