//! A detached supervisor's panic, written where the user looks: its
//! stdio is /dev/null, so without this a panic leaves only "burrow lost
//! track of the container". The message and its place go to
//! `supervisor.log` in the container's directory, to the container's log
//! (a stderr line `burrow logs` shows) and into its state's error
//! (`inspect`, `ps`). Never panics itself.

use crate::container::log::{self, Stream, LOG_FILE};
use crate::container::record::Containers;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Beside the record: every panic of a supervisor of this container.
pub const PANIC_LOG: &str = "supervisor.log";

/// Where a supervisor's panic is written.
#[derive(Debug, Clone)]
pub struct PanicRecord {
    /// The container's directory (its record, `supervisor.log`).
    pub dir: PathBuf,
    /// The container's id, and the storage root its record is under.
    pub id: String,
    pub storage: PathBuf,
    /// Whether the container has a log (`--log-driver`).
    pub to_log: bool,
}

/// Installs the hook in this process (a detached supervisor); the
/// default hook runs after it. Forked children of the supervisor inherit
/// the hook but not the pid, and write nothing (their panics come back to
/// the supervisor as errors).
pub fn install(record: PanicRecord) {
    let me = std::process::id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::process::id() == me {
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
        }
        previous(info);
    }));
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
        if self.to_log {
            // One frame in one write: O_APPEND keeps it whole after the
            // supervisor's own last frame.
            let mut frame = log::encode_header(Stream::Stderr, line.len(), log::now_ns()).to_vec();
            frame.extend_from_slice(line.as_bytes());
            let _ = append(&self.dir.join(LOG_FILE), &frame, false);
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

    #[test]
    fn a_panic_reaches_the_log_the_panic_file_and_the_state() {
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
            to_log: true,
        };
        // The hook itself, through a panic caught here (only this test's
        // thread panics while it is installed).
        install(record);
        let caught = std::panic::catch_unwind(|| panic!("seam {}", 42));
        let _ = std::panic::take_hook();
        assert!(caught.is_err());
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

    #[test]
    fn the_note_names_the_place_when_known() {
        assert_eq!(
            note("boom", Some("a.rs:1:2")),
            "the supervisor panicked at a.rs:1:2: boom"
        );
        assert_eq!(note("boom", None), "the supervisor panicked: boom");
    }
}
