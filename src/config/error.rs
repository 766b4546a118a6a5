//! What can go wrong with the configuration and the directories burrow
//! resolves from it, and how a fault in `config.toml` is shown: its line,
//! column and an excerpt with carets under it.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("BURROW_CONFIG points at {}, which does not exist", .0.display())]
    MissingExplicit(PathBuf),

    /// A syntax error, an unknown key, a wrong type or a bad value, at a
    /// place in the file. Displays as one line plus the line of the file
    /// with a caret under the fault.
    #[error("{}:{line}:{column}: {}{message}\n{excerpt}", .path.display(), key_prefix(.key))]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        /// `storage.root`, `registries.search[1]`: the key at fault, when
        /// the fault is in a value or a key rather than in the syntax.
        key: Option<String>,
        message: String,
        excerpt: String,
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

/// An error at a byte span of the file, with its line, column and excerpt.
pub(super) fn invalid(
    text: &str,
    path: &Path,
    span: Option<std::ops::Range<usize>>,
    key: Option<String>,
    message: &str,
) -> ConfigError {
    let span = span.unwrap_or(0..0);
    let (line, column, excerpt) = locate(text, span);
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        key,
        message: plain_message(message),
        excerpt,
    }
}

/// 1-based line and column (in characters) of a byte span, and the line
/// with carets under the span.
fn locate(text: &str, span: std::ops::Range<usize>) -> (usize, usize, String) {
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(span.start);
    let end = floor(span.end.max(start));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text[line_start..line_end].trim_end_matches('\r');
    let before = &text[line_start..start];
    let column = before.chars().count() + 1;
    let width = text[start..end.min(line_end)].chars().count().max(1);
    let pad: String = before
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let gutter = " ".repeat(line_no.to_string().len());
    let excerpt = format!("{line_no} | {line}\n{gutter} | {pad}{}", "^".repeat(width));
    (line_no, column, excerpt)
}

/// serde names Rust types (`expected struct StorageConfig`); a user
/// writes tables.
fn plain_message(message: &str) -> String {
    let message = message.trim();
    match message.find("expected struct ") {
        Some(i) => format!("{}expected a table", &message[..i]),
        None => message.to_string(),
    }
}
