# Shared set-up for burrow's benchmarks: run as root, they drop to the
# unprivileged user burrow-test (made by .ci/test-users.sh) for every tool,
# so burrow and its peers are measured the way a user runs them.
set -euo pipefail
BENCH_USER=${BENCH_USER:-burrow-test}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${BENCH_WORK:-/var/tmp/burrow-bench}
RUNS=${RUNS:-10}

need() { command -v "$1" >/dev/null || { echo "bench: $1 is needed (apt-get install $2)" >&2; exit 1; }; }

setup_work() {
    need hyperfine hyperfine
    need podman podman
    [ "$(id -u)" = 0 ] || { echo "bench: run as root; it drops to $BENCH_USER" >&2; exit 1; }
    bash "$REPO/.ci/test-users.sh"
    mkdir -p "$WORK"
    chown "$BENCH_USER:" "$WORK"
    # BURROW_BIN=PATH measures that binary (another build, to compare).
    if [ -n "${BURROW_BIN:-}" ]; then
        install -m 0755 "$BURROW_BIN" "$WORK/burrow"
    else
        (cd "$REPO" && cargo build --release --quiet)
        install -m 0755 "$REPO/target/release/burrow" "$WORK/burrow"
    fi
    uid=$(id -u "$BENCH_USER")
    mkdir -p "/run/user/$uid" && chown "$BENCH_USER:" "/run/user/$uid" && chmod 0700 "/run/user/$uid"
}

# as_user CMD...: runs a shell command as the bench user with its own HOME
# and XDG dirs under $WORK. BENCH_NICE=-20 runs it (and what it starts) at
# that nice value: on a machine other people load, the benchmark then takes
# its turns on the CPUs ahead of their builds (it cannot help with what
# they do to the disk or the kernel's shared work); say so with the figures.
as_user() {
    local uid; uid=$(id -u "$BENCH_USER")
    nice -n "${BENCH_NICE:-0}" runuser -u "$BENCH_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$WORK/home" \
        XDG_RUNTIME_DIR="/run/user/$uid" XDG_DATA_HOME="$WORK/home/.local/share" \
        XDG_CONFIG_HOME="$WORK/home/.config" XDG_CACHE_HOME="$WORK/home/.cache" \
        BURROW="$WORK/burrow" WORK="$WORK" sh -c "$*"
}

# The podman peer, as this machine allows it: crun refuses the hybrid
# cgroup layout, so runc and cgroupfs; the overlay driver (it would pick vfs).
PODMAN="podman --runtime runc --cgroup-manager cgroupfs --storage-driver overlay --root \$WORK/podman-root --runroot \$XDG_RUNTIME_DIR/podman-run"
