#!/bin/bash
# suite-checks.sh - runs test binaries of burrow's suite (cargo test
# --no-run builds, shared by run-cgroup-tests.sh in /mnt/b/tests, with the
# names to run in NAME.filters) inside the
# test VM as dev, an unprivileged user with subordinate ids, on the guest's
# kernel. Tests for a user without subordinate ids skip (they say SKIP).
# Prints each binary's failures in full and ends with
# "vm-suite: N passed, N failed, N skipped".
set -u
export HOME=/home/dev
cd "$HOME" || exit 1
passed=0 failed=0 skipped=0
for t in /mnt/b/tests/*; do
  case "$t" in *.filters) continue ;; esac
  name=${t##*/}
  log=/tmp/suite-$name.log
  filters=()
  [ -f "$t.filters" ] && mapfile -t filters < "$t.filters"
  start=$(date +%s)
  "$t" --test-threads 2 "${filters[@]}" > "$log" 2>&1
  rc=$?
  p=$(grep -c '^test .* \.\.\. ok' "$log")
  f=$(grep -c '^test .* \.\.\. FAILED' "$log")
  s=$(grep -c '^SKIP' "$log")
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  echo "== $name: $p passed, $f failed, $s skipped, exit $rc, $(( $(date +%s) - start ))s"
  grep '^SKIP' "$log" | sed 's/^/  /'
  if [ "$rc" != 0 ]; then
    [ "$f" -gt 0 ] || failed=$((failed + 1))
    sed -n '/^failures:/,$p' "$log" | head -n 300
    [ "$f" -gt 0 ] || tail -n 50 "$log"
  fi
done
echo "vm-suite: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
