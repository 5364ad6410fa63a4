// Eclipse iceoryx rows of pdc-bench tiers (bench/iceoryx_bench.cpp): built
// when Debian's libiceoryx-posh-dev is installed, run when iox-roudi is.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "pdc/core/histogram.hpp"

namespace pdc::bench {

/// RouDi, iceoryx's broker, for the duration of a run.
class roudi_process {
 public:
  roudi_process();
  ~roudi_process();
  roudi_process(const roudi_process&) = delete;
  roudi_process& operator=(const roudi_process&) = delete;
  /// Empty when RouDi runs; otherwise why the iceoryx rows are skipped.
  [[nodiscard]] const std::string& why_not() const { return why_not_; }

 private:
  pid_t pid_ = -1;
  std::string why_not_;
};

/// 64-byte request/response round trips between two processes (Client/Server
/// API), busy-polling or sleeping in a WaitSet.
histogram iceoryx_round_trip(std::uint64_t rounds, bool waitset);
/// Lossless one-way publish/subscribe stream of 64-byte samples, msgs/s.
double iceoryx_stream(std::uint64_t count);

}  // namespace pdc::bench
