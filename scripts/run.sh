#!/usr/bin/env bash
# The main job: installs dependencies, builds pdc, and runs pdcd in the
# foreground with the example kernels (deploy/pdcd.dev.toml; needs no root).
# Talk to it from another terminal with build/bin/pdcctl (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -Wno-dev >/dev/null
cmake --build build -j "$(nproc)"
exec build/bin/pdcd --config deploy/pdcd.dev.toml "$@"
