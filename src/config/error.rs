//! What can go wrong with the configuration and the directories burrow
//! resolves from it. A fault in `config.toml` is shown as the `toml` crate
//! renders it (line, column, the line with carets under the fault), with
//! the file and the key at fault before it.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("BURROW_CONFIG points at {}, which does not exist", .0.display())]
    MissingExplicit(PathBuf),

    /// A syntax error, an unknown key, a wrong type or a bad value, at a
    /// place in the file: the file and the key, then `toml`'s rendering
    /// of the fault (its line, column and carets under it).
    #[error("{}: {}{}", .path.display(), key_prefix(.key), .toml.to_string().trim_end())]
    Invalid {
        path: PathBuf,
        /// 1-based line and column (in characters) of the fault.
        line: usize,
        column: usize,
        /// `storage.root`, `registries.search[1]`: the key at fault, when
        /// the fault is in a value or a key rather than in the syntax.
        key: Option<String>,
        /// The fault, with the file's text for its rendering.
        toml: Box<toml::de::Error>,
    },

    #[error("cannot find your home directory: HOME is not set and uid {uid} has no passwd entry")]
    NoHome { uid: u32 },

    #[error("runtime directory {}: {why}", .path.display())]
    RuntimeDir { path: PathBuf, why: String },

    #[error(
        "storage root {} is on {fs}, a network filesystem that cannot hold overlay upper \
         directories or lock reliably{}; set storage.root in {} to a local directory, e.g. \
         `root = \"/var/tmp/$USER/burrow\"` under [storage] (or one under $XDG_RUNTIME_DIR, \
         which is emptied at logout), or set storage.allow_network_fs = true to use it anyway",
        .path.display(), probed_suffix(.path, .probed), .config_file.display()
    )]
    NetworkFs {
        fs: &'static str,
        /// The storage root.
        path: PathBuf,
        /// The nearest existing directory at or above it, which was probed.
        probed: PathBuf,
        config_file: PathBuf,
    },

    #[error("cannot find the filesystem of {} (statfs): {source}", .path.display())]
    Statfs { path: PathBuf, source: io::Error },

    /// A storage root another user could have prepared or can still
    /// change: its layers would run as your containers' root.
    #[error(
        "storage root {} is not safe: {} {why}, so another user could plant or swap images          and layers there; {}",
        .path.display(), .culprit.display(), unsafe_fix(.culprit, .path, .config_file)
    )]
    UnsafeStorage {
        path: PathBuf,
        /// The directory at fault: the root, one of its own directories,
        /// or a parent.
        culprit: PathBuf,
        why: String,
        config_file: PathBuf,
    },
}

fn unsafe_fix(culprit: &Path, root: &Path, config_file: &Path) -> String {
    let moved = format!(
        "or set storage.root in {} to a directory only you can change (burrow makes it, \
         mode 0700)",
        config_file.display()
    );
    if culprit.starts_with(root) {
        format!(
            "if it is yours, `chmod go-w {}`; if not, have it removed, {moved}",
            culprit.display()
        )
    } else {
        moved
    }
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default()
}

fn probed_suffix(path: &Path, probed: &Path) -> String {
    if path == probed {
        String::new()
    } else {
        format!(
            " (found at {}, its nearest existing parent)",
            probed.display()
        )
    }
}

/// A fault `toml` found in the file `path` whose text is `text`.
pub(super) fn invalid(
    text: &str,
    path: &Path,
    mut toml: toml::de::Error,
    key: Option<String>,
) -> ConfigError {
    toml.set_input(Some(text));
    let start = toml.span().map_or(0, |s| s.start).min(text.len());
    let mut start_char = start;
    while !text.is_char_boundary(start_char) {
        start_char -= 1;
    }
    let before = &text[..start_char];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        key,
        toml: Box::new(toml),
    }
}

impl ConfigError {
    /// The error on one line (`FILE:LINE:COLUMN: KEY: MESSAGE` for a fault
    /// in the file), for a report that gives each check a line.
    pub fn one_line(&self) -> String {
        match self {
            ConfigError::Invalid {
                path,
                line,
                column,
                key,
                toml,
            } => format!(
                "{}:{line}:{column}: {}{}",
                path.display(),
                key_prefix(key),
                toml.message()
            ),
            other => other.to_string(),
        }
    }

    /// What is wrong, without the place: for `Invalid`, `toml`'s message.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Invalid { toml, .. } => toml.message().to_string(),
            other => other.to_string(),
        }
    }
}
