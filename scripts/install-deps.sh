#!/usr/bin/env bash
# Installs every Debian package pdc needs to build, test and benchmark, when
# missing. Needs root for apt-get; says what to run otherwise. Nothing is
# downloaded except Debian packages.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libasio-dev libflatbuffers-dev flatbuffers-compiler
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libsystemd-dev
  # Process isolation: the kernel hosts' seccomp filter (docs/isolation.md).
  libseccomp-dev
  # The install check: systemd-analyze verify and security (scripts/check-install.sh).
  systemd
  # The Debian packages: cpack's dpkg-shlibdeps, lintian, and a throwaway
  # Debian root to install them into (scripts/check-packages.sh).
  dpkg-dev fakeroot file lintian debootstrap
  # pdcctl top's test runs it in a real terminal (tests/integration/pdcctl_top_test.cpp).
  tmux
  # The HTTP /metrics endpoint's test scrapes it with a real HTTP client.
  curl
  libgtest-dev libgmock-dev libbenchmark-dev
  # The Python client's tests (client/python/tests) and its numpy paths;
  # python3-pip and python3-venv for installing it from the tree.
  python3 python3-pytest python3-numpy python3-pip python3-venv
  clang clang-format clang-tidy
  # libFuzzer and the sanitizer runtimes for clang (scripts/fuzz.sh).
  libclang-rt-14-dev libfuzzer-14-dev
  # Optional rows of pdc-bench tiers: Eclipse iceoryx, the peer pdc is measured against.
  libiceoryx-posh-dev iceoryx
  # Several hosts (docs/cluster.md): the NATS C client, and nats-server for
  # the loopback cluster of the tests and pdc-bench nats.
  libnats-dev nats-server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: not root; run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${#missing[@]} packages"
