//! The tar parser: ustar, GNU and PAX headers, bounded on hostile input,
//! over a stream (whose bytes may be recorded into a split record) or a
//! file read in place.

use super::normalize;
use super::split::SplitWriter;
use super::{lossy, padding, CopyError, Entry, EntryKind, IndexEntry, Mtime, TarError};
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::FileExt;

/// GNU long names and PAX headers beyond these sizes are refused rather than
/// held in memory (PATH_MAX is 4096; xattr values are at most 64 KiB).
const MAX_LONG_NAME: u64 = 1 << 20;
const MAX_PAX: u64 = 16 << 20;

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
pub(super) struct Pax {
    pub(super) path: Option<Vec<u8>>,
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

fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(n) => &field[..n],
        None => field,
    }
}

/// Parses a numeric header field: octal text (with leading or trailing
/// spaces and NULs), or GNU base-256 when the top bit of the first byte is
/// set. `None` when it is neither.
pub(super) fn parse_number(field: &[u8]) -> Option<i64> {
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
pub(super) fn parse_pax_time(v: &[u8]) -> Option<Mtime> {
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

/// What is wrong with one record of a PAX header.
#[derive(Debug, thiserror::Error)]
pub(super) enum PaxError {
    #[error("a record without a length")]
    NoLength,
    #[error("bad record length {0:?}")]
    BadLength(String),
    #[error("record length {0} does not fit the header")]
    LengthMismatch(usize),
    #[error("a record without '='")]
    NoEquals,
    #[error("a key that is not UTF-8")]
    KeyNotUtf8,
    #[error("bad {what} {value:?}")]
    BadValue { what: &'static str, value: String },
}

/// Applies the records of one PAX header to `pax`. An empty value removes
/// an earlier override, as POSIX says.
pub(super) fn parse_pax(mut data: &[u8], pax: &mut Pax) -> Result<(), PaxError> {
    while !data.is_empty() {
        // Some writers pad the header's data with NULs.
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or(PaxError::NoLength)?;
        let len = parse_decimal(&data[..space])
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| PaxError::BadLength(lossy(&data[..space])))?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(PaxError::LengthMismatch(len));
        }
        let record = &data[space + 1..len - 1];
        data = &data[len..];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or(PaxError::NoEquals)?;
        let key = std::str::from_utf8(&record[..eq]).map_err(|_| PaxError::KeyNotUtf8)?;
        let value = &record[eq + 1..];
        let bad = |what: &'static str| PaxError::BadValue {
            what,
            value: lossy(value),
        };
        let number = |what: &'static str| parse_decimal(value).ok_or_else(|| bad(what));
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
            "mtime" => pax.mtime = Some(parse_pax_time(value).ok_or_else(|| bad("mtime"))?),
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
