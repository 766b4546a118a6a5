#!/bin/bash
# Network throughput with iperf3, side by side in one run, as the
# unprivileged bench user: the host's loopback (the physical limit),
# burrow's --network user, slirp4netns and pasta; container-to-host TCP,
# published-port TCP and (burrow's only) container-to-container TCP on a
# user network; and the resident memory of the process carrying the
# traffic (burrow's supervisor, slirp4netns, pasta) while it does.
#
#   sudo SECS=10 bench/net.sh            # prints a markdown table
#
# Everything runs on loopback and in namespaces the script makes. The
# container runs the host's iperf3 through read-only binds of /usr.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SECS=${SECS:-5}
need iperf3 iperf3
need slirp4netns slirp4netns
need pasta passt
setup_work
chmod 0666 /dev/net/tun 2>/dev/null || true

# A busybox image; iperf3 and its libraries come from the host.
as_user '
    set -e
    rm -rf "$WORK/netroot" && mkdir -p "$WORK/netroot/bin" "$WORK/netroot/etc" "$WORK/netroot/tmp"
    cp /bin/busybox "$WORK/netroot/bin/" && ln -sf busybox "$WORK/netroot/bin/sh"
    echo "root:x:0:0:root:/root:/bin/sh" > "$WORK/netroot/etc/passwd"
    echo "root:x:0:" > "$WORK/netroot/etc/group"
    tar -C "$WORK/netroot" -cf "$WORK/netroot.tar" .
    $BURROW rm -f netbench-out netbench-in >/dev/null 2>&1 || true
    $BURROW import "$WORK/netroot.tar" netbench >/dev/null
'
LIBS="-v /usr:/usr:ro -v /usr/lib:/lib:ro -v /usr/lib64:/lib64:ro"

# gbits FILE: the receiver's rate in an iperf3 -J report.
gbits() { python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9))' "$1"; }

# peak_rss PATTERN CMD...: runs CMD, sampling the largest RSS (MB) of the
# processes whose command line matches PATTERN; prints it to fd 3.
peak_rss() {
    local pattern=$1; shift
    "$@" & local job=$! peak=0
    while kill -0 $job 2>/dev/null; do
        for p in $(pgrep -f "$pattern" || true); do
            r=$(awk '/VmRSS/{print $2}' /proc/$p/status 2>/dev/null || echo 0)
            [ "${r:-0}" -gt "$peak" ] && peak=$r
        done
        sleep 0.2
    done
    wait $job || true
    echo $((peak / 1024)) >&3
}

# client PORT NAME: iperf3 to a published port, retried while the server
# behind it starts (the forwarder listens before the server does).
client() {
    as_user "for i in \$(seq 30); do iperf3 -c 127.0.0.1 -p $1 -t $SECS -J > $out/$2.json && break; sleep 0.3; done"
}

# wait_port PORT: until something listens on TCP PORT (10 s at most).
wait_port() { for _ in $(seq 100); do ss -ltn | grep -q ":$1 " && return; sleep 0.1; done; }

out=$WORK/net-results; rm -rf "$out"; mkdir -p "$out"; chown "$BENCH_USER:" "$out"
as_user "iperf3 -s -D -B 127.0.0.1 -p 5201 --pidfile $out/iperf-host.pid"
sleep 0.5

# 1. The host's loopback.
as_user "iperf3 -c 127.0.0.1 -p 5201 -t $SECS -J > $out/loopback.json"

# 2. Container to host: burrow.
exec 3>"$out/burrow-rss"
peak_rss "burrow run --rm --name netbench-out" as_user "\$BURROW run --rm --name netbench-out $LIBS netbench iperf3 -c host.containers.internal -p 5201 -t $SECS -J > $out/burrow-out.json"
exec 3>&-

# 3. Container to host: slirp4netns (10.0.2.2 is the host's loopback).
exec 3>"$out/slirp-rss"
peak_rss "slirp4netns --configure" as_user "
    unshare -Urn sleep 600 & ns=\$!; sleep 0.3
    slirp4netns --configure --mtu=65520 --api-socket $out/slirp.sock \$ns tap0 >/dev/null 2>&1 & sl=\$!; sleep 0.5
    nsenter --preserve-credentials -U -n -t \$ns iperf3 -c 10.0.2.2 -p 5201 -t $SECS -J > $out/slirp-out.json
    kill \$sl \$ns"
exec 3>&-

# 4. Container to host: pasta, on its fast path (-T: the namespace's
# loopback port spliced to the host's; its tap path to the gateway address
# is far slower here).
exec 3>"$out/pasta-rss"
peak_rss "pasta --config-net" as_user "pasta --config-net -T 5201 -- iperf3 -c 127.0.0.1 -p 5201 -t $SECS -J > $out/pasta-out.json"
exec 3>&-

# 5. Published port: burrow (host 15201 -> container 5201).
as_user "\$BURROW run --rm --name netbench-in -p 127.0.0.1:15201:5201 $LIBS netbench iperf3 -s -1 -p 5201 >/dev/null 2>&1 &"
wait_port 15201; sleep 1
client 15201 burrow-in

# 6. Published port: pasta (-t 15202:5202; 5201 inside is taken by pasta's
# own automatic forwarding of the host's bound ports).
as_user "pasta --config-net -t 15202:5202 -- iperf3 -s -1 -p 5202 >/dev/null 2>&1 &"
wait_port 15202; sleep 3
client 15202 pasta-in

# 7. Published port: slirp4netns's own port forwarder (add_hostfwd).
as_user "
    unshare -Urn sleep 600 & ns=\$!; sleep 0.3
    slirp4netns --configure --mtu=65520 --api-socket $out/slirp-in.sock \$ns tap0 >/dev/null 2>&1 & sl=\$!; sleep 0.5
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b\"{\\\"execute\\\":\\\"add_hostfwd\\\",\\\"arguments\\\":{\\\"proto\\\":\\\"tcp\\\",\\\"host_addr\\\":\\\"127.0.0.1\\\",\\\"host_port\\\":15203,\\\"guest_port\\\":5201}}\"); s.recv(1000)' $out/slirp-in.sock
    nsenter --preserve-credentials -U -n -t \$ns iperf3 -s -1 -p 5201 >/dev/null 2>&1 & sleep 0.5
    iperf3 -c 127.0.0.1 -p 15203 -t $SECS -J > $out/slirp-in.json
    kill \$sl \$ns"

# 8. Container to container on one user network: the kernel's path (a
# veth pair each, a bridge in the user's network namespace), against the
# host's loopback measured again just before it, side by side.
as_user "iperf3 -c 127.0.0.1 -p 5201 -t $SECS -J > $out/loopback2.json"
as_user "
    \$BURROW rm -f netbench-srv >/dev/null 2>&1; \$BURROW network rm netbench-net >/dev/null 2>&1
    \$BURROW network create netbench-net >/dev/null
    \$BURROW run -d --name netbench-srv --network netbench-net $LIBS netbench iperf3 -s -1 -p 5201 >/dev/null
    for i in \$(seq 30); do \$BURROW run --rm --network netbench-net $LIBS netbench iperf3 -c netbench-srv -p 5201 -t $SECS -J > $out/c2c.json && break; sleep 0.3; done
    \$BURROW rm -f netbench-srv >/dev/null; \$BURROW network rm netbench-net >/dev/null"

kill "$(cat "$out/iperf-host.pid")" 2>/dev/null || true

echo "| path | host loopback | burrow | slirp4netns | pasta |"
echo "| --- | --- | --- | --- | --- |"
echo "| container -> host TCP (Gbit/s) | $(gbits "$out/loopback.json") | $(gbits "$out/burrow-out.json") | $(gbits "$out/slirp-out.json") | $(gbits "$out/pasta-out.json") |"
echo "| published port TCP (Gbit/s) | $(gbits "$out/loopback.json") | $(gbits "$out/burrow-in.json") | $(gbits "$out/slirp-in.json") | $(gbits "$out/pasta-in.json") |"
echo "| container -> container, one user network, TCP (Gbit/s) | $(gbits "$out/loopback2.json") | $(gbits "$out/c2c.json") | - | - |"
echo "| peak RSS while carrying (MB) | - | $(cat "$out/burrow-rss") | $(cat "$out/slirp-rss") | $(cat "$out/pasta-rss") |"
