#!/usr/bin/env bash
# Issue 19's database figure: PostgreSQL's pgbench (Debian's) from one
# container to another on one user network (`burrow network create`: veth
# pairs on a bridge in the user's network namespace), against the same
# server and client, the same image, on the host's network
# (`--network host`, TCP over 127.0.0.1). Rounds interleave the two cases
# (their order swapped each round), so a load that comes and goes on a
# shared machine falls on both; each round prints its TPS and ratio, the
# end their medians and spread.
#
# The image is the one tests/compose.rs makes with mmdebstrap (Debian
# bookworm with postgresql; run `cargo test --test compose a_debian` as
# root once; it is cached under /var/cache/burrow-test). The database
# lives on a tmpfs with fsync off in both cases, so the disk (and what
# others do to it) is out of the figure: what differs is the network path.
#
# Usage (as root; it drops to burrow-test):
#   bench/pgbench.sh
# Env: ROUNDS (5), SECS (15, per pgbench run), CLIENTS (4), THREADS (2),
#      SCALE (10), MODES ("tpcb select": pgbench's default TPC-B-like script
#      and its -S select-only one), BENCH_NICE, BURROW_BIN (common.sh).
# Results go to stdout and bench/results/pgbench.md.
export BENCH_WORK=${BENCH_WORK:-/var/tmp/burrow-bench-pgbench}
source "$(dirname "$0")/common.sh"
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-15}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
SCALE=${SCALE:-10}
MODES=${MODES:-tpcb select}
setup_work

rootfs=$(ls -d /var/cache/burrow-test/debian-compose-bookworm-*/rootfs.tar 2>/dev/null | head -1)
[ -n "$rootfs" ] || { echo "bench: no cached image; run: cargo test --test compose a_debian (as root)" >&2; exit 1; }
chmod a+r "$rootfs"
IMG=localhost/compose-stack:bookworm
as_user "mkdir -p \$HOME; \$BURROW system reset --force >/dev/null 2>&1; \$BURROW import $rootfs $IMG >/dev/null"

# The server: initdb on a tmpfs, then postgres listening on $1:$2.
server() {
    echo "mkdir -p /pg/data && chown postgres /pg/data && chmod 700 /pg/data &&
      runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D /pg/data --auth=trust >/dev/null &&
      echo 'host all all all trust' >> /pg/data/pg_hba.conf &&
      exec runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres -D /pg/data -k /tmp \
        -c listen_addresses=$1 -p $2 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c max_connections=50"
}
# The two cases: the network flag, the server's host name and port.
declare -A NET=([user]="--network pgbench-net" [host]="--network host")
declare -A HOST=([user]=pgbench-srv [host]=127.0.0.1)
declare -A PORT=([user]=5432 [host]=15432)
declare -A LISTEN=([user]="'*'" [host]=127.0.0.1)

cleanup() {
    as_user "\$BURROW rm -f pgbench-srv pgbench-hsrv >/dev/null 2>&1; \$BURROW network rm pgbench-net >/dev/null 2>&1; true"
}
cleanup
trap cleanup EXIT
as_user "\$BURROW network create pgbench-net >/dev/null"
as_user "\$BURROW run -d --name pgbench-srv ${NET[user]} --tmpfs /pg $IMG sh -c \"$(server "${LISTEN[user]}" "${PORT[user]}")\" >/dev/null"
as_user "\$BURROW run -d --name pgbench-hsrv ${NET[host]} --tmpfs /pg $IMG sh -c \"$(server "${LISTEN[host]}" "${PORT[host]}")\" >/dev/null"

# client CASE ARGS...: pgbench in a new container of that case's network.
client() {
    local c=$1; shift
    as_user "\$BURROW run --rm ${NET[$c]} $IMG /usr/lib/postgresql/15/bin/pgbench -h ${HOST[$c]} -p ${PORT[$c]} -U postgres $* postgres"
}
for c in user host; do
    for _ in $(seq 60); do
        as_user "\$BURROW run --rm ${NET[$c]} $IMG /usr/lib/postgresql/15/bin/pg_isready -q -h ${HOST[$c]} -p ${PORT[$c]}" && break
        sleep 1
    done
    client "$c" -i -q -s "$SCALE" >/dev/null 2>&1
done

out=$WORK/pgbench-results
rm -rf "$out" && mkdir -p "$out"
echo "load before: $(cat /proc/loadavg)" | tee "$out/load"
for r in $(seq "$ROUNDS"); do
    order="user host"; [ $((r % 2)) = 0 ] && order="host user"
    for m in $MODES; do
        flag=; [ "$m" = select ] && flag=-S
        for c in $order; do
            tps=$(client "$c" $flag -c "$CLIENTS" -j "$THREADS" -T "$SECS" 2>/dev/null |
                sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p')
            echo "$r $m $c ${tps:-0}" | tee -a "$out/runs"
        done
    done
done
echo "load after: $(cat /proc/loadavg)" | tee -a "$out/load"

mkdir -p "$REPO/bench/results"
python3 - "$out/runs" "$SECS" "$CLIENTS" "$THREADS" "$SCALE" <<'PY' | tee "$REPO/bench/results/pgbench.md"
import statistics, sys
runs, secs, clients, threads, scale = sys.argv[1:]
tps = {}
for line in open(runs):
    r, m, c, v = line.split()
    tps.setdefault(m, {}).setdefault(int(r), {})[c] = float(v)
print(f"pgbench -c {clients} -j {threads} -T {secs}, scale {scale}; TPS per round (user network / host network = ratio)\n")
print("| script | rounds: user network / host network (ratio) | median TPS, user network | median TPS, host network | median ratio | ratio range |")
print("| --- | --- | --- | --- | --- | --- |")
for m, rounds in tps.items():
    ratios = [v["user"] / v["host"] for v in rounds.values() if v.get("host")]
    cells = "; ".join(f"{v['user']:.0f} / {v['host']:.0f} ({v['user'] / v['host']:.2f})" for v in rounds.values() if v.get("host"))
    mu = statistics.median(v["user"] for v in rounds.values())
    mh = statistics.median(v["host"] for v in rounds.values())
    print(f"| {'TPC-B-like (default)' if m == 'tpcb' else 'select-only (-S)'} | {cells} | {mu:.0f} | {mh:.0f} | "
          f"{statistics.median(ratios):.2f}x | {min(ratios):.2f}x-{max(ratios):.2f}x |")
PY
