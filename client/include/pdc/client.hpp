// libpdc: the C++ client of pdcd. One pdc::client is one session (one
// connection to the daemon's control socket); a pdc::attachment is a
// shared-memory data path to one kernel. docs/client.md has examples. The
// kinds (pdc::kernel_tier, pdc::backpressure_policy, pdc::kernel_state) and
// their names come from pdc/core/kinds.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pdc/core/idle_strategy.hpp"
#include "pdc/core/kinds.hpp"
#include "pdc/core/result.hpp"
#include "pdc/proto/envelope.hpp"

namespace pdc {

/// Which form `client::metrics` asks for.
enum class metrics_format : std::uint8_t { structured = 0, prometheus = 1 };

/// Summary of one latency histogram; all times in nanoseconds.
struct latency_summary {
  std::uint64_t count = 0;    ///< Samples recorded.
  std::uint64_t p50_ns = 0;   ///< Median.
  std::uint64_t p95_ns = 0;   ///< 95th percentile.
  std::uint64_t p99_ns = 0;   ///< 99th percentile.
  std::uint64_t p999_ns = 0;  ///< 99.9th percentile.
  std::uint64_t max_ns = 0;   ///< Largest sample.
  double mean_ns = 0.0;       ///< Arithmetic mean.
};

/// A kernel's state and metrics as the daemon reports them (wire KernelInfo).
struct kernel_info {
  std::string kernel_id;                                          ///< Unique id, e.g. "processor".
  std::string kernel_type;                                        ///< Handler type, e.g. "echo".
  std::string plugin;                                             ///< Name of the plugin that provides the type.
  kernel_tier tier = kernel_tier::async;                          ///< Executor it runs on.
  kernel_state state = kernel_state::created;                     ///< Lifecycle state.
  backpressure_policy backpressure = backpressure_policy::block;  ///< Full-queue policy.
  std::uint32_t capacity = 0;                                     ///< Queue capacity, messages.
  std::uint32_t max_message_bytes = 0;                            ///< Largest payload accepted, bytes.
  std::uint64_t queue_depth = 0;                                  ///< Messages queued now.
  std::uint64_t messages_in = 0;                                  ///< Messages accepted since launch.
  std::uint64_t messages_out = 0;                                 ///< Messages emitted or replied since launch.
  std::uint64_t dropped = 0;                                      ///< Messages dropped by backpressure.
  std::uint64_t rejected = 0;                                     ///< Messages rejected by backpressure.
  std::uint64_t handler_errors = 0;                               ///< Handler failures.
  std::string last_error;                                         ///< Last handler error, one line; empty if none.
  std::uint64_t uptime_ns = 0;                                    ///< Time since launch, nanoseconds.
  latency_summary queue_wait;                                     ///< Enqueue to handler start.
  latency_summary processing;                                     ///< Handler run time.
  std::uint32_t subscribers = 0;                                  ///< Sessions subscribed to its outputs.
  std::uint64_t processed = 0;                                    ///< Handler invocations.
  std::uint64_t dead_letters = 0;   ///< Replies whose sender was gone (delivered to subscribers, if any).
  std::uint64_t malformed = 0;      ///< Records refused because their envelope was malformed.
  std::string pool;                 ///< Pool tier: the named pool ("" for a private one).
  std::uint32_t workers = 0;        ///< Agents (threads' shares) serving the kernel.
  bool latency_metrics = true;      ///< Whether the latency histograms are recorded.
  std::uint32_t owner_uid = 0;      ///< Who launched it (it and administrators have every right on it).
  std::vector<std::string> access;  ///< Its access list as written ("group:pdc=send,attach").
  std::uint64_t denied = 0;         ///< Requests its access list refused.
  bool stuck = false;               ///< Terminating, and a handler does not return.
  kernel_isolation isolation = kernel_isolation::none;  ///< Where its handlers run.
  std::int32_t host_pid = 0;                            ///< Process isolation: its host process now (0: none).
  std::uint32_t restarts = 0;                           ///< Process isolation: host restarts since launch.
  std::string last_exit;                   ///< Process isolation: how the last host ended ("signal SIGSEGV").
  std::uint64_t recovery_ns = 0;           ///< Process isolation: last crash to the new host's ready, ns.
  std::string host_user;                   ///< Process isolation: the user its host runs as ("" : pdcd's).
  std::uint32_t max_address_space_mb = 0;  ///< Process isolation: its host's bounds (0: none).
  std::uint32_t max_cpu_seconds = 0;
  std::uint32_t max_open_files = 0;
  bool seccomp = false;        ///< Process isolation: its host's system calls are filtered.
  bool exported = false;       ///< Reachable from other nodes of the cluster as node/kernel_id.
  bool at_least_once = false;  ///< Other nodes' messages to it come through JetStream.
};

/// A loaded plugin (wire PluginInfo).
struct plugin_info {
  std::string name;                       ///< Plugin name from its descriptor.
  std::string version;                    ///< Plugin version string.
  std::string path;                       ///< Path it was loaded from.
  std::vector<std::string> kernel_types;  ///< Kernel types it provides.
  std::uint32_t live_kernels = 0;         ///< Kernels of its types alive now.
};

/// A named thread pool of the daemon (config [[pool]]) and the kernels on it.
struct pool_info {
  std::string name;                  ///< Pool name.
  std::uint32_t threads = 0;         ///< Threads in the pool.
  std::uint32_t idle_spin_us = 0;    ///< How long an idle pool thread polls before it parks.
  std::vector<std::string> kernels;  ///< Kernels whose agents run on it.
};

/// What `client::metrics` returns: structured kernels, and text for the Prometheus format.
struct metrics_report {
  std::vector<kernel_info> kernels;  ///< Filled for metrics_format::structured.
  std::string text;                  ///< Prometheus exposition text for metrics_format::prometheus.
};

/// Parameters of `client::launch`; zero means "daemon default" where noted.
struct launch_options {
  std::string kernel_type;                                        ///< Kernel type to instantiate (required).
  std::string kernel_id;                                          ///< Unique id for the new kernel (required).
  kernel_tier tier = kernel_tier::async;                          ///< Executor.
  std::uint32_t capacity = 0;                                     ///< Queue capacity, messages; 0 = default.
  backpressure_policy backpressure = backpressure_policy::block;  ///< Full-queue policy.
  std::uint32_t max_message_bytes = 0;                            ///< Payload limit, bytes; 0 = default.
  std::uint32_t block_timeout_ms = 0;                             ///< Wait limit for `block`, ms; 0 = default.
  std::string config;                                             ///< Text handed to the type's create().
  std::uint32_t workers = 0;                                      ///< Threads for the pool tier; 0 = default.
  std::int32_t cpu = -1;                                          ///< CPU to pin a spin kernel to; -1 = none.
  std::uint32_t idle_spin_us = 0;  ///< Polling before an idle worker parks, us; 0 = the tier's default.
  std::string pool;                ///< Pool tier: a named pool of the daemon's config; empty = a private pool.
  bool latency_metrics = true;     ///< Record queue-wait and processing histograms (off: a little faster).
  /// Who else may use it: entries "user:NAME=", "group:NAME=", "uid:N=", "gid:N=" or "anyone=",
  /// then rights "send,attach,subscribe,status" or "all" (docs/security.md).
  std::vector<std::string> access;
  /// Where its handlers run: inside pdcd, or in a supervised host process of
  /// its own that restarts alone when it crashes (docs/isolation.md).
  kernel_isolation isolation = kernel_isolation::none;
  /// Confinement of its host (isolation = process only; docs/isolation.md):
  /// run it as this user (a root pdcd only), bound its address space (MiB),
  /// CPU time (s) and open files, and filter its system calls. 0, "" and
  /// false: no bound.
  std::string host_user;
  std::uint32_t max_address_space_mb = 0;
  std::uint32_t max_cpu_seconds = 0;
  std::uint32_t max_open_files = 0;
  bool seccomp = false;
  /// Reachable from other nodes of the cluster as `node/kernel_id` (the
  /// daemon must be a node of one; docs/cluster.md).
  bool exported = false;
  /// Exported only: other nodes' messages come through JetStream and are
  /// acknowledged once its handler ran (delivery at least once).
  bool at_least_once = false;
};

/// Per-message options of `client::send` and `client::request`.
struct send_options {
  std::uint32_t type_id = 0;                   ///< Application payload type; 0 = untyped bytes.
  std::uint8_t priority = k_default_priority;  ///< 0-255; higher is served first where ordered.
  bool ack = true;  ///< Wait for the daemon to accept the message (false: only failures are reported, later).
  /// Tell the kernel nobody waits for an answer: its reply becomes an output
  /// (to its subscribers and connected kernels) instead of a dead letter.
  bool no_reply = false;
};

/// A message the daemon delivered to this session: a reply or a subscribed output.
struct received_message {
  std::string kernel_id;           ///< Kernel that produced it.
  envelope env;                    ///< Its envelope (ids, type, flags, timestamps).
  std::vector<std::byte> payload;  ///< Payload bytes (env.payload_length() of them).

  /// True when it answers a request of this session (envelope flag bit 0).
  [[nodiscard]] bool is_reply() const noexcept { return (env.flags() & k_envelope_flag_reply) != 0; }
  /// True when it is an error reply; the payload is then the error text (flag bit 1).
  [[nodiscard]] bool is_error() const noexcept { return (env.flags() & k_envelope_flag_error) != 0; }
};

/// An ack=false send the daemon refused (reported after the fact).
struct send_failure {
  std::uint64_t message_id = 0;  ///< message_id returned by the refused send.
  error reason;                  ///< Why the daemon refused it.
};

/// Deliveries buffered by default before the oldest are dropped.
inline constexpr std::size_t k_default_delivery_limit = 4096;

/// What attachment::send does when the request ring has no room.
enum class ring_full_policy : std::uint8_t {
  wait = 0,    ///< Spin, then park until the kernel frees room; errc::timeout after full_timeout_ns.
  fail = 1,    ///< Fail at once with errc::full; nothing is sent.
  kernel = 2,  ///< The kernel's backpressure policy (default): block waits up to its block timeout
               ///< (then errc::timeout), reject fails with errc::rejected, drop_newest with
               ///< errc::dropped, drop_oldest has the kernel drop its oldest message (its sender
               ///< gets an error reply) and sends; refusals are counted in the kernel's metrics.
};

/// How long an attachment polls before it parks: long enough that a busy
/// request/reply ping-pong never sleeps, short enough that an idle waiter
/// soon frees its core.
inline constexpr std::uint64_t k_attachment_spin_ns = 200'000;
/// Default limit on a send waiting for room in a full request ring, ns.
inline constexpr std::int64_t k_attachment_full_timeout_ns = 5'000'000'000;
/// Messages request() sets aside by default for receive() before dropping the oldest.
inline constexpr std::size_t k_attachment_reply_limit = 256;

/// What changed in a client's connection (reconnect_options::on_event).
enum class connection_change : std::uint8_t {
  disconnected = 0,  ///< The connection broke (`reason`: peer_gone, or daemon_stopping after pdcd said so).
  reconnected = 1,   ///< A new session with pdcd is up, subscriptions renewed.
};

/// Passed to reconnect_options::on_event.
struct connection_event {
  connection_change change = connection_change::disconnected;
  error reason;                                 ///< disconnected: why.
  std::uint32_t attempts = 0;                   ///< reconnected: connection attempts it took.
  std::vector<std::string> lost_subscriptions;  ///< reconnected: kernels the new pdcd refused a subscription to.
};

/// What a client does when its connection to pdcd breaks (pdcd killed,
/// restarted, stopping). Off by default: the session then ends for good.
/// On: the next call connects again, with exponential back-off between
/// attempts, says Hello, and subscribes again to every kernel it was
/// subscribed to. A call that was in flight when the connection broke fails
/// (peer_gone / daemon_stopping): it is not repeated, since pdcd may have
/// done it. The new session has a new session_id().
struct reconnect_options {
  bool enabled = false;
  std::int64_t initial_backoff_ns = 10'000'000;  ///< Wait after the first failed attempt; doubles.
  std::int64_t max_backoff_ns = 1'000'000'000;   ///< Ceiling of the back-off.
  /// A call made while disconnected: false fails at once with the error that
  /// broke the connection (and tries to connect when the back-off allows);
  /// true keeps trying until the call's own deadline (set_call_timeout_ns, or
  /// the timeout of receive/request).
  bool wait = false;
  /// Told of each disconnection and reconnection, on the thread that made the call.
  std::function<void(const connection_event&)> on_event;
};

/// Parameters of `client::connect`.
struct connect_options {
  std::string client_name = "libpdc";  ///< Shown in pdcd's log.
  reconnect_options reconnect;         ///< Off by default.
};

/// Parameters of `client::attach`.
struct attach_options {
  std::uint32_t request_ring_bytes = 0;                         ///< Request ring capacity, bytes; 0 = daemon default.
  std::uint32_t reply_ring_bytes = 0;                           ///< Reply ring capacity, bytes; 0 = daemon default.
  ring_full_policy full_policy = ring_full_policy::kernel;      ///< What a send does when the request ring is full.
  std::int64_t full_timeout_ns = k_attachment_full_timeout_ns;  ///< Longest wait for room (wait); negative = forever.
  idle_strategy wait = idle_strategy::spin_park(k_attachment_spin_ns);  ///< How receive/request/a full send wait.
  std::size_t reply_limit = k_attachment_reply_limit;  ///< Messages request() sets aside for receive() (at least 1).
  /// When pdcd went away (peer_gone, daemon_stopping) and its client
  /// reconnects (reconnect_options), the next send, request, receive or poll
  /// attaches again to the same kernel, as the client's policy allows (at once
  /// or waiting up to its deadline), and carries on over the new rings; what
  /// was in the old rings is lost. It then uses its client, as detach() does:
  /// use both from one thread.
  bool reattach = false;
};

/// One message reserved in the request ring by `attachment::begin_send`.
/// A message attachment::peek() left in place (zero copy).
struct peeked_message {
  envelope env;                        ///< Its envelope.
  std::span<const std::byte> payload;  ///< Its payload, valid until attachment::release().
};

struct send_slot {
  std::uint64_t message_id = 0;  ///< The message's id.
  std::span<std::byte> payload;  ///< Where to write its payload, in shared memory (exactly the size asked for).
};

class attachment;
namespace detail {
class session;
struct attach_parts;
result<attachment> open_attachment(attach_parts&& parts);
}  // namespace detail

/// A shared-memory data path to one kernel (`client::attach`): the client
/// writes requests into one ring of a segment it shares with pdcd, the kernel
/// writes replies into another. Sending and receiving are memory operations:
/// no system call while both sides are busy, a futex or eventfd wake-up only
/// when the other side sleeps. The socket is used to attach and detach only.
///
/// Thread-safety: none inside; use one attachment from one thread at a time.
/// It touches only shared memory, so it may run on another thread than its
/// client, except detach(), which talks through the client (call it where that
/// client may be called). It never points at its client: the client may move
/// or be destroyed first. Destroying the client ends the session, so the
/// attachment then fails with errc::peer_gone. A kernel that is terminated
/// gives errc::terminated; a daemon that goes away gives errc::peer_gone
/// (noticed within about 25 ms of waiting), never a hang.
class attachment {
 public:
  /// An empty attachment: every call fails with errc::illegal_state.
  attachment() noexcept;
  attachment(attachment&& other) noexcept;
  /// Releases this attachment (as the destructor does) and takes over `other`'s.
  attachment& operator=(attachment&& other) noexcept;
  attachment(const attachment&) = delete;
  attachment& operator=(const attachment&) = delete;
  /// Publishes reserved messages, closes both rings (reason 1: "closed") and
  /// unmaps the segment. Sends no Detach (that needs the client): the daemon
  /// sees the closed rings, or the session's end.
  ~attachment();

  /// False when empty, moved from or detached.
  [[nodiscard]] bool attached() const noexcept;
  /// Attachment id the daemon assigned (0 when not attached).
  [[nodiscard]] std::uint64_t id() const noexcept;
  /// The kernel this attachment talks to ("" when not attached).
  [[nodiscard]] const std::string& kernel_id() const noexcept;
  /// Largest payload a message may carry, bytes (the envelope comes on top).
  [[nodiscard]] std::uint32_t max_message_bytes() const noexcept;

  /// Copies `payload` into the request ring as one message and publishes it
  /// (together with any begin_send reservations); returns its message_id (per
  /// attachment, increasing from 1). opts.ack is ignored: a message in the ring
  /// is accepted. Above max_message_bytes(): errc::message_too_large, nothing sent.
  /// A full ring waits or fails per ring_full_policy (errc::timeout / errc::full).
  result<std::uint64_t> send(std::span<const std::byte> payload, const send_options& opts = {});

  /// Reserves a message of `payload_bytes` in the request ring (envelope
  /// filled in) and returns where to write its payload. It stays invisible to
  /// the kernel until flush() (or the next send, request, receive or poll), so
  /// many messages can be published with one commit. Errors as for send; a
  /// full ring first publishes what is reserved.
  result<send_slot> begin_send(std::size_t payload_bytes, const send_options& opts = {});
  /// Publishes every message reserved by begin_send (one commit, one wake-up at most).
  void flush() noexcept;

  /// The next message from the kernel (a message request() set aside first,
  /// then the reply ring), copied out, waiting up to `timeout_ns` ns
  /// (negative: forever; 0: only what is there). errc::timeout when none came.
  result<received_message> receive(std::int64_t timeout_ns);

  /// Zero-copy receive: calls `fn(const envelope&, std::span<const std::byte> payload)`
  /// for up to `max_messages` messages, then hands their space back to the
  /// kernel in one release. Waits up to `timeout_ns` for the first (negative:
  /// forever); returns how many were handled, 0 when none came in time. The
  /// payload span points into shared memory and is valid during the call only.
  /// A message whose fn throws stays in the ring; those before it are consumed.
  template <typename Fn>
  result<std::size_t> poll(Fn&& fn, std::size_t max_messages, std::int64_t timeout_ns = 0);

  /// The callback form of poll() (what the template calls).
  using message_fn = void (*)(void* context, const envelope& env, std::span<const std::byte> payload);
  /// poll() without templates: calls `fn(context, env, payload)` per message.
  result<std::size_t> poll_with(message_fn fn, void* context, std::size_t max_messages, std::int64_t timeout_ns);

  /// Zero-copy receive of one message, left where it is: the next message (a
  /// message request() set aside first, then the reply ring), waiting up to
  /// `timeout_ns` (negative: forever; 0: only what is there). Its payload
  /// points into shared memory (or the set-aside buffer) and stays valid
  /// until release(), which consumes it. Until then receive, poll, request
  /// and peek fail with errc::illegal_state; sends work. errc::timeout when
  /// none came.
  result<peeked_message> peek(std::int64_t timeout_ns);
  /// Consumes the message peek() gave and hands its space back to the
  /// kernel; nothing when none is peeked.
  void release() noexcept;

  /// The descriptor an event loop watches to wait for this attachment
  /// without a thread (docs/client.md, "Waiting in an event loop"): after
  /// arm() returned true it becomes readable when a message arrives, the
  /// kernel ends the attachment, or pdcd goes away. -1 when detached or
  /// when pdcd sent none. Owned by the attachment; never read it yourself.
  [[nodiscard]] int wait_fd() const noexcept;
  /// Prepares a wait on wait_fd(): true when nothing can be received now
  /// (sleep until wait_fd() is readable, then receive with timeout 0, and
  /// arm again if that times out); false when a receiving call has
  /// something to return at once (a message, or the error that ends the
  /// attachment). Publishes what begin_send reserved. errc::not_supported
  /// without a wait descriptor; errc::illegal_state while a peeked message
  /// is not released.
  result<bool> arm();

  /// Sends `payload` and waits up to `timeout_ns` ns (negative: forever) for
  /// the kernel's reply to it; other messages read meanwhile are set aside
  /// (bounded by attach_options::reply_limit) for receive() and poll(). An
  /// error reply becomes an error as in client::request.
  result<received_message> request(std::span<const std::byte> payload, std::int64_t timeout_ns,
                                   const send_options& opts = {});

  /// Detaches: publishes reserved messages, closes both rings (reason 1),
  /// sends Detach through the client if it is still connected, and unmaps.
  /// The attachment is empty afterwards whatever the outcome. Uses the client:
  /// call it where that client may be called.
  result<void> detach();

  /// Changes how receive, request, poll and a waiting send wait.
  void set_wait_strategy(const idle_strategy& strategy) noexcept;
  /// Changes what a send does on a full request ring (`timeout_ns` for wait; negative = forever).
  void set_full_policy(ring_full_policy policy, std::int64_t timeout_ns = k_attachment_full_timeout_ns) noexcept;
  /// Messages set aside by request() and not yet received.
  [[nodiscard]] std::size_t buffered_messages() const noexcept;
  /// Messages set aside by request() that were dropped because the buffer was full.
  [[nodiscard]] std::uint64_t dropped_messages() const noexcept;

 private:
  struct state;
  friend result<attachment> detail::open_attachment(detail::attach_parts&& parts);
  explicit attachment(std::unique_ptr<state> s) noexcept;
  // attach_options::reattach: attaches again when pdcd went away.
  result<void> revive(std::int64_t timeout_ns);
  std::unique_ptr<state> state_;
};

template <typename Fn>
result<std::size_t> attachment::poll(Fn&& fn, std::size_t max_messages, std::int64_t timeout_ns) {
  using callable = std::remove_reference_t<Fn>;
  const message_fn call = [](void* context, const envelope& env, std::span<const std::byte> payload) {
    (*static_cast<callable*>(context))(env, payload);
  };
  return poll_with(call, const_cast<void*>(static_cast<const void*>(std::addressof(fn))), max_messages, timeout_ns);
}

/// A session with pdcd over its control socket (SOCK_SEQPACKET, one flatbuffer
/// per packet). Calls block until the daemon answers; deliveries that arrive
/// meanwhile are buffered (bounded) for receive()/request().
///
/// Thread-safety: none. Use one client from one thread at a time (it may move
/// between threads); open one client per thread for parallelism. Once the
/// daemon goes away or sends a malformed packet every later call fails
/// promptly (errc::peer_gone, errc::daemon_stopping, errc::protocol_error);
/// connect again to recover, or connect with reconnect_options to have the
/// client do it.
class client {
 public:
  /// Connects to pdcd at `socket_path` (empty: pdc::default_socket_path()) and
  /// says Hello. Fails with a message naming the path when nobody listens.
  static result<client> connect(std::string_view socket_path = {}, std::string_view client_name = "libpdc");
  /// Connects as above with `options` (the name, and whether and how to reconnect).
  static result<client> connect(std::string_view socket_path, const connect_options& options);

  /// Takes ownership of `fd`, an already-connected SOCK_SEQPACKET socket (from
  /// socketpair or socket activation), and says Hello. Closes `fd` on failure.
  static result<client> adopt(int fd, std::string_view client_name = "libpdc");

  /// Takes over `other`'s session; `other` then fails every call with errc::invalid_argument.
  client(client&& other) noexcept;
  /// Closes this session and takes over `other`'s.
  client& operator=(client&& other) noexcept;
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  /// Closes the connection; buffered deliveries are discarded.
  ~client();

  // ---- session ---------------------------------------------------------------

  /// Session id the daemon assigned (HelloReply); stamps reply_to on our messages.
  [[nodiscard]] std::uint64_t session_id() const noexcept;
  /// Daemon version string from HelloReply.
  [[nodiscard]] const std::string& daemon_version() const noexcept;
  /// Largest payload the daemon accepts over the socket, bytes (HelloReply).
  [[nodiscard]] std::uint32_t max_message_bytes() const noexcept;
  /// False once the connection broke (daemon gone, malformed packet), until a reconnection.
  [[nodiscard]] bool connected() const noexcept;
  /// True once pdcd said it is stopping (SIGTERM): calls still work until it closes the session.
  [[nodiscard]] bool daemon_stopping() const noexcept;
  /// Sessions this client has had: 1, plus one per reconnection.
  [[nodiscard]] std::uint64_t sessions() const noexcept;
  /// Upper bound for blocking control calls, ns; negative (the default) waits forever.
  void set_call_timeout_ns(std::int64_t timeout_ns) noexcept;

  // ---- plugins ---------------------------------------------------------------

  /// Loads the plugin at `path` (a path on the daemon's machine).
  result<plugin_info> plugin_load(std::string_view path);
  /// Unloads the plugin `name`; refused while kernels of its types live.
  result<void> plugin_unload(std::string_view name);
  /// Every loaded plugin.
  result<std::vector<plugin_info>> plugin_list();

  // ---- kernel lifecycle ------------------------------------------------------

  /// Launches a kernel (state LAUNCHED: gated, queuing, not consuming).
  result<void> launch(const launch_options& options);
  /// Opens the kernel's gate (LAUNCHED/DEACTIVATED -> ACTIVE).
  result<void> activate(std::string_view kernel_id);
  /// Closes the kernel's gate (ACTIVE -> DEACTIVATED); messages keep queuing.
  result<void> deactivate(std::string_view kernel_id);
  /// Terminates the kernel: drains its queue for up to `timeout_ms` ms, or drops it when `drop`.
  result<void> terminate(std::string_view kernel_id, bool drop = false, std::uint32_t timeout_ms = 5000);
  /// Every kernel.
  result<std::vector<kernel_info>> list();
  /// One kernel; errc::not_found if there is none with that id.
  result<kernel_info> status(std::string_view kernel_id);
  /// Metrics of one kernel, or of every kernel when `kernel_id` is empty.
  result<metrics_report> metrics(std::string_view kernel_id = {}, metrics_format format = metrics_format::structured);
  /// Delivers the kernel's non-reply outputs (emits) to this session from now on.
  result<void> subscribe(std::string_view kernel_id);
  /// Stops the deliveries subscribe() started.
  result<void> unsubscribe(std::string_view kernel_id);
  /// Pipes `from_kernel`'s outputs into `to_kernel` (refused if it would make a cycle).
  result<void> connect_kernels(std::string_view from_kernel, std::string_view to_kernel);
  /// The daemon's named thread pools.
  result<std::vector<pool_info>> pools();
  /// Undoes connect_kernels.
  result<void> disconnect_kernels(std::string_view from_kernel, std::string_view to_kernel);

  // ---- messages --------------------------------------------------------------

  /// Sends `payload` to the kernel; returns its message_id (per session, increasing
  /// from 1). A payload above max_message_bytes() fails with errc::message_too_large
  /// and nothing is sent. With opts.ack (default) waits until the daemon accepted it.
  result<std::uint64_t> send(std::string_view kernel_id, std::span<const std::byte> payload,
                             const send_options& opts = {});

  /// The next buffered delivery (reply or subscribed output) in arrival order,
  /// waiting up to `timeout_ns` ns (negative: forever; 0: only what has arrived).
  /// errc::timeout when none came in time.
  result<received_message> receive(std::int64_t timeout_ns);

  /// Sends `payload` and waits up to `timeout_ns` ns (negative: forever) for the
  /// kernel's reply to it; other deliveries stay buffered for receive(). An
  /// error reply becomes an error whose message is its text ("<errc name>:
  /// <reason>") and whose code is that errc (errc::plugin_error for other text).
  result<received_message> request(std::string_view kernel_id, std::span<const std::byte> payload,
                                   std::int64_t timeout_ns, const send_options& opts = {});

  /// The oldest unreported failure of an ack=false send, if any (at most 256 are kept).
  std::optional<send_failure> take_send_failure();

  /// Deliveries buffered now (not yet returned by receive()).
  [[nodiscard]] std::size_t buffered_deliveries() const noexcept;
  /// Deliveries dropped because the buffer was full (oldest first), since connect.
  [[nodiscard]] std::uint64_t dropped_deliveries() const noexcept;
  /// Bounds the delivery buffer to `messages` (at least 1); default k_default_delivery_limit.
  void set_delivery_limit(std::size_t messages) noexcept;

  // ---- shared memory -----------------------------------------------------------

  /// Attaches to the kernel's rings: the daemon creates a segment with a
  /// request and a reply ring and passes it (with the kernel's doorbell
  /// eventfd) over the socket. errc::protocol_error when the answer does not
  /// carry exactly those two descriptors; errc::corrupt_segment /
  /// errc::version_mismatch when the segment is not a valid pdc segment.
  result<attachment> attach(std::string_view kernel_id, const attach_options& options = {});

 private:
  struct impl;
  explicit client(std::shared_ptr<impl> p) noexcept;
  // Shared so attachments can attach again through it (attach_options::reattach).
  std::shared_ptr<impl> impl_;
};

}  // namespace pdc
