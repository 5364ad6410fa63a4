// A deterministic fixture for the daemon's runtime: a real kernel over real
// attachment segments, driven on the test thread. The executor is manual (the
// test calls do_work and the idle protocol itself), the kernel_host records
// what the kernel sends to sessions and other kernels and runs "control
// thread" work when the test says so, and the plugin is a C++ lambda behind
// the C ABI, calling the daemon's real host functions.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pdc/core/attachment.hpp"
#include "pdc/core/clock.hpp"
#include "runtime/agent.hpp"
#include "runtime/host_api.hpp"
#include "runtime/kernel.hpp"

namespace pdc::daemon::test {

/// What the fake host saw, and the control-thread work it holds.
class fake_host final : public kernel_host {
 public:
  struct sent {
    std::uint64_t session_id = 0;  ///< deliveries
    std::string to_kernel;         ///< routes
    delivery what = delivery::reply;
    envelope env;
    std::vector<std::byte> payload;
    [[nodiscard]] std::string text() const { return {reinterpret_cast<const char*>(payload.data()), payload.size()}; }
  };

  errc deliver(std::uint64_t session_id, kernel& from, delivery what, const envelope& env,
               std::span<const std::byte> payload) override {
    deliveries.push_back({session_id, {}, what, env, {payload.begin(), payload.end()}});
    const errc outcome = session_outcome;
    from.delivered(what, outcome, env, payload);
    return errc::ok;
  }
  errc route(kernel& /*from*/, std::string_view to, const envelope& env, std::span<const std::byte> payload) override {
    if (to != known_kernel) return errc::not_found;
    routes.push_back({0, std::string(to), delivery::output, env, {payload.begin(), payload.end()}});
    return route_outcome;
  }
  void log(const kernel& /*k*/, int level, std::string_view text) override { logs.emplace_back(level, text); }
  void post(std::function<void()> fn) override { posted.push_back(std::move(fn)); }
  void post_after(std::uint64_t delay_ns, std::function<void()> fn) override {
    timers.emplace_back(delay_ns, std::move(fn));
  }
  [[nodiscard]] bool on_control_thread() const noexcept override { return true; }

  /// Runs what was posted (and what that posts), as the control thread would.
  void run_posted() {
    while (!posted.empty()) {
      auto fn = std::move(posted.front());
      posted.pop_front();
      fn();
    }
  }
  /// Fires every timer (the drain time is over).
  void fire_timers() {
    auto due = std::move(timers);
    timers.clear();
    for (auto& [ns, fn] : due) fn();
    run_posted();
  }
  [[nodiscard]] bool logged(std::string_view text) const {
    for (const auto& [level, line] : logs) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

  std::vector<sent> deliveries;
  std::vector<sent> routes;
  std::vector<std::pair<int, std::string>> logs;
  std::deque<std::function<void()>> posted;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> timers;
  errc session_outcome = errc::ok;  ///< what the "control thread" finds when it delivers
  std::string known_kernel = "next";
  errc route_outcome = errc::ok;
};

/// An executor whose agents the test drives on its own thread.
class manual_executor final : public executor {
 public:
  manual_executor(kernel& k, std::size_t agents, const idle_strategy& idle = idle_strategy::spin_park(0)) {
    for (std::size_t i = 0; i < agents; ++i) {
      bells.push_back(std::make_unique<doorbell>());
      agents_.push_back(std::make_unique<agent>(k, static_cast<std::uint32_t>(i), *bells.back(), idle));
    }
  }
  ~manual_executor() override { agents_.clear(); }  // before the doorbells they leave
  manual_executor(const manual_executor&) = delete;
  manual_executor& operator=(const manual_executor&) = delete;
  result<void> start() override { return ok(); }
  void notify() noexcept override {
    ++notified;
    for (auto& b : bells) b->wake();
  }
  void stop(std::function<void()> stopped) override { on_stopped = std::move(stopped); }

  [[nodiscard]] agent& at(std::size_t i) const { return *agents_.at(i); }

  std::vector<std::unique_ptr<doorbell>> bells;
  std::function<void()> on_stopped;
  int notified = 0;
};

/// A kernel type whose handler is a std::function (the plugin state points at it).
struct fake_type {
  using handler = std::function<int(pdc_kernel_ctx*, const pdc_message&)>;
  handler on_message;
  std::function<int(pdc_kernel_ctx*)> run;
  int destroyed = 0;
  bool may_block = false;         ///< Declare PDC_KERNEL_MAY_BLOCK.
  bool volatile_payload = false;  ///< Declare PDC_KERNEL_VOLATILE_PAYLOAD.

  static int call_on_message(void* state, pdc_kernel_ctx* ctx, const pdc_message* msg) {
    return static_cast<fake_type*>(state)->on_message(ctx, *msg);
  }
  static int call_run(void* state, pdc_kernel_ctx* ctx) { return static_cast<fake_type*>(state)->run(ctx); }
  static int create(pdc_kernel_ctx* /*ctx*/, const char* config, void** state) {
    // The fixture passes the fake_type's address as the config text.
    *state = reinterpret_cast<void*>(std::stoull(config, nullptr, 16));
    return PDC_OK;
  }
  static void destroy(void* state) { ++static_cast<fake_type*>(state)->destroyed; }

  /// A kernel_type_entry for this fake (no plugin behind it).
  [[nodiscard]] kernel_type_ref entry(bool loop = false) const {
    auto e = std::make_shared<kernel_type_entry>();
    e->name = loop ? "fake_loop" : "fake";
    e->tiers = PDC_TIER_MASK_CPU;
    e->flags = PDC_KERNEL_CONCURRENT | (may_block ? PDC_KERNEL_MAY_BLOCK : 0U) |
               (volatile_payload ? PDC_KERNEL_VOLATILE_PAYLOAD : 0U);
    e->type.struct_size = sizeof(pdc_kernel_type);
    e->type.name = "fake";
    e->type.create = &create;
    e->type.destroy = &destroy;
    if (loop) {
      e->type.run = &call_run;
    } else {
      e->type.on_message = &call_on_message;
    }
    return e;
  }
};

/// Replies with the payload (the host API's reply, as a plugin calls it).
inline int echo_handler(pdc_kernel_ctx* ctx, const pdc_message& msg) {
  return host_api_table()->reply(ctx, &msg, msg.payload, msg.payload_len, msg.type_id);
}

/// A client's side of one attachment, made from a grant as libpdc makes it.
class test_client {
 public:
  explicit test_client(const attach_grant& g) : id_(g.attachment_id), doorbell_(g.doorbell_fd) {
    auto v = attachment_client_view::open(g.segment_fd);
    if (!v) ADD_FAILURE() << v.err().what();
    view_.emplace(std::move(v).value());
    view_->requests().set_wake_fd(doorbell_);
  }
  ~test_client() {
    if (doorbell_ >= 0) ::close(doorbell_);
  }
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;

  [[nodiscard]] attachment_client_view& view() { return *view_; }
  [[nodiscard]] std::uint64_t id() const { return id_; }
  /// The wake-up descriptor the daemon gave this client.
  [[nodiscard]] int wake_fd() const { return doorbell_; }
  /// Overwrites every copy of `was` in the client's mapping of its segment
  /// with `now` (same length), as a hostile client would; returns how many.
  int tamper(std::string_view was, std::string_view now) {
    auto* base = const_cast<std::byte*>(reinterpret_cast<const std::byte*>(&view_->seg().header()));
    auto* p = reinterpret_cast<char*>(base);
    const std::size_t size = view_->seg().size_bytes();
    int n = 0;
    for (std::size_t i = 0; i + was.size() <= size; ++i) {
      if (std::memcmp(p + i, was.data(), was.size()) == 0) {
        std::memcpy(p + i, now.data(), now.size());
        ++n;
      }
    }
    return n;
  }

  /// Writes one request (not committed when `commit` is false).
  std::uint64_t send(std::string_view text, std::uint16_t flags = 0, bool commit = true) {
    const auto slot = view_->requests().try_reserve(sizeof(envelope) + text.size());
    EXPECT_TRUE(slot) << "request ring full";
    const envelope env = make_envelope(++last_id_, static_cast<std::uint32_t>(text.size()), now_ns(), 0, id_, 0, flags);
    std::memcpy(slot.bytes.data(), &env, sizeof env);
    std::memcpy(slot.bytes.data() + sizeof env, text.data(), text.size());
    if (commit) view_->requests().commit();
    return last_id_;
  }
  /// Writes raw record bytes (a malformed envelope, say).
  void send_raw(std::span<const std::byte> bytes) { ASSERT_EQ(view_->requests().try_push(bytes), errc::ok); }
  /// The next reply: its envelope and payload text, or nothing.
  std::optional<std::pair<envelope, std::string>> reply() {
    auto slot = view_->replies().try_peek();
    if (!slot) return std::nullopt;
    envelope env;
    EXPECT_TRUE(read_envelope(slot.bytes, env));
    const auto payload = payload_of(slot.bytes);
    std::string text(reinterpret_cast<const char*>(payload.data()), payload.size());
    view_->replies().release();
    view_->replies().flush_release();
    return std::pair{env, std::move(text)};
  }
  /// True when the kernel rang this attachment's doorbell since the last call.
  bool rung() {
    pollfd p{doorbell_, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    std::uint64_t n = 0;
    (void)!::read(doorbell_, &n, sizeof n);
    return true;
  }

 private:
  std::uint64_t id_;
  int doorbell_;
  std::optional<attachment_client_view> view_;
  std::uint64_t last_id_ = 0;
};

/// A kernel with a manual executor, launched and activated, over a fake host.
class kernel_fixture : public ::testing::Test {
 protected:
  /// Launches the kernel (`agents` of them, `policy`); `loop` picks the run() style.
  void launch(std::size_t agents = 1, backpressure_policy policy = backpressure_policy::block, bool loop = false,
              std::uint32_t capacity = 16) {
    launch_request req;
    req.kernel_type = "fake";
    req.kernel_id = "k";
    req.tier = agents == 1 ? kernel_tier::threaded : kernel_tier::pool;
    req.capacity = capacity;
    req.policy = policy;
    req.max_message_bytes = 1024;
    req.block_timeout_ms = 100;
    req.workers = static_cast<std::uint32_t>(agents);
    char hex[32];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(&plugin)));
    req.config = hex;
    sut = std::make_shared<kernel>(req, plugin.entry(loop), host);
    auto exec = std::make_unique<manual_executor>(*sut, agents);
    exec_ = exec.get();
    ASSERT_TRUE(sut->launch(std::move(exec)));
    ASSERT_TRUE(sut->activate());
  }

  /// Attaches a client (session `session_id`).
  std::unique_ptr<test_client> attach(std::uint64_t session_id = 7) {
    auto g = sut->attach(session_id, 64 * 1024, 64 * 1024);
    EXPECT_TRUE(g) << (g ? "" : g.err().what());
    if (!g) return nullptr;
    auto c = std::make_unique<test_client>(*g);
    return c;
  }

  [[nodiscard]] agent& agent_at(std::size_t i) const { return exec_->at(i); }
  [[nodiscard]] manual_executor& exec() const { return *exec_; }

  /// Runs do_work on agent `i` until it finds nothing (at most `rounds` times); returns the work done.
  std::size_t drain(std::size_t i = 0, std::size_t budget = 256, int rounds = 100) {
    std::size_t total = 0;
    for (int r = 0; r < rounds; ++r) {
      const auto n = agent_at(i).do_work(budget);
      if (n == 0) break;
      total += n;
    }
    return total;
  }

  /// The test's bell of agent `i` was rung (its owner would wake).
  bool bell_rung(std::size_t i = 0) {
    pollfd p{exec_->bells.at(i)->fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    exec_->bells.at(i)->drain();
    return true;
  }

  fake_host host;
  fake_type plugin{echo_handler, {}};
  std::shared_ptr<kernel> sut;

 private:
  manual_executor* exec_ = nullptr;
};

}  // namespace pdc::daemon::test
