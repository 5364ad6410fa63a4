#include "pdc/client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <optional>
#include <utility>

#include "attachment_open.hpp"
#include "pdc/core/clock.hpp"
#include "pdc/core/socket_path.hpp"
#include "pdc/proto/control.hpp"
#include "pdc/proto/kinds_wire.hpp"
#include "reply_error.hpp"
#include "session.hpp"
#include "socket_io.hpp"
#include "wire_convert.hpp"

namespace pdc {

namespace {
// A daemon that has not said hello by then is not pdcd (or is stuck).
constexpr std::int64_t k_hello_timeout_ns = 10'000'000'000;

flatbuffers::Offset<flatbuffers::String> make_string(flatbuffers::FlatBufferBuilder& fbb, std::string_view s) {
  return fbb.CreateString(s.data(), s.size());
}

std::string ms_text(std::int64_t timeout_ns) {
  return std::to_string(timeout_ns / 1'000'000) + " ms";
}

error moved_from_error() {
  return make_error(errc::invalid_argument, "pdc::client used after being moved from");
}

// A Detach must not hang on a daemon that stopped answering.
constexpr std::int64_t k_detach_timeout_ns = 5'000'000'000;

template <typename T>
result<T> protocol_error(const char* expected) {
  return make_error(errc::protocol_error, std::string("pdcd answered without the expected ") + expected);
}
}  // namespace

struct client::impl : std::enable_shared_from_this<client::impl> {
  impl(int fd, std::string socket_path, connect_options opts)
      : session(std::make_shared<detail::session>(fd)), path(std::move(socket_path)), options(std::move(opts)) {}

  // Builds a Request around the body `make(fbb)` returns and waits for its Response.
  template <wire::RequestBody Type, typename MakeBody>
  result<detail::response_packet> call(MakeBody&& make) {
    const auto dl = deadline::after_ns(call_timeout_ns);
    for (bool again = false;; again = true) {
      if (auto up = ready(dl); !up) return std::move(up).err();
      auto r = call_now<Type>(make, dl);
      if (r || again || !resend_after_refusal()) return r;
    }
  }

  // A request that found the connection already gone was never seen by
  // pdcd: with reconnection on, it is sent again on the next session.
  [[nodiscard]] bool resend_after_refusal() const noexcept {
    return options.reconnect.enabled && !path.empty() && !session->healthy() && session->last_send_refused();
  }

  // The same on the current session, without reconnecting.
  template <wire::RequestBody Type, typename MakeBody>
  result<detail::response_packet> call_now(MakeBody&& make, deadline dl) {
    flatbuffers::FlatBufferBuilder fbb(256);
    const auto body = make(fbb);
    const std::uint64_t id = session->next_request_id();
    fbb.Finish(wire::CreateRequest(fbb, id, Type, body.Union()));
    return session->call(std::span(fbb.GetBufferPointer(), fbb.GetSize()), id, dl);
  }

  // A request about one kernel (Activate, Subscribe, ...) answered by code only.
  template <wire::RequestBody Type, typename Create>
  result<void> kernel_call(std::string_view kernel_id, Create create) {
    auto r = call<Type>([&](auto& fbb) { return create(fbb, make_string(fbb, kernel_id)); });
    if (!r) return std::move(r).err();
    return ok();
  }

  result<void> hello();
  result<std::uint64_t> check_payload(std::span<const std::byte> payload) const;
  // Builds a Send request for `payload`; returns (request id, message id).
  std::pair<std::uint64_t, std::uint64_t> build_send(flatbuffers::FlatBufferBuilder& fbb, std::string_view kernel_id,
                                                     std::span<const std::byte> payload, const send_options& opts);
  result<attachment> attach(std::string_view kernel_id, const attach_options& opts, deadline dl);

  // Connected, or reconnected as options.reconnect allows before `dl`; else
  // the error that broke the connection.
  result<void> ready(deadline dl);
  result<void> reconnect_once();
  void tell(const connection_event& e) const {
    if (options.reconnect.on_event) options.reconnect.on_event(e);
  }

  std::shared_ptr<detail::session> session;  // replaced by a reconnection
  std::string path;                          // empty: adopted, cannot reconnect
  // The user the first pdcd ran as: a reconnection accepts no other, so a
  // process that binds the path after pdcd died cannot pose as it.
  std::optional<unsigned> pdcd_uid;
  connect_options options;
  std::uint64_t session_id = 0;
  std::uint64_t sessions = 1;
  std::string daemon_version;
  std::uint32_t max_message_bytes = k_default_max_message_bytes;
  std::int64_t call_timeout_ns = -1;
  std::size_t delivery_limit = k_default_delivery_limit;
  std::vector<std::string> subscriptions;  // renewed on reconnection

  // While disconnected.
  bool told_disconnected = false;
  std::uint32_t attempts = 0;
  std::int64_t backoff_ns = 0;
  std::uint64_t next_attempt_ns = 0;
  std::optional<error> last_attempt_error;
};

result<void> client::impl::hello() {
  flatbuffers::FlatBufferBuilder fbb(128);
  const auto body = wire::CreateHello(fbb, make_string(fbb, options.client_name), k_protocol_version);
  const std::uint64_t id = session->next_request_id();
  fbb.Finish(wire::CreateRequest(fbb, id, wire::RequestBody::Hello, body.Union()));
  auto r = session->call(std::span(fbb.GetBufferPointer(), fbb.GetSize()), id, deadline::after_ns(k_hello_timeout_ns));
  if (!r) {
    if (r.code() == errc::timeout) return make_error(errc::timeout, "pdcd did not answer hello within 10 s");
    return std::move(r).err();
  }
  const auto* reply = r->get().body_as_HelloReply();
  if (reply == nullptr) return protocol_error<void>("HelloReply");
  if (reply->protocol_version() != k_protocol_version) {
    return make_error(errc::version_mismatch, "pdcd speaks protocol version " +
                                                  std::to_string(reply->protocol_version()) + ", libpdc speaks " +
                                                  std::to_string(k_protocol_version));
  }
  session_id = reply->session_id();
  daemon_version = reply->daemon_version() != nullptr ? reply->daemon_version()->str() : std::string();
  if (reply->max_message_bytes() != 0) max_message_bytes = reply->max_message_bytes();
  session->set_max_message_bytes(max_message_bytes);
  session->set_delivery_limit(delivery_limit);
  return ok();
}

namespace {
void sleep_until_ns(std::uint64_t at_ns) {
  const std::uint64_t now = now_ns();
  if (at_ns <= now) return;
  const std::uint64_t d = at_ns - now;
  timespec ts{static_cast<time_t>(d / 1'000'000'000), static_cast<long>(d % 1'000'000'000)};
  (void)::nanosleep(&ts, nullptr);
}
}  // namespace

result<void> client::impl::ready(deadline dl) {
  if (session->healthy()) return ok();
  const error broken = *session->broken();
  if (!options.reconnect.enabled || path.empty()) return broken;
  if (!told_disconnected) {
    told_disconnected = true;
    attempts = 0;
    backoff_ns = 0;
    next_attempt_ns = 0;
    last_attempt_error.reset();
    connection_event e;
    e.change = connection_change::disconnected;
    e.reason = broken;
    tell(e);
  }
  for (;;) {
    if (now_ns() >= next_attempt_ns) {
      ++attempts;
      auto up = reconnect_once();
      if (up) return ok();
      last_attempt_error = std::move(up).err();
      const auto& r = options.reconnect;
      backoff_ns = backoff_ns == 0 ? std::max<std::int64_t>(r.initial_backoff_ns, 1)
                                   : std::min(backoff_ns * 2, std::max(r.max_backoff_ns, r.initial_backoff_ns));
      next_attempt_ns = now_ns() + static_cast<std::uint64_t>(backoff_ns);
    }
    if (!options.reconnect.wait || dl.expired()) {
      std::string text = broken.what() + "; reconnecting to " + path + " (attempt " + std::to_string(attempts);
      if (last_attempt_error) text += ": " + last_attempt_error->what();
      return make_error(broken.code, text + ")");
    }
    sleep_until_ns(std::min<std::uint64_t>(next_attempt_ns, dl.at_ns()));
  }
}

// One attempt: a new connection, Hello, the subscriptions again. Deliveries
// the old session had buffered stay first in line.
result<void> client::impl::reconnect_once() {
  auto fd = detail::connect_seqpacket(path);
  if (!fd) return std::move(fd).err();
  if (pdcd_uid) {
    auto uid = detail::peer_uid(*fd);
    if (!uid || *uid != *pdcd_uid) {
      ::close(*fd);
      if (!uid) return std::move(uid).err();
      return make_error(errc::permission_denied, "the process now listening at " + path + " runs as uid " +
                                                     std::to_string(*uid) + ", not uid " + std::to_string(*pdcd_uid) +
                                                     " of the pdcd this client connected to; not reconnecting to it");
    }
  }
  auto old = std::exchange(session, std::make_shared<detail::session>(*fd));
  auto said = hello();
  if (!said) {
    session = std::move(old);  // still broken, with the reason the caller reports
    return said;
  }
  session->carry_over(*old);
  connection_event e;
  e.change = connection_change::reconnected;
  e.attempts = attempts;
  std::vector<std::string> kept;
  for (const auto& k : subscriptions) {
    auto r = call_now<wire::RequestBody::Subscribe>(
        [&](auto& fbb) { return wire::CreateSubscribe(fbb, make_string(fbb, k)); },
        deadline::after_ns(k_hello_timeout_ns));
    if (r) {
      kept.push_back(k);
    } else if (!session->healthy()) {
      return std::move(r).err();  // gone again: the next attempt renews them all
    } else {
      e.lost_subscriptions.push_back(k);
    }
  }
  subscriptions = std::move(kept);
  ++sessions;
  told_disconnected = false;
  tell(e);
  return ok();
}

result<std::uint64_t> client::impl::check_payload(std::span<const std::byte> payload) const {
  if (payload.size() > max_message_bytes) {
    return make_error(errc::message_too_large, "payload of " + std::to_string(payload.size()) +
                                                   " bytes exceeds the daemon's limit of " +
                                                   std::to_string(max_message_bytes) + " bytes; nothing was sent");
  }
  return payload.size();
}

std::pair<std::uint64_t, std::uint64_t> client::impl::build_send(flatbuffers::FlatBufferBuilder& fbb,
                                                                 std::string_view kernel_id,
                                                                 std::span<const std::byte> payload,
                                                                 const send_options& opts) {
  const std::uint64_t message_id = session->next_message_id();
  const envelope env = make_envelope(message_id, static_cast<std::uint32_t>(payload.size()), now_ns(), 0, 0,
                                     opts.type_id, opts.no_reply ? k_envelope_flag_no_reply : 0, opts.priority);
  std::uint8_t* dst = nullptr;
  const auto message = fbb.CreateUninitializedVector<std::uint8_t>(sizeof env + payload.size(), &dst);
  std::memcpy(dst, &env, sizeof env);
  if (!payload.empty()) std::memcpy(dst + sizeof env, payload.data(), payload.size());
  const auto body = wire::CreateSend(fbb, make_string(fbb, kernel_id), message, opts.ack);
  const std::uint64_t request_id = session->next_request_id();
  fbb.Finish(wire::CreateRequest(fbb, request_id, wire::RequestBody::Send, body.Union()));
  return {request_id, message_id};
}

// ---- construction ------------------------------------------------------------

client::client(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}
client::client(client&& other) noexcept = default;
client& client::operator=(client&& other) noexcept = default;
client::~client() = default;

result<client> client::connect(std::string_view socket_path, std::string_view client_name) {
  connect_options o;
  o.client_name = std::string(client_name);
  return connect(socket_path, o);
}

result<client> client::connect(std::string_view socket_path, const connect_options& options) {
  const std::string path = resolve_client_socket_path(socket_path);
  auto fd = detail::connect_seqpacket(path);
  if (!fd) return std::move(fd).err();
  auto uid = detail::peer_uid(*fd);
  auto p = std::make_shared<impl>(*fd, path, options);
  if (uid) p->pdcd_uid = *uid;
  auto said = p->hello();
  if (!said) {
    auto e = std::move(said).err();
    e.message = "pdcd at " + path + ": " + e.what();
    return e;
  }
  return client(std::move(p));
}

result<client> client::adopt(int fd, std::string_view client_name) {
  if (fd < 0) return make_error(errc::invalid_argument, "adopt: invalid file descriptor");
  connect_options o;
  o.client_name = std::string(client_name);
  std::shared_ptr<impl> p;
  try {
    p = std::make_shared<impl>(fd, std::string(), std::move(o));
  } catch (...) {
    ::close(fd);
    throw;
  }
  auto said = p->hello();
  if (!said) return std::move(said).err();
  return client(std::move(p));
}

// ---- session -------------------------------------------------------------------

std::uint64_t client::session_id() const noexcept {
  return impl_ ? impl_->session_id : 0;
}

const std::string& client::daemon_version() const noexcept {
  static const std::string none;
  return impl_ ? impl_->daemon_version : none;
}

std::uint32_t client::max_message_bytes() const noexcept {
  return impl_ ? impl_->max_message_bytes : 0;
}
bool client::connected() const noexcept {
  return impl_ && impl_->session->healthy();
}
bool client::daemon_stopping() const noexcept {
  return impl_ && impl_->session->stopping();
}
std::uint64_t client::sessions() const noexcept {
  return impl_ ? impl_->sessions : 0;
}

void client::set_call_timeout_ns(std::int64_t timeout_ns) noexcept {
  if (impl_) impl_->call_timeout_ns = timeout_ns;
}

// ---- plugins -----------------------------------------------------------------

result<plugin_info> client::plugin_load(std::string_view path) {
  if (!impl_) return moved_from_error();
  auto r = impl_->call<wire::RequestBody::PluginLoad>(
      [&](auto& fbb) { return wire::CreatePluginLoad(fbb, make_string(fbb, path)); });
  if (!r) return std::move(r).err();
  const auto* reply = r->get().body_as_PluginLoadReply();
  if (reply == nullptr || reply->plugin() == nullptr) return protocol_error<plugin_info>("PluginLoadReply");
  return detail::to_plugin_info(*reply->plugin());
}

result<void> client::plugin_unload(std::string_view name) {
  if (!impl_) return moved_from_error();
  auto r = impl_->call<wire::RequestBody::PluginUnload>(
      [&](auto& fbb) { return wire::CreatePluginUnload(fbb, make_string(fbb, name)); });
  if (!r) return std::move(r).err();
  return ok();
}

result<std::vector<plugin_info>> client::plugin_list() {
  if (!impl_) return moved_from_error();
  auto r = impl_->call<wire::RequestBody::PluginList>([](auto& fbb) { return wire::CreatePluginList(fbb); });
  if (!r) return std::move(r).err();
  const auto* reply = r->get().body_as_PluginListReply();
  if (reply == nullptr) return protocol_error<std::vector<plugin_info>>("PluginListReply");
  std::vector<plugin_info> out;
  if (const auto* plugins = reply->plugins()) {
    for (const auto* p : *plugins) {
      if (p != nullptr) out.push_back(detail::to_plugin_info(*p));
    }
  }
  return out;
}

// ---- kernel lifecycle ------------------------------------------------------------

result<void> client::launch(const launch_options& o) {
  if (!impl_) return moved_from_error();
  if (o.kernel_type.empty() || o.kernel_id.empty()) {
    return make_error(errc::invalid_argument, "launch needs a kernel type and a kernel id");
  }
  auto r = impl_->call<wire::RequestBody::Launch>([&](auto& fbb) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> entries;
    for (const auto& e : o.access) entries.push_back(make_string(fbb, e));
    const auto access = fbb.CreateVector(entries);
    return wire::CreateLaunch(fbb, make_string(fbb, o.kernel_type), make_string(fbb, o.kernel_id), to_wire(o.tier),
                              o.capacity, to_wire(o.backpressure), o.max_message_bytes, o.block_timeout_ms,
                              make_string(fbb, o.config), o.workers, o.cpu, o.idle_spin_us, make_string(fbb, o.pool),
                              o.latency_metrics, access, to_wire(o.isolation), make_string(fbb, o.host_user),
                              o.max_address_space_mb, o.max_cpu_seconds, o.max_open_files, o.seccomp, o.exported,
                              o.at_least_once);
  });
  if (!r) return std::move(r).err();
  return ok();
}

result<void> client::activate(std::string_view kernel_id) {
  if (!impl_) return moved_from_error();
  return impl_->kernel_call<wire::RequestBody::Activate>(
      kernel_id, [](auto& fbb, auto id) { return wire::CreateActivate(fbb, id); });
}

result<void> client::deactivate(std::string_view kernel_id) {
  if (!impl_) return moved_from_error();
  return impl_->kernel_call<wire::RequestBody::Deactivate>(
      kernel_id, [](auto& fbb, auto id) { return wire::CreateDeactivate(fbb, id); });
}

result<void> client::terminate(std::string_view kernel_id, bool drop, std::uint32_t timeout_ms) {
  if (!impl_) return moved_from_error();
  return impl_->kernel_call<wire::RequestBody::Terminate>(
      kernel_id, [&](auto& fbb, auto id) { return wire::CreateTerminate(fbb, id, drop, timeout_ms); });
}

result<void> client::subscribe(std::string_view kernel_id) {
  if (!impl_) return moved_from_error();
  auto r = impl_->kernel_call<wire::RequestBody::Subscribe>(
      kernel_id, [](auto& fbb, auto id) { return wire::CreateSubscribe(fbb, id); });
  auto& subs = impl_->subscriptions;
  if (r && std::find(subs.begin(), subs.end(), kernel_id) == subs.end()) subs.emplace_back(kernel_id);
  return r;
}

result<void> client::unsubscribe(std::string_view kernel_id) {
  if (!impl_) return moved_from_error();
  auto& subs = impl_->subscriptions;
  subs.erase(std::remove(subs.begin(), subs.end(), kernel_id), subs.end());
  return impl_->kernel_call<wire::RequestBody::Unsubscribe>(
      kernel_id, [](auto& fbb, auto id) { return wire::CreateUnsubscribe(fbb, id); });
}

result<void> client::connect_kernels(std::string_view from_kernel, std::string_view to_kernel) {
  if (!impl_) return moved_from_error();
  auto r = impl_->call<wire::RequestBody::Connect>([&](auto& fbb) {
    const auto from = make_string(fbb, from_kernel);
    const auto to = make_string(fbb, to_kernel);
    return wire::CreateConnect(fbb, from, to);
  });
  if (!r) return std::move(r).err();
  return ok();
}

result<void> client::disconnect_kernels(std::string_view from_kernel, std::string_view to_kernel) {
  if (!impl_) return moved_from_error();
  auto r = impl_->call<wire::RequestBody::Disconnect>([&](auto& fbb) {
    const auto from = make_string(fbb, from_kernel);
    const auto to = make_string(fbb, to_kernel);
    return wire::CreateDisconnect(fbb, from, to);
  });
  if (!r) return std::move(r).err();
  return ok();
}

result<std::vector<pool_info>> client::pools() {
  if (!impl_) return moved_from_error();
  auto r = impl_->call<wire::RequestBody::PoolList>([](auto& fbb) { return wire::CreatePoolList(fbb); });
  if (!r) return std::move(r).err();
  const auto* reply = r->get().body_as_PoolListReply();
  if (reply == nullptr) return protocol_error<std::vector<pool_info>>("PoolListReply");
  std::vector<pool_info> out;
  if (const auto* pools = reply->pools()) {
    for (const auto* p : *pools) {
      if (p != nullptr) out.push_back(detail::to_pool_info(*p));
    }
  }
  return out;
}

result<std::vector<kernel_info>> client::list() {
  if (!impl_) return moved_from_error();
  std::vector<kernel_info> out;
  // Page by page (docs/protocol.md, "Pages"), each after the last id seen.
  for (std::string after;;) {
    auto r =
        impl_->call<wire::RequestBody::List>([&](auto& fbb) { return wire::CreateList(fbb, make_string(fbb, after)); });
    if (!r) return std::move(r).err();
    const auto* reply = r->get().body_as_KernelListReply();
    if (reply == nullptr) return protocol_error<std::vector<kernel_info>>("KernelListReply");
    auto page = detail::to_kernel_infos(reply->kernels());
    if (!page) return std::move(page).err();
    std::move(page->begin(), page->end(), std::back_inserter(out));
    if (!reply->more() || page->empty()) return out;
    after = out.back().kernel_id;
  }
}

result<kernel_info> client::status(std::string_view kernel_id) {
  if (!impl_) return moved_from_error();
  if (kernel_id.empty()) return make_error(errc::invalid_argument, "status needs a kernel id (list() gives all)");
  auto r = impl_->call<wire::RequestBody::Status>(
      [&](auto& fbb) { return wire::CreateStatus(fbb, make_string(fbb, kernel_id)); });
  if (!r) return std::move(r).err();
  const auto* reply = r->get().body_as_KernelListReply();
  if (reply == nullptr) return protocol_error<kernel_info>("KernelListReply");
  auto infos = detail::to_kernel_infos(reply->kernels());
  if (!infos) return std::move(infos).err();
  for (auto& k : *infos) {
    if (k.kernel_id == kernel_id) return std::move(k);
  }
  return make_error(errc::not_found, "no kernel '" + std::string(kernel_id) + "'");
}

result<metrics_report> client::metrics(std::string_view kernel_id, metrics_format format) {
  if (!impl_) return moved_from_error();
  metrics_report out;
  // Page by page: structured after the last id seen, text from the bytes read so far.
  for (std::string after;;) {
    auto r = impl_->call<wire::RequestBody::Metrics>([&](auto& fbb) {
      return wire::CreateMetrics(fbb, make_string(fbb, kernel_id), static_cast<wire::MetricsFormat>(format),
                                 make_string(fbb, after), out.text.size());
    });
    if (!r) return std::move(r).err();
    const auto* reply = r->get().body_as_MetricsReply();
    if (reply == nullptr) return protocol_error<metrics_report>("MetricsReply");
    auto infos = detail::to_kernel_infos(reply->kernels());
    if (!infos) return std::move(infos).err();
    std::move(infos->begin(), infos->end(), std::back_inserter(out.kernels));
    const std::size_t text_before = out.text.size();
    if (reply->text() != nullptr) out.text += reply->text()->string_view();
    if (!reply->more()) return out;
    if (format == metrics_format::prometheus) {
      if (out.text.size() == text_before) return protocol_error<metrics_report>("MetricsReply page with text");
    } else {
      if (infos->empty()) return protocol_error<metrics_report>("MetricsReply page with kernels");
      after = out.kernels.back().kernel_id;
    }
  }
}

// ---- messages ------------------------------------------------------------------

result<std::uint64_t> client::send(std::string_view kernel_id, std::span<const std::byte> payload,
                                   const send_options& opts) {
  if (!impl_) return moved_from_error();
  if (auto checked = impl_->check_payload(payload); !checked) return checked;
  const auto dl = deadline::after_ns(impl_->call_timeout_ns);
  for (bool again = false;; again = true) {
    if (auto up = impl_->ready(dl); !up) return std::move(up).err();
    flatbuffers::FlatBufferBuilder fbb(payload.size() + 256);
    const auto [request_id, message_id] = impl_->build_send(fbb, kernel_id, payload, opts);
    const auto packet = std::span(fbb.GetBufferPointer(), fbb.GetSize());
    result<void> sent = ok();
    if (opts.ack) {
      auto answered = impl_->session->call(packet, request_id, dl);
      if (!answered) sent = std::move(answered).err();
    } else {
      sent = impl_->session->post_unacked(packet, request_id, message_id, dl);
    }
    if (sent) return message_id;
    if (again || !impl_->resend_after_refusal()) return std::move(sent).err();
  }
}

result<received_message> client::receive(std::int64_t timeout_ns) {
  if (!impl_) return moved_from_error();
  const auto dl = deadline::after_ns(timeout_ns);
  for (;;) {
    // What arrived before the connection broke is read first.
    if (impl_->session->buffered() == 0) {
      if (auto up = impl_->ready(dl); !up) return std::move(up).err();
    }
    auto r = impl_->session->next_delivery(dl);
    if (r.code() == errc::timeout) return make_error(errc::timeout, "no message within " + ms_text(timeout_ns));
    // Waiting for deliveries is safe to resume on a new session: nothing was sent.
    if (!r && !impl_->session->healthy() && impl_->options.reconnect.enabled && impl_->options.reconnect.wait &&
        !dl.expired()) {
      continue;
    }
    return r;
  }
}

result<received_message> client::request(std::string_view kernel_id, std::span<const std::byte> payload,
                                         std::int64_t timeout_ns, const send_options& opts) {
  if (!impl_) return moved_from_error();
  if (auto checked = impl_->check_payload(payload); !checked) return std::move(checked).err();
  const auto dl = deadline::after_ns(timeout_ns);
  result<received_message> r = make_error(errc::internal, "request not sent");
  for (bool again = false;; again = true) {
    if (auto up = impl_->ready(dl); !up) return std::move(up).err();
    flatbuffers::FlatBufferBuilder fbb(payload.size() + 256);
    const auto [request_id, message_id] = impl_->build_send(fbb, kernel_id, payload, opts);
    r = impl_->session->request(std::span(fbb.GetBufferPointer(), fbb.GetSize()), request_id, message_id, opts.ack, dl);
    if (r || again || !impl_->resend_after_refusal()) break;
  }
  if (!r) {
    if (r.code() == errc::timeout) {
      return make_error(errc::timeout,
                        "no reply from kernel '" + std::string(kernel_id) + "' within " + ms_text(timeout_ns));
    }
    return r;
  }
  if (r->is_error()) return detail::error_of_reply(r->payload, kernel_id);
  return r;
}

std::optional<send_failure> client::take_send_failure() {
  return impl_ ? impl_->session->take_send_failure() : std::nullopt;
}

std::size_t client::buffered_deliveries() const noexcept {
  return impl_ ? impl_->session->buffered() : 0;
}
std::uint64_t client::dropped_deliveries() const noexcept {
  return impl_ ? impl_->session->dropped() : 0;
}

void client::set_delivery_limit(std::size_t messages) noexcept {
  if (!impl_) return;
  impl_->delivery_limit = std::max<std::size_t>(messages, 1);
  impl_->session->set_delivery_limit(messages);
}

// ---- shared memory ---------------------------------------------------------------

result<attachment> client::attach(std::string_view kernel_id, const attach_options& options) {
  if (!impl_) return moved_from_error();
  return impl_->attach(kernel_id, options, deadline::after_ns(impl_->call_timeout_ns));
}

result<attachment> client::impl::attach(std::string_view kernel_id, const attach_options& opts, deadline dl) {
  if (kernel_id.empty()) return make_error(errc::invalid_argument, "attach needs a kernel id");
  if (auto up = ready(dl); !up) return std::move(up).err();
  auto r = call_now<wire::RequestBody::Attach>(
      [&](auto& fbb) {
        return wire::CreateAttach(fbb, make_string(fbb, kernel_id), opts.request_ring_bytes, opts.reply_ring_bytes);
      },
      dl);
  if (!r) return std::move(r).err();
  const auto* reply = r->get().body_as_AttachReply();
  if (reply == nullptr) return protocol_error<attachment>("AttachReply");
  auto fds = r->take_fds();
  const std::uint64_t id = reply->attachment_id();
  // From here on the daemon holds an attachment for us: let it go on failure.
  const auto refuse = [&](error e) -> result<attachment> {
    (void)detail::send_detach(*session, id);
    return e;
  };
  if (fds.size() != 2 && fds.size() != 3) {
    return refuse(make_error(errc::protocol_error, "pdcd's AttachReply carried " + std::to_string(fds.size()) +
                                                       " file descriptors instead of 3 (segment, doorbell, wake-up "
                                                       "socket)"));
  }
  detail::unique_fd probe(::fcntl(session->fd(), F_DUPFD_CLOEXEC, 0));
  if (!probe.valid()) {
    return refuse(make_error(errc::system_error, "cannot duplicate the session socket: " + detail::errno_text(errno)));
  }
  detail::attach_parts parts;
  parts.attachment_id = id;
  parts.segment_bytes = reply->segment_bytes();
  parts.max_message_bytes = reply->max_message_bytes();
  auto policy = from_wire(reply->backpressure());
  if (!policy) return refuse(make_error(errc::protocol_error, "pdcd's AttachReply: " + policy.err().what()));
  parts.kernel_policy = *policy;
  if (reply->block_timeout_ms() != 0) parts.block_timeout_ms = reply->block_timeout_ms();
  parts.kernel_id = std::string(kernel_id);
  parts.segment_fd = std::move(fds[0]);
  parts.doorbell_fd = std::move(fds[1]);
  if (fds.size() == 3) parts.wake_socket = std::move(fds[2]);
  parts.hangup_probe = std::move(probe);
  parts.link = session;  // this session only: after a reconnection, a Detach goes nowhere
  parts.options = opts;
  if (opts.reattach) {
    // The attachment attaches again through this client (weakly: it may go first).
    parts.reattach = [owner = weak_from_this(), kid = std::string(kernel_id),
                      opts](deadline until) -> result<attachment> {
      auto p = owner.lock();
      if (!p) return make_error(errc::peer_gone, "the client of the attachment to kernel '" + kid + "' is gone");
      auto again = p->attach(kid, opts, until);
      // The client may not have noticed yet that pdcd went away: once more.
      if (!again && !p->session->healthy()) again = p->attach(kid, opts, until);
      return again;
    };
  }
  auto opened = detail::open_attachment(std::move(parts));
  if (!opened) return refuse(std::move(opened).err());
  return opened;
}

result<void> detail::send_detach(session& s, std::uint64_t attachment_id) {
  flatbuffers::FlatBufferBuilder fbb(64);
  const auto body = wire::CreateDetach(fbb, attachment_id);
  const std::uint64_t request_id = s.next_request_id();
  fbb.Finish(wire::CreateRequest(fbb, request_id, wire::RequestBody::Detach, body.Union()));
  auto r =
      s.call(std::span(fbb.GetBufferPointer(), fbb.GetSize()), request_id, deadline::after_ns(k_detach_timeout_ns));
  if (!r && r.code() != errc::not_found) return std::move(r).err();
  return ok();
}

}  // namespace pdc
