#include "pdc/client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iterator>
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

struct client::impl {
  explicit impl(int fd) noexcept : session(fd) {}

  // Builds a Request around the body `make(fbb)` returns and waits for its Response.
  template <wire::RequestBody Type, typename MakeBody>
  result<detail::response_packet> call(MakeBody&& make) {
    flatbuffers::FlatBufferBuilder fbb(256);
    const auto body = make(fbb);
    const std::uint64_t id = session.next_request_id();
    fbb.Finish(wire::CreateRequest(fbb, id, Type, body.Union()));
    return session.call(std::span(fbb.GetBufferPointer(), fbb.GetSize()), id, deadline::after_ns(call_timeout_ns));
  }

  // A request about one kernel (Activate, Subscribe, ...) answered by code only.
  template <wire::RequestBody Type, typename Create>
  result<void> kernel_call(std::string_view kernel_id, Create create) {
    auto r = call<Type>([&](auto& fbb) { return create(fbb, make_string(fbb, kernel_id)); });
    if (!r) return std::move(r).err();
    return ok();
  }

  result<void> hello(std::string_view client_name);
  result<std::uint64_t> check_payload(std::span<const std::byte> payload) const;
  // Builds a Send request for `payload`; returns (request id, message id).
  std::pair<std::uint64_t, std::uint64_t> build_send(flatbuffers::FlatBufferBuilder& fbb, std::string_view kernel_id,
                                                     std::span<const std::byte> payload, const send_options& opts);

  detail::session session;
  std::uint64_t session_id = 0;
  std::string daemon_version;
  std::uint32_t max_message_bytes = k_default_max_message_bytes;
  std::int64_t call_timeout_ns = -1;
};

result<void> client::impl::hello(std::string_view client_name) {
  flatbuffers::FlatBufferBuilder fbb(128);
  const auto body = wire::CreateHello(fbb, make_string(fbb, client_name), k_protocol_version);
  const std::uint64_t id = session.next_request_id();
  fbb.Finish(wire::CreateRequest(fbb, id, wire::RequestBody::Hello, body.Union()));
  auto r = session.call(std::span(fbb.GetBufferPointer(), fbb.GetSize()), id, deadline::after_ns(k_hello_timeout_ns));
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
  session.set_max_message_bytes(max_message_bytes);
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
  const std::uint64_t message_id = session.next_message_id();
  const envelope env = make_envelope(message_id, static_cast<std::uint32_t>(payload.size()), now_ns(), 0, 0,
                                     opts.type_id, opts.no_reply ? k_envelope_flag_no_reply : 0, opts.priority);
  std::uint8_t* dst = nullptr;
  const auto message = fbb.CreateUninitializedVector<std::uint8_t>(sizeof env + payload.size(), &dst);
  std::memcpy(dst, &env, sizeof env);
  if (!payload.empty()) std::memcpy(dst + sizeof env, payload.data(), payload.size());
  const auto body = wire::CreateSend(fbb, make_string(fbb, kernel_id), message, opts.ack);
  const std::uint64_t request_id = session.next_request_id();
  fbb.Finish(wire::CreateRequest(fbb, request_id, wire::RequestBody::Send, body.Union()));
  return {request_id, message_id};
}

// ---- construction ------------------------------------------------------------

client::client(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}
client::client(client&& other) noexcept = default;
client& client::operator=(client&& other) noexcept = default;
client::~client() = default;

result<client> client::connect(std::string_view socket_path, std::string_view client_name) {
  const std::string path = resolve_socket_path(socket_path);
  auto fd = detail::connect_seqpacket(path);
  if (!fd) return std::move(fd).err();
  auto c = adopt(*fd, client_name);
  if (!c) {
    auto e = std::move(c).err();
    e.message = "pdcd at " + path + ": " + e.what();
    return e;
  }
  return c;
}

result<client> client::adopt(int fd, std::string_view client_name) {
  if (fd < 0) return make_error(errc::invalid_argument, "adopt: invalid file descriptor");
  std::shared_ptr<impl> p;
  try {
    p = std::make_shared<impl>(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  auto said = p->hello(client_name);
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
  return impl_ && impl_->session.healthy();
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
                              o.max_address_space_mb, o.max_cpu_seconds, o.max_open_files, o.seccomp);
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
  return impl_->kernel_call<wire::RequestBody::Subscribe>(
      kernel_id, [](auto& fbb, auto id) { return wire::CreateSubscribe(fbb, id); });
}

result<void> client::unsubscribe(std::string_view kernel_id) {
  if (!impl_) return moved_from_error();
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
  flatbuffers::FlatBufferBuilder fbb(payload.size() + 256);
  const auto [request_id, message_id] = impl_->build_send(fbb, kernel_id, payload, opts);
  const auto packet = std::span(fbb.GetBufferPointer(), fbb.GetSize());
  const auto dl = deadline::after_ns(impl_->call_timeout_ns);
  if (!opts.ack) {
    auto posted = impl_->session.post_unacked(packet, request_id, message_id, dl);
    if (!posted) return std::move(posted).err();
    return message_id;
  }
  auto r = impl_->session.call(packet, request_id, dl);
  if (!r) return std::move(r).err();
  return message_id;
}

result<received_message> client::receive(std::int64_t timeout_ns) {
  if (!impl_) return moved_from_error();
  auto r = impl_->session.next_delivery(deadline::after_ns(timeout_ns));
  if (r.code() == errc::timeout) return make_error(errc::timeout, "no message within " + ms_text(timeout_ns));
  return r;
}

result<received_message> client::request(std::string_view kernel_id, std::span<const std::byte> payload,
                                         std::int64_t timeout_ns, const send_options& opts) {
  if (!impl_) return moved_from_error();
  if (auto checked = impl_->check_payload(payload); !checked) return std::move(checked).err();
  flatbuffers::FlatBufferBuilder fbb(payload.size() + 256);
  const auto [request_id, message_id] = impl_->build_send(fbb, kernel_id, payload, opts);
  auto r = impl_->session.request(std::span(fbb.GetBufferPointer(), fbb.GetSize()), request_id, message_id, opts.ack,
                                  deadline::after_ns(timeout_ns));
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
  return impl_ ? impl_->session.take_send_failure() : std::nullopt;
}

std::size_t client::buffered_deliveries() const noexcept {
  return impl_ ? impl_->session.buffered() : 0;
}
std::uint64_t client::dropped_deliveries() const noexcept {
  return impl_ ? impl_->session.dropped() : 0;
}

void client::set_delivery_limit(std::size_t messages) noexcept {
  if (impl_) impl_->session.set_delivery_limit(messages);
}

// ---- shared memory ---------------------------------------------------------------

result<attachment> client::attach(std::string_view kernel_id, const attach_options& options) {
  if (!impl_) return moved_from_error();
  if (kernel_id.empty()) return make_error(errc::invalid_argument, "attach needs a kernel id");
  auto r = impl_->call<wire::RequestBody::Attach>([&](auto& fbb) {
    return wire::CreateAttach(fbb, make_string(fbb, kernel_id), options.request_ring_bytes, options.reply_ring_bytes);
  });
  if (!r) return std::move(r).err();
  const auto* reply = r->get().body_as_AttachReply();
  if (reply == nullptr) return protocol_error<attachment>("AttachReply");
  auto fds = r->take_fds();
  const std::uint64_t id = reply->attachment_id();
  // From here on the daemon holds an attachment for us: let it go on failure.
  const auto refuse = [&](error e) -> result<attachment> {
    (void)detail::send_detach(impl_->session, id);
    return e;
  };
  if (fds.size() != 2) {
    return refuse(make_error(errc::protocol_error, "pdcd's AttachReply carried " + std::to_string(fds.size()) +
                                                       " file descriptors instead of 2 (segment, doorbell)"));
  }
  detail::unique_fd probe(::fcntl(impl_->session.fd(), F_DUPFD_CLOEXEC, 0));
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
  parts.hangup_probe = std::move(probe);
  // Aliasing: shares impl_'s ownership, points at its session.
  parts.link = std::shared_ptr<detail::session>(impl_, &impl_->session);
  parts.options = options;
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
