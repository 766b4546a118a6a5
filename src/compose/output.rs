//! The services' output as compose prints it: every line of a container
//! prefixed with its name (`web-1  | `, padded to the longest), read from
//! one `burrow logs` child per container in one poll loop (no threads);
//! and attached `up`'s interrupt: the first SIGINT or SIGTERM stops the
//! services, a second kills them. It never reads a log file itself: that
//! is `container`'s work, done by the children.

use super::service::{NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL};
use super::ComposeError;
use crate::container::record::Record;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};

type Result<T> = std::result::Result<T, ComposeError>;

/// The name a container's lines are shown under: `SERVICE-N` for the
/// names compose gives, else its own name (`container_name`).
pub fn shown_name(r: &Record) -> String {
    let label = |k: &str| r.config.labels.get(k).map(String::as_str);
    match (
        label(PROJECT_LABEL),
        label(SERVICE_LABEL),
        label(NUMBER_LABEL),
    ) {
        (Some(p), Some(s), Some(n)) if r.name == format!("{p}-{s}-{n}") => format!("{s}-{n}"),
        _ => r.name.clone(),
    }
}

/// The prefixes of these names, as compose pads them: each name to one
/// more than the longest, then ` | `.
pub fn prefixes(names: &[String]) -> Vec<String> {
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) + 1;
    names.iter().map(|n| format!("{n:<width$} | ")).collect()
}

/// What `logs` asks of each container's log.
#[derive(Debug, Clone, Default)]
pub struct LogArgs {
    pub follow: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
    /// Print lines without the container's name.
    pub no_prefix: bool,
}

/// One container being followed: its name, its prefix, the `burrow logs`
/// child and what is left of a line on each stream.
struct Source {
    container: String,
    shown: String,
    prefix: String,
    child: Child,
    out: Option<ChildStdout>,
    err: Option<ChildStderr>,
    partial: [Vec<u8>; 2],
}

/// A `burrow` child in its own process group: a Ctrl-C on the terminal
/// is this process's to handle, not theirs.
fn burrow(args: &[&str]) -> Result<Command> {
    let exe = std::env::current_exe().map_err(|e| {
        ComposeError::Model(format!("finding burrow's own binary to read logs: {e}"))
    })?;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    Ok(cmd)
}

fn spawn(cmd: &mut Command, what: &str) -> Result<Child> {
    cmd.spawn()
        .map_err(|e| ComposeError::Model(format!("starting burrow {what}: {e}")))
}

impl Source {
    fn start(container: &str, shown: &str, prefix: String, args: &LogArgs) -> Result<Source> {
        let mut argv = vec!["logs".to_string()];
        if args.follow {
            argv.push("-f".into());
        }
        if let Some(n) = args.tail {
            argv.push(format!("--tail={n}"));
        }
        if args.timestamps {
            argv.push("-t".into());
        }
        argv.push("--".into());
        argv.push(container.to_string());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = burrow(&argv)?;
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = spawn(&mut cmd, "logs")?;
        Ok(Source {
            container: container.to_string(),
            shown: shown.to_string(),
            prefix,
            out: child.stdout.take(),
            err: child.stderr.take(),
            child,
            partial: [Vec::new(), Vec::new()],
        })
    }

    fn done(&self) -> bool {
        self.out.is_none() && self.err.is_none()
    }

    /// Reads what stream `which` has (it polled readable) and prints its
    /// whole lines; at its end, the rest.
    fn read(&mut self, which: usize) {
        let mut buf = [0u8; 16 * 1024];
        let n = match which {
            0 => self.out.as_mut().map(|p| p.read(&mut buf)),
            _ => self.err.as_mut().map(|p| p.read(&mut buf)),
        };
        let n = match n {
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => return,
            _ => 0,
        };
        let partial = &mut self.partial[which];
        partial.extend_from_slice(&buf[..n]);
        let mut text = Vec::new();
        while let Some(i) = partial.iter().position(|&b| b == b'\n') {
            text.extend_from_slice(self.prefix.as_bytes());
            text.extend(partial.drain(..=i));
        }
        if n == 0 {
            if !partial.is_empty() {
                text.extend_from_slice(self.prefix.as_bytes());
                text.append(partial);
                text.push(b'\n');
            }
            match which {
                0 => self.out = None,
                _ => self.err = None,
            }
        }
        let _ = match which {
            0 => std::io::stdout().lock().write_all(&text),
            _ => std::io::stderr().lock().write_all(&text),
        };
    }
}

/// The signals `up` answers, and what it has done about them: held from
/// the start of `up`, read between its steps while it makes containers,
/// then while attached `up` follows them.
pub struct Interrupt {
    signals: crate::container::supervisor::terminal::SignalsIn,
    /// How many came: 1 stops, 2 kills.
    count: u32,
    /// A container exited and the others are being stopped
    /// (`--abort-on-container-exit`): the next signal kills.
    aborted: bool,
    /// The `burrow stop` or `burrow kill` child at work.
    worker: Option<Child>,
    /// The containers to stop, dependants first.
    containers: Vec<String>,
}

impl Interrupt {
    /// Holds SIGINT and SIGTERM from now on; `containers` are stopped
    /// when one comes (dependants first: the order given).
    pub fn hold(containers: Vec<String>) -> Result<Interrupt> {
        use nix::sys::signal::Signal;
        let signals = crate::container::supervisor::terminal::SignalsIn::of(
            &[Signal::SIGINT, Signal::SIGTERM],
            false,
        )
        .map_err(|e| ComposeError::Model(format!("holding SIGINT for attached up: {e}")))?;
        Ok(Interrupt {
            signals,
            count: 0,
            aborted: false,
            worker: None,
            containers,
        })
    }

    /// The containers a signal stops from now on, dependants first.
    pub fn set_containers(&mut self, containers: Vec<String>) {
        self.containers = containers;
    }

    /// Whether a signal has come (read now, not acted on).
    pub fn came(&mut self) -> bool {
        while let Ok(Some(_)) = self.signals.fd.read_signal() {
            self.count += 1;
        }
        self.count > 0
    }

    /// Whether a signal has come, waiting up to `wait` for one.
    pub fn came_within(&mut self, wait: std::time::Duration) -> bool {
        if self.came() {
            return true;
        }
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.signals.fd.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ms));
        self.came()
    }

    /// Runs `f` with SIGINT and SIGTERM at their default action (they end
    /// this process), then holds them again.
    pub fn released<T>(&mut self, f: impl FnOnce() -> T) -> T {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
        let out = f();
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
        out
    }

    /// Whether the services were killed (a second interrupt, or one after
    /// a container's exit began stopping them).
    pub fn forced(&self) -> bool {
        self.level() >= 2
    }

    fn level(&self) -> u32 {
        self.count + u32::from(self.aborted)
    }

    /// `--abort-on-container-exit`: a container exited; the others are
    /// stopped as a first signal would stop them.
    pub fn abort(&mut self) -> Result<()> {
        if self.level() > 0 {
            return Ok(());
        }
        self.aborted = true;
        println!("Aborting on container exit...");
        for c in &self.containers {
            println!(" Container {c}  Stopping");
        }
        self.run("stop")
    }

    /// After a signal that came while `up` made containers: stops
    /// `containers` now (kills them when a second signal came, or comes
    /// meanwhile) and waits until that is done.
    pub fn stop_and_wait(&mut self, containers: Vec<String>) -> Result<()> {
        self.containers = containers;
        if self.containers.is_empty() {
            return Ok(());
        }
        let (verb, doing) = if self.forced() {
            ("kill", "Killing")
        } else {
            ("stop", "Stopping")
        };
        for c in &self.containers {
            println!(" Container {c}  {doing}");
        }
        self.run(verb)?;
        while let Some(w) = self.worker.as_mut() {
            if !matches!(w.try_wait(), Ok(None)) {
                self.worker = None;
                break;
            }
            let mut fds = [PollFd::new(self.signals.fd.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            let before = self.forced();
            self.came();
            if self.forced() && !before {
                println!("Killing...");
                for c in &self.containers {
                    println!(" Container {c}  Killing");
                }
                self.run("kill")?;
            }
        }
        for c in &self.containers {
            println!(
                " Container {c}  {}",
                if self.forced() { "Killed" } else { "Stopped" }
            );
        }
        Ok(())
    }

    fn pending(&mut self) -> Result<()> {
        while let Ok(Some(_)) = self.signals.fd.read_signal() {
            self.count += 1;
            match self.level() {
                1 => {
                    println!("Gracefully stopping... (press Ctrl+C again to force)");
                    for c in &self.containers {
                        println!(" Container {c}  Stopping");
                    }
                    self.run("stop")?;
                }
                2 => {
                    println!("Killing...");
                    for c in &self.containers {
                        println!(" Container {c}  Killing");
                    }
                    // The stop at work ends once they are dead.
                    self.run("kill")?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn run(&mut self, verb: &str) -> Result<()> {
        let mut argv = vec![verb];
        argv.extend(self.containers.iter().map(String::as_str));
        let mut cmd = burrow(&argv)?;
        cmd.stdout(Stdio::null());
        if verb == "kill" {
            // Those that the stop ended already are not running: no news.
            cmd.stderr(Stdio::null());
        }
        let child = spawn(&mut cmd, verb)?;
        if let Some(mut old) = self.worker.replace(child) {
            let _ = old.wait();
        }
        Ok(())
    }

    /// Waits for the stop or kill at work.
    fn finish(&mut self) {
        if let Some(mut w) = self.worker.take() {
            let _ = w.wait();
            if self.level() > 0 {
                for c in &self.containers {
                    println!(
                        " Container {c}  {}",
                        if self.forced() { "Killed" } else { "Stopped" }
                    );
                }
            }
        }
    }
}

/// Prints the logs of `containers` (name and record, in the order shown),
/// prefixed unless asked not to: with `follow`, all at once until every
/// one has exited (or, with `interrupt`, been stopped); else one after
/// the other. `exited` is told each container whose log ended while
/// followed; when it answers `true`, the interrupt stops the others
/// (`Interrupt::abort`).
pub fn print_logs(
    containers: &[(String, String)],
    args: &LogArgs,
    mut interrupt: Option<&mut Interrupt>,
    exited: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<()> {
    let shown: Vec<String> = containers.iter().map(|(_, s)| s.clone()).collect();
    let prefixes = if args.no_prefix {
        vec![String::new(); shown.len()]
    } else {
        prefixes(&shown)
    };
    let sources = containers
        .iter()
        .zip(prefixes)
        .map(|((name, shown), prefix)| (name.as_str(), shown.as_str(), prefix));
    if !args.follow {
        for (name, shown, prefix) in sources {
            pump(
                vec![Source::start(name, shown, prefix, args)?],
                None,
                exited,
            )?;
        }
        return Ok(());
    }
    let all = sources
        .map(|(name, shown, prefix)| Source::start(name, shown, prefix, args))
        .collect::<Result<Vec<_>>>()?;
    pump(all, interrupt.as_deref_mut(), exited)?;
    if let Some(i) = interrupt {
        i.finish();
    }
    Ok(())
}

/// Relays the sources' lines until every one has ended, answering the
/// interrupt's signals on the way.
fn pump(
    mut sources: Vec<Source>,
    mut interrupt: Option<&mut Interrupt>,
    exited: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<()> {
    while !sources.is_empty() {
        // (source index or the signals, stream) of each fd polled.
        let mut who: Vec<(Option<usize>, usize)> = Vec::new();
        let mut fds: Vec<PollFd> = Vec::new();
        if let Some(i) = interrupt.as_deref() {
            fds.push(PollFd::new(i.signals.fd.as_fd(), PollFlags::POLLIN));
            who.push((None, 0));
        }
        for (n, s) in sources.iter().enumerate() {
            if let Some(p) = &s.out {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                who.push((Some(n), 0));
            }
            if let Some(p) = &s.err {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                who.push((Some(n), 1));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(ComposeError::Model(format!("poll: {e}"))),
        }
        let ready: Vec<(Option<usize>, usize)> = fds
            .iter()
            .zip(&who)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, w)| *w)
            .collect();
        drop(fds);
        for (source, stream) in ready {
            match source {
                None => {
                    if let Some(i) = interrupt.as_deref_mut() {
                        i.pending()?;
                    }
                }
                Some(n) => sources[n].read(stream),
            }
        }
        let mut i = 0;
        while i < sources.len() {
            if sources[i].done() {
                let mut s = sources.remove(i);
                let _ = s.child.wait();
                if exited(&s.container, &s.shown) {
                    if let Some(i) = interrupt.as_deref_mut() {
                        i.abort()?;
                    }
                }
            } else {
                i += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_padded_to_one_more_than_the_longest_name() {
        let names = ["web-1".to_string(), "db-1".to_string()];
        assert_eq!(prefixes(&names), ["web-1  | ", "db-1   | "]);
    }
}
