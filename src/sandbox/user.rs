//! Who the command runs as: `-u` specs resolved from an image's
//! /etc/passwd and /etc/group, as docker resolves them. The files are read
//! only from inside the container's root (after pivot_root), never by
//! joining an image path onto a host path.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// The outcome of resolving a user spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, without duplicates: the primary group first
    /// (as `id` shows it), then memberships in file order.
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home, `/` when there is none (docker's HOME).
    pub home: String,
}

/// An account to make in the container (`--userns keep-id`: yours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Adds `a` to /etc/passwd and /etc/group (each unless an entry has its
/// id already) and makes its home directory, owned by it, when missing.
/// Runs inside the container after pivot_root, as its root: the files are
/// the container's own, opened without following a symlink, and written
/// only when they are regular files.
pub fn add_account(etc: &Path, a: &Account) -> std::io::Result<()> {
    let passwd = format!(
        "{}:x:{}:{}:{}:{}:/bin/sh\n",
        a.name, a.uid, a.gid, a.name, a.home
    );
    append_unless_id(&etc.join("passwd"), 2, a.uid, &passwd)?;
    let group = format!("{}:x:{}:\n", a.name, a.gid);
    append_unless_id(&etc.join("group"), 2, a.gid, &group)?;
    let home = Path::new(&a.home);
    if std::fs::symlink_metadata(home).is_err() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(home)
            .and_then(|()| std::os::unix::fs::lchown(home, Some(a.uid), Some(a.gid)))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Appends `line` to the file at `path` unless a line's field `field`
/// (0-based, `:`-separated) is `id`.
fn append_unless_id(path: &Path, field: usize, id: u32, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    let id = id.to_string();
    if text
        .lines()
        .any(|l| l.split(':').nth(field) == Some(id.as_str()))
    {
        return Ok(());
    }
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    f.write_all(format!("{sep}{line}").as_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoSuchUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoSuchGroup(String),
    #[error("invalid user spec {0:?}")]
    BadSpec(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "the image's {path} is {kind}, not a regular file; burrow reads only regular files \
         from an image's /etc"
    )]
    NotRegular { path: String, kind: &'static str },
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Lines that do not parse are skipped, as libc does.
fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f[3]
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .collect(),
        })
    })
}

/// Resolves `spec` (`name`, `uid`, `uid:gid`, `name:group`, `uid:group`,
/// `name:gid`) against the texts of passwd and group (`None`: the file is
/// missing). A name must exist; a number need not. Without an explicit
/// group, the gid is the passwd entry's (0 if none). The supplementary
/// groups are the primary gid, then (without an explicit group) those
/// listing the user's name, then `extra_gids` (`--group-add`).
pub fn resolve_user_from(
    passwd: Option<&str>,
    group: Option<&str>,
    spec: &str,
    extra_gids: &[u32],
) -> Result<ResolvedUser, UserError> {
    let spec = spec.trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if group_part.is_some_and(|g| g.is_empty() || g.contains(':')) {
        return Err(UserError::BadSpec(spec.into()));
    }
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let passwd = passwd.unwrap_or("");
    let group = group.unwrap_or("");

    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| UserError::NoSuchUser(user_part.into()))?,
        ),
    };
    let uid = match (&entry, user_part.parse::<u32>()) {
        (_, Ok(uid)) => uid,
        (Some(e), Err(_)) => e.uid,
        (None, Err(_)) => return Err(UserError::NoSuchUser(user_part.into())),
    };
    let home = entry
        .as_ref()
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or("/")
        .to_string();

    let mut member_of = Vec::new();
    let gid = match group_part {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                group_entries(group)
                    .find(|e| e.name == g)
                    .ok_or_else(|| UserError::NoSuchGroup(g.into()))?
                    .gid
            }
        },
        None => {
            if let Some(e) = &entry {
                member_of.extend(
                    group_entries(group)
                        .filter(|g| g.members.contains(&e.name))
                        .map(|g| g.gid),
                );
            }
            entry.as_ref().map_or(0, |e| e.gid)
        }
    };
    let mut additional_gids = vec![gid];
    for &g in member_of.iter().chain(extra_gids) {
        if !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// Resolves `spec` from `etc_dir`/passwd and `etc_dir`/group, resolved
/// inside `/` (symbolic links cannot lead out of it, nor through /proc's
/// magic links): call it only where `/` is the container's root (the
/// sandbox does, after pivot_root, with `etc_dir` = `/etc`). A file that
/// is not a regular one (a FIFO would block the set-up for ever, a device
/// never end) is refused, or, when the spec is numbers alone and needs no
/// name, taken as missing.
pub fn resolve_user(
    etc_dir: &Path,
    spec: &str,
    extra_gids: &[u32],
) -> Result<ResolvedUser, UserError> {
    let numeric = spec
        .trim()
        .split(':')
        .all(|part| part.is_empty() || part.parse::<u32>().is_ok());
    let root = open_root()?;
    let read = |name: &str| match read_small(root.as_fd(), &etc_dir.join(name)) {
        Err(UserError::NotRegular { .. }) if numeric => Ok(None),
        other => other,
    };
    let passwd = read("passwd")?;
    let group = read("group")?;
    resolve_user_from(passwd.as_deref(), group.as_deref(), spec, extra_gids)
}

/// `--group-add NAME`: the gids of groups named in the image's
/// /etc/group; a name not there is an error, as docker's.
pub fn group_ids(etc_dir: &Path, names: &[String]) -> Result<Vec<u32>, UserError> {
    let group = read_small(open_root()?.as_fd(), &etc_dir.join("group"))?.unwrap_or_default();
    names
        .iter()
        .map(|n| {
            group_entries(&group)
                .find(|e| e.name == n.as_str())
                .map(|e| e.gid)
                .ok_or_else(|| UserError::NoSuchGroup(n.clone()))
        })
        .collect()
}

/// `/`, where the account files are resolved (the container's root, in
/// the sandbox).
fn open_root() -> Result<OwnedFd, UserError> {
    rustix::fs::open(
        "/",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| UserError::Read {
        path: "/".into(),
        reason: format!("opening it ({e})"),
    })
}

/// An image's account file, if it is there: opened without blocking
/// (a FIFO's open waits for a writer otherwise), checked to be a regular
/// file before a byte is read, and cut at 16 MiB.
fn read_small(root: BorrowedFd, path: &Path) -> Result<Option<String>, UserError> {
    use rustix::fs::{FileType, OFlags};
    const LIMIT: u64 = 16 << 20;
    let err = |reason: String| UserError::Read {
        path: path.display().to_string(),
        reason,
    };
    // Looked at first without opening it (O_PATH): opening a device can
    // itself fail or act.
    let fd = match super::sys::open_in_root(root, path, OFlags::PATH) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| err(e.to_string()))?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => None,
        FileType::Fifo => Some("a FIFO"),
        FileType::CharacterDevice => Some("a character device"),
        FileType::BlockDevice => Some("a block device"),
        FileType::Directory => Some("a directory"),
        FileType::Socket => Some("a socket"),
        _ => Some("not a file"),
    };
    if let Some(kind) = kind {
        return Err(UserError::NotRegular {
            path: path.display().to_string(),
            kind,
        });
    }
    // Then opened for reading, without blocking, and only if it is still
    // the file looked at.
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = super::sys::open_in_root(root, path, flags).map_err(|e| err(e.to_string()))?;
    let again = rustix::fs::fstat(&fd).map_err(|e| err(e.to_string()))?;
    if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) {
        return Err(err("it was replaced while being opened".into()));
    }
    // Room for the whole file and the read that finds its end: two reads,
    // where growing from nothing takes one per doubling.
    let mut bytes = Vec::with_capacity((again.st_size.max(0) as u64).min(LIMIT) as usize + 1);
    std::fs::File::from(fd)
        .take(LIMIT)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # a comment\n\
                          broken line\n\
                          user:x:1000:1000:A User:/home/user:/bin/sh\n\
                          daemon:x:2:2::/:/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\n\
                         user:x:1000:\n\
                         wheel:x:10:root,user\n\
                         audio:x:29: user \n\
                         staff:x:50:\n";

    fn resolve(spec: &str) -> Result<ResolvedUser, UserError> {
        resolve_user_from(Some(PASSWD), Some(GROUP), spec, &[])
    }

    #[test]
    fn name_gives_uid_gid_home_and_member_groups() {
        assert_eq!(
            resolve("user").unwrap(),
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![1000, 10, 29],
                home: "/home/user".into()
            }
        );
    }

    #[test]
    fn numeric_uid_need_not_exist_and_defaults_to_gid_0() {
        let u = resolve("4242").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        assert_eq!(u.additional_gids, vec![0]);
        // A numeric uid with an entry takes the entry's gid and groups.
        let u = resolve("1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![1000, 10, 29]);
    }

    #[test]
    fn explicit_group_by_number_or_name_drops_member_groups() {
        let u = resolve("1000:50").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        assert_eq!(u.additional_gids, vec![50]);
        let u = resolve("user:staff").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        let u = resolve_user_from(Some(PASSWD), Some(GROUP), "user:staff", &[7, 7, 50]).unwrap();
        assert_eq!(u.additional_gids, vec![50, 7]);
    }

    #[test]
    fn unknown_names_and_bad_specs_are_errors() {
        assert_eq!(
            resolve("nobody"),
            Err(UserError::NoSuchUser("nobody".into()))
        );
        assert_eq!(
            resolve("user:nogroup"),
            Err(UserError::NoSuchGroup("nogroup".into()))
        );
        assert!(matches!(resolve("user:"), Err(UserError::BadSpec(_))));
        assert!(matches!(resolve("a:b:c"), Err(UserError::BadSpec(_))));
        // No passwd file: names cannot resolve, numbers can.
        assert!(resolve_user_from(None, None, "root", &[]).is_err());
        assert_eq!(resolve_user_from(None, None, "0:0", &[]).unwrap().uid, 0);
    }

    #[test]
    fn root_by_name_gets_its_member_groups() {
        let u = resolve("root").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.additional_gids, vec![0, 10]);
    }

    #[test]
    fn fifos_and_devices_in_etc_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let passwd = d.path().join("passwd");
        nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = resolve_user(d.path(), "user", &[]).unwrap_err();
        assert_eq!(
            e,
            UserError::NotRegular {
                path: passwd.display().to_string(),
                kind: "a FIFO"
            }
        );
        // Numbers need no names: the FIFO is taken as missing.
        assert_eq!(resolve_user(d.path(), "1000:50", &[]).unwrap().uid, 1000);
        std::fs::remove_file(&passwd).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &passwd).unwrap();
        let e = resolve_user(d.path(), "user", &[]).unwrap_err();
        assert!(
            matches!(
                e,
                UserError::NotRegular {
                    kind: "a character device",
                    ..
                }
            ),
            "{e}"
        );
        std::fs::remove_file(&passwd).unwrap();
        std::fs::write(&passwd, PASSWD).unwrap();
        let group = d.path().join("group");
        nix::unistd::mkfifo(&group, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = resolve_user(d.path(), "user", &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("group is a FIFO, not a regular file"),
            "{e}"
        );
    }

    #[test]
    fn resolve_user_reads_files_and_tolerates_missing_group_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("passwd"), PASSWD).unwrap();
        let u = resolve_user(d.path(), "user", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![1000]);
    }
}
