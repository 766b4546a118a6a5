//! The event journal: what happened to containers and images (create,
//! start, die, stop, kill, pause, oom, health_status, pull, tag, untag,
//! delete, ...), one JSON line each in `events.jsonl` under the storage
//! root, appended by whichever process did the thing. Each event is one
//! `write(2)` on an `O_APPEND` file, so concurrent writers never
//! interleave; past `MAX_BYTES` the file is renamed to `events.jsonl.1`
//! under a lock (one previous file kept): the journal stays bounded.
//! Writing an event never fails the action it records.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const FILE: &str = "events.jsonl";
const MAX_BYTES: u64 = 1 << 20;

/// One event, in docker's JSON shape (`{{.Type}} {{.Action}}
/// {{.Actor.ID}} {{.Actor.Attributes.name}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// docker's older fields, kept for the templates written for them.
    pub status: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    pub scope: String,
    pub time: u64,
    #[serde(rename = "timeNano")]
    pub time_nano: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    /// An event now, of `kind` (container, image) and `action`, about `id`.
    pub fn new(kind: &str, action: &str, id: &str, attributes: &[(&str, &str)]) -> Event {
        let time_nano = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let attributes: BTreeMap<String, String> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Event {
            kind: kind.into(),
            action: action.into(),
            status: action.into(),
            id: id.into(),
            from: attributes.get("image").cloned().unwrap_or_default(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: time_nano / 1_000_000_000,
            time_nano,
        }
    }

    /// `--filter KEY=VALUE`: type, event (action), container, image, label
    /// as docker reads them (a name or an id prefix for the last three).
    pub fn matches(&self, key: &str, value: &str) -> bool {
        let attr = |k: &str| self.actor.attributes.get(k).map(String::as_str);
        match key {
            "type" => self.kind == value,
            "event" | "status" => {
                self.action == value || self.action.starts_with(&format!("{value}:"))
            }
            "container" => {
                self.kind == "container"
                    && (attr("name") == Some(value) || self.id.starts_with(value))
            }
            "image" => {
                attr("image") == Some(value)
                    || (self.kind == "image"
                        && (attr("name") == Some(value) || self.id.starts_with(value)))
            }
            "label" => match value.split_once('=') {
                Some((k, v)) => attr(k) == Some(v),
                None => attr(value).is_some(),
            },
            _ => false,
        }
    }
}

/// The journal under one storage root.
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn at(storage_root: &Path) -> Journal {
        Journal {
            path: storage_root.join(FILE),
        }
    }

    /// Appends `e`; an error is returned for the caller to ignore or say.
    pub fn append(&self, e: &Event) -> std::io::Result<()> {
        self.appender()?.append(std::slice::from_ref(e))
    }

    /// The journal opened for appending, rotated first if it is full: a
    /// process that writes several events over its life (`exec`'s create,
    /// start and die) checks and opens it once, then pays one write for
    /// each batch.
    pub fn appender(&self) -> std::io::Result<Appender> {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() > MAX_BYTES) {
            self.rotate()?;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        Ok(Appender { file })
    }

    fn rotate(&self) -> std::io::Result<()> {
        let lock = self.path.with_extension("lock");
        let _held = crate::lockfile::lock_file(&lock, crate::lockfile::LockKind::Exclusive)
            .map_err(std::io::Error::other)?;
        // Another writer may have rotated it while we waited.
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() > MAX_BYTES) {
            std::fs::rename(&self.path, self.path.with_extension("jsonl.1"))?;
        }
        Ok(())
    }

    /// Every event kept, oldest first (lines that do not read are skipped).
    pub fn read_all(&self) -> Vec<Event> {
        let mut out = Vec::new();
        for p in [self.path.with_extension("jsonl.1"), self.path.clone()] {
            if let Ok(f) = std::fs::File::open(&p) {
                read_lines(std::io::BufReader::new(f), &mut out);
            }
        }
        out
    }

    /// Events appended at `offset` or after; returns the offset to read
    /// from next (back to the start when the file was rotated).
    pub fn read_from(&self, offset: u64) -> (Vec<Event>, u64) {
        let mut out = Vec::new();
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return (out, 0);
        };
        let len = f.metadata().map_or(0, |m| m.len());
        let start = if len < offset { 0 } else { offset };
        if f.seek(std::io::SeekFrom::Start(start)).is_err() {
            return (out, offset);
        }
        let mut r = std::io::BufReader::new(f);
        let mut pos = start;
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                // A line still being written is read next time.
                Ok(_) if line.last() != Some(&b'\n') => break,
                Ok(n) => {
                    pos += n as u64;
                    if let Ok(e) = serde_json::from_slice(&line) {
                        out.push(e);
                    }
                }
            }
        }
        (out, pos)
    }

    /// Bytes in the current file: where a follower starts reading.
    pub fn end(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }
}

fn read_lines(r: impl BufRead, out: &mut Vec<Event>) {
    for line in r.split(b'\n').map_while(Result::ok) {
        if let Ok(e) = serde_json::from_slice(&line) {
            out.push(e);
        }
    }
}

/// The journal, open for appending (see [`Journal::appender`]).
pub struct Appender {
    file: std::fs::File,
}

impl Appender {
    /// Appends `events` in one write: O_APPEND keeps concurrent writers'
    /// lines whole.
    pub fn append(&mut self, events: &[Event]) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for e in events {
            serde_json::to_writer(&mut lines, e).map_err(std::io::Error::other)?;
            lines.push(b'\n');
        }
        self.file.write_all(&lines)
    }
}

/// Records an event under `storage_root`, ignoring a failure: the action
/// it tells of happened whether or not the journal could be written.
pub fn record(storage_root: &Path, e: Event) {
    let _ = Journal::at(storage_root).append(&e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_as_dockers() {
        let e = Event::new(
            "container",
            "die",
            "abcdef123456",
            &[("name", "web"), ("image", "alpine"), ("exitCode", "3")],
        );
        assert!(e.matches("type", "container"));
        assert!(e.matches("event", "die"));
        assert!(e.matches("container", "web"));
        assert!(e.matches("container", "abcdef"));
        assert!(e.matches("image", "alpine"));
        assert!(!e.matches("container", "db"));
        let h = Event::new("container", "health_status: healthy", "x", &[]);
        assert!(h.matches("event", "health_status"));
    }

    #[test]
    fn the_journal_rotates_and_keeps_one_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path());
        let big = "x".repeat(4000);
        let n = (MAX_BYTES / 4000) as usize + 10;
        for _ in 0..n {
            j.append(&Event::new("image", "tag", "id", &[("name", &big)]))
                .unwrap();
        }
        assert!(j.end() < MAX_BYTES);
        assert!(dir.path().join("events.jsonl.1").exists());
        assert_eq!(j.read_all().len(), n);
    }
}
