// Tier 4 (cuda): the tier table's row functions and the shared device.
#include <utility>

#include "runtime/kernel.hpp"
#include "tiers/cuda_device.hpp"
#include "tiers/cuda_executor.hpp"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

result<std::shared_ptr<cuda_device>> cuda_device::shared() {
  // Control thread only (launches), so no lock.
  static std::shared_ptr<cuda_device> device;
  if (device) return device;
  auto backend = open_cuda_driver(0);
  if (!backend) return std::move(backend).err();
  device = std::make_shared<cuda_device>(std::move(backend).value());
  return device;
}

result<std::uint32_t> cuda_agents(const launch_request& req, const kernel_type_entry& type,
                                  const executor_env& /*env*/) {
  const std::string which = "kernel '" + req.kernel_id + "'";
  if (!type.cuda) {
    return make_error(errc::not_supported, which + ": kernel type '" + type.name + "' has no cuda entry");
  }
  if (req.isolation == kernel_isolation::process) {
    return make_error(errc::not_supported, which +
                                               ": the cuda tier does not run kernels in a host process (isolation "
                                               "process); its device loop runs in pdcd's CUDA context");
  }
  if (req.workers > 1) {
    return make_error(errc::invalid_argument,
                      which + ": a cuda-tier kernel's parallelism is its type's grid and block, not --workers");
  }
  auto device = cuda_device::shared();
  if (!device) {
    return make_error(device.err().code, "cannot launch " + which + " on tier cuda: " + device.err().what());
  }
  if (!(*device)->fault().empty()) {
    return make_error(errc::not_supported, "cannot launch " + which + " on tier cuda: " + (*device)->fault());
  }
  return 1U;
}

result<std::unique_ptr<executor>> make_cuda_executor(kernel& k, const launch_request& /*req*/,
                                                     const executor_env& /*env*/, const idle_strategy& /*idle*/) {
  auto device = cuda_device::shared();
  if (!device) return std::move(device).err();
  return std::unique_ptr<executor>(std::make_unique<cuda_executor>(k, std::move(device).value(), *k.type().cuda));
}

}  // namespace pdc::daemon
