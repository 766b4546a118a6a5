//! `burrow run -t` through a real pseudo-terminal: the test opens a pty
//! pair, makes the slave burrow's controlling terminal and stdio, and
//! types into the master as a person at a terminal would. Proves the
//! window size (at start and after a resize), Ctrl-C and Ctrl-Z reaching
//! the container, the terminal's modes restored when burrow exits, and
//! the detach keys leaving a container that runs on and can be attached.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::run_image::{self, PLAIN};
use common::{is_hex64, TestEnv, TestUser};
use nix::sys::termios::{tcgetattr, LocalFlags, Termios};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A pty pair with the given size; the slave keeps its default (cooked)
/// modes, as a fresh terminal window has them.
fn terminal(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let ws = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&ws), None).expect("openpty");
    (pty.master, pty.slave)
}

/// Starts `burrow ARGS` with `slave` as its controlling terminal and stdio.
fn spawn_on(env: &TestEnv, slave: &OwnedFd, args: &[&str]) -> Child {
    let mut cmd = env.command(args);
    let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the slave"));
    cmd.stdin(io(slave)).stdout(io(slave)).stderr(io(slave));
    // SAFETY: only async-signal-safe calls between fork and exec: setsid
    // and an ioctl on fd 0, which std has just made the slave.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn burrow on the terminal")
}

/// Reads the master until `want` has appeared in `seen`.
fn read_until(master: &OwnedFd, seen: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the terminal never showed {want:?}; it showed {seen:?}"
        );
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(0) | Err(nix::Error::EINTR) => continue,
            Ok(_) => match nix::unistd::read(master.as_fd(), &mut buf) {
                Ok(0) | Err(_) => panic!("the terminal closed before {want:?}; it showed {seen:?}"),
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            },
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// Reads the master until `want` has appeared `times` more times (what
/// came before each is dropped from `seen`).
fn read_times(master: &OwnedFd, seen: &mut String, want: &str, times: usize) {
    for _ in 0..times {
        read_until(master, seen, want);
        let at = seen.find(want).expect("just seen") + want.len();
        seen.drain(..at);
    }
}

fn type_in(master: &OwnedFd, bytes: &[u8]) {
    nix::unistd::write(master, bytes).expect("write to the terminal");
}

fn set_size(master: &OwnedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0, "TIOCSWINSZ");
}

/// Waits for burrow, draining the terminal so it never blocks on output.
fn wait_draining(child: &mut Child, master: &OwnedFd, seen: &mut String) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let _ = rustix::fs::fcntl_setfl(master, rustix::fs::OFlags::NONBLOCK);
    let mut buf = [0u8; 4096];
    loop {
        while let Ok(n) = nix::unistd::read(master.as_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "burrow did not exit; the terminal showed {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn same_modes(a: &Termios, b: &Termios) -> bool {
    a.input_flags == b.input_flags
        && a.output_flags == b.output_flags
        && a.control_flags == b.control_flags
        && a.local_flags == b.local_flags
        && a.control_chars == b.control_chars
}

#[test]
fn tty_session_follows_the_window_passes_ctrl_c_and_ctrl_z_and_restores_the_terminal() {
    let Some(env) = TestEnv::new(
        "tty_session_follows_the_window_passes_ctrl_c_and_ctrl_z_and_restores_the_terminal",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let (master, slave) = terminal(33, 77);
    let before = tcgetattr(slave.as_fd()).expect("tcgetattr");
    let mut child = spawn_on(
        &env,
        &slave,
        &[
            "run",
            "--rm",
            "-i",
            "-t",
            "--init",
            PLAIN,
            "sh",
            "-c",
            "trap 'echo size:$(stty size)' WINCH; trap 'echo got-tstp' TSTP; \
             stty size; tty; echo TERM=$TERM; echo ready; read line; echo got:$line; \
             while true; do sleep 0.05; done",
        ],
    );
    let mut seen = String::new();
    read_until(&master, &mut seen, "33 77");
    read_until(&master, &mut seen, "/dev/pts/0");
    read_until(&master, &mut seen, "TERM=xterm");
    read_until(&master, &mut seen, "ready");

    // While the container runs, burrow's terminal is raw: keys travel as
    // bytes to the container's own terminal.
    let during = tcgetattr(slave.as_fd()).expect("tcgetattr");
    assert!(
        !during
            .local_flags
            .intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG),
        "burrow's terminal is not raw while the container runs: {:?}",
        during.local_flags
    );

    type_in(&master, b"hello\r");
    read_until(&master, &mut seen, "got:hello");

    // The window shrinks: burrow gets SIGWINCH and passes the size on.
    set_size(&master, 20, 50);
    read_until(&master, &mut seen, "size:20 50");
    set_size(&master, 40, 132);
    read_until(&master, &mut seen, "size:40 132");

    // Ctrl-Z becomes SIGTSTP for the container's foreground job.
    type_in(&master, b"\x1a");
    read_until(&master, &mut seen, "got-tstp");

    // Ctrl-C becomes SIGINT: the shell dies of it, 128+2.
    type_in(&master, b"\x03");
    let code = wait_draining(&mut child, &master, &mut seen);
    assert_eq!(
        code, 130,
        "exit status after Ctrl-C; the terminal showed {seen:?}"
    );

    let after = tcgetattr(slave.as_fd()).expect("tcgetattr");
    assert!(
        same_modes(&before, &after),
        "the terminal was not restored:\nbefore {before:?}\nafter  {after:?}"
    );
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "--rm left {}", ps.stdout);
}

#[test]
fn tty_without_interactive_gives_a_terminal_but_reads_nothing_from_yours() {
    let Some(env) = TestEnv::new(
        "tty_without_interactive_gives_a_terminal_but_reads_nothing_from_yours",
        TestUser::Any,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let (master, slave) = terminal(24, 80);
    let before = tcgetattr(slave.as_fd()).expect("tcgetattr");
    let mut child = spawn_on(
        &env,
        &slave,
        &[
            "run",
            "--name",
            "t",
            "-t",
            PLAIN,
            "sh",
            "-c",
            "test -t 0 && test -t 1 && echo both-terminals; stty size; \
             read -t 2 line; echo read=$?:$line",
        ],
    );
    let mut seen = String::new();
    read_until(&master, &mut seen, "both-terminals");
    read_until(&master, &mut seen, "24 80");
    // Typed, but not for the container: without -i nothing is relayed and
    // the read times out (status above 128).
    type_in(&master, b"typed\r");
    let code = wait_draining(&mut child, &master, &mut seen);
    assert_eq!(code, 0, "{seen:?}");
    assert!(
        !seen.contains("read=0:typed"),
        "stdin was relayed without -i: {seen:?}"
    );
    assert!(seen.contains("read=1"), "{seen:?}");
    let after = tcgetattr(slave.as_fd()).expect("tcgetattr");
    assert!(same_modes(&before, &after), "the terminal was not restored");
    // A terminal container's record says so.
    let out = env.ok(&["inspect", "t"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert_eq!(v[0]["Config"]["Tty"], true);
    assert!(is_hex64(v[0]["Id"].as_str().expect("id")));
    env.ok(&["rm", "t"]);
}

/// Lines another process's `attach` prints, as they come.
fn attach_lines(env: &TestEnv, name: &str) -> (Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut att = env
        .command(&["attach", "--no-stdin", name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn attach");
    let out = att.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (att, rx)
}

#[test]
fn a_foreground_tty_rm_container_answers_logs_attach_and_stop_from_other_processes() {
    let Some(env) = TestEnv::new(
        "a_foreground_tty_rm_container_answers_logs_attach_and_stop",
        TestUser::WithSubids,
    ) else {
        return;
    };
    run_image::load_run_images(&env);
    let (master, slave) = terminal(24, 80);
    let mut child = spawn_on(
        &env,
        &slave,
        &["run", "--rm", "-it", "--name", "fgt", PLAIN, "sh"],
    );
    let mut seen = String::new();
    type_in(&master, b"echo typed-$((6*7))\r");
    read_until(&master, &mut seen, "typed-42");
    // Its log, read by another process, has what the terminal showed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !env.run(&["logs", "fgt"]).stdout.contains("typed-42") {
        assert!(
            Instant::now() < deadline,
            "`logs fgt` never showed typed-42"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Attached from another process: what is typed at run's terminal
    // shows there too, until an answer comes through.
    let (mut att, lines) = attach_lines(&env, "fgt");
    let deadline = Instant::now() + Duration::from_secs(30);
    'relayed: for i in 0.. {
        type_in(&master, format!("echo mark-$((1000+{i}))\r").as_bytes());
        let want = format!("mark-{}", 1000 + i);
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(l) = lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
            if l.contains(&want) {
                break 'relayed;
            }
        }
        assert!(
            Instant::now() < deadline,
            "attach fgt never relayed the terminal's output"
        );
    }
    // Stopped from another process: the shell, pid 1, ignores SIGTERM, so
    // SIGKILL after the timeout; run and attach both end with its status,
    // and --rm leaves nothing.
    env.ok(&["stop", "-t", "1", "fgt"]);
    let code = wait_draining(&mut child, &master, &mut seen);
    assert_eq!(code, 137, "run's status after stop: {seen:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let att_code = loop {
        if let Some(s) = att.try_wait().expect("try_wait") {
            break s.code();
        }
        assert!(Instant::now() < deadline, "attach did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(att_code, Some(137), "attach's status after stop");
    let ps = env.ok(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "--rm left {}", ps.stdout);
}

#[test]
fn detach_keys_leave_attach_and_start_with_the_container_running() {
    let Some(env) = TestEnv::new("detach_keys", TestUser::WithSubids) else {
        return;
    };
    run_image::load_run_images(&env);
    // The container's own keys (run --detach-keys) are attach's default.
    env.ok(&[
        "run",
        "-dit",
        "--name",
        "dk",
        "--detach-keys",
        "ctrl-a,d",
        PLAIN,
        "sh",
    ]);
    let (master, slave) = terminal(24, 80);
    let mut att = spawn_on(&env, &slave, &["attach", "dk"]);
    let mut seen = String::new();
    type_in(&master, b"echo in-$((6*7))\r");
    read_until(&master, &mut seen, "in-42");
    // docker's default (Ctrl-P Ctrl-Q) is not this container's: typed on.
    type_in(&master, b"\x10\x11echo still-$((7*7))\r");
    read_until(&master, &mut seen, "still-49");
    type_in(&master, b"\x01d");
    assert_eq!(wait_draining(&mut att, &master, &mut seen), 0, "{seen:?}");
    let state = env.ok(&["inspect", "-f", "{{.State.Status}}", "dk"]);
    assert_eq!(state.stdout.trim(), "running");
    // --detach-keys on attach wins over the container's.
    let (master, slave) = terminal(24, 80);
    let mut att = spawn_on(&env, &slave, &["attach", "--detach-keys", "ctrl-x,y", "dk"]);
    let mut seen = String::new();
    // (The container's keys reach the shell: Ctrl-A, d, a line of its own.)
    type_in(&master, b"\x01d\recho again-$((8*8))\r");
    read_until(&master, &mut seen, "again-64");
    type_in(&master, b"\x18y");
    assert_eq!(wait_draining(&mut att, &master, &mut seen), 0, "{seen:?}");
    env.ok(&["stop", "-t", "0", "dk"]);
    // start -a -i of a stopped terminal container: the same.
    let (master, slave) = terminal(24, 80);
    let mut st = spawn_on(
        &env,
        &slave,
        &["start", "-a", "-i", "--detach-keys", "ctrl-x,y", "dk"],
    );
    let mut seen = String::new();
    type_in(&master, b"echo back-$((9*9))\r");
    read_until(&master, &mut seen, "back-81");
    type_in(&master, b"\x18y");
    assert_eq!(wait_draining(&mut st, &master, &mut seen), 0, "{seen:?}");
    let state = env.ok(&["inspect", "-f", "{{.State.Status}}", "dk"]);
    assert_eq!(state.stdout.trim(), "running");
    env.fails(&["attach", "--detach-keys", "ctrl-", "dk"]);
    env.ok(&["rm", "-f", "dk"]);
}

#[test]
fn ctrl_p_ctrl_q_detaches_a_foreground_run_it_and_attach_comes_back() {
    let Some(env) = TestEnv::new("ctrl_p_ctrl_q_detaches_run_it", TestUser::WithSubids) else {
        return;
    };
    run_image::load_run_images(&env);
    let (master, slave) = terminal(24, 80);
    let before = tcgetattr(slave.as_fd()).expect("tcgetattr");
    let mut run = spawn_on(
        &env,
        &slave,
        &["run", "-it", "--rm", "--name", "fg", PLAIN, "sh"],
    );
    let mut seen = String::new();
    type_in(&master, b"echo in-$((6*7)); stty size\r");
    read_until(&master, &mut seen, "in-42");
    // The container's terminal has ours's size.
    read_until(&master, &mut seen, "24 80");
    // docker's keys: run returns at once, 0, the terminal as it was.
    // Typed apart, as a person types them: the Ctrl-P is held back until
    // the Ctrl-Q (were it passed on, the shell would recall its last line).
    type_in(&master, b"\x10");
    std::thread::sleep(Duration::from_millis(300));
    type_in(&master, b"\x11");
    assert_eq!(wait_draining(&mut run, &master, &mut seen), 0, "{seen:?}");
    let after = tcgetattr(slave.as_fd()).expect("tcgetattr");
    assert!(same_modes(&before, &after), "the terminal was not restored");
    let state = env.ok(&["inspect", "-f", "{{.State.Status}}", "fg"]);
    assert_eq!(state.stdout.trim(), "running", "{state}");
    // Attached again: the same shell, its state kept.
    let (master, slave) = terminal(30, 100);
    let mut att = spawn_on(&env, &slave, &["attach", "fg"]);
    let mut seen = String::new();
    type_in(&master, b"echo back-$((9*9)); stty size\r");
    read_until(&master, &mut seen, "back-81");
    read_until(&master, &mut seen, "30 100");
    // The shell's exit ends the attach with its status, and --rm removes it.
    type_in(&master, b"exit 3\r");
    assert_eq!(wait_draining(&mut att, &master, &mut seen), 3, "{seen:?}");
    common::wait_for(Duration::from_secs(20), "the --rm container to go", || {
        env.run(&["ps", "-aq"]).stdout.trim().is_empty()
    });
    // A command that is not there is still docker's 127, on a terminal too.
    let (master, slave) = terminal(24, 80);
    let mut run = spawn_on(&env, &slave, &["run", "-it", "--rm", PLAIN, "/no/such"]);
    let mut seen = String::new();
    assert_eq!(wait_draining(&mut run, &master, &mut seen), 127, "{seen:?}");
    // Keys of one's own (--detach-keys), typed apart, the same way.
    let (master, slave) = terminal(24, 80);
    let mut run = spawn_on(
        &env,
        &slave,
        &[
            "run",
            "-it",
            "--name",
            "own",
            "--detach-keys",
            "ctrl-a,d",
            PLAIN,
            "sh",
        ],
    );
    let mut seen = String::new();
    type_in(&master, b"x=$((5*5)); echo p-$x\r");
    read_until(&master, &mut seen, "p-25");
    type_in(&master, b"\x01");
    std::thread::sleep(Duration::from_millis(300));
    type_in(&master, b"d");
    assert_eq!(wait_draining(&mut run, &master, &mut seen), 0, "{seen:?}");
    let state = env.ok(&["inspect", "-f", "{{.State.Status}}", "own"]);
    assert_eq!(state.stdout.trim(), "running", "{state}");
    let (master, slave) = terminal(24, 80);
    let mut att = spawn_on(&env, &slave, &["attach", "own"]);
    let mut seen = String::new();
    // The shell kept its variable; no Ctrl-A reached it.
    type_in(&master, b"echo q-$x\r");
    read_until(&master, &mut seen, "q-25");
    type_in(&master, b"\x01d");
    assert_eq!(wait_draining(&mut att, &master, &mut seen), 0, "{seen:?}");
    env.ok(&["rm", "-f", "own"]);
}

#[test]
fn detaching_while_the_container_writes_leaves_it_running() {
    // The supervisor sends each piece of output to its clients; the one
    // that detached is gone in the same turn as it is seen to close,
    // which must not cost the supervisor (and with it the container).
    let Some(env) = TestEnv::new("detach_while_writing", TestUser::WithSubids) else {
        return;
    };
    run_image::load_run_images(&env);
    for round in 0..5 {
        let name = format!("tick{round}");
        let (master, slave) = terminal(24, 80);
        let mut run = spawn_on(
            &env,
            &slave,
            &[
                "run",
                "-it",
                "--name",
                &name,
                PLAIN,
                "sh",
                "-c",
                "while :; do echo tick; usleep 1000; done",
            ],
        );
        let mut seen = String::new();
        read_times(&master, &mut seen, "tick", 3);
        type_in(&master, b"\x10\x11");
        assert_eq!(
            wait_draining(&mut run, &master, &mut seen),
            0,
            "round {round}"
        );
        // The detached client's socket is seen closed while output flows.
        let (master, slave) = terminal(24, 80);
        let mut att = spawn_on(&env, &slave, &["attach", "--no-stdin", &name]);
        let mut seen = String::new();
        read_times(&master, &mut seen, "tick", 3);
        let state = env.ok(&["inspect", "-f", "{{.State.Status}}", &name]);
        assert_eq!(state.stdout.trim(), "running", "round {round}: {state}");
        env.ok(&["rm", "-f", &name]);
        let _ = wait_draining(&mut att, &master, &mut seen);
    }
}
