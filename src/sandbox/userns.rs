//! User namespaces and id maps: who burrow is inside (root) and which host
//! ids stand behind the ids inside. Reads /etc/subuid and /etc/subgid,
//! writes maps with newuidmap/newgidmap, or a single-id map without them.
//! Never needs privileges of its own.

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Gid, Pid, Uid, User};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("cannot read {path}: {source}")]
    ReadSubid {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create a user namespace: {0}{hint}", hint = userns_hint(*.0))]
    Unshare(nix::Error),
    #[error("{program} failed for pid {pid}: {detail}")]
    MapHelper {
        program: &'static str,
        pid: i32,
        detail: String,
    },
    #[error("writing the single-id map of the user namespace ({file}): {source}")]
    WriteMap {
        file: &'static str,
        source: std::io::Error,
    },
    #[error("{call} failed: {source}")]
    Sys {
        call: &'static str,
        source: nix::Error,
    },
    #[error("the user-namespace helper process died: {0}")]
    ChildDied(String),
    #[error("{0}")]
    Child(String),
}

fn userns_hint(err: nix::Error) -> String {
    match err {
        nix::Error::EINVAL => " (the process has threads; burrow forks before starting any)".into(),
        nix::Error::EPERM | nix::Error::ENOSPC | nix::Error::EACCES => {
            let mut hint = String::from("; unprivileged user namespaces are disabled here");
            if read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
                == Some("1")
            {
                hint.push_str(
                    ": AppArmor restricts them (kernel.apparmor_restrict_unprivileged_userns=1); \
                     an admin installs burrow's AppArmor profile (packaging/apparmor/burrow) \
                     or sets that sysctl to 0",
                );
            } else if read_trim("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
                hint.push_str(
                    ": an admin sets the sysctl user.max_user_namespaces to a value above 0",
                );
            } else if read_trim("/proc/sys/kernel/unprivileged_userns_clone").as_deref()
                == Some("0")
            {
                hint.push_str(": an admin sets the sysctl kernel.unprivileged_userns_clone=1");
            }
            hint
        }
        _ => String::new(),
    }
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// One line of a uid_map or gid_map: `count` ids from `inside` onward are
/// host ids from `outside` onward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The uid and gid maps of a user namespace burrow creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

/// Why burrow fell back to a single-id map, for the one warning it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleMapReason {
    NoSubuid { user: String },
    NoSubgid { user: String },
    NoHelper { program: &'static str },
}

impl std::fmt::Display for SingleMapReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SingleMapReason::NoSubuid { user } => write!(
                f,
                "no subordinate uid range for {user} in /etc/subuid; burrow runs with a single-id map \
                 (files owned by other ids are squashed to root); ask an admin for \
                 `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}`"
            ),
            SingleMapReason::NoSubgid { user } => write!(
                f,
                "no subordinate gid range for {user} in /etc/subgid; burrow runs with a single-id map \
                 (files owned by other ids are squashed to root); ask an admin for \
                 `usermod --add-subgids 100000-165535 {user}`"
            ),
            SingleMapReason::NoHelper { program } => write!(
                f,
                "{program} not found; burrow runs with a single-id map (files owned by other ids \
                 are squashed to root); install the `uidmap` package for full id maps"
            ),
        }
    }
}

impl IdMap {
    /// You are root inside, and nobody else exists.
    pub fn single(uid: u32, gid: u32) -> IdMap {
        IdMap {
            uids: vec![IdRange {
                inside: 0,
                outside: uid,
                count: 1,
            }],
            gids: vec![IdRange {
                inside: 0,
                outside: gid,
                count: 1,
            }],
        }
    }

    /// The map for the user running burrow: uid 0 inside is you, 1..=N are
    /// your subordinate ids. Falls back to the single-id map, with the
    /// reason, when ranges or helpers are missing.
    pub fn for_current_user() -> Result<(IdMap, Option<SingleMapReason>), UsernsError> {
        let uid = Uid::current().as_raw();
        let gid = Gid::current().as_raw();
        let name = User::from_uid(Uid::current())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| uid.to_string());
        Self::from_files(
            uid,
            gid,
            &name,
            Path::new("/etc/subuid"),
            Path::new("/etc/subgid"),
            find_program,
        )
    }

    fn from_files(
        uid: u32,
        gid: u32,
        name: &str,
        subuid: &Path,
        subgid: &Path,
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<(IdMap, Option<SingleMapReason>), UsernsError> {
        let single = |reason| Ok((IdMap::single(uid, gid), Some(reason)));
        let uranges = read_subid(subuid, name, uid)?;
        if uranges.is_empty() {
            return single(SingleMapReason::NoSubuid { user: name.into() });
        }
        let granges = read_subid(subgid, name, uid)?;
        if granges.is_empty() {
            return single(SingleMapReason::NoSubgid { user: name.into() });
        }
        for program in ["newuidmap", "newgidmap"] {
            if find(program).is_none() {
                return single(SingleMapReason::NoHelper { program });
            }
        }
        let stack = |own: u32, ranges: Vec<(u32, u32)>| {
            let mut out = vec![IdRange {
                inside: 0,
                outside: own,
                count: 1,
            }];
            let mut next = 1u32;
            for (start, count) in ranges {
                out.push(IdRange {
                    inside: next,
                    outside: start,
                    count,
                });
                next = next.saturating_add(count);
            }
            out
        };
        Ok((
            IdMap {
                uids: stack(uid, uranges),
                gids: stack(gid, granges),
            },
            None,
        ))
    }

    pub fn is_single(&self) -> bool {
        self.uids.len() == 1 && self.uids[0].count == 1
    }

    /// Host uid behind `inside`, if mapped.
    pub fn host_uid(&self, inside: u32) -> Option<u32> {
        lookup(&self.uids, inside)
    }

    pub fn host_gid(&self, inside: u32) -> Option<u32> {
        lookup(&self.gids, inside)
    }
}

fn lookup(ranges: &[IdRange], inside: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| inside >= r.inside && inside - r.inside < r.count)
        .map(|r| r.outside + (inside - r.inside))
}

/// Ranges of /etc/subuid-style `file` for a user, by name or by uid, in
/// file order. A missing file means no ranges.
fn read_subid(file: &Path, name: &str, uid: u32) -> Result<Vec<(u32, u32)>, UsernsError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(UsernsError::ReadSubid {
                path: file.into(),
                source,
            })
        }
    };
    let uid_s = uid.to_string();
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut f = line.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            if who != name && who != uid_s {
                return None;
            }
            let (start, count) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
            (count > 0).then_some((start, count))
        })
        .collect())
}

/// `which`: the first executable `program` on PATH.
pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Writes `map` for process `pid`, which has just unshared its user
/// namespace. Called by the parent.
pub fn write_maps(map: &IdMap, pid: Pid) -> Result<(), UsernsError> {
    // The two set-uid helpers take a millisecond or more each to start and
    // do not depend on each other: they run side by side.
    let mut helpers = Vec::new();
    for (program, ranges) in [("newuidmap", &map.uids), ("newgidmap", &map.gids)] {
        let mut cmd = Command::new(program);
        cmd.arg(pid.as_raw().to_string());
        for r in ranges {
            cmd.args([
                r.inside.to_string(),
                r.outside.to_string(),
                r.count.to_string(),
            ]);
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        helpers.push((program, cmd.spawn()));
    }
    let mut first_error = None;
    for (program, spawned) in helpers {
        let failed = |detail: String| UsernsError::MapHelper {
            program,
            pid: pid.as_raw(),
            detail,
        };
        let outcome = match spawned.and_then(|child| child.wait_with_output()) {
            Err(e) => Err(failed(e.to_string())),
            Ok(out) if !out.status.success() => Err(failed(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            )),
            Ok(_) => Ok(()),
        };
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Writes a single-id map from inside the new namespace: allowed without
/// helpers because it maps only our own ids (setgroups must be denied first).
pub fn write_own_single_map(map: &IdMap) -> Result<(), UsernsError> {
    let write = |file: &'static str, data: String| {
        std::fs::write(file, data).map_err(|source| UsernsError::WriteMap { file, source })
    };
    write("/proc/self/setgroups", "deny".into())?;
    let line = |r: &IdRange| format!("{} {} {}\n", r.inside, r.outside, r.count);
    write("/proc/self/uid_map", map.uids.iter().map(line).collect())?;
    write("/proc/self/gid_map", map.gids.iter().map(line).collect())?;
    Ok(())
}

fn pipe() -> Result<(File, File), UsernsError> {
    let (r, w): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|source| UsernsError::Sys {
            call: "pipe2",
            source,
        })?;
    Ok((File::from(r), File::from(w)))
}

/// Sent by the child: `Unshared` asks the parent for the maps, the final
/// message carries `f`'s result as JSON.
const MSG_UNSHARED: u8 = b'U';
const MSG_FAILED: u8 = b'F';
const MSG_MAPS_WRITTEN: u8 = b'M';

#[derive(Serialize, Deserialize)]
enum Outcome<T> {
    Ok(T),
    Err(String),
}

/// Runs `f` in a forked child that is root of a new user namespace with
/// `map`, and returns what `f` returned. Work that creates or removes files
/// owned by mapped ids (unpacking and deleting layers) runs here.
///
/// The caller must be single-threaded: a process with threads cannot enter
/// a new user namespace, and fork copies only the calling thread.
pub fn run_in_userns<T, F>(map: &IdMap, f: F) -> Result<T, UsernsError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, String>,
{
    let (mut from_child, mut child_out) = pipe()?;
    let (mut child_in, mut to_child) = pipe()?;
    // SAFETY: burrow is single-threaded here (see the contract above), so
    // the child may run any code, allocation included, until it exits.
    match unsafe { fork() }.map_err(|source| UsernsError::Sys {
        call: "fork",
        source,
    })? {
        ForkResult::Child => {
            drop(from_child);
            drop(to_child);
            let code = child_main(map, f, &mut child_in, &mut child_out);
            // SAFETY: _exit skips atexit handlers and stdio flushing that
            // belong to the parent's copy of the process state.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(child_in);
            drop(child_out);
            let result = parent_side(map, child, &mut from_child, &mut to_child);
            drop(to_child);
            let status = waitpid(child, None);
            match (result, status) {
                (Ok(v), _) => Ok(v),
                (Err(e @ UsernsError::Child(_)), _) | (Err(e @ UsernsError::Unshare(_)), _) => {
                    Err(e)
                }
                (Err(e), Ok(WaitStatus::Signaled(_, sig, _))) => {
                    Err(UsernsError::ChildDied(format!("killed by {sig:?} ({e})")))
                }
                (Err(e), _) => Err(e),
            }
        }
    }
}

fn parent_side<T: DeserializeOwned>(
    map: &IdMap,
    child: Pid,
    from_child: &mut File,
    to_child: &mut File,
) -> Result<T, UsernsError> {
    let mut tag = [0u8; 1];
    let died = |e: std::io::Error| UsernsError::ChildDied(e.to_string());
    from_child.read_exact(&mut tag).map_err(died)?;
    match tag[0] {
        MSG_UNSHARED => {
            // A single-id map was written by the child itself.
            let written = if map.is_single() {
                Ok(())
            } else {
                write_maps(map, child)
            };
            if let Err(e) = written {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                return Err(e);
            }
            to_child.write_all(&[MSG_MAPS_WRITTEN]).map_err(died)?;
        }
        MSG_FAILED => {
            let mut buf = String::new();
            from_child.read_to_string(&mut buf).map_err(died)?;
            return Err(
                match buf
                    .strip_prefix("unshare:")
                    .and_then(|n| n.parse::<i32>().ok())
                {
                    Some(errno) => UsernsError::Unshare(nix::Error::from_raw(errno)),
                    None => UsernsError::Child(buf),
                },
            );
        }
        other => {
            return Err(UsernsError::ChildDied(format!(
                "unexpected message {other}"
            )))
        }
    }
    let mut buf = Vec::new();
    from_child.read_to_end(&mut buf).map_err(died)?;
    if buf.is_empty() {
        return Err(UsernsError::ChildDied("it exited without a result".into()));
    }
    match serde_json::from_slice::<Outcome<T>>(&buf) {
        Ok(Outcome::Ok(v)) => Ok(v),
        Ok(Outcome::Err(msg)) => Err(UsernsError::Child(msg)),
        Err(e) => Err(UsernsError::ChildDied(format!("unreadable result: {e}"))),
    }
}

fn child_main<T: Serialize, F: FnOnce() -> Result<T, String>>(
    map: &IdMap,
    f: F,
    from_parent: &mut File,
    to_parent: &mut File,
) -> i32 {
    let fail = |to_parent: &mut File, msg: String| {
        let _ = to_parent.write_all(&[MSG_FAILED]);
        let _ = to_parent.write_all(msg.as_bytes());
        1
    };
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER) {
        return fail(to_parent, format!("unshare:{}", e as i32));
    }
    if map.is_single() {
        if let Err(e) = write_own_single_map(map) {
            return fail(to_parent, e.to_string());
        }
    }
    if to_parent.write_all(&[MSG_UNSHARED]).is_err() {
        return 1;
    }
    let mut tag = [0u8; 1];
    if from_parent.read_exact(&mut tag).is_err() || tag[0] != MSG_MAPS_WRITTEN {
        return 1;
    }
    let outcome = match f() {
        Ok(v) => Outcome::Ok(v),
        Err(e) => Outcome::Err(e),
    };
    match serde_json::to_vec(&outcome) {
        Ok(bytes) if to_parent.write_all(&bytes).is_ok() => 0,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tmp(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn full_map_stacks_subordinate_ranges_after_own_id() {
        let d = tempfile::tempdir().unwrap();
        let su = write_tmp(
            d.path(),
            "subuid",
            "bob:100000:65536\nalice:200000:1000\n1001:300000:10\n",
        );
        let sg = write_tmp(d.path(), "subgid", "alice:400000:65536\n");
        let (map, reason) =
            IdMap::from_files(1001, 1001, "alice", &su, &sg, |p| Some(PathBuf::from(p))).unwrap();
        assert_eq!(reason, None);
        assert_eq!(
            map.uids,
            vec![
                IdRange {
                    inside: 0,
                    outside: 1001,
                    count: 1
                },
                IdRange {
                    inside: 1,
                    outside: 200000,
                    count: 1000
                },
                IdRange {
                    inside: 1001,
                    outside: 300000,
                    count: 10
                },
            ]
        );
        assert_eq!(map.host_uid(1000), Some(200999));
        assert_eq!(map.host_uid(1005), Some(300004));
        assert_eq!(map.host_uid(2000), None);
        assert_eq!(map.host_gid(0), Some(1001));
    }

    #[test]
    fn missing_ranges_or_helpers_fall_back_to_single_map() {
        let d = tempfile::tempdir().unwrap();
        let su = write_tmp(d.path(), "subuid", "bob:100000:65536\n");
        let sg = write_tmp(d.path(), "subgid", "alice:100000:65536\n");
        let (map, reason) = IdMap::from_files(1001, 1002, "alice", &su, &sg, |_| None).unwrap();
        assert!(map.is_single());
        assert_eq!(map.host_gid(0), Some(1002));
        assert_eq!(
            reason,
            Some(SingleMapReason::NoSubuid {
                user: "alice".into()
            })
        );

        let su = write_tmp(d.path(), "subuid", "alice:100000:65536\n");
        let (_, reason) = IdMap::from_files(1001, 1002, "alice", &su, &sg, |_| None).unwrap();
        assert_eq!(
            reason,
            Some(SingleMapReason::NoHelper {
                program: "newuidmap"
            })
        );

        let missing = d.path().join("nope");
        let (_, reason) = IdMap::from_files(1001, 1002, "alice", &su, &missing, |_| None).unwrap();
        assert_eq!(
            reason,
            Some(SingleMapReason::NoSubgid {
                user: "alice".into()
            })
        );
    }

    #[test]
    fn single_map_child_is_root_inside() {
        let map = IdMap::single(Uid::current().as_raw(), Gid::current().as_raw());
        let (uid, gid) = run_in_userns(&map, || {
            Ok((Uid::current().as_raw(), Gid::current().as_raw()))
        })
        .unwrap();
        assert_eq!((uid, gid), (0, 0));
        let err = run_in_userns::<u32, _>(&map, || Err("it failed inside".into())).unwrap_err();
        assert_eq!(err.to_string(), "it failed inside");
    }
}
