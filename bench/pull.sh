#!/usr/bin/env bash
# Issue figure: pull of a 5-layer, ~150 MB image (gzip layers) from a
# registry on 127.0.0.1, burrow against podman, fresh store each run.
# Usage (as root): bench/pull.sh   (RUNS=1 for a smoke run)
# Results go to stdout (hyperfine's table) and bench/results/pull.md.
source "$(dirname "$0")/common.sh"
need docker-registry docker-registry
need skopeo skopeo
setup_work

python3 "$REPO/bench/make_image.py" "$WORK/image.tar" "$WORK/rootfs.tar" 5 30

# The registry: plain HTTP on a free loopback port, storage under $WORK.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$WORK/registry" && mkdir -p "$WORK/registry"
cat > "$WORK/registry/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/registry/data
http:
  addr: 127.0.0.1:$PORT
YAML
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
REGISTRY_PID=$!
trap 'kill "$REGISTRY_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
IMAGE="127.0.0.1:$PORT/bench/five:latest"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
    "docker-archive:$WORK/image.tar" "docker://$IMAGE"

mkdir -p "$REPO/bench/results"
as_user "mkdir -p \$HOME && $PODMAN info >/dev/null 2>&1 || true"
as_user "hyperfine --runs $RUNS --export-markdown \$WORK/pull.md \
  --prepare '\$BURROW system reset --force >/dev/null 2>&1; $PODMAN system reset --force >/dev/null 2>&1; sync' \
  -n 'burrow pull' '\$BURROW pull -q $IMAGE' \
  -n 'podman pull' '$PODMAN pull -q --tls-verify=false $IMAGE'"
cp "$WORK/pull.md" "$REPO/bench/results/pull.md"
as_user "\$BURROW system reset --force; $PODMAN system reset --force" >/dev/null 2>&1 || true
