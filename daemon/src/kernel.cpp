#include "kernel.hpp"

#include <cstring>

#include "pdc/core/clock.hpp"

namespace pdc::daemon {

kernel::kernel(launch_request params, kernel_type_ref type, kernel_host& host)
    : params_(std::move(params)), type_(std::move(type)), host_(host), queue_(params_.capacity) {}

kernel::~kernel() {
  if (exec_) exec_->stop();
  if (created_ && type_->type.destroy != nullptr) type_->type.destroy(plugin_state_);
}

std::uint64_t kernel::uptime_ns() const noexcept {
  return started_ns_ == 0 ? 0 : now_ns() - started_ns_;
}

result<void> kernel::launch(std::unique_ptr<executor> exec) {
  auto next = transition(id(), state_, kernel_op::launch);
  if (!next) return std::move(next).err();
  if (type_->type.create != nullptr) {
    metrics_.last_error.clear();
    int rc = PDC_E_PLUGIN;
    try {
      rc = type_->type.create(ctx(), params_.config.c_str(), &plugin_state_);
    } catch (...) {
      rc = PDC_E_PLUGIN;  // a C++ plugin that let an exception escape
    }
    if (rc != PDC_OK) {
      std::string why = "create() of kernel type '" + type_->name + "' failed for kernel '" + id() + "' (" +
                        std::string(to_string(errc_from_int(-rc))) + ")";
      if (!metrics_.last_error.empty()) why += ": " + metrics_.last_error;
      return make_error(errc::plugin_error, why);
    }
  }
  created_ = true;
  exec_ = std::move(exec);
  started_ns_ = now_ns();
  state_ = *next;
  return ok();
}

result<void> kernel::activate() {
  auto next = transition(id(), state_, kernel_op::activate);
  if (!next) return std::move(next).err();
  state_ = *next;
  if (exec_) exec_->notify();
  return ok();
}

result<void> kernel::deactivate() {
  auto next = transition(id(), state_, kernel_op::deactivate);
  if (!next) return std::move(next).err();
  state_ = *next;
  return ok();
}

result<void> kernel::terminate(bool drop, std::uint64_t timeout_ns) {
  auto next = transition(id(), state_, kernel_op::terminate);
  if (!next) return std::move(next).err();
  state_ = *next;  // TERMINATING: offer() refuses from here on
  if (exec_) exec_->stop();
  const auto until = deadline::after_ns(static_cast<std::int64_t>(timeout_ns));
  if (!drop) {
    while (!queue_.empty() && !until.expired()) process(64);
  }
  std::uint64_t dropped = 0;
  while (auto m = queue_.pop()) {
    fail_waiting_sender(*m, errc::terminated, "kernel '" + id() + "' terminated before processing the message");
    ++dropped;
  }
  metrics_.dropped += dropped;
  if (dropped != 0) {
    host_.log(id(), PDC_LOG_WARN, std::to_string(dropped) + " queued messages dropped at terminate");
  }
  if (created_ && type_->type.destroy != nullptr) type_->type.destroy(plugin_state_);
  created_ = false;
  plugin_state_ = nullptr;
  state_ = kernel_state::terminated;
  notify_space();  // blocked senders learn the kernel is gone
  return ok();
}

offer_result kernel::offer(queued_message& m) {
  if (state_ == kernel_state::terminating || state_ == kernel_state::terminated) return offer_result::terminated;
  if (queue_.full()) {
    switch (params_.policy) {
      case backpressure::block:
        return offer_result::wait;
      case backpressure::reject:
        ++metrics_.rejected;
        return offer_result::rejected;
      case backpressure::drop_newest:
        ++metrics_.dropped;
        return offer_result::dropped_newest;
      case backpressure::drop_oldest:
        if (auto old = queue_.pop_oldest_lowest()) {
          ++metrics_.dropped;
          fail_waiting_sender(*old, errc::dropped,
                              "message dropped by kernel '" + id() + "' (drop_oldest: queue full)");
        }
        break;
    }
  }
  m.enqueued_ns = now_ns();
  queue_.push(std::move(m));
  ++metrics_.messages_in;
  if (exec_ && state_ == kernel_state::active) exec_->notify();
  return offer_result::accepted;
}

std::size_t kernel::process(std::size_t max) {
  std::size_t n = 0;
  while (n < max && runnable()) {
    auto m = queue_.pop();
    run_one(*m);
    ++n;
  }
  if (n != 0) notify_space();
  return n;
}

void kernel::run_one(queued_message& m) {
  const auto start = now_ns();
  metrics_.queue_wait.record(start - m.enqueued_ns);
  pdc_message msg{};
  msg.payload = m.payload.data();
  msg.payload_len = static_cast<std::uint32_t>(m.payload.size());
  msg.type_id = m.env.type_id();
  msg.message_id = m.env.message_id();
  msg.correlation_id = m.env.correlation_id();
  msg.reply_to = m.env.reply_to();
  msg.send_timestamp_ns = m.env.send_timestamp_ns();
  msg.flags = m.env.flags();
  msg.priority = m.env.priority();
  current_ = &m;
  replied_ = false;
  int rc = PDC_E_PLUGIN;
  try {
    rc = type_->type.on_message(plugin_state_, ctx(), &msg);
  } catch (...) {
    rc = PDC_E_PLUGIN;
  }
  current_ = nullptr;
  ++metrics_.processed;
  metrics_.processing.record(now_ns() - start);
  if (rc < 0) {
    ++metrics_.handler_errors;
    std::string why = "handler of kernel '" + id() + "' failed (" + std::string(to_string(errc_from_int(-rc))) + ")";
    if (!metrics_.last_error.empty()) why += ": " + metrics_.last_error;
    metrics_.last_error = why;
    if (!replied_) fail_waiting_sender(m, errc::plugin_error, why);
  }
}

void kernel::fail_waiting_sender(const queued_message& m, errc code, const std::string& why) {
  if (m.env.reply_to() == 0) return;
  const std::string text = std::string(name_of(code)) + ": " + why;
  const auto env = make_output_envelope(static_cast<std::uint32_t>(text.size()), 0, m.env.message_id(),
                                        m.env.reply_to(), k_envelope_flag_reply | k_envelope_flag_error);
  host_.deliver(m.env.reply_to(), id(), env, std::as_bytes(std::span(text)));
}

void kernel::notify_space() {
  if (space_waiters_.empty()) return;
  auto waiters = std::move(space_waiters_);
  space_waiters_.clear();
  for (auto& w : waiters) w();
}

envelope kernel::make_output_envelope(std::uint32_t len, std::uint32_t type_id, std::uint64_t correlation_id,
                                      std::uint64_t reply_to, std::uint16_t flags) {
  return make_envelope(next_message_id_++, len, now_ns(), correlation_id, reply_to, type_id, flags);
}

int kernel::host_reply(const pdc_message* request, const void* data, std::uint32_t len, std::uint32_t type_id) {
  if (request == nullptr || (data == nullptr && len != 0)) return PDC_E_INVALID_ARGUMENT;
  if (len > params_.max_message_bytes) return PDC_E_MESSAGE_TOO_LARGE;
  if (current_ != nullptr && request->message_id == current_->env.message_id()) replied_ = true;
  if (request->reply_to == 0) return host_emit(data, len, type_id);  // nobody asked: it is an output
  const auto env = make_output_envelope(len, type_id, request->message_id, request->reply_to, k_envelope_flag_reply);
  const errc rc = host_.deliver(request->reply_to, id(), env, {static_cast<const std::byte*>(data), len});
  if (rc != errc::ok) {
    ++metrics_.dropped;
    return -static_cast<int>(rc);
  }
  ++metrics_.messages_out;
  return PDC_OK;
}

int kernel::host_emit(const void* data, std::uint32_t len, std::uint32_t type_id) {
  if (data == nullptr && len != 0) return PDC_E_INVALID_ARGUMENT;
  if (len > params_.max_message_bytes) return PDC_E_MESSAGE_TOO_LARGE;
  const auto env = make_output_envelope(len, type_id, 0, 0, 0);
  for (const auto session : subscribers_) {
    if (host_.deliver(session, id(), env, {static_cast<const std::byte*>(data), len}) == errc::ok) {
      ++metrics_.messages_out;
    } else {
      ++metrics_.dropped;
    }
  }
  return PDC_OK;
}

int kernel::host_send_to(const char* target, const void* data, std::uint32_t len, std::uint32_t type_id) {
  if (target == nullptr || (data == nullptr && len != 0)) return PDC_E_INVALID_ARGUMENT;
  const auto env = make_output_envelope(len, type_id, 0, 0, 0);
  const errc rc = host_.route(id(), target, env, {static_cast<const std::byte*>(data), len});
  if (rc == errc::ok) ++metrics_.messages_out;
  return -static_cast<int>(rc);
}

void kernel::host_log(int level, const char* text) {
  if (text == nullptr) return;
  if (level >= PDC_LOG_ERROR) metrics_.last_error = text;
  host_.log(id(), level, text);
}

// ---- the C table ------------------------------------------------------------

namespace {

int api_reply(pdc_kernel_ctx* ctx, const pdc_message* request, const void* data, std::uint32_t len,
              std::uint32_t type_id) {
  return ctx == nullptr ? PDC_E_INVALID_ARGUMENT : kernel::from_ctx(ctx)->host_reply(request, data, len, type_id);
}
int api_emit(pdc_kernel_ctx* ctx, const void* data, std::uint32_t len, std::uint32_t type_id) {
  return ctx == nullptr ? PDC_E_INVALID_ARGUMENT : kernel::from_ctx(ctx)->host_emit(data, len, type_id);
}
int api_send_to(pdc_kernel_ctx* ctx, const char* target, const void* data, std::uint32_t len, std::uint32_t type_id) {
  return ctx == nullptr ? PDC_E_INVALID_ARGUMENT : kernel::from_ctx(ctx)->host_send_to(target, data, len, type_id);
}
void api_log(pdc_kernel_ctx* ctx, int level, const char* message) {
  if (ctx != nullptr) kernel::from_ctx(ctx)->host_log(level, message);
}
std::uint64_t api_now_ns() {
  return now_ns();
}
const char* api_kernel_id(pdc_kernel_ctx* ctx) {
  return ctx == nullptr ? "" : kernel::from_ctx(ctx)->id().c_str();
}
int api_receive(pdc_kernel_ctx*, pdc_message*, std::int64_t) {
  return PDC_E_NOT_SUPPORTED;  // loop style runs on tiers 2/3 only
}
int api_should_terminate(pdc_kernel_ctx* ctx) {
  if (ctx == nullptr) return 1;
  const auto s = kernel::from_ctx(ctx)->state();
  return s == kernel_state::terminating || s == kernel_state::terminated ? 1 : 0;
}
int api_is_active(pdc_kernel_ctx* ctx) {
  return ctx != nullptr && kernel::from_ctx(ctx)->state() == kernel_state::active ? 1 : 0;
}

const pdc_host_api k_host_api{
    sizeof(pdc_host_api),
    PDC_PLUGIN_ABI_MINOR,
    api_reply,
    api_emit,
    api_send_to,
    api_log,
    api_now_ns,
    api_kernel_id,
    api_receive,
    api_should_terminate,
    api_is_active,
};

}  // namespace

const pdc_host_api* host_api_table() noexcept {
  return &k_host_api;
}

}  // namespace pdc::daemon
