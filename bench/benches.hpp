// One function per pdc-bench subcommand; each appends its rows to a report.
#pragma once

#include <string>

#include "report.hpp"

namespace pdc::bench {

/// `ring`: core ring vs a bare SPSC ring (same thread, ping-pong, streaming).
/// `scale` multiplies iteration counts (1.0 = full run).
void run_ring(report& out, double scale);

/// `socket`: tier-1 round trip and streaming through pdcd's socket path vs a
/// bare Unix-socket ping-pong. Starts its own pdcd (echo kernel) in a child.
void run_socket(report& out, double scale, const std::string& kernels_dir);

}  // namespace pdc::bench
