//! A container's output log: `container.log` in its directory, a sequence
//! of frames (stream, time, bytes) so stdout and stderr stay apart and no
//! byte is altered; rotated to `container.log.1` when it would pass the
//! configured size. The same frames carry output to `attach` clients.
//! Written only by the supervisor; never parsed with trust in its length.

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
}

impl Stream {
    fn from_u8(b: u8) -> Option<Stream> {
        match b {
            1 => Some(Stream::Stdout),
            2 => Some(Stream::Stderr),
            3 => Some(Stream::Exit),
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

pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
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
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let stream = Stream::from_u8(buf[0]).ok_or_else(|| format!("bad stream byte {}", buf[0]))?;
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if len > MAX_FRAME {
        return Err(format!("frame of {len} bytes"));
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

/// The supervisor's side: appends frames, rotating at `max_size`.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
}

impl LogWriter {
    pub fn open(dir: &Path, max_size: u64) -> io::Result<LogWriter> {
        let path = dir.join(LOG_FILE);
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path,
            file,
            size,
            max_size: max_size.max(4096),
        })
    }

    /// Writes `data` as one or more frames; a full disk loses output, not
    /// the container.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        for chunk in data.chunks(MAX_FRAME) {
            let need = (HEADER + chunk.len()) as u64;
            if self.size > 0 && self.size + need > self.max_size {
                self.rotate();
            }
            let h = encode_header(stream, chunk.len(), now_ns());
            let ok = self
                .file
                .write_all(&h)
                .and_then(|()| self.file.write_all(chunk));
            if ok.is_ok() {
                self.size += need;
            }
        }
    }

    fn rotate(&mut self) {
        let old = self.path.with_extension("log.1");
        if std::fs::rename(&self.path, &old).is_ok() {
            if let Ok(f) = open_append(&self.path) {
                self.file = f;
                self.size = 0;
            }
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Reads a container's log: the rotated file first, then the current one;
/// with `follow`, waits for more (across rotations) until `done` says the
/// container is gone and everything written was read.
pub struct LogReader {
    dir: PathBuf,
    file: Option<(File, u64)>,
    buf: Vec<u8>,
}

impl LogReader {
    pub fn new(dir: &Path) -> LogReader {
        LogReader {
            dir: dir.to_path_buf(),
            file: None,
            buf: Vec::new(),
        }
    }

    /// Every frame on disk now, oldest first.
    pub fn read_all(&mut self) -> io::Result<Vec<Frame>> {
        let mut out = Vec::new();
        let rotated = self.dir.join(LOG_FILE).with_extension("log.1");
        if let Ok(mut f) = File::open(&rotated) {
            let mut data = Vec::new();
            f.read_to_end(&mut data)?;
            decode_all(&data, &mut out);
        }
        self.poll(&mut out)?;
        Ok(out)
    }

    /// Reads what was appended since the last call, following a rotation.
    pub fn poll(&mut self, out: &mut Vec<Frame>) -> io::Result<()> {
        let path = self.dir.join(LOG_FILE);
        if self.file.is_none() {
            match File::open(&path) {
                Ok(f) => {
                    let ino = f.metadata()?.ino();
                    self.file = Some((f, ino));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        loop {
            let Some((f, ino)) = self.file.as_mut() else {
                return Ok(());
            };
            let mut chunk = [0u8; 64 * 1024];
            loop {
                let n = f.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                self.buf.extend_from_slice(&chunk[..n]);
            }
            let used = decode_all(&self.buf, out);
            self.buf.drain(..used);
            // Rotated under us: the old file is drained, go on with the new.
            match std::fs::metadata(&path) {
                Ok(m) if m.ino() != *ino => {
                    let f = File::open(&path)?;
                    let ino = f.metadata()?.ino();
                    self.file = Some((f, ino));
                    self.buf.clear();
                }
                _ => return Ok(()),
            }
        }
    }
}

/// Decodes whole frames from `data` into `out`; returns the bytes used.
/// Stops at garbage (a torn write at a crash) rather than guessing.
pub fn decode_all(data: &[u8], out: &mut Vec<Frame>) -> usize {
    let mut at = 0;
    while let Ok(Some((frame, used))) = decode(&data[at..]) {
        out.push(frame);
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
        let mut w = LogWriter::open(d.path(), 1 << 20).unwrap();
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
        let mut w = LogWriter::open(d.path(), 8192).unwrap();
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

    #[test]
    fn garbage_and_huge_lengths_stop_decoding() {
        let mut out = Vec::new();
        assert_eq!(decode_all(&[9u8; 40], &mut out), 0);
        let mut h = encode_header(Stream::Stdout, 0, 0).to_vec();
        h[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&h).is_err());
    }
}
