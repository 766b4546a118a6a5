//! A supervisor's panic, written where the user looks: a detached one's
//! stdio is /dev/null, and a release build aborts on a panic (no
//! destructor runs), so without this a panic leaves only "burrow lost
//! track of the container" and, in the foreground, a terminal left in raw
//! mode. The terminal's settings are put back; the message and its place
//! go to `supervisor.log` in the container's directory, to the container's
//! log (a stderr line `burrow logs` shows) and into its state's error
//! (`inspect`, `ps`). Never panics itself.

use super::{hook, terminal};
use crate::container::log::{self, Stream, LOG_FILE};
use crate::container::record::Containers;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Beside the record: every panic of a supervisor of this container.
pub const PANIC_LOG: &str = "supervisor.log";

/// Where a supervisor's panic is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicRecord {
    /// The container's directory (its record, `supervisor.log`).
    pub dir: PathBuf,
    /// The container's id, and the storage root its record is under.
    pub id: String,
    pub storage: PathBuf,
    /// The directory of the container's log, when it has one
    /// (`--log-driver`).
    pub log_dir: Option<PathBuf>,
}

/// The hook, installed while this lives (a supervisor's life, detached or
/// in the foreground of `run`); a panic after it is gone is none of the
/// container's business.
pub type PanicHook = hook::Armed;

/// Installs the hook in this process, for panics of this thread (the
/// supervisor's); the hook found before runs after it. Forked children
/// of the supervisor inherit the hook but not the pid, and write nothing
/// (their panics come back to the supervisor as errors).
pub fn install(record: PanicRecord) -> PanicHook {
    hook::on_panic(move |info| {
        // First: the message below goes to a terminal that shows it.
        terminal::restore_after_panic();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        record.write(&note(&message, place.as_deref()));
    })
}

/// The one line that says what happened.
pub fn note(message: &str, place: Option<&str>) -> String {
    match place {
        Some(place) => format!("the supervisor panicked at {place}: {message}"),
        None => format!("the supervisor panicked: {message}"),
    }
}

impl PanicRecord {
    /// Writes `note` everywhere it is looked for; what cannot be written
    /// is skipped.
    pub fn write(&self, note: &str) {
        let line = format!("burrow: {note}\n");
        let _ = append(&self.dir.join(PANIC_LOG), line.as_bytes(), true);
        if let Some(log_dir) = &self.log_dir {
            // One frame in one write: O_APPEND keeps it whole after the
            // supervisor's own last frame.
            let mut frame = log::encode_header(Stream::Stderr, line.len(), log::now_ns()).to_vec();
            frame.extend_from_slice(line.as_bytes());
            let _ = append(&log_dir.join(LOG_FILE), &frame, false);
        }
        // The state keeps it until pid 1's death is noticed: then it is
        // the reason given for the lost container.
        if let Ok(c) = Containers::open(&self.storage) {
            if let Ok(mut state) = c.state_now(&self.id) {
                state.error = Some(note.to_string());
                let _ = c.set_state(&self.id, &state);
            }
        }
    }
}

fn append(path: &Path, data: &[u8], create: bool) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(create)
        .mode(0o600)
        .open(path)?
        .write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::log::LogWriter;

    /// The hook is the process's: one test at a time installs it.
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Panics once with the hook of `record` installed, and takes it out
    /// again.
    fn panic_with_hook(record: PanicRecord) {
        let hook = install(record);
        let caught = std::panic::catch_unwind(|| panic!("seam {}", 42));
        drop(hook);
        let _ = std::panic::take_hook();
        assert!(caught.is_err());
    }

    #[test]
    fn a_panic_reaches_the_log_the_panic_file_and_the_state() {
        let _one = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let d = tempfile::tempdir().unwrap();
        let c = Containers::open(d.path()).unwrap();
        let id = crate::container::record::new_id();
        let dir = c.dir_of(&id);
        std::fs::create_dir(&dir).unwrap();
        let mut state = crate::container::record::State::created();
        state.status = crate::container::record::Status::Running;
        c.set_state(&id, &state).unwrap();
        let mut log = LogWriter::open(&dir, 0, 1).unwrap();
        log.write(Stream::Stdout, b"before\n");
        let record = PanicRecord {
            dir: dir.clone(),
            id: id.clone(),
            storage: d.path().to_path_buf(),
            log_dir: Some(dir.clone()),
        };
        // The hook itself, through a panic caught here.
        panic_with_hook(record);
        let text = std::fs::read_to_string(dir.join(PANIC_LOG)).unwrap();
        assert!(
            text.starts_with(
                "burrow: the supervisor panicked at src/container/supervisor/panic.rs:"
            ) && text.ends_with(": seam 42\n"),
            "{text}"
        );
        let data = std::fs::read(dir.join(LOG_FILE)).unwrap();
        let mut frames = Vec::new();
        let mut at = 0;
        while let Some((frame, n)) = log::decode(&data[at..]).unwrap() {
            frames.push(frame);
            at += n;
        }
        assert_eq!(at, data.len(), "the log is whole frames");
        let last = frames.last().unwrap();
        assert_eq!(last.stream, Stream::Stderr);
        assert_eq!(String::from_utf8_lossy(&last.data), text);
        let error = c.state_now(&id).unwrap().error.unwrap();
        assert!(error.contains("seam 42"), "{error}");
    }

    /// As a foreground `run -t` leaves it: the terminal in raw mode
    /// (here a pty's), the log elsewhere than the record (a throwaway
    /// container's).
    #[test]
    fn a_panic_puts_the_terminal_back_and_writes_the_log_where_it_is() {
        use nix::sys::termios::{tcgetattr, LocalFlags};
        let _one = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let d = tempfile::tempdir().unwrap();
        let c = Containers::open(d.path()).unwrap();
        let id = crate::container::record::new_id();
        let dir = c.dir_of(&id);
        std::fs::create_dir(&dir).unwrap();
        let log_dir = d.path().join("elsewhere");
        std::fs::create_dir(&log_dir).unwrap();
        LogWriter::open(&log_dir, 0, 1).unwrap();
        let pty = nix::pty::openpty(None, None).unwrap();
        let cooked = |fd: &std::os::fd::OwnedFd| {
            tcgetattr(fd)
                .unwrap()
                .local_flags
                .contains(LocalFlags::ICANON | LocalFlags::ECHO)
        };
        assert!(cooked(&pty.slave));
        let raw = terminal::RawMode::enter_on(std::os::fd::AsRawFd::as_raw_fd(&pty.slave))
            .expect("a pty takes raw mode");
        assert!(!cooked(&pty.slave));
        panic_with_hook(PanicRecord {
            dir: dir.clone(),
            id,
            storage: d.path().to_path_buf(),
            log_dir: Some(log_dir.clone()),
        });
        assert!(cooked(&pty.slave), "the hook put the terminal back");
        drop(raw);
        let data = std::fs::read(log_dir.join(LOG_FILE)).unwrap();
        let mut said = String::new();
        let mut at = 0;
        while let Some((frame, n)) = log::decode(&data[at..]).unwrap() {
            said.push_str(&String::from_utf8_lossy(&frame.data));
            at += n;
        }
        assert!(said.contains("seam 42"), "{said}");
        assert!(!dir.join(LOG_FILE).exists());
    }

    /// As `exec -t` and `attach` leave it: the terminal in raw mode with
    /// no supervisor's hook installed. A panic puts it back all the same.
    #[test]
    fn a_panic_while_raw_mode_lives_puts_the_terminal_back_without_a_supervisor() {
        use nix::sys::termios::{tcgetattr, LocalFlags};
        let _one = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let pty = nix::pty::openpty(None, None).unwrap();
        let cooked = || {
            tcgetattr(&pty.slave)
                .unwrap()
                .local_flags
                .contains(LocalFlags::ICANON | LocalFlags::ECHO)
        };
        let raw = terminal::RawMode::enter_on(std::os::fd::AsRawFd::as_raw_fd(&pty.slave))
            .expect("a pty takes raw mode");
        assert!(!cooked());
        let caught = std::panic::catch_unwind(|| panic!("seam {}", 43));
        assert!(caught.is_err());
        assert!(cooked(), "the panic put the terminal back");
        drop(raw);
        let _ = std::panic::take_hook();
    }

    #[test]
    fn the_note_names_the_place_when_known() {
        assert_eq!(
            note("boom", Some("a.rs:1:2")),
            "the supervisor panicked at a.rs:1:2: boom"
        );
        assert_eq!(note("boom", None), "the supervisor panicked: boom");
    }
}
