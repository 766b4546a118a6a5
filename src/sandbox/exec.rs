//! The last step: finding the command on the container's PATH, inside the
//! new root, and execve. Failures are classified as docker classifies them
//! (127 not found, 126 cannot be invoked), never left as a bare errno.

use rustix::fd::{AsRawFd, FromRawFd, OwnedFd};
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

/// A sealed in-memory copy of the running burrow binary, or `None` when
/// nothing in a container could change the binary anyway.
///
/// A container that makes burrow exec a script starting `#!/proc/self/exe`
/// (or an ELF whose interpreter is that path) runs with the burrow binary
/// as its own /proc/self/exe, inside the container, dumpable and under the
/// container's credentials: it can keep that file open and, once burrow is
/// not busy, write to it, and the user runs that code next, outside any
/// container. Every burrow process that starts or enters a container
/// therefore runs from a sealed memfd copy (`seal_self`): that is what
/// /proc/self/exe names in all of them and their children, writes to it
/// fail, and the user's file is not reachable from it.
///
/// The copy is needed only when the container's root, which is you, could
/// write the binary: when you own it (a `cargo install` or a binary in
/// your home: you may chmod it) or its mode lets you or others write it.
/// A binary owned by root and not writable by you (a distribution's
/// package, `sudo make install`) is out of reach and runs as it is.
pub(crate) fn sealed_copy() -> Result<Option<OwnedFd>, Errno> {
    use rustix::fs::{Access, OFlags};
    let exe = "/proc/self/exe";
    // Looked at without opening it: most runs end here. The link names
    // the very file this process runs, which cannot change size while it
    // runs (ETXTBSY).
    let st = rustix::fs::stat(exe)?;
    let yours = st.st_uid == rustix::process::getuid().as_raw();
    let writable = rustix::fs::access(exe, Access::WRITE_OK).is_ok() || st.st_mode & 0o022 != 0;
    if !yours && !writable {
        return Ok(None);
    }
    let file = rustix::fs::open(
        exe,
        OFlags::RDONLY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    // Adding F_SEAL_WRITE fails with EBUSY while anything else still holds
    // a reference to one of the copy's pages; the kernel waits about
    // 150 ms for such references to go, and on a loaded machine a page
    // freshly written can stay held longer (it was seen once in a CI
    // run). A fresh copy then gets its own pages.
    let copy = retry_busy(SEAL_ATTEMPTS, || copy_and_seal(&file, st.st_size as usize));
    copy.map(Some)
}

/// How many fresh copies `sealed_copy` makes before it gives up on EBUSY.
const SEAL_ATTEMPTS: u32 = 4;

/// Calls `f` until it returns something other than EBUSY, at most
/// `attempts` times, pausing a little longer after each EBUSY.
fn retry_busy<T>(attempts: u32, mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    let mut tried = 1;
    loop {
        match f() {
            Err(Errno::BUSY) if tried < attempts => {
                std::thread::sleep(std::time::Duration::from_millis(20 * u64::from(tried)));
                tried += 1;
            }
            other => return other,
        }
    }
}

/// Copies `size` bytes of `file` into a new memfd and seals it against
/// every change.
fn copy_and_seal(file: &OwnedFd, size: usize) -> Result<OwnedFd, Errno> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let make = |flags: libc::c_uint| {
        // SAFETY: memfd_create with a NUL-terminated name; returns a new fd.
        let fd = unsafe { libc::memfd_create(c"burrow".as_ptr(), flags) };
        if fd < 0 {
            return Err(Errno::from_raw_os_error(super::sys::last_errno()));
        }
        // SAFETY: a new fd nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (6.3): executable even where vm.memfd_noexec asks otherwise.
    let memfd = match make(base | MFD_EXEC) {
        Err(Errno::INVAL) => make(base)?,
        other => other?,
    };
    let mut left = size;
    let mut offset = 0u64;
    while left > 0 {
        match rustix::fs::sendfile(&memfd, file, Some(&mut offset), left) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => left -= n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    use rustix::fs::SealFlags;
    rustix::fs::fcntl_add_seals(
        &memfd,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )?;
    Ok(memfd)
}

/// Why burrow could not re-execute itself from a sealed copy; the caller
/// must then not start or enter a container.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("copying the burrow binary into a sealed memfd: {0}")]
    Copy(Errno),
    #[error("running burrow from its sealed memfd copy: {}", super::sys::errno_text(*.0))]
    Exec(i32),
}

/// Re-executes this process, with the same arguments and environment, from
/// `sealed_copy` when the binary needs one and this process does not run
/// from one already. Returns when there is nothing to do; otherwise only
/// with the reason it could not (the caller must then not start or enter a
/// container). Call it first in `main`, single-threaded.
pub fn seal_self() -> Result<(), SealError> {
    let running = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    if running
        .as_os_str()
        .as_encoded_bytes()
        .starts_with(b"/memfd:burrow")
    {
        return Ok(());
    }
    let copy = match sealed_copy() {
        Ok(None) => return Ok(()),
        Ok(Some(fd)) => fd,
        Err(e) => return Err(SealError::Copy(e)),
    };
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.into_encoded_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut e = k.into_encoded_bytes();
            e.push(b'=');
            e.extend(v.into_encoded_bytes());
            CString::new(e).ok()
        })
        .collect();
    let mut argv_p: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_p.push(std::ptr::null());
    // SAFETY: the arrays are NUL-terminated and outlive the call, which
    // returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            copy.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr(),
            env_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(SealError::Exec(super::sys::last_errno()))
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
    fn a_seal_refused_as_busy_is_tried_again_with_a_fresh_copy() {
        let mut calls = 0;
        let got = retry_busy(SEAL_ATTEMPTS, || {
            calls += 1;
            if calls < 3 {
                Err(Errno::BUSY)
            } else {
                Ok(calls)
            }
        });
        assert_eq!(got, Ok(3));
        let mut calls = 0;
        let got: Result<(), Errno> = retry_busy(SEAL_ATTEMPTS, || {
            calls += 1;
            Err(Errno::BUSY)
        });
        assert_eq!((got, calls), (Err(Errno::BUSY), SEAL_ATTEMPTS));
        let mut calls = 0;
        let got: Result<(), Errno> = retry_busy(SEAL_ATTEMPTS, || {
            calls += 1;
            Err(Errno::PERM)
        });
        assert_eq!((got, calls), (Err(Errno::PERM), 1));
    }

    #[test]
    fn the_sealed_copy_is_the_binary_and_refuses_writes() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let file = rustix::fs::open(
            "/proc/self/exe",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let copy = copy_and_seal(&file, exe.len()).unwrap();
        let mut f = std::fs::File::from(copy);
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0)).unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut got).unwrap();
        assert!(got == exe, "the copy differs from the binary");
        let err = std::io::Write::write_all(&mut f, b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn last_env_entry_wins() {
        let env = vec!["PATH=/a".to_string(), "X=1".into(), "PATH=/b".into()];
        assert_eq!(env_value(&env, "PATH"), Some("/b"));
        assert_eq!(env_value(&env, "HOME"), None);
    }
}
