//! The last step: finding the command on the container's PATH, inside the
//! new root, and execve. Failures are classified as docker classifies them
//! (127 not found, 126 cannot be invoked), never left as a bare errno.

use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Why the command did not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ExecFailure {
    /// Exit status 127.
    #[error("{}", not_found(program, *searched_path))]
    NotFound {
        program: String,
        /// The name was looked up on PATH (no `/` in it).
        searched_path: bool,
    },
    /// Exit status 126: found, but execve refused it.
    #[error("{program}: {}", super::sys::errno_text(*errno))]
    NotExecutable { program: String, errno: i32 },
}

fn not_found(program: &str, searched: bool) -> String {
    if searched {
        format!("executable file not found in $PATH: {program}")
    } else {
        format!("{program}: no such file or directory")
    }
}

impl ExecFailure {
    pub fn exit_code(&self) -> i32 {
        match self {
            ExecFailure::NotFound { .. } => 127,
            ExecFailure::NotExecutable { .. } => 126,
        }
    }
}

/// Where `program` may be: itself when it has a `/`, else each PATH entry
/// (an empty entry is the working directory, as POSIX has it).
pub(crate) fn candidates(program: &str, path: &str) -> Vec<PathBuf> {
    if program.contains('/') {
        return vec![PathBuf::from(program)];
    }
    path.split(':')
        .map(|dir| {
            if dir.is_empty() {
                Path::new(".").join(program)
            } else {
                Path::new(dir).join(program)
            }
        })
        .collect()
}

/// Tries the candidates in order with `try_exec` (which returns only on
/// failure), as execvp does: missing ones are skipped, a permission error
/// is remembered, anything else stops the search.
pub(crate) fn search(
    program: &str,
    path: &str,
    mut try_exec: impl FnMut(&Path) -> Errno,
) -> ExecFailure {
    let mut denied = None;
    for candidate in candidates(program, path) {
        match try_exec(&candidate) {
            Errno::NOENT | Errno::NOTDIR | Errno::NODEV | Errno::STALE | Errno::TIMEDOUT => {}
            Errno::ACCESS => denied = Some(Errno::ACCESS),
            other => {
                return ExecFailure::NotExecutable {
                    program: program.into(),
                    errno: other.raw_os_error(),
                }
            }
        }
    }
    match denied {
        Some(e) => ExecFailure::NotExecutable {
            program: program.into(),
            errno: e.raw_os_error(),
        },
        None => ExecFailure::NotFound {
            program: program.into(),
            searched_path: !program.contains('/'),
        },
    }
}

/// The value of `key` in `KEY=VALUE` entries.
pub(crate) fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|e| {
        let (k, v) = e.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// Execs `argv` with `env`, looking argv[0] up on the env's PATH. Returns
/// only on failure.
pub(crate) fn exec(argv: &[String], env: &[String]) -> ExecFailure {
    let path = env_value(env, "PATH").unwrap_or(super::spec::DEFAULT_PATH);
    // Validated: no NUL bytes in argv or env.
    let c_args: Vec<CString> = argv
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let c_env: Vec<CString> = env
        .iter()
        .filter_map(|e| CString::new(e.as_bytes()).ok())
        .collect();
    let mut argv_p: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = c_env.iter().map(|e| e.as_ptr()).collect();
    env_p.push(std::ptr::null());
    search(&argv[0], path, |candidate| {
        let Ok(file) = CString::new(candidate.as_os_str().as_encoded_bytes()) else {
            return Errno::NOENT;
        };
        // SAFETY: file, argv_p and env_p are NUL-terminated arrays of
        // valid C strings that outlive the call; execve returns only on
        // failure.
        unsafe { libc::execve(file.as_ptr(), argv_p.as_ptr(), env_p.as_ptr()) };
        Errno::from_raw_os_error(super::sys::last_errno())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_a_slash_are_not_searched() {
        assert_eq!(candidates("./run", "/bin"), vec![PathBuf::from("./run")]);
        assert_eq!(
            candidates("sh", "/usr/bin::/bin"),
            vec![
                PathBuf::from("/usr/bin/sh"),
                PathBuf::from("./sh"),
                PathBuf::from("/bin/sh")
            ]
        );
    }

    #[test]
    fn missing_everywhere_is_not_found_127() {
        let f = search("nope", "/a:/b", |_| Errno::NOENT);
        assert_eq!(f.exit_code(), 127);
        assert_eq!(f.to_string(), "executable file not found in $PATH: nope");
        let f = search("/x/nope", "/a", |_| Errno::NOENT);
        assert_eq!(f.to_string(), "/x/nope: no such file or directory");
    }

    #[test]
    fn permission_denied_is_remembered_but_later_entries_are_tried() {
        let mut tried = Vec::new();
        let f = search("tool", "/a:/b", |p| {
            tried.push(p.to_path_buf());
            if p.starts_with("/a") {
                Errno::ACCESS
            } else {
                Errno::NOENT
            }
        });
        assert_eq!(tried.len(), 2);
        assert_eq!(f.exit_code(), 126);
        assert_eq!(f.to_string(), "tool: Permission denied");
    }

    #[test]
    fn exec_format_error_stops_the_search_with_126() {
        let mut n = 0;
        let f = search("tool", "/a:/b", |_| {
            n += 1;
            Errno::NOEXEC
        });
        assert_eq!((n, f.exit_code()), (1, 126));
    }

    #[test]
    fn last_env_entry_wins() {
        let env = vec!["PATH=/a".to_string(), "X=1".into(), "PATH=/b".into()];
        assert_eq!(env_value(&env, "PATH"), Some("/b"));
        assert_eq!(env_value(&env, "HOME"), None);
    }
}
