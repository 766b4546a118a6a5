#!/usr/bin/env bash
# Issue 16's figures on a kernel without fsconfig lowerdir+: in the Debian 12
# guest of tests/vm (its stock 6.1), as the guest's user dev (subordinate
# ids, a logind session):
#  1. `burrow run --rm --network none IMG true` against bubblewrap on the
#     same busybox root, side by side (hyperfine, RUNS each);
#  2. untarring 10,000 small files inside the container, into its writable
#     layer: the kernel overlay (mounted with a mount(2) option string on
#     6.1) against fuse-overlayfs. fuse-overlayfs is forced by recording, in
#     burrow's per-kernel choice (storage/kernels/$(uname -r).json), that
#     the kernel overlay is refused.
# Usage (as root): bench/vm-kernel.sh   (RUNS=30 start-ups, UNTAR_RUNS=5 untars;
# STARTUP= skips the start-ups, UNTAR_RUNS=0 the untars; VM_TIMEOUT=1500
# bounds the boot). The start-ups also time burrow without its cgroup (the
# user's bus out of reach: the run notes it and goes on), which shows what
# the scope from systemd costs.
# Needs a guest image with bubblewrap and hyperfine; this script builds one
# (cached) with VM_EXTRA_PACKAGES under VM_CACHE_DIR (default
# /var/cache/burrow-vm-kernels-bench). Results go to stdout.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-30}
UNTAR_RUNS=${UNTAR_RUNS:-5}
# STARTUP= (empty) measures the untars only.
STARTUP=${STARTUP-yes}
export VM_CACHE_DIR=${VM_CACHE_DIR:-/var/cache/burrow-vm-kernels-bench}
export VM_EXTRA_PACKAGES="bubblewrap hyperfine"
BIN=${BURROW_BIN:-$REPO/target/release/burrow}
[ -x "$BIN" ] || (cd "$REPO" && cargo build --release --quiet)

SHARE=$(mktemp -d "${TMPDIR:-/tmp}/burrow-bench-vm.XXXXXX")
trap 'rm -rf -- "$SHARE"' EXIT
chmod 0755 "$SHARE"
install -m 0755 "$BIN" "$SHARE/burrow"
# The image: static busybox and its applets; the same tree for bubblewrap.
R=$SHARE/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root" "$R/proc" "$R/dev" "$R/sys"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
chmod 1777 "$R/tmp"
tar -C "$R" --owner=0 --group=0 -cf "$SHARE/busybox.tar" .
# 10,000 files of 100 bytes in 100 directories.
F=$SHARE/files
for d in $(seq 100); do
  mkdir -p "$F/d$d"
  for f in $(seq 100); do head -c 100 /dev/zero > "$F/d$d/f$f"; done
done
tar -C "$F" -cf "$SHARE/files.tar" .
rm -rf -- "$F"

cat > "$SHARE/bench.sh" <<GUEST
#!/bin/bash
set -eu
export HOME=/home/dev
cd "\$HOME"
# Installed as a distribution's package installs it: root's, on the
# guest's own disk as bwrap is (not run from the 9p share).
sudo install -o root -g root -m 0755 /mnt/b/burrow /usr/local/bin/burrow
B=/usr/local/bin/burrow
echo "kernel \$(uname -r), \$(nproc) vCPUs, burrow \$(\$B --version)"
mkdir -p /tmp/root && tar -C /tmp/root -xf /mnt/b/busybox.tar
\$B import /mnt/b/busybox.tar bench >/dev/null
\$B run --rm --network none bench true
cat "\$HOME/.local/share/burrow/storage/kernels/\$(uname -r).json"; echo
echo "the root: \$(\$B run --rm --network none bench grep ' / / ' /proc/self/mountinfo)"
bwrap --unshare-all --die-with-parent --ro-bind /tmp/root / --proc /proc --dev /dev true
if [ -n "$STARTUP" ]; then
echo "== 1. start-up"
hyperfine -N --warmup 3 --runs $RUNS \\
  -n 'burrow run --rm --network none' "\$B run --rm --network none bench true" \\
  -n 'bwrap --unshare-all' "bwrap --unshare-all --die-with-parent --ro-bind /tmp/root / --proc /proc --dev /dev true"
DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent hyperfine -N --warmup 3 --runs $RUNS \\
  -n 'burrow run --rm --network none, no cgroup' "\$B run --rm --network none bench true"
fi
[ "$UNTAR_RUNS" != 0 ] || exit 0
echo "== 2. untar of 10,000 files inside the container"
UNTAR="\$B run --rm --network none -v /mnt/b:/in:ro bench tar -xf /in/files.tar -C /tmp"
\$UNTAR
hyperfine --runs $UNTAR_RUNS -n 'kernel overlay (option string)' "\$UNTAR"
K=\$HOME/.local/share/burrow/storage/kernels/\$(uname -r).json
printf '{"kernel":"%s","api":null,"refused":"forced by bench/vm-kernel.sh"}' "\$(uname -r)" > "\$K"
out=\$(\$B run --rm --network none bench true 2>&1); echo "with the kernel overlay refused: \${out:-no note}"
# The root's line of mountinfo names the filesystem: fuse.fuse-overlayfs.
echo "the root now: \$(\$B run --rm --network none bench grep ' / / ' /proc/self/mountinfo)"
echo "fuse-overlayfs untars from \$(date -u +%T) (guest clock)"
hyperfine --runs $UNTAR_RUNS -n 'fuse-overlayfs' "\$UNTAR"
echo "fuse-overlayfs untars done at \$(date -u +%T)"
GUEST
chmod 0755 "$SHARE/bench.sh"
"$REPO/tests/vm/run-in-vm.sh" --timeout "${VM_TIMEOUT:-1500}" --share "$SHARE:/mnt/b" -- /mnt/b/bench.sh
