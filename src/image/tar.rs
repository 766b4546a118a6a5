//! burrow's tar codec: a streaming reader for ustar, GNU and PAX archives
//! that can record every byte except regular-file payloads (the split
//! record, from which the exact stream is rebuilt), an indexer for tar files
//! read in place, and a deterministic writer. It touches no filesystem and
//! must never panic or allocate without bound on hostile input.
//!
//! # The split record
//!
//! A layer is stored unpacked; to give back its original bytes (`burrow
//! save` must reproduce the diff_id), the reader records everything that is
//! not a regular file's payload. The record is a byte stream:
//!
//! ```text
//! magic    "BRWSPL\0\x01"                       (8 bytes, version 1)
//! records  tag, then fields; numbers are unsigned LEB128 varints
//!   'R' len bytes[len]                  raw stream bytes, copied as they are
//!   'F' size plen path[plen]            `size` bytes of the layer file at
//!                                       `path` (relative, no symlinks);
//!                                       F records are numbered from 0
//!   'B' index size bytes[size]          the payload of F record `index`,
//!                                       whose file a later entry of the
//!                                       same layer replaced
//!   'E' total                           end; `total` is the stream length
//! ```
//!
//! B records follow the F record they complete, so a reader that meets an F
//! record whose file is gone must look ahead; `SplitReader` hands records
//! out in order and leaves that choice to its caller.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::FileExt;

/// Size of a tar block: headers, padding and end markers are whole blocks.
pub const BLOCK: u64 = 512;

/// GNU long names and PAX headers beyond these sizes are refused rather than
/// held in memory (PATH_MAX is 4096; xattr values are at most 64 KiB).
const MAX_LONG_NAME: u64 = 1 << 20;
const MAX_PAX: u64 = 16 << 20;

const SPLIT_MAGIC: &[u8; 8] = b"BRWSPL\0\x01";
const COPY_BUF: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("reading the tar stream at byte {offset}: {source}")]
    Read { offset: u64, source: io::Error },
    #[error("truncated tar: entry {entry} ends at byte {end} but the stream ended at {got}")]
    Truncated { entry: String, end: u64, got: u64 },
    #[error("truncated tar: the header at byte {offset} is cut off at byte {got}")]
    TruncatedHeader { offset: u64, got: u64 },
    #[error(
        "bad tar header at byte {offset}: checksum field says {stored:?}, the header sums to {computed} \
         (not a tar stream, or a corrupt one)"
    )]
    Checksum {
        offset: u64,
        stored: String,
        computed: u64,
    },
    #[error("bad tar header at byte {offset} (entry {entry}): {field} field {text:?} is not a valid number")]
    Number {
        offset: u64,
        entry: String,
        field: &'static str,
        text: String,
    },
    #[error("tar entry {entry} (header at byte {offset}): {detail}")]
    Entry {
        entry: String,
        offset: u64,
        detail: String,
    },
    #[error("tar entry {entry} (header at byte {offset}): {kind} entries are not supported")]
    Unsupported {
        entry: String,
        offset: u64,
        kind: String,
    },
    #[error(
        "bad tar archive: the zero block at byte {offset} is followed by data, not by a second \
         zero block"
    )]
    LoneZeroBlock { offset: u64 },
    #[error("writing tar entry {entry}: {source}")]
    Write { entry: String, source: io::Error },
    #[error("writing tar entry {entry}: expected {expected} bytes of data, the reader {got}")]
    DataLength {
        entry: String,
        expected: u64,
        got: String,
    },
    #[error("tar entry name {entry:?} cannot be written: {detail}")]
    BadName { entry: String, detail: &'static str },
    #[error("writing the split record: {0}")]
    SplitWrite(io::Error),
    #[error("reading the split record: {0}")]
    SplitRead(io::Error),
    #[error("corrupt split record: {0}")]
    BadSplit(String),
}

/// What a member is. GNU sparse files and other types are refused at
/// parse time, so every entry has one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EntryKind {
    Regular,
    Directory,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

impl EntryKind {
    fn from_flag(flag: u8, name: &[u8]) -> Option<EntryKind> {
        Some(match flag {
            // An old-style regular entry whose name ends in '/' is a directory.
            b'\0' if name.ends_with(b"/") => EntryKind::Directory,
            b'0' | b'\0' | b'7' => EntryKind::Regular,
            b'1' => EntryKind::Hardlink,
            b'2' => EntryKind::Symlink,
            b'3' => EntryKind::CharDevice,
            b'4' => EntryKind::BlockDevice,
            b'5' => EntryKind::Directory,
            b'6' => EntryKind::Fifo,
            _ => return None,
        })
    }

    fn flag(self) -> u8 {
        match self {
            EntryKind::Regular => b'0',
            EntryKind::Hardlink => b'1',
            EntryKind::Symlink => b'2',
            EntryKind::CharDevice => b'3',
            EntryKind::BlockDevice => b'4',
            EntryKind::Directory => b'5',
            EntryKind::Fifo => b'6',
        }
    }

    /// Types whose size field is not the length of data that follows
    /// (ustar says it must be 0; Go's reader, which wrote most layers,
    /// ignores it for these).
    fn header_only(self) -> bool {
        !matches!(self, EntryKind::Regular)
    }
}

/// A modification time: seconds since the epoch and nanoseconds (PAX
/// records carry fractions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mtime {
    pub secs: i64,
    pub nanos: u32,
}

/// One member of a tar stream, with GNU long names and PAX records applied.
#[derive(Debug, Clone)]
pub struct Entry {
    /// As stored: not normalized, maybe with `./`, `/` or `..`.
    pub path: Vec<u8>,
    /// Link target for symlinks and hardlinks, as stored.
    pub link: Vec<u8>,
    pub kind: EntryKind,
    /// Permission bits incl. setuid, setgid and sticky (`& 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: Mtime,
    /// Bytes of data following the header (0 for all but regular files).
    pub size: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// From PAX `SCHILY.xattr.NAME` records; values are binary.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Offset of the first header of this member (its PAX or long-name
    /// header, if any).
    pub header_offset: u64,
    /// Offset of the member's data.
    pub data_offset: u64,
}

impl Entry {
    /// The path for messages.
    pub fn display_path(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Where one member of a tar file lies, for reading it in place.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Normalized: no leading `./` or `/`, no trailing `/`.
    pub path: String,
    pub kind: EntryKind,
    /// Byte offset of the member's data in the file.
    pub offset: u64,
    pub size: u64,
    /// Symlink targets as stored; hardlink targets normalized like `path`
    /// (they name another member).
    pub link: Option<String>,
}

/// Normalizes an archive path: drops leading `/`, `.` components and empty
/// components (so no leading `./`, no trailing `/`). `..` is kept; callers
/// that create files must resolve it themselves.
pub fn normalize(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for comp in path.split(|&b| b == b'/') {
        if comp.is_empty() || comp == b"." {
            continue;
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&String::from_utf8_lossy(comp));
    }
    out
}

/// Lists the members of a seekable tar file without reading their data:
/// headers are read with positional reads and data is stepped over.
pub fn index(file: &File) -> Result<Vec<IndexEntry>, TarError> {
    let len = file
        .metadata()
        .map_err(|source| TarError::Read { offset: 0, source })?
        .len();
    let mut parser = Parser::new(At { file, pos: 0, len });
    let mut out = Vec::new();
    while let Some(e) = parser.next_entry()? {
        let link = match e.kind {
            EntryKind::Hardlink => Some(normalize(&e.link)),
            EntryKind::Symlink => Some(String::from_utf8_lossy(&e.link).into_owned()),
            _ => None,
        };
        out.push(IndexEntry {
            path: normalize(&e.path),
            kind: e.kind,
            offset: e.data_offset,
            size: e.size,
            link,
        });
    }
    Ok(out)
}

/// Where the parser's bytes come from: a stream (which may be recorded) or
/// a file read in place.
trait Input {
    /// Fills `buf` as far as the input allows; fewer bytes only at its end.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TarError>;
    /// Passes over up to `n` bytes; returns how many there were.
    fn skip(&mut self, n: u64) -> Result<u64, TarError>;
    fn pos(&self) -> u64;
    /// Called once after the end-of-archive blocks.
    fn drain(&mut self) -> Result<(), TarError>;
}

/// A file read with `pread`: the file's own offset is never moved.
struct At<'f> {
    file: &'f File,
    pos: u64,
    len: u64,
}

impl Input for At<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], self.pos) {
                Ok(0) => break,
                Ok(n) => {
                    done += n;
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TarError::Read {
                        offset: self.pos,
                        source,
                    })
                }
            }
        }
        Ok(done)
    }
    fn skip(&mut self, n: u64) -> Result<u64, TarError> {
        let step = n.min(self.len.saturating_sub(self.pos));
        self.pos += step;
        Ok(step)
    }
    fn pos(&self) -> u64 {
        self.pos
    }
    fn drain(&mut self) -> Result<(), TarError> {
        Ok(())
    }
}

/// A stream, every byte of which (except file payloads copied out with
/// `copy_data`) goes to the split record when there is one.
struct Stream<'w, R> {
    r: R,
    pos: u64,
    split: Option<SplitWriter<'w>>,
}

impl<R: BufRead> Stream<'_, R> {
    fn record(&mut self, bytes: &[u8]) -> Result<(), TarError> {
        match &mut self.split {
            Some(s) => s.raw(bytes).map_err(TarError::SplitWrite),
            None => Ok(()),
        }
    }
}

/// `fill_buf`, retried on EINTR, with the offset in the error.
fn fill_buf<R: BufRead>(r: &mut R, pos: u64) -> Result<&[u8], TarError> {
    loop {
        match r.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(TarError::Read {
                    offset: pos,
                    source,
                })
            }
        }
    }
    // Data already buffered is returned without another read.
    r.fill_buf().map_err(|source| TarError::Read {
        offset: pos,
        source,
    })
}

impl<R: BufRead> Input for Stream<'_, R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut done = 0;
        while done < buf.len() {
            let avail = fill_buf(&mut self.r, self.pos)?;
            if avail.is_empty() {
                break;
            }
            let n = avail.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&avail[..n]);
            self.r.consume(n);
            done += n;
        }
        self.pos += done as u64;
        self.record(&buf[..done])?;
        Ok(done)
    }

    fn skip(&mut self, n: u64) -> Result<u64, TarError> {
        let mut left = n;
        while left > 0 {
            let avail = fill_buf(&mut self.r, self.pos)?;
            if avail.is_empty() {
                break;
            }
            let take = (avail.len() as u64).min(left) as usize;
            if let Some(s) = &mut self.split {
                s.raw(&avail[..take]).map_err(TarError::SplitWrite)?;
            }
            self.r.consume(take);
            self.pos += take as u64;
            left -= take as u64;
        }
        Ok(n - left)
    }

    fn pos(&self) -> u64 {
        self.pos
    }

    fn drain(&mut self) -> Result<(), TarError> {
        // Whatever follows the end blocks (record padding, junk) is part of
        // the stream's digest and of the split.
        self.skip(u64::MAX)?;
        Ok(())
    }
}

/// PAX overrides collected from 'x' headers for the next member.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<Mtime>,
    xattrs: Vec<(String, Vec<u8>)>,
    sparse: bool,
}

/// The member currently being read: what is left of its data.
struct Current {
    name: Vec<u8>,
    remaining: u64,
    pad: u64,
    end: u64,
}

struct Parser<I> {
    input: I,
    current: Option<Current>,
    done: bool,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(n) => &field[..n],
        None => field,
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// Parses a numeric header field: octal text (with leading or trailing
/// spaces and NULs), or GNU base-256 when the top bit of the first byte is
/// set. `None` when it is neither.
fn parse_number(field: &[u8]) -> Option<i64> {
    if let Some(&first) = field.first() {
        if first & 0x80 != 0 {
            let inv = if first & 0x40 != 0 { 0xff } else { 0 };
            let mut x: u64 = 0;
            for (i, &c) in field.iter().enumerate() {
                let mut c = c ^ inv;
                if i == 0 {
                    c &= 0x7f;
                }
                if x >> 56 != 0 {
                    return None;
                }
                x = (x << 8) | u64::from(c);
            }
            if x >> 63 != 0 {
                return None;
            }
            let x = x as i64;
            return Some(if inv == 0xff { !x } else { x });
        }
    }
    let text = trim(field);
    if text.is_empty() {
        return Some(0);
    }
    let mut x: i64 = 0;
    for &c in text {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        x = x.checked_mul(8)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(x)
}

fn trim(field: &[u8]) -> &[u8] {
    let is_pad = |b: &u8| *b == b' ' || *b == 0;
    let start = field.iter().position(|b| !is_pad(b)).unwrap_or(field.len());
    let end = field
        .iter()
        .rposition(|b| !is_pad(b))
        .map_or(start, |e| e + 1);
    &field[start..end]
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A PAX time: `[-]secs[.fraction]`.
fn parse_pax_time(v: &[u8]) -> Option<Mtime> {
    let (neg, v) = match v.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &b""[..]),
    };
    let secs = i64::try_from(parse_decimal(int)?).ok()?;
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut nanos: u32 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |d| u32::from(d - b'0'));
    }
    Some(if !neg {
        Mtime { secs, nanos }
    } else if nanos == 0 {
        Mtime { secs: -secs, nanos }
    } else {
        Mtime {
            secs: -secs - 1,
            nanos: 1_000_000_000 - nanos,
        }
    })
}

impl<I: Input> Parser<I> {
    fn new(input: I) -> Self {
        Parser {
            input,
            current: None,
            done: false,
        }
    }

    fn truncated(cur: &Current, got: u64) -> TarError {
        TarError::Truncated {
            entry: lossy(&cur.name),
            end: cur.end,
            got,
        }
    }

    /// Passes over what is left of the current member's data and padding.
    /// Data cut short is an error; padding cut short is the end of the
    /// stream, as Go's reader (docker's, podman's) takes it: some tools
    /// write a last member without its padding or the end blocks.
    fn finish_current(&mut self) -> Result<(), TarError> {
        if let Some(cur) = self.current.take() {
            if self.input.skip(cur.remaining)? < cur.remaining {
                return Err(Self::truncated(&cur, self.input.pos()));
            }
            if self.input.skip(cur.pad)? < cur.pad {
                // The input is at its end: the next header read finds
                // nothing and ends the archive.
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads one header block. `None` at the clean end of the input.
    fn read_block(&mut self, block: &mut [u8; 512]) -> Result<Option<()>, TarError> {
        let offset = self.input.pos();
        match self.input.fill(block)? {
            0 => Ok(None),
            512 => Ok(Some(())),
            n => Err(TarError::TruncatedHeader {
                offset,
                got: offset + n as u64,
            }),
        }
    }

    /// Reads the data of an extended header (long name or PAX) and its
    /// padding.
    fn read_extension(
        &mut self,
        name: &[u8],
        offset: u64,
        size: u64,
        max: u64,
    ) -> Result<Vec<u8>, TarError> {
        if size > max {
            return Err(TarError::Entry {
                entry: lossy(name),
                offset,
                detail: format!("extended header of {size} bytes is larger than {max}"),
            });
        }
        let start = self.input.pos();
        let mut data = vec![0u8; size as usize];
        let n = self.input.fill(&mut data)?;
        let pad = padding(size);
        let cur = Current {
            name: name.to_vec(),
            remaining: 0,
            pad: 0,
            end: start + size + pad,
        };
        if (n as u64) < size || self.input.skip(pad)? < pad {
            return Err(Self::truncated(&cur, self.input.pos()));
        }
        Ok(data)
    }

    fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        if self.done {
            return Ok(None);
        }
        self.finish_current()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax = Pax::default();
        let mut pax_seen = false;
        // Extended headers read for this entry: bounded in sum, not only
        // one by one, so a run of them cannot pile up in memory.
        let mut ext_budget = MAX_PAX;
        let mut first_offset: Option<u64> = None;
        let mut block = [0u8; 512];
        loop {
            let offset = self.input.pos();
            if self.read_block(&mut block)?.is_none() {
                if let Some(first) = first_offset {
                    return Err(TarError::Entry {
                        entry: "(extended header)".into(),
                        offset: first,
                        detail: "the stream ends before the entry it describes".into(),
                    });
                }
                // No end blocks: accepted, as Go's reader (which most layer
                // tooling uses) accepts it.
                self.done = true;
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                // A single zero block at the very end is accepted too.
                match self.read_block(&mut block)? {
                    Some(()) if block.iter().all(|&b| b == 0) => {}
                    Some(()) => return Err(TarError::LoneZeroBlock { offset }),
                    None => {}
                }
                if let Some(first) = first_offset {
                    return Err(TarError::Entry {
                        entry: "(extended header)".into(),
                        offset: first,
                        detail: "the archive ends before the entry it describes".into(),
                    });
                }
                self.input.drain()?;
                self.done = true;
                return Ok(None);
            }
            first_offset.get_or_insert(offset);
            verify_checksum(&block, offset)?;

            let gnu = &block[257..265] == b"ustar  \0";
            let ustar = &block[257..263] == b"ustar\0";
            let mut name = cstr(&block[0..100]).to_vec();
            // The prefix field exists in POSIX ustar only; GNU keeps times there.
            if ustar && block[345] != 0 {
                let mut full = cstr(&block[345..500]).to_vec();
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
            let flag = block[156];
            let size = header_number(&block, 124..136, "size", offset, &name)?;
            if matches!(flag, b'L' | b'K' | b'x' | b'g') {
                if size > ext_budget {
                    return Err(TarError::Entry {
                        entry: lossy(&name),
                        offset,
                        detail: format!(
                            "extended headers of more than {MAX_PAX} bytes for one entry"
                        ),
                    });
                }
                ext_budget -= size;
            }
            match flag {
                b'L' => {
                    let mut v = self.read_extension(&name, offset, size, MAX_LONG_NAME)?;
                    v.truncate(cstr(&v).len());
                    long_name = Some(v);
                    continue;
                }
                b'K' => {
                    let mut v = self.read_extension(&name, offset, size, MAX_LONG_NAME)?;
                    v.truncate(cstr(&v).len());
                    long_link = Some(v);
                    continue;
                }
                b'x' => {
                    let data = self.read_extension(&name, offset, size, MAX_PAX)?;
                    pax_seen = true;
                    parse_pax(&data, &mut pax).map_err(|detail| TarError::Entry {
                        entry: lossy(&name),
                        offset,
                        detail: format!("bad PAX header: {detail}"),
                    })?;
                    continue;
                }
                b'g' => {
                    // Global PAX headers set defaults no layer tool relies
                    // on; they are validated and otherwise ignored.
                    let data = self.read_extension(&name, offset, size, MAX_PAX)?;
                    parse_pax(&data, &mut Pax::default()).map_err(|detail| TarError::Entry {
                        entry: lossy(&name),
                        offset,
                        detail: format!("bad global PAX header: {detail}"),
                    })?;
                    if long_name.is_none() && long_link.is_none() && !pax_seen {
                        first_offset = None;
                    }
                    continue;
                }
                _ => {}
            }
            let path = pax.path.take().or(long_name.take()).unwrap_or(name);
            let kind = match EntryKind::from_flag(flag, &path) {
                Some(k) => k,
                None => {
                    let kind = match flag {
                        b'S' => "GNU sparse file".to_string(),
                        b'D' => "GNU dump directory".to_string(),
                        b'M' => "GNU multi-volume continuation".to_string(),
                        b'V' => "GNU volume label".to_string(),
                        f if f.is_ascii_graphic() => format!("type '{}'", f as char),
                        f => format!("type byte {f}"),
                    };
                    return Err(TarError::Unsupported {
                        entry: lossy(&path),
                        offset,
                        kind,
                    });
                }
            };
            if pax.sparse {
                return Err(TarError::Unsupported {
                    entry: lossy(&path),
                    offset,
                    kind: "GNU sparse file (PAX format)".into(),
                });
            }
            let link = pax
                .link
                .take()
                .or(long_link.take())
                .unwrap_or_else(|| cstr(&block[157..257]).to_vec());
            let num = |range, field| header_number(&block, range, field, offset, &path);
            let mode = num(100..108, "mode")? as u32 & 0o7777;
            let uid = match pax.uid {
                Some(v) => v,
                None => num(108..116, "uid")?,
            };
            let gid = match pax.gid {
                Some(v) => v,
                None => num(116..124, "gid")?,
            };
            let mtime = match pax.mtime {
                Some(m) => m,
                None => Mtime {
                    secs: parse_number(&block[136..148]).ok_or_else(|| TarError::Number {
                        offset,
                        entry: lossy(&path),
                        field: "mtime",
                        text: lossy(trim(&block[136..148])),
                    })?,
                    nanos: 0,
                },
            };
            let (dev_major, dev_minor) = if ustar || gnu {
                let major = num(329..337, "devmajor")?;
                let minor = num(337..345, "devminor")?;
                (
                    u32::try_from(major).unwrap_or(u32::MAX),
                    u32::try_from(minor).unwrap_or(u32::MAX),
                )
            } else {
                (0, 0)
            };
            let size = if kind.header_only() {
                0
            } else {
                pax.size.unwrap_or(size)
            };
            let data_offset = self.input.pos();
            let pad = padding(size);
            self.current = Some(Current {
                name: path.clone(),
                remaining: size,
                pad,
                end: data_offset.saturating_add(size).saturating_add(pad),
            });
            return Ok(Some(Entry {
                path,
                link,
                kind,
                mode,
                uid,
                gid,
                mtime,
                size,
                dev_major,
                dev_minor,
                xattrs: std::mem::take(&mut pax.xattrs),
                header_offset: first_offset.unwrap_or(offset),
                data_offset,
            }));
        }
    }
}

/// A header's non-negative numeric field.
fn header_number(
    block: &[u8; 512],
    range: std::ops::Range<usize>,
    field: &'static str,
    offset: u64,
    entry: &[u8],
) -> Result<u64, TarError> {
    parse_number(&block[range.clone()])
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| TarError::Number {
            offset,
            entry: lossy(entry),
            field,
            text: lossy(trim(&block[range])),
        })
}

fn verify_checksum(block: &[u8; 512], offset: u64) -> Result<(), TarError> {
    let field = &block[148..156];
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    match parse_number(field) {
        Some(stored) if stored == unsigned as i64 || stored == signed => Ok(()),
        _ => Err(TarError::Checksum {
            offset,
            stored: lossy(trim(field)),
            computed: unsigned,
        }),
    }
}

/// Applies the records of one PAX header to `pax`. An empty value removes
/// an earlier override, as POSIX says.
fn parse_pax(mut data: &[u8], pax: &mut Pax) -> Result<(), String> {
    while !data.is_empty() {
        // Some writers pad the header's data with NULs.
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("a record without a length")?;
        let len = parse_decimal(&data[..space])
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| format!("bad record length {:?}", lossy(&data[..space])))?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(format!("record length {len} does not fit the header"));
        }
        let record = &data[space + 1..len - 1];
        data = &data[len..];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("a record without '='")?;
        let key = std::str::from_utf8(&record[..eq]).map_err(|_| "a key that is not UTF-8")?;
        let value = &record[eq + 1..];
        let number = |what: &str| {
            parse_decimal(value).ok_or_else(|| format!("bad {what} {:?}", lossy(value)))
        };
        let set = |v: Vec<u8>| if v.is_empty() { None } else { Some(v) };
        match key {
            "path" => pax.path = set(value.to_vec()),
            "linkpath" => pax.link = set(value.to_vec()),
            "size" if value.is_empty() => pax.size = None,
            "size" => pax.size = Some(number("size")?),
            "uid" if value.is_empty() => pax.uid = None,
            "uid" => pax.uid = Some(number("uid")?),
            "gid" if value.is_empty() => pax.gid = None,
            "gid" => pax.gid = Some(number("gid")?),
            "mtime" if value.is_empty() => pax.mtime = None,
            "mtime" => {
                pax.mtime = Some(
                    parse_pax_time(value).ok_or_else(|| format!("bad mtime {:?}", lossy(value)))?,
                )
            }
            _ if key.starts_with("GNU.sparse.") => pax.sparse = true,
            _ => {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    pax.xattrs.retain(|(n, _)| n != name);
                    pax.xattrs.push((name.to_string(), value.to_vec()));
                }
            }
        }
    }
    Ok(())
}

/// Reads a tar stream entry by entry; optionally records the split.
///
/// After `next_entry` returns an entry, its data can be read through the
/// `Read` impl, copied out with `copy_data`, or left: the next call to
/// `next_entry` passes over what is left. After `next_entry` returns
/// `None`, everything up to the end of the stream has been read.
pub struct TarReader<'w, R> {
    p: Parser<Stream<'w, R>>,
}

/// Why copying a member's data out failed: the tar side, or the writer.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Tar(#[from] TarError),
    #[error("{0}")]
    Write(io::Error),
}

impl<R: BufRead> TarReader<'static, R> {
    pub fn new(r: R) -> Self {
        TarReader {
            p: Parser::new(Stream {
                r,
                pos: 0,
                split: None,
            }),
        }
    }
}

impl<'w, R: BufRead> TarReader<'w, R> {
    /// A reader that records the split of everything it reads into `split`.
    pub fn with_split(r: R, split: SplitWriter<'w>) -> Self {
        TarReader {
            p: Parser::new(Stream {
                r,
                pos: 0,
                split: Some(split),
            }),
        }
    }

    pub fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        self.p.next_entry()
    }

    /// Bytes of the stream read so far.
    pub fn position(&self) -> u64 {
        self.p.input.pos
    }

    /// Copies the current entry's remaining data to `out`. In the split
    /// record the data is replaced by a marker naming `split_path` (where
    /// the caller stores it); the marker's number is returned (`None` when
    /// there is no split or no data).
    pub fn copy_data(
        &mut self,
        split_path: &[u8],
        out: &mut dyn Write,
    ) -> Result<Option<u64>, CopyError> {
        let Some(cur) = self.p.current.as_mut() else {
            return Ok(None);
        };
        let input = &mut self.p.input;
        let mut ordinal = None;
        if cur.remaining > 0 {
            if let Some(s) = &mut input.split {
                ordinal = Some(
                    s.file(split_path, cur.remaining)
                        .map_err(TarError::SplitWrite)?,
                );
            }
        }
        while cur.remaining > 0 {
            let avail = fill_buf(&mut input.r, input.pos)?;
            if avail.is_empty() {
                return Err(Parser::<Stream<R>>::truncated(cur, input.pos).into());
            }
            let n = (avail.len() as u64).min(cur.remaining) as usize;
            out.write_all(&avail[..n]).map_err(CopyError::Write)?;
            input.r.consume(n);
            input.pos += n as u64;
            cur.remaining -= n as u64;
        }
        self.p.finish_current()?;
        Ok(ordinal)
    }

    /// The split recorder, for the caller's B records.
    pub fn split_mut(&mut self) -> Option<&mut SplitWriter<'w>> {
        self.p.input.split.as_mut()
    }

    /// The underlying reader and the split recorder. Call after
    /// `next_entry` returned `None`, when the stream is read to its end.
    pub fn into_parts(self) -> (R, Option<SplitWriter<'w>>) {
        (self.p.input.r, self.p.input.split)
    }
}

impl<R: BufRead> Read for TarReader<'_, R> {
    /// Reads the current entry's data (recorded raw in the split).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(cur) = self.p.current.as_mut() else {
            return Ok(0);
        };
        let want = (buf.len() as u64).min(cur.remaining) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self
            .p
            .input
            .fill(&mut buf[..want])
            .map_err(io::Error::other)?;
        if n == 0 {
            let err = Parser::<Stream<R>>::truncated(cur, self.p.input.pos);
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, err));
        }
        cur.remaining -= n as u64;
        Ok(n)
    }
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Writes a split record (format in the module documentation).
pub struct SplitWriter<'w> {
    out: &'w mut dyn Write,
    pending: Vec<u8>,
    files: u64,
}

impl<'w> SplitWriter<'w> {
    pub fn new(out: &'w mut dyn Write) -> io::Result<Self> {
        out.write_all(SPLIT_MAGIC)?;
        Ok(SplitWriter {
            out,
            pending: Vec::with_capacity(64 * 1024),
            files: 0,
        })
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= 1 << 20 {
            self.flush_pending()?;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut head = Vec::with_capacity(11);
        head.push(b'R');
        write_varint(&mut head, self.pending.len() as u64);
        self.out.write_all(&head)?;
        self.out.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }

    fn file(&mut self, path: &[u8], size: u64) -> io::Result<u64> {
        self.flush_pending()?;
        let mut head = Vec::with_capacity(path.len() + 21);
        head.push(b'F');
        write_varint(&mut head, size);
        write_varint(&mut head, path.len() as u64);
        head.extend_from_slice(path);
        self.out.write_all(&head)?;
        self.files += 1;
        Ok(self.files - 1)
    }

    /// Records the payload of F record `index`, whose file is about to be
    /// replaced; `data` must give exactly `size` bytes.
    pub fn clobbered(&mut self, index: u64, size: u64, data: &mut dyn Read) -> io::Result<()> {
        self.flush_pending()?;
        let mut head = Vec::with_capacity(21);
        head.push(b'B');
        write_varint(&mut head, index);
        write_varint(&mut head, size);
        self.out.write_all(&head)?;
        let copied = io::copy(&mut data.take(size), self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("file ended after {copied} of {size} bytes"),
            ));
        }
        Ok(())
    }

    /// Ends the record; `total` is the length of the whole tar stream.
    pub fn finish(mut self, total: u64) -> io::Result<()> {
        self.flush_pending()?;
        let mut tail = vec![b'E'];
        write_varint(&mut tail, total);
        self.out.write_all(&tail)?;
        self.out.flush()
    }
}

/// One record of a split, as `SplitReader` hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitRecord {
    /// `len` raw bytes follow: read them with `copy_payload`.
    Raw(u64),
    /// The payload of a regular file, stored at `path`.
    File {
        index: u64,
        path: Vec<u8>,
        size: u64,
    },
    /// The payload of F record `index` follows (`copy_payload`).
    Clobbered { index: u64, size: u64 },
    /// The end; the rebuilt stream must be `total` bytes long.
    End { total: u64 },
}

/// Reads a split record, one record at a time.
pub struct SplitReader<R> {
    r: R,
    payload: u64,
    files: u64,
}

impl<R: Read> SplitReader<R> {
    pub fn new(mut r: R) -> Result<Self, TarError> {
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic).map_err(TarError::SplitRead)?;
        if &magic != SPLIT_MAGIC {
            return Err(TarError::BadSplit(
                "it does not start with burrow's split magic (version 1)".into(),
            ));
        }
        Ok(SplitReader {
            r,
            payload: 0,
            files: 0,
        })
    }

    fn byte(&mut self) -> Result<u8, TarError> {
        let mut b = [0u8; 1];
        self.r.read_exact(&mut b).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                TarError::BadSplit("it ends without an end record".into())
            }
            _ => TarError::SplitRead(e),
        })?;
        Ok(b[0])
    }

    fn varint(&mut self) -> Result<u64, TarError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(TarError::BadSplit("a number is too long".into()))
    }

    /// The next record. Unread payload of the previous one is skipped.
    pub fn next_record(&mut self) -> Result<SplitRecord, TarError> {
        if self.payload > 0 {
            let left = self.payload;
            self.payload = 0;
            let skipped = io::copy(&mut (&mut self.r).take(left), &mut io::sink())
                .map_err(TarError::SplitRead)?;
            if skipped < left {
                return Err(TarError::BadSplit("a record is cut off".into()));
            }
        }
        match self.byte()? {
            b'R' => {
                self.payload = self.varint()?;
                Ok(SplitRecord::Raw(self.payload))
            }
            b'F' => {
                let size = self.varint()?;
                let plen = self.varint()?;
                if plen > 1 << 20 {
                    return Err(TarError::BadSplit(format!("a path of {plen} bytes")));
                }
                let mut path = vec![0u8; plen as usize];
                self.r.read_exact(&mut path).map_err(TarError::SplitRead)?;
                self.files += 1;
                Ok(SplitRecord::File {
                    index: self.files - 1,
                    path,
                    size,
                })
            }
            b'B' => {
                let index = self.varint()?;
                self.payload = self.varint()?;
                Ok(SplitRecord::Clobbered {
                    index,
                    size: self.payload,
                })
            }
            b'E' => Ok(SplitRecord::End {
                total: self.varint()?,
            }),
            other => Err(TarError::BadSplit(format!("unknown record tag {other}"))),
        }
    }

    /// Copies the payload of the current Raw or Clobbered record to `out`.
    pub fn copy_payload(&mut self, out: &mut dyn Write) -> Result<u64, CopyError> {
        let mut buf = [0u8; 64 * 1024];
        let mut done = 0;
        while self.payload > 0 {
            let want = (buf.len() as u64).min(self.payload) as usize;
            let n = match self.r.read(&mut buf[..want]) {
                Ok(0) => return Err(TarError::BadSplit("a record is cut off".into()).into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(TarError::SplitRead(e).into()),
            };
            out.write_all(&buf[..n]).map_err(CopyError::Write)?;
            self.payload -= n as u64;
            done += n as u64;
        }
        Ok(done)
    }
}

/// What to write for one member: the general form behind `append_dir`,
/// `append_file` and `append_symlink`.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub path: &'a [u8],
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    pub link: &'a [u8],
    pub dev_major: u32,
    pub dev_minor: u32,
    pub xattrs: &'a [(&'a str, &'a [u8])],
}

impl<'a> NewEntry<'a> {
    /// An entry owned by 0:0 with no link, device or xattrs.
    pub fn new(path: &'a [u8], kind: EntryKind, mode: u32, mtime: u64) -> Self {
        NewEntry {
            path,
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            size: 0,
            link: b"",
            dev_major: 0,
            dev_minor: 0,
            xattrs: &[],
        }
    }
}

/// Writes a tar stream: ustar headers, with PAX records for what ustar
/// cannot hold (long names and link targets, sizes and times past the octal
/// fields, xattrs). Output depends only on the calls made: owners are 0:0
/// unless given, no user or group names, no access times.
pub struct TarWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

/// Largest value an octal field of `width` bytes holds (one byte is NUL).
fn octal_max(width: usize) -> u64 {
    (1u64 << (3 * (width - 1))) - 1
}

fn put_octal(field: &mut [u8], v: u64) {
    let width = field.len() - 1;
    let text = format!("{v:0width$o}");
    field[..width].copy_from_slice(text.as_bytes());
    field[width] = 0;
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter {
            out,
            buf: Vec::new(),
        }
    }

    pub fn append_dir(&mut self, path: &str, mode: u32, mtime: u64) -> Result<(), TarError> {
        let e = NewEntry::new(path.as_bytes(), EntryKind::Directory, mode, mtime);
        self.append(&e, &mut io::empty())
    }

    pub fn append_file(
        &mut self,
        path: &str,
        mode: u32,
        mtime: u64,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), TarError> {
        let mut e = NewEntry::new(path.as_bytes(), EntryKind::Regular, mode, mtime);
        e.size = size;
        self.append(&e, data)
    }

    pub fn append_symlink(&mut self, path: &str, target: &str, mtime: u64) -> Result<(), TarError> {
        let mut e = NewEntry::new(path.as_bytes(), EntryKind::Symlink, 0o777, mtime);
        e.link = target.as_bytes();
        self.append(&e, &mut io::empty())
    }

    pub fn append_hardlink(
        &mut self,
        path: &str,
        target: &str,
        mtime: u64,
    ) -> Result<(), TarError> {
        let mut e = NewEntry::new(path.as_bytes(), EntryKind::Hardlink, 0o644, mtime);
        e.link = target.as_bytes();
        self.append(&e, &mut io::empty())
    }

    /// Writes one member; for regular files, exactly `e.size` bytes are read
    /// from `data`, and a reader with fewer or more is an error.
    pub fn append(&mut self, e: &NewEntry, data: &mut dyn Read) -> Result<(), TarError> {
        let name = || lossy(e.path);
        if e.path.is_empty() {
            return Err(TarError::BadName {
                entry: name(),
                detail: "the name is empty",
            });
        }
        if e.path.contains(&0) || e.link.contains(&0) {
            return Err(TarError::BadName {
                entry: name(),
                detail: "it contains a NUL byte",
            });
        }
        let mut path = e.path.to_vec();
        if e.kind == EntryKind::Directory && !path.ends_with(b"/") {
            path.push(b'/');
        }
        let size = if e.kind == EntryKind::Regular {
            e.size
        } else {
            0
        };
        let mut pax = Vec::new();
        if path.len() > 100 {
            pax_record(&mut pax, "path", &path);
        }
        if e.link.len() > 100 {
            pax_record(&mut pax, "linkpath", e.link);
        }
        if size > octal_max(12) {
            pax_record(&mut pax, "size", size.to_string().as_bytes());
        }
        if e.mtime > octal_max(12) {
            pax_record(&mut pax, "mtime", e.mtime.to_string().as_bytes());
        }
        if e.uid > octal_max(8) {
            pax_record(&mut pax, "uid", e.uid.to_string().as_bytes());
        }
        if e.gid > octal_max(8) {
            pax_record(&mut pax, "gid", e.gid.to_string().as_bytes());
        }
        for (k, v) in e.xattrs {
            pax_record(&mut pax, &format!("SCHILY.xattr.{k}"), v);
        }
        let clamp = |v: u64, width: usize| if v > octal_max(width) { 0 } else { v };
        let write = |out: &mut W, bytes: &[u8]| {
            out.write_all(bytes).map_err(|source| TarError::Write {
                entry: name(),
                source,
            })
        };
        if !pax.is_empty() {
            let mut h = NewEntry::new(b"././@PaxHeader", EntryKind::Regular, 0o644, 0);
            h.mtime = clamp(e.mtime, 12);
            let head = header(&h, b'x', pax.len() as u64, b"././@PaxHeader", b"");
            write(&mut self.out, &head)?;
            pax.resize(pax.len() + padding(pax.len() as u64) as usize, 0);
            write(&mut self.out, &pax)?;
        }
        let mut short = e.clone();
        short.mtime = clamp(e.mtime, 12);
        short.uid = clamp(e.uid, 8);
        short.gid = clamp(e.gid, 8);
        let head = header(
            &short,
            e.kind.flag(),
            clamp(size, 12),
            &path[..path.len().min(100)],
            &e.link[..e.link.len().min(100)],
        );
        write(&mut self.out, &head)?;
        if size > 0 {
            if self.buf.is_empty() {
                self.buf = vec![0u8; COPY_BUF];
            }
            let mut left = size;
            while left > 0 {
                let want = (self.buf.len() as u64).min(left) as usize;
                let n = match data.read(&mut self.buf[..want]) {
                    Ok(0) => {
                        return Err(TarError::DataLength {
                            entry: name(),
                            expected: size,
                            got: format!("ended after {}", size - left),
                        })
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(TarError::Write {
                            entry: name(),
                            source,
                        })
                    }
                };
                write(&mut self.out, &self.buf[..n])?;
                left -= n as u64;
            }
            write(&mut self.out, &[0u8; 512][..padding(size) as usize])?;
        }
        if e.kind == EntryKind::Regular {
            let mut probe = [0u8; 1];
            loop {
                match data.read(&mut probe) {
                    Ok(0) => break,
                    Ok(_) => {
                        return Err(TarError::DataLength {
                            entry: name(),
                            expected: size,
                            got: "has more".into(),
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        return Err(TarError::Write {
                            entry: name(),
                            source,
                        })
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the end-of-archive blocks and returns the writer.
    pub fn finish(mut self) -> Result<W, TarError> {
        self.out
            .write_all(&[0u8; 1024])
            .and_then(|()| self.out.flush())
            .map_err(|source| TarError::Write {
                entry: "(end of archive)".into(),
                source,
            })?;
        Ok(self.out)
    }
}

/// A ustar header block for `e`, with the given type flag, size and
/// (already shortened) name and link fields.
fn header(e: &NewEntry, flag: u8, size: u64, name: &[u8], link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    put_octal(&mut h[100..108], u64::from(e.mode & 0o7777));
    put_octal(&mut h[108..116], e.uid);
    put_octal(&mut h[116..124], e.gid);
    put_octal(&mut h[124..136], size);
    put_octal(&mut h[136..148], e.mtime);
    h[156] = flag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    put_octal(&mut h[329..337], u64::from(e.dev_major).min(octal_max(8)));
    put_octal(&mut h[337..345], u64::from(e.dev_minor).min(octal_max(8)));
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::BufReader;
    use std::os::unix::fs::symlink;
    use std::path::Path;
    use std::process::Command;

    fn read_all(data: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>, TarError> {
        let mut r = TarReader::new(data);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            let mut body = Vec::new();
            // Data errors come through `Read` as io errors wrapping ours.
            r.read_to_end(&mut body).map_err(|e| {
                *e.into_inner()
                    .and_then(|b| b.downcast::<TarError>().ok())
                    .expect("a TarError inside")
            })?;
            out.push((e, body));
        }
        Ok(out)
    }

    fn find<'a>(entries: &'a [(Entry, Vec<u8>)], path: &str) -> &'a (Entry, Vec<u8>) {
        entries
            .iter()
            .find(|(e, _)| normalize(&e.path) == path)
            .unwrap_or_else(|| panic!("no entry {path}"))
    }

    /// Runs GNU tar in `dir` with `args`, writing the archive to stdout.
    fn gnu_tar(dir: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("tar")
            .arg("-C")
            .arg(dir)
            .args(["--sort=name", "-cf", "-"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tar failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn long_name() -> String {
        format!("{}/{}", "d".repeat(60), "f".repeat(90))
    }

    /// A tree with the kinds of members layers hold.
    fn fixture_tree(root: &Path) {
        let long = root.join(long_name());
        std::fs::create_dir_all(long.parent().unwrap()).unwrap();
        std::fs::write(&long, b"long named").unwrap();
        std::fs::create_dir(root.join("dir")).unwrap();
        std::fs::write(root.join("dir/file"), b"hello\n").unwrap();
        std::fs::write(root.join("dir/empty"), b"").unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(root.join("dir/big"), &big).unwrap();
        std::fs::hard_link(root.join("dir/file"), root.join("dir/hard")).unwrap();
        symlink("../dir/file", root.join("dir/sym")).unwrap();
        symlink("t".repeat(150), root.join("longlink")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from(0o640),
            0,
        )
        .unwrap();
    }

    #[test]
    fn writer_output_reads_back_and_gnu_tar_extracts_it() {
        let big: Vec<u8> = (0..700_001u32).map(|i| (i % 253) as u8).collect();
        let long = long_name();
        let long_target = "x".repeat(120);
        let mut w = TarWriter::new(Vec::new());
        w.append_dir("d", 0o755, 1_600_000_000).unwrap();
        w.append_file("d/small", 0o4755, 1_600_000_001, 5, &mut &b"hello"[..])
            .unwrap();
        w.append_file("d/block", 0o644, 7, 512, &mut &[9u8; 512][..])
            .unwrap();
        w.append_file("d/empty", 0o600, 7, 0, &mut io::empty())
            .unwrap();
        w.append_file("d/big", 0o644, 7, big.len() as u64, &mut &big[..])
            .unwrap();
        w.append_file(&long, 0o644, 7, 3, &mut &b"abc"[..]).unwrap();
        w.append_symlink("d/sym", &long_target, 8).unwrap();
        w.append_hardlink("d/hard", "d/small", 9).unwrap();
        let xattrs: &[(&str, &[u8])] = &[("user.bin", b"a\0b\nc=")];
        let mut fifo = NewEntry::new(b"d/fifo", EntryKind::Fifo, 0o600, 10);
        fifo.uid = 1000;
        fifo.gid = 3_000_000;
        fifo.xattrs = xattrs;
        w.append(&fifo, &mut io::empty()).unwrap();
        let tar = w.finish().unwrap();

        let entries = read_all(&tar).unwrap();
        assert_eq!(entries.len(), 9);
        assert_eq!(find(&entries, "d").0.kind, EntryKind::Directory);
        let (small, body) = find(&entries, "d/small");
        assert_eq!(
            (small.mode, small.mtime.secs, &body[..]),
            (0o4755, 1_600_000_001, &b"hello"[..])
        );
        assert_eq!(find(&entries, "d/block").1, vec![9u8; 512]);
        assert!(find(&entries, "d/empty").1.is_empty());
        assert_eq!(find(&entries, "d/big").1, big);
        assert_eq!(find(&entries, &long).1, b"abc");
        let (sym, _) = find(&entries, "d/sym");
        assert_eq!(
            (sym.kind, &sym.link[..]),
            (EntryKind::Symlink, long_target.as_bytes())
        );
        let (hard, _) = find(&entries, "d/hard");
        assert_eq!(
            (hard.kind, &hard.link[..]),
            (EntryKind::Hardlink, &b"d/small"[..])
        );
        let (f, _) = find(&entries, "d/fifo");
        assert_eq!((f.kind, f.uid, f.gid), (EntryKind::Fifo, 1000, 3_000_000));
        assert_eq!(
            f.xattrs,
            vec![("user.bin".to_string(), b"a\0b\nc=".to_vec())]
        );

        // Same bytes for the same calls: the writer is deterministic.
        let again = {
            let mut w = TarWriter::new(Vec::new());
            w.append_dir("d", 0o755, 1_600_000_000).unwrap();
            w.finish().unwrap()
        };
        assert_eq!(&again[..512], &tar[..512]);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.tar"), &tar).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let st = Command::new("tar")
            .args(["--no-same-owner", "-xf"])
            .arg(dir.path().join("a.tar"))
            .arg("-C")
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(std::fs::read(out.join("d/big")).unwrap(), big);
        assert_eq!(std::fs::read(out.join(&long)).unwrap(), b"abc");
        assert_eq!(
            std::fs::read_link(out.join("d/sym")).unwrap(),
            Path::new(&long_target)
        );
        assert_eq!(std::fs::read(out.join("d/hard")).unwrap(), b"hello");
    }

    #[test]
    fn gnu_format_archives_parse_with_long_names_links_and_base256() {
        let dir = tempfile::tempdir().unwrap();
        fixture_tree(dir.path());
        // uid 3000000 does not fit the octal field: GNU tar writes base-256.
        let tar = gnu_tar(
            dir.path(),
            &["--format=gnu", "--owner=x:3000000", "--mtime=@-86400", "."],
        );
        let entries = read_all(&tar).unwrap();
        let (e, body) = find(&entries, &long_name());
        assert_eq!(body, b"long named");
        assert_eq!(e.uid, 3_000_000);
        assert_eq!(e.mtime.secs, -86400);
        let (hard, _) = find(&entries, "dir/hard");
        assert_eq!(hard.kind, EntryKind::Hardlink);
        assert_eq!(normalize(&hard.link), "dir/file");
        assert_eq!(find(&entries, "dir/file").1, b"hello\n");
        let (sym, _) = find(&entries, "longlink");
        assert_eq!(sym.link, "t".repeat(150).into_bytes());
        assert_eq!(find(&entries, "dir/sym").0.link, b"../dir/file");
        assert_eq!(find(&entries, "fifo").0.kind, EntryKind::Fifo);
        assert_eq!(find(&entries, "fifo").0.mode, 0o640);
        assert_eq!(find(&entries, "dir/big").1.len(), 300_000);
    }

    #[test]
    fn pax_and_ustar_archives_parse_with_xattrs_and_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        fixture_tree(dir.path());
        let value: &[u8] = b"bin\0ary\nvalue with = and 17 spaces";
        rustix::fs::setxattr(
            dir.path().join("dir/file"),
            "user.burrow.test",
            value,
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let tar = gnu_tar(dir.path(), &["--format=posix", "--xattrs", "."]);
        let entries = read_all(&tar).unwrap();
        let (file, body) = find(&entries, "dir/file");
        assert_eq!(body, b"hello\n");
        assert!(file
            .xattrs
            .iter()
            .any(|(n, v)| n == "user.burrow.test" && v == value));
        assert_eq!(find(&entries, &long_name()).1, b"long named");
        assert_eq!(
            find(&entries, "longlink").0.link,
            "t".repeat(150).into_bytes()
        );
        // POSIX tar stores sub-second times.
        let m = std::fs::metadata(dir.path().join("dir/big")).unwrap();
        use std::os::unix::fs::MetadataExt;
        let (e, _) = find(&entries, "dir/big");
        assert_eq!(
            (e.mtime.secs, e.mtime.nanos),
            (m.mtime(), m.mtime_nsec() as u32)
        );

        // ustar splits names up to 255 bytes into prefix and name.
        let tar = gnu_tar(dir.path(), &["--format=ustar", "dir", &long_name()]);
        let entries = read_all(&tar).unwrap();
        assert_eq!(find(&entries, &long_name()).1, b"long named");
    }

    #[test]
    fn split_record_rebuilds_the_exact_stream() {
        let dir = tempfile::tempdir().unwrap();
        fixture_tree(dir.path());
        let mut tar = gnu_tar(dir.path(), &["--format=posix", "."]);
        tar.extend_from_slice(b"trailing junk after the record padding");

        let mut record = Vec::new();
        let mut payloads: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut clobbered_one = false;
        {
            let split = SplitWriter::new(&mut record).unwrap();
            let mut r = TarReader::with_split(BufReader::with_capacity(1000, &tar[..]), split);
            while let Some(e) = r.next_entry().unwrap() {
                if e.kind != EntryKind::Regular {
                    continue;
                }
                let mut body = Vec::new();
                let index = r.copy_data(&e.path, &mut body).unwrap();
                if let (Some(index), false) = (index, clobbered_one) {
                    // As if a later entry replaced this file: its payload
                    // moves into the record.
                    r.split_mut()
                        .unwrap()
                        .clobbered(index, body.len() as u64, &mut &body[..])
                        .unwrap();
                    clobbered_one = true;
                    continue;
                }
                payloads.insert(e.path.clone(), body);
            }
            assert_eq!(r.position(), tar.len() as u64);
            let (_, split) = r.into_parts();
            split.unwrap().finish(tar.len() as u64).unwrap();
        }
        assert!(clobbered_one);
        assert!(
            record.len() < tar.len() / 4,
            "the record holds no file payloads"
        );

        let mut rebuilt = Vec::new();
        let mut sr = SplitReader::new(&record[..]).unwrap();
        let mut saved: HashMap<u64, Vec<u8>> = HashMap::new();
        let mut pending: Vec<(usize, u64)> = Vec::new();
        loop {
            match sr.next_record().unwrap() {
                SplitRecord::Raw(_) => {
                    sr.copy_payload(&mut rebuilt).unwrap();
                }
                SplitRecord::File { index, path, size } => match payloads.get(&path) {
                    Some(body) => {
                        assert_eq!(body.len() as u64, size);
                        rebuilt.extend_from_slice(body);
                    }
                    None => pending.push((rebuilt.len(), index)),
                },
                SplitRecord::Clobbered { index, .. } => {
                    let mut body = Vec::new();
                    sr.copy_payload(&mut body).unwrap();
                    saved.insert(index, body);
                }
                SplitRecord::End { total } => {
                    assert_eq!(pending.len(), 1);
                    let (at, index) = pending[0];
                    let body = &saved[&index];
                    rebuilt.splice(at..at, body.iter().copied());
                    assert_eq!(total, rebuilt.len() as u64);
                    break;
                }
            }
        }
        assert!(rebuilt == tar, "rebuilt stream differs");
    }

    #[test]
    fn truncated_streams_error_with_the_entry_and_offsets() {
        let big = vec![7u8; 5000];
        let mut w = TarWriter::new(Vec::new());
        w.append_file("first", 0o644, 0, 3, &mut &b"abc"[..])
            .unwrap();
        w.append_file("victim", 0o644, 0, 5000, &mut &big[..])
            .unwrap();
        let tar = w.finish().unwrap();
        // Header of victim at 1024, data from 1536, padded end at 1536+5120.
        let cut = &tar[..3000];
        let err = read_all(cut).unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated tar: entry victim ends at byte 6656 but the stream ended at 3000"
        );
        let err = read_all(&tar[..1300]).unwrap_err();
        assert!(
            matches!(
                err,
                TarError::TruncatedHeader {
                    offset: 1024,
                    got: 1300
                }
            ),
            "{err}"
        );
        // Cut inside a PAX header's data.
        let mut w = TarWriter::new(Vec::new());
        w.append_file(&"n".repeat(200), 0o644, 0, 0, &mut io::empty())
            .unwrap();
        let tar = w.finish().unwrap();
        assert!(matches!(
            read_all(&tar[..600]).unwrap_err(),
            TarError::Truncated { .. }
        ));
        // Ending cleanly after a member, without end blocks, is accepted.
        let mut w = TarWriter::new(Vec::new());
        w.append_file("a", 0o644, 0, 3, &mut &b"abc"[..]).unwrap();
        let tar = w.finish().unwrap();
        assert_eq!(read_all(&tar[..1024]).unwrap().len(), 1);
        // So is ending right after its data, without its padding, or
        // inside the padding (Go's reader takes both as the end)...
        for cut in [515, 700] {
            let entries = read_all(&tar[..cut]).unwrap();
            assert_eq!(entries.len(), 1, "cut at {cut}");
            assert_eq!(entries[0].1, b"abc", "cut at {cut}");
        }
        // ...but not a stream cut inside the data.
        assert!(matches!(
            read_all(&tar[..514]).unwrap_err(),
            TarError::Truncated {
                end: 1024,
                got: 514,
                ..
            }
        ));
    }

    #[test]
    fn bad_checksum_and_lone_zero_block_are_errors() {
        let mut w = TarWriter::new(Vec::new());
        w.append_file("a", 0o644, 0, 3, &mut &b"abc"[..]).unwrap();
        w.append_file("b", 0o644, 0, 3, &mut &b"abc"[..]).unwrap();
        let tar = w.finish().unwrap();
        let mut bad = tar.clone();
        bad[1024] = b'c';
        let err = read_all(&bad).unwrap_err();
        assert!(
            matches!(err, TarError::Checksum { offset: 1024, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("checksum"));
        let mut lone = tar[..1024].to_vec();
        lone.extend_from_slice(&[0u8; 512]);
        lone.extend_from_slice(&tar[1024..]);
        assert!(matches!(
            read_all(&lone).unwrap_err(),
            TarError::LoneZeroBlock { offset: 1024 }
        ));
        assert!(read_all(b"not a tar file at all").is_err());
    }

    /// Rewrites the type flag of the header at `at` and fixes its checksum.
    fn set_flag(tar: &mut [u8], at: usize, flag: u8) {
        let h = &mut tar[at..at + 512];
        h[156] = flag;
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    #[test]
    fn sparse_and_unknown_types_are_refused_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let f = File::create(dir.path().join("holes")).unwrap();
        f.write_all_at(b"end", 8 << 20).unwrap();
        for format in ["--format=gnu", "--format=posix"] {
            let tar = gnu_tar(dir.path(), &[format, "--sparse", "holes"]);
            let err = read_all(&tar).unwrap_err();
            assert!(
                matches!(&err, TarError::Unsupported { entry, .. } if entry.ends_with("holes")),
                "{err}"
            );
            assert!(err.to_string().contains("sparse"), "{err}");
        }
        let mut w = TarWriter::new(Vec::new());
        w.append_file("odd", 0o644, 0, 0, &mut io::empty()).unwrap();
        let mut tar = w.finish().unwrap();
        set_flag(&mut tar, 0, b'Z');
        let err = read_all(&tar).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tar entry odd (header at byte 0): type 'Z' entries are not supported"
        );
    }

    #[test]
    fn index_lists_members_and_their_data_offsets() {
        let dir = tempfile::tempdir().unwrap();
        fixture_tree(dir.path());
        let tar = gnu_tar(dir.path(), &["--format=gnu", "."]);
        let path = dir.path().join("a.tar");
        std::fs::write(&path, &tar).unwrap();
        let file = File::open(&path).unwrap();
        let idx = index(&file).unwrap();
        let get = |p: &str| idx.iter().find(|e| e.path == p).unwrap();
        assert!(idx
            .iter()
            .all(|e| !e.path.starts_with('.') && !e.path.ends_with('/')));
        for (name, want) in [
            ("dir/file", &b"hello\n"[..]),
            (&long_name()[..], b"long named"),
        ] {
            let e = get(name);
            let mut buf = vec![0u8; e.size as usize];
            file.read_exact_at(&mut buf, e.offset).unwrap();
            assert_eq!(buf, want);
        }
        let big = get("dir/big");
        assert_eq!(big.size, 300_000);
        assert_eq!(get("dir/hard").link.as_deref(), Some("dir/file"));
        assert_eq!(get("dir").kind, EntryKind::Directory);

        let cut = dir.path().join("cut.tar");
        std::fs::write(&cut, &tar[..(big.offset + 100) as usize]).unwrap();
        let err = index(&File::open(&cut).unwrap()).unwrap_err();
        assert!(
            matches!(&err, TarError::Truncated { entry, .. } if entry.ends_with("dir/big")),
            "{err}"
        );
    }

    #[test]
    fn numbers_parse_in_octal_and_base256() {
        assert_eq!(parse_number(b" 0000755\0"), Some(0o755));
        assert_eq!(parse_number(b"\0\0\0\0"), Some(0));
        assert_eq!(parse_number(b"12 34"), None);
        assert_eq!(
            parse_number(&[0x80, 0, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]),
            Some(3_000_000)
        );
        assert_eq!(parse_number(&[0xff; 8]), Some(-1));
        assert_eq!(
            parse_number(&[0x80, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(
            parse_pax_time(b"12.5"),
            Some(Mtime {
                secs: 12,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            parse_pax_time(b"-1.25"),
            Some(Mtime {
                secs: -2,
                nanos: 750_000_000
            })
        );
        assert_eq!(parse_pax_time(b"1x"), None);
    }

    #[test]
    fn writer_refuses_data_of_the_wrong_length() {
        let mut w = TarWriter::new(Vec::new());
        let err = w
            .append_file("short", 0o644, 0, 10, &mut &b"abc"[..])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "writing tar entry short: expected 10 bytes of data, the reader ended after 3"
        );
        let err = w
            .append_file("long", 0o644, 0, 2, &mut &b"abc"[..])
            .unwrap_err();
        assert!(matches!(err, TarError::DataLength { .. }));
        assert!(w.append_dir("bad\0name", 0o755, 0).is_err());
    }

    #[test]
    fn pax_records_size_their_own_length() {
        for vlen in [0, 1, 4, 5, 90, 91, 92, 993, 994, 995, 9990] {
            let mut out = Vec::new();
            pax_record(&mut out, "path", &vec![b'a'; vlen]);
            let mut pax = Pax::default();
            parse_pax(&out, &mut pax).unwrap();
            assert_eq!(pax.path.map(|p| p.len()).unwrap_or(0), vlen);
        }
    }
}
