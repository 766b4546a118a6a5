//! A container's output log: `container.log` in its directory, a sequence
//! of frames (stream, time, bytes) so stdout and stderr stay apart and no
//! byte is altered; when it would pass the configured size it becomes
//! `container.log.1` (the one before becomes `.2`, and so on), and of
//! `max-file` N files only the newest N keep a name, as docker keeps them.
//! The same frames carry output to `attach` clients. Written only by the
//! supervisor; never parsed with trust in its length.

use crate::lockfile::{self, FileLock, LockKind};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Which stream a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
    /// Not output: the container exited; the payload is its status as
    /// 4 little-endian bytes (on the attach socket only).
    Exit = 3,
    /// Not output: the first frame of a log file (see `LogWriter`).
    Mark = 4,
}

impl Stream {
    fn from_u8(b: u8) -> Option<Stream> {
        match b {
            1 => Some(Stream::Stdout),
            2 => Some(Stream::Stderr),
            3 => Some(Stream::Exit),
            4 => Some(Stream::Mark),
            _ => None,
        }
    }
}

/// Frame header: stream (1), 3 zero bytes, length (u32 LE), time in
/// nanoseconds since the epoch (u64 LE).
pub const HEADER: usize = 16;
/// No frame is bigger: a reader refuses one that claims more.
pub const MAX_FRAME: usize = 1 << 20;

pub const LOG_FILE: &str = "container.log";

pub fn encode_header(stream: Stream, len: usize, time_ns: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0] = stream as u8;
    h[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    h[8..16].copy_from_slice(&time_ns.to_le_bytes());
    h
}

pub use crate::time::now_ns;

/// Bytes of a log that are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("bad stream byte {0}")]
    Stream(u8),
    #[error("frame of {0} bytes")]
    TooLong(usize),
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub stream: Stream,
    pub time_ns: u64,
    pub data: Vec<u8>,
}

/// Decodes the frame at the start of `buf`: `Ok(None)` when more bytes are
/// needed, `Err` on garbage.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let stream = Stream::from_u8(buf[0]).ok_or(FrameError::Stream(buf[0]))?;
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLong(len));
    }
    if buf.len() < HEADER + len {
        return Ok(None);
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&buf[8..16]);
    Ok(Some((
        Frame {
            stream,
            time_ns: u64::from_le_bytes(t),
            data: buf[HEADER..HEADER + len].to_vec(),
        },
        HEADER + len,
    )))
}

/// The path of the log file `n` rotations old (0: the current one).
fn log_file(dir: &Path, n: u32) -> PathBuf {
    match n {
        0 => dir.join(LOG_FILE),
        n => dir.join(format!("{LOG_FILE}.{n}")),
    }
}

/// The highest `n` of a `container.log.n` in `dir` (0 when none).
fn last_rotated(dir: &Path) -> io::Result<u32> {
    let prefix = format!("{LOG_FILE}.");
    let mut last = 0;
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let n = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u32>().ok());
        last = last.max(n.unwrap_or(0));
    }
    Ok(last)
}

/// The supervisor's side: appends frames to files of at most `max_size`,
/// of which `files` keep a name (the current one and `files - 1` rotated).
///
/// A `logs -f` (`LogReader`) holds a shared `flock` on the file it reads
/// and takes it on the next before it lets go of the last. Rotation
/// removes the name of the oldest file: a reader still in the file whose
/// name the rotation before removed would find its successor gone. So
/// while a reader holds that file, rotation waits and the current file
/// grows past `max_size`, up to `hard_limit`; past it, rotation goes on and
/// the reader reports exactly how many bytes it lost (each file starts
/// with a mark: its number and the output bytes written before it).
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    hard_limit: u64,
    /// How many files keep a name: `max-file`.
    files: u32,
    /// The number in the current file's mark.
    generation: u64,
    /// Output bytes written so far, in every file.
    written: u64,
    /// The file whose name the last rotation removed: a reader still in
    /// it needs the oldest named file to stay.
    unlinked: Option<File>,
    /// `--log-driver none` or `passthrough`: nothing is written.
    discard: bool,
}

/// How far past `max_size` a reader that lags keeps the log from rotating.
pub const HARD_LIMIT_FACTOR: u64 = 8;
/// ... and at least this much (a reader of a burst of output catches up).
pub const HARD_LIMIT_MIN: u64 = 1 << 30;

impl LogWriter {
    /// `max_size` 0 is no limit (`logs.max_size`); `files` (at least 1)
    /// keep a name, each of at most `max_size`.
    pub fn open(dir: &Path, max_size: u64, files: u32) -> io::Result<LogWriter> {
        let max_size = match max_size {
            0 => u64::MAX,
            n => n.max(4096),
        };
        let hard_limit = max_size
            .saturating_mul(HARD_LIMIT_FACTOR)
            .max(HARD_LIMIT_MIN);
        LogWriter::open_limited(dir, max_size, files, hard_limit)
    }

    /// A writer that keeps nothing (`--log-driver none`).
    pub fn discarding(mut self) -> LogWriter {
        self.discard = true;
        self
    }

    fn open_limited(
        dir: &Path,
        max_size: u64,
        files: u32,
        hard_limit: u64,
    ) -> io::Result<LogWriter> {
        let files = files.max(1);
        let path = dir.join(LOG_FILE);
        // A new container's log (every foreground run makes one): no
        // rotated files, no mark to read, nothing to count.
        match OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(&mark(0, 0))?;
                return Ok(LogWriter {
                    path,
                    file,
                    size: MARK_SIZE,
                    max_size,
                    hard_limit: hard_limit.max(max_size),
                    files,
                    generation: 0,
                    written: 0,
                    unlinked: None,
                    discard: false,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        // Rotated files beyond `files` (of a log kept with more): gone.
        for n in files..=last_rotated(dir)? {
            match std::fs::remove_file(log_file(dir, n)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let mut file = open_append(&path)?;
        let (generation, written) = match read_mark(&mut File::open(&path)?)? {
            Some(m) => (m.generation, m.start + output_bytes(&path)?),
            None if file.metadata()?.len() == 0 => {
                file.write_all(&mark(0, 0))?;
                (0, 0)
            }
            // Written before marks were: number 0, from 0.
            None => (0, output_bytes(&path)?),
        };
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path,
            file,
            size,
            max_size,
            hard_limit: hard_limit.max(max_size),
            files,
            generation,
            written,
            unlinked: None,
            discard: false,
        })
    }

    /// Writes `data` as one or more frames; a full disk loses output, not
    /// the container.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        if self.discard {
            return;
        }
        // Frames of at most a quarter of the limit: one burst read at
        // once must not keep the log past its size.
        let frame = usize::try_from(self.max_size / 4)
            .unwrap_or(MAX_FRAME)
            .clamp(1024, MAX_FRAME);
        for chunk in data.chunks(frame) {
            let need = (HEADER + chunk.len()) as u64;
            if self.size > MARK_SIZE && self.size + need > self.max_size {
                self.rotate();
            }
            let h = encode_header(stream, chunk.len(), now_ns());
            let ok = self
                .file
                .write_all(&h)
                .and_then(|()| self.file.write_all(chunk));
            if ok.is_ok() {
                self.size += need;
                self.written += chunk.len() as u64;
            }
        }
    }

    fn rotate(&mut self) {
        let lagging = self.unlinked.as_ref().is_some_and(lockfile::held_by_others);
        if lagging && self.size < self.hard_limit {
            return;
        }
        // The next file, mark and all, before the names move: a reader
        // never finds a current file without its mark.
        let next_path = self.path.with_extension("log.new");
        let generation = self.generation + 1;
        let next = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&next_path)
            .and_then(|mut f| {
                f.write_all(&mark(generation, self.written))?;
                Ok(f)
            });
        let Ok(next) = next else {
            let _ = std::fs::remove_file(&next_path);
            return;
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // Each file moves one name up, the oldest first; the name of the
        // last (`files - 1` rotations old) goes to the one after it. A file
        // always has a name until its own is taken: a reader that looks
        // from the current name up finds each one.
        let oldest = self.files - 1;
        let doomed = if oldest == 0 {
            None
        } else {
            File::open(log_file(dir, oldest)).ok()
        };
        for n in (1..oldest).rev() {
            match std::fs::rename(log_file(dir, n), log_file(dir, n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_file(&next_path);
                    return;
                }
                _ => {}
            }
        }
        if oldest > 0 && std::fs::rename(&self.path, log_file(dir, 1)).is_err() {
            let _ = std::fs::remove_file(&next_path);
            return;
        }
        // With one file, this rename takes the current file's name.
        // Written to only by us: with more, it cannot fail for a reason
        // the one before it did not.
        if std::fs::rename(&next_path, &self.path).is_err() && oldest == 0 {
            let _ = std::fs::remove_file(&next_path);
            return;
        }
        let done = std::mem::replace(&mut self.file, next);
        self.unlinked = if oldest == 0 { Some(done) } else { doomed };
        self.size = MARK_SIZE;
        self.generation = generation;
    }
}

const STREAM_MARK: u8 = 4;
const MARK_SIZE: u64 = (HEADER + 16) as u64;

/// The first frame of a log file: its number, and the output bytes
/// written before it (in every earlier file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    generation: u64,
    start: u64,
}

fn mark(generation: u64, start: u64) -> Vec<u8> {
    let mut m = vec![0u8; MARK_SIZE as usize];
    m[0] = STREAM_MARK;
    m[4..8].copy_from_slice(&16u32.to_le_bytes());
    m[8..16].copy_from_slice(&now_ns().to_le_bytes());
    m[16..24].copy_from_slice(&generation.to_le_bytes());
    m[24..32].copy_from_slice(&start.to_le_bytes());
    m
}

fn parse_mark(b: &[u8]) -> Option<Mark> {
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    (b.len() >= MARK_SIZE as usize && b[0] == STREAM_MARK && b[4..8] == 16u32.to_le_bytes())
        .then_some(())?;
    Some(Mark {
        generation: word(16)?,
        start: word(24)?,
    })
}

/// The mark at the start of `f` (read from where `f` is), if it has one.
fn read_mark(mut f: impl Read) -> io::Result<Option<Mark>> {
    let mut b = [0u8; MARK_SIZE as usize];
    let mut got = 0;
    while got < b.len() {
        match f.read(&mut b[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(parse_mark(&b[..got]))
}

/// The output bytes in the frames of the log file at `path`.
fn output_bytes(path: &Path) -> io::Result<u64> {
    use std::io::{BufReader, Seek, SeekFrom};
    let mut r = BufReader::new(File::open(path)?);
    let mut total = 0;
    let mut h = [0u8; HEADER];
    while r.read_exact(&mut h).is_ok() {
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if h[0] != STREAM_MARK {
            total += u64::from(len);
        }
        r.seek(SeekFrom::Current(i64::from(len)))?;
    }
    Ok(total)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// The file a reader is in: held with a shared lock (see `LogWriter`).
struct Held {
    lock: FileLock,
    ino: u64,
    mark: Option<Mark>,
    /// Output bytes decoded from it so far.
    read: u64,
}

impl Held {
    /// Opens and locks the file at `path`, and reads its mark.
    fn open(path: &Path) -> io::Result<Held> {
        let lock = lockfile::lock_existing(path, LockKind::Shared)?;
        let mut file = lock.file();
        let ino = file.metadata()?.ino();
        let mark = read_mark(file)?;
        // Frames are read from the start (a file without a mark has none).
        use std::io::{Seek, SeekFrom};
        let at = if mark.is_some() { MARK_SIZE } else { 0 };
        file.seek(SeekFrom::Start(at))?;
        Ok(Held {
            lock,
            ino,
            mark,
            read: 0,
        })
    }
}

/// Reads a container's log: the oldest rotated file first, then each newer
/// one up to the current one; `poll` goes on across rotations.
pub struct LogReader {
    dir: PathBuf,
    held: Option<Held>,
    buf: Vec<u8>,
    /// Output bytes rotated away before this reader could read them
    /// (the writer gave up waiting: see `LogWriter`), since the last call
    /// of `take_dropped`.
    dropped: u64,
}

/// Reads `held` on, to its end or a few MiB (what the caller prints
/// before it asks for more), and decodes what it can into `out`; true at
/// the end.
fn drain(held: &mut Held, buf: &mut Vec<u8>, out: &mut Vec<Frame>) -> io::Result<bool> {
    const AT_ONCE: usize = 4 << 20;
    let mut chunk = vec![0u8; 256 * 1024];
    let mut end = false;
    while buf.len() < AT_ONCE {
        let n = held.lock.file().read(&mut chunk)?;
        if n == 0 {
            end = true;
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let first = out.len();
    let used = decode_all(buf, out);
    buf.drain(..used);
    held.read += out[first..]
        .iter()
        .map(|f| f.data.len() as u64)
        .sum::<u64>();
    Ok(end)
}

fn ino_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

impl LogReader {
    pub fn new(dir: &Path) -> LogReader {
        LogReader {
            dir: dir.to_path_buf(),
            held: None,
            buf: Vec::new(),
            dropped: 0,
        }
    }

    fn current(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Every log file there is, each opened and locked once (not `skip`,
    /// the held one), looked for from the current name up: rotation moves
    /// files up, so none is missed but the newest, when a rotation is
    /// under way.
    fn files(&self, skip: Option<u64>) -> io::Result<Vec<Held>> {
        let last = last_rotated(&self.dir)?;
        let mut out: Vec<Held> = Vec::new();
        for n in 0..=last + 1 {
            let path = log_file(&self.dir, n);
            // Not opened again when it is the held one (by its inode, as
            // it is now): the lock stays with the held descriptor alone.
            if skip.is_some() && ino_of(&path) == skip {
                continue;
            }
            match Held::open(&path) {
                Ok(h) if Some(h.ino) == skip || out.iter().any(|o| o.ino == h.ino) => {}
                Ok(h) => out.push(h),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Whether a file with inode `ino` has a log file's name.
    fn named(&self, ino: u64) -> io::Result<bool> {
        let last = last_rotated(&self.dir)?;
        Ok((0..=last + 1).any(|n| ino_of(&log_file(&self.dir, n)) == Some(ino)))
    }

    /// Every frame on disk now, oldest first.
    pub fn read_all(&mut self) -> io::Result<Vec<Frame>> {
        let mut out = Vec::new();
        while !self.poll(&mut out)? {}
        Ok(out)
    }

    /// The output bytes lost to rotation since the last call: they came
    /// after the frames the last `poll` gave (which stops at a gap).
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// The oldest file there is (by its mark; one from before marks is
    /// older than any), locked while it still has a name (a rotation
    /// between the open and the lock starts it over).
    fn open_first(&mut self) -> io::Result<Option<Held>> {
        loop {
            let mut files = self.files(None)?;
            // Of two from before marks, the one with the older name.
            let age = |i: usize| (files[i].mark.map(|m| m.generation), std::cmp::Reverse(i));
            let Some(i) = (0..files.len()).min_by_key(|&i| age(i)) else {
                return Ok(None);
            };
            let held = files.swap_remove(i);
            drop(files);
            if self.named(held.ino)? {
                return Ok(Some(held));
            }
        }
    }

    /// Reads what was appended since the last call, following rotations,
    /// a few MiB at a time: true once it reached the end of what is
    /// written, false when there is more to read now.
    pub fn poll(&mut self, out: &mut Vec<Frame>) -> io::Result<bool> {
        if self.held.is_none() {
            self.held = self.open_first()?;
        }
        let current = self.current();
        loop {
            let Some(held) = self.held.as_mut() else {
                return Ok(true);
            };
            if !drain(held, &mut self.buf, out)? {
                return Ok(false);
            }
            if ino_of(&current) == Some(held.ino) {
                return Ok(true);
            }
            // Renamed away: the writer no longer writes to it. What it
            // wrote between our last read and the rename comes first.
            if !drain(held, &mut self.buf, out)? {
                return Ok(false);
            }
            let lost = self.dropped;
            match self.successor()? {
                Some(next) => {
                    // A finished file ends at a frame's end (rotation
                    // happens between frames): nothing is cut here.
                    self.buf.clear();
                    self.held = Some(next);
                    // The caller learns of a gap where it is.
                    if self.dropped != lost {
                        return Ok(false);
                    }
                }
                // Between the writer's two renames: next time.
                None => return Ok(true),
            }
        }
    }

    /// The file after the held one, locked (before the held one lets go).
    /// Counts what rotation took between them.
    fn successor(&mut self) -> io::Result<Option<Held>> {
        let Some(held) = &self.held else {
            return Ok(None);
        };
        // A file from before marks is number 0 from 0, as the writer
        // that continues it counts it.
        let mine = held.mark.unwrap_or(Mark {
            generation: 0,
            start: 0,
        });
        // Twice: a rotation under way hides the newest file (no more: we
        // hold ours).
        let mut candidates = Vec::new();
        for _ in 0..2 {
            candidates = self.files(Some(held.ino))?;
            let want = mine.generation + 1;
            if let Some(i) = candidates
                .iter()
                .position(|h| h.mark.is_some_and(|m| m.generation == want))
            {
                return Ok(Some(candidates.swap_remove(i)));
            }
        }
        let later = candidates
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.mark.map(|m| (i, m)))
            .filter(|(_, m)| m.generation > mine.generation)
            .min_by_key(|(_, m)| m.generation);
        match later {
            Some((i, m)) => {
                if held.mark.is_some() {
                    self.dropped += m.start.saturating_sub(mine.start + held.read);
                }
                Ok(Some(candidates.swap_remove(i)))
            }
            // Files from before marks on both names: the current one is
            // the next (the rotated one, if it is not ours, came before).
            None => {
                let cur = ino_of(&self.current());
                Ok(candidates
                    .into_iter()
                    .find(|h| Some(h.ino) == cur && h.mark.is_none()))
            }
        }
    }
}

/// Decodes whole frames from `data` into `out` (marks are not kept);
/// returns the bytes used. Stops at garbage (a torn write at a crash)
/// rather than guessing.
pub fn decode_all(data: &[u8], out: &mut Vec<Frame>) -> usize {
    let mut at = 0;
    while let Ok(Some((frame, used))) = decode(&data[at..]) {
        if frame.stream != Stream::Mark {
            out.push(frame);
        }
        at += used;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_keep_streams_apart() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(d.path(), 1 << 20, 2).unwrap();
        w.write(Stream::Stdout, b"out\n");
        w.write(Stream::Stderr, b"err\n");
        let frames = LogReader::new(d.path()).read_all().unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].stream, Stream::Stdout);
        assert_eq!(frames[0].data, b"out\n");
        assert_eq!(frames[1].stream, Stream::Stderr);
    }

    #[test]
    fn log_rotates_at_the_limit_and_keeps_one_old_file() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(d.path(), 8192, 2).unwrap();
        for i in 0..100u32 {
            w.write(Stream::Stdout, format!("{i:0>200}").as_bytes());
        }
        let cur = std::fs::metadata(d.path().join(LOG_FILE)).unwrap().len();
        assert!(cur <= 8192, "{cur}");
        assert!(d.path().join("container.log.1").exists());
        let frames = LogReader::new(d.path()).read_all().unwrap();
        // The newest frames survive, in order.
        let last = String::from_utf8(frames.last().unwrap().data.clone()).unwrap();
        assert!(last.ends_with("99"));
        assert!(frames.len() < 100);
    }

    /// Writes `n` numbered frames of 200 bytes.
    fn numbered(w: &mut LogWriter, from: u32, n: u32) {
        for i in from..from + n {
            w.write(Stream::Stdout, format!("{i:0>199}\n").as_bytes());
        }
    }

    /// The numbers of `frames`, in order.
    fn numbers(frames: &[Frame]) -> Vec<u32> {
        frames
            .iter()
            .map(|f| {
                std::str::from_utf8(&f.data)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            })
            .collect()
    }

    /// Runs `scenario` in a forked child, where the files it opens exist
    /// in that process alone. A test whose outcome depends on when a
    /// reader's lock goes needs it: in the test process, other tests'
    /// threads fork helpers (`run_forked`, `run_in_userns`) that hold a
    /// copy of every open descriptor while they run, and with it the
    /// `flock` of a log file the follower already closed; the writer then
    /// sees a reader behind and does not rotate, as it must not for a
    /// real one. (burrow's `logs -f` neither threads nor forks.)
    fn alone(scenario: impl FnOnce()) {
        let how = crate::forked::Fork {
            single_threaded: false,
            ..crate::forked::Fork::new("a log test")
        };
        let out = crate::forked::run_forked(how, || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(scenario)).map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the scenario panicked".into())
            })
        })
        .expect("forking the scenario");
        if let Err(why) = out {
            panic!("{why}");
        }
    }

    /// The log files on disk: their names, and each one's size.
    fn on_disk(dir: &Path) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, e.metadata().unwrap().len())
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn max_file_keeps_that_many_files_of_max_size_read_oldest_first() {
        for files in [1u32, 3] {
            let d = tempfile::tempdir().unwrap();
            let mut w = LogWriter::open(d.path(), 8192, files).unwrap();
            // 37 frames of 216 bytes fill a file after its 32-byte mark:
            // 200 frames are files of 0-36, 37-73, ..., 148-184, 185-199.
            numbered(&mut w, 0, 200);
            let disk = on_disk(d.path());
            let names: Vec<&str> = disk.iter().map(|(n, _)| n.as_str()).collect();
            let want: Vec<String> = std::iter::once(LOG_FILE.to_string())
                .chain((1..files).map(|n| format!("{LOG_FILE}.{n}")))
                .collect();
            assert_eq!(names, want, "max-file={files}");
            assert!(disk.iter().all(|(_, len)| *len <= 8192), "{disk:?}");
            let first = [185, 0, 111][files as usize - 1];
            let all = LogReader::new(d.path()).read_all().unwrap();
            assert_eq!(numbers(&all), (first..200).collect::<Vec<_>>());
        }
        // A log kept with more files, continued with fewer: the oldest go.
        let d = tempfile::tempdir().unwrap();
        numbered(&mut LogWriter::open(d.path(), 8192, 3).unwrap(), 0, 200);
        let mut w = LogWriter::open(d.path(), 8192, 1).unwrap();
        assert_eq!(on_disk(d.path()).len(), 1);
        numbered(&mut w, 200, 1);
        let all = LogReader::new(d.path()).read_all().unwrap();
        assert_eq!(numbers(&all), (185..201).collect::<Vec<_>>());
    }

    #[test]
    fn a_follower_behind_by_many_rotations_gets_every_frame_in_order() {
        for files in [1u32, 2, 3] {
            alone(|| follow_behind(files));
        }
    }

    fn follow_behind(files: u32) {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(d.path(), 8192, files).unwrap();
        numbered(&mut w, 0, 10);
        let mut r = LogReader::new(d.path());
        let mut got = Vec::new();
        assert!(r.poll(&mut got).unwrap());
        // 2,000 frames: room for 37 in a file, 54 rotations if nobody
        // waited for the follower, which reads nothing meanwhile.
        numbered(&mut w, 10, 2000);
        while !r.poll(&mut got).unwrap() {}
        assert_eq!(numbers(&got), (0..2010).collect::<Vec<_>>(), "{files}");
        assert_eq!(r.take_dropped(), 0);
        // Keeping up, it lets the log rotate again, down to its size.
        for i in 0..40 {
            numbered(&mut w, 2010 + i * 10, 10);
            while !r.poll(&mut got).unwrap() {}
        }
        assert_eq!(numbers(&got), (0..2410).collect::<Vec<_>>());
        let disk = on_disk(d.path());
        assert_eq!(disk.len(), files as usize, "{disk:?}");
        assert!(disk.iter().all(|(_, len)| *len <= 8192), "{disk:?}");
        // A reader from the start now finds the last files only.
        let all = LogReader::new(d.path()).read_all().unwrap();
        let n = numbers(&all);
        assert!(n.ends_with(&[2408, 2409]), "{files}");
        assert!(n.windows(2).all(|p| p[1] == p[0] + 1));
        assert!(all.len() <= 37 * files as usize, "{files}: {}", all.len());
    }

    #[test]
    fn past_the_hard_limit_a_follower_is_told_exactly_what_it_lost() {
        for files in [1u32, 2, 3] {
            alone(|| lose_past_the_hard_limit(files));
        }
    }

    fn lose_past_the_hard_limit(files: u32) {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open_limited(d.path(), 8192, files, 32768).unwrap();
        numbered(&mut w, 0, 10);
        let mut r = LogReader::new(d.path());
        let mut got = Vec::new();
        r.poll(&mut got).unwrap();
        numbered(&mut w, 10, 2000);
        let mut lost = 0;
        loop {
            let done = r.poll(&mut got).unwrap();
            lost += r.take_dropped();
            if done {
                break;
            }
        }
        let n = numbers(&got);
        assert!(lost > 0 && n.len() < 2010, "{lost} {}", n.len());
        // What arrived is in order; what did not is counted to the byte.
        assert!(n.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(got.len() as u64 * 200 + lost, 2010 * 200);
        // Nothing more to lose once the follower keeps up.
        numbered(&mut w, 2010, 100);
        while !r.poll(&mut got).unwrap() {}
        assert_eq!(r.take_dropped(), 0);
        assert_eq!(numbers(&got).last(), Some(&2109));
    }

    #[test]
    fn a_log_written_before_marks_is_read_and_continued() {
        let d = tempfile::tempdir().unwrap();
        let mut old = Vec::new();
        for i in 0..3u32 {
            let data = format!("{i:0>199}\n");
            old.extend_from_slice(&encode_header(Stream::Stdout, data.len(), 1));
            old.extend_from_slice(data.as_bytes());
        }
        std::fs::write(d.path().join(LOG_FILE), &old).unwrap();
        let mut w = LogWriter::open(d.path(), 8192, 2).unwrap();
        let mut r = LogReader::new(d.path());
        let mut got = Vec::new();
        r.poll(&mut got).unwrap();
        numbered(&mut w, 3, 200);
        while !r.poll(&mut got).unwrap() {}
        assert_eq!(numbers(&got), (0..203).collect::<Vec<_>>());
    }

    #[test]
    fn garbage_and_huge_lengths_stop_decoding() {
        let mut out = Vec::new();
        assert_eq!(decode_all(&[9u8; 40], &mut out), 0);
        let mut h = encode_header(Stream::Stdout, 0, 0).to_vec();
        h[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&h).is_err());
    }
}
