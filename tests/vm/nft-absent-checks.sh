#!/bin/bash
# nft-absent-checks.sh - user networks on a kernel that gives the user's
# namespace no nftables, in the test VM (by hand; not part of CI):
#
#   share=$(mktemp -d) && install -m0755 target/debug/burrow tests/vm/nft-absent-checks.sh "$share/"
#   tests/vm/run-in-vm.sh --mode root --share "$share:/mnt/b" -- /mnt/b/nft-absent-checks.sh
#
# As root, it forbids loading nf_tables (an `install nf_tables /bin/false`
# line in /etc/modprobe.d, as an admin's policy would); then, as dev in a
# login session: `burrow doctor` warns with the admin's fix, containers on
# a user network still reach each other by name, the first start says
# once that the ports are unfiltered and the next does not. Ends with
# "nft-absent: N passed, N failed".
set -u
if [ "$(id -u)" = 0 ]; then
  echo 'install nf_tables /bin/false' > /etc/modprobe.d/burrow-no-nf_tables.conf
  if grep -q '^nf_tables ' /proc/modules; then
    echo "nft-absent: nf_tables is already loaded; nothing to check"
    exit 1
  fi
  exec su -l dev -c "/mnt/b/nft-absent-checks.sh"
fi

B=/mnt/b/burrow
pass=0 fail=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "PASS: $what"; pass=$((pass + 1)); else echo "FAIL: $what"; fail=$((fail + 1)); fi
}
has() { grep -q -- "$2" "$1"; }
lacks() { ! grep -q -- "$2" "$1"; }
cd "$HOME" || exit 1

# A busybox image from the guest's static busybox.
R=$(mktemp -d)
mkdir -p "$R/bin" "$R/etc" "$R/tmp"
cp /bin/busybox "$R/bin/"
for a in sh nc sleep; do ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
tar -C "$R" --owner=0 --group=0 -cf /tmp/bb.tar .
"$B" import /tmp/bb.tar bb >/dev/null || { echo "FAIL: import"; exit 1; }

"$B" doctor > /tmp/doctor.out 2>&1
grep -A3 'nftables' /tmp/doctor.out
check "doctor warns that a user namespace gets no nftables here" has /tmp/doctor.out '^warn  nftables        a user namespace gets no nftables here'
check "doctor's fix is the admin's modprobe" has /tmp/doctor.out 'sudo modprobe nf_tables'
check "nf_tables stayed unloaded" lacks /proc/modules '^nf_tables '

"$B" network create absentnet >/dev/null
"$B" run -d --name srv --network absentnet bb nc -ll -p 80 -e echo from-srv > /tmp/run1.out 2>&1
sleep 2
"$B" logs srv > /tmp/srv.log 2>&1
cat /tmp/run1.out /tmp/srv.log
check "the first start warns that the ports are unfiltered, with the fix" has /tmp/srv.log "Warning: this kernel has no nftables for burrow's user networks.*modprobe nf_tables"
ok=0
for _ in $(seq 20); do
  "$B" run --rm --network absentnet bb nc -w 5 srv 80 < /dev/null > /tmp/client.out 2> /tmp/client.err
  if grep -q from-srv /tmp/client.out; then ok=1; break; fi
  sleep 1
done
cat /tmp/client.out /tmp/client.err
check "a container on the network reaches another by name" test "$ok" = 1
check "the next start does not warn again" lacks /tmp/client.err 'nftables'
"$B" rm -f srv >/dev/null 2>&1
"$B" network rm absentnet >/dev/null 2>&1
echo "nft-absent: $pass passed, $fail failed"
[ "$fail" = 0 ]
