//! ICMP echo out of a `--network user` container, IPv4 and IPv6, through
//! burrow's stack and the host's ping sockets. The host side is a network
//! namespace this test makes (as root), with addresses on its loopback and
//! ping sockets allowed: no packet leaves it. burrow itself runs as the
//! unprivileged test user inside that namespace.

mod common;

use common::run_image::{self, PLAIN};
use common::{running_as_root, TestEnv, TestUser};
use std::process::Command;

const HOST_V4: &str = "10.77.0.1";
const HOST_V6: &str = "2001:db8::1";

/// Moves this test's thread into a new network namespace with loopback up,
/// the two addresses above on it, and ping sockets allowed for every group.
/// The commands this thread starts inherit it; it ends with the thread.
fn private_host_network() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare the network");
    for args in [
        vec!["link", "set", "lo", "up"],
        vec!["addr", "add", &format!("{HOST_V4}/32"), "dev", "lo"],
        vec![
            "-6",
            "addr",
            "add",
            &format!("{HOST_V6}/128"),
            "dev",
            "lo",
            "nodad",
        ],
    ] {
        let st = Command::new("ip").args(&args).status().expect("run ip");
        assert!(st.success(), "ip {args:?}");
    }
    // /proc/sys/net is the writing thread's network namespace's.
    std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
        .expect("allow ping sockets in the test's namespace");
}

#[test]
fn ping_reaches_the_host_over_ipv4_and_ipv6() {
    if !running_as_root() {
        eprintln!(
            "SKIP ping_reaches_the_host_over_ipv4_and_ipv6: needs root to make a network namespace"
        );
        return;
    }
    let Some(env) = TestEnv::new(
        "ping_reaches_the_host_over_ipv4_and_ipv6",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    private_host_network();
    let out = env.ok(&[
        "run",
        "--rm",
        PLAIN,
        "sh",
        "-c",
        &format!("ping -c 1 -W 5 {HOST_V4} && ping -6 -c 1 -W 5 {HOST_V6}"),
    ]);
    assert!(out.stdout.contains(&format!("from {HOST_V4}")), "{out}");
    assert!(out.stdout.contains(&format!("from {HOST_V6}")), "{out}");
    // An address nothing answers for gets no reply (and no hang): the
    // replies above were the host's, not made up on the way.
    for args in [
        vec!["ping", "-c", "1", "-W", "1", "10.77.0.9"],
        vec!["ping", "-6", "-c", "1", "-W", "1", "2001:db8::9"],
    ] {
        let mut run = vec!["run", "--rm", PLAIN];
        run.extend(args);
        let out = env.run(&run);
        assert_ne!(out.code(), Some(0), "{out}");
    }
}
