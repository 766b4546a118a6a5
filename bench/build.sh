#!/usr/bin/env bash
# Issue figures for `burrow build` against `podman build --format docker`
# (buildah's cache, the overlay driver), side by side on the same context:
#  - rebuild with nothing changed: 20 instructions, a context of FILES
#    files of SIZE bytes (20,000 x 10 KiB = 200 MB by default);
#  - rebuild after one file of that context changed;
#  - a cold build (--no-cache) of the same Containerfile;
#  - four independent stages of `RUN sleep 2` against one such stage;
#  - a cold build (--no-cache) of `apt-get install` on the Debian base the
#    tests make with mmdebstrap (tests/common/debian.rs, cached under
#    /var/cache/burrow-test; run `cargo test --test build apt` as root once
#    to make it), from its flat repository bind-mounted from the context.
# Usage (as root): bench/build.sh   (RUNS=5 per case; FILES, SIZE to scale;
# CASES="cached one-file-changed cold stages cold-apt" to pick cases)
# Results go to stdout and bench/results/build.md.
source "$(dirname "$0")/common.sh"
PODMAN="${PODMAN/--runroot \$XDG_RUNTIME_DIR\/podman-run/--runroot \$WORK/podman-build-run}"
PODMAN="${PODMAN/--root \$WORK\/podman-root/--root \$WORK/podman-build-root}"
RUNS=${RUNS:-5}
FILES=${FILES:-20000}
SIZE=${SIZE:-10240}
setup_work

# The base image for both: busybox, imported by burrow and loaded by podman.
ROOT=$WORK/build-rootfs
rm -rf "$ROOT" && mkdir -p "$ROOT"/{bin,etc,tmp,root}
cp /bin/busybox "$ROOT/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$ROOT/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"
chmod 1777 "$ROOT/tmp"
tar -C "$ROOT" -cf "$WORK/build-rootfs.tar" .
chown "$BENCH_USER:" "$WORK/build-rootfs.tar"
IMAGE=localhost/bench/build-base:latest

# The context: FILES files in 100 directories, and 20 instructions.
CTX=$WORK/build-ctx
rm -rf "$CTX" && mkdir -p "$CTX/data"
python3 - "$CTX/data" "$FILES" "$SIZE" <<'PY'
import os, sys
root, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, f"d{i % 100:03}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05}"), "wb") as f:
        f.write((f"{i:08}" * (size // 8 + 1))[:size].encode())
PY
{
    echo "FROM $IMAGE"
    echo "ARG V=1"
    echo "ENV APP=/app MODE=bench"
    echo "LABEL bench=build"
    echo "WORKDIR /app"
    echo "COPY data /app/data"
    for i in $(seq 1 11); do echo "RUN echo step $i > /step-$i"; done
    echo "EXPOSE 8080"
    echo "USER root"
    echo "CMD [\"sh\"]"
} >"$CTX/Containerfile"
chown -R "$BENCH_USER:" "$CTX"

# Four independent stages, and one.
PAR=$WORK/build-par
rm -rf "$PAR" && mkdir -p "$PAR/four" "$PAR/one"
{
    for s in 1 2 3 4; do printf 'FROM %s AS s%s\nRUN sleep 2 && echo %s > /out\n' "$IMAGE" "$s" "$s"; done
    printf 'FROM %s\n' "$IMAGE"
    for s in 1 2 3 4; do printf 'COPY --from=s%s /out /out%s\n' "$s" "$s"; done
} >"$PAR/four/Containerfile"
printf 'FROM %s AS s1\nRUN sleep 2 && echo 1 > /out\nFROM %s\nCOPY --from=s1 /out /out1\n' "$IMAGE" "$IMAGE" >"$PAR/one/Containerfile"
chown -R "$BENCH_USER:" "$PAR"

# The apt case: the Debian fixture's root filesystem and repository.
DEB=$(ls -d /var/cache/burrow-test/debian-bookworm-*/ok 2>/dev/null | tail -n 1 | xargs -r dirname)
APT=$WORK/build-apt
DEB_IMAGE=localhost/bench/debian:bookworm
if [ -n "$DEB" ]; then
    rm -rf "$APT" && mkdir -p "$APT/repo" && cp "$DEB"/repo/* "$APT/repo/"
    PKGS=$(sed -n 's/^Package: //p' "$APT/repo/Packages" | grep -E '^(uuid-runtime|python3-pip)$' | tr '\n' ' ')
    printf 'FROM %s\nRUN --mount=type=bind,source=repo,target=/srv/repo apt-get update && apt-get install -y --no-install-recommends %s && rm -rf /var/lib/apt/lists/*\n' \
        "$DEB_IMAGE" "$PKGS" >"$APT/Containerfile"
    cp "$DEB/rootfs.tar" "$WORK/build-debian.tar"
    chown -R "$BENCH_USER:" "$APT" "$WORK/build-debian.tar"
else
    echo "bench: no Debian fixture under /var/cache/burrow-test: the apt case is left out" >&2
fi

as_user "mkdir -p \$HOME && \$BURROW system reset --force >/dev/null 2>&1; $PODMAN system reset --force >/dev/null 2>&1; true"
as_user "\$BURROW import \$WORK/build-rootfs.tar $IMAGE >/dev/null \
  && rm -f \$WORK/build-image.tar && \$BURROW save -o \$WORK/build-image.tar $IMAGE \
  && $PODMAN load -q -i \$WORK/build-image.tar >/dev/null"
# Each builds before it is timed (and fills its cache).
B="\$BURROW build -q -t bench/built:1"
P="$PODMAN build -q --format docker -t bench/built:1"
as_user "$B $CTX >/dev/null && $P $CTX >/dev/null"
if [ -n "$DEB" ]; then
    as_user "\$BURROW import \$WORK/build-debian.tar $DEB_IMAGE >/dev/null \
      && rm -f \$WORK/build-debian-image.tar && \$BURROW save -o \$WORK/build-debian-image.tar $DEB_IMAGE \
      && $PODMAN load -q -i \$WORK/build-debian-image.tar >/dev/null"
fi

mkdir -p "$REPO/bench/results"
OUT=$REPO/bench/results/build.md
: >"$OUT"
CASES=${CASES:-cached one-file-changed cold stages cold-apt}
hf() { # NAME-OF-CASE, then hyperfine arguments
    local case=$1; shift
    case " $CASES " in *" $case "*) ;; *) return 0 ;; esac
    as_user "hyperfine -N --runs $RUNS --export-json \$WORK/build-$case.json --export-markdown \$WORK/build-$case.md $*" >/dev/null
    { echo "### $case"; echo; cat "$WORK/build-$case.md"; echo; } >>"$OUT"
}
CHANGE="sh -c 'date +%s%N > $CTX/data/d000/f00000'"
hf cached "-n 'burrow build (nothing changed)' \"$B $CTX\" -n 'podman build (nothing changed)' \"$P $CTX\""
hf one-file-changed "--prepare \"$CHANGE\" -n 'burrow build (one file changed)' \"$B $CTX\" -n 'podman build (one file changed)' \"$P $CTX\""
hf cold "-n 'burrow build --no-cache' \"$B --no-cache $CTX\" -n 'podman build --no-cache' \"$P --no-cache $CTX\""
hf stages "-n 'burrow build: four stages' \"$B --no-cache $PAR/four\" -n 'burrow build: one stage' \"$B --no-cache $PAR/one\" \
  -n 'podman build: four stages' \"$P --no-cache $PAR/four\" -n 'podman build: one stage' \"$P --no-cache $PAR/one\""
if [ -n "$DEB" ]; then
    hf cold-apt "-n 'burrow build --no-cache (apt-get install)' \"$B --no-cache $APT\" -n 'podman build --no-cache (apt-get install)' \"$P --no-cache $APT\""
fi
cat "$OUT"
