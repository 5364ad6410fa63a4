#include "tiers/executor.hpp"

#include <cerrno>
#include <cstring>
#include <string>

namespace pdc::daemon {

result<void> executor::adopt(std::shared_ptr<attachment_source> src) {
  if (agent_for(src->id).adopt(std::move(src))) return ok();
  return make_error(errc::system_error,
                    "its worker cannot watch one more descriptor (epoll: " + std::string(std::strerror(errno)) + ")");
}

void executor::collect(kernel_snapshot& s) const {
  s.workers = static_cast<std::uint32_t>(agents_.size());
  for (const auto& a : agents_) {
    const auto& c = a->counters();
    s.messages_in += c.messages_in.get();
    s.messages_out += c.messages_out.get();
    s.processed += c.processed.get();
    s.dropped += c.dropped.get();
    s.dead_letters += c.dead_letters.get();
    s.handler_errors += c.handler_errors.get();
    s.malformed += c.malformed.get();
    if (s.latency_metrics) a->collect_latency(s.queue_wait, s.processing);
  }
}

}  // namespace pdc::daemon
