#!/bin/bash
# run-cgroup-tests.sh - burrow's cgroup v2 tests in a throwaway systemd VM.
#
# This host has no systemd and a hybrid cgroup layout, so limits, delegation,
# freeze and OOM kills are tested in the Debian 12 guest that build-image.sh
# makes (cached; about 1.5 min to build the first time, 20-30 s per boot under
# software emulation). Two boots: `session` (a login session; burrow asks
# systemd over D-Bus for a scope) and `service` (a user service with
# Delegate=yes; burrow uses it in place). Each runs cgroup-checks.sh as dev.
#
# Usage: tests/vm/run-cgroup-tests.sh [session|service]...   (default: both)
# Env:   BURROW_BIN   the burrow binary to test (default: target/debug/burrow,
#                     built with `cargo build` if missing). It must run on the
#                     guest's glibc 2.36 (a Debian 12 host's build does).
#        VM_*         passed on to run-in-vm.sh and build-image.sh
# Needs root, mmdebstrap, qemu-system-x86_64, mke2fs, xz, /bin/busybox (static).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(session service)

BIN=${BURROW_BIN:-$ROOT/target/debug/burrow}
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --locked --bin burrow)
fi
[ -x "$BIN" ] || { echo "run-cgroup-tests: no burrow binary at $BIN" >&2; exit 1; }
# A static busybox: the image has no libc.
! ldd /bin/busybox >/dev/null 2>&1 ||
  { echo "run-cgroup-tests: /bin/busybox must be the static one (busybox-static)" >&2; exit 1; }

SHARE=$(mktemp -d "${TMPDIR:-/tmp}/burrow-vm.XXXXXX")
trap 'rm -rf -- "$SHARE"' EXIT
chmod 0755 "$SHARE"
install -m 0755 "$BIN" "$SHARE/burrow"
install -m 0755 "$HERE/cgroup-checks.sh" "$SHARE/cgroup-checks.sh"

# The image: static busybox, its applets, root in /etc/passwd.
R=$SHARE/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
chmod 1777 "$R/tmp"
tar -C "$R" --owner=0 --group=0 -cf "$SHARE/busybox.tar" .
rm -rf -- "$R"

status=0
for mode in "${MODES[@]}"; do
  echo "== run-cgroup-tests: $mode mode"
  start=$(date +%s)
  if ! "$HERE/run-in-vm.sh" --mode "$mode" --timeout 600 --share "$SHARE:/mnt/b" \
      -- /mnt/b/cgroup-checks.sh "$mode"; then
    status=1
  fi
  echo "== run-cgroup-tests: $mode mode took $(( $(date +%s) - start ))s"
done
exit $status
