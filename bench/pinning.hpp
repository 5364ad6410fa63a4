// CPU pinning for benchmarks (--pin): the client side on one CPU, the server
// side (kernel, echo child, subscriber) on another, so the VM's scheduler
// cannot put both on one core or move them mid-run.
#pragma once

namespace pdc::bench {

/// Chooses the CPUs (both -1: no pinning). Call before any measurement.
void set_pinning(int client_cpu, int server_cpu) noexcept;
/// The CPU of the server side (-1 when not pinning).
int server_cpu() noexcept;
/// Pins the calling thread's process to the client's / server's CPU (no-op when not pinning).
void pin_client_side() noexcept;
void pin_server_side() noexcept;

}  // namespace pdc::bench
