// pdc C++ plugin SDK: a header-only layer over the C ABI in pdc/plugin.h.
//
// A kernel type is a plain C++ class; `pdc::sdk::kernel_type<K>()` turns it
// into a pdc_kernel_type and PDC_PLUGIN(...) exports the descriptor. Every C
// entry point the SDK generates catches all exceptions and turns them into
// PDC_E_PLUGIN plus an error log line: nothing unwinds across the ABI.
// Plugins use only this header and pdc/plugin.h; they never link pdc
// libraries. Guide: docs/plugins.md.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "pdc/plugin.h"

// Hidden visibility for everything the SDK defines: each plugin then keeps
// its own copy of the SDK's statics (the host table), even if it was built
// without -fvisibility=hidden, and never binds to another plugin's copy.
#pragma GCC visibility push(hidden)

namespace pdc::sdk {

/// Reads a number stored little-endian in exactly sizeof(T) bytes; nullopt for any other size.
template <typename T>
requires std::is_arithmetic_v<T> std::optional<T> read_le(std::span<const std::byte> bytes)
noexcept {
  if (bytes.size() != sizeof(T)) return std::nullopt;
  std::array<std::byte, sizeof(T)> raw{};
  std::memcpy(raw.data(), bytes.data(), sizeof(T));
  if constexpr (std::endian::native == std::endian::big) std::reverse(raw.begin(), raw.end());
  return std::bit_cast<T>(raw);
}

/// The little-endian bytes of `value` (the byte order pdc's examples use on the wire).
template <typename T>
requires std::is_arithmetic_v<T> std::array<std::byte, sizeof(T)> to_le_bytes(T value)
noexcept {
  auto raw = std::bit_cast<std::array<std::byte, sizeof(T)>>(value);
  if constexpr (std::endian::native == std::endian::big) std::reverse(raw.begin(), raw.end());
  return raw;
}

/// One message as a handler sees it: a copy of the C header plus a view of
/// the payload. The payload is valid only during on_message (or, in loop
/// style, until the next receive); copy what must live longer.
class message {
 public:
  message() noexcept = default;
  explicit message(const pdc_message& raw) noexcept : raw_(raw) {}

  /// The payload bytes (empty span for an empty payload).
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    if (raw_.payload == nullptr) return {};
    return {static_cast<const std::byte*>(raw_.payload), raw_.payload_len};
  }
  /// The payload as characters (no encoding check, no terminator).
  [[nodiscard]] std::string_view text() const noexcept {
    if (raw_.payload == nullptr) return {};
    return {static_cast<const char*>(raw_.payload), raw_.payload_len};
  }
  /// Payload size in bytes.
  [[nodiscard]] std::size_t size() const noexcept { return raw_.payload_len; }
  [[nodiscard]] bool empty() const noexcept { return raw_.payload_len == 0; }
  /// Application-defined payload type (0 = untyped).
  [[nodiscard]] std::uint32_t type_id() const noexcept { return raw_.type_id; }
  [[nodiscard]] std::uint64_t message_id() const noexcept { return raw_.message_id; }
  [[nodiscard]] std::uint64_t correlation_id() const noexcept { return raw_.correlation_id; }
  /// Opaque token naming who awaits a reply; 0 when nobody does.
  [[nodiscard]] std::uint64_t reply_to() const noexcept { return raw_.reply_to; }
  /// True when a sender waits for a reply to this message.
  [[nodiscard]] bool expects_reply() const noexcept { return raw_.reply_to != 0; }
  /// Sender's CLOCK_MONOTONIC timestamp in nanoseconds.
  [[nodiscard]] std::uint64_t send_timestamp_ns() const noexcept { return raw_.send_timestamp_ns; }
  [[nodiscard]] std::uint16_t flags() const noexcept { return raw_.flags; }
  [[nodiscard]] std::uint8_t priority() const noexcept { return raw_.priority; }
  /// The C struct, for calling the ABI directly.
  [[nodiscard]] const pdc_message& raw() const noexcept { return raw_; }

 private:
  pdc_message raw_{};
};

/// What receive() gives back: a message, or the status that says why not
/// (PDC_E_TIMEOUT, PDC_E_TERMINATED, or another negative PDC_E_* code).
class received {
 public:
  explicit received(int status) noexcept : status_(status) {}
  explicit received(const pdc_message& raw) noexcept : msg_(raw), status_(PDC_OK) {}

  [[nodiscard]] bool has_value() const noexcept { return status_ == PDC_OK; }
  explicit operator bool() const noexcept { return has_value(); }
  /// The message; only meaningful when has_value().
  [[nodiscard]] const message& value() const noexcept { return msg_; }
  const message& operator*() const noexcept { return msg_; }
  const message* operator->() const noexcept { return &msg_; }
  /// PDC_OK with a message, else the host's negative code.
  [[nodiscard]] int status() const noexcept { return status_; }
  [[nodiscard]] bool timed_out() const noexcept { return status_ == PDC_E_TIMEOUT; }
  /// The kernel is terminating and its queue is drained: leave run().
  [[nodiscard]] bool terminated() const noexcept { return status_ == PDC_E_TERMINATED; }

 private:
  message msg_{};
  int status_;
};

class context;

/// Loop-style input range: every message until the kernel terminates.
/// Timeouts are absorbed; after each one should_terminate() is checked so a
/// loop also ends when the host asks without a PDC_E_TERMINATED receive.
class message_range {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = message;
    using difference_type = std::ptrdiff_t;

    iterator() noexcept = default;
    explicit iterator(message_range* range) noexcept : range_(range) {}
    const message& operator*() const noexcept { return range_->current_; }
    const message* operator->() const noexcept { return &range_->current_; }
    iterator& operator++() noexcept {
      range_->advance();
      return *this;
    }
    void operator++(int) noexcept { range_->advance(); }
    bool operator==(std::default_sentinel_t /*end*/) const noexcept { return range_ == nullptr || range_->done_; }

   private:
    message_range* range_ = nullptr;
  };

  message_range(const context& ctx, std::int64_t poll_timeout_ns) noexcept
      : ctx_(&ctx), poll_timeout_ns_(poll_timeout_ns) {}
  message_range(const message_range&) = delete;
  message_range& operator=(const message_range&) = delete;

  iterator begin() noexcept {
    advance();
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return std::default_sentinel; }
  /// After the loop: PDC_OK if it ended because the kernel terminates, else
  /// the receive error that ended it (return it from run()).
  [[nodiscard]] int status() const noexcept { return status_; }

 private:
  void advance() noexcept;

  const context* ctx_;
  std::int64_t poll_timeout_ns_;
  message current_{};
  int status_ = PDC_OK;
  bool done_ = false;
};

/// A kernel's handle on the host: wraps pdc_kernel_ctx plus the host table.
/// Cheap to copy. Use it only from the thread the host called you on: each
/// worker of a kernel has a context of its own.
class context {
 public:
  context(pdc_kernel_ctx* ctx, const pdc_host_api* host) noexcept : ctx_(ctx), host_(host) {}

  /// Replies to `request` (to its sender, correlated with its id). Returns
  /// PDC_OK (also for a dead letter: the sender is gone, the reply goes to the
  /// kernel's subscribers), PDC_E_MESSAGE_TOO_LARGE or PDC_E_FULL (dropped, counted).
  int reply(const message& request, std::span<const std::byte> data, std::uint32_t type_id = 0) const noexcept {
    if (data.size() > k_max_len) return PDC_E_MESSAGE_TOO_LARGE;
    return host_->reply(ctx_, &request.raw(), data.data(), static_cast<std::uint32_t>(data.size()), type_id);
  }
  /// reply() with the bytes of `text` (no terminator).
  int reply_text(const message& request, std::string_view text, std::uint32_t type_id = 0) const noexcept {
    return reply(request, std::as_bytes(std::span(text.data(), text.size())), type_id);
  }
  /// Emits an output that answers nobody: it goes to the kernel's subscribers.
  int emit(std::span<const std::byte> data, std::uint32_t type_id = 0) const noexcept {
    if (data.size() > k_max_len) return PDC_E_MESSAGE_TOO_LARGE;
    return host_->emit(ctx_, data.data(), static_cast<std::uint32_t>(data.size()), type_id);
  }
  int emit_text(std::string_view text, std::uint32_t type_id = 0) const noexcept {
    return emit(std::as_bytes(std::span(text.data(), text.size())), type_id);
  }
  /// Sends to another kernel by id; PDC_E_NOT_FOUND if there is none.
  /// May throw std::bad_alloc (the id is copied to add a terminator).
  int send_to(std::string_view kernel_id, std::span<const std::byte> data, std::uint32_t type_id = 0) const {
    if (data.size() > k_max_len) return PDC_E_MESSAGE_TOO_LARGE;
    const std::string id(kernel_id);
    return host_->send_to(ctx_, id.c_str(), data.data(), static_cast<std::uint32_t>(data.size()), type_id);
  }
  /// Logs one line through the daemon's logger (tagged with the kernel id).
  /// `level` is PDC_LOG_*. May throw std::bad_alloc.
  void log(int level, std::string_view text) const {
    const std::string line(text);
    host_->log(ctx_, level, line.c_str());
  }
  void log_debug(std::string_view text) const { log(PDC_LOG_DEBUG, text); }
  void log_info(std::string_view text) const { log(PDC_LOG_INFO, text); }
  void log_warn(std::string_view text) const { log(PDC_LOG_WARN, text); }
  void log_error(std::string_view text) const { log(PDC_LOG_ERROR, text); }

  /// CLOCK_MONOTONIC in nanoseconds (same clock as message timestamps).
  [[nodiscard]] std::uint64_t now_ns() const noexcept { return host_->now_ns(); }
  /// This kernel's id, e.g. "processor".
  [[nodiscard]] std::string_view kernel_id() const noexcept {
    const char* id = host_->kernel_id(ctx_);
    return id == nullptr ? std::string_view{} : std::string_view{id};
  }

  /// Loop style only: waits up to `timeout_ns` (negative: forever) for the next message.
  [[nodiscard]] received receive(std::int64_t timeout_ns = -1) const noexcept {
    pdc_message raw{};
    const int rc = host_->receive(ctx_, &raw, timeout_ns);
    return rc == PDC_OK ? received(raw) : received(rc);
  }
  template <typename Rep, typename Period>
  [[nodiscard]] received receive(std::chrono::duration<Rep, Period> timeout) const noexcept {
    return receive(to_ns(timeout));
  }
  /// Loop style only: every message until termination, polling every `poll_timeout`.
  template <typename Rep = std::int64_t, typename Period = std::milli>
  [[nodiscard]] message_range messages(
      std::chrono::duration<Rep, Period> poll_timeout = std::chrono::milliseconds(100)) const noexcept {
    return message_range(*this, to_ns(poll_timeout));
  }
  /// True once the kernel must leave run().
  [[nodiscard]] bool should_terminate() const noexcept { return host_->should_terminate(ctx_) != 0; }
  /// True while the kernel is ACTIVE.
  [[nodiscard]] bool is_active() const noexcept { return host_->is_active(ctx_) != 0; }

  [[nodiscard]] pdc_kernel_ctx* raw() const noexcept { return ctx_; }
  [[nodiscard]] const pdc_host_api* host() const noexcept { return host_; }

 private:
  static constexpr std::size_t k_max_len = std::numeric_limits<std::uint32_t>::max();

  template <typename Rep, typename Period>
  static std::int64_t to_ns(std::chrono::duration<Rep, Period> d) noexcept {
    return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  }

  pdc_kernel_ctx* ctx_;
  const pdc_host_api* host_;
};

inline void message_range::advance() noexcept {
  while (!done_) {
    const received r = ctx_->receive(poll_timeout_ns_);
    if (r) {
      current_ = *r;
      return;
    }
    if (r.timed_out() && !ctx_->should_terminate()) continue;
    done_ = true;
    status_ = (r.terminated() || r.timed_out()) ? PDC_OK : r.status();
  }
}

/// Coroutine style (every tier, tier 1 included): a kernel whose
/// `task run(co_context&)` awaits messages with `co_await ctx.next_message()`.
/// The SDK drives it from on_message: each message resumes the coroutine,
/// which runs until its next co_await, so a multi-message protocol reads as
/// straight-line code while the handler never blocks. When the coroutine
/// ends (co_return, or an exception) the next message starts it afresh; the
/// kernel object and its members persist. There is no timeout: the ABI has
/// no host timer, so a coroutine resumes only when a message arrives.
class co_context : public context {
 public:
  using context::context;

  /// Awaitable yielding the next message. Its payload stays valid until your next co_await.
  [[nodiscard]] auto next_message() noexcept { return awaiter{this}; }
  /// Marks the message being handled as failed with `status` (a negative
  /// PDC_E_* code): on_message returns it. Reset to PDC_OK for each message.
  void set_status(int status) noexcept { status_ = status; }

 private:
  struct awaiter {
    co_context* self;
    [[nodiscard]] bool await_ready() const noexcept { return self->pending_ != nullptr; }
    void await_suspend(std::coroutine_handle<> /*waiting*/) const noexcept {}
    message await_resume() const noexcept {
      const message msg(*self->pending_);
      self->pending_ = nullptr;
      return msg;
    }
  };
  template <typename K>
  friend struct coroutine_state;

  const pdc_message* pending_ = nullptr;  // the message on_message is delivering, until awaited
  int status_ = PDC_OK;
};

/// The return type of a coroutine kernel's run(co_context&). Move-only; owns the frame.
class task {
 public:
  struct promise_type {
    std::exception_ptr error;

    task get_return_object() noexcept { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
    // Lazy start: the SDK resumes it inside its exception guard.
    std::suspend_always initial_suspend() noexcept { return {}; }
    // Stay suspended at the end so done() and the stored exception can be read.
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  task() noexcept = default;
  task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  /// True when there is no coroutine or it has finished.
  [[nodiscard]] bool done() const noexcept { return !handle_ || handle_.done(); }
  /// Runs the coroutine to its next suspension; rethrows what escaped it.
  void resume() {
    if (done()) return;
    handle_.resume();
    if (handle_.done() && handle_.promise().error) std::rethrow_exception(handle_.promise().error);
  }

 private:
  explicit task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  void reset() noexcept {
    if (handle_) handle_.destroy();
    handle_ = {};
  }

  std::coroutine_handle<promise_type> handle_;
};

/// A class K is a coroutine kernel if it has `task run(co_context&)`.
template <typename K>
concept coroutine_kernel = requires(K& k, co_context& ctx) {
  { k.run(ctx) } -> std::same_as<task>;
};

/// A class K is a reactive kernel if it has `on_message(context&, const message&)` returning int or void.
template <typename K>
concept reactive_kernel = requires(K& k, context& ctx, const message& msg) {
  {k.on_message(ctx, msg)};
};

/// A class K is a loop kernel if it has `run(context&)` returning int or void.
template <typename K>
concept loop_kernel = !coroutine_kernel<K> && requires(K & k, context& ctx) {
  {k.run(ctx)};
};

/// K can be built from what create() receives: (context&, config), (config) or ().
template <typename K>
concept creatable_kernel = std::constructible_from<K, context&, std::string_view> ||
    std::constructible_from<K, std::string_view> || std::default_initializable<K>;

/// Per-type options for kernel_type().
struct kernel_options {
  /// PDC_TIER_MASK(PDC_TIER_*) bits; 0 picks the default: every CPU tier for
  /// on_message kernels, threaded|spin|pool for run kernels and for kernels
  /// that may block.
  std::uint32_t tiers = 0;
  /// The handler may block (I/O, sleeps): the daemon refuses it on tier 1.
  /// Always set for run kernels, which block in receive().
  bool may_block = false;
  /// The handler may run on several threads at once on one kernel object
  /// (it guards its members itself): needed for more than one pool worker.
  bool concurrent = false;
  /// The handler reads message payloads as volatile (PDC_KERNEL_VOLATILE_PAYLOAD):
  /// it gets the bytes in the client's shared memory, not a private copy, so
  /// it must read each byte once and check what it read before trusting it.
  bool volatile_payload = false;
};

namespace detail {

/// The host table this plugin was given (one per plugin: hidden visibility).
inline const pdc_host_api*& host_slot() noexcept {
  static const pdc_host_api* host = nullptr;
  return host;
}

/// Stores the host table; false (entry then returns null) if it is too old to be used.
inline bool bind_host(const pdc_host_api* host) noexcept {
  if (host == nullptr || host->struct_size < sizeof(pdc_host_api)) return false;
  host_slot() = host;
  return true;
}

/// Logs "<where> failed: <what>" without allocating (it may run after bad_alloc).
inline void log_failure(pdc_kernel_ctx* ctx, const char* where, const char* what) noexcept {
  const pdc_host_api* host = host_slot();
  if (host == nullptr || host->log == nullptr) return;
  std::array<char, 512> line{};
  std::snprintf(line.data(), line.size(), "%s failed: %s", where, what == nullptr ? "(no message)" : what);
  host->log(ctx, PDC_LOG_ERROR, line.data());
}

/// Runs `fn` (returning a PDC code); any exception becomes PDC_E_PLUGIN plus a log line.
template <typename Fn>
int guarded(pdc_kernel_ctx* ctx, const char* where, Fn&& fn) noexcept {
  try {
    return std::forward<Fn>(fn)();
  } catch (const std::exception& e) {
    log_failure(ctx, where, e.what());
  } catch (...) {
    log_failure(ctx, where, "exception not derived from std::exception");
  }
  return PDC_E_PLUGIN;
}

/// Calls a user handler and maps its result to a PDC code (void means PDC_OK).
template <typename Fn>
int status_of(Fn&& fn) {
  using ret = std::invoke_result_t<Fn>;
  static_assert(std::is_void_v<ret> || std::is_same_v<ret, int>,
                "a pdc handler returns int (PDC_OK or a negative PDC_E_* code) or void");
  if constexpr (std::is_void_v<ret>) {
    std::forward<Fn>(fn)();
    return PDC_OK;
  } else {
    return std::forward<Fn>(fn)();
  }
}

template <typename K>
K* construct(context& ctx, std::string_view config) {
  if constexpr (std::constructible_from<K, context&, std::string_view>) {
    return new K(ctx, config);
  } else if constexpr (std::constructible_from<K, std::string_view>) {
    return new K(config);
  } else {
    return new K();
  }
}

template <typename K>
int create(pdc_kernel_ctx* ctx, const char* config, void** state) noexcept {
  if (state == nullptr) return PDC_E_INVALID_ARGUMENT;
  return guarded(ctx, "create", [&] {
    context c(ctx, host_slot());
    *state = construct<K>(c, config == nullptr ? std::string_view{} : std::string_view{config});
    return PDC_OK;
  });
}

template <typename K>
void destroy(void* state) noexcept {
  // No ctx here to log with; a throwing destructor is the author's bug and is swallowed.
  try {
    delete static_cast<K*>(state);
  } catch (...) {
  }
}

template <typename K>
int on_message(void* state, pdc_kernel_ctx* ctx, const pdc_message* raw) noexcept {
  if (state == nullptr || raw == nullptr) return PDC_E_INVALID_ARGUMENT;
  return guarded(ctx, "on_message", [&] {
    context c(ctx, host_slot());
    const message msg(*raw);
    return status_of([&] { return static_cast<K*>(state)->on_message(c, msg); });
  });
}

template <typename K>
int run(void* state, pdc_kernel_ctx* ctx) noexcept {
  if (state == nullptr) return PDC_E_INVALID_ARGUMENT;
  return guarded(ctx, "run", [&] {
    context c(ctx, host_slot());
    return status_of([&] { return static_cast<K*>(state)->run(c); });
  });
}

/// Builds the plugin descriptor over a static array of kernel types.
template <std::size_t N>
constexpr pdc_plugin_descriptor make_descriptor(const char* name, const char* version,
                                                const std::array<pdc_kernel_type, N>& types) noexcept {
  static_assert(N > 0, "a plugin provides at least one kernel type");
  static_assert(N <= std::numeric_limits<std::uint32_t>::max());
  pdc_plugin_descriptor d{};
  d.abi_major = PDC_PLUGIN_ABI_MAJOR;
  d.abi_minor = PDC_PLUGIN_ABI_MINOR;
  d.struct_size = sizeof(pdc_plugin_descriptor);
  d.kernel_type_size = sizeof(pdc_kernel_type);
  d.name = name;
  d.version = version;
  d.kernel_type_count = static_cast<std::uint32_t>(N);
  d.kernel_types = types.data();
  return d;
}

}  // namespace detail

/// (SDK internal.) A coroutine kernel's state: the context, the kernel object, and its
/// coroutine. Members are destroyed in reverse: the frame (which refers to
/// the kernel and the context) goes first.
template <typename K>
struct coroutine_state {
  co_context ctx;
  std::unique_ptr<K> kernel;
  task coroutine;

  coroutine_state(pdc_kernel_ctx* raw, std::string_view config)
      : ctx(raw, detail::host_slot()), kernel(detail::construct<K>(ctx, config)) {}

  /// Starts (or restarts) the coroutine and runs it to its first co_await.
  void start() {
    coroutine = kernel->run(ctx);
    coroutine.resume();
  }

  /// Delivers one message; returns the status the coroutine set for it.
  int deliver(pdc_kernel_ctx* raw, const pdc_message& msg) {
    static_cast<context&>(ctx) = context(raw, detail::host_slot());
    if (coroutine.done()) start();
    // Resuming a finished coroutine is undefined, and the message would be lost unseen.
    if (coroutine.done()) throw std::logic_error("the coroutine returned without awaiting a message");
    ctx.pending_ = &msg;
    ctx.status_ = PDC_OK;
    // Never leave a pointer to the host's message behind, even on a throw.
    struct clear_pending {
      co_context& c;
      ~clear_pending() { c.pending_ = nullptr; }
    } guard{ctx};
    coroutine.resume();
    return ctx.status_;
  }
};

namespace detail {

template <typename K>
int co_create(pdc_kernel_ctx* ctx, const char* config, void** state) noexcept {
  if (state == nullptr) return PDC_E_INVALID_ARGUMENT;
  return guarded(ctx, "create", [&] {
    auto s = std::make_unique<coroutine_state<K>>(ctx, config == nullptr ? std::string_view{} : config);
    s->start();
    *state = s.release();
    return PDC_OK;
  });
}

template <typename K>
void co_destroy(void* state) noexcept {
  try {
    delete static_cast<coroutine_state<K>*>(state);
  } catch (...) {
  }
}

template <typename K>
int co_on_message(void* state, pdc_kernel_ctx* ctx, const pdc_message* raw) noexcept {
  if (state == nullptr || raw == nullptr) return PDC_E_INVALID_ARGUMENT;
  return guarded(ctx, "on_message", [&] { return static_cast<coroutine_state<K>*>(state)->deliver(ctx, *raw); });
}

}  // namespace detail

/// Describes kernel class K as a pdc_kernel_type. K has exactly one of
///  - `int on_message(context&, const message&)`: reactive, every CPU tier;
///  - `int run(context&)`: loop style, threaded, spin and pool tiers (may block);
///  - `task run(co_context&)`: coroutine style, every CPU tier (see co_context);
/// (int handlers may return void instead, meaning PDC_OK) and a constructor
/// taking (context&, std::string_view config), (std::string_view config) or
/// nothing. One K object is made per kernel by create and deleted by destroy.
template <typename K>
constexpr pdc_kernel_type kernel_type(const char* name, const char* description, kernel_options options = {}) noexcept {
  constexpr int k_styles = int{reactive_kernel<K>} + int{loop_kernel<K>} + int{coroutine_kernel<K>};
  static_assert(k_styles == 1,
                "a kernel class defines exactly one of on_message(context&, const message&), run(context&) and "
                "task run(co_context&)");
  static_assert(creatable_kernel<K>,
                "a kernel class is constructible from (context&, std::string_view), (std::string_view) or ()");
  constexpr bool is_loop = loop_kernel<K>;
  const bool may_block = options.may_block || is_loop;
  constexpr std::uint32_t k_blocking_tiers =
      PDC_TIER_MASK(PDC_TIER_THREADED) | PDC_TIER_MASK(PDC_TIER_SPIN) | PDC_TIER_MASK(PDC_TIER_POOL);

  pdc_kernel_type t{};
  t.struct_size = sizeof(pdc_kernel_type);
  t.tiers = options.tiers != 0 ? options.tiers : (may_block ? k_blocking_tiers : PDC_TIER_MASK_CPU);
  t.flags = (may_block ? PDC_KERNEL_MAY_BLOCK : 0U) | (options.concurrent ? PDC_KERNEL_CONCURRENT : 0U) |
            (options.volatile_payload ? PDC_KERNEL_VOLATILE_PAYLOAD : 0U);
  t.name = name;
  t.description = description;
  if constexpr (coroutine_kernel<K>) {
    t.create = &detail::co_create<K>;
    t.destroy = &detail::co_destroy<K>;
    t.on_message = &detail::co_on_message<K>;
  } else {
    t.create = &detail::create<K>;
    t.destroy = &detail::destroy<K>;
    if constexpr (is_loop) {
      t.run = &detail::run<K>;
    } else {
      t.on_message = &detail::on_message<K>;
    }
  }
  return t;
}

}  // namespace pdc::sdk

#pragma GCC visibility pop

/// Defines the plugin's exported entry point. Use once per plugin, at namespace scope:
///   PDC_PLUGIN("echo", "1.0.0", pdc::sdk::kernel_type<echo_kernel>("echo", "replies with the payload"));
/// The entry stores the host table for the SDK and returns a constant descriptor,
/// or null when the host table is older than this SDK (the loader then refuses the plugin).
#define PDC_PLUGIN(plugin_name, plugin_version, ...)                                               \
  extern "C" __attribute__((visibility("default"))) const pdc_plugin_descriptor* pdc_plugin_entry( \
      const pdc_host_api* host) {                                                                  \
    static constexpr std::array pdc_sdk_kernel_types{__VA_ARGS__};                                 \
    static constexpr pdc_plugin_descriptor pdc_sdk_descriptor =                                    \
        ::pdc::sdk::detail::make_descriptor(plugin_name, plugin_version, pdc_sdk_kernel_types);    \
    return ::pdc::sdk::detail::bind_host(host) ? &pdc_sdk_descriptor : nullptr;                    \
  }                                                                                                \
  static_assert(std::is_convertible_v<decltype(&pdc_plugin_entry), pdc_plugin_entry_fn>,           \
                "pdc_plugin_entry must match pdc_plugin_entry_fn")
