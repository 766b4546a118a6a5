#!/usr/bin/env bash
# Issue figure: `exec CTR true` into a running container, burrow against
# podman (runc, cgroupfs, overlay), and the resident memory of burrow's
# supervisor against podman's conmon, side by side. The same busybox image
# is imported into both. Usage (as root): bench/exec.sh   (RUNS=50 default)
# Results go to stdout and bench/results/exec.md.
export BENCH_WORK=${BENCH_WORK:-/var/tmp/burrow-bench-exec}
export RUNS=${RUNS:-50}
source "$(dirname "$0")/common.sh"
setup_work

# The image: busybox-static and its applets, as a root filesystem tarball.
rm -rf "$WORK/rootfs" && mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/tmp"
cp /bin/busybox "$WORK/rootfs/bin/busybox"
for a in sh true sleep cat echo; do ln -sf busybox "$WORK/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$WORK/rootfs/etc/passwd"
echo 'root:x:0:' > "$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
chown "$BENCH_USER:" "$WORK/rootfs.tar"

as_user "mkdir -p \$HOME; \$BURROW system reset --force >/dev/null 2>&1; $PODMAN system reset --force >/dev/null 2>&1; true"
as_user "\$BURROW import \$WORK/rootfs.tar bench/bb >/dev/null && $PODMAN import -q \$WORK/rootfs.tar bench/bb >/dev/null"
as_user "\$BURROW run -d --name bench-exec bench/bb sleep 1000000 >/dev/null"
as_user "$PODMAN run -d --name bench-exec localhost/bench/bb:latest sleep 1000000 >/dev/null"

mkdir -p "$REPO/bench/results"
# hyperfine -N runs commands without a shell: the paths spelled out.
uid=$(id -u "$BENCH_USER")
podman_x=${PODMAN//\$WORK/$WORK}
podman_x=${podman_x//\$XDG_RUNTIME_DIR//run/user/$uid}
as_user "hyperfine -N --warmup 5 --runs $RUNS --export-markdown \$WORK/exec.md \
  -n 'burrow exec CTR true' '$WORK/burrow exec bench-exec true' \
  -n 'podman exec CTR true' '$podman_x exec bench-exec true'"

# Resident memory, after the execs above went through both.
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# This benchmark's own: the supervisor is re-executed as `/proc/self/exe
# __supervise DIR`, and other podman containers of the user may run.
sup=$(pgrep -u "$uid" -f "__supervise $WORK/" | head -1)
conmon=$(pgrep -u "$uid" -f "conmon .*$WORK/podman-root" | head -1)
{
    cat "$WORK/exec.md"
    echo
    echo "| process | VmRSS (kB) |"
    echo "| --- | --- |"
    echo "| burrow supervisor | $(rss "$sup") |"
    echo "| podman's conmon | $(rss "$conmon") |"
} | tee "$REPO/bench/results/exec.md"

as_user "\$BURROW rm -f bench-exec >/dev/null; $PODMAN rm -f -t 0 bench-exec >/dev/null" || true
as_user "\$BURROW system reset --force; $PODMAN system reset --force" >/dev/null 2>&1 || true
