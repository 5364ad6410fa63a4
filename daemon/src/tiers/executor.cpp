#include "tiers/executor.hpp"

namespace pdc::daemon {

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
