//! `run -a/--attach`, `create -a` then `start -a`, and `run --sig-proxy`,
//! as docker's `run` reference has them: which of a container's streams
//! reach the caller (the others still reach the log), and what a real
//! signal to a foreground `burrow run` does to its container. Every wait
//! has a deadline, and a foreground `run` still alive when a test ends is
//! killed with its process group: a bug fails a test, never hangs it.

mod common;

use common::{is_hex64, kill_group, plain_config, TestEnv, TestUser};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const IMAGE: &str = "att:latest";

/// How long a container gets to say it is ready, or `run` to end.
const DEADLINE: Duration = Duration::from_secs(60);

fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::WithSubids)?;
    env.load_busybox(IMAGE, &["cat", "sleep"], plain_config());
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

/// A foreground `burrow run` (its own process group, stdin /dev/null),
/// its stdout read line by line as it comes; killed with its group when
/// dropped before it exited (a failed assertion included).
struct Foreground {
    child: Option<(Child, Vec<String>)>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Foreground {
    fn start(env: &TestEnv, args: &[&str]) -> Foreground {
        let mut child = env.spawn(args);
        let out = child.0.stdout.take().expect("stdout piped");
        let mut err = child.0.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Foreground {
            child: Some(child),
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    fn pid(&self) -> nix::unistd::Pid {
        let child = self.child.as_ref().expect("running");
        nix::unistd::Pid::from_raw(child.0.id() as i32)
    }

    /// Waits for a stdout line holding `want`.
    fn wait_line(&mut self, want: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let found = l.contains(want);
                    self.seen.push(l);
                    if found {
                        return;
                    }
                }
                Err(e) => panic!(
                    "no line {want:?} from `burrow run` ({e}); it printed {:?}",
                    self.seen
                ),
            }
        }
    }

    /// A real signal to the `burrow run` process alone.
    fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(self.pid(), sig).expect("signal burrow run");
    }

    /// Waits for `burrow run` to end: its status, the rest of its stdout
    /// and its stderr.
    fn wait_exit(&mut self) -> (ExitStatus, Vec<String>, String) {
        let status = common::wait_for(DEADLINE, "burrow run to exit", || {
            let child = self.child.as_mut().expect("running");
            child.0.try_wait().expect("try_wait")
        });
        self.child = None;
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let mut rest: Vec<String> = std::mem::take(&mut self.seen);
        rest.extend(self.lines.try_iter());
        (status, rest, stderr)
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }
}

/// The container's log as `burrow logs` prints it: (stdout, stderr).
fn logs(env: &TestEnv, name: &str) -> (String, String) {
    let out = env.ok(&["logs", name]);
    (out.stdout, out.stderr)
}

const BOTH: &str = "echo to-out; echo to-err >&2";

#[test]
fn attach_connects_only_the_streams_named_and_the_log_keeps_all() {
    let Some(env) = env_with_image("attach_connects_only_the_streams_named") else {
        return;
    };
    // -a stdout: stderr is not ours, but it is in the log.
    let out = env.ok(&[
        "run", "--name", "o", "-a", "stdout", IMAGE, "sh", "-c", BOTH,
    ]);
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert!(!out.stderr.contains("to-err"), "{out}");
    assert_eq!(logs(&env, "o"), ("to-out\n".into(), "to-err\n".into()));
    let config = &inspect(&env, "o")["Config"];
    assert_eq!(
        (
            &config["AttachStdin"],
            &config["AttachStdout"],
            &config["AttachStderr"]
        ),
        (&Value::Bool(false), &Value::Bool(true), &Value::Bool(false)),
        "{config}"
    );

    // --attach STDERR, in capitals as docker takes it: stdout is not ours
    // (no id printed either: an output is attached).
    let out = env.ok(&[
        "run", "--name", "e", "--attach", "STDERR", IMAGE, "sh", "-c", BOTH,
    ]);
    assert_eq!(out.stdout, "", "{out}");
    assert!(out.stderr.contains("to-err"), "{out}");
    assert_eq!(logs(&env, "e"), ("to-out\n".into(), "to-err\n".into()));

    // Both named: both ours, as without -a; the status is the command's.
    let out = env.run(&[
        "run",
        "--rm",
        "-a",
        "stdout",
        "-a",
        "stderr",
        IMAGE,
        "sh",
        "-c",
        "echo o; echo e >&2; exit 3",
    ]);
    assert_eq!(out.code(), Some(3), "{out}");
    assert_eq!(out.stdout, "o\n", "{out}");
    assert!(out.stderr.contains('e'), "{out}");
    env.ok(&["rm", "o", "e"]);
}

#[test]
fn attach_stdin_alone_prints_the_id_and_only_i_opens_the_containers_stdin() {
    let Some(env) = env_with_image("attach_stdin_alone_prints_the_id") else {
        return;
    };
    let script = "cat; echo end-of-input; exit 3";
    // -a stdin without -i: attached, but the container's stdin is not kept
    // open (docker's -i is what opens it): cat reads nothing of what we
    // give. Neither output is ours: the id is printed, and the status is
    // 0 as docker's client ends (the command's is in inspect).
    let out = env.run_with_stdin(
        &[
            "run", "--name", "nostdin", "-a", "stdin", IMAGE, "sh", "-c", script,
        ],
        Some(b"fed-in\n"),
    );
    assert_eq!(out.code(), Some(0), "{out}");
    let id = out.stdout.trim();
    assert!(
        is_hex64(id),
        "run -a stdin prints the container's id\n{out}"
    );
    assert!(!out.stderr.contains("end-of-input"), "{out}");
    assert_eq!(inspect(&env, "nostdin")["Id"], id);
    assert_eq!(inspect(&env, "nostdin")["State"]["ExitCode"], 3);
    assert_eq!(logs(&env, "nostdin").0, "end-of-input\n");

    // -i -a stdin: our input is the container's; its output is the log's.
    let out = env.run_with_stdin(
        &[
            "run",
            "--name",
            "withstdin",
            "-i",
            "-a",
            "stdin",
            IMAGE,
            "sh",
            "-c",
            script,
        ],
        Some(b"fed-in\n"),
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(is_hex64(out.stdout.trim()), "{out}");
    assert_eq!(logs(&env, "withstdin").0, "fed-in\nend-of-input\n");

    // -i attaches stdin whatever -a names, as docker's: -i -a stdout
    // echoes what we give.
    let out = env.run_with_stdin(
        &[
            "run",
            "--rm",
            "-i",
            "-a",
            "stdout",
            IMAGE,
            "sh",
            "-c",
            "cat; echo e >&2",
        ],
        Some(b"fed-in\n"),
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "fed-in\n", "{out}");
    assert!(!out.stderr.contains('e'), "{out}");
    env.ok(&["rm", "nostdin", "withstdin"]);
}

#[test]
fn attach_refuses_a_detached_run_and_an_unknown_stream() {
    let Some(env) = env_with_image("attach_refuses_a_detached_run") else {
        return;
    };
    let out = env.fails(&["run", "-d", "-a", "stdout", IMAGE, "true"]);
    assert!(
        out.error_line().contains("Conflicting options: -a and -d"),
        "{out}"
    );
    let out = env.fails(&["run", "-a", "stdfoo", IMAGE, "true"]);
    assert!(out.error_line().contains("stdfoo"), "{out}");
    assert!(
        out.error_line().contains("STDIN, STDOUT and STDERR"),
        "{out}"
    );
    let out = env.fails(&["create", "--attach=bogus", IMAGE, "true"]);
    assert!(out.error_line().contains("bogus"), "{out}");
    // Nothing was made.
    assert_eq!(env.ok(&["ps", "-a", "-q"]).stdout.trim(), "");
}

#[test]
fn create_attach_records_the_streams_start_attach_connects() {
    let Some(env) = env_with_image("create_attach_records_the_streams") else {
        return;
    };
    env.ok(&[
        "create", "--name", "c", "-a", "stderr", IMAGE, "sh", "-c", BOTH,
    ]);
    let config = &inspect(&env, "c")["Config"];
    assert_eq!(config["AttachStdout"], false, "{config}");
    assert_eq!(config["AttachStderr"], true, "{config}");
    let out = env.ok(&["start", "-a", "c"]);
    assert_eq!(out.stdout, "", "{out}");
    assert!(out.stderr.contains("to-err"), "{out}");
    assert_eq!(logs(&env, "c"), ("to-out\n".into(), "to-err\n".into()));

    // Without -a, create records both outputs, and start -a shows both.
    env.ok(&["create", "--name", "d", IMAGE, "sh", "-c", BOTH]);
    let out = env.ok(&["start", "-a", "d"]);
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert!(out.stderr.contains("to-err"), "{out}");
    // run -d attaches nothing, as docker records it; its start -a shows
    // both outputs, as docker's does.
    env.ok(&["run", "-d", "--name", "dd", IMAGE, "sh", "-c", BOTH]);
    let config = &inspect(&env, "dd")["Config"];
    assert_eq!(
        (&config["AttachStdout"], &config["AttachStderr"]),
        (&Value::Bool(false), &Value::Bool(false)),
        "{config}"
    );
    env.ok(&["wait", "dd"]);
    let out = env.ok(&["start", "-a", "dd"]);
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert!(out.stderr.contains("to-err"), "{out}");
    env.ok(&["rm", "-f", "c", "d", "dd"]);
}

/// A shell that reports each signal of `names` it gets and ends with 7 on
/// SIGTERM.
fn trapping(names: &[&str]) -> String {
    let mut s = String::new();
    for n in names {
        s.push_str(&format!("trap 'echo got-{n}' {n}; "));
    }
    s + "trap 'echo got-TERM; exit 7' TERM; echo ready; while true; do sleep 0.05; done"
}

#[test]
fn sig_proxy_passes_the_signals_run_gets_to_the_container() {
    let Some(env) = env_with_image("sig_proxy_passes_the_signals") else {
        return;
    };
    // Signals docker's client passes on, beyond the Ctrl-C and SIGTERM
    // every foreground run took: each reaches the container's shell, and
    // `run` itself goes on. --sig-proxy=true is the default, said here.
    let names = ["HUP", "USR2", "ALRM", "WINCH", "CONT"];
    let script = trapping(&names);
    let mut fg = Foreground::start(
        &env,
        &[
            "run",
            "--rm",
            "--sig-proxy=true",
            IMAGE,
            "sh",
            "-c",
            &script,
        ],
    );
    fg.wait_line("ready");
    let signals = [
        Signal::SIGHUP,
        Signal::SIGUSR2,
        Signal::SIGALRM,
        Signal::SIGWINCH,
        Signal::SIGCONT,
    ];
    for (sig, name) in signals.iter().zip(names) {
        fg.signal(*sig);
        fg.wait_line(&format!("got-{name}"));
    }
    fg.signal(Signal::SIGTERM);
    fg.wait_line("got-TERM");
    let (status, _, stderr) = fg.wait_exit();
    assert_eq!(status.code(), Some(7), "{stderr}");

    // With -t (a terminal burrow relays: no terminal of ours here),
    // --sig-proxy=false is ignored, as docker ignores it.
    let mut fg = Foreground::start(
        &env,
        &[
            "run",
            "--rm",
            "-t",
            "--sig-proxy=false",
            IMAGE,
            "sh",
            "-c",
            &trapping(&[]),
        ],
    );
    fg.wait_line("ready");
    fg.signal(Signal::SIGTERM);
    fg.wait_line("got-TERM");
    let (status, _, stderr) = fg.wait_exit();
    assert_eq!(status.code(), Some(7), "{stderr}");
}

#[test]
fn without_sig_proxy_a_signal_ends_run_and_the_container_runs_on() {
    let Some(env) = env_with_image("without_sig_proxy_a_signal_ends_run") else {
        return;
    };
    for (sig, name) in [(Signal::SIGINT, "int"), (Signal::SIGTERM, "term")] {
        let script = "trap 'echo got-INT' INT; trap 'echo got-TERM' TERM; \
                      echo ready; while true; do sleep 0.05; done";
        let mut fg = Foreground::start(
            &env,
            &[
                "run",
                "--name",
                name,
                "--sig-proxy=false",
                IMAGE,
                "sh",
                "-c",
                script,
            ],
        );
        fg.wait_line("ready");
        fg.signal(sig);
        // `run` ends by the signal, as docker's client does when it does
        // not catch it.
        let (ended, rest, stderr) = fg.wait_exit();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(ended.signal(), Some(sig as i32), "{ended:?} {stderr}");
        assert!(!rest.iter().any(|l| l.starts_with("got-")), "{rest:?}");
        // The container did not get it, and runs on.
        assert_eq!(status(&env, name), "running");
        let (out, _) = logs(&env, name);
        assert!(
            !out.contains("got-"),
            "the signal reached the container:\n{out}"
        );
        env.ok(&["rm", "-f", name]);
    }
}
