#!/usr/bin/env bash
# Builds pdc and runs the whole test suite (the README's test command).
#   scripts/test.sh                   # release-ish build in build/, all tests
#   PDC_SANITIZE=thread scripts/test.sh build-tsan core
#                                     # sanitizer build, tests labelled "core"
# Args: [build-dir] [ctest label regex]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

build_dir=${1:-build}
label=${2:-}
sanitize=${PDC_SANITIZE:-}
jobs=${PDC_JOBS:-$(nproc)}

cmake_args=(-S . -B "$build_dir" -G Ninja -Wno-dev -DPDC_WERROR=ON -DPDC_BUILD_DAEMON=ON -DPDC_SANITIZE="$sanitize")
if [ -n "$sanitize" ]; then
  # Sanitized runs cover the tests only; benchmarks are meaningless there.
  cmake_args+=(-DPDC_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug)
fi
# shellcheck disable=SC2206
cmake_args+=(${PDC_CMAKE_ARGS:-})
cmake "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs"

ctest_args=(--test-dir "$build_dir" --output-on-failure --no-tests=error -j "$jobs" --timeout 600)
[ -n "$label" ] && ctest_args+=(-L "$label")
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest "${ctest_args[@]}"
