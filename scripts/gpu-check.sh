#!/usr/bin/env bash
# The checks of pdc's cuda tier that need a GPU (docs/cuda.md, "On a GPU"),
# ready to run unchanged on a machine with an NVIDIA GPU, in under 5 minutes:
# prints the device, builds what it needs with CUDA (unless given a build),
# runs the emulation tests and the device test, and prints the device
# test's table. Record that table, with the device's name, in
# docs/benchmarks.md ("The cuda tier").
#
#   scripts/gpu-check.sh               # configure and build into build-gpu/
#   PDC_GPU_BUILD=build scripts/gpu-check.sh   # use an existing CUDA build
#
# Exit status: 0 when every check passed; 1 when one failed; 77 when this
# machine has no GPU (nothing was measured).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gpu-check: the device =="
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
else
  echo "nvidia-smi not found"
fi

build=${PDC_GPU_BUILD:-}
if [[ -z "$build" ]]; then
  build=build-gpu
  echo "== gpu-check: building (CUDA on) into $build =="
  cmake -S . -B "$build" -G Ninja -Wno-dev -DCMAKE_BUILD_TYPE=Release -DPDC_CUDA=ON >/dev/null
  cmake --build "$build" -j "$(nproc)" --target pdc_cuda_device_test pdc_core_tests
fi
test_bin=$build/bin/pdc_cuda_device_test
core_tests=$(find "$build" -name pdc_core_tests -type f -perm -u+x | head -1)
[[ -x "$test_bin" ]] || { echo "gpu-check: $test_bin missing (was the build made with CUDA?)" >&2; exit 1; }

echo "== gpu-check: the device protocol, emulated on the CPU =="
if [[ -n "$core_tests" ]]; then
  timeout 120 "$core_tests" --gtest_filter='CudaEmulation*' --gtest_brief=1
else
  echo "pdc_core_tests not built: skipped"
fi

echo "== gpu-check: the persistent echo loop on the GPU =="
set +e
timeout 180 "$test_bin"
rc=$?
set -e
case $rc in
  0) echo "gpu-check: passed" ;;
  77) echo "gpu-check: no GPU here; nothing measured" ;;
  *) echo "gpu-check: FAILED (exit $rc)" ;;
esac
exit $rc
