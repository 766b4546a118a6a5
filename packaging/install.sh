#!/bin/sh
# Installs burrow as every package lays it out: the binary, completions for
# bash, zsh and fish, the man pages, the AppArmor profile and the documented
# default config. Used by deb/build.sh, the RPM spec, the PKGBUILD and the
# Nix derivation, so that they cannot drift apart.
#
# usage: packaging/install.sh --binary PATH --destdir DIR [--prefix /usr]
#          [--sysconfdir /etc] [--zsh-dir share/zsh/site-functions] [--gzip-man]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
binary= destdir= prefix=/usr sysconfdir=/etc zshdir=share/zsh/site-functions gzipman=no
while [ $# -gt 0 ]; do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --destdir) destdir=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --sysconfdir) sysconfdir=$2; shift 2 ;;
        --zsh-dir) zshdir=$2; shift 2 ;;
        --gzip-man) gzipman=yes; shift ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$binary" ] && [ -n "$destdir" ] || { echo "install.sh: --binary and --destdir are required" >&2; exit 2; }
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable (cargo build --release first)" >&2; exit 1; }

root=$destdir$prefix
install -Dm0755 "$binary" "$root/bin/burrow"
install -Dm0644 "$top/completions/burrow.bash" "$root/share/bash-completion/completions/burrow"
install -Dm0644 "$top/completions/_burrow" "$root/$zshdir/_burrow"
install -Dm0644 "$top/completions/burrow.fish" "$root/share/fish/vendor_completions.d/burrow.fish"
for page in "$top"/man/*.[1-9]; do
    section=${page##*.}
    install -Dm0644 "$page" "$root/share/man/man$section/$(basename "$page")"
    if [ "$gzipman" = yes ]; then
        gzip -9nf "$root/share/man/man$section/$(basename "$page")"
    fi
done
install -Dm0644 "$here/apparmor/burrow" "$destdir$sysconfdir/apparmor.d/burrow"
install -Dm0644 "$here/config.toml" "$root/share/burrow/config.toml"
install -Dm0644 "$top/README.md" "$root/share/doc/burrow/README.md"
install -Dm0644 "$top/docs/shared-servers.md" "$root/share/doc/burrow/shared-servers.md"
