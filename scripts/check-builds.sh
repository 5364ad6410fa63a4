#!/usr/bin/env bash
# Builds pdc as users do (cmake -DCMAKE_BUILD_TYPE=...) with each compiler
# and runs the test suite on each build. Warnings are errors here, as in CI;
# a user's own build does not turn them on.
#   scripts/check-builds.sh                      # gcc:Release clang:Release
#   scripts/check-builds.sh gcc:Debug clang:RelWithDebInfo
# Each argument is COMPILER:BUILD_TYPE, COMPILER one of gcc, clang.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=${PDC_JOBS:-$(nproc)}
builds=("$@")
[ ${#builds[@]} -eq 0 ] && builds=(gcc:Release clang:Release)

for b in "${builds[@]}"; do
  compiler=${b%%:*}
  type=${b#*:}
  case "$compiler" in
    gcc) cc=gcc cxx=g++ ;;
    clang) cc=clang cxx=clang++ ;;
    *) echo "check-builds: unknown compiler '$compiler' (gcc or clang)" >&2; exit 2 ;;
  esac
  dir="build-$compiler-$(echo "$type" | tr '[:upper:]' '[:lower:]')"
  echo "== check-builds: $compiler $type in $dir =="
  CC=$cc CXX=$cxx cmake -S . -B "$dir" -G Ninja -Wno-dev -DCMAKE_BUILD_TYPE="$type" -DPDC_WERROR=ON >/dev/null
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs" --timeout 600
done
