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

/// The pid of the detached supervisor of container `id`.
fn supervisor_pid(id: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let zombie = stat.rsplit(')').next()?.trim_start().starts_with('Z');
        (cmd.contains("__supervise") && cmd.contains(id) && !zombie).then_some(pid)
    })
}

fn inspect(env: &TestEnv, name: &str) -> serde_json::Value {
    let out = env.ok(&["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("inspect JSON");
    v[0].clone()
}

fn kill(pid: i32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).expect("kill");
}

/// Rewrites container `id`'s recorded state so that its pid 1 looks ended
/// (its start time is not the recorded one) while pid 1 and its supervisor
/// live on, as in the moment between the supervisor reaping pid 1 and
/// recording its exit; pid 1's pid, and the state file with what it held.
fn make_pid1_look_ended(env: &TestEnv, id: &str) -> (i32, (std::path::PathBuf, Vec<u8>)) {
    let state_path = env.storage().join("containers").join(id).join("state.json");
    let original = std::fs::read(&state_path).unwrap();
    let mut state: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let pid = state["pid"].as_i64().unwrap() as i32;
    state["pid_start"] = (state["pid_start"].as_u64().unwrap() + 1).into();
    replace_state(env, &state_path, &serde_json::to_vec(&state).unwrap());
    (pid, (state_path, original))
}

/// Replaces a state file as burrow does (a rename), owned by the test user.
fn replace_state(env: &TestEnv, state_path: &std::path::Path, bytes: &[u8]) {
    let tmp = state_path.with_extension("test-tmp");
    std::fs::write(&tmp, bytes).unwrap();
    env.give(&tmp);
    std::fs::rename(&tmp, state_path).unwrap();
}

/// A container whose pid 1 is dead and whose exit is not recorded is
/// "lost" only when its supervisor is gone: a killed supervisor reads as
/// lost, a live one is waited for until it records the exit.
#[test]
fn a_killed_supervisor_reads_as_lost_and_a_live_one_is_waited_for() {
    let Some(env) = TestEnv::new(
        "a_killed_supervisor_reads_as_lost_and_a_live_one_is_waited_for",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);

    // Killed: no chance to record anything.
    let id = env
        .ok(&["run", "-d", "--name", "gone", PLAIN, "sleep", "1000"])
        .stdout
        .trim()
        .to_string();
    let pid = inspect(&env, "gone")["State"]["Pid"].as_i64().unwrap() as i32;
    let sup = supervisor_pid(&id).expect("its supervisor");
    kill(sup, nix::sys::signal::Signal::SIGKILL);
    common::wait_for(Duration::from_secs(20), "pid 1 to die with it", || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.is_empty() || stat.contains(") Z")
    });
    let state = &inspect(&env, "gone")["State"];
    assert_eq!(state["Status"], "exited", "{state}");
    assert!(
        state["Error"]
            .as_str()
            .is_some_and(|e| e.contains("lost track")),
        "{state}"
    );
    env.ok(&["rm", "gone"]);

    // Alive: its record says running, pid 1 looks dead (as in the moment
    // between the supervisor reaping it and recording its exit), and a
    // reader waits for the supervisor rather than calling it lost.
    let id = env
        .ok(&["run", "-d", "--name", "live", PLAIN, "sleep", "1000"])
        .stdout
        .trim()
        .to_string();
    let (pid, _) = make_pid1_look_ended(&env, &id);
    let reader = env
        .command(&["inspect", "live"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn inspect");
    // Longer than any fixed wait a reader without the supervisor's lock
    // could use; the reader's answer does not depend on it.
    std::thread::sleep(Duration::from_secs(1));
    kill(pid, nix::sys::signal::Signal::SIGKILL);
    let out = reader.wait_with_output().expect("inspect");
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    let state = &v[0]["State"];
    assert_eq!(state["Status"], "exited", "{state}");
    assert_eq!(state["ExitCode"], 137, "{state}");
    assert!(
        !state["Error"]
            .as_str()
            .is_some_and(|e| e.contains("lost track")),
        "{state}"
    );
    env.ok(&["rm", "live"]);
}

/// The supervisor's lock fd is close-on-exec and the sandbox closes every
/// fd past stdio: no process of the container (pid 1, a command run by
/// `exec`) has it, foreground or detached, so none can keep it held or
/// read where it lives.
#[test]
fn the_container_never_holds_the_supervisors_lock() {
    let Some(env) = TestEnv::new(
        "the_container_never_holds_the_supervisors_lock",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let list = "ls -l /proc/self/fd/ /proc/1/fd/";
    let fg = env.ok(&["run", "--rm", PLAIN, "sh", "-c", list]);
    assert!(fg.stdout.contains("0 ->"), "ls listed the fds: {fg}");
    assert!(!fg.stdout.contains(".lock"), "foreground: {fg}");
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "bg",
            PLAIN,
            "sh",
            "-c",
            &format!("{list}; echo listed; sleep 1000"),
        ])
        .stdout
        .trim()
        .to_string();
    logs_show(&env, "bg", "listed");
    let logs = env.ok(&["logs", "bg"]);
    assert!(!logs.stdout.contains(".lock"), "pid 1: {logs}");
    let exec = env.ok(&["exec", "bg", "sh", "-c", list]);
    assert!(!exec.stdout.contains(".lock"), "exec: {exec}");
    // The supervisor does hold it (so a leak would show). Its fds are
    // root's to read when it is not dumpable.
    let sup = supervisor_pid(&id).expect("its supervisor");
    match std::fs::read_dir(format!("/proc/{sup}/fd")) {
        Ok(fds) => {
            let held = fds
                .flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .any(|p| p.ends_with("supervisor.lock"));
            assert!(held, "the supervisor holds supervisor.lock");
        }
        Err(e) => assert!(!common::running_as_root(), "reading its fds: {e}"),
    }
    env.ok(&["rm", "-f", "bg"]);
}

/// An attached client that stops reading while the container writes more
/// than the sockets and pipes between them hold is not dropped: its output
/// waits in the supervisor (up to 1 MiB) and arrives whole once it reads
/// again.
#[test]
fn an_attached_client_that_stops_reading_for_a_while_misses_nothing() {
    let Some(env) = TestEnv::new(
        "an_attached_client_that_stops_reading_for_a_while",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    // 80,000 lines of 10 bytes at once when /tmp/go appears, then END.
    let script = "echo ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; \
                  yes xxxxxxxxx | head -n 80000; echo END; sleep 1000";
    env.ok(&["run", "-d", "--name", "burst", PLAIN, "sh", "-c", script]);
    logs_show(&env, "burst", "ready");
    let mut att = spawn(&env, &["attach", "burst"], Stdio::null());
    // A reader that stops after the first mark until the gate opens.
    let out = att.stdout.take().expect("stdout piped");
    let (tx, lines) = mpsc::channel();
    let (open_gate, gate) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut waited = false;
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let mark = line.starts_with("mark-");
            if tx.send(line).is_err() {
                break;
            }
            if mark && !waited {
                waited = true;
                let _ = gate.recv();
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    'attached: for i in 0.. {
        let mark = format!("mark-{i}");
        env.ok(&[
            "exec",
            "burst",
            "sh",
            "-c",
            &format!("echo {mark} > /proc/1/fd/1"),
        ]);
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(l) = lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
            if l.starts_with("mark-") {
                break 'attached;
            }
        }
        assert!(Instant::now() < deadline, "attach never relayed");
    }
    // The reader has stopped. The burst, whole in the log: the supervisor
    // has handed all of it to the client's socket or queue by then.
    env.ok(&["exec", "burst", "touch", "/tmp/go"]);
    logs_show(&env, "burst", "END");
    assert_eq!(
        att.try_wait().expect("try_wait"),
        None,
        "attach was dropped"
    );
    open_gate.send(()).expect("the reader waits");
    let mut burst = 0;
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if l == "END" => break,
            Ok(l) if l == "xxxxxxxxx" => burst += 1,
            Ok(_) => {}
            Err(e) => panic!("attach ended before END ({burst} lines of the burst): {e}"),
        }
    }
    assert_eq!(burst, 80_000);
    let _ = att.kill();
    let _ = att.wait();
    env.ok(&["rm", "-f", "burst"]);
}

/// `rename`, `rmi`, `image prune` and `builder prune` hold the
/// containers' lock, `volume rm` and `volume prune` the volumes' lock,
/// under which a container's state can wait (up to 5 s) for a supervisor
/// that has reaped pid 1 and not yet recorded its exit: a `run --rm`'s
/// supervisor then waits for that same lock to remove its container (and
/// its anonymous volumes). They read what they need without a state's
/// wait: with sixteen containers whose pid 1 looks so (their records say
/// running, their pid 1's start time is not the recorded one, their
/// supervisors live), each finishes well within a bound that only waiting
/// on the states (16 x 5 s each) would reach; `rmi` and `prune` still keep
/// the image those containers use, and `volume rm` the volume one uses.
#[test]
fn rename_rmi_and_prune_never_wait_on_containers_whose_exit_is_being_recorded() {
    const N: usize = 16;
    let Some(env) = TestEnv::new(
        "rename_rmi_and_prune_never_wait_on_containers_whose_exit_is_being_recorded",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    env.ok(&["volume", "create", "kept"]);
    env.ok(&["volume", "create", "spare"]);
    env.ok(&["volume", "create", "unused"]);
    let mut saved = Vec::new();
    for i in 0..N {
        let name = format!("ending{i}");
        let mut args = vec!["run", "-d", "--name", &name];
        if i == 0 {
            args.extend(["-v", "kept:/kept"]);
        }
        args.extend([PLAIN, "sleep", "1000"]);
        let id = env.ok(&args).stdout.trim().to_string();
        saved.push(make_pid1_look_ended(&env, &id).1);
    }
    // Waiting on the states would take 80 s; the commands take moments.
    let bound = Duration::from_secs(40);
    let within = |args: &[&str]| {
        let mut child = env
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn burrow");
        let deadline = Instant::now() + bound;
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("burrow {args:?} still waits after {bound:?}: it reads the containers' states under their lock");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("output")
    };
    let renamed = within(&["rename", "ending0", "renamed"]);
    assert!(renamed.status.success(), "{renamed:?}");
    let rmi = within(&["rmi", PLAIN]);
    let said = String::from_utf8_lossy(&rmi.stderr);
    assert!(
        !rmi.status.success() && said.contains("is using its referenced image"),
        "rmi of an image containers use: {rmi:?}"
    );
    let pruned = within(&["image", "prune", "-a", "-f"]);
    assert!(pruned.status.success(), "{pruned:?}");
    let pruned = within(&["builder", "prune", "-f"]);
    assert!(pruned.status.success(), "{pruned:?}");
    let in_use = within(&["volume", "rm", "kept"]);
    let said = String::from_utf8_lossy(&in_use.stderr);
    assert!(
        !in_use.status.success() && said.contains("volume is in use"),
        "volume rm of a volume a container uses: {in_use:?}"
    );
    let removed = within(&["volume", "rm", "spare"]);
    assert!(removed.status.success(), "{removed:?}");
    let pruned = within(&["volume", "prune", "-a", "-f"]);
    assert!(pruned.status.success(), "{pruned:?}");
    let volumes = env.ok(&["volume", "ls", "--format", "{{.Name}}"]);
    assert_eq!(volumes.stdout.trim(), "kept", "{volumes}");
    let images = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.stdout.contains("run/plain:latest"),
        "the image in use went: {images}"
    );

    for (state_path, original) in saved {
        replace_state(&env, &state_path, &original);
    }
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(names.stdout.lines().any(|l| l == "renamed"), "{names}");
    let mut all = vec!["rm", "-f", "renamed"];
    let rest: Vec<String> = (1..N).map(|i| format!("ending{i}")).collect();
    all.extend(rest.iter().map(String::as_str));
    env.ok(&all);
    env.ok(&["volume", "rm", "kept"]);
}
