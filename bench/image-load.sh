#!/usr/bin/env bash
# Issue figure: import and load of a 5-layer, ~150 MB image, burrow against
# podman, fresh store each run. Usage (as root): bench/image-load.sh
# Results go to stdout (hyperfine's table) and bench/results/image-load.md.
source "$(dirname "$0")/common.sh"
setup_work

# The image: 5 layers of 30 MB, each half random bytes (incompressible, like
# binaries) and half text (like sources), in many files like a real rootfs.
python3 "$REPO/bench/make_image.py" "$WORK/image.tar" "$WORK/rootfs.tar" 5 30
chown "$BENCH_USER:" "$WORK/image.tar" "$WORK/rootfs.tar"
ls -l "$WORK/image.tar" "$WORK/rootfs.tar"

mkdir -p "$REPO/bench/results"
as_user "mkdir -p \$HOME && $PODMAN info >/dev/null 2>&1 || true"
as_user "hyperfine --runs $RUNS --export-markdown \$WORK/load.md \
  --prepare '\$BURROW system reset --force >/dev/null 2>&1; $PODMAN system reset --force >/dev/null 2>&1; sync' \
  -n 'burrow load' '\$BURROW load -q -i \$WORK/image.tar' \
  -n 'podman load' '$PODMAN load -q -i \$WORK/image.tar' \
  -n 'burrow import' '\$BURROW import \$WORK/rootfs.tar bench/flat' \
  -n 'podman import' '$PODMAN import -q \$WORK/rootfs.tar bench/flat'"
cp "$WORK/load.md" "$REPO/bench/results/image-load.md"
as_user "\$BURROW system reset --force; $PODMAN system reset --force" >/dev/null 2>&1 || true
