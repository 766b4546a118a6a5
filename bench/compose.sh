#!/usr/bin/env bash
# Issue figure: `compose up -d` of the three-service project (PostgreSQL,
# Redis and a Python web app, from Debian's packages), images cached,
# burrow against PyPI's podman-compose driving Debian's podman (runc,
# cgroupfs, overlay), side by side; each run starts from `down -v`.
# podman-compose on podman before 4.6 ignores `condition: service_healthy`
# (it starts the app at once, and rootless podman without a systemd user
# session runs no health checks), so the tools are compared on a variant
# of the project without the health check and its condition (every
# depends_on `service_started`), timed for both; burrow's `up -d` of the
# full project, which waits for pg_isready, is timed beside them.
# The image is the one tests/compose.rs makes with mmdebstrap (run that
# test as root once; it is cached under /var/cache/burrow-test).
# Usage (as root): bench/compose.sh   (RUNS=5 default)
# Results go to stdout and bench/results/compose.md.
export BENCH_WORK=${BENCH_WORK:-/var/tmp/burrow-bench-compose}
export RUNS=${RUNS:-5}
source "$(dirname "$0")/common.sh"
setup_work
PODMAN_COMPOSE_VERSION=${PODMAN_COMPOSE_VERSION:-1.6.0}

rootfs=$(ls -d /var/cache/burrow-test/debian-compose-bookworm-*/rootfs.tar 2>/dev/null | head -1)
[ -n "$rootfs" ] || { echo "bench: no cached image; run: cargo test --test compose a_debian (as root)" >&2; exit 1; }

# podman-compose from PyPI, in a virtualenv of the system's python3 the
# bench user can run.
if [ ! -x "$WORK/venv/bin/podman-compose" ]; then
    /usr/bin/python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION"
fi
chmod -R a+rX "$WORK/venv"

# The project: tests/fixtures/compose-app (the test's), with an override
# that runs the app from the image with its script in a bind mount (no
# build step in what is measured); the port from .env, which both read.
proj=$WORK/composebench
rm -rf "$proj" && mkdir -p "$proj"
cp -r "$REPO/tests/fixtures/compose-app/." "$proj/"
echo "WEB_PORT=18080" > "$proj/.env"
cat > "$proj/compose.bench.yaml" <<'YAML'
services:
  web:
    image: localhost/compose-stack:bookworm
    volumes: ["./app:/app:ro"]
YAML
# The variant: db's healthcheck block gone, its condition service_started.
sed -e '/^    healthcheck:/,/^      retries:/d' -e 's/service_healthy/service_started/' \
    "$proj/compose.yaml" > "$proj/compose.nohealth.yaml"
if grep -q 'healthcheck\|service_healthy' "$proj/compose.nohealth.yaml"; then
    echo "bench: the variant still has a health check or condition" >&2; exit 1
fi
chown -R "$BENCH_USER:" "$proj"
chmod a+r "$rootfs"

as_user "mkdir -p \$HOME; \$BURROW system reset --force >/dev/null 2>&1; $PODMAN system reset --force >/dev/null 2>&1; true"
as_user "\$BURROW import $rootfs localhost/compose-stack:bookworm >/dev/null && $PODMAN import -q $rootfs localhost/compose-stack:bookworm >/dev/null"

uid=$(id -u "$BENCH_USER")
podman_x=${PODMAN//\$WORK/$WORK}
podman_x=${podman_x//\$XDG_RUNTIME_DIR//run/user/$uid}
# podman-compose takes podman's global flags through --podman-args.
pc="$WORK/venv/bin/podman-compose --podman-path podman --podman-args '${podman_x#podman }' -f compose.nohealth.yaml -f compose.bench.yaml"
B="cd $proj && $WORK/burrow compose -f compose.nohealth.yaml -f compose.bench.yaml"
# burrow on the full project (same project name: the same names and port).
BF="cd $proj && $WORK/burrow compose -p composebench -f compose.yaml -f compose.bench.yaml"
# podman's rootless CNI keeps address leases of a network it failed to
# tear down: this project's are dropped before each of its runs.
cni=/run/user/$uid/libpod/tmp/rootless-netns/var/lib/cni/networks/composebench_default
P="cd $proj && $pc"
mkdir -p "$REPO/bench/results"
# After each tool's runs, both projects down: they publish the same port.
echo "load before: $(cat /proc/loadavg)"
as_user "hyperfine --runs $RUNS --export-markdown \$WORK/compose.md \
  --cleanup \"$B down -v >/dev/null 2>&1; $P down -v >/dev/null 2>&1; rm -rf $cni; true\" \
  --prepare \"$B down -v >/dev/null 2>&1; true\" -n 'burrow compose up -d (no health condition)' \"$B up -d\" \
  --prepare \"$P down -v >/dev/null 2>&1; rm -rf $cni; true\" -n 'podman-compose up -d (no health condition)' \"$P up -d\" \
  --prepare \"$BF down -v >/dev/null 2>&1; true\" -n 'burrow compose up -d (full: waits for pg_isready)' \"$BF up -d\""
echo "load after: $(cat /proc/loadavg)"
# What each one started answers (checked after its last run; the variant's
# app may answer before the database is ready, so it is asked until it
# answers or 60 s have passed, and how long that took is said).
cat > "$WORK/ask.py" <<'PY'
import sys, time, urllib.request
t = time.time()
while True:
    try:
        body = urllib.request.urlopen("http://127.0.0.1:18080/", timeout=20).read().decode().strip()
        print(sys.argv[1], body, "after %.1f s" % (time.time() - t))
        break
    except Exception as e:
        if time.time() - t > 60:
            print(sys.argv[1], "no answer:", e)
            break
        time.sleep(0.2)
PY
chmod a+r "$WORK/ask.py"
ask="python3 $WORK/ask.py"
as_user "$B down -v >/dev/null 2>&1; $B up -d >/dev/null && $ask burrow; $B down -v >/dev/null"
as_user "$P down -v >/dev/null 2>&1; $P up -d >/dev/null && $ask podman-compose; $P down -v >/dev/null" || true
as_user "$BF down -v >/dev/null 2>&1; $BF up -d >/dev/null && $ask 'burrow (full)'; $BF down -v >/dev/null"
tee "$REPO/bench/results/compose.md" < "$WORK/compose.md"
as_user "\$BURROW system reset --force; $PODMAN system reset --force" >/dev/null 2>&1 || true
