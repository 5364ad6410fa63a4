#!/usr/bin/env bash
# Checks what a user of an installed pdc gets: installs the build folder into
# a staging prefix, builds examples/ (a plugin, a C++ and a C client) against
# it with find_package(pdc) and the C client again with pkg-config, then runs
# the staged pdcd with the example kernels and the out-of-tree plugin and
# talks to it with the staged pdcctl and the example clients.
#   scripts/check-install.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
stage=$(mktemp -d /tmp/pdc-stage-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$stage"
}
trap cleanup EXIT
fail() {
  echo "check-install: $*" >&2
  [ -f "$stage/pdcd.log" ] && sed 's/^/  pdcd: /' "$stage/pdcd.log" >&2
  exit 1
}

prefix=$stage/usr
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/pdcd bin/pdcctl bin/pdc-kernel-host include/pdc/pdc.h include/pdc/client.hpp include/pdc/sdk.hpp include/pdc/cuda.cuh \
         lib/pdc/kernels/pdc_echo.so lib/systemd/system/pdcd.service lib/systemd/system/pdcd.socket \
         etc/pdcd/pdcd.toml share/man/man8/pdcd.8.gz share/man/man1/pdcctl.1.gz lib/sysusers.d/pdcd.conf lib/tmpfiles.d/pdcd.conf; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
libdir=$(dirname "$(find "$prefix" -name 'libpdc.so' | head -1)")
[ -n "$libdir" ] || fail "libpdc.so not installed"
soname=$(readelf -d "$libdir/libpdc.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ -e "$libdir/$soname" ] || fail "libpdc.so's SONAME $soname is not installed"

for ex in plugin client-cpp client-c; do
  cmake -S "examples/$ex" -B "$stage/build-$ex" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" >"$stage/$ex.log" 2>&1 || { cat "$stage/$ex.log"; fail "configuring examples/$ex"; }
  cmake --build "$stage/build-$ex" >>"$stage/$ex.log" 2>&1 || { cat "$stage/$ex.log"; fail "building examples/$ex"; }
done
export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror examples/client-c/main.c $(pkg-config --cflags --libs pdc) -o "$stage/pdc-example-c-pc" ||
  fail "building examples/client-c with pkg-config"

mkdir -p "$stage/plugins" "$stage/run"
cp "$stage/build-plugin/pdc_upper.so" "$stage/plugins/"
chmod 0755 "$stage/plugins" && chmod 0644 "$stage/plugins/pdc_upper.so"
socket=$stage/run/pdcd.sock
"$prefix/bin/pdcd" --socket "$socket" --plugin-dir "$prefix/lib/pdc/kernels" --plugin-dir "$stage/plugins" \
  --load pdc_echo.so --load pdc_upper.so 2>"$stage/pdcd.log" &
pid=$!
for _ in $(seq 1 200); do
  [ -S "$socket" ] && break
  kill -0 "$pid" 2>/dev/null || fail "the installed pdcd exited"
  sleep 0.05
done
[ -S "$socket" ] || fail "the installed pdcd did not create its socket"

export LD_LIBRARY_PATH=$libdir
ctl() { "$prefix/bin/pdcctl" --socket "$socket" "$@"; }
ctl plugin list | grep -q upper || fail "pdcctl plugin list does not show the out-of-tree plugin"
got=$("$stage/build-client-cpp/pdc-example-client" --socket "$socket" upper "hello") || fail "the C++ example client failed"
[ "$got" = "HELLO" ] || fail "the C++ example client got '$got', wanted 'HELLO'"
ctl launch echo --id e >/dev/null && ctl activate e >/dev/null || fail "pdcctl launch/activate"
got=$("$stage/build-client-c/pdc-example-c" "$socket" e "from C") || fail "the C example client failed"
[ "$got" = "from C" ] || fail "the C example client got '$got'"
got=$("$stage/pdc-example-c-pc" "$socket" e "via pkg-config") || fail "the pkg-config C client failed"
[ "$got" = "via pkg-config" ] || fail "the pkg-config C client got '$got'"
isolated=$(ctl launch upper --id iso --isolation process && ctl activate iso && ctl send iso --data abc --wait-reply) ||
  fail "an isolated kernel from the installed pdc-kernel-host"
echo "$isolated" | grep -q ABC || fail "the isolated kernel answered '$isolated'"
# The units, as installed: systemd-analyze verify (with ExecStart pointing at
# the staged pdcd, which it checks exists) and the offline security score.
mkdir -p "$stage/units"
for u in pdcd.service pdcd.socket; do
  sed "s#^ExecStart=[^ ]*#ExecStart=$prefix/bin/pdcd#" "$prefix/lib/systemd/system/$u" >"$stage/units/$u"
done
systemd-analyze verify "$stage/units/pdcd.service" "$stage/units/pdcd.socket" || fail "systemd-analyze verify"
score=$(systemd-analyze security --offline=true "$stage/units/pdcd.service" 2>&1 | sed -n 's/.*Overall exposure level for pdcd.service: *//p')
echo "check-install: systemd-analyze security: $score"
case "$score" in
  *OK* | *SAFE* | *EXCELLENT* | *GOOD*) ;;
  *) fail "pdcd.service's exposure is '$score'; aim for OK or better" ;;
esac
echo "check-install: installed to a staging prefix; examples built with find_package(pdc) and pkg-config; the installed pdcd served them"
