//! Writing a namespace's maps: newuidmap and newgidmap for a full map
//! (from the parent), or the single-id map from inside.

use super::{IdMap, IdRange, UsernsError};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::Command;

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

/// Writes the single-id map of process `pid`'s new user namespace from
/// its parent namespace, as the namespace's owner may without a helper
/// (setgroups denied first, as the kernel asks for a gid map so written).
pub fn write_single_map_of(map: &IdMap, pid: Pid) -> Result<(), UsernsError> {
    let write = |file: &'static str, data: String| {
        std::fs::write(format!("/proc/{}/{file}", pid.as_raw()), data)
            .map_err(|source| UsernsError::WriteMap { file, source })
    };
    write("setgroups", "deny".into())?;
    let line = |r: &IdRange| format!("{} {} {}\n", r.inside, r.outside, r.count);
    write("uid_map", map.uids.iter().map(line).collect())?;
    write("gid_map", map.gids.iter().map(line).collect())?;
    Ok(())
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
