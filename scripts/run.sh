#!/usr/bin/env bash
# The main job: builds pdc and runs the ring benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)"
exec build/bin/pdc-bench ring "$@"
