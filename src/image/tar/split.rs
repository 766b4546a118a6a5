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

use super::{CopyError, TarError};
use std::io::{self, Read, Write};

const SPLIT_MAGIC: &[u8; 8] = b"BRWSPL\0\x01";

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

    pub(super) fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
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

    pub(super) fn file(&mut self, path: &[u8], size: u64) -> io::Result<u64> {
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
