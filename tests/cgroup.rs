//! Resource limits where the machine gives no cgroup v2 to delegate (this
//! CI host: no systemd, a hybrid v1/v2 layout), as unprivileged users:
//! containers still run, the user hears why once, and a limit asked for
//! is an error that says why. The limits themselves are enforced in a VM
//! with systemd and cgroup v2: tests/vm/run-cgroup-tests.sh.

mod common;

use common::fixtures::busybox_rootfs;
use common::{path_str, TestEnv, TestUser};
use std::time::Duration;

const NOTE: &str = "Note: containers run without resource limits or stats: ";

/// cgroup v2 alone at /sys/fs/cgroup: this file's premise does not hold.
fn unified_cgroup_v2() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .rev()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"/sys/fs/cgroup")).then(|| f.get(2).map(|s| s.to_string()))
        })
        .next()
        .flatten()
        .as_deref()
        == Some("cgroup2")
}

/// A test environment with the busybox image imported as `bb`, or None
/// (after a SKIP line) where this machine has cgroup v2.
fn env_with_image(test: &str, user: TestUser) -> Option<TestEnv> {
    if unified_cgroup_v2() {
        eprintln!("SKIP {test}: this machine has cgroup v2; tests/vm covers it");
        return None;
    }
    let env = TestEnv::new(test, user)?;
    let tar = env.fixture("bb.tar", &busybox_rootfs().finish().tar);
    env.ok(&["import", path_str(&tar), "bb"]);
    Some(env)
}

#[test]
fn without_cgroup_v2_run_notes_it_once_and_runs() {
    for user in [TestUser::WithSubids, TestUser::NoSubids] {
        let Some(env) = env_with_image("without_cgroup_v2_run_notes_it_once_and_runs", user) else {
            continue;
        };
        let first = env.ok(&["run", "--rm", "bb", "echo", "first"]);
        assert_eq!(first.stdout, "first\n", "{first}");
        let notes: Vec<&str> = first
            .stderr
            .lines()
            .filter(|l| l.starts_with("Note: containers run without"))
            .collect();
        assert_eq!(notes.len(), 1, "one note\n{first}");
        assert!(
            notes[0].starts_with(NOTE) && notes[0].contains("cgroup"),
            "the note says why\n{first}"
        );
        let second = env.ok(&["run", "--rm", "bb", "echo", "second"]);
        assert_eq!(second.stdout, "second\n", "{second}");
        assert!(
            !second.stderr.contains(NOTE),
            "the note comes once, not on every run\n{second}"
        );
    }
}

#[test]
fn without_cgroup_v2_a_limit_is_an_error_that_says_why() {
    let Some(env) = env_with_image(
        "without_cgroup_v2_a_limit_is_an_error_that_says_why",
        TestUser::WithSubids,
    ) else {
        return;
    };
    for (flag, value) in [
        ("--memory", "10m"),
        ("--cpus", "0.5"),
        ("--cpu-period", "50000"),
        ("--cpu-quota", "50000"),
        ("--pids-limit", "20"),
    ] {
        let out = env.fails(&["run", "--rm", flag, value, "bb", "echo", "ran"]);
        let line = out.error_line();
        assert!(
            line.starts_with(&format!(
                "Error: {flag} needs cgroup v2 resource control, which is not available: "
            )),
            "{out}"
        );
        assert!(
            line.contains("cgroup layout here is"),
            "names the layout\n{out}"
        );
        assert!(
            !out.stdout.contains("ran"),
            "the container did not run\n{out}"
        );
    }
    // A detached container's supervisor makes the cgroup: same error, and
    // the container records that it did not start.
    let out = env.fails(&[
        "run", "-d", "--name", "dlim", "--memory", "10m", "bb", "echo", "ran",
    ]);
    assert!(
        out.error_line().starts_with(
            "Error: --memory needs cgroup v2 resource control, which is not available: "
        ),
        "{out}"
    );
    assert!(
        out.stdout.trim().is_empty(),
        "no id printed for a container that did not start\n{out}"
    );
    let ps = env.ok(&["ps", "-a"]);
    assert!(
        ps.stdout.contains("Exited (125)"),
        "the record says it failed\n{ps}"
    );
    env.ok(&["rm", "dlim"]);
    // --rm removes a container that failed to start, too.
    let ps = env.ok(&["ps", "-a", "--format", "json"]);
    let list = common::json_lines(&ps.stdout);
    assert!(
        list.as_array().is_some_and(|a| a.is_empty()),
        "--rm removed them\n{ps}"
    );
}

#[test]
fn bad_limits_are_refused_before_anything_runs() {
    let Some(env) = env_with_image(
        "bad_limits_are_refused_before_anything_runs",
        TestUser::WithSubids,
    ) else {
        return;
    };
    for (args, says) in [
        (&["--memory", "1k"][..], "--memory: the minimum is 6m"),
        (&["--memory", "lots"][..], "invalid size"),
        (&["--cpus", "0"][..], "invalid number of CPUs"),
        (
            &["--memory", "64m", "--memory-swap", "32m"][..],
            "--memory-swap: must be at least --memory",
        ),
        (
            &["--cpuset-cpus", "3-1"][..],
            "--cpuset-cpus: expected a list",
        ),
        (
            &["--device-read-bps", "sda:1mb"][..],
            "the device must be a path",
        ),
    ] {
        let mut argv = vec!["run", "--rm"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["bb", "echo", "ran"]);
        let out = env.run(&argv);
        assert_ne!(out.code(), Some(0), "{out}");
        assert!(out.stderr.contains(says), "{args:?}: {says:?}\n{out}");
        assert!(!out.stdout.contains("ran"), "{out}");
    }
}

#[test]
fn oom_score_adj_can_be_raised_not_lowered() {
    let Some(env) = env_with_image(
        "oom_score_adj_can_be_raised_not_lowered",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let out = env.ok(&[
        "run",
        "--rm",
        "--oom-score-adj",
        "500",
        "bb",
        "cat",
        "/proc/self/oom_score_adj",
    ]);
    assert_eq!(out.stdout, "500\n", "{out}");
    let out = env.fails(&["run", "--rm", "--oom-score-adj", "-500", "bb", "true"]);
    let line = out.error_line();
    assert!(line.contains("oom_score_adj"), "{out}");
    assert!(line.contains("can only be raised"), "{out}");
}

#[test]
fn a_container_without_a_cgroup_cannot_be_paused_or_updated() {
    let Some(env) = env_with_image(
        "a_container_without_a_cgroup_cannot_be_paused_or_updated",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let mut running = env.spawn(&["run", "--name", "nap", "bb", "sleep", "30"]);
    common::wait_for(Duration::from_secs(20), "the container to start", || {
        env.run(&["ps"]).stdout.contains("nap")
    });
    for args in [
        &["pause", "nap"][..],
        &["unpause", "nap"][..],
        &["update", "--memory", "64m", "nap"][..],
    ] {
        let out = env.fails(args);
        assert!(
            out.error_line().contains("runs without a cgroup"),
            "{args:?}\n{out}"
        );
    }
    let stats = env.ok(&["stats", "--no-stream", "--format", "json", "nap"]);
    let rows = common::json_lines(&stats.stdout);
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{stats}");
    // docker's fields, all strings: `.Container` as typed.
    assert_eq!(rows[0]["Name"], "nap", "{stats}");
    assert_eq!(rows[0]["Container"], "nap", "{stats}");
    assert_eq!(rows[0]["ID"].as_str().map(str::len), Some(12), "{stats}");
    // Unknown, not zero: docker's `--`.
    assert_eq!(rows[0]["PIDs"], "--", "{stats}");
    assert_eq!(rows[0]["MemUsage"], "--", "{stats}");
    assert_eq!(rows[0]["CPUPerc"], "--", "{stats}");
    let net = rows[0]["NetIO"].as_str().unwrap_or_default();
    assert!(net.contains(" / ") && net != "--", "{stats}");
    // The table: `--` where the cgroup would speak, the network counters
    // (read from the container's own /proc) still shown, and one note.
    let table = env.ok(&["stats", "--no-stream", "nap"]);
    let row = table.stdout.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = row
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells.len(), 8, "{table}");
    assert_eq!(cells[1], "nap", "{table}");
    for i in [2, 3, 4, 6, 7] {
        assert_eq!(cells[i], "--", "column {i}\n{table}");
    }
    assert!(cells[5].contains(" / ") && cells[5] != "--", "{table}");
    let notes: Vec<&str> = table
        .stderr
        .lines()
        .filter(|l| l.starts_with("Note: no cgroup data for nap"))
        .collect();
    assert_eq!(notes.len(), 1, "one note\n{table}");
    assert!(!table.stdout.contains("0.00%"), "no zeros\n{table}");
    env.ok(&["rm", "-f", "nap"]);
    common::kill_group(&mut running);
    // A missing container is docker's "No such container", exit 1.
    let out = env.run(&["update", "--memory", "64m", "nap"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.error_line().contains("No such container"), "{out}");
}

#[test]
fn cpu_period_and_quota_keep_dockers_bounds_and_conflicts() {
    let Some(env) = env_with_image(
        "cpu_period_and_quota_keep_dockers_bounds_and_conflicts",
        TestUser::WithSubids,
    ) else {
        return;
    };
    for (args, says) in [
        (
            &["--cpus", "1", "--cpu-period", "50000"][..],
            "Error: Conflicting options: Nano CPUs and CPU Period cannot both be set \
             (--cpus and --cpu-period)",
        ),
        (
            &["--cpu-quota", "50000", "--cpus", "0.5"][..],
            "Error: Conflicting options: Nano CPUs and CPU Quota cannot both be set \
             (--cpus and --cpu-quota)",
        ),
        (
            &["--cpu-period", "999"][..],
            "Error: --cpu-period: must be between 1000 and 1000000 microseconds",
        ),
        (
            &["--cpu-period", "1000001", "--cpu-quota", "50000"][..],
            "Error: --cpu-period: must be between 1000 and 1000000 microseconds",
        ),
        (
            &["--cpu-quota", "999"][..],
            "Error: --cpu-quota: the minimum is 1000 microseconds (1ms); -1 for no quota",
        ),
        (&["--cpu-quota", "-2"][..], "invalid CPU quota \"-2\""),
        (&["--cpu-period", "lots"][..], "--cpu-period"),
        (&["--memory-swappiness", "101"][..], "--memory-swappiness"),
        (&["--memory-swappiness", "-2"][..], "--memory-swappiness"),
    ] {
        let mut argv = vec!["run", "--rm"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["bb", "echo", "ran"]);
        let out = env.run(&argv);
        assert_eq!(out.code(), Some(125), "{args:?}\n{out}");
        assert!(out.stderr.contains(says), "{args:?}: {says:?}\n{out}");
        assert!(!out.stdout.contains("ran"), "{out}");
    }
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "nothing was created\n{ps}");
    // update checks what it is given before it looks for the cgroup.
    env.ok(&["create", "--name", "later", "bb", "sleep", "30"]);
    for (args, says) in [
        (
            &["--cpu-quota", "500"][..],
            "Error: --cpu-quota: the minimum is 1000",
        ),
        (
            &["--cpus", "1", "--cpu-period", "20000"][..],
            "Error: Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
    ] {
        let mut argv = vec!["update"];
        argv.extend_from_slice(args);
        argv.push("later");
        let out = env.fails(&argv);
        assert!(out.error_line().starts_with(says), "{args:?}\n{out}");
    }
    env.ok(&["rm", "later"]);
}

#[test]
fn memory_swappiness_is_taken_recorded_and_discarded_with_one_warning() {
    let Some(env) = env_with_image(
        "memory_swappiness_is_taken_recorded_and_discarded_with_one_warning",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let warning = "Warning: --memory-swappiness 60 is discarded: cgroup v2 has no per-cgroup \
                   swappiness (the host's vm.swappiness applies)";
    let out = env.ok(&[
        "run",
        "--rm",
        "--memory-swappiness",
        "60",
        "bb",
        "echo",
        "ran",
    ]);
    assert_eq!(out.stdout, "ran\n", "{out}");
    let said: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("swappiness"))
        .collect();
    assert_eq!(said, [warning], "one warning\n{out}");
    let shown = "{{json .HostConfig.MemorySwappiness}} {{.HostConfig.CpuPeriod}} \
                 {{.HostConfig.CpuQuota}} {{.HostConfig.CgroupnsMode}}";
    for (args, want, warns) in [
        (&["--memory-swappiness", "0"][..], "0 0 0 private", true),
        (
            &["--memory-swappiness", "-1"][..],
            "null 0 0 private",
            false,
        ),
        (&[][..], "null 0 0 private", false),
        // Recorded as asked; applied (or refused here) when it starts.
        (
            &["--cpu-period", "50000", "--cpu-quota", "25000"][..],
            "null 50000 25000 private",
            false,
        ),
        (&["--cpu-quota", "-1"][..], "null 0 -1 private", false),
    ] {
        let mut argv = vec!["create", "--name", "sw"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["bb", "true"]);
        let made = env.ok(&argv);
        assert_eq!(
            made.stderr.contains("--memory-swappiness"),
            warns,
            "{args:?}\n{made}"
        );
        let out = env.ok(&["inspect", "-f", shown, "sw"]);
        assert_eq!(out.stdout.trim(), want, "{args:?}\n{out}");
        env.ok(&["rm", "sw"]);
    }
}
