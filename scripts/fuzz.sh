#!/usr/bin/env bash
# Builds pdc's libFuzzer targets (clang 14, ASan + UBSan) and runs them
# (docs/security.md, "Fuzzing").
#   scripts/fuzz.sh                      # every target: the seed corpus once, then 20 s of fuzzing
#   scripts/fuzz.sh TARGET SECONDS       # one target, as long as you like
#   PDC_FUZZ_SECONDS=60 scripts/fuzz.sh  # every target, 60 s each
# Seeds: tests/fuzz/corpus/TARGET (in the repository). What a run adds goes to
# build-fuzz/corpus/TARGET; a crash leaves its input in build-fuzz/artifacts/
# and fails the script. Each run ends with a line: target, runs, exec/s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

build_dir=build-fuzz
targets=(fuzz_envelope fuzz_ring_consumer fuzz_config fuzz_plugin_descriptor fuzz_control_frame)
seconds=${PDC_FUZZ_SECONDS:-20}
if [ $# -ge 1 ]; then
  targets=("$1")
  seconds=${2:-$seconds}
fi

cmake -S . -B "$build_dir" -G Ninja -Wno-dev -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPDC_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DPDC_BUILD_BENCH=OFF -DPDC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j "${PDC_JOBS:-$(nproc)}" --target pdc_fuzz pdc_kernels

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$build_dir/artifacts"
for t in "${targets[@]}"; do
  bin="$build_dir/tests/fuzz/$t"
  seeds="tests/fuzz/corpus/$t"
  found="$build_dir/corpus/$t"
  mkdir -p "$found"
  # Regression: every seed (and every input found before) once.
  "$bin" -runs=0 -artifact_prefix="$build_dir/artifacts/$t-" "$seeds" "$found" >"$build_dir/$t.regression.log" 2>&1 ||
    { cat "$build_dir/$t.regression.log"; echo "fuzz: $t failed on its corpus" >&2; exit 1; }
  # Bounded fuzzing; new inputs go to $found.
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$t-" \
    -timeout=10 -rss_limit_mb=2048 "$found" "$seeds" >"$build_dir/$t.log" 2>&1 ||
    { tail -50 "$build_dir/$t.log"; echo "fuzz: $t found a crash (input in $build_dir/artifacts/)" >&2; exit 1; }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build_dir/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$build_dir/$t.log")
  echo "fuzz: $t: $runs runs in ${seconds}s, $rate exec/s, corpus $(ls "$found" | wc -l) found + $(ls "$seeds" | wc -l) seeds, no crash"
done
