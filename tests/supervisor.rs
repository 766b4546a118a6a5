//! One supervisor for every container: a foreground `run --rm` (fed from a
//! pipe, as a script would feed it) and a detached `run -d` both answer
//! `logs`, `attach` and `stop` from other processes, through the same
//! control socket and log.

mod common;

use common::run_image::{self, PLAIN};
use common::{TestEnv, TestUser};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The container: says it is ready, then echoes what its stdin brings.
const SCRIPT: &str = "echo ready; while read l; do echo got:$l; done; sleep 1000";

/// Lines of a child's stdout as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(rx: &mpsc::Receiver<String>, want: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(want) => return,
            Ok(_) => {}
            Err(e) => panic!("{what} never showed {want:?}: {e}"),
        }
    }
}

fn spawn(env: &TestEnv, args: &[&str], stdin: Stdio) -> Child {
    let mut cmd = env.command(args);
    cmd.process_group(0)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd.spawn().expect("spawn burrow")
}

fn wait_exit(child: &mut Child, what: &str) -> Option<i32> {
    common::wait_for(Duration::from_secs(60), &format!("{what} to exit"), || {
        child.try_wait().expect("try_wait")
    })
    .code()
}

/// Until `logs NAME` shows `want`.
fn logs_show(env: &TestEnv, name: &str, want: &str) {
    common::wait_for(
        Duration::from_secs(30),
        &format!("`logs {name}` to show {want:?}"),
        || {
            let out = env.run(&["logs", name]);
            if out.code() == Some(0) && out.stdout.contains(want) {
                Ok(())
            } else {
                Err(out.to_string())
            }
        },
    );
}

/// `attach NAME` from another process, connected: output that reaches the
/// container's stdout (written by an `exec` into pid 1's stdout) reaches it.
fn attached(env: &TestEnv, name: &str) -> (Child, mpsc::Receiver<String>) {
    let mut att = spawn(env, &["attach", name], Stdio::null());
    let lines = lines_of(&mut att);
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0.. {
        let mark = format!("mark-{i}");
        env.ok(&[
            "exec",
            name,
            "sh",
            "-c",
            &format!("echo {mark} > /proc/1/fd/1"),
        ]);
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(l) = lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
            if l.contains(&mark) {
                return (att, lines);
            }
        }
        assert!(Instant::now() < deadline, "attach {name} never relayed");
    }
    unreachable!()
}

#[test]
fn a_foreground_rm_container_answers_logs_attach_and_stop_from_other_processes() {
    let Some(env) = TestEnv::new(
        "a_foreground_rm_container_answers_logs_attach_and_stop",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let mut fg = spawn(
        &env,
        &[
            "run", "--rm", "-i", "--name", "fg", PLAIN, "sh", "-c", SCRIPT,
        ],
        Stdio::piped(),
    );
    let mut input = fg.stdin.take().expect("stdin piped");
    let out = lines_of(&mut fg);
    wait_line(&out, "ready", "run's stdout");
    // Its log, read by another process.
    logs_show(&env, "fg", "ready");
    // Attached from another process: what our pipe brings the container
    // is echoed to run's stdout, to the attached client and to the log.
    let (mut att, att_lines) = attached(&env, "fg");
    input.write_all(b"hello\n").expect("write to run's stdin");
    wait_line(&out, "got:hello", "run's stdout");
    wait_line(&att_lines, "got:hello", "attach");
    logs_show(&env, "fg", "got:hello");
    // Stopped from another process: pid 1 (a shell) ignores SIGTERM, so
    // SIGKILL after the timeout; run and attach both end with its status.
    env.ok(&["stop", "-t", "1", "fg"]);
    let run_code = wait_exit(&mut fg, "run");
    let att_code = wait_exit(&mut att, "attach");
    assert_eq!(run_code, Some(137), "run's status after stop");
    assert_eq!(att_code, Some(137), "attach's status after stop");
    drop(input);
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "--rm left {}", ps.stdout);
}

#[test]
fn a_detached_container_answers_logs_attach_and_stop_through_the_same_supervisor() {
    let Some(env) = TestEnv::new(
        "a_detached_container_answers_logs_attach_and_stop",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    env.ok(&["run", "-d", "-i", "--name", "bg", PLAIN, "sh", "-c", SCRIPT]);
    logs_show(&env, "bg", "ready");
    let (mut att, att_lines) = attached(&env, "bg");
    env.ok(&["exec", "bg", "sh", "-c", "echo via-exec > /proc/1/fd/1"]);
    wait_line(&att_lines, "via-exec", "attach");
    logs_show(&env, "bg", "via-exec");
    env.ok(&["stop", "-t", "1", "bg"]);
    assert_eq!(wait_exit(&mut att, "attach"), Some(137));
    let out = env.ok(&["inspect", "bg"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("inspect JSON");
    assert_eq!(v[0]["State"]["ExitCode"], 137, "{out}");
    // The log outlives the container.
    logs_show(&env, "bg", "via-exec");
    env.ok(&["rm", "bg"]);
}
