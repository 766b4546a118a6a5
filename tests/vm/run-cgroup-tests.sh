#!/bin/bash
# run-cgroup-tests.sh - burrow's cgroup v2 tests in a throwaway systemd VM.
#
# This host has no systemd and a hybrid cgroup layout, so limits, delegation,
# freeze and OOM kills are tested in the Debian 12 guest that build-image.sh
# makes (cached; about 1.5 min to build the first time, 20-30 s per boot under
# software emulation). Two boots: `session` (a login session; burrow asks
# systemd over D-Bus for a scope) and `service` (a user service with
# Delegate=yes; burrow uses it in place). Each runs cgroup-checks.sh as dev;
# the session boot then runs the run/layer/cgroup tests of the suite there
# (suite-checks.sh), as dev, on the guest's kernel.
#
# Usage: tests/vm/run-cgroup-tests.sh [session|service]...   (default: both)
# Env:   BURROW_BIN   the burrow binary to test (default: target/debug/burrow,
#                     built with `cargo build` if missing). It must run on the
#                     guest's glibc 2.36 (a Debian 12 host's build does).
#        VM_CGROUP_CHECKS  empty: the session boot skips cgroup-checks.sh and
#                     runs only the suite (by hand, for a long VM_SUITE on
#                     a kernel whose checks already ran)
#        VM_PYTHON_USR  a Debian 12 /usr (e.g. the host's) shared at /mnt/py
#                     for the checks of python3's os.cpu_count() (the guest
#                     has no python3)
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

# The run, layer and cgroup tests of the suite (and compose's
# deploy.resources.limits, applied there; and two of the user networks'
# tests: reach by name, and the port filter against a container that
# claims another's addresses, with nf_tables a module here; and
# --cgroupns host, whose /sys/fs/cgroup is a bind of the container's own
# cgroup only where there is one), in the session boot: built
# here, run in the guest as dev (subordinate ids) against its kernel.
# VM_SUITE: space-separated FILE[:NAME,NAME...] (tests/FILE.rs, the tests
# whose names contain a NAME; all without), empty for none. The default is
# what fits CI's time under emulation; VM_SUITE="run layer_edges cgroup"
# runs those files whole (by hand: VM_TIMEOUT=3600).
SUITE=${VM_SUITE-run:run_rm_leaves,etc_mount_points,exit_status_is,read_only_root layer_edges:a_130_layer,an_opaque_whiteout cgroup compose:deploy_resource_limits networks:containers_on_one_network_reach,a_container_cannot_claim run_namespaces:cgroupns_host}
SUITE_SHARE=()
if [ -n "$SUITE" ]; then
  targs=()
  for e in $SUITE; do targs+=(--test "${e%%:*}"); done
  mkdir "$SHARE/tests" "$SHARE/bin"
  (cd "$ROOT" && cargo test --locked --no-run --message-format=json "${targs[@]}") |
    grep '"kind":\["test"\]' > "$SHARE/built.json"
  for e in $SUITE; do
    file=${e%%:*}
    exe=$(grep -F "\"name\":\"$file\"" "$SHARE/built.json" |
      sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | head -n1)
    [ -n "$exe" ] || { echo "run-cgroup-tests: no test binary for tests/$file.rs" >&2; exit 1; }
    install -m 0755 "$exe" "$SHARE/tests/$file"
    case "$e" in *:*) echo "${e#*:}" | tr ',' '\n' > "$SHARE/tests/$file.filters" ;; esac
  done
  built=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug
  install -m 0755 "$built/burrow" "$SHARE/bin/burrow"
  install -m 0755 "$HERE/suite-checks.sh" "$SHARE/suite-checks.sh"
  SUITE_SHARE=(--share "$SHARE/bin:$built")
fi
# VM_CGROUP_CHECKS= (empty): the session boot runs the suite alone.
CHECKS=/mnt/b/cgroup-checks.sh
[ -n "${VM_CGROUP_CHECKS-yes}" ] || CHECKS=true
cat > "$SHARE/session.sh" <<EOF
#!/bin/bash
$CHECKS session; rc=\$?
if [ -x /mnt/b/suite-checks.sh ]; then /mnt/b/suite-checks.sh || rc=1; fi
exit \$rc
EOF
chmod 0755 "$SHARE/session.sh"

status=0
for mode in "${MODES[@]}"; do
  echo "== run-cgroup-tests: $mode mode"
  start=$(date +%s)
  cmd=(/mnt/b/cgroup-checks.sh "$mode") shares=()
  if [ "$mode" = session ]; then cmd=(/mnt/b/session.sh) shares=("${SUITE_SHARE[@]}"); fi
  # VM_PYTHON_USR: a Debian 12 /usr whose python3 the checks run (by hand).
  if [ -n "${VM_PYTHON_USR:-}" ]; then shares+=(--share "$VM_PYTHON_USR:/mnt/py"); fi
  if ! "$HERE/run-in-vm.sh" --mode "$mode" --timeout "${VM_TIMEOUT:-1200}" --share "$SHARE:/mnt/b" \
      "${shares[@]}" -- "${cmd[@]}"; then
    status=1
  fi
  echo "== run-cgroup-tests: $mode mode took $(( $(date +%s) - start ))s"
done
exit $status
