#!/bin/sh
# Sets up and tries burrow on a fresh Debian/Ubuntu machine: installs the
# Debian packages burrow uses (with sudo when not root), builds burrow, makes
# a small image from busybox-static, imports it and runs a container of it.
set -eu
cd "$(dirname "$0")/.."
missing=
for p in uidmap fuse-overlayfs busybox-static; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        SUDO=
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "quickstart: burrow needs the Debian packages:$missing" >&2
        echo "quickstart: you are not root and there is no sudo here; ask an admin for: apt-get install$missing" >&2
        exit 1
    fi
    echo "quickstart: installing$missing (apt-get)"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing
fi
command -v cargo >/dev/null 2>&1 || { echo "quickstart: cargo is not on PATH; install Rust (Debian's cargo, or rustup) first" >&2; exit 1; }
echo "quickstart: building burrow (cargo build --release: a few minutes the first time)"
cargo build --release --locked
BURROW=$PWD/target/release/burrow

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/etc" "$tmp/rootfs/tmp"
cp /bin/busybox "$tmp/rootfs/bin/busybox"
for applet in sh ls cat echo id hostname ps mount uname sleep; do
    ln -s busybox "$tmp/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$tmp/rootfs/etc/passwd"
printf 'root:x:0:\n' > "$tmp/rootfs/etc/group"
tar -C "$tmp/rootfs" -czf "$tmp/busybox.tar.gz" .

"$BURROW" import "$tmp/busybox.tar.gz" busybox-demo
"$BURROW" images
"$BURROW" run --rm busybox-demo sh -c 'echo "hello from $(hostname), pid $$, as $(id -un)"; ls /'
echo "burrow is at $BURROW; try: $BURROW run --rm -it busybox-demo sh"
