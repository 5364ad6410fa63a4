#!/usr/bin/env bash
# Makes the Debian packages (cpack) from a build folder, checks them with
# lintian (no errors allowed), installs them into a throwaway Debian 12 root
# (debootstrap, minbase), starts pdcd there as user pdcd with the unit's
# ExecStart line, and talks to it with the installed pdcctl as a member of
# group pdcd. The out-of-tree examples are built against the root's
# installed files with find_package(pdc) and run inside it. Needs root
# (debootstrap, chroot, mount) and Debian's mirror.
#   scripts/check-packages.sh [build-dir]        # default build-gcc-release
# PDC_DEBIAN_MIRROR overrides the mirror; PDC_KEEP_ROOT=1 keeps the root.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
build=$(realpath "${1:-build-gcc-release}")
[ "$(id -u)" -eq 0 ] || { echo "check-packages: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
[ -f "$build/CMakeCache.txt" ] || { echo "check-packages: $build is not a configured build folder" >&2; exit 2; }
mirror=${PDC_DEBIAN_MIRROR:-http://deb.debian.org/debian}

root=$(mktemp -d /var/tmp/pdc-root-XXXXXX)
chmod 0755 "$root"  # apt's _apt user reads its lists inside it
work=$(mktemp -d /tmp/pdc-packages-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  mountpoint -q "$root/proc" && umount "$root/proc"
  if [ "${PDC_KEEP_ROOT:-0}" = 1 ]; then echo "check-packages: root kept in $root" >&2; else rm -rf "$root"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "check-packages: $*" >&2
  [ -f "$work/pdcd.log" ] && sed 's/^/  pdcd: /' "$work/pdcd.log" >&2
  exit 1
}
in_root() { chroot "$root" "$@"; }
# as USER [GROUP...] -- CMD...: runs CMD in the root as USER, with the groups
# the root's /etc/group gives it.
as() {
  local user=$1
  shift
  local uid gid groups
  uid=$(in_root id -u "$user") gid=$(in_root id -g "$user")
  groups=$(in_root id -G "$user" | tr ' ' ',')
  chroot --userspec="$uid:$gid" --groups="$groups" "$root" env HOME=/ "$@"
}

echo "== check-packages: cpack in $build (prefix /usr) =="
# The packages are for prefix /usr; reconfiguring the prefix rebuilds nothing
# (no path is compiled in: the units and the config are written at install
# time), and GNUInstallDirs picks the multiarch library folder.
cmake -S . -B "$build" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$build" >/dev/null
rm -rf "$build/packages"
(cd "$build" && cpack >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
debs=("$build"/packages/*.deb)
[ ${#debs[@]} -eq 4 ] || fail "cpack made ${#debs[@]} packages, wanted 4 (pdcd, libpdc0, libpdc-dev, python3-pdc)"
for p in pdcd libpdc0 libpdc-dev python3-pdc; do
  ls "$build/packages/${p}_"*.deb >/dev/null 2>&1 || fail "no $p package"
done
contents=$(dpkg-deb -c "$build"/packages/libpdc0_*.deb)
grep -q 'usr/lib/[^/]*-linux-gnu/libpdc.so.0 ' <<<"$contents" ||
  fail "libpdc0 does not hold libpdc.so.0 in the multiarch library folder"
pycontents=$(dpkg-deb -c "$build"/packages/python3-pdc_*_all.deb)
for m in __init__ aio client _capi errors message; do
  grep -q "usr/lib/python3/dist-packages/pdc/$m.py\$" <<<"$pycontents" || fail "python3-pdc lacks pdc/$m.py"
done
if grep -q '__pycache__\|\.pyc' <<<"$pycontents"; then fail "python3-pdc ships byte code"; fi
dpkg-deb -f "$build"/packages/python3-pdc_*_all.deb Depends | grep -q 'libpdc0 (= ' ||
  fail "python3-pdc does not depend on its libpdc0"
conffiles=$(dpkg-deb -I "$build"/packages/pdcd_*.deb conffiles)
grep -qx /etc/pdcd/pdcd.toml <<<"$conffiles" ||
  fail "/etc/pdcd/pdcd.toml is not a conffile of pdcd"

echo "== check-packages: lintian =="
lintian --fail-on error --allow-root "${debs[@]}" || fail "lintian reports errors"

echo "== check-packages: a Debian 12 root (debootstrap --variant=minbase) =="
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
mount -t proc proc "$root/proc"
mkdir -p "$root/tmp/pdc-debs"
cp "${debs[@]}" "$root/tmp/pdc-debs/"
in_root_debs=()
for d in "${debs[@]}"; do in_root_debs+=("/tmp/pdc-debs/$(basename "$d")"); done
in_root apt-get update -qq >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get update in the root"; }
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${in_root_debs[@]}" \
  >>"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "installing the packages in the root"; }

# What the postinst made: the user and group (from sysusers.d, or useradd in
# a root without systemd, as here).
in_root getent passwd pdcd | grep -q ':/usr/sbin/nologin$' || fail "the postinst did not create user pdcd"
in_root getent group pdcd >/dev/null || fail "the postinst did not create group pdcd"
unit=$root/usr/lib/systemd/system/pdcd.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$exec_start" = "/usr/bin/pdcd --config /etc/pdcd/pdcd.toml" ] || fail "the installed unit's ExecStart is '$exec_start'"
grep -q 'plugin_dirs = \["/usr/lib/pdc/kernels"\]' "$root/etc/pdcd/pdcd.toml" ||
  fail "the installed config does not name /usr/lib/pdc/kernels"

# The administrator's edit of the conffile: the example kernels loaded and
# one launched at start, usable by group pdcd (a kernel from the config is
# pdcd's own; docs/security.md). A reinstall keeps the edit.
sed -i 's/^plugins = \[\]/plugins = ["pdc_echo.so", "pdc_double.so"]/' "$root/etc/pdcd/pdcd.toml"
cat >>"$root/etc/pdcd/pdcd.toml" <<'EOF'

[[kernel]]
type = "echo"
id = "echo"
activate = true
access = ["group:pdcd=all"]
EOF
in_root env DEBIAN_FRONTEND=noninteractive dpkg -i "/tmp/pdc-debs/$(basename "$build"/packages/pdcd_*.deb)" >>"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log"; fail "reinstalling pdcd"; }
grep -q '^id = "echo"' "$root/etc/pdcd/pdcd.toml" || fail "reinstalling pdcd lost the edited conffile"

# What systemd would do before ExecStart: the socket's folder (tmpfiles.d at
# boot, made here by the host's systemd-tmpfiles from the package's entry)
# and the unit's UMask=.
systemd-tmpfiles --root="$root" --create pdcd.conf || fail "systemd-tmpfiles on the package's tmpfiles.d entry"
[ "$(in_root stat -c '%a %U %G' /run/pdcd)" = "750 pdcd pdcd" ] ||
  fail "tmpfiles.d made /run/pdcd $(in_root stat -c '%a %U %G' /run/pdcd), wanted 750 pdcd pdcd"
umask_line=$(sed -n 's/^UMask=//p' "$unit")
in_root useradd --create-home --groups pdcd alice
in_root useradd --create-home mallory
uid=$(in_root id -u pdcd)
gid=$(in_root id -g pdcd)
# shellcheck disable=SC2086
chroot --userspec="$uid:$gid" --groups="$gid" "$root" sh -c "umask $umask_line && exec $exec_start" \
  2>"$work/pdcd.log" &
pid=$!
socket=$root/run/pdcd/pdcd.sock
for _ in $(seq 1 200); do
  [ -S "$socket" ] && break
  kill -0 "$pid" 2>/dev/null || fail "the installed pdcd exited"
  sleep 0.05
done
[ -S "$socket" ] || fail "the installed pdcd did not create /run/pdcd/pdcd.sock"
# chroot and sh exec pdcd: $pid is pdcd itself.
[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "$exec_start " ] || fail "pid $pid is not '$exec_start'"
[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = "$uid" ] || fail "pdcd does not run as user pdcd"
[ "$(in_root stat -c '%a %U %G' /run/pdcd/pdcd.sock)" = "660 pdcd pdcd" ] ||
  fail "the socket is $(chroot "$root" stat -c '%a %U %G' /run/pdcd/pdcd.sock), wanted 660 pdcd pdcd"

echo "== check-packages: pdcctl as alice (group pdcd) and mallory (not) =="
list=$(as alice pdcctl list) || fail "pdcctl list as a member of group pdcd"
echo "$list" | grep -q '^echo .*active' || fail "pdcctl list shows no active echo kernel: $list"
got=$(as alice pdcctl send echo --data "from the package" --wait-reply) || fail "pdcctl send as alice"
[ "$got" = "from the package" ] || fail "echo answered '$got'"
# Launching is for administrators (root, pdcd's user); alice is refused,
# saying so, and then uses the kernel root launched for group pdcd.
if out=$(as alice pdcctl launch double --id twice 2>&1); then fail "a non-administrator could launch a kernel"; fi
grep -q "may not launch" <<<"$out" || fail "alice's launch was refused without saying why: $out"
in_root pdcctl launch double --id twice --allow group:pdcd=send,status >/dev/null &&
  in_root pdcctl activate twice >/dev/null || fail "root could not launch a kernel"
got=$(as alice pdcctl send twice --int64 21 --wait-reply) || fail "pdcctl send to double"
case "$got" in 42*) ;; *) fail "double answered '$got'" ;; esac
if out=$(as mallory pdcctl list 2>&1); then fail "a user outside group pdcd could use the socket: $out"; fi
echo "$out" | grep -qi "permission denied" || fail "mallory's refusal does not say why: $out"
echo "check-packages: alice's pdcctl list: $(grep -c . <<<"$list") lines; mallory is refused: $out"
echo "== check-packages: the Python client as alice (python3-pdc, libpdc0 found by the loader) =="
got=$(as alice python3 - 2>&1 <<'EOF'
import asyncio, pdc, pdc.aio
with pdc.connect("/run/pdcd/pdcd.sock") as c:
    with c.attach("echo") as att:
        assert att.request(b"from python", timeout=5.0) == b"from python"
        async def main():
            a = pdc.aio.Attachment(att)
            return await a.request(b"from asyncio", 5.0)
        print(asyncio.run(main()).decode())
    try:
        c.launch("double", "nope")
    except pdc.PermissionDeniedError as e:
        print("refused:", e)
EOF
) || fail "the Python client as alice: $got"
grep -q '^from asyncio$' <<<"$got" || fail "the Python client got '$got'"
grep -q '^refused: .*may not launch' <<<"$got" || fail "the Python client's refused launch: '$got'"
echo "check-packages: python3-pdc as alice: $(tr '\n' ' ' <<<"$got")"
man_page=$(in_root sh -c 'ls /usr/share/man/man8/pdcd.8.gz /usr/share/man/man1/pdcctl.1.gz' | wc -l)
[ "$man_page" -eq 2 ] || fail "man pages not installed"

echo "== check-packages: examples/ built against the root's files (find_package(pdc)), run in it =="
for ex in plugin client-cpp client-c; do
  cmake -S "examples/$ex" -B "$work/build-$ex" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON >"$work/$ex.log" 2>&1 ||
    { cat "$work/$ex.log"; fail "configuring examples/$ex"; }
  grep -q "$root/usr/lib/.*/cmake/pdc" "$work/build-$ex/CMakeCache.txt" ||
    fail "examples/$ex did not find the root's pdc package"
  cmake --build "$work/build-$ex" >>"$work/$ex.log" 2>&1 || { cat "$work/$ex.log"; fail "building examples/$ex"; }
done
install -m 0644 "$work/build-plugin/pdc_upper.so" "$root/usr/lib/pdc/kernels/"
install -m 0755 "$work/build-client-cpp/pdc-example-client" "$work/build-client-c/pdc-example-c" "$root/usr/local/bin/"
in_root pdcctl plugin load pdc_upper.so >/dev/null || fail "root could not load the out-of-tree plugin"
got=$(in_root pdc-example-client upper "hello") || fail "the C++ example client (it launches: as root)"
[ "$got" = "HELLO" ] || fail "the C++ example client got '$got', wanted HELLO"
got=$(as alice pdc-example-c /run/pdcd/pdcd.sock echo "from C") || fail "the C example client"
[ "$got" = "from C" ] || fail "the C example client got '$got'"

echo "== check-packages: SIGTERM, then purge =="
kill -TERM "$pid"
wait "$pid" || fail "pdcd exited $? on SIGTERM"
pid=
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq pdcd libpdc-dev python3-pdc libpdc0 >>"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log"; fail "purging the packages"; }
for f in /usr/bin/pdcd /etc/pdcd/pdcd.toml /usr/lib/x86_64-linux-gnu/libpdc.so.0 /usr/lib/python3/dist-packages/pdc; do
  [ ! -e "$root$f" ] || fail "$f is still there after purge"
done
echo "check-packages: pdcd, libpdc0, libpdc-dev and python3-pdc made, lintian-clean, installed into a Debian 12 root, served pdcctl and the examples as user pdcd, purged"
