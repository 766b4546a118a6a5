//! Where burrow keeps things: the XDG base directories, `storage.root`
//! expanded, and the private runtime directory (the only thing the
//! configuration creates).

use super::error::{invalid, ConfigError};
use super::probe::{unsafe_dir, unsafe_parent};
use super::schema::{error_at, Config};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What `load_with` reads from the process: environment, home, uid, and
/// where a private runtime directory goes when `XDG_RUNTIME_DIR` cannot be
/// used. Tests build one by hand, so they never touch the real environment.
#[derive(Debug, Clone)]
pub struct Env {
    pub(super) vars: HashMap<String, OsString>,
    pub(super) home: Option<PathBuf>,
    pub(super) uid: u32,
    pub(super) tmp: PathBuf,
}

impl Env {
    /// The real process: its environment, `$HOME` or the passwd entry, its
    /// effective uid, and `/tmp`.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
                .collect(),
            home: directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()),
            uid: rustix::process::geteuid().as_raw(),
            tmp: PathBuf::from("/tmp"),
        }
    }

    /// An empty environment for `uid` with the given home.
    pub fn new(uid: u32, home: Option<PathBuf>) -> Env {
        Env {
            vars: HashMap::new(),
            home,
            uid,
            tmp: PathBuf::from("/tmp"),
        }
    }

    /// Sets an environment variable.
    pub fn with_var(mut self, name: &str, value: impl Into<OsString>) -> Env {
        self.vars.insert(name.to_string(), value.into());
        self
    }

    /// Where the fallback runtime directory `burrow-<uid>` is made.
    pub fn with_tmp(mut self, tmp: impl Into<PathBuf>) -> Env {
        self.tmp = tmp.into();
        self
    }

    /// The user burrow runs as.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// A variable's value; an empty one counts as unset, as the XDG
    /// specification has it.
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .get(name)
            .map(OsString::as_os_str)
            .filter(|v| !v.is_empty())
    }

    fn home(&self) -> Result<&Path, ConfigError> {
        self.home
            .as_deref()
            .ok_or(ConfigError::NoHome { uid: self.uid })
    }
}

/// Resolved locations.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    /// The storage root: images, layers, containers.
    pub storage: PathBuf,
    /// Locks, pids, sockets; private to the user.
    pub runtime: PathBuf,
    /// Download scratch.
    pub cache: PathBuf,
    /// Things the user should hear once, such as the runtime directory
    /// falling back to `/tmp`; the CLI prints them.
    pub notes: Vec<String>,
}

/// Loads `config.toml` (if any) and resolves the paths.
pub fn load() -> Result<(Config, Paths), ConfigError> {
    load_with(&Env::from_process())
}

/// `load` for a given environment: reads `$BURROW_CONFIG` or
/// `$XDG_CONFIG_HOME/burrow/config.toml` (a missing default file means
/// defaults), resolves the directories and makes the runtime directory.
pub fn load_with(env: &Env) -> Result<(Config, Paths), ConfigError> {
    let mut notes = Vec::new();
    let explicit = env.var("BURROW_CONFIG").map(PathBuf::from);
    let config_file = match &explicit {
        Some(p) => p.clone(),
        None => xdg_dir(env, "XDG_CONFIG_HOME", ".config", &mut notes)?.join("burrow/config.toml"),
    };
    let (config, text) = match fs::read_to_string(&config_file) {
        Ok(text) => (Config::parse(&text, &config_file)?, text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match explicit {
            Some(p) => return Err(ConfigError::MissingExplicit(p)),
            None => (Config::default(), String::new()),
        },
        Err(source) => {
            return Err(ConfigError::Read {
                path: config_file,
                source,
            })
        }
    };

    let storage = match &config.storage.root {
        Some(raw) => expand_path(raw, env).map_err(|e| {
            let why = e.to_string();
            let fault = error_at(&text, &["storage", "root"], &why);
            invalid(&text, &config_file, fault, Some("storage.root".into()))
        })?,
        None => xdg_dir(env, "XDG_DATA_HOME", ".local/share", &mut notes)?.join("burrow/storage"),
    };
    let cache = xdg_dir(env, "XDG_CACHE_HOME", ".cache", &mut notes)?.join("burrow");
    let (runtime, note) = runtime_dir(env)?;
    notes.extend(note);

    Ok((
        config,
        Paths {
            config_file,
            storage,
            runtime,
            cache,
            notes,
        },
    ))
}

/// An XDG base directory: the variable when it is an absolute path, else
/// the default under home.
fn xdg_dir(
    env: &Env,
    var: &str,
    default: &str,
    notes: &mut Vec<String>,
) -> Result<PathBuf, ConfigError> {
    if let Some(v) = env.var(var) {
        if Path::new(v).is_absolute() {
            return Ok(PathBuf::from(v));
        }
        notes.push(format!(
            "{var}={} is not an absolute path; ignoring it as the XDG specification says",
            Path::new(v).display()
        ));
    }
    Ok(env.home()?.join(default))
}

/// Why `storage.root` does not expand to a path; shown at its line.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExpandError {
    #[error("the path is not valid UTF-8")]
    NotUtf8,
    #[error(transparent)]
    NoHome(ConfigError),
    #[error("{0:?}: only ~ (your home) is expanded, not ~user; write the full path")]
    OtherHome(String),
    #[error("{0:?}: '${{' without a closing '}}'")]
    Unclosed(String),
    #[error("{0:?}: '$' must start a variable name, as in $USER or ${{USER}}")]
    BadName(String),
    #[error("{path:?} uses ${name}, which is not set")]
    Unset { path: String, name: String },
    #[error("{0:?} must be an absolute path (after expanding ~ and $VARIABLES)")]
    Relative(String),
}

/// Expands a leading `~` and `$NAME` / `${NAME}`; the result must be
/// absolute.
pub(super) fn expand_path(raw: &Path, env: &Env) -> Result<PathBuf, ExpandError> {
    let Some(s) = raw.to_str() else {
        return Err(ExpandError::NotUtf8);
    };
    let mut out = OsString::new();
    let mut rest = s;
    if rest == "~" || rest.starts_with("~/") {
        out.push(env.home().map_err(ExpandError::NoHome)?);
        rest = &rest[1..];
    } else if rest.starts_with('~') {
        return Err(ExpandError::OtherHome(s.to_string()));
    }
    while let Some(i) = rest.find('$') {
        out.push(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            match braced.split_once('}') {
                Some((name, tail)) => (name, tail),
                None => return Err(ExpandError::Unclosed(s.to_string())),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            after.split_at(end)
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ExpandError::BadName(s.to_string()));
        }
        match env.var(name) {
            Some(v) => out.push(v),
            None => {
                return Err(ExpandError::Unset {
                    path: s.to_string(),
                    name: name.to_string(),
                })
            }
        }
        rest = tail;
    }
    out.push(rest);
    let path = PathBuf::from(out);
    if !path.is_absolute() {
        return Err(ExpandError::Relative(s.to_string()));
    }
    Ok(path)
}

/// `$XDG_RUNTIME_DIR/burrow`, or `<tmp>/burrow-<uid>` with a note saying
/// why when that variable is unset or unusable (after `su` or `sudo -u` it
/// is often missing or still names the other user's directory).
fn runtime_dir(env: &Env) -> Result<(PathBuf, Option<String>), ConfigError> {
    let why = match env.var("XDG_RUNTIME_DIR") {
        None => "XDG_RUNTIME_DIR is not set".to_string(),
        Some(v) => {
            let base = Path::new(v);
            match usable_runtime_base(base, env.uid) {
                Ok(()) => {
                    let dir = base.join("burrow");
                    ensure_private_dir(&dir, env.uid)?;
                    return Ok((dir, None));
                }
                Err(why) => format!("XDG_RUNTIME_DIR={} {why}", base.display()),
            }
        }
    };
    let dir = env.tmp.join(format!("burrow-{}", env.uid));
    if let Some((culprit, why)) = unsafe_parent(&dir, env.uid, None) {
        return Err(ConfigError::RuntimeDir {
            path: dir,
            why: format!(
                "sits in {}, which {why}: another user could swap burrow's locks and sockets; \
                 set XDG_RUNTIME_DIR to a private directory of yours",
                culprit.display()
            ),
        });
    }
    ensure_private_dir(&dir, env.uid)?;
    let note = format!("{why}; using {}", dir.display());
    Ok((dir, Some(note)))
}

/// Why a directory cannot serve as `XDG_RUNTIME_DIR`: each reads after
/// the directory's name ("XDG_RUNTIME_DIR=/run/user/1000 does not exist").
#[derive(Debug, thiserror::Error)]
pub enum RuntimeBaseError {
    #[error("is not an absolute path")]
    NotAbsolute,
    #[error("does not exist")]
    Missing,
    #[error("cannot be read ({0})")]
    Unreadable(io::Error),
    #[error("is not a directory")]
    NotADirectory,
    #[error("belongs to uid {owner}, not to you (uid {uid})")]
    NotYours { owner: u32, uid: u32 },
    #[error("is not writable by you")]
    NotWritable,
    /// It, or a directory above it, is open to other users.
    #[error("{why}")]
    Open { why: String },
    #[error("sits in {}, which {why}", .parent.display())]
    OpenParent { parent: PathBuf, why: String },
}

/// Why `base` cannot serve as `XDG_RUNTIME_DIR` for `uid`, if it cannot:
/// it must be an absolute directory of theirs that they can write.
pub fn usable_runtime_base(base: &Path, uid: u32) -> Result<(), RuntimeBaseError> {
    if !base.is_absolute() {
        return Err(RuntimeBaseError::NotAbsolute);
    }
    let md = match fs::metadata(base) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(RuntimeBaseError::Missing),
        Err(e) => return Err(RuntimeBaseError::Unreadable(e)),
    };
    if !md.is_dir() {
        return Err(RuntimeBaseError::NotADirectory);
    }
    if md.uid() != uid {
        return Err(RuntimeBaseError::NotYours {
            owner: md.uid(),
            uid,
        });
    }
    if md.mode() & 0o300 != 0o300 {
        return Err(RuntimeBaseError::NotWritable);
    }
    if let Some((culprit, why)) = unsafe_dir(base, &[], uid, None) {
        return Err(if culprit == base {
            RuntimeBaseError::Open { why }
        } else {
            RuntimeBaseError::OpenParent {
                parent: culprit,
                why,
            }
        });
    }
    Ok(())
}

/// Makes `path` a directory private to `uid`, or checks that the one there
/// is. In a shared `/tmp` another user could have made it first, as a
/// directory of theirs or a symlink, to read or swap burrow's locks and
/// sockets; since `/tmp` is sticky, an entry we own cannot be replaced by
/// anyone else after this check.
pub fn ensure_private_dir(path: &Path, uid: u32) -> Result<(), ConfigError> {
    let fail = |why: String| ConfigError::RuntimeDir {
        path: path.to_path_buf(),
        why,
    };
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(format!("cannot create it: {e}"))),
    }
    let md = fs::symlink_metadata(path).map_err(|e| fail(format!("cannot inspect it: {e}")))?;
    if md.file_type().is_symlink() {
        return Err(fail(
            "is a symbolic link, which someone may have planted to redirect burrow's locks \
             and sockets; remove it"
                .into(),
        ));
    }
    if !md.is_dir() {
        return Err(fail("exists and is not a directory; remove it".into()));
    }
    if md.uid() != uid {
        return Err(fail(format!(
            "belongs to uid {}, not to you (uid {uid}); someone else may have made it to \
             intercept burrow's locks and sockets: have it removed, or set XDG_RUNTIME_DIR to \
             a private directory of yours",
            md.uid()
        )));
    }
    let mode = md.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "has mode {mode:04o}, open to other users; remove it so burrow makes a private \
             one, or run `chmod 700 {}`",
            path.display()
        )));
    }
    Ok(())
}
