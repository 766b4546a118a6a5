//! Detached containers as a user types them: `run -d`, the supervisor,
//! `exec`, `logs`, `stop`, `kill`, `start`, `restart`, `wait`, `attach`,
//! `top`, `port`, `rename`, and the state `ps` shows after a supervisor or a
//! container's pid 1 is killed.

mod common;

use common::{path_str, TestEnv, TestUser};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const IMAGE: &str = "lt:latest";

fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::WithSubids)?;
    env.load_busybox(
        IMAGE,
        &[
            "yes", "head", "ps", "hostname", "seq", "wc", "pwd", "env", "grep", "sed",
        ],
        json!({
            "Env": ["PATH=/bin", "FROM_IMAGE=yes"],
            "Cmd": ["sh"],
            // sh as pid 1 ignores SIGTERM: a trap on SIGUSR1 proves the
            // image's StopSignal is the one sent.
            "StopSignal": "SIGUSR1",
        }),
    );
    Some(env)
}

fn inspect(env: &TestEnv, name: &str) -> Value {
    let out = env.ok(&["inspect", "--type", "container", name]);
    let v: Value = serde_json::from_str(&out.stdout).expect("inspect is JSON");
    v[0].clone()
}

fn status(env: &TestEnv, name: &str) -> String {
    inspect(env, name)["State"]["Status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn wait_until(what: &str, f: impl FnMut() -> bool) {
    common::wait_for(Duration::from_secs(20), what, f);
}

/// The pid of the supervisor of container `id`, found in /proc.
fn supervisor_pid(id: &str) -> Option<i32> {
    supervisor_pids(id).first().copied()
}

/// The pids of every live supervisor of container `id`: processes of
/// `__supervise` for it, but for those one forked (the container's
/// processes start as such a copy).
fn supervisor_pids(id: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let found: Vec<(i32, i32)> = dir
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut after = stat.rsplit(')').next()?.split_whitespace();
            let zombie = after.next()? == "Z";
            let ppid: i32 = after.next()?.parse().ok()?;
            (cmd.contains("__supervise") && cmd.contains(id) && !zombie).then_some((pid, ppid))
        })
        .collect();
    found
        .iter()
        .filter(|(_, ppid)| !found.iter().any(|(pid, _)| pid == ppid))
        .map(|(pid, _)| *pid)
        .collect()
}

fn rss_kb(pid: i32) -> Option<u64> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    st.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn container_dir(env: &TestEnv, id: &str) -> PathBuf {
    env.storage().join("containers").join(id)
}

#[test]
fn run_detached_prints_the_id_and_ps_follows_the_container_to_its_exit_status() {
    let Some(env) = env_with_image("run_detached_prints_the_id") else {
        return;
    };
    let out = env.ok(&[
        "run",
        "-d",
        "--name",
        "d1",
        IMAGE,
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id\n{out}");
    assert_eq!(status(&env, "d1"), "running");
    let ps = env.ok(&["ps"]);
    assert!(ps.stdout.contains("d1") && ps.stdout.contains("Up"), "{ps}");
    let sup = supervisor_pid(&id).expect("a supervisor runs");
    // It survives the terminal going away.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let wait = env.ok(&["wait", "d1"]);
    assert_eq!(
        wait.stdout.trim(),
        "3",
        "wait prints the exit status\n{wait}"
    );
    let ps = env.ok(&["ps", "-a"]);
    assert!(ps.stdout.contains("Exited (3)"), "{ps}");
    assert!(!env.ok(&["ps"]).stdout.contains("d1"));
    let i = inspect(&env, "d1");
    assert_eq!(i["State"]["ExitCode"], 3);
    assert!(i["State"]["FinishedAt"].is_string());
    wait_until("the supervisor to exit", || supervisor_pid(&id).is_none());
    env.ok(&["rm", "d1"]);
    assert!(!container_dir(&env, &id).exists());
}

#[test]
fn logs_keep_stdout_and_stderr_apart_with_tail_since_and_timestamps() {
    let Some(env) = env_with_image("logs_keep_stdout_and_stderr_apart") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "l1",
        IMAGE,
        "sh",
        "-c",
        // Pauses between writes: the streams are two pipes, and only
        // writes apart in time have an order.
        "echo out1; echo err1 >&2; echo out2; sleep 0.1; echo err2 >&2; sleep 0.1; echo out3",
    ]);
    env.ok(&["wait", "l1"]);
    let logs = env.ok(&["logs", "l1"]);
    assert_eq!(logs.stdout, "out1\nout2\nout3\n", "{logs}");
    assert_eq!(logs.stderr, "err1\nerr2\n", "{logs}");
    let tail = env.ok(&["logs", "--tail", "1", "l1"]);
    assert_eq!(tail.stdout, "out3\n", "{tail}");
    assert_eq!(tail.stderr, "", "the last line overall is out3\n{tail}");
    let ts = env.ok(&["logs", "-t", "l1"]);
    for line in ts.stdout.lines() {
        let (time, text) = line
            .split_once(' ')
            .expect("a timestamp, a space, the line");
        assert!(time.ends_with('Z') && time.contains('T'), "{line}");
        assert!(text.starts_with("out"), "{line}");
    }
    let future = env.ok(&["logs", "--since", "4000000000", "l1"]);
    assert_eq!(future.stdout, "", "{future}");
    let past = env.ok(&["logs", "--since", "1h", "l1"]);
    assert_eq!(past.stdout.lines().count(), 3, "{past}");
    env.fails(&["logs", "--since", "whenever", "l1"]);
    // --until: the lines before a time; with --since, those between. The
    // stamps of -t are the times they take.
    let stamps: Vec<String> = ts
        .stdout
        .lines()
        .map(|l| l.split_once(' ').expect("stamped").0.to_string())
        .collect();
    let before = env.ok(&["logs", "--until", &stamps[2], "l1"]);
    assert_eq!(before.stdout, "out1\nout2\n", "{before}");
    let after = env.ok(&["logs", "--since", &stamps[2], "--until", "4000000000", "l1"]);
    assert_eq!(after.stdout, "out3\n", "{after}");
    let none = env.ok(&["logs", "--since", &stamps[2], "--until", &stamps[2], "l1"]);
    assert_eq!(none.stdout, "", "{none}");
    let past = env.ok(&["logs", "--until", "1h", "l1"]);
    assert_eq!(past.stdout, "", "{past}");
    env.fails(&["logs", "--until", "whenever", "l1"]);
    // --details: nothing is added without --log-opt labels/env, as docker.
    let details = env.ok(&["logs", "--details", "l1"]);
    assert_eq!(details.stdout, logs.stdout, "{details}");
    env.ok(&["rm", "l1"]);
}

#[test]
fn logs_follow_prints_until_the_container_exits() {
    let Some(env) = env_with_image("logs_follow_prints_until_the_container_exits") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "f1",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done",
    ]);
    let started = Instant::now();
    let out = env.ok(&["logs", "-f", "f1"]);
    assert_eq!(out.stdout, "line1\nline2\nline3\nline4\nline5\n", "{out}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "-f waited for the end"
    );
    env.ok(&["rm", "f1"]);
}

#[test]
fn megabytes_of_output_are_logged_complete() {
    let Some(env) = env_with_image("megabytes_of_output_are_logged_complete") else {
        return;
    };
    // 6 MB of numbered lines: any lost or reordered chunk shows.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "big",
        IMAGE,
        "sh",
        "-c",
        "seq 1 800000; echo end >&2",
    ]);
    assert_eq!(env.ok(&["wait", "big"]).stdout.trim(), "0");
    let out = env.ok(&["logs", "big"]);
    let want: String = (1..=800000).map(|i| format!("{i}\n")).collect();
    assert!(want.len() > 5_000_000);
    assert_eq!(out.stdout.len(), want.len(), "every byte is in the log");
    assert!(out.stdout == want, "the log holds the output in order");
    assert_eq!(out.stderr, "end\n");
    env.ok(&["rm", "big"]);
}

#[test]
fn a_small_log_limit_rotates_and_keeps_the_newest_output() {
    let Some(env) = env_with_image("a_small_log_limit_rotates") else {
        return;
    };
    let config = env.config_home.join("burrow");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[logs]\nmax_size = \"64k\"\n").unwrap();
    env.give(&config);
    env.give(&config.join("config.toml"));
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "rot",
            IMAGE,
            "sh",
            "-c",
            "seq 1 100000",
        ])
        .stdout
        .trim()
        .to_string();
    env.ok(&["wait", "rot"]);
    let dir = container_dir(&env, &id);
    let cur = std::fs::metadata(dir.join("container.log")).unwrap().len();
    let old = std::fs::metadata(dir.join("container.log.1"))
        .unwrap()
        .len();
    assert!(cur <= 64 * 1024 && old <= 64 * 1024, "{cur} {old}");
    assert!(
        !dir.join("container.log.2").exists(),
        "one previous file only"
    );
    let out = env.ok(&["logs", "rot"]);
    assert!(
        out.stdout.ends_with("99999\n100000\n"),
        "the newest output stays"
    );
    assert!(!out.stdout.starts_with("1\n"), "the oldest output is gone");
    // What is there is in order; the first line may have been cut in two
    // by the rotation (it rotates between writes, not lines).
    let nums: Vec<u64> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1));
    env.ok(&["rm", "rot"]);
}

#[test]
fn log_opt_max_file_keeps_that_many_files_of_max_size_and_logs_reads_them_all() {
    let Some(env) = env_with_image("log_opt_max_file") else {
        return;
    };
    for files in [1usize, 3] {
        let name = format!("mf{files}");
        let id = env
            .ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--log-opt",
                "max-size=16k",
                "--log-opt",
                &format!("max-file={files}"),
                IMAGE,
                "sh",
                "-c",
                "seq 1 100000",
            ])
            .stdout
            .trim()
            .to_string();
        env.ok(&["wait", &name]);
        let dir = container_dir(&env, &id);
        let mut on_disk: Vec<(String, u64)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with("container.log"))
            .map(|e| {
                let len = e.metadata().unwrap().len();
                (e.file_name().to_string_lossy().into_owned(), len)
            })
            .collect();
        on_disk.sort();
        let names: Vec<&str> = on_disk.iter().map(|(n, _)| n.as_str()).collect();
        let want = ["container.log", "container.log.1", "container.log.2"];
        assert_eq!(names, want[..files], "max-file={files}");
        assert!(
            on_disk.iter().all(|(_, len)| *len <= 16 * 1024),
            "{on_disk:?}"
        );
        // `logs` gives what the files hold, oldest first: the newest
        // output, in order, as much as `files` files of 16k keep (a file
        // is full to within one frame, at most 4k).
        let out = env.ok(&["logs", &name]).stdout;
        assert!(out.ends_with("99999\n100000\n"), "max-file={files}");
        let kept = out.len();
        assert!(kept <= files * 16 * 1024, "{files}: {kept}");
        assert!(kept > (files - 1) * 12 * 1024, "{files}: {kept}");
        let nums: Vec<u64> = out.lines().skip(1).map(|l| l.parse().unwrap()).collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1));
        env.ok(&["rm", &name]);
    }
}

/// `exec` reads a running container's record and plan and makes nothing
/// in the store: in a store never used it finds no container and leaves
/// the store's directories unmade (the store's owner and file system are
/// still checked, as every command checks them).
#[test]
fn exec_of_a_missing_container_makes_no_store() {
    let Some(env) = TestEnv::new(
        "exec_of_a_missing_container_makes_no_store",
        TestUser::WithSubids,
    ) else {
        return;
    };
    let out = env.run(&["exec", "nothing-here", "true"]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr.contains("No such container: nothing-here"),
        "{out}"
    );
    for dir in ["blobs", "layers", "images", "tmp", "locks", "containers"] {
        let path = env.storage().join(dir);
        assert!(!path.exists(), "exec made {}", path.display());
    }
}

#[test]
fn exec_runs_in_the_container_with_its_settings_and_passes_the_status() {
    let Some(env) = env_with_image("exec_runs_in_the_container") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "e1",
        "-e",
        "RUN_VAR=1",
        "-w",
        "/tmp",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let out = env.ok(&[
        "exec",
        "e1",
        "sh",
        "-c",
        "echo $FROM_IMAGE $RUN_VAR; pwd; id -u; hostname; ps -o pid,args",
    ]);
    let lines = out.stdout_lines();
    assert_eq!(lines[0], "yes 1", "the container's environment\n{out}");
    assert_eq!(lines[1], "/tmp", "the container's working directory\n{out}");
    assert_eq!(lines[2], "0");
    let hostname = inspect(&env, "e1")["Config"]["Hostname"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(lines[3], hostname, "the container's UTS namespace\n{out}");
    assert!(
        out.stdout.lines().any(|l| l.trim() == "1 sleep 1000"),
        "the container's pid namespace: its pid 1 is the sleep\n{out}"
    );
    let out = env.ok(&[
        "exec",
        "-e",
        "RUN_VAR=2",
        "-w",
        "/etc",
        "-u",
        "1000:1000",
        "e1",
        "sh",
        "-c",
        "echo $RUN_VAR; pwd; id -u; id -g; grep CapEff /proc/self/status",
    ]);
    let lines = out.stdout_lines();
    assert_eq!(&lines[..4], &["2", "/etc", "1000", "1000"], "{out}");
    assert!(
        lines[4].ends_with("0000000000000000"),
        "no capabilities as a user\n{out}"
    );
    // --env-file: its lines, then -e over them, over the container's.
    let file = env.fixture(
        "exec.env",
        b"# a comment\nRUN_VAR=from-file\nFILE_ONLY=yes\n",
    );
    let out = env.ok(&[
        "exec",
        "--env-file",
        path_str(&file),
        "-e",
        "FILE_ONLY=flag",
        "e1",
        "sh",
        "-c",
        "echo $RUN_VAR $FILE_ONLY $FROM_IMAGE",
    ]);
    assert_eq!(out.stdout, "from-file flag yes\n", "{out}");
    let missing_file = env.run(&["exec", "--env-file", "/no/such.env", "e1", "true"]);
    assert_eq!(missing_file.code(), Some(125), "{missing_file}");
    assert!(
        missing_file.stderr.contains("/no/such.env"),
        "{missing_file}"
    );
    // --privileged: every capability for that command (CAP_SYS_ADMIN is
    // not in the container's default set), none as a user.
    let cap_eff = |extra: &[&str]| -> u64 {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend(["e1", "grep", "CapEff", "/proc/self/status"]);
        let out = env.ok(&args);
        let hex = out.stdout.split_whitespace().nth(1).expect("CapEff: HEX");
        u64::from_str_radix(hex, 16).expect("hex")
    };
    const SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(cap_eff(&[]) & SYS_ADMIN, 0);
    assert_ne!(cap_eff(&["--privileged"]) & SYS_ADMIN, 0);
    assert!(cap_eff(&["--privileged"]) > cap_eff(&[]));
    assert_eq!(cap_eff(&["--privileged", "-u", "1000"]), 0);
    assert_eq!(
        env.run(&["exec", "e1", "sh", "-c", "exit 7"]).code(),
        Some(7)
    );
    let missing = env.run(&["exec", "e1", "no-such-command"]);
    assert_eq!(missing.code(), Some(127), "{missing}");
    // Files written by exec are in the container's writable layer.
    env.ok(&["exec", "e1", "sh", "-c", "echo data > /made-by-exec"]);
    assert_eq!(
        env.ok(&["exec", "e1", "cat", "/made-by-exec"]).stdout,
        "data\n"
    );
    let with_stdin = env.run_with_stdin(&["exec", "-i", "e1", "cat"], Some(b"piped in\n"));
    assert_eq!(with_stdin.stdout, "piped in\n", "{with_stdin}");
    env.ok(&["exec", "-d", "e1", "sleep", "1000"]);
    let top = env.ok(&["top", "e1"]);
    assert_eq!(
        top.stdout
            .lines()
            .filter(|l| l.ends_with("sleep 1000"))
            .count(),
        2,
        "top lists the container's processes, the detached exec too\n{top}"
    );
    env.ok(&["rm", "-f", "e1"]);
}

#[test]
fn exec_into_a_stopped_container_is_a_clear_error() {
    let Some(env) = env_with_image("exec_into_a_stopped_container") else {
        return;
    };
    env.ok(&["run", "-d", "--name", "s1", IMAGE, "true"]);
    env.ok(&["wait", "s1"]);
    let out = env.fails(&["exec", "s1", "true"]);
    assert!(
        out.error_line().contains("not running") && out.error_line().contains("burrow start s1"),
        "{out}"
    );
    // A missing container is docker's "No such container", exit 1.
    let out = env.run(&["exec", "nonesuch", "true"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.error_line().contains("No such container"), "{out}");
    env.ok(&["rm", "s1"]);
}

#[test]
fn stop_sends_the_images_stop_signal_then_sigkill_after_the_timeout() {
    let Some(env) = env_with_image("stop_sends_the_images_stop_signal") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "graceful",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_until("the trap to be set", || {
        env.ok(&["logs", "graceful"]).stdout.contains("ready")
    });
    env.ok(&["stop", "graceful"]);
    assert_eq!(status(&env, "graceful"), "exited");
    assert_eq!(inspect(&env, "graceful")["State"]["ExitCode"], 0);
    assert!(env.ok(&["logs", "graceful"]).stdout.contains("got-usr1"));

    // sh as pid 1 without a trap ignores the signal: SIGKILL after -t.
    env.ok(&["run", "-d", "--name", "stubborn", IMAGE, "sleep", "1000"]);
    let started = Instant::now();
    env.ok(&["stop", "-t", "1", "stubborn"]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "waited for the timeout: {took:?}"
    );
    assert_eq!(inspect(&env, "stubborn")["State"]["ExitCode"], 137);
    // Stopping a stopped container is fine.
    env.ok(&["stop", "stubborn"]);
    env.ok(&["rm", "graceful", "stubborn"]);
}

#[test]
fn stop_and_restart_send_the_signal_they_are_given() {
    let Some(env) = env_with_image("stop_and_restart_signal") else {
        return;
    };
    // The image's stop signal is SIGUSR1; -s HUP must replace it.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hup",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got-hup; exit 5' HUP; trap 'echo got-usr1; exit 6' USR1; \
         echo ready; while true; do sleep 0.1; done",
    ]);
    let ready = |n: usize| {
        wait_until("the traps to be set", || {
            env.ok(&["logs", "hup"]).stdout.matches("ready").count() == n
        })
    };
    ready(1);
    let out = env.ok(&["stop", "-s", "HUP", "-t", "20", "hup"]);
    assert_eq!(out.stdout.trim(), "hup", "{out}");
    assert_eq!(inspect(&env, "hup")["State"]["ExitCode"], 5);
    env.ok(&["start", "hup"]);
    ready(2);
    env.ok(&["restart", "--signal", "SIGHUP", "--timeout", "20", "hup"]);
    ready(3);
    assert_eq!(status(&env, "hup"), "running");
    let logs = env.ok(&["logs", "hup"]).stdout;
    assert_eq!(logs.matches("got-hup").count(), 2, "{logs}");
    assert!(!logs.contains("got-usr1"), "{logs}");
    let bad = env.run(&["stop", "--signal", "NOPE", "hup"]);
    assert_eq!(bad.code(), Some(common::EXIT_FAILURE), "{bad}");
    assert!(bad.stderr.contains("NOPE"), "{bad}");
    env.ok(&["rm", "-f", "hup"]);
}

#[test]
fn kill_start_restart_rename_and_port() {
    let Some(env) = env_with_image("kill_start_restart_rename_and_port") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "k1",
        IMAGE,
        "sh",
        "-c",
        "echo started; sleep 1000",
    ]);
    env.ok(&["exec", "k1", "sh", "-c", "echo kept > /state"]);
    env.ok(&["kill", "-s", "KILL", "k1"]);
    wait_until("k1 to exit", || status(&env, "k1") == "exited");
    assert_eq!(inspect(&env, "k1")["State"]["ExitCode"], 137);
    // Not running: docker's status 1; an unknown signal is a usage error.
    assert_eq!(env.run(&["kill", "k1"]).code(), Some(1));
    env.fails(&["kill", "-s", "NOSUCHSIG", "k1"]);

    env.ok(&["start", "k1"]);
    assert_eq!(status(&env, "k1"), "running");
    assert_eq!(
        env.ok(&["exec", "k1", "cat", "/state"]).stdout,
        "kept\n",
        "start keeps the writable layer"
    );
    let pid_before = inspect(&env, "k1")["State"]["Pid"].clone();
    env.ok(&["restart", "-t", "1", "k1"]);
    assert_eq!(status(&env, "k1"), "running");
    assert_ne!(
        inspect(&env, "k1")["State"]["Pid"],
        pid_before,
        "a new pid 1"
    );
    assert_eq!(env.ok(&["logs", "k1"]).stdout.matches("started").count(), 3);

    env.ok(&["rename", "k1", "renamed"]);
    assert_eq!(status(&env, "renamed"), "running");
    assert_eq!(
        env.run(&["inspect", "--type", "container", "k1"]).code(),
        Some(1)
    );
    env.ok(&["run", "-d", "--name", "other", IMAGE, "true"]);
    env.fails(&["rename", "renamed", "other"]);
    let port = env.ok(&["port", "renamed"]);
    assert_eq!(port.stdout, "", "no published ports without a network");
    env.ok(&["rm", "-f", "renamed", "other"]);
}

#[test]
fn start_attach_and_attach_relay_output_and_the_exit_status() {
    let Some(env) = env_with_image("start_attach_and_attach") else {
        return;
    };
    env.ok(&[
        "run",
        "-d",
        "--name",
        "a1",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    ]);
    env.ok(&["wait", "a1"]);
    let out = env.run(&["start", "-a", "a1"]);
    assert_eq!(out.code(), Some(4), "{out}");
    assert_eq!(out.stdout, "out\n", "{out}");
    assert_eq!(out.stderr, "err\n", "{out}");

    env.ok(&["run", "-d", "-i", "--name", "cat", IMAGE, "cat"]);
    let att = env.spawn(&["attach", "cat"]);
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["exec", "cat", "sh", "-c", "echo via-proc > /proc/1/fd/1"]);
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["stop", "-t", "1", "cat"]);
    let out = common::finish(att);
    assert!(
        out.stdout.contains("via-proc"),
        "attach relays live output\n{out}"
    );
    let piped = env.run_with_stdin(&["start", "-a", "-i", "cat"], Some(b"to stdin\n"));
    assert!(piped.stdout.contains("to stdin"), "{piped}");
    env.ok(&["rm", "-f", "a1", "cat"]);
}

#[test]
fn rm_and_restart_policies_are_honoured_by_the_supervisor() {
    let Some(env) = env_with_image("rm_and_restart_policies") else {
        return;
    };
    let id = env
        .ok(&["run", "-d", "--rm", IMAGE, "true"])
        .stdout
        .trim()
        .to_string();
    wait_until("--rm to remove it", || !container_dir(&env, &id).exists());
    env.fails(&["run", "-d", "--rm", "--restart", "always", IMAGE, "true"]);
    env.fails(&["run", "-d", "--restart", "sometimes", IMAGE, "true"]);

    env.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "--name",
        "flaky",
        IMAGE,
        "sh",
        "-c",
        "echo try; exit 1",
    ]);
    wait_until("two restarts", || {
        env.ok(&["logs", "flaky"]).stdout.matches("try").count() == 3
            && status(&env, "flaky") == "exited"
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        env.ok(&["logs", "flaky"]).stdout.matches("try").count(),
        3,
        "no more than 2 restarts"
    );

    env.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "always",
        IMAGE,
        "sh",
        "-c",
        "echo up; sleep 0.2",
    ]);
    wait_until("restarts", || {
        env.ok(&["logs", "always"]).stdout.matches("up").count() >= 3
    });
    env.ok(&["stop", "-t", "1", "always"]);
    let n = env.ok(&["logs", "always"]).stdout.matches("up").count();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        env.ok(&["logs", "always"]).stdout.matches("up").count(),
        n,
        "stop ends the restarts"
    );
    assert_eq!(status(&env, "always"), "exited");
    env.ok(&["rm", "flaky", "always"]);
}

/// `start` of a container whose supervisor waits to restart it (its
/// command exits at once, `--restart always`): no second supervisor; the
/// live one starts it, and `stop` ends them both.
#[test]
fn start_of_a_restarting_container_goes_to_its_live_supervisor() {
    let Some(env) = env_with_image("start_of_a_restarting_container") else {
        return;
    };
    let id = env
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "--name",
            "rs",
            IMAGE,
            "sh",
            "-c",
            "echo up",
        ])
        .stdout
        .trim()
        .to_string();
    let runs = || env.ok(&["logs", "rs"]).stdout.matches("up").count();
    // From the fourth run on, the waits between two are 800 ms and more.
    wait_until("restarts, and a wait for the next", || {
        runs() >= 4 && status(&env, "rs") == "exited"
    });
    let before = runs();
    let out = env.ok(&["start", "rs"]);
    assert_eq!(out.stdout.trim(), "rs", "{out}");
    assert_eq!(
        supervisor_pids(&id).len(),
        1,
        "one supervisor, the one that was waiting"
    );
    wait_until("the run it started", || runs() > before);
    env.ok(&["stop", "-t", "1", "rs"]);
    wait_until("the supervisor to exit", || supervisor_pids(&id).is_empty());
    assert_eq!(status(&env, "rs"), "exited");
    env.ok(&["rm", "rs"]);
}

#[test]
fn killing_the_supervisor_or_pid_1_leaves_a_true_state_and_rm_cleans_up() {
    let Some(env) = env_with_image("killing_the_supervisor_or_pid_1") else {
        return;
    };
    let id = env
        .ok(&["run", "-d", "--name", "sup", IMAGE, "sleep", "1000"])
        .stdout
        .trim()
        .to_string();
    let pid = inspect(&env, "sup")["State"]["Pid"].as_i64().unwrap() as i32;
    let sup = supervisor_pid(&id).expect("supervisor");
    let rss = rss_kb(sup).unwrap_or(0);
    eprintln!("supervisor VmRSS: {rss} kB");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The container dies with its supervisor (PR_SET_PDEATHSIG).
    wait_until("ps to show it exited", || status(&env, "sup") == "exited");
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(st.is_empty() || st.contains(") Z"), "pid 1 is gone: {st}");
    assert!(!env.ok(&["ps"]).stdout.contains("sup"));
    let runtime = env.runtime_dir.join("burrow/containers").join(&id);
    env.ok(&["rm", "sup"]);
    assert!(
        !container_dir(&env, &id).exists() && !runtime.exists(),
        "rm cleans both dirs"
    );

    let id = env
        .ok(&["run", "-d", "--name", "p1", IMAGE, "sleep", "1000"])
        .stdout
        .trim()
        .to_string();
    let pid = inspect(&env, "p1")["State"]["Pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("p1 to exit", || status(&env, "p1") == "exited");
    assert_eq!(inspect(&env, "p1")["State"]["ExitCode"], 137);
    wait_until("the supervisor to leave", || supervisor_pid(&id).is_none());
    env.ok(&["rm", "p1"]);
    assert!(!env.runtime_dir.join("burrow/containers").join(&id).exists());
}

#[test]
fn thirty_detached_containers_are_all_listed_all_stopped_and_nothing_is_left() {
    let Some(env) = env_with_image("thirty_detached_containers") else {
        return;
    };
    let names: Vec<String> = (0..30).map(|i| format!("many{i}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|n| env.spawn(&["run", "-d", "--name", n, IMAGE, "sleep", "1000"]))
        .collect();
    let mut ids = Vec::new();
    for c in children {
        let out = common::finish(c);
        out.assert_ok();
        ids.push(out.stdout.trim().to_string());
    }
    let ps = env.ok(&["ps", "-q", "--no-trunc"]);
    let listed: std::collections::BTreeSet<&str> = ps.stdout_lines().into_iter().collect();
    for id in &ids {
        assert!(listed.contains(id.as_str()), "{id} listed\n{ps}");
    }
    let mut args = vec!["stop", "-t", "1"];
    args.extend(names.iter().map(|s| s.as_str()));
    let started = Instant::now();
    env.ok(&args);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stops run side by side"
    );
    assert!(env.ok(&["ps", "-q"]).stdout.trim().is_empty());
    let mut args = vec!["rm"];
    args.extend(names.iter().map(|s| s.as_str()));
    env.ok(&args);
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    for id in &ids {
        wait_until("supervisors to exit", || supervisor_pid(id).is_none());
    }
    let left: Vec<_> = std::fs::read_dir(env.runtime_dir.join("burrow/containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "runtime dirs left: {left:?}");
}

#[test]
fn cp_both_ways_stays_inside_the_container_through_its_symlinks() {
    let Some(env) = env_with_image("cp_both_ways_stays_inside") else {
        return;
    };
    let host_dir = env.work.join("host-side");
    std::fs::create_dir_all(&host_dir).unwrap();
    env.give(&host_dir);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        IMAGE,
        "sh",
        "-c",
        "mkdir /data; echo inside > /data/f; ln -s /etc/passwd /data/abs; \
         ln -s ../../../../../.. /data/up; echo ready; sleep 1000",
    ]);
    wait_until("the files", || {
        env.ok(&["logs", "c1"]).stdout.contains("ready")
    });
    let src = env.fixture("from-host", b"from the host\n");
    env.give(&src);
    for (state, dst) in [("running", "/data/up/tmp/"), ("stopped", "/data/up/")] {
        if state == "stopped" {
            env.ok(&["stop", "-t", "0", "c1"]);
        }
        // Out: a file, and a symlink copied as a link, not followed.
        let out = host_dir.join(format!("f-{state}"));
        env.ok(&["cp", "c1:/data/f", out.to_str().unwrap()]);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "inside\n",
            "{state}"
        );
        // A path through an absolute symlink resolves in the container.
        let passwd = host_dir.join(format!("passwd-{state}"));
        env.ok(&["cp", "c1:/data/abs", passwd.to_str().unwrap()]);
        assert_eq!(
            std::fs::read_link(&passwd).unwrap(),
            PathBuf::from("/etc/passwd")
        );
        let through = host_dir.join(format!("through-{state}"));
        env.ok(&["cp", "c1:/data/up/etc/passwd", through.to_str().unwrap()]);
        assert!(
            std::fs::read_to_string(&through)
                .unwrap()
                .contains("nobody:x:65534"),
            "`..` out of the root stays at the container's root ({state})"
        );
        // In: through a symlink that climbs, the file lands in the container.
        env.ok(&["cp", src.to_str().unwrap(), &format!("c1:{dst}")]);
        let landed = if state == "running" {
            "/tmp/from-host"
        } else {
            "/from-host"
        };
        if state == "running" {
            assert_eq!(
                env.ok(&["exec", "c1", "cat", landed]).stdout,
                "from the host\n"
            );
        } else {
            let back = host_dir.join("back");
            env.ok(&["cp", &format!("c1:{landed}"), back.to_str().unwrap()]);
            assert_eq!(std::fs::read_to_string(&back).unwrap(), "from the host\n");
        }
    }
    assert_eq!(
        std::fs::read_to_string(env.canary.join("secret")).unwrap(),
        "canary\n",
        "nothing written outside"
    );
    let stray: Vec<_> = std::fs::read_dir(&env.root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() == "from-host")
        .collect();
    assert!(stray.is_empty(), "no copy escaped to the host");
    env.ok(&["rm", "c1"]);
}

/// `cp -L` follows a link at the source path, within the container's root
/// (one that points at a host file reaches nothing); `cp -a` keeps the
/// source's owners both ways.
#[test]
fn cp_follow_link_stays_in_the_root_and_archive_keeps_owners() {
    use std::os::unix::fs::MetadataExt;
    let Some(env) = env_with_image("cp_follow_link_and_archive") else {
        return;
    };
    let host_dir = env.work.join("host-side");
    std::fs::create_dir_all(&host_dir).unwrap();
    env.give(&host_dir);
    let secret = env.canary.join("secret");
    let climb = format!("../../../../../../../..{}", secret.display());
    let script = format!(
        "mkdir /data; echo owned > /data/f; chown 1234:2345 /data/f; ln -s f /data/link; \
         ln -s {} /data/abs; ln -s {climb} /data/up; ln -s /data /data/dir; \
         touch /mnt/ref; chown 1234:2345 /mnt/ref; echo ready; sleep 1000",
        secret.display()
    );
    let bind = format!("{}:/mnt", host_dir.display());
    env.ok(&[
        "run", "-d", "--name", "c2", "-v", &bind, IMAGE, "sh", "-c", &script,
    ]);
    wait_until("the files", || {
        env.ok(&["logs", "c2"]).stdout.contains("ready")
    });
    let at = |n: &str| host_dir.join(n);
    for (state, n) in [("running", 1), ("stopped", 2)] {
        if state == "stopped" {
            env.ok(&["stop", "-t", "0", "c2"]);
        }
        // Without -L the link is copied; with it, its target, by the
        // link's name.
        env.ok(&["cp", "c2:/data/link", path_str(&at(&format!("plain{n}")))]);
        assert!(at(&format!("plain{n}")).is_symlink(), "{state}");
        env.ok(&[
            "cp",
            "-L",
            "c2:/data/link",
            path_str(&at(&format!("followed{n}"))),
        ]);
        assert_eq!(
            std::fs::read_to_string(at(&format!("followed{n}"))).unwrap(),
            "owned\n",
            "{state}"
        );
        let tar = env.ok(&["cp", "--follow-link", "c2:/data/dir", "-"]);
        assert!(
            tar.stdout.contains("owned\n"),
            "a directory's link followed ({state})"
        );
        // A link to a host path, absolute or climbing, resolves in the
        // container's root, where there is no such file.
        for link in ["abs", "up"] {
            let dst = at(&format!("{link}{n}"));
            let out = env.run(&["cp", "-L", &format!("c2:/data/{link}"), path_str(&dst)]);
            assert_ne!(out.code(), Some(0), "{state} {link}: {out}");
            assert!(!dst.exists(), "{state} {link}: nothing copied");
            let out = env.run(&["cp", "-L", &format!("c2:/data/{link}"), "-"]);
            assert_ne!(out.code(), Some(0), "{state} {link}: {out}");
            assert!(!out.stdout.contains("canary"), "{state} {link}: {out}");
        }
    }
    // -a out: the host file is owned as the container's 1234:2345 is
    // (the reference the container chowned in its bind mount).
    let reference = std::fs::metadata(at("ref")).unwrap();
    env.ok(&["cp", "-a", "c2:/data/f", path_str(&at("kept"))]);
    env.ok(&["cp", "c2:/data/f", path_str(&at("mine"))]);
    let kept = std::fs::metadata(at("kept")).unwrap();
    let mine = std::fs::metadata(at("mine")).unwrap();
    assert_eq!((kept.uid(), kept.gid()), (reference.uid(), reference.gid()));
    assert_ne!(mine.uid(), reference.uid());
    // -a in: the source's owners as the container's user namespace sees
    // them (the copied-out file's are its 1234:2345); without -a, and for
    // the user's own files, the container's root.
    let src = env.fixture("in.txt", b"in\n");
    env.give(&src);
    env.ok(&["cp", "-a", path_str(&at("kept")), "c2:/data/in-a"]);
    env.ok(&["cp", path_str(&at("kept")), "c2:/data/in-plain"]);
    env.ok(&["cp", "-a", path_str(&src), "c2:/data/in-mine"]);
    env.ok(&["start", "c2"]);
    let owners = env.ok(&[
        "exec",
        "c2",
        "sh",
        "-c",
        "stat -c %u:%g /data/in-a /data/in-plain /data/in-mine",
    ]);
    assert_eq!(owners.stdout, "1234:2345\n0:0\n0:0\n", "{owners}");
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "canary\n",
        "the host's file untouched"
    );
    env.ok(&["rm", "-f", "c2"]);
}

#[test]
fn diff_export_and_commit_see_the_writable_layer() {
    let Some(env) = env_with_image("diff_export_and_commit") else {
        return;
    };
    env.ok(&[
        "run",
        "--name",
        "w",
        IMAGE,
        "sh",
        "-c",
        "mkdir /new; echo x > /new/file; rm /bin/cat; echo more >> /etc/group; \
         mkdir /home/gone; rm -r /home",
    ]);
    let diff = env.ok(&["diff", "w"]);
    let lines = diff.stdout_lines();
    for want in [
        "A /new",
        "A /new/file",
        "C /bin",
        "D /bin/cat",
        "C /etc",
        "C /etc/group",
        "D /home",
    ] {
        assert!(lines.contains(&want), "{want} in\n{diff}");
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.ends_with("/proc") || l.ends_with("/etc/hosts")),
        "{diff}"
    );

    let tar = env.work.join("w.tar");
    env.ok(&["export", "w", "-o", tar.to_str().unwrap()]);
    let list = common::fixtures::tool("tar", &["tf", tar.to_str().unwrap()]);
    assert!(list.lines().any(|l| l == "new/file"), "{list}");
    assert!(list.lines().any(|l| l == "bin/busybox"), "{list}");
    assert!(
        !list.lines().any(|l| l == "bin/cat"),
        "deleted files are not exported"
    );
    assert!(!list.lines().any(|l| l.starts_with("home")), "{list}");

    let id = env
        .ok(&["commit", "w", "committed:v1"])
        .stdout
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let image = env.inspect("committed:v1");
    assert_eq!(
        image["RootFS"]["Layers"].as_array().map(|l| l.len()),
        Some(2),
        "{image}"
    );
    let out = env.ok(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "cat /new/file /etc/group",
    ]);
    assert!(
        out.stdout.starts_with("x\n") && out.stdout.ends_with("more\n"),
        "{out}"
    );
    let out = env.run(&["run", "--rm", "committed:v1", "ls", "/bin/cat"]);
    assert_ne!(
        out.code(),
        Some(0),
        "the whiteout hides cat in the new image\n{out}"
    );

    // --change edits the committed config, over the image's own: ENV
    // substitutes from the image's env, the shell form runs through
    // /bin/sh -c; a refused instruction stores nothing.
    let images_before = env.images_json().len();
    let layers_before = env.layer_ids();
    for change in ["RUN echo x", "ADD a /b", "EXPOSE 80/xyz"] {
        let out = env.run(&["commit", "-c", change, "w", "refused:v1"]);
        assert_eq!(out.code(), Some(common::EXIT_FAILURE), "{change}\n{out}");
        assert_eq!(env.images_json().len(), images_before, "{change}");
        assert_eq!(env.layer_ids(), layers_before, "{change}");
    }
    env.ok(&[
        "commit",
        "--change",
        "ENV GREETING=hi-$FROM_IMAGE",
        "-c",
        "CMD echo $GREETING",
        "-c",
        "WORKDIR /new",
        "-c",
        "USER 0:0",
        "-c",
        "EXPOSE 9000",
        "-c",
        "LABEL from=commit",
        "w",
        "committed:v2",
    ]);
    let f = |format: &str| {
        env.ok(&["inspect", "--format", format, "committed:v2"])
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(
        f("{{json .Config.Env}}"),
        r#"["PATH=/bin","FROM_IMAGE=yes","GREETING=hi-yes"]"#
    );
    assert_eq!(
        f("{{json .Config.Cmd}}"),
        r#"["/bin/sh","-c","echo $GREETING"]"#
    );
    assert_eq!(f("{{.Config.WorkingDir}}"), "/new");
    assert_eq!(f("{{.Config.User}}"), "0:0");
    assert_eq!(f("{{json .Config.ExposedPorts}}"), r#"{"9000/tcp":{}}"#);
    assert_eq!(f("{{json .Config.Labels}}"), r#"{"from":"commit"}"#);
    assert_eq!(
        f("{{.Config.StopSignal}}"),
        "SIGUSR1",
        "what no change names stays"
    );
    let out = env.ok(&["run", "--rm", "committed:v2"]);
    assert_eq!(out.stdout, "hi-yes\n", "{out}");
    let out = env.ok(&["run", "--rm", "committed:v2", "pwd"]);
    assert_eq!(out.stdout, "/new\n", "{out}");
    // -m and -a, as docker's commit takes them: the step's comment and
    // the image's author.
    env.ok(&[
        "commit",
        "-m",
        "made by hand",
        "--author",
        "Jane <jane@example.com>",
        "w",
        "committed:v3",
    ]);
    let author = env.ok(&["inspect", "--format", "{{.Author}}", "committed:v3"]);
    assert_eq!(author.stdout.trim(), "Jane <jane@example.com>", "{author}");
    let history = env.ok(&["history", "--format", "{{.Comment}}", "committed:v3"]);
    assert_eq!(
        history.stdout_lines().first().copied(),
        Some("made by hand"),
        "{history}"
    );
    env.ok(&["rm", "w"]);
}

#[test]
fn sigterm_to_the_supervisor_stops_the_container_with_its_stop_signal() {
    let Some(env) = env_with_image("sigterm_to_the_supervisor") else {
        return;
    };
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "t",
            IMAGE,
            "sh",
            "-c",
            "trap 'echo stopping; exit 0' USR1; echo ready; while true; do sleep 0.1; done",
        ])
        .stdout
        .trim()
        .to_string();
    wait_until("ready", || env.ok(&["logs", "t"]).stdout.contains("ready"));
    let sup = supervisor_pid(&id).expect("supervisor");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until("t to exit", || status(&env, "t") == "exited");
    assert_eq!(inspect(&env, "t")["State"]["ExitCode"], 0);
    assert!(env.ok(&["logs", "t"]).stdout.contains("stopping"));
    env.ok(&["rm", "t"]);
}

/// Runs `burrow ARGS` as the test user on a terminal (`script`), fed
/// `input` by a shell pipeline (so it may hold `sleep`s); its output and
/// exit status.
fn on_terminal(env: &TestEnv, args: &[&str], input: &str) -> (String, Option<i32>) {
    use std::os::unix::process::CommandExt;
    let base = env.command(args);
    let quote = |a: &std::ffi::OsStr| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''"));
    let line = std::iter::once(base.get_program())
        .chain(base.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let pipeline = format!(
        "({input}) | script -qec {} /dev/null",
        quote(std::ffi::OsStr::new(&line))
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &pipeline]).env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    if common::running_as_root() {
        cmd.uid(env.account.uid).gid(env.account.gid);
    }
    cmd.current_dir(&env.work)
        .stdin(std::process::Stdio::null());
    let out = cmd.output().expect("script runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn exec_with_a_terminal_gets_its_own_pty_in_the_container() {
    let Some(env) = env_with_image("exec_with_a_terminal") else {
        return;
    };
    env.ok(&["run", "-d", "--name", "tt", IMAGE, "sleep", "1000"]);
    let (text, code) = on_terminal(
        &env,
        &[
            "exec",
            "-it",
            "tt",
            "sh",
            "-c",
            "tty; echo term=$TERM; exit 5",
        ],
        "sleep 1",
    );
    assert!(
        text.contains("/dev/pts/"),
        "a terminal of the container's devpts\n{text}"
    );
    assert!(text.contains("term=xterm"), "{text}");
    assert_eq!(code, Some(5), "the status passes through\n{text}");
    env.ok(&["rm", "-f", "tt"]);
}

#[test]
fn attach_to_a_terminal_relays_keys_and_detaches_on_ctrl_p_ctrl_q() {
    let Some(env) = env_with_image("attach_to_a_terminal") else {
        return;
    };
    env.ok(&["run", "-d", "-it", "--name", "shell", IMAGE, "sh"]);
    let (text, code) = on_terminal(
        &env,
        &["attach", "shell"],
        "sleep 0.5; printf 'echo typed-$((6*7))\\r'; sleep 0.5; printf '\\020\\021'; sleep 0.5",
    );
    assert!(
        text.contains("typed-42"),
        "the shell ran what was typed\n{text}"
    );
    assert!(text.contains("Detached"), "{text}");
    assert_eq!(code, Some(0));
    assert_eq!(
        status(&env, "shell"),
        "running",
        "detaching leaves it running"
    );
    env.ok(&["rm", "-f", "shell"]);
}

/// `logs -f` of a container writing 200 MB at once, with a log of 1 MB
/// that rotates as it fills: every byte arrives, in order, and nothing is
/// said to be lost. The follower starts first (the container waits for
/// it), so everything the container writes passes through rotation.
#[test]
fn logs_follow_gets_every_byte_of_a_burst_across_rotations() {
    use sha2::{Digest, Sha256};
    use std::io::{BufRead, BufReader, Read};
    let Some(env) = env_with_image("logs_follow_gets_every_byte_of_a_burst_across_rotations")
    else {
        return;
    };
    let dir = env.config_home.join("burrow");
    std::fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    let file = dir.join("config.toml");
    std::fs::write(&file, "[logs]\nmax_size = \"1m\"\n").unwrap();
    env.give(&file);
    const LINES: u32 = 2_100_000;
    let pad = "x".repeat(91);
    let script = format!(
        "echo ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; \
         seq 1 {LINES} | sed 's/$/ {pad}/'"
    );
    let id = env.ok(&["run", "-d", "--name", "burst", IMAGE, "sh", "-c", &script]);
    let id = id.stdout.trim().to_string();
    let mut follower = env
        .command(&["logs", "-f", "burst"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("logs -f");
    let mut out = BufReader::with_capacity(1 << 20, follower.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "ready\n");
    env.ok(&["exec", "burst", "touch", "/tmp/go"]);
    let (mut got, mut got_len) = (Sha256::new(), 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.update(&buf[..n]);
        got_len += n as u64;
    }
    let status = follower.wait().unwrap();
    let mut err = String::new();
    follower
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let (mut want, mut want_len) = (Sha256::new(), 0u64);
    for i in 1..=LINES {
        let line = format!("{i} {pad}\n");
        want.update(line.as_bytes());
        want_len += line.len() as u64;
    }
    assert!(want_len > 200_000_000);
    assert!(status.success(), "{status}: {err}");
    assert_eq!(got_len, want_len, "every byte arrives\n{err}");
    assert_eq!(got.finalize(), want.finalize(), "in order, unchanged");
    assert!(err.is_empty(), "{err}");
    // The log did rotate, and is back near its size.
    let log = env.storage().join("containers").join(&id);
    assert!(log.join("container.log.1").exists());
    env.ok(&["rm", "burst"]);
}
