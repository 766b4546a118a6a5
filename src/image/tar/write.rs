//! A deterministic tar writer: ustar headers, PAX records where ustar
//! cannot hold a value, every member padded and the archive ended with
//! two zero blocks.

use super::{lossy, padding, EntryKind, TarError};
use std::io::{self, Read, Write};

const COPY_BUF: usize = 256 * 1024;

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

pub(super) fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
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
