#!/bin/sh
# Installs burrow as every package lays it out: the binary, completions for
# bash, zsh and fish, the man pages, the AppArmor profile and the documented
# default config. Used by deb/build.sh, the RPM spec, the PKGBUILD and the
# Nix derivation, so that they cannot drift apart.
#
# usage: packaging/install.sh --binary PATH --destdir DIR [--prefix /usr]
#          [--sysconfdir /etc] [--zsh-dir share/zsh/site-functions] [--gzip-man]
#
# Without root, for yourself: `packaging/install.sh --user [--prefix DIR]`
# builds the release binary (unless --binary names one) and installs under
# ~/.local (or DIR) where each shell and man look for a user's files:
# bin/burrow, share/man, share/bash-completion/completions,
# share/fish/vendor_completions.d, share/zsh/site-functions. No AppArmor
# profile (that needs an admin).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
binary= destdir= prefix= sysconfdir=/etc zshdir=share/zsh/site-functions gzipman=no user=no
while [ $# -gt 0 ]; do
    case $1 in
        --user) user=yes; shift ;;
        --binary) binary=$2; shift 2 ;;
        --destdir) destdir=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --sysconfdir) sysconfdir=$2; shift 2 ;;
        --zsh-dir) zshdir=$2; shift 2 ;;
        --gzip-man) gzipman=yes; shift ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ "$user" = yes ]; then
    [ -z "$destdir" ] || { echo "install.sh: --user installs for you; it takes no --destdir" >&2; exit 2; }
    [ -n "$prefix" ] || prefix=$HOME/.local
    if [ -z "$binary" ]; then
        command -v cargo >/dev/null 2>&1 || { echo "install.sh: cargo is not on PATH; install Rust (rustup.rs or Debian's cargo) first" >&2; exit 1; }
        echo "install.sh: building burrow (cargo build --release; a few minutes the first time)..." >&2
        (cd "$top" && cargo build --release --locked)
        binary=$top/target/release/burrow
    fi
else
    [ -n "$prefix" ] || prefix=/usr
    [ -n "$binary" ] && [ -n "$destdir" ] || { echo "install.sh: --binary and --destdir are required (or --user)" >&2; exit 2; }
fi
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
[ "$user" = yes ] || install -Dm0644 "$here/apparmor/burrow" "$destdir$sysconfdir/apparmor.d/burrow"
install -Dm0644 "$here/config.toml" "$root/share/burrow/config.toml"
install -Dm0644 "$top/README.md" "$root/share/doc/burrow/README.md"
install -Dm0644 "$top/docs/shared-servers.md" "$root/share/doc/burrow/shared-servers.md"
if [ "$user" = yes ]; then
    echo "installed burrow in $root/bin, its man pages in $root/share/man and completions for bash, zsh and fish"
    case ":$PATH:" in
        *":$root/bin:"*) ;;
        *) echo "note: $root/bin is not on your PATH; add it in your shell's profile: export PATH=\"$root/bin:\$PATH\"" ;;
    esac
    echo "zsh: add fpath+=($root/$zshdir) before compinit in ~/.zshrc"
fi
