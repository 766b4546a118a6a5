//! User-defined networks and their isolation, end to end, as the
//! unprivileged test user with subordinate ids: containers on one network
//! reach each other by name, alias and short id over IPv4 and IPv6 from
//! the first packet; containers on two networks do not; the errors say
//! docker's words. Every address is inside namespaces burrow makes (the
//! user's network namespace and the containers'), or loopback.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::fixtures::busybox_rootfs;
use common::{path_str, TestEnv, TestUser};
use std::time::Duration;

const NET_APPLETS: &[&str] = &[
    "nc", "ip", "seq", "grep", "ping", "ping6", "hostname", "cut", "head",
];

/// A test environment (burrow-test, with subordinate ids) with a busybox
/// image `netbox` that has the network applets.
fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::WithSubids)?;
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
