#include "tiers/tier_table.hpp"

namespace pdc::daemon {

namespace {

constexpr tier_row k_rows[] = {
    {kernel_tier::async, "async", wire::Tier::Async, tier_mask_bit(kernel_tier::async),
     idle_strategy::adaptive(500, 20'000), "the daemon's event loop, shared; handlers must not block", &async_agents,
     &make_async_executor},
    {kernel_tier::threaded, "threaded", wire::Tier::Threaded, tier_mask_bit(kernel_tier::threaded),
     idle_strategy::spin_park(5'000), "a dedicated thread; handlers may block", &threaded_agents,
     &make_thread_executor},
    {kernel_tier::spin, "spin", wire::Tier::Spin, tier_mask_bit(kernel_tier::spin), idle_strategy::spin_park(50'000),
     "a busy-polling dedicated thread, optionally pinned", &spin_agents, &make_spin_executor},
    {kernel_tier::pool, "pool", wire::Tier::Pool, tier_mask_bit(kernel_tier::pool), idle_strategy::spin_park(5'000),
     "agents on a pool's threads: a private pool, or a named one shared by kernels", &pool_agents, &make_pool_executor},
#ifdef PDC_HAVE_CUDA
    {kernel_tier::cuda, "cuda", wire::Tier::Cuda, tier_mask_bit(kernel_tier::cuda), idle_strategy::spin_park(0),
     "a persistent GPU kernel serving its attachments' rings in place", &cuda_agents, &make_cuda_executor},
#endif
};

}  // namespace

std::span<const tier_row> tier_rows() noexcept {
  return k_rows;
}

const tier_row* find_tier(kernel_tier t) noexcept {
  for (const auto& row : k_rows) {
    if (row.tier == t) return &row;
  }
  return nullptr;
}

idle_strategy idle_for(const tier_row& row, const launch_request& req) noexcept {
  if (req.idle_spin_us == 0) return row.default_idle;
  idle_strategy s = row.default_idle;
  s.spin_ns = std::uint64_t{req.idle_spin_us} * 1000;
  if (s.mode == idle_strategy::kind::adaptive && s.min_spin_ns > s.spin_ns) s.min_spin_ns = s.spin_ns;
  return s;
}

}  // namespace pdc::daemon
