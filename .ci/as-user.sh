#!/usr/bin/env bash
# Runs the README's test command (arguments go to cargo test) the way an ordinary user would: as
# burrow-test, not root, with its own CARGO_HOME and a copy of the tree it
# owns. Tests that need root or the other test user must skip (saying why),
# not fail. Run as root (CI does); the toolchain stays where rustup put it,
# and its parent directories are made traversable (o+x, no listing) so the
# user can run it.
set -euo pipefail
cd "$(dirname "$0")/.."
user=${BURROW_CI_USER:-burrow-test}
sysroot=$(rustc --print sysroot)
dir=$sysroot
while [ "$dir" != / ]; do
    chmod o+x "$dir"
    dir=$(dirname "$dir")
done
work=$(mktemp -d /tmp/burrow-as-user.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar --exclude=./target -cf - . | tar -xf - -C "$work"
chown -R "$user:" "$work"
home=$(getent passwd "$user" | cut -d: -f6)
runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" \
    PATH="$sysroot/bin:/usr/local/bin:/usr/bin:/bin" \
    CARGO_HOME="$home/.cargo" CARGO_TERM_COLOR=never \
    bash -c 'dir=$1; shift; cd "$dir" && cargo test --locked --no-fail-fast "$@" 2>&1' _ "$work" "$@"
