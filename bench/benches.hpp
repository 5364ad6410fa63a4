// One function per pdc-bench subcommand; each appends its rows to a report.
#pragma once

#include "report.hpp"

namespace pdc::bench {

/// `ring`: core ring vs a bare SPSC ring (same thread, ping-pong, streaming).
/// `scale` multiplies iteration counts (1.0 = full run).
void run_ring(report& out, double scale);

}  // namespace pdc::bench
