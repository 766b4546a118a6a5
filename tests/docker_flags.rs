//! docker's less common `run`/`create` flags, as unprivileged users:
//! the ones burrow refuses say why (exit 125, nothing made), the ones a
//! cgroup v2 host discards warn once, `--annotation` and the per-disk io
//! limits are recorded in inspect's HostConfig, and `--mac-address` is
//! the container's interface's.

mod common;

use common::fixtures::busybox_rootfs;
use common::{path_str, TestEnv, TestUser};
use serde_json::Value;

fn env_with_image(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    let tar = env.fixture("bb.tar", &busybox_rootfs().finish().tar);
    env.ok(&["import", path_str(&tar), "bb"]);
    Some(env)
}

fn inspect(env: &TestEnv, name: &str) -> Value {
    let out = env.ok(&["inspect", name]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    v[0].clone()
}

fn no_containers(env: &TestEnv) {
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "nothing was made\n{ps}");
}

#[test]
fn refused_flags_exit_125_with_the_flag_and_why_and_make_nothing() {
    let Some(env) = env_with_image(
        "refused_flags_exit_125_with_the_flag_and_why_and_make_nothing",
        TestUser::WithSubids,
    ) else {
        return;
    };
    for (args, says) in [
        (&["--cpu-rt-period", "1000000"][..], "real-time CPU"),
        (&["--cpu-rt-runtime", "950000"][..], "real-time CPU"),
        (&["--cpu-count", "2"][..], "Windows"),
        (&["--cpu-percent", "50"][..], "Windows"),
        (&["--gpus", "all"][..], "--device"),
        (&["--storage-opt", "size=10G"][..], "quota"),
        (&["--link", "db:db"][..], "burrow network create"),
        (&["--link-local-ip", "169.254.1.1"][..], "link-local"),
        (&["--isolation", "hyperv"][..], "only `default`"),
        (&["--volume-driver", "convoy"][..], "`local`"),
        (&["--runtime", "runc"][..], "no OCI runtime"),
        (&["--cgroup-parent", "/mine"][..], "systemd"),
        (&["--disable-content-trust=false"][..], "signatures"),
    ] {
        for verb in ["create", "run"] {
            let mut argv = vec![verb, "--rm"];
            if verb == "create" {
                argv.pop();
            }
            argv.extend_from_slice(args);
            argv.extend_from_slice(&["bb", "echo", "ran"]);
            let out = env.run(&argv);
            assert_eq!(out.code(), Some(125), "{argv:?}\n{out}");
            let flag = args[0].split('=').next().unwrap();
            let line = out.error_line();
            assert!(
                line.starts_with(&format!("Error: {flag} ")) && line.contains("is not supported: "),
                "{argv:?}\n{out}"
            );
            assert!(line.contains(says), "{argv:?}: {says:?}\n{out}");
            assert!(!out.stdout.contains("ran"), "{out}");
        }
    }
    no_containers(&env);
    // What docker users pass for the defaults is taken.
    let out = env.ok(&[
        "run",
        "--rm",
        "--isolation",
        "default",
        "--volume-driver",
        "local",
        "--runtime",
        "burrow",
        "--disable-content-trust",
        "--oom-kill-disable=false",
        "bb",
        "echo",
        "ran",
    ]);
    assert_eq!(out.stdout, "ran\n", "{out}");
    assert!(!out.stderr.contains("WARNING"), "{out}");
}

#[test]
fn kernel_memory_and_oom_kill_disable_are_discarded_with_one_warning_each() {
    for user in [TestUser::WithSubids, TestUser::NoSubids] {
        let Some(env) = env_with_image(
            "kernel_memory_and_oom_kill_disable_are_discarded_with_one_warning_each",
            user,
        ) else {
            continue;
        };
        let out = env.ok(&[
            "run",
            "--name",
            "k",
            "--kernel-memory",
            "64m",
            "--oom-kill-disable",
            "bb",
            "echo",
            "ran",
        ]);
        assert_eq!(
            out.stdout, "ran\n",
            "it ran, without a limit to apply\n{out}"
        );
        for (says, why) in [
            (
                "WARNING: Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded",
                "kernel memory",
            ),
            (
                "WARNING: Your kernel does not support OomKillDisable. OomKillDisable discarded",
                "OOM killer",
            ),
        ] {
            let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with(says)).collect();
            assert_eq!(lines.len(), 1, "one warning: {says}\n{out}");
            assert!(lines[0].contains("cgroup v2") && lines[0].contains(why), "{out}");
        }
        let host = &inspect(&env, "k")["HostConfig"];
        assert_eq!(host["KernelMemory"], 0, "{host}");
        assert_eq!(host["OomKillDisable"], false, "{host}");
        // A size that is none is refused as --memory's are.
        let out = env.run(&["create", "--kernel-memory", "lots", "bb"]);
        assert_eq!(out.code(), Some(125), "{out}");
        assert!(out.stderr.contains("invalid size"), "{out}");
    }
}

#[test]
fn annotations_and_per_disk_io_limits_are_in_inspects_host_config() {
    let Some(env) = env_with_image(
        "annotations_and_per_disk_io_limits_are_in_inspects_host_config",
        TestUser::WithSubids,
    ) else {
        return;
    };
    env.ok(&[
        "create",
        "--name",
        "a",
        "--annotation",
        "com.example.team=infra",
        "--annotation",
        "formula=a=b",
        "--annotation",
        "bare",
        "--device-read-iops",
        "/dev/null:100",
        "--device-write-iops",
        "/dev/null:0",
        "--blkio-weight-device",
        "/dev/null:300",
        "bb",
        "true",
    ]);
    let host = &inspect(&env, "a")["HostConfig"];
    assert_eq!(
        host["Annotations"],
        serde_json::json!({"com.example.team": "infra", "formula": "a=b", "bare": ""}),
        "{host}"
    );
    assert_eq!(
        host["BlkioDeviceReadIOps"],
        serde_json::json!([{"Path": "/dev/null", "Rate": 100}]),
        "{host}"
    );
    assert_eq!(
        host["BlkioDeviceWriteIOps"],
        serde_json::json!([{"Path": "/dev/null", "Rate": 0}]),
        "{host}"
    );
    assert_eq!(
        host["BlkioWeightDevice"],
        serde_json::json!([{"Path": "/dev/null", "Weight": 300}]),
        "{host}"
    );
    // docker leaves Annotations out when there are none; the lists empty.
    env.ok(&["create", "--name", "plain", "bb", "true"]);
    let host = &inspect(&env, "plain")["HostConfig"];
    assert!(host.get("Annotations").is_none(), "{host}");
    assert_eq!(host["BlkioDeviceReadIOps"], serde_json::json!([]), "{host}");
    env.ok(&["rm", "a", "plain"]);
    for (args, says) in [
        (&["--annotation", "=x"][..], "invalid --annotation"),
        (
            &["--device-read-iops", "sda:100"][..],
            "invalid device rate \"sda:100\"",
        ),
        (
            &["--device-write-iops", "/dev/sda:fast"][..],
            "whole number of I/O operations",
        ),
        (
            &["--blkio-weight-device", "/dev/sda:5"][..],
            "WEIGHT between 10 and 1000",
        ),
    ] {
        let mut argv = vec!["create"];
        argv.extend_from_slice(args);
        argv.push("bb");
        let out = env.run(&argv);
        assert_eq!(out.code(), Some(125), "{args:?}\n{out}");
        assert!(out.stderr.contains(says), "{args:?}: {says}\n{out}");
    }
    no_containers(&env);
}

const MAC: &str = "92:d0:c6:0a:29:33";

#[test]
fn mac_address_is_the_containers_interface_and_inspect_shows_it() {
    for user in [TestUser::WithSubids, TestUser::NoSubids] {
        let Some(env) = env_with_image(
            "mac_address_is_the_containers_interface_and_inspect_shows_it",
            user,
        ) else {
            continue;
        };
        // Upper case and dashes are read too; the kernel shows its form.
        let out = env.ok(&[
            "run",
            "--name",
            "m",
            "--mac-address",
            "92-D0-C6-0A-29-33",
            "bb",
            "cat",
            "/sys/class/net/eth0/address",
        ]);
        assert_eq!(out.stdout, format!("{MAC}\n"), "{out}");
        let v = inspect(&env, "m");
        assert_eq!(v["Config"]["MacAddress"], MAC, "{v}");
        assert_eq!(v["NetworkSettings"]["MacAddress"], MAC, "{v}");
        assert_eq!(
            v["NetworkSettings"]["Networks"]["bridge"]["MacAddress"], MAC,
            "{v}"
        );
        // Without the flag: the kernel's pick, and the container still
        // reaches burrow's gateway with the address it was given.
        let out = env.ok(&["run", "--rm", "bb", "cat", "/sys/class/net/eth0/address"]);
        assert_ne!(out.stdout.trim(), MAC, "{out}");
        let out = env.ok(&["start", "-a", "m"]);
        assert_eq!(out.stdout, format!("{MAC}\n"), "kept at a restart\n{out}");
        let out = env.ok(&[
            "run",
            "--rm",
            "--mac-address",
            "02:00:00:00:00:07",
            "bb",
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "5",
            "10.0.2.2",
        ]);
        assert!(out.stdout.contains("1 packets received"), "{out}");
        for (args, says) in [
            (
                &["--network", "none", "--mac-address", MAC][..],
                "conflicting options: mac-address and the network mode",
            ),
            (
                &["--network", "host", "--mac-address", MAC][..],
                "conflicting options: mac-address and the network mode",
            ),
            (
                &["--mac-address", "01:00:5e:00:00:01"][..],
                "invalid --mac-address \"01:00:5e:00:00:01\": a multicast address",
            ),
            (&["--mac-address", "92:d0:c6"][..], "six hex bytes"),
        ] {
            let mut argv = vec!["run", "--rm"];
            argv.extend_from_slice(args);
            argv.extend_from_slice(&["bb", "echo", "ran"]);
            let out = env.run(&argv);
            assert_eq!(out.code(), Some(125), "{args:?}\n{out}");
            assert!(out.error_line().contains(says), "{args:?}: {says}\n{out}");
            assert!(!out.stdout.contains("ran"), "{out}");
        }
    }
}

#[test]
fn on_a_user_network_a_mac_is_one_containers_only() {
    let Some(env) = env_with_image(
        "on_a_user_network_a_mac_is_one_containers_only",
        TestUser::WithSubids,
    ) else {
        return;
    };
    env.ok(&["network", "create", "macnet"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "--network",
        "macnet",
        "--mac-address",
        MAC,
        "bb",
        "sleep",
        "60",
    ]);
    let out = env.ok(&["exec", "first", "sh", "-c", "cat /sys/class/net/*/address"]);
    assert!(out.stdout.lines().any(|l| l == MAC), "{out}");
    let v = inspect(&env, "first");
    assert_eq!(
        v["NetworkSettings"]["Networks"]["macnet"]["MacAddress"], MAC,
        "{v}"
    );
    // A second interface with that MAC on the bridge would take the
    // first one's frames: refused before the container exists.
    let out = env.run(&[
        "run",
        "--rm",
        "--name",
        "second",
        "--network",
        "macnet",
        "--mac-address",
        MAC,
        "bb",
        "echo",
        "ran",
    ]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(
        out.error_line().contains(&format!(
            "MAC address {MAC} is already in use on network macnet"
        )),
        "{out}"
    );
    assert!(!out.stdout.contains("ran"), "{out}");
    env.ok(&["rm", "-f", "first"]);
    env.ok(&["network", "rm", "macnet"]);
}
