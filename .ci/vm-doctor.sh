#!/usr/bin/env bash
# Runs `burrow doctor` in the throwaway systemd VM of tests/vm (cgroup v2,
# a logind session, linger, delegated controllers), which this CI host
# lacks, and checks that what this host cannot show comes out ok there.
# Needs root, target/debug/burrow and the packages of .ci/packages.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=tests/vm/run-in-vm.sh

share=$(mktemp -d)
trap 'rm -rf "$share"' EXIT
chmod 755 "$share"
install -m0755 target/debug/burrow "$share/burrow"
cat > "$share/check.sh" <<'EOF'
#!/bin/sh
# In the VM, as dev (uid 1000) in a login session.
pass=0 fail=0
expect() {
    if printf '%s\n' "$out" | grep -q "^$1"; then
        pass=$((pass + 1))
    else
        echo "FAILED: no line starting with: $1"
        fail=$((fail + 1))
    fi
}
# nf_tables is a module on Debian's kernel: doctor's probe (the port
# filter of user networks, asked for from dev's own user namespace) must
# get it loaded; the guest loads it for nothing else.
mods() { grep -o '^\(nf_tables\|nfnetlink\) ' /proc/modules | tr -d ' ' | sort | tr '\n' ' '; }
echo "modules before doctor: $(mods)"
out=$(/mnt/b/burrow doctor)
status=$?
echo "modules after doctor: $(mods)"
case " $(mods) " in
  *" nf_tables "*) pass=$((pass + 1)) ;;
  *) echo "FAILED: nf_tables is not loaded after doctor's probe"; fail=$((fail + 1)) ;;
esac
printf '%s\n' "$out"
if [ "$status" = 0 ]; then pass=$((pass + 1)); else echo "FAILED: doctor exited $status"; fail=$((fail + 1)); fi
expect "ok    user namespaces "
expect "ok    overlay "
expect "ok    cgroups         cgroup v2; controllers delegated to you: "
expect "ok    runtime dir     /run/user/1000/burrow (XDG_RUNTIME_DIR, yours)"
expect "ok    systemd session user bus at "
expect "ok    linger          enabled for dev"
expect "ok    nftables        a user namespace can filter its own network's ports"
# As after su: no XDG_RUNTIME_DIR.
out=$(env -u XDG_RUNTIME_DIR /mnt/b/burrow doctor)
expect "warn  runtime dir     XDG_RUNTIME_DIR is not set; using /tmp/burrow-1000 "
echo "vm-doctor: $pass passed, $fail failed"
[ "$fail" = 0 ]
EOF
chmod 755 "$share/check.sh"
"$vm" --share "$share:/mnt/b" -- /mnt/b/check.sh
