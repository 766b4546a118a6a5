#!/bin/bash
# run-in-vm.sh - boot the throwaway Debian 12 VM built by build-image.sh, run
# one command in it as user `dev` (uid 1000) inside dev's systemd/logind user
# session, stream its stdout/stderr, power the VM off and exit with the
# command's exit status.
#
# Usage: run-in-vm.sh [options] [--] CMD [ARG...]
#        run-in-vm.sh [options] --shell
#
# Options:
#   --share HOSTDIR[:GUESTDIR]  share HOSTDIR read-only (virtio-9p) at GUESTDIR
#                               (default /mnt/host); repeatable
#   --copy HOSTDIR[:GUESTDIR]   copy HOSTDIR into the guest disk at GUESTDIR
#                               (default /home/dev/work), owned by dev; repeatable
#   --workdir DIR               working directory of CMD in the guest (default: the
#                               first --share/--copy GUESTDIR, else /home/dev)
#   --env NAME=VALUE            set an environment variable for CMD; repeatable
#   --mode session|service|root how CMD is started (default session):
#       session  `su -l dev` (PAM + pam_systemd: a logind session scope, with
#                XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS set), i.e. what a
#                user gets in a terminal or over ssh
#       service  `systemd-run --user --wait --pipe -p Delegate=yes` as dev:
#                CMD runs in a transient service with a delegated cgroup
#                inside user@1000.service
#       root     as root (system service context), for setup / debugging
#   --timeout SECS              overall wall-clock limit (default 900)
#   --boot-timeout SECS         limit until CMD has started (default 240)
#   --cpus N                    vCPUs (default: host CPUs, at most 8)
#   --mem MB                    guest memory (default 2048)
#   --accel auto|kvm|tcg        (default auto: kvm only with kvm_intel/kvm_amd)
#   --console                   also stream the guest console to stderr
#   --verbose                   verbose guest console (kernel + systemd status)
#   --kernel-arg ARG            extra kernel command line argument; repeatable
#                               (e.g. systemd.unified_cgroup_hierarchy=0 to get
#                               systemd's legacy/hybrid cgroup v1 layout instead)
#   --log FILE                  save the guest console log to FILE
#   --shell                     interactive root shell on the serial console
#                               (shares are mounted; Ctrl-A x quits qemu)
#
# Exit status: that of CMD; 124 on timeout; 125 if the VM or the job runner
# failed (the tail of the guest console is printed to stderr).
#
# Environment: VM_IMAGE_DIR (use this image dir, don't call build-image.sh),
# VM_CACHE_DIR (passed to build-image.sh), VM_QEMU (qemu binary), VM_ACCEL
# (default for --accel), VM_TCG_CPU (default max), VM_MACHINE (default q35),
# VM_TIMING=1 (print boot/total seconds), VM_KEEP_TMP=1 (keep the temp dir),
# TMPDIR (also where qemu puts the throwaway disk overlay).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "run-in-vm: $*" >&2; exit 125; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }

SHARES=() COPIES=() ENVS=()
WORKDIR= MODE=session TIMEOUT=900 BOOT_TIMEOUT=240 MEM=2048 ACCEL=${VM_ACCEL:-auto}
CPUS=$(nproc); [ "$CPUS" -gt 8 ] && CPUS=8
CONSOLE=0 LOGFILE= SHELL_MODE=0 VERBOSE=0 KARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --share) SHARES+=("$2"); shift 2 ;;
    --copy) COPIES+=("$2"); shift 2 ;;
    --workdir) WORKDIR=$2; shift 2 ;;
    --env) ENVS+=("$2"); shift 2 ;;
    --mode) MODE=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --boot-timeout) BOOT_TIMEOUT=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --accel) ACCEL=$2; shift 2 ;;
    --console) CONSOLE=1; shift ;;
    --verbose) VERBOSE=1; shift ;;
    --kernel-arg) KARGS+=("$2"); shift 2 ;;
    --log) LOGFILE=$2; shift 2 ;;
    --shell) SHELL_MODE=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    -*) echo "run-in-vm: unknown option $1" >&2; usage 2 ;;
    *) break ;;
  esac
done
[ "$SHELL_MODE" = 1 ] || [ $# -gt 0 ] || { echo "run-in-vm: no command given" >&2; usage 2; }
case "$MODE" in session|service|root) ;; *) die "bad --mode $MODE" ;; esac

QEMU=${VM_QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null || die "$QEMU not found"

# --- image (built or taken from the cache) ----------------------------------
if [ -n "${VM_IMAGE_DIR:-}" ]; then
  IMG=$VM_IMAGE_DIR
else
  IMG=$("$HERE/build-image.sh" --print-dir) || die "build-image.sh failed"
fi
for f in rootfs.ext4 vmlinux initrd.img; do [ -f "$IMG/$f" ] || die "missing $IMG/$f"; done

# --- accelerator ---------------------------------------------------------------
if [ "$ACCEL" = auto ]; then
  ACCEL=tcg
  # /dev/kvm alone is not enough: e.g. a PVM-based nested hypervisor (kvm_pvm)
  # exposes /dev/kvm but cannot run an unmodified guest kernel.
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
    ACCEL=kvm
  fi
fi
case "$ACCEL" in
  kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
  tcg) ACCEL_ARGS=(-accel tcg,thread=multi,tb-size=256 -cpu "${VM_TCG_CPU:-max}") ;;
  *) die "bad --accel $ACCEL" ;;
esac

# --- job directory (9p tag vmjob) ----------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/run-in-vm.XXXXXX")
QPID= READERS=()
cleanup() {
  set +e
  if [ -n "$QPID" ]; then kill "$QPID" 2>/dev/null; wait "$QPID" 2>/dev/null; fi
  local p; for p in "${READERS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ "${VM_KEEP_TMP:-0}" = 1 ]; then echo "run-in-vm: kept $T" >&2; else rm -rf -- "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$T/job"
chmod 0700 "$T"; chmod 0755 "$T/job"   # the guest sees the modes of job/
qe() { printf '%s' "${1//,/,,}"; }     # escape ',' in qemu option values

FSDEV_ARGS=() JOB_SHARES= n=0
add_share() {  # hostdir guestdir mode
  local host=$1 guest=$2 mode=$3
  [ -d "$host" ] || die "not a directory: $host"
  case "$guest" in /*) ;; *) die "guest path must be absolute: $guest" ;; esac
  case "$guest" in *[[:space:]:]*) die "guest path must not contain blanks or ':': $guest" ;; esac
  host=$(cd "$host" && pwd)
  FSDEV_ARGS+=(-fsdev "local,id=fs$n,path=$(qe "$host"),security_model=none,readonly=on"
               -device "virtio-9p-pci,fsdev=fs$n,mount_tag=vmshare$n")
  JOB_SHARES="$JOB_SHARES vmshare$n:$guest:$mode"
  [ -n "$WORKDIR" ] || WORKDIR=$guest
  n=$((n + 1))
}
for s in "${SHARES[@]}"; do
  case "$s" in *:*) add_share "${s%%:*}" "${s#*:}" ro ;; *) add_share "$s" /mnt/host ro ;; esac
done
for s in "${COPIES[@]}"; do
  case "$s" in *:*) add_share "${s%%:*}" "${s#*:}" copy ;; *) add_share "$s" /home/dev/work copy ;; esac
done
[ -n "$WORKDIR" ] || WORKDIR=/home/dev
[ "$MODE" = root ] && [ "$WORKDIR" = /home/dev ] && WORKDIR=/root

JOB_MODE=$MODE; [ "$SHELL_MODE" = 1 ] && JOB_MODE=shell
{
  printf 'JOB_MODE=%q\n' "$JOB_MODE"
  printf 'JOB_SHARES=%q\n' "$JOB_SHARES"
} > "$T/job/job.env"
{
  echo '#!/bin/bash'
  for e in "${ENVS[@]}"; do
    case "$e" in [A-Za-z_]*=*) ;; *) die "bad --env $e" ;; esac
    printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
  done
  printf 'cd -- %q || exit 126\n' "$WORKDIR"
  if [ $# -gt 0 ]; then printf 'exec'; printf ' %q' "$@"; printf '\n'; fi
} > "$T/job/cmd.sh"
chmod 0644 "$T/job/job.env" "$T/job/cmd.sh"

# --- output channels -------------------------------------------------------------
# virtio-serial ports vmtest.stdout / vmtest.stderr -> FIFOs -> our stdout/stderr
mkfifo "$T/stdout.fifo" "$T/stderr.fifo" "$T/console.fifo"
if [ "$SHELL_MODE" = 0 ]; then
  cat "$T/stdout.fifo" & READERS+=($!)
  cat "$T/stderr.fifo" >&2 & READERS+=($!)
  if [ "$CONSOLE" = 1 ]; then
    tee "$T/console.log" < "$T/console.fifo" >&2 & READERS+=($!)
  else
    cat "$T/console.fifo" > "$T/console.log" & READERS+=($!)
  fi
  SERIAL_ARGS=(-chardev "file,id=con,path=$(qe "$T/console.fifo")" -serial chardev:con)
else
  cat "$T/stdout.fifo" > /dev/null & READERS+=($!)
  cat "$T/stderr.fifo" > /dev/null & READERS+=($!)
  SERIAL_ARGS=(-serial mon:stdio)
fi

# no_timer_check: under emulation on a loaded host the kernel's IO-APIC
# timer check can fail and panic the boot ("IO-APIC + timer doesn't work")
CMDLINE="console=ttyS0,115200 root=/dev/vda rw panic=-1 mitigations=off no_timer_check vmtest.job=1"
if [ "$VERBOSE" = 1 ]; then
  CMDLINE="$CMDLINE loglevel=6 systemd.show_status=yes"
else
  CMDLINE="$CMDLINE quiet loglevel=3 systemd.show_status=error"
fi
# cgroup v2 only (the bookworm default; explicit so it can't silently change)
case " ${KARGS[*]} " in
  *systemd.unified_cgroup_hierarchy=*|*systemd.legacy_systemd_cgroup_controller=*) ;;
  *) CMDLINE="$CMDLINE systemd.unified_cgroup_hierarchy=1" ;;
esac
# no root autologin on the console (and no root user manager) in job mode
[ "$SHELL_MODE" = 1 ] || CMDLINE="$CMDLINE systemd.mask=serial-getty@ttyS0.service"
[ ${#KARGS[@]} = 0 ] || CMDLINE="$CMDLINE ${KARGS[*]}"

QEMU_ARGS=(
  -nodefaults -no-user-config -machine "${VM_MACHINE:-q35}" "${ACCEL_ARGS[@]}"
  -smp "$CPUS" -m "$MEM" -display none -no-reboot
  -kernel "$IMG/vmlinux" -initrd "$IMG/initrd.img" -append "$CMDLINE"
  -drive "file=$(qe "$IMG/rootfs.ext4"),if=virtio,format=raw,snapshot=on,cache=unsafe"
  -device virtio-rng-pci
  "${SERIAL_ARGS[@]}"
  -device virtio-serial-pci,id=vser0
  -chardev "file,id=vmout,path=$(qe "$T/stdout.fifo")" -device virtserialport,bus=vser0.0,chardev=vmout,name=vmtest.stdout
  -chardev "file,id=vmerr,path=$(qe "$T/stderr.fifo")" -device virtserialport,bus=vser0.0,chardev=vmerr,name=vmtest.stderr
  -fsdev "local,id=fsjob,path=$(qe "$T/job"),security_model=none" -device virtio-9p-pci,fsdev=fsjob,mount_tag=vmjob
  "${FSDEV_ARGS[@]}"
)

if [ "$SHELL_MODE" = 1 ]; then
  echo "run-in-vm: interactive shell ($ACCEL); quit with Ctrl-A x or 'poweroff'" >&2
  set +e; "$QEMU" "${QEMU_ARGS[@]}"; rc=$?; set -e
  exit $rc
fi

# --- boot, wait, collect ---------------------------------------------------------
START=$(date +%s) START_NS=$(date +%s.%N)
"$QEMU" "${QEMU_ARGS[@]}" > "$T/qemu.out" 2>&1 &
QPID=$!
status=running rc_seen_at= started_at=
while kill -0 "$QPID" 2>/dev/null; do
  now=$(date +%s)
  [ -z "$started_at" ] && [ -e "$T/job/started" ] && started_at=$(date +%s.%N)
  if [ -e "$T/job/rc" ]; then
    # command done; the guest is powering off. Don't wait for it forever.
    [ -n "$rc_seen_at" ] || rc_seen_at=$now
    if [ $((now - rc_seen_at)) -ge 30 ]; then kill "$QPID" 2>/dev/null || true; fi
  elif [ ! -e "$T/job/started" ] && [ $((now - START)) -ge "$BOOT_TIMEOUT" ]; then
    status=boot-timeout; kill "$QPID" 2>/dev/null || true
  elif [ $((now - START)) -ge "$TIMEOUT" ]; then
    status=timeout; kill "$QPID" 2>/dev/null || true
  fi
  sleep 0.2
done
set +e; wait "$QPID"; qrc=$?; set -e
QPID=
# readers finish when qemu has closed the FIFOs; unblock any still waiting
for _ in $(seq 20); do
  alive=0; for p in "${READERS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.1
done
for p in "${READERS[@]}"; do kill "$p" 2>/dev/null || true; done
READERS=()
[ -n "$LOGFILE" ] && cp "$T/console.log" "$LOGFILE" 2>/dev/null || true

ELAPSED=$(( $(date +%s) - START ))
show_console() {
  echo "run-in-vm: ---- qemu output ----" >&2; cat "$T/qemu.out" >&2 || true
  echo "run-in-vm: ---- last 60 lines of the guest console (more with --verbose) ----" >&2
  if [ -s "$T/console.log" ]; then tail -n 60 "$T/console.log" >&2; else echo "(empty)" >&2; fi
}
if [ -s "$T/job/error" ]; then
  echo "run-in-vm: job runner error: $(cat "$T/job/error")" >&2
  show_console; exit 125
fi
if [ -e "$T/job/rc" ]; then
  rc=$(cat "$T/job/rc")
  if [ -n "${VM_TIMING:-}" ]; then
    awk -v a="$ACCEL" -v s="$START_NS" -v b="${started_at:-0}" -v e="$(date +%s.%N)" -v rc="$rc" \
      'BEGIN { printf "run-in-vm: accel=%s boot-to-command=%.1fs total=%.1fs rc=%s\n", a, b - s, e - s, rc }' >&2
  fi
  exit "$rc"
fi
case "$status" in
  boot-timeout) echo "run-in-vm: command did not start within ${BOOT_TIMEOUT}s" >&2; show_console; exit 124 ;;
  timeout) echo "run-in-vm: timed out after ${TIMEOUT}s" >&2; show_console; exit 124 ;;
esac
echo "run-in-vm: VM exited (qemu status $qrc) without a result" >&2
show_console
exit 125
