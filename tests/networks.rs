//! User-defined networks and their isolation, end to end, as the
//! unprivileged test user with subordinate ids: containers on one network
//! reach each other by name, alias and short id over IPv4 and IPv6 from
//! the first packet; containers on two networks do not; the errors say
//! docker's words; docker's predefined networks (bridge, host, none) are
//! listed, filtered, inspected and refused as docker's. Every address is
//! inside namespaces burrow makes (the user's network namespace and the
//! containers'), or loopback.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::fixtures::busybox_rootfs;
use common::{path_str, TestEnv, TestUser};
use std::time::Duration;

const NET_APPLETS: &[&str] = &[
    "nc", "ip", "seq", "grep", "ping", "ping6", "hostname", "cut", "head", "arping", "sleep",
];

/// A test environment (burrow-test, with subordinate ids) with a busybox
/// image `netbox` that has the network applets.
fn env_with_image(test: &str) -> Option<TestEnv> {
    env_of(test, TestUser::WithSubids)
}

/// `env_with_image` for `user`.
fn env_of(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    let mut b = busybox_rootfs();
    for a in NET_APPLETS {
        b = b.symlink(&format!("bin/{a}"), "busybox");
    }
    let tarball = env.fixture("netbox.tar", &b.finish().tar);
    env.ok(&["import", path_str(&tarball), "netbox"]);
    Some(env)
}

/// Runs `args` until it exits 0 (at most 30 s; then the test fails with
/// the last output).
fn until_ok(env: &TestEnv, args: &[&str]) -> common::Output {
    common::wait_for(
        Duration::from_secs(30),
        &format!("burrow {} to succeed", args.join(" ")),
        || {
            let out = env.run(args);
            if out.code() == Some(0) {
                Ok(out)
            } else {
                Err(out.to_string())
            }
        },
    )
}

#[test]
fn containers_on_one_network_reach_each_other_by_name_alias_and_short_id() {
    let Some(env) =
        env_with_image("containers_on_one_network_reach_each_other_by_name_alias_and_short_id")
    else {
        return;
    };
    env.ok(&["network", "create", "appnet"]);
    // A server answering every connection, on both families.
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "appnet",
            "--network-alias",
            "database",
            "netbox",
            "sh",
            "-c",
            "nc -ll -p 5432 -e echo from-db",
        ])
        .stdout
        .trim()
        .to_string();
    let short = &id[..12];
    // Until its server listens.
    let up = until_ok(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "appnet",
            "netbox",
            "nc",
            "-w",
            "5",
            "db",
            "5432",
        ],
    );
    assert!(up.stdout.contains("from-db"), "{up}");
    // Each a first packet from a new container: no wait, no retry.: no wait, no retry inside the client container.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "netbox",
        "sh",
        "-c",
        &format!(
            "for n in db database {short}; do \
               nc -w 5 $n 5432 </dev/null || echo FAIL-$n; \
             done; \
             v6=$(grep -w database /etc/hosts | grep : | cut -f1); \
             nc -w 5 $v6 5432 </dev/null || echo FAIL-v6 $v6; \
             ping -c1 -W5 db >/dev/null && echo ping-ok"
        ),
    ]);
    env.ok(&["rm", "-f", "db"]);
    assert!(!out.stdout.contains("FAIL"), "{out}");
    assert_eq!(out.stdout.matches("from-db").count(), 4, "{out}");
    assert!(out.stdout.contains("ping-ok"), "{out}");
}

/// The IPv4 address container `name` has on network `net`.
fn address_on(env: &TestEnv, name: &str, net: &str) -> String {
    let out = env.ok(&[
        "inspect",
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        name,
    ]);
    out.stdout.trim().to_string()
}

#[test]
fn containers_on_two_networks_cannot_reach_each_other_even_as_net_admin() {
    let Some(env) =
        env_with_image("containers_on_two_networks_cannot_reach_each_other_even_as_net_admin")
    else {
        return;
    };
    env.ok(&["network", "create", "neta"]);
    // Internal: what leaves it for a's address cannot go out to the
    // host's networks instead (the tests touch no other address).
    env.ok(&["network", "create", "--internal", "netb"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--network",
        "neta",
        "netbox",
        "nc",
        "-ll",
        "-p",
        "80",
        "-e",
        "echo",
        "from-a",
    ]);
    let ip = address_on(&env, "a", "neta");
    assert!(ip.starts_with("10.89."), "{ip}");
    // Its own network reaches it.
    let same = until_ok(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "neta",
            "netbox",
            "nc",
            "-w",
            "5",
            &ip,
            "80",
        ],
    );
    assert!(same.stdout.contains("from-a"), "{same}");
    // From the other network (burrow's stack would carry a packet
    // for a's address to the host's networks, which do not route to
    // the user's namespace; internal, it has no way out at all): not by name, not by address, not with the
    // address taken as its own (CAP_NET_ADMIN given to try), not through
    // an address in a's subnet, not to the bridge's side of the user's
    // namespace.
    let out = env.run(&[
        "run",
        "--rm",
        "--cap-add",
        "NET_ADMIN",
        "--network",
        "netb",
        "netbox",
        "sh",
        "-c",
        &format!(
            "nc -w 3 a 80 </dev/null && echo REACHED-name; \
             nc -w 3 {ip} 80 </dev/null && echo REACHED-ip; \
             dev=$(ip -o link | grep -o 'eth[0-9]*@' | head -1 | cut -d@ -f1); \
             ip addr add {ip}1/16 dev $dev 2>/dev/null; \
             ip addr add ${{ip%.*}}.200/24 dev $dev && echo took-an-address; \
             nc -w 3 {ip} 80 </dev/null; \
             ping -c1 -W2 -b ${{ip%.*}}.255 >/dev/null 2>&1 && echo REACHED-broadcast; \
             echo done"
        ),
    ]);
    // Without NET_ADMIN (the default) the address cannot even be taken.
    let plain = env.run(&[
        "run",
        "--rm",
        "--network",
        "netb",
        "netbox",
        "sh",
        "-c",
        "dev=$(ip -o link | grep -o 'eth[0-9]*@' | head -1 | cut -d@ -f1); \
         ip addr add 10.89.1.77/24 dev $dev || echo refused",
    ]);
    env.ok(&["rm", "-f", "a"]);
    assert!(out.stdout.contains("done"), "{out}");
    assert!(out.stdout.contains("took-an-address"), "{out}");
    assert!(!out.stdout.contains("from-a"), "{out}");
    assert!(!out.stdout.contains("REACHED"), "{out}");
    assert!(plain.stdout.contains("refused"), "{plain}");
}

#[test]
fn network_errors_use_docker_words_and_exit_codes() {
    let Some(env) = env_with_image("network_errors_use_docker_words_and_exit_codes") else {
        return;
    };
    let out = env.run(&["run", "--rm", "--network", "nosuchnet", "netbox", "true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("network nosuchnet not found"), "{out}");
    env.ok(&[
        "network",
        "create",
        "--subnet",
        "10.123.0.0/16",
        "--label",
        "k=v",
        "one",
    ]);
    let out = env.run(&["network", "create", "one"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr.contains("network with name one already exists"),
        "{out}"
    );
    let out = env.run(&["network", "create", "--subnet", "10.123.4.0/24", "two"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("Pool overlaps with other one"), "{out}");
    let out = env.run(&["network", "rm", "nosuchnet"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("network nosuchnet not found"), "{out}");
    assert_eq!(env.run(&["network", "exists", "one"]).code(), Some(0));
    assert_eq!(env.run(&["network", "exists", "nosuchnet"]).code(), Some(1));
    let ls = env.ok(&[
        "network",
        "ls",
        "--filter",
        "label=k=v",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(ls.stdout.trim(), "one", "{ls}");
    let inspect = env.ok(&["network", "inspect", "one"]);
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    assert_eq!(
        v[0]["IPAM"]["Config"][0]["Subnet"], "10.123.0.0/16",
        "{inspect}"
    );
    assert_eq!(v[0]["Driver"], "bridge");
    // In use by a running container: refused; once it is gone, removed.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "--network",
        "one",
        "--ip",
        "10.123.9.9",
        "netbox",
        "sleep",
        "300",
    ]);
    assert_eq!(address_on(&env, "user", "one"), "10.123.9.9");
    let out = env.run(&["network", "rm", "one"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("has active endpoints"), "{out}");
    env.ok(&["rm", "-f", "user"]);
    env.ok(&["network", "rm", "one"]);
    assert_eq!(env.run(&["network", "exists", "one"]).code(), Some(1));
}

/// `field` of container `name`'s entry on network `net`
/// (`IPAddress`, `GlobalIPv6Address`, `MacAddress`).
fn endpoint_field(env: &TestEnv, name: &str, net: &str, field: &str) -> String {
    let out = env.ok(&[
        "inspect",
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}"),
        name,
    ]);
    out.stdout.trim().to_string()
}

/// The ICMP echo requests container `name` has received: (IPv4, IPv6),
/// from its network namespace's counters.
fn echoes_received(env: &TestEnv, name: &str) -> (u64, u64) {
    let out = env.ok(&["exec", name, "cat", "/proc/net/snmp", "/proc/net/snmp6"]);
    let icmp: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Icmp: "))
        .collect();
    let v4 = match icmp.as_slice() {
        [names, values] => names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "InEchos")
            .and_then(|(_, v)| v.parse().ok()),
        _ => None,
    };
    let v6 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Icmp6InEchos"))
        .and_then(|v| v.trim().parse().ok());
    match (v4, v6) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("no echo counters in {out}"),
    }
}

/// Container `a`, privileged (root of its network namespace, with
/// NET_ADMIN and NET_RAW), claims container `b`'s IPv4 and IPv6 addresses
/// with gratuitous ARP and unsolicited neighbour advertisements, then
/// takes `b`'s MAC address, then pings `c` from `b`'s addresses: after
/// each claim, `c` still reaches the real `b` (its TCP server answers),
/// and none of the forged pings reaches `c`, while `a`'s own do. Without
/// the ports' filters each step hands `b`'s traffic to `a`.
#[test]
fn a_container_cannot_claim_another_containers_addresses_or_mac() {
    let Some(env) = env_with_image("a_container_cannot_claim_another_containers_addresses_or_mac")
    else {
        return;
    };
    let net = "spoofnet";
    env.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.131.7.0/24",
        "--subnet",
        "fd31:7::/64",
        net,
    ]);
    let (b4, b6) = ("10.131.7.2", "fd31:7::2");
    let (c4, c6) = ("10.131.7.3", "fd31:7::3");
    let (a4, a6) = ("10.131.7.4", "fd31:7::4");
    let on = |name: &str, ip: &str, ip6: &str, cmd: &[&str], extra: &[&str]| {
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "--ip",
            ip,
            "--ip6",
            ip6,
        ];
        args.extend_from_slice(extra);
        args.push("netbox");
        args.extend_from_slice(cmd);
        env.ok(&args);
    };
    on(
        "b",
        b4,
        b6,
        &["nc", "-ll", "-p", "80", "-e", "echo", "from-b"],
        &[],
    );
    on("c", c4, c6, &["sleep", "600"], &[]);
    // a serves the same port as b: whatever reaches it answers from-a.
    on(
        "a",
        a4,
        a6,
        &["nc", "-ll", "-p", "80", "-e", "echo", "from-a"],
        &["--privileged"],
    );
    let b_mac = endpoint_field(&env, "b", net, "MacAddress");
    let a_mac = endpoint_field(&env, "a", net, "MacAddress");
    // c reaches b (its neighbour entries for b are made here).
    let reach = format!("nc -w 3 {b4} 80 </dev/null; nc -w 3 {b6} 80 </dev/null; echo checked");
    let first = until_ok(&env, &["exec", "c", "sh", "-c", &reach]);
    assert_eq!(first.stdout.matches("from-b").count(), 2, "{first}");
    let dev = "dev=$(ip -o link | grep -o 'eth[0-9]*@' | head -1 | cut -d@ -f1)";
    let in_a = |what: &str, script: String| {
        let out = env.run(&[
            "exec",
            "a",
            "sh",
            "-c",
            &format!("set -e; {dev}; {script}; echo sent"),
        ]);
        assert!(out.stdout.contains("sent"), "{what}: {out}");
    };
    let attack = |what: &str, script: String| {
        in_a(what, script);
        let seen = env.ok(&["exec", "c", "sh", "-c", &reach]);
        assert_eq!(
            seen.stdout.matches("from-b").count(),
            2,
            "after {what}, c no longer reaches b: {seen}"
        );
        assert!(!seen.stdout.contains("from-a"), "{what}: {seen}");
    };
    // 1. b's addresses claimed with a's own MAC: gratuitous ARP, and
    // unsolicited neighbour advertisements (sent for every address when
    // the MAC changes, with ndisc_notify; changed back to a's own).
    attack(
        "gratuitous ARP and neighbour advertisements for b's addresses",
        format!(
            "for f in all $dev; do echo 0 > /proc/sys/net/ipv6/conf/$f/accept_dad; \
               echo 1 > /proc/sys/net/ipv6/conf/$f/ndisc_notify; done; \
             ip addr add {b4}/24 dev $dev; ip -6 addr add {b6}/64 dev $dev; \
             arping -U -c 2 -I $dev {b4} || true; \
             ip link set dev $dev address 02:00:00:00:00:01; \
             ip link set dev $dev address {a_mac}; \
             arping -U -c 2 -I $dev {b4} || true"
        ),
    );
    // 2. b's MAC taken as well: the bridge must not learn it on a's port.
    attack(
        "b's MAC",
        format!(
            "ip link set dev $dev address {b_mac}; \
             arping -U -c 2 -I $dev {b4} || true; \
             ping -c 1 -W 1 {c4} || true; ping6 -c 1 -W 1 {c6} || true"
        ),
    );
    // 3. Pings with b's addresses as source, then with a's own. a learns
    // c's MAC first, from its own addresses (neighbour discovery from b's
    // would be dropped before any ping is sent).
    in_a(
        "learning c's MAC",
        format!(
            "ip link set dev $dev address {a_mac}; \
             ip addr del {b4}/24 dev $dev; ip -6 addr del {b6}/64 dev $dev; \
             ping -c 1 -W 5 {c4} >/dev/null; ping6 -c 1 -W 5 {c6} >/dev/null; \
             ip addr add {b4}/24 dev $dev; ip -6 addr add {b6}/64 dev $dev"
        ),
    );
    let before = echoes_received(&env, "c");
    in_a(
        "pings from b's addresses, then a's",
        format!(
            "ping -c 3 -W 1 -I {b4} {c4} >/dev/null || true; \
             ping6 -c 3 -W 1 -I {b6} {c6} >/dev/null || true; \
             ping -c 1 -W 5 -I {a4} {c4} >/dev/null; \
             ping6 -c 1 -W 5 -I {a6} {c6} >/dev/null"
        ),
    );
    let after = echoes_received(&env, "c");
    env.ok(&["rm", "-f", "a", "b", "c"]);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 1),
        "echo requests c received (IPv4, IPv6): only a's own two may arrive"
    );
}

/// A user without subordinate ids (a single-id map) has user networks
/// too: containers on one reach each other by name over IPv4 and IPv6,
/// and one on another network does not reach them.
#[test]
fn user_networks_work_without_subordinate_ids() {
    let Some(env) = env_of(
        "user_networks_work_without_subordinate_ids",
        TestUser::NoSubids,
    ) else {
        return;
    };
    env.ok(&["network", "create", "nosubnet"]);
    env.ok(&["network", "create", "--internal", "othernet"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "nosubnet",
        "netbox",
        "nc",
        "-ll",
        "-p",
        "80",
        "-e",
        "echo",
        "from-srv",
    ]);
    let up = until_ok(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "nosubnet",
            "netbox",
            "nc",
            "-w",
            "5",
            "srv",
            "80",
        ],
    );
    assert!(up.stdout.contains("from-srv"), "{up}");
    let v6 = address_of6(&env, "srv", "nosubnet");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "nosubnet",
        "netbox",
        "sh",
        "-c",
        &format!("nc -w 5 srv 80 </dev/null; nc -w 5 {v6} 80 </dev/null"),
    ]);
    let ip = address_on(&env, "srv", "nosubnet");
    let other = env.run(&[
        "run",
        "--rm",
        "--network",
        "othernet",
        "netbox",
        "sh",
        "-c",
        &format!("nc -w 3 {ip} 80 </dev/null; echo done"),
    ]);
    env.ok(&["rm", "-f", "srv"]);
    assert_eq!(out.stdout.matches("from-srv").count(), 2, "{out}");
    assert!(other.stdout.contains("done"), "{other}");
    assert!(!other.stdout.contains("from-srv"), "{other}");
}

fn address_of6(env: &TestEnv, name: &str, net: &str) -> String {
    endpoint_field(env, name, net, "GlobalIPv6Address")
}

/// The network namespaces of the user-namespace holders under `dir`
/// that keep one (their records' `pid` with `"net":true`).
fn holder_netns(dir: &std::path::Path) -> Vec<std::fs::File> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(holder_netns(&path));
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("holder-") && name.ends_with(".json")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if v["net"] != serde_json::Value::Bool(true) {
            continue;
        }
        if let Some(pid) = v["pid"].as_i64() {
            if let Ok(f) = std::fs::File::open(format!("/proc/{pid}/ns/net")) {
                out.push(f);
            }
        }
    }
    out
}

/// Whether port `peer` has its filter in any holder's network namespace
/// under `dir`, asked of the kernel through burrow's own netlink code
/// from this thread, moved into each namespace and back (as root).
fn filter_in_holders(dir: &std::path::Path, peer: &str) -> bool {
    use std::os::fd::AsRawFd;
    let own = std::fs::File::open("/proc/thread-self/ns/net").expect("own netns");
    let mut found = false;
    for ns in holder_netns(dir) {
        // SAFETY: setns of this thread alone into a namespace fd we hold;
        // moved back below before anything else runs on it.
        let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0);
        let socket = burrow::net::portfilter::open_socket();
        // SAFETY: as above, back to this thread's own namespace.
        let back = unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(back, 0);
        let socket = socket.expect("a netfilter socket in the holder's namespace");
        found |= burrow::net::portfilter::has_filter(&socket, peer).expect("table lookup");
    }
    found
}

/// A container's port filter (its nftables table in the user's network
/// namespace) is there while it runs and gone once it is removed, while
/// another container's on the same network stays.
#[test]
fn rm_removes_the_containers_port_filter_and_no_other() {
    if !common::running_as_root() {
        // The check enters the holder's network namespace, which only
        // root (or the holder's own user) may do from the test process.
        eprintln!(
            "SKIP rm_removes_the_containers_port_filter_and_no_other: needs root \
             (the test looks into the user's network namespace itself)"
        );
        return;
    }
    let Some(env) = env_with_image("rm_removes_the_containers_port_filter_and_no_other") else {
        return;
    };
    let net = "filtnet";
    env.ok(&["network", "create", "--internal", net]);
    for name in ["f1", "f2"] {
        env.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "netbox",
            "sleep",
            "600",
        ]);
    }
    let net_id = env.ok(&["network", "inspect", "--format", "{{.Id}}", net]);
    let peer = |name: &str| {
        let id = env.ok(&["inspect", "--format", "{{.Id}}", name]);
        burrow::net::bridge::peer_name(id.stdout.trim(), net_id.stdout.trim())
    };
    let (p1, p2) = (peer("f1"), peer("f2"));
    let dir = env.runtime_dir.clone();
    assert!(filter_in_holders(&dir, &p1), "f1's filter while it runs");
    assert!(filter_in_holders(&dir, &p2), "f2's filter while it runs");
    env.ok(&["rm", "-f", "f1"]);
    common::wait_for(Duration::from_secs(10), "f1's filter to go", || {
        if filter_in_holders(&dir, &p1) {
            Err("still there".to_string())
        } else {
            Ok(())
        }
    });
    assert!(filter_in_holders(&dir, &p2), "f2's filter after f1's rm");
    env.ok(&["rm", "-f", "f2"]);
    env.ok(&["network", "rm", net]);
}

/// docker's predefined networks' fixed ids in burrow (documented in
/// `burrow network ls --help`'s page and docs/networking.md).
const PREDEFINED: [(&str, &str, &str); 3] = [
    (
        "bridge",
        "bridge",
        "cee7d569c2e03d1d26d8c10476a7565e25fb801c1b219d2e287959d0136faa10",
    ),
    (
        "host",
        "host",
        "a0184a84549db238fc9a6611652cc0f6fc1fcf6989421a5cebb294d0036b2191",
    ),
    (
        "none",
        "null",
        "c55b44446fd25540f2e54aa750356d196272df2815b0cf99195742bbf4e21152",
    ),
];

/// `network ls` with `args` as a list of `{{.Name}}`.
fn ls_names(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let mut all = vec!["network", "ls", "--format", "{{.Name}}"];
    all.extend_from_slice(args);
    env.ok(&all).stdout.lines().map(str::to_string).collect()
}

/// `bridge`, `host` and `none` are listed beside the user's networks with
/// docker's drivers, scope and fixed ids, filtered by type=builtin|custom
/// (one key's values are alternatives, keys all hold), and inspected in
/// docker's shape: `bridge` is the default network (10.0.2.0/24, the
/// host at 10.0.2.2) with the running containers of each mode.
#[test]
fn predefined_networks_are_listed_filtered_and_inspected_as_dockers() {
    let Some(env) =
        env_with_image("predefined_networks_are_listed_filtered_and_inspected_as_dockers")
    else {
        return;
    };
    let mine = env
        .ok(&["network", "create", "mine"])
        .stdout
        .trim()
        .to_string();
    let ls = env.ok(&["network", "ls"]);
    let rows: Vec<Vec<&str>> = ls
        .stdout_lines()
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"],
        "{ls}"
    );
    let want: Vec<Vec<&str>> = vec![
        vec![&PREDEFINED[0].2[..12], "bridge", "bridge", "local"],
        vec![&PREDEFINED[1].2[..12], "host", "host", "local"],
        vec![&mine[..12], "mine", "bridge", "local"],
        vec![&PREDEFINED[2].2[..12], "none", "null", "local"],
    ];
    assert_eq!(rows[1..], want[..], "{ls}");
    let ids = env.ok(&["network", "ls", "-q", "--no-trunc"]);
    let want_ids = [PREDEFINED[0].2, PREDEFINED[1].2, &mine, PREDEFINED[2].2];
    assert_eq!(ids.stdout_lines(), want_ids, "{ids}");
    for line in env
        .ok(&["network", "ls", "--format", "json"])
        .stdout_lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        if let Some((_, driver, id)) = PREDEFINED.iter().find(|p| v["Name"] == p.0) {
            assert_eq!((&v["Driver"], &v["ID"]), (&json(driver), &json(&id[..12])));
            assert_eq!((&v["Scope"], &v["Labels"]), (&json("local"), &json("")));
        }
    }
    assert_eq!(
        ls_names(&env, &["-f", "type=builtin"]),
        ["bridge", "host", "none"]
    );
    assert_eq!(ls_names(&env, &["-f", "type=custom"]), ["mine"]);
    assert_eq!(
        ls_names(&env, &["-f", "type=custom", "-f", "type=builtin"]),
        ["bridge", "host", "mine", "none"]
    );
    assert_eq!(ls_names(&env, &["-f", "driver=null"]), ["none"]);
    assert_eq!(ls_names(&env, &["-f", "driver=bridge"]), ["bridge", "mine"]);
    assert_eq!(
        ls_names(&env, &["-f", "type=builtin", "-f", "name=o"]),
        ["host", "none"]
    );
    assert_eq!(
        ls_names(&env, &["-f", &format!("id={}", &PREDEFINED[1].2[..6])]),
        ["host"]
    );
    let out = env.run(&["network", "ls", "-f", "type=weird"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(
        out.stderr.contains("invalid filter: 'type'='weird'"),
        "{out}"
    );

    // One running container of each mode but host's; a stopped one is on
    // no network's list, as docker's are not.
    let web = env
        .ok(&["run", "-d", "--name", "web", "netbox", "sleep", "300"])
        .stdout
        .trim()
        .to_string();
    let lonely = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "lonely",
            "--network",
            "none",
            "netbox",
            "sleep",
            "300",
        ])
        .stdout
        .trim()
        .to_string();
    env.ok(&["create", "--name", "idle", "netbox", "true"]);
    let addr = until_ok(
        &env,
        &["exec", "web", "ip", "-o", "-4", "addr", "show", "eth0"],
    );
    assert!(addr.stdout.contains("10.0.2.100/24"), "{addr}");

    let out = env.ok(&["network", "inspect", "bridge", "host", "none"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let keys = [
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv6",
        "IPAM",
        "Internal",
        "Attachable",
        "Ingress",
        "ConfigFrom",
        "ConfigOnly",
        "Containers",
        "Options",
        "Labels",
    ];
    for (i, (name, driver, id)) in PREDEFINED.iter().enumerate() {
        let n = &v[i];
        for k in keys {
            assert!(n.get(k).is_some(), "{name} has no {k}: {n}");
        }
        assert_eq!(
            (&n["Name"], &n["Driver"], &n["Id"]),
            (&json(name), &json(driver), &json(id))
        );
        assert_eq!(
            (&n["Scope"], &n["Internal"]),
            (&json("local"), &serde_json::Value::Bool(false)),
            "{n}"
        );
    }
    let bridge = &v[0];
    assert_eq!(
        bridge["IPAM"]["Config"][0]["Subnet"], "10.0.2.0/24",
        "{bridge}"
    );
    assert_eq!(
        bridge["IPAM"]["Config"][0]["Gateway"], "10.0.2.2",
        "{bridge}"
    );
    assert_eq!(bridge["Options"]["burrow.network.mode"], "user", "{bridge}");
    assert_eq!(bridge["Options"]["com.docker.network.driver.mtu"], "65520");
    let members = |n: &serde_json::Value| {
        n["Containers"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(members(bridge), std::slice::from_ref(&web), "{bridge}");
    assert_eq!(bridge["Containers"][&web]["Name"], "web");
    assert_eq!(bridge["Containers"][&web]["IPv4Address"], "10.0.2.100/24");
    assert_eq!(members(&v[1]), Vec::<String>::new(), "{}", v[1]);
    assert_eq!(members(&v[2]), [lonely], "{}", v[2]);
    assert_eq!(v[2]["IPAM"]["Config"], serde_json::json!([]), "{}", v[2]);

    // By id prefix; a container names its network's id; `exists` knows them.
    let by_id = env.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}}",
        &PREDEFINED[2].2[..12],
    ]);
    assert_eq!(by_id.stdout.trim(), "none", "{by_id}");
    let nid = env.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.NetworkID}} {{.NetworkSettings.Networks.bridge.IPAddress}}",
        "web",
    ]);
    assert_eq!(
        nid.stdout.trim(),
        format!("{} 10.0.2.100", PREDEFINED[0].2),
        "{nid}"
    );
    for (name, _, _) in PREDEFINED {
        assert_eq!(
            env.run(&["network", "exists", name]).code(),
            Some(0),
            "{name}"
        );
    }
    // prune leaves them (and takes mine, which no container is on).
    env.ok(&["network", "prune", "-f"]);
    assert_eq!(ls_names(&env, &[]), ["bridge", "host", "none"]);
}

fn json(s: &str) -> serde_json::Value {
    serde_json::Value::String(s.to_string())
}

/// The predefined networks cannot be removed, made again, joined or left
/// but the way docker allows; each refusal in docker's words, exit 1.
#[test]
fn predefined_networks_refuse_rm_create_connect_and_disconnect_in_dockers_words() {
    let test = "predefined_networks_refuse_rm_create_connect_and_disconnect_in_dockers_words";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let refused = |args: &[&str], words: &str| {
        let out = env.run(args);
        assert_eq!(out.code(), Some(1), "{out}");
        assert!(out.stderr.contains(words), "want {words:?}\n{out}");
    };
    for (name, _, _) in PREDEFINED {
        let words = format!("{name} is a pre-defined network and cannot be removed");
        refused(&["network", "rm", name], &words);
        refused(&["network", "rm", "-f", name], &words);
        refused(
            &["network", "create", name],
            &format!("network with name {name} already exists"),
        );
    }
    refused(
        &["network", "rm", &PREDEFINED[0].2[..12]],
        "bridge is a pre-defined network and cannot be removed",
    );
    env.ok(&["network", "create", "mine"]);
    for (name, mode) in [("d", "bridge"), ("h", "host"), ("n", "none"), ("m", "mine")] {
        env.ok(&[
            "create",
            "--name",
            name,
            "--network",
            mode,
            "netbox",
            "true",
        ]);
    }
    let host = "container cannot be disconnected from host network or connected to host network";
    let shared = "container sharing network namespace with another container or host cannot be connected to any other network";
    let private = "container cannot be connected to multiple networks with one of the networks in private (none) mode";
    for (net, ctr, words) in [
        ("host", "d", host),
        ("host", "n", host),
        ("host", "m", host),
        (
            "bridge",
            "d",
            "endpoint with name d already exists in network bridge",
        ),
        ("bridge", "h", shared),
        ("bridge", "n", private),
        ("bridge", "m", "container m cannot join network bridge"),
        ("none", "d", private),
        ("none", "h", shared),
        (
            "none",
            "n",
            "endpoint with name n already exists in network none",
        ),
        ("mine", "h", shared),
        ("mine", "n", private),
        ("mine", "d", "container d has --network user"),
    ] {
        refused(&["network", "connect", net, ctr], words);
    }
    for (net, ctr, words) in [
        ("host", "h", host),
        (
            "bridge",
            "d",
            "container d is on network bridge by its --network mode",
        ),
        (
            "none",
            "n",
            "container n is on network none by its --network mode",
        ),
        (
            "bridge",
            "n",
            "container n is not connected to network bridge",
        ),
        ("none", "h", "container h is not connected to network none"),
    ] {
        refused(&["network", "disconnect", net, ctr], words);
    }
    // Nothing changed: each keeps its mode; every network is still there.
    for (name, mode) in [("d", "user"), ("h", "host"), ("n", "none"), ("m", "mine")] {
        let got = env.ok(&["inspect", "-f", "{{.NetworkSettings.NetworkMode}}", name]);
        assert_eq!(got.stdout.trim(), mode, "{got}");
    }
    assert_eq!(ls_names(&env, &[]), ["bridge", "host", "mine", "none"]);
    let ran = env.ok(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "netbox",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(ran.stdout.contains("10.0.2.100/24"), "{ran}");
}

/// The MAC container `name` has on network `net`.
fn mac_on(env: &TestEnv, name: &str, net: &str) -> String {
    endpoint_field(env, name, net, "MacAddress")
}

/// A removed container's address is given to the next one: a peer that
/// talked to the old one reaches the new one on its first try, because
/// the new one announces its address (gratuitous ARP) as its link comes
/// up, instead of the peer's cache holding the old MAC for half a minute.
#[test]
fn a_peer_reaches_the_new_holder_of_a_reused_address_at_once() {
    let Some(env) = env_with_image("a_peer_reaches_the_new_holder_of_a_reused_address_at_once")
    else {
        return;
    };
    env.ok(&["network", "create", "reuse"]);
    let serve = |name: &str| {
        env.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "reuse",
            "netbox",
            "sh",
            "-c",
            &format!("nc -ll -p 80 -e echo from-{name}"),
        ]);
        until_ok(&env, &["exec", name, "nc", "-w", "3", "127.0.0.1", "80"]);
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "reuse",
        "netbox",
        "sleep",
        "1000",
    ]);
    serve("old");
    let ip = address_on(&env, "old", "reuse");
    let old_mac = mac_on(&env, "old", "reuse");
    let first = until_ok(&env, &["exec", "client", "nc", "-w", "3", &ip, "80"]);
    assert!(first.stdout.contains("from-old"), "{first}");
    env.ok(&["rm", "-f", "old"]);
    serve("new");
    assert_eq!(
        address_on(&env, "new", "reuse"),
        ip,
        "the freed address was not given out again: this test needs it"
    );
    let new_mac = mac_on(&env, "new", "reuse");
    assert_ne!(new_mac, old_mac);
    // One try, no retry: the client's cache already names the new MAC.
    let neigh = env.ok(&["exec", "client", "ip", "neigh", "show", &ip]);
    assert!(neigh.stdout.contains(&new_mac), "{neigh}");
    let out = env.ok(&["exec", "client", "nc", "-w", "3", &ip, "80"]);
    assert!(out.stdout.contains("from-new"), "{out}");
    env.ok(&["rm", "-f", "client", "new"]);
}
