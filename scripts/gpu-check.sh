#!/usr/bin/env bash
# The checks of pdc's cuda tier that need a GPU (docs/cuda.md, "On a GPU"),
# ready to run unchanged on a machine with an NVIDIA GPU, in under 5 minutes:
# prints the device, builds what it needs with CUDA (unless given a build),
# runs the emulation tests, the device test (the loops driven directly),
# the cuda tier through a real pdcd (pdc_integration_tests' CudaTier test)
# and `pdc-bench cuda`, and prints their tables. Record them, with the
# device's name, in docs/benchmarks.md ("The cuda tier").
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
  cmake --build "$build" -j "$(nproc)" --target pdc_cuda_device_test pdc_core_tests pdcd pdc-kernel-host \
    pdc_kernels pdc_integration_tests pdc-bench
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
  0) echo "gpu-check: device test passed" ;;
  77) echo "gpu-check: no GPU here; nothing measured"; exit 77 ;;
  *) echo "gpu-check: device test FAILED (exit $rc)" ;;
esac

status=$rc
integration=$(find "$build" -name pdc_integration_tests -type f -perm -u+x | head -1)
if [[ -n "$integration" ]]; then
  echo "== gpu-check: the cuda tier through pdcd (echo_cuda, vector_add_cuda) =="
  if ! timeout 120 "$integration" --gtest_filter='CudaTier*' --gtest_brief=1; then
    echo "gpu-check: the pdcd cuda tier test FAILED"
    status=1
  fi
else
  echo "pdc_integration_tests not built: the pdcd path is not checked"
fi
if [[ -x "$build/bin/pdc-bench" ]]; then
  echo "== gpu-check: pdc-bench cuda =="
  if ! timeout 200 "$build/bin/pdc-bench" cuda --scale "${PDC_GPU_BENCH_SCALE:-0.5}" --reps 3 \
      --kernels-dir "$build/kernels"; then
    echo "gpu-check: pdc-bench cuda FAILED"
    status=1
  fi
else
  echo "pdc-bench not built: no bench rows"
fi
[[ $status -eq 0 ]] && echo "gpu-check: passed"
exit $status
