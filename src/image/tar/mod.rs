//! burrow's tar codec: a streaming reader for ustar, GNU and PAX archives
//! that can record every byte except regular-file payloads (the split
//! record, from which the exact stream is rebuilt), an indexer for tar files
//! read in place, and a deterministic writer. It touches no filesystem and
//! must never panic or allocate without bound on hostile input.
//!
//! The codec is burrow's own rather than the `tar` crate's because `save`
//! must give back a layer byte for byte, and `tar` (0.4) hides the bytes it
//! passes over: the padding after each member and the blocks after the
//! end-of-archive marker are read into a scratch buffer and dropped
//! (`Entries::skip`), so the split record cannot hold them. It also fails a
//! stream whose last member lacks its padding ("unexpected EOF during
//! skip"), which layers umoci wrote carry and docker accepts; reads GNU
//! long names and PAX headers whole into memory, however large; ends the
//! archive silently at a lone zero block; and says what went wrong without
//! the member or the byte offset. Its `Builder` would change the bytes of
//! the layers burrow writes, and so their digests. The tests use `tar` as
//! an independent reader and writer.
//!
//! `read` parses (a stream, recorded or not, or a file read in place),
//! `split` writes and reads the split record, `write` writes archives.

mod read;
mod split;
#[cfg(test)]
mod tests;
mod write;

pub use read::{index, TarReader};
pub use split::{SplitReader, SplitRecord, SplitWriter};
pub use write::{NewEntry, TarWriter};

use std::io;

/// Size of a tar block: headers, padding and end markers are whole blocks.
pub const BLOCK: u64 = 512;

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

/// Why copying a member's data out failed: the tar side, or the writer.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Tar(#[from] TarError),
    #[error("{0}")]
    Write(io::Error),
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

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}
