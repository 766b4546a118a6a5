//! Safe layer unpacking. (Skeleton: being written.)

use super::Digest;
use std::io::{Read, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct UnpackReport {
    /// sha256 of the uncompressed tar stream, read to its end.
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
    /// One line per thing skipped or changed (device nodes, squashed owners).
    pub notes: Vec<String>,
    /// How many entries had an owner outside the id map (squashed to 0:0).
    pub squashed: u64,
}

/// Unpacks the uncompressed tar stream `tar` into the empty directory
/// `dest`, and writes to `split` the record from which `repack_layer`
/// rebuilds the identical tar stream.
pub fn unpack_layer(
    _tar: &mut dyn Read,
    _dest: &Path,
    _split: &mut dyn Write,
) -> Result<UnpackReport, UnpackError> {
    todo!()
}

/// Rebuilds a layer's original tar stream from its unpacked directory and
/// its split record.
pub fn repack_layer(
    _dir: &Path,
    _split: &mut dyn Read,
    _out: &mut dyn Write,
) -> Result<(), UnpackError> {
    todo!()
}
