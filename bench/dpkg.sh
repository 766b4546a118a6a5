#!/usr/bin/env bash
# Issue 17 figure: the cost of root emulation. `dpkg -i` of a large package
# set (python3 and perl with what they need beyond a minbase bookworm) in a
# container of the Debian test fixture, as burrow-test (subordinate ids: the
# kernel does every chown, no notification) and as burrow-nosub (single-id
# map: every chown and set*id/get*id call goes to the supervisor). The time
# is taken inside the container around dpkg alone, so the start-up of the
# container (which differs between the two users) is not in it.
# Usage (as root): bench/dpkg.sh   (ROUNDS=5 containers per user,
# interleaved). Needs the Debian fixture (cargo test --test fixtures_check
# debian builds it) and mmdebstrap for the package set, which is cached in
# /var/cache/burrow-bench. Results: stdout and bench/results/dpkg.md.
# BENCH_PERF=1 also counts, per round, the CPU time (task-clock) and the
# context switches of everything the run starts (`perf stat`, which adds a
# little to each run; both users alike): figures the machine's load does
# not move the way it moves the time. BENCH_EMULATE=1 adds a third run to
# each round, burrow-test with `--userns emulate`: the same user and store
# as the first, with root emulation's notifications (the single-id copy of
# the image's layers), so that the two users' other differences are not in
# that comparison.
source "$(dirname "$0")/common.sh"
ROUNDS=${ROUNDS:-5}
PKGS=${PKGS:-python3 perl}
need mmdebstrap mmdebstrap
[ -z "${BENCH_PERF:-}" ] || need perf linux-perf
setup_work
# Two users' homes under $WORK: it must be root's (burrow refuses a storage
# root under a directory another user owns).
chown root: "$WORK" && chmod 0755 "$WORK"

ROOTFS=$(ls -t /var/cache/burrow-test/debian-bookworm-*/rootfs.tar 2>/dev/null | head -1 || true)
[ -n "$ROOTFS" ] || { echo "bench: no Debian fixture; run cargo test --test fixtures_check debian as root" >&2; exit 1; }

# The package set, downloaded once by an apt inside a minbase bookworm (what
# the fixture's image lacks, nothing more).
KEY=$(printf '%s\n' "$PKGS" v1 | sha256sum | cut -c1-16)
DEBS=/var/cache/burrow-bench/dpkg-$KEY
if [ ! -f "$DEBS/ok" ]; then
    rm -rf "$DEBS.tmp" && mkdir -p "$DEBS.tmp/debs"
    mmdebstrap --mode=root --variant=minbase --include=ca-certificates,apt --skip=output/dev \
        --customize-hook="rm -f \"\$1\"/var/cache/apt/archives/*.deb && chroot \"\$1\" apt-get install --download-only -y --no-install-recommends $PKGS" \
        --customize-hook="cp \"\$1\"/var/cache/apt/archives/*.deb $DEBS.tmp/debs/" \
        bookworm "$WORK/dpkg-bench-rootfs.tar" http://deb.debian.org/debian >"$DEBS.tmp/log" 2>&1
    rm -f "$WORK/dpkg-bench-rootfs.tar"
    chmod -R a+rX "$DEBS.tmp" && touch "$DEBS.tmp/ok" && mv "$DEBS.tmp" "$DEBS"
fi
COUNT=$(ls "$DEBS"/debs/*.deb | wc -l)
FILES=$(for d in "$DEBS"/debs/*.deb; do dpkg-deb -c "$d"; done | wc -l)

# run_as USER CMD: like as_user, with a HOME of that user's own.
run_as() {
    local user=$1; shift
    local uid; uid=$(id -u "$user")
    mkdir -p "/run/user/$uid" "$WORK/home-$user" && chown "$user:" "/run/user/$uid" "$WORK/home-$user"
    chmod 0700 "/run/user/$uid"
    local perf=()
    [ -n "${PERF_OUT:-}" ] && perf=(perf stat -x, -e task-clock,context-switches -o "$PERF_OUT" --)
    nice -n "${BENCH_NICE:-0}" "${perf[@]}" runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$WORK/home-$user" \
        XDG_RUNTIME_DIR="/run/user/$uid" BURROW="$WORK/burrow" WORK="$WORK" sh -c "$*"
}

IMAGE=localhost/bench/debian:dpkg
for u in burrow-test burrow-nosub; do
    run_as "$u" "\$BURROW system reset --force >/dev/null 2>&1; \$BURROW import $ROOTFS $IMAGE >/dev/null 2>&1"
done
# The single-id copy of the image's layers is made by the first emulate
# run: not in a timed one.
[ -z "${BENCH_EMULATE:-}" ] ||
    run_as burrow-test "\$BURROW run --rm --network none --userns emulate $IMAGE true >/dev/null 2>&1"
# Given all at once, dpkg configures python3-minimal before what it
# pre-depends on and fails it; --configure -a then finishes. Both users do
# exactly this work.
INSIDE='s=$(date +%s%N); dpkg -i /debs/*.deb >/dev/null 2>&1; dpkg --configure -a >/dev/null 2>&1 || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))'
declare -A T CPU CSW
SERIES="burrow-test burrow-nosub${BENCH_EMULATE:+ burrow-test+emulate}"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
    for u in $SERIES; do
        PERF_OUT=${BENCH_PERF:+$WORK/perf-$u}
        flags=
        [ "$u" = burrow-test+emulate ] && flags="--userns emulate"
        ms=$(PERF_OUT=$PERF_OUT run_as "${u%+emulate}" "\$BURROW run --rm --network none $flags -v $DEBS/debs:/debs:ro $IMAGE sh -c '$INSIDE' 2>/dev/null")
        T[$u]="${T[$u]:-} $ms"
        counted=
        if [ -n "$PERF_OUT" ]; then
            cpu=$(awk -F, '$3 == "task-clock" {printf "%d", $1}' "$PERF_OUT")
            csw=$(awk -F, '$3 == "context-switches" {print $1}' "$PERF_OUT")
            CPU[$u]="${CPU[$u]:-} $cpu" CSW[$u]="${CSW[$u]:-} $csw"
            counted=" (cpu $cpu ms, $csw context switches)"
        fi
        echo "round $r $u: $ms ms$counted" >&2
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
full=$(echo "${T[burrow-test]}" | median)
emu=$(echo "${T[burrow-nosub]}" | median)
over=$(awk -v a="$full" -v b="$emu" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
# The rounds are interleaved: each round's ratio compares runs made
# seconds apart, under the same load.
per_round() {
    paste <(echo "${T[burrow-test]}" | tr ' ' '\n' | grep -v '^$') \
        <(echo "${T[$1]}" | tr ' ' '\n' | grep -v '^$') |
        awk '{printf " %.1f", ($2 - $1) * 100 / $1}'
}
ratios=$(per_round burrow-nosub)
ratio_median=$(echo "$ratios" | median)
OUT="$REPO/bench/results/dpkg.md"
{
    echo "dpkg -i of $COUNT packages ($FILES archive entries: $PKGS), ms inside the container, $ROUNDS rounds"
    echo
    echo "| user | runs (ms) | median |"
    echo "| --- | --- | --- |"
    echo "| burrow-test (subordinate ids, no notification) |${T[burrow-test]} | $full |"
    echo "| burrow-nosub (root emulation) |${T[burrow-nosub]} | $emu |"
    [ -z "${BENCH_EMULATE:-}" ] ||
        echo "| burrow-test --userns emulate (root emulation) |${T[burrow-test+emulate]} | $(echo "${T[burrow-test+emulate]}" | median) |"
    echo
    echo "overhead of root emulation: $over % (medians); per round:$ratios %, their median $ratio_median %"
    if [ -n "${BENCH_EMULATE:-}" ]; then
        e_ratios=$(per_round burrow-test+emulate)
        echo "burrow-test --userns emulate against burrow-test, per round:$e_ratios %, their median $(echo "$e_ratios" | median) %"
    fi
    if [ -n "${BENCH_PERF:-}" ]; then
        echo
        echo "| user | cpu (task-clock) median, ms | context switches median |"
        echo "| --- | --- | --- |"
        for u in $SERIES; do
            echo "| $u | $(echo "${CPU[$u]}" | median) | $(echo "${CSW[$u]}" | median) |"
        done
    fi
    echo
    echo "load average before: $LOAD_BEFORE, after: $LOAD_AFTER; nice ${BENCH_NICE:-0}; binary: ${BURROW_BIN:-release build}"
} | tee "$OUT"
