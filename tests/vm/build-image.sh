#!/bin/bash
# build-image.sh - build (or reuse from cache) the small Debian 12 VM image
# burrow's cgroup tests run in: systemd with the unified cgroup v2 hierarchy,
# a lingering user `dev` (uid 1000, subuid/subgid 100000:65536) whose systemd
# user manager delegates cgroup controllers, and a job runner used by
# run-in-vm.sh. (This CI host has neither systemd nor cgroup v2.)
#
# Usage: build-image.sh [--force] [--print-dir] [--prune]
#   --force      rebuild even if a cached image with the same key exists
#   --print-dir  print only the image directory on stdout (for scripts)
#   --prune      delete all other image directories from the cache now
#                (otherwise entries unused for 14 days are deleted after a build)
#
# Environment (all optional):
#   VM_CACHE_DIR        cache directory (default /var/cache/burrow-vm)
#   VM_MIRROR           Debian mirror (default http://deb.debian.org/debian)
#   VM_SECURITY_MIRROR  security mirror (default http://deb.debian.org/debian-security)
#   VM_EXTRA_PACKAGES   extra packages, comma or space separated
#   VM_DISK_SIZE        size of the (sparse) ext4 root image (default 4G)
#   VM_DELEGATE         controllers for a user@.service Delegate= drop-in
#                       (default "cpu cpuset io memory pids"; "distro" = no drop-in,
#                       i.e. what Debian 12's systemd 252 delegates: cpu memory pids)
#   VM_MAX_AGE_DAYS     rebuild a cached image older than this (default 0 = never;
#                       e.g. 30 to pick up Debian security updates regularly)
#   VM_CUSTOMIZE_SCRIPT an extra script run as a last mmdebstrap customize hook
#                       with the root file system path as $1 (its content is
#                       part of the cache key), for project-specific setup
#
# The output directory ($VM_CACHE_DIR/<key>/) contains:
#   rootfs.ext4   raw ext4 root file system (boot it with snapshot=on)
#   vmlinux       uncompressed kernel (PVH entry point: no decompression at boot)
#   vmlinuz       the original bzImage (fallback)
#   initrd.img    tiny busybox initramfs that loads virtio/ext4 and switch_roots
#   build-info    what/when/how long
# The key is a hash of this script and the settings above, so editing the
# script or changing a setting triggers a rebuild; everything else is cached.
# Needs: root, mmdebstrap, mke2fs (e2fsprogs), xz, sha256sum, flock.
set -euo pipefail

FORCE=0 PRINT_DIR=0 PRUNE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --print-dir) PRINT_DIR=1 ;;
    --prune) PRUNE=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

# stdout is reserved for --print-dir; everything else goes to stderr
exec 3>&1 1>&2
log() { echo "build-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap root mode, device nodes, ownership)"
for t in mmdebstrap mke2fs xz sha256sum flock; do
  command -v "$t" >/dev/null || die "missing tool: $t"
done

VM_CACHE_DIR=${VM_CACHE_DIR:-/var/cache/burrow-vm}
VM_MIRROR=${VM_MIRROR:-http://deb.debian.org/debian}
VM_SECURITY_MIRROR=${VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
VM_EXTRA_PACKAGES=${VM_EXTRA_PACKAGES:-}
VM_DISK_SIZE=${VM_DISK_SIZE:-4G}
VM_DELEGATE=${VM_DELEGATE:-cpu cpuset io memory pids}
VM_MAX_AGE_DAYS=${VM_MAX_AGE_DAYS:-0}
VM_CUSTOMIZE_SCRIPT=${VM_CUSTOMIZE_SCRIPT:-}
if [ -n "$VM_CUSTOMIZE_SCRIPT" ]; then
  [ -f "$VM_CUSTOMIZE_SCRIPT" ] || die "VM_CUSTOMIZE_SCRIPT $VM_CUSTOMIZE_SCRIPT not found"
  VM_CUSTOMIZE_SCRIPT=$(cd "$(dirname "$VM_CUSTOMIZE_SCRIPT")" && pwd)/$(basename "$VM_CUSTOMIZE_SCRIPT")
fi
SUITE=bookworm

PACKAGES="systemd,systemd-sysv,udev,dbus,dbus-user-session,libpam-systemd,uidmap,\
fuse-overlayfs,fuse3,iproute2,ca-certificates,sudo,busybox-static,kmod,procps,psmisc,less"
if [ -n "$VM_EXTRA_PACKAGES" ]; then
  PACKAGES="$PACKAGES,$(echo "$VM_EXTRA_PACKAGES" | tr ' ' ',' | sed 's/,,*/,/g; s/^,//; s/,$//')"
fi

KEY=$( { cat "${BASH_SOURCE[0]}"; printf '%s\n' "$SUITE" "$VM_MIRROR" "$VM_SECURITY_MIRROR" "$PACKAGES" "$VM_DISK_SIZE" "$VM_DELEGATE";
         [ -z "$VM_CUSTOMIZE_SCRIPT" ] || cat "$VM_CUSTOMIZE_SCRIPT"; } | sha256sum | cut -c1-16)
OUT="$VM_CACHE_DIR/$SUITE-$KEY"

mkdir -p "$VM_CACHE_DIR"
exec 9>"$VM_CACHE_DIR/.lock"
flock 9   # serialise concurrent builds / runs that build

prune_others() {  # $1 = all | stale (not used for 14 days)
  local d
  for d in "$VM_CACHE_DIR"/*/; do
    d=${d%/}
    [ "$d" = "$OUT" ] && continue
    [ -e "$d/ok" ] || [ ! -e "$d" ] || continue   # not ours / half-built: leave
    if [ "$1" = stale ] && [ -z "$(find "$d/last-used" -mtime +14 2>/dev/null)" ]; then
      continue
    fi
    log "pruning cache entry $d"
    rm -rf --one-file-system -- "$d"
  done
  find "$VM_CACHE_DIR" -maxdepth 1 -name '.build-*' -mtime +1 -exec rm -rf --one-file-system {} + 2>/dev/null || true
}

if [ "$FORCE" = 0 ] && [ -f "$OUT/ok" ]; then
  if [ "$VM_MAX_AGE_DAYS" -gt 0 ] && [ -n "$(find "$OUT/ok" -mtime +"$VM_MAX_AGE_DAYS")" ]; then
    log "cached image is older than $VM_MAX_AGE_DAYS days, rebuilding"
  else
    touch "$OUT/last-used"
    [ "$PRUNE" = 1 ] && prune_others all
    [ "$PRINT_DIR" = 1 ] && echo "$OUT" >&3 || log "cached image: $OUT"
    exit 0
  fi
fi

START=$(date +%s)
TMP="$VM_CACHE_DIR/.build-$KEY.$$"
rm -rf --one-file-system -- "$TMP"
mkdir -p "$TMP/root" "$TMP/kernel" "$TMP/initrd"
cleanup() { rm -rf --one-file-system -- "$TMP"; }
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Guest configuration, run by mmdebstrap as a customize hook ("$1" = rootfs).
# Written to a file so that it is part of the cache key via this script.
# ---------------------------------------------------------------------------
cat > "$TMP/customize.sh" <<'CUSTOMIZE'
#!/bin/bash
set -euo pipefail
R=$1
in_root() { chroot "$R" "$@"; }

# --- kernel: unpack linux-image (no initramfs-tools, no postinst) ----------
KPKG=$(in_root apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
[ -n "$KPKG" ] || { echo "cannot resolve linux-image-amd64" >&2; exit 1; }
in_root sh -c "cd /tmp && apt-get -q download $KPKG" >&2
dpkg-deb -x "$R"/tmp/"$KPKG"_*.deb "$KTMP"
rm -f "$R"/tmp/"$KPKG"_*.deb
KVER=${KPKG#linux-image-}
mkdir -p "$R/usr/lib/modules"
cp -a "$KTMP/lib/modules/$KVER" "$R/usr/lib/modules/"
# drop drivers a VM never needs (~70% of the 400 MB module tree)
for d in drivers/gpu drivers/media drivers/net/wireless drivers/net/ethernet drivers/infiniband \
         drivers/staging drivers/comedi drivers/isdn drivers/bluetooth drivers/iio drivers/usb \
         drivers/scsi drivers/ata drivers/mtd drivers/nfc drivers/hwmon drivers/thunderbolt \
         drivers/firewire drivers/mmc drivers/pcmcia drivers/w1 drivers/video drivers/atm \
         drivers/target drivers/hid drivers/input sound net/wireless net/mac80211 net/bluetooth \
         fs/ocfs2 fs/gfs2 fs/ceph fs/smb fs/cifs fs/nfsd; do
  rm -rf "$R/usr/lib/modules/$KVER/kernel/$d"
done
in_root depmod -a "$KVER"
echo "$KVER" > "$R/etc/vm-kernel-version"

# --- basic system -----------------------------------------------------------
echo vmtest > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvmtest\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
printf '/dev/vda\t/\text4\trw,noatime\t0\t0\n' > "$R/etc/fstab"
# modules udev would autoload for emulated q35 chipset/CPU features: useless
# here and slow to load under TCG
{
  for m in lpc_ich i2c_i801 i2c_smbus iTCO_wdt iTCO_vendor_support pcspkr serio_raw \
           intel_rapl_msr intel_rapl_common intel_pmc_core kvm kvm_intel kvm_amd \
           aesni_intel ghash_clmulni_intel sha1_ssse3 sha256_ssse3 sha512_ssse3 \
           crc32_pclmul crct10dif_pclmul polyval_clmulni cryptd joydev evdev; do
    echo "blacklist $m"
  done
} > "$R/etc/modprobe.d/vmtest-blacklist.conf"
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' > "$R/etc/systemd/journald.conf.d/volatile.conf"
# modules for the host<->guest channels (udev would load them too)
printf '9p\n9pnet_virtio\nvirtio_console\n' > "$R/etc/modules-load.d/vmtest.conf"

# --- users ------------------------------------------------------------------
in_root passwd -d root >/dev/null
in_root useradd -m -u 1000 -U -s /bin/bash dev
in_root passwd -d dev >/dev/null
if [ -x "$R/usr/bin/sudo" ]; then
  in_root usermod -aG sudo dev
  echo 'dev ALL=(ALL) NOPASSWD: ALL' > "$R/etc/sudoers.d/dev"
  chmod 0440 "$R/etc/sudoers.d/dev"
fi
echo 'dev:100000:65536' > "$R/etc/subuid"
echo 'dev:100000:65536' > "$R/etc/subgid"
mkdir -p "$R/var/lib/systemd/linger"
touch "$R/var/lib/systemd/linger/dev"        # = loginctl enable-linger dev

# --- cgroup delegation to the user manager ---------------------------------
if [ "$VM_DELEGATE" != distro ]; then
  mkdir -p "$R/etc/systemd/system/user@.service.d"
  printf '[Service]\nDelegate=%s\n' "$VM_DELEGATE" > "$R/etc/systemd/system/user@.service.d/delegate.conf"
fi

# --- serial console: root autologin (interactive --shell mode) -------------
mkdir -p "$R/etc/systemd/system/serial-getty@ttyS0.service.d"
cat > "$R/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %I $TERM
EOF

# --- trim boot: timers and units that are pointless in a throwaway VM ------
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
         e2scrub_reap.service fstrim.timer man-db.timer systemd-timesyncd.service \
         getty@tty1.service systemd-pstore.service modprobe@drm.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done

# --- job runner (see run-in-vm.sh) ------------------------------------------
install -m 0755 "$RUNNER_SRC" "$R/usr/local/sbin/vm-job-runner"
cat > "$R/etc/systemd/system/vm-job.service" <<'EOF'
[Unit]
Description=Run a job handed in by the host (run-in-vm.sh)
ConditionKernelCommandLine=vmtest.job
After=multi-user.target systemd-user-sessions.service
Wants=multi-user.target

[Service]
# exec, not oneshot: boot counts as finished (systemd-analyze works in jobs)
Type=exec
ExecStart=/usr/local/sbin/vm-job-runner
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/vm-job.service "$R/etc/systemd/system/multi-user.target.wants/vm-job.service"

# --- housekeeping -----------------------------------------------------------
in_root apt-get clean
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/log/*.log "$R"/tmp/*
# no ldconfig / first-update work at boot (ConditionNeedsUpdate)
touch "$R/etc/.updated" "$R/var/.updated"
CUSTOMIZE

# ---------------------------------------------------------------------------
# Job runner inside the guest (installed as /usr/local/sbin/vm-job-runner).
# ---------------------------------------------------------------------------
cat > "$TMP/vm-job-runner" <<'RUNNER'
#!/bin/bash
# Runs the job described in the 9p share "vmjob" as user dev, then powers off.
# job.env (written by run-in-vm.sh) sets JOB_MODE and JOB_SHARES.
J=/run/vmjob
say() { echo "vm-job-runner: $*" > /dev/ttyS0 2>/dev/null || true; }
finish() { sync; systemctl --force poweroff || poweroff -ff; exit 0; }
mkdir -p "$J"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmjob "$J"; then
  say "no vmjob share, not running a job"; exit 0
fi
# shellcheck disable=SC1091
. "$J/job.env"
port() {  # virtio-serial port by name (what udev links as /dev/virtio-ports/NAME)
  local n
  for n in /sys/class/virtio-ports/vport*; do
    [ "$(cat "$n/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${n##*/}"; return 0; }
  done
  return 1
}
fail() { say "$*"; echo "$*" > "$J/error"; echo 125 > "$J/rc"; finish; }

# shares: "tag:guestpath:mode" entries, mode = ro (9p read-only) or copy
for s in ${JOB_SHARES:-}; do
  tag=${s%%:*}; rest=${s#*:}; path=${rest%:*}; mode=${rest##*:}
  if [ "$mode" = copy ]; then
    src=/run/vmshare/$tag
    mkdir -p "$src" "$path"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro "$tag" "$src" || fail "mount $tag failed"
    cp -a "$src/." "$path/" || fail "copy of $tag failed"
    chown -R dev:dev "$path"
    umount "$src"
  else
    mkdir -p "$path"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose "$tag" "$path" || fail "mount $tag failed"
  fi
done
if [ "${JOB_MODE:-}" = shell ]; then say "shares mounted (shell mode)"; exit 0; fi

# the user manager of dev (started at boot because of linger) must be up
systemctl start user@1000.service || fail "user@1000.service did not start"
for _ in $(seq 100); do [ -S /run/user/1000/bus ] && break; sleep 0.1; done
[ -S /run/user/1000/bus ] || fail "no user D-Bus socket /run/user/1000/bus"
udevadm settle --timeout=10 || true
OUT=$(port vmtest.stdout) || fail "no virtio-serial port vmtest.stdout"
ERR=$(port vmtest.stderr) || fail "no virtio-serial port vmtest.stderr"
date +%s.%N > "$J/started"
case "${JOB_MODE:-session}" in
  session)  # login session (pam_systemd -> session-N.scope), like a terminal/ssh
    su -l dev -c "exec /bin/bash $J/cmd.sh" < /dev/null > "$OUT" 2> "$ERR"
    rc=$? ;;
  service)  # transient service with Delegate=yes inside the user manager
    runuser -u dev -- env XDG_RUNTIME_DIR=/run/user/1000 \
      DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus \
      systemd-run --user --quiet --wait --pipe --collect -p Delegate=yes \
        --setenv=XDG_RUNTIME_DIR=/run/user/1000 \
        --setenv=DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus \
        -- /bin/bash "$J/cmd.sh" < /dev/null > "$OUT" 2> "$ERR"
    rc=$? ;;
  root)
    /bin/bash "$J/cmd.sh" < /dev/null > "$OUT" 2> "$ERR"
    rc=$? ;;
  *) fail "unknown JOB_MODE $JOB_MODE" ;;
esac
echo "$rc" > "$J/rc"
say "job finished, rc=$rc"
finish
RUNNER

# ---------------------------------------------------------------------------
log "building $SUITE image in $TMP (key $KEY)"
SOURCES="deb $VM_MIRROR $SUITE main
deb $VM_MIRROR $SUITE-updates main
deb $VM_SECURITY_MIRROR $SUITE-security main"

export KTMP="$TMP/kernel" RUNNER_SRC="$TMP/vm-job-runner" VM_DELEGATE
EXTRA_HOOK=()
[ -z "$VM_CUSTOMIZE_SCRIPT" ] || EXTRA_HOOK=(--customize-hook="bash '$VM_CUSTOMIZE_SCRIPT' \"\$1\"")
T0=$(date +%s)
mmdebstrap --mode=root --variant=minbase --include="$PACKAGES" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --customize-hook="bash '$TMP/customize.sh' \"\$1\"" \
  "${EXTRA_HOOK[@]}" \
  "$SUITE" "$TMP/root" - <<<"$SOURCES" 3>&-
T1=$(date +%s)

# fixed machine-id (mmdebstrap empties it): no "first boot" on every boot
tr -d '-' < /proc/sys/kernel/random/uuid > "$TMP/root/etc/machine-id"
KVER=$(cat "$TMP/root/etc/vm-kernel-version")
cp "$TMP/kernel/boot/vmlinuz-$KVER" "$TMP/vmlinuz"
# uncompressed ELF vmlinux (has a PVH note): qemu boots it directly, which
# saves the in-guest xz decompression (several seconds under TCG)
off=$(LC_ALL=C grep -aobP '\xfd7zXZ\x00' "$TMP/vmlinuz" | head -n1 | cut -d: -f1)
[ -n "$off" ] || die "no xz payload in vmlinuz"
tail -c +$((off + 1)) "$TMP/vmlinuz" | xz -dcq > "$TMP/vmlinux" 2>/dev/null || true
[ "$(head -c4 "$TMP/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || die "vmlinux extraction failed"

# --- initramfs: static busybox + the modules needed to mount /dev/vda -------
IR="$TMP/initrd"
mkdir -p "$IR/bin" "$IR/proc" "$IR/sys" "$IR/dev" "$IR/newroot" "$IR/mods"
cp "$TMP/root/bin/busybox" "$IR/bin/busybox"
for m in virtio_pci virtio_blk crc32c_generic crc32c_intel ext4; do
  chroot "$TMP/root" modprobe -S "$KVER" --show-depends "$m" 2>/dev/null || true
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' > "$TMP/modlist"
grep -q '/ext4.ko' "$TMP/modlist" || die "could not resolve initramfs modules"
: > "$IR/modules"
while read -r m; do
  cp "$TMP/root$m" "$IR/mods/"
  echo "${m##*/}" >> "$IR/modules"
done < "$TMP/modlist"
cat > "$IR/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
fail() { echo "initramfs: $*" > /dev/console; $B sleep 1; $B poweroff -f; }
for m in $($B cat /modules); do $B insmod /mods/$m 2>/dev/null; done
root=/dev/vda
for a in $($B cat /proc/cmdline); do case "$a" in root=*) root=${a#root=} ;; esac; done

while [ ! -b "$root" ] && [ $i -lt 200 ]; do $B sleep 0.05; i=$((i + 1)); done
$B mount -t ext4 -o rw,noatime "$root" /newroot || fail "cannot mount $root"
$B umount /proc /sys
$B mount --move /dev /newroot/dev
exec $B switch_root /newroot /sbin/init
INIT
chmod 0755 "$IR/init"
(cd "$IR" && find . | "$TMP/root/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -1 > "$TMP/initrd.img"

# --- root file system image (no loop mounts: mke2fs -d) ---------------------
T2=$(date +%s)
mke2fs -q -t ext4 -L vmroot -E root_owner=0:0 -d "$TMP/root" "$TMP/rootfs.ext4" "$VM_DISK_SIZE"
T3=$(date +%s)

cat > "$TMP/build-info" <<EOF
suite=$SUITE
key=$KEY
kernel=$KVER
packages=$PACKAGES
delegate=$VM_DELEGATE
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mmdebstrap_seconds=$((T1 - T0))
mke2fs_seconds=$((T3 - T2))
total_seconds=$((T3 - START))
rootfs_apparent=$(du -h --apparent-size "$TMP/rootfs.ext4" | cut -f1)
rootfs_allocated=$(du -h "$TMP/rootfs.ext4" | cut -f1)
EOF

rm -rf --one-file-system -- "$OUT"
mkdir -p "$OUT"
mv "$TMP/rootfs.ext4" "$TMP/vmlinux" "$TMP/vmlinuz" "$TMP/initrd.img" "$TMP/build-info" "$OUT/"
touch "$OUT/ok" "$OUT/last-used"
if [ "$PRUNE" = 1 ]; then prune_others all; else prune_others stale; fi
log "done in $((T3 - START))s: $OUT"
sed 's/^/build-image:   /' "$OUT/build-info" >&2
[ "$PRINT_DIR" = 1 ] && echo "$OUT" >&3
exit 0
