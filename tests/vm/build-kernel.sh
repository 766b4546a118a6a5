#!/bin/bash
# build-kernel.sh SUITE - the guest of build-image.sh booted with another
# Debian release's stock kernel (e.g. bullseye: 5.10, below the 5.11 that
# allows overlayfs in user namespaces), for the kernel matrix run by hand
# (see README.md). The root filesystem is the cached Debian 12 one, shared
# (hard link, booted with snapshot=on); the kernel's modules that the guest
# needs (disk, 9p shares, virtio consoles, overlay, fuse, tun) are loaded by
# the initramfs, since the root filesystem has only 6.1's.
# Prints the image directory on stdout: VM_IMAGE_DIR=$(build-kernel.sh
# bullseye) tests/vm/run-in-vm.sh ... boots it.
# Needs root, apt-get, dpkg-deb, xz, network access to the Debian mirror.
set -euo pipefail
SUITE=${1:?usage: build-kernel.sh SUITE (e.g. bullseye)}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_MIRROR=${VM_MIRROR:-http://deb.debian.org/debian}
exec 3>&1 1>&2
log() { echo "build-kernel: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

BASE=$("$HERE/build-image.sh" --print-dir)
OUT=$BASE-$SUITE-kernel
if [ -f "$OUT/ok" ]; then echo "$OUT" >&3; exit 0; fi

T=$(mktemp -d)
trap 'rm -rf -- "$T"' EXIT
mkdir -p "$T/lists/partial" "$T/cache/archives/partial" "$T/k" "$T/ir/bin" "$T/ir/mods" \
  "$T/ir/proc" "$T/ir/sys" "$T/ir/dev" "$T/ir/newroot"
echo "deb $VM_MIRROR $SUITE main" > "$T/sources.list"
: > "$T/status"
APT=(-o "Dir::Etc::SourceList=$T/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$T/lists" -o "Dir::Cache=$T/cache" -o "Dir::State::status=$T/status"
     -o APT::Sandbox::User=root)
apt-get "${APT[@]}" -qq update
KPKG=$(apt-cache "${APT[@]}" depends linux-image-amd64 |
  sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 in $SUITE"
(cd "$T" && apt-get "${APT[@]}" -qq download "$KPKG")
dpkg-deb -x "$T"/"$KPKG"_*.deb "$T/k"
KVER=${KPKG#linux-image-}
MODS=$T/k/lib/modules/$KVER
log "kernel $KVER"

# Modules and what they depend on (the depends= of their .modinfo).
file_of() { find "$MODS" -name "$1.ko" -o -name "$1.ko.xz" | head -n1; }
declare -A seen=()
order=()
add() {
  local m=${1//-/_} f d
  [ -n "${seen[$m]:-}" ] && return 0
  seen[$m]=1
  f=$(file_of "$m"); [ -n "$f" ] || f=$(file_of "${1//_/-}")
  [ -n "$f" ] || { log "$m: built in"; return 0; }
  case "$f" in *.xz) xz -dc "$f" > "$T/ir/mods/$m.ko" ;; *) cp "$f" "$T/ir/mods/$m.ko" ;; esac
  for d in $(tr '\0' '\n' < "$T/ir/mods/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do add "$d"; done
  order+=("$m")
}
for m in virtio_pci virtio_blk crc32c_generic ext4 9p 9pnet_virtio virtio_console \
         overlay fuse tun veth bridge; do
  add "$m"
done
printf '%s\n' "${order[@]}" > "$T/ir/modules"

cp /bin/busybox "$T/ir/bin/busybox"
cat > "$T/ir/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
fail() { echo "initramfs: $*" > /dev/console; $B sleep 1; $B poweroff -f; }
for m in $($B cat /modules); do $B insmod /mods/$m.ko 2>/dev/null; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do $B sleep 0.05; i=$((i + 1)); done
$B mount -t ext4 -o rw,noatime /dev/vda /newroot || fail "cannot mount /dev/vda"
$B umount /proc /sys
$B mount --move /dev /newroot/dev
exec $B switch_root /newroot /sbin/init
INIT
chmod 0755 "$T/ir/init"

mkdir -p "$OUT.tmp"
(cd "$T/ir" && find . | "$T/ir/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -1 > "$OUT.tmp/initrd.img"
V=$T/k/boot/vmlinuz-$KVER
off=$(LC_ALL=C grep -aobP '\xfd7zXZ\x00' "$V" | head -n1 | cut -d: -f1)
if [ -n "$off" ] && tail -c +$((off + 1)) "$V" | xz -dcq > "$OUT.tmp/vmlinux" 2>/dev/null &&
   [ "$(head -c4 "$OUT.tmp/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
  :
else
  cp "$V" "$OUT.tmp/vmlinux"   # qemu boots a bzImage too
fi
ln -f "$BASE/rootfs.ext4" "$OUT.tmp/rootfs.ext4" 2>/dev/null || cp --sparse=always "$BASE/rootfs.ext4" "$OUT.tmp/rootfs.ext4"
printf 'suite=%s\nkernel=%s\nbase=%s\n' "$SUITE" "$KVER" "$BASE" > "$OUT.tmp/build-info"
touch "$OUT.tmp/ok"
rm -rf -- "$OUT"; mv "$OUT.tmp" "$OUT"
log "done: $OUT"
echo "$OUT" >&3
