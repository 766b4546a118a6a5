//! `burrow doctor` and `burrow info` on this machine, run as the
//! unprivileged test users: every check is reported with its status, what
//! this host really has shows up in the facts, and a check that fails
//! makes the exit status 125.

mod common;

use common::{path_str, Output, TestEnv, TestUser, EXIT_FAILURE};
use serde_json::Value;
use std::fs;

/// Every check doctor makes on a systemd-less host, in order.
const CHECKS: &[&str] = &[
    "kernel",
    "user namespaces",
    "subuid",
    "subgid",
    "newuidmap",
    "newgidmap",
    "overlay",
    "fuse-overlayfs",
    "/dev/net/tun",
    "nftables",
    "cgroups",
    "runtime dir",
];

fn json(out: &Output) -> Value {
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{out}"))
}

fn checks(out: &Output) -> Vec<Value> {
    json(out)["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks array\n{out}"))
        .clone()
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {checks:#?}"))
}

fn uname_r() -> String {
    let out = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .expect("uname");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn doctor_on_this_host_passes_with_every_check_named() {
    let Some(env) = TestEnv::new(
        "doctor_on_this_host_passes_with_every_check_named",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let out = env.ok(&["doctor", "--format", "json"]);
    let checks = checks(&out);
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for want in CHECKS.iter().chain(&["storage", "ports", "ping"]) {
        assert!(names.contains(want), "{want} missing from {names:?}");
    }
    for c in &checks {
        let status = c["status"].as_str().unwrap_or("");
        assert!(["ok", "warn", "fail"].contains(&status), "{c}");
        assert!(!c["fact"].as_str().unwrap_or("").is_empty(), "{c}");
        if status != "ok" && c["name"] != "systemd session" {
            assert!(c["fix"].is_string(), "a problem comes with its fix: {c}");
        }
    }
    // What this machine has, as the harness's own view of it says.
    assert!(check(&checks, "kernel")["fact"]
        .as_str()
        .unwrap()
        .contains(&uname_r()));
    for name in ["user namespaces", "overlay", "newuidmap", "newgidmap"] {
        assert_eq!(check(&checks, name)["status"], "ok", "{name}: {out}");
    }
    let sub = env.account.subuid.expect("a subuid range");
    let subuid = check(&checks, "subuid")["fact"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        subuid.contains(&format!(
            "{} ids ({}-{})",
            sub.count,
            sub.start,
            sub.start + sub.count - 1
        )),
        "{subuid}"
    );
    let storage = check(&checks, "storage");
    assert_eq!(storage["status"], "ok");
    assert!(storage["fact"]
        .as_str()
        .unwrap()
        .starts_with(path_str(&env.storage())));
    assert!(
        !env.storage().exists(),
        "doctor made no storage: it only looks"
    );

    // The table: one `status name fact` line per check, fixes indented.
    let table = env.ok(&["doctor"]);
    let firsts: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .collect();
    assert_eq!(firsts.len(), checks.len(), "{table}");
    for (line, c) in firsts.iter().zip(&checks) {
        let status = match c["status"].as_str().unwrap() {
            "fail" => "FAIL",
            s => s,
        };
        assert!(
            line.starts_with(&format!("{status:<6}{}", c["name"].as_str().unwrap())),
            "{line}"
        );
    }
    for line in table
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("fix:"))
    {
        assert!(line.starts_with(&" ".repeat(22)), "{line}");
    }
}

/// The nftables check says what a user namespace of this user really
/// gets: Debian's `nft`, as the test user in a new user and network
/// namespace (`unshare -Urn`), adds a netdev table with an ingress chain
/// on loopback (what burrow puts on a user network's port), and doctor's
/// status agrees with whether it could. The probe leaves nothing behind:
/// its namespaces die with it.
#[test]
fn doctor_nftables_check_agrees_with_nft_in_a_user_namespace() {
    let test = "doctor_nftables_check_agrees_with_nft_in_a_user_namespace";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let nft = ["/usr/sbin/nft", "/sbin/nft"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let out = env.ok(&["doctor", "--format", "json"]);
    let c = check(&checks(&out), "nftables").clone();
    let Some(nft) = nft else {
        eprintln!("SKIP {test}: no nft (the nftables package) to compare with: {c}");
        return;
    };
    let script = format!(
        "{nft} add table netdev t && \
         {nft} 'add chain netdev t c {{ type filter hook ingress device lo priority 0; policy drop; }}'"
    );
    let unshare = std::path::Path::new("/usr/bin/unshare");
    let theirs = env
        .command_of(unshare, &["-Urn", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let nft_works = theirs.status.success();
    let want = if nft_works { "ok" } else { "warn" };
    assert_eq!(
        c["status"],
        want,
        "doctor: {c}; nft: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    if nft_works {
        assert!(c["fact"]
            .as_str()
            .unwrap()
            .contains("keep to their own MAC and addresses"));
    } else {
        assert!(c["fix"].as_str().unwrap().contains("modprobe nf_tables"));
    }
}

#[test]
fn doctor_without_subids_warns_with_the_usermod_command() {
    let Some(env) = TestEnv::new(
        "doctor_without_subids_warns_with_the_usermod_command",
        TestUser::NoSubids,
    ) else {
        return;
    };
    let out = env.ok(&["doctor", "--format", "json"]);
    let checks = checks(&out);
    for name in ["subuid", "subgid"] {
        let c = check(&checks, name);
        assert_eq!(c["status"], "warn", "{c}");
        assert!(c["fact"].as_str().unwrap().contains("single-id map"), "{c}");
        let fix = c["fix"].as_str().unwrap();
        assert!(
            fix.starts_with("sudo usermod --add-subuids ")
                && fix.ends_with(&format!(" {}", env.account.name)),
            "{fix}"
        );
    }
}

#[test]
fn doctor_fails_on_an_invalid_config_and_exits_125() {
    let Some(env) = TestEnv::new(
        "doctor_fails_on_an_invalid_config_and_exits_125",
        TestUser::Any,
    ) else {
        return;
    };
    let dir = env.config_home.join("burrow");
    fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    let file = dir.join("config.toml");
    fs::write(&file, "[storage]\nroot = 5\n").unwrap();
    env.give(&file);

    // Other commands stop at the config; doctor reports it among the rest.
    env.fails(&["images"]);
    let out = env.run(&["doctor"]);
    out.assert_error();
    assert_eq!(out.error_line(), "Error: 1 check failed: config");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL  config"))
        .unwrap_or_else(|| panic!("no FAIL config line\n{out}"));
    assert!(
        line.contains(&format!("{}:2:8: storage.root:", file.display())),
        "{line}"
    );
    let json_out = env.run(&["doctor", "--format", "json"]);
    assert_eq!(json_out.code(), Some(EXIT_FAILURE));
    assert_eq!(check(&checks(&json_out), "config")["status"], "fail");
    // The other checks still ran.
    assert_eq!(checks(&json_out).len(), checks(&out_json_ok(&env)).len());
}

/// `doctor --format json` with the config moved away.
fn out_json_ok(env: &TestEnv) -> Output {
    let file = env.config_home.join("burrow/config.toml");
    fs::remove_file(&file).unwrap();
    env.ok(&["doctor", "--format", "json"])
}

/// A kernel below burrow's floor (RHEL 8's, named through the test seam
/// that stands in for `uname -r`): doctor fails its kernel line naming
/// what the kernel lacks and exits 125, info shows the same facts, and
/// `run` stops before anything is pulled or created, in the same words.
/// This machine's own kernel passes with nothing missing.
#[test]
fn a_kernel_below_the_floor_fails_doctor_and_stops_run_naming_what_it_lacks() {
    let test = "a_kernel_below_the_floor_fails_doctor_and_stops_run_naming_what_it_lacks";
    let Some(env) = TestEnv::new(test, TestUser::Any) else {
        return;
    };
    let here = json(&env.ok(&["info", "--format", "json"]));
    assert_eq!(here["host"]["kernel_floor"], "5.6", "{here}");
    assert_eq!(here["host"]["kernel_missing"], serde_json::json!([]));
    let old = [(
        "BURROW_TEST_KERNEL_RELEASE",
        Some("4.18.0-553.el8_10.x86_64"),
    )];
    let out = env.run_env(&["doctor", "--format", "json"], &old);
    assert_eq!(out.code(), Some(EXIT_FAILURE), "{out}");
    let c = check(&checks(&out), "kernel").clone();
    assert_eq!(c["status"], "fail", "{c}");
    let fact = c["fact"].as_str().unwrap();
    for want in [
        "older than 5.6",
        "pidfd_open",
        "openat2 with RESOLVE_IN_ROOT (Linux 5.6)",
    ] {
        assert!(fact.contains(want), "{want} in {fact}");
    }
    assert!(c["fix"].as_str().unwrap().contains("5.6 or later"), "{c}");
    let info = env.run_env(&["info", "--format", "json"], &old);
    let info = json(info.assert_ok());
    let missing = info["host"]["kernel_missing"].as_array().unwrap();
    assert!(
        missing
            .iter()
            .any(|m| m == "pidfd_open and clone3 with CLONE_PIDFD (Linux 5.3)"),
        "{info}"
    );
    let run = env.run_env(&["run", "--rm", "no-such-image", "true"], &old);
    assert_eq!(run.code(), Some(125), "{run}");
    let line = run.error_line();
    assert!(line.contains("older than 5.6"), "{run}");
    assert!(line.contains("openat2"), "{run}");
    assert!(
        !line.contains("no-such-image"),
        "stopped before the image: {run}"
    );
}

#[test]
fn info_reports_this_host_user_and_storage() {
    let Some(env) = TestEnv::new("info_reports_this_host_user_and_storage", TestUser::Any) else {
        return;
    };
    let info = json(&env.ok(&["info", "--format", "json"]));
    assert_eq!(info["host"]["kernel"], uname_r());
    assert_eq!(info["user"]["uid"], env.account.uid);
    assert_eq!(info["user"]["name"], env.account.name.as_str());
    assert_eq!(info["storage"]["root"], path_str(&env.storage()));
    assert_eq!(
        info["storage"]["runtime_dir"],
        path_str(&env.runtime_dir.join("burrow"))
    );
    assert_eq!(info["userns"]["error"], Value::Null);
    assert_eq!(info["overlay"]["error"], Value::Null);
    let sub = env.account.subuid;
    let uids = info["subids"]["uids"].as_array().unwrap();
    match sub {
        Some(r) => {
            assert_eq!(uids[0]["start"], r.start);
            assert_eq!(uids[0]["count"], r.count);
        }
        None => assert!(uids.is_empty()),
    }
    // cgroup layout as /proc/self/mounts has it.
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    let fstype = |dir: &str| {
        mounts.lines().rev().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&dir)).then(|| f[2].to_string())
        })
    };
    let layout = match (
        fstype("/sys/fs/cgroup").as_deref(),
        fstype("/sys/fs/cgroup/unified").as_deref(),
    ) {
        (Some("cgroup2"), _) => "v2",
        (Some("tmpfs"), Some("cgroup2")) => "hybrid",
        (Some("tmpfs"), _) => "v1",
        _ => "none",
    };
    assert_eq!(info["cgroup"]["layout"], layout);

    // The table is the same facts as `key: value` lines.
    let table = env.ok(&["info"]);
    assert!(table.stdout.lines().any(|l| l == "host:"), "{table}");
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l == format!("  kernel: {}", uname_r())),
        "{table}"
    );
}
