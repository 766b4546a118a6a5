//! `burrow build --progress auto` on a real pseudo-terminal: the test opens
//! a pty pair, makes the slave burrow's controlling terminal and stdio, and
//! reads what a person at that terminal would see. Proves that the running
//! step's last output lines are shown while it runs and redrawn in place
//! (the block erased and drawn again), and that the same build into a pipe
//! prints plain lines with no terminal control sequences.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::run_image::{self, PLAIN};
use common::{path_str, TestEnv, TestUser};
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Starts `burrow ARGS` on a new pty (80x24) as its controlling terminal
/// and stdio; returns the child and the master.
fn spawn_on_terminal(env: &TestEnv, args: &[&str]) -> (Child, OwnedFd) {
    let ws = nix::pty::Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&ws), None).expect("openpty");
    let mut cmd = env.command(args);
    let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the slave"));
    cmd.stdin(io(&pty.slave))
        .stdout(io(&pty.slave))
        .stderr(io(&pty.slave));
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
    let child = cmd.spawn().expect("spawn burrow on the terminal");
    (child, pty.master)
}

/// Reads the master into `seen` until `done(seen)` or the deadline.
fn read_while(master: &OwnedFd, seen: &mut String, secs: u64, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out; the terminal showed {seen:?}");
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(0) | Err(nix::Error::EINTR) => continue,
            Ok(_) => match nix::unistd::read(master.as_fd(), &mut buf) {
                // EIO: every slave fd closed (burrow exited).
                Ok(0) | Err(_) => return,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            },
            Err(e) => panic!("poll: {e}"),
        }
    }
}

#[test]
fn progress_auto_on_a_terminal_redraws_the_running_steps_last_lines() {
    let Some(env) = TestEnv::new("build_tty", TestUser::Any) else {
        return;
    };
    run_image::load_run_images(&env);
    let dir = env.work.join("ctx");
    fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    let file = dir.join("Containerfile");
    fs::write(
        &file,
        format!(
            "FROM {PLAIN}\n\
             RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo tick-$i; sleep 0.4; done; echo finished-run\n"
        ),
    )
    .unwrap();
    env.give(&file);

    let (mut child, master) = spawn_on_terminal(
        &env,
        &["build", "--progress", "auto", "-t", "tty:1", path_str(&dir)],
    );
    let mut seen = String::new();
    // The step's output shows while it runs: its third line is on the
    // screen and burrow has not finished.
    read_while(&master, &mut seen, 120, |s| s.contains("| tick-3"));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "burrow had finished before the step's output showed: {seen:?}"
    );
    assert!(
        !seen.contains("| finished-run"),
        "the step was already over: {seen:?}"
    );
    // The image id is printed last.
    read_while(&master, &mut seen, 120, |s| {
        s.rfind("sha256:")
            .is_some_and(|i| s.len() >= i + "sha256:".len() + 64)
    });
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "build failed; the terminal showed {seen:?}"
    );

    // In place: the running block is erased (cursor up, clear to the end)
    // and drawn again, many times, with the newest lines; shown dimmed.
    let redraws = seen.matches("A\r\x1b[J").count();
    assert!(
        redraws >= 5,
        "the running step was redrawn {redraws} times: {seen:?}"
    );
    assert!(seen.contains("\x1b[2m  | tick-1"), "{seen:?}");
    // The last drawing of the block shows the step's last lines, at most
    // six of them: after tick-10 the first ticks are gone from it.
    let last_block = seen
        .rsplit("A\r\x1b[J")
        .find(|b| b.contains("| tick-10"))
        .unwrap_or_else(|| panic!("no block showed tick-10: {seen:?}"));
    assert!(
        !last_block.contains("| tick-1\x1b") && !last_block.contains("| tick-2\x1b"),
        "the block keeps only the last lines: {last_block:?}"
    );
    // The finished step stays as one line with its time, after the
    // block's last erasure.
    let after = seen.rsplit("A\r\x1b[J").next().unwrap_or_default();
    assert!(
        after
            .lines()
            .any(|l| l.contains(" 2/2] RUN for i") && l.trim_end().ends_with('s')),
        "{after:?}"
    );

    // Into a pipe, `auto` is plain: no control sequences, output after the
    // step's line.
    let out = env.run(&[
        "build",
        "--progress",
        "auto",
        "--no-cache",
        "-t",
        "tty:2",
        path_str(&dir),
    ]);
    assert!(out.status.success(), "{out}");
    assert!(!out.stderr.contains('\x1b'), "{out}");
    assert!(out.stderr.contains("  | tick-10"), "{out}");
}
