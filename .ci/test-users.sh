#!/bin/sh
# Creates the two unprivileged users the integration tests run burrow as:
# burrow-test, with subordinate uid/gid ranges, and burrow-nosub, without.
# Idempotent; run as root.
set -eu
for u in burrow-test burrow-nosub; do
    id "$u" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$u"
done
for f in /etc/subuid /etc/subgid; do
    touch "$f"
    grep -q '^burrow-test:' "$f" || echo "burrow-test:200000:65536" >> "$f"
    sed -i '/^burrow-nosub:/d' "$f"
done
# A distribution has these 0666; this VM has no udev to make them so.
chmod 0666 /dev/fuse /dev/net/tun 2>/dev/null || true
