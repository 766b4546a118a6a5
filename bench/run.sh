#!/usr/bin/env bash
# Issue figure: the start-up of a throwaway container, `burrow run --rm
# --network none IMG true`, against bubblewrap on the same root filesystem
# (an unpacked directory) and podman on the same image, side by side; and
# burrow with its default network (`user`: a tap and burrow's stack), which
# is what `burrow run --rm IMG true` gets.
# Usage (as root): bench/run.sh   (RUNS=60 per round by default; ROUNDS=6
# repeats the whole comparison to show the spread on a noisy machine, and a
# last round runs burrow with [userns] keep_alive = 0, without the holder)
# Then the default network against --network none alone, interleaved:
# PAIR_ROUNDS (30) short rounds of PAIR_RUNS (10) runs of each, the order
# swapped every round so that a change of the machine's load falls on both,
# every run of every round pooled into one median per mode.
# Results go to stdout and bench/results/run.md (the last round's table,
# every round's medians, and the pair).
source "$(dirname "$0")/common.sh"
# podman's run root under $WORK too: this benchmark resets podman, and must
# not reset another benchmark's podman running at the same time.
PODMAN="${PODMAN/--runroot \$XDG_RUNTIME_DIR\/podman-run/--runroot \$WORK/podman-run}"
RUNS=${RUNS:-60}
ROUNDS=${ROUNDS:-6}
need bwrap bubblewrap
setup_work

# The root filesystem: busybox with every applet, root and one user.
ROOT=$WORK/run-rootfs
rm -rf "$ROOT" && mkdir -p "$ROOT"/{bin,etc,tmp,root,proc,dev,sys}
cp /bin/busybox "$ROOT/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$ROOT/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' >"$ROOT/etc/group"
chmod 1777 "$ROOT/tmp"
tar -C "$ROOT" -cf "$WORK/run-rootfs.tar" .
chown -R "$BENCH_USER:" "$ROOT" "$WORK/run-rootfs.tar"

# The same image for both: imported by burrow, saved as a docker-archive,
# loaded by podman.
IMAGE=localhost/bench/busybox:latest
as_user "mkdir -p \$HOME && \$BURROW system reset --force >/dev/null 2>&1; $PODMAN system reset --force >/dev/null 2>&1; true"
as_user "\$BURROW import \$WORK/run-rootfs.tar $IMAGE >/dev/null \
  && rm -f \$WORK/run-image.tar && \$BURROW save -o \$WORK/run-image.tar $IMAGE \
  && $PODMAN load -q -i \$WORK/run-image.tar >/dev/null"
# Each must work before it is timed.
as_user "\$BURROW run --rm --network none $IMAGE true \
  && \$BURROW run --rm $IMAGE true \
  && bwrap --unshare-all --die-with-parent --ro-bind $ROOT / --proc /proc --dev /dev true \
  && $PODMAN run --rm --network none $IMAGE true"

BURROW_CMD="\$BURROW run --rm --network none $IMAGE true"
BURROW_NET_CMD="\$BURROW run --rm $IMAGE true"
BWRAP_CMD="bwrap --unshare-all --die-with-parent --ro-bind $ROOT / --proc /proc --dev /dev true"
PODMAN_CMD="$PODMAN run --rm --network none $IMAGE true"

mkdir -p "$REPO/bench/results"
: >"$WORK/run-medians.txt"
for round in $(seq "$ROUNDS"); do
    as_user "hyperfine -N --warmup 10 --runs $RUNS \
      --export-json \$WORK/run-$round.json --export-markdown \$WORK/run.md \
      -n 'burrow run --rm' \"$BURROW_CMD\" \
      -n 'burrow run --rm, default network' \"$BURROW_NET_CMD\" \
      -n 'bwrap --unshare-all' \"$BWRAP_CMD\" \
      -n 'podman run --rm' \"$PODMAN_CMD\""
    python3 - "$WORK/run-$round.json" "$round" >>"$WORK/run-medians.txt" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
b, w, p = med["burrow run --rm"], med["bwrap --unshare-all"], med["podman run --rm"]
n = med["burrow run --rm, default network"]
print(f"| {sys.argv[2]} | {b:.1f} ms | {n:.1f} ms | {w:.1f} ms | {p:.1f} ms | {b / w:.2f}x | {n / b:.2f}x | {p / b:.1f}x |")
PY
done

# Without the shared user namespace's holder ([userns] keep_alive = 0):
# every container then gets a namespace of its own, mapped by newuidmap and
# newgidmap, as a first run after an idle spell does.
as_user "printf '[userns]\\nkeep_alive = 0\\n' > \$WORK/nohold.toml"
as_user "BURROW_CONFIG=\$WORK/nohold.toml hyperfine -N --warmup 10 --runs $RUNS \
  --export-json \$WORK/run-nohold.json \
  -n 'burrow run --rm, keep_alive = 0' \"$BURROW_CMD\" \
  -n 'bwrap --unshare-all' \"$BWRAP_CMD\"" >/dev/null
NOHOLD=$(python3 - "$WORK/run-nohold.json" <<'PY'
import json, sys
res = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
b, w = res["burrow run --rm, keep_alive = 0"], res["bwrap --unshare-all"]
print(f"| keep_alive = 0 | {b:.1f} ms | - | {w:.1f} ms | - | {b / w:.2f}x | - | - |")
PY
)

# The default network against --network none, interleaved by rounds.
PAIR_ROUNDS=${PAIR_ROUNDS:-30}
PAIR_RUNS=${PAIR_RUNS:-10}
rm -f "$WORK"/pair-*.json
for round in $(seq "$PAIR_ROUNDS"); do
    first=("network none" "$BURROW_CMD") second=("default network" "$BURROW_NET_CMD")
    if [ $((round % 2)) = 0 ]; then
        first=("default network" "$BURROW_NET_CMD") second=("network none" "$BURROW_CMD")
    fi
    as_user "hyperfine -N --warmup 3 --runs $PAIR_RUNS --export-json \$WORK/pair-$round.json \
      -n '${first[0]}' \"${first[1]}\" -n '${second[0]}' \"${second[1]}\"" >/dev/null
done
PAIR=$(python3 - "$WORK" "$PAIR_ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
times = {"network none": [], "default network": []}
ratios = []
for r in range(1, rounds + 1):
    res = {x["command"]: x for x in json.load(open(f"{work}/pair-{r}.json"))["results"]}
    for k in times:
        times[k].extend(res[k]["times"])
    ratios.append(res["default network"]["median"] / res["network none"]["median"])
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
q = statistics.quantiles(ratios, n=4)
none, net = med["network none"], med["default network"]
print(f"| {len(times['network none'])} | {none:.1f} ms | {net:.1f} ms | {net / none:.2f}x | "
      f"{q[0]:.2f}x-{q[2]:.2f}x ({min(ratios):.2f}x-{max(ratios):.2f}x) |")
PY
)

{
    echo "Command (as $BENCH_USER, $RUNS runs per round, hyperfine -N):"
    echo
    echo '```'
    echo "burrow run --rm --network none $IMAGE true"
    echo "burrow run --rm $IMAGE true   # the default network"
    echo "bwrap --unshare-all --die-with-parent --ro-bind ROOTFS / --proc /proc --dev /dev true"
    echo "podman --runtime runc --cgroup-manager cgroupfs --storage-driver overlay run --rm --network none $IMAGE true"
    echo '```'
    echo
    echo "| round | burrow median | burrow, default network | bwrap median | podman median | burrow / bwrap | default network / none | podman / burrow |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    cat "$WORK/run-medians.txt"
    echo "$NOHOLD"
    echo
    echo "The default network against --network none, interleaved: $PAIR_ROUNDS rounds of $PAIR_RUNS runs of each (hyperfine -N, 3 warm-up runs), the order swapped every round, every run pooled:"
    echo
    echo "| runs of each | --network none median | default network median | default / none | per-round ratio: middle half (all) |"
    echo "| --- | --- | --- | --- | --- |"
    echo "$PAIR"
    echo
    echo "Last round:"
    echo
    cat "$WORK/run.md"
} | tee "$REPO/bench/results/run.md"
as_user "\$BURROW system reset --force; $PODMAN system reset --force" >/dev/null 2>&1 || true
