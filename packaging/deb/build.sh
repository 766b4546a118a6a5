#!/bin/sh
# Builds burrow's Debian package from a built binary, with dpkg-deb alone:
# stages the tree with packaging/install.sh, writes DEBIAN/, and packs it
# owned by root.
#
# usage: packaging/deb/build.sh [--binary target/release/burrow] [--out DIR]
#          [--compress xz|gzip|zstd|none]
# Prints the path of the .deb it wrote.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
binary=$top/target/release/burrow out=$top/target/deb compress=xz
while [ $# -gt 0 ]; do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --compress) compress=$2; shift 2 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$top/Cargo.toml" | head -n1)
arch=$(dpkg --print-architecture)
# The newest glibc symbol version the binary uses is the libc6 it needs.
glibc=$(LC_ALL=C grep -ao 'GLIBC_2\.[0-9][0-9]*' "$binary" | sed 's/GLIBC_//' | sort -t. -k2,2n | tail -n1)
# Packed relative relocations (build.rs) need the loader of glibc 2.36,
# which the binary names as GLIBC_ABI_DT_RELR, not as a GLIBC_2.x symbol.
if LC_ALL=C grep -aq 'GLIBC_ABI_DT_RELR' "$binary"; then
    glibc=$(printf '%s\n' "${glibc:-2.17}" 2.36 | sort -t. -k2,2n | tail -n1)
fi

mkdir -p "$out"
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"

"$top/packaging/install.sh" --binary "$binary" --destdir "$stage" \
    --zsh-dir share/zsh/vendor-completions --gzip-man
install -Dm0644 "$here/copyright" "$stage/usr/share/doc/burrow/copyright"

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: burrow
Version: $version
Architecture: $arch
Maintainer: burrow developers <dev@burrow.invalid>
Installed-Size: $size
Depends: libc6 (>= ${glibc:-2.17}), uidmap
Recommends: fuse-overlayfs
Section: admin
Priority: optional
Description: rootless, daemonless containers for people without sudo
 burrow runs OCI container images as an unprivileged user, without a
 daemon, in user namespaces. It needs no setup beyond the setuid
 newuidmap and newgidmap of uidmap; fuse-overlayfs is its fallback where
 the kernel cannot mount overlayfs in a user namespace.
 .
 burrow doctor checks a host and prints the fix for what is missing.
CONTROL
echo /etc/apparmor.d/burrow > "$stage/DEBIAN/conffiles"
install -m0755 "$here/postinst" "$stage/DEBIAN/postinst"

deb=$out/burrow_${version}_${arch}.deb
dpkg-deb --root-owner-group -Z"$compress" --build "$stage" "$deb" >/dev/null
echo "$deb"
