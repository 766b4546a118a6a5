//! User namespaces and id maps: who burrow is inside (root) and which host
//! ids stand behind the ids inside. Reads /etc/subuid and /etc/subgid,
//! writes maps with newuidmap/newgidmap, or a single-id map without them.
//! Never needs privileges of its own.
//!
//! `idmap`: the maps; `subid`: where subordinate ranges come from; `maps`:
//! writing them; `diagnostics`: why namespaces are refused and what fixes
//! it; this file: the errors and work run in a new namespace.

mod diagnostics;
mod idmap;
mod maps;
mod subid;

use diagnostics::userns_hint;
pub use diagnostics::{
    apparmor_profile, read_sysctl, restricted_hint, unshare_hint, FileCaps, HelperFacts,
    UsernsBlocker,
};
pub use idmap::{current_user_name, IdMap, IdRange, SingleMapReason};
pub use maps::{find_program, write_maps, write_own_single_map, write_single_map_of};
pub use subid::{
    free_subid_range, free_subid_range_of_system, read_subid, IdKind, SubidRange, SubidSource,
};

use crate::forked::{self, Fork, ForkError};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{Gid, Uid};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::PathBuf;

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
    #[error(
        "writing the single-id map of the user namespace ({file}): {source}{hint}",
        hint = restricted_hint(source.raw_os_error().map(nix::Error::from_raw))
    )]
    WriteMap {
        file: &'static str,
        source: std::io::Error,
    },
    #[error("{call} failed: {source}")]
    Sys {
        call: &'static str,
        source: nix::Error,
    },
    #[error("cannot run getsubids for {user}: {detail}")]
    Getsubids { user: String, detail: String },
    #[error(transparent)]
    Helper(#[from] ForkError),
    #[error(transparent)]
    Probe(#[from] ProbeStep),
}

/// Tries what burrow does first on every run: a child process unshares a
/// user namespace, writes its single-id map and mounts a tmpfs in a new
/// mount namespace. The error carries the setting to change when the
/// kernel or AppArmor refuses. The caller must be single-threaded.
pub fn probe() -> Result<(), UsernsError> {
    use nix::mount::{mount, MsFlags};
    let map = IdMap::single(Uid::current().as_raw(), Gid::current().as_raw());
    run_in_userns(&map, || {
        let fail = |step: &str| {
            let step = step.to_string();
            move |e: nix::Error| ProbeStep {
                step,
                errno: e as i32,
            }
        };
        unshare(CloneFlags::CLONE_NEWNS).map_err(fail("unshare(CLONE_NEWNS)"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(fail("making / private in the new mount namespace"))?;
        // The tmpfs hides /tmp in this child's mount namespace only.
        mount(
            Some("tmpfs"),
            "/tmp",
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=64k"),
        )
        .map_err(fail("mounting a tmpfs in the new namespace"))?;
        Ok::<(), ProbeStep>(())
    })??;
    Ok(())
}

/// A step of `probe` that failed in the namespace, with its errno.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error(
    "{step}: {}{}",
    nix::Error::from_raw(*errno),
    restricted_hint(Some(nix::Error::from_raw(*errno)))
)]
pub struct ProbeStep {
    pub step: String,
    pub errno: i32,
}

/// A failure of the helper child on its way into the namespace, sent typed
/// across the fork and turned back into a `UsernsError` in the parent.
#[derive(Debug, Serialize, Deserialize)]
enum EnterFailure {
    Unshare {
        errno: i32,
    },
    WriteMap {
        file: MapFile,
        errno: Option<i32>,
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum MapFile {
    Setgroups,
    Uid,
    Gid,
}

impl MapFile {
    fn path(self) -> &'static str {
        match self {
            MapFile::Setgroups => "/proc/self/setgroups",
            MapFile::Uid => "/proc/self/uid_map",
            MapFile::Gid => "/proc/self/gid_map",
        }
    }

    fn of(path: &str) -> MapFile {
        match path {
            "/proc/self/uid_map" => MapFile::Uid,
            "/proc/self/gid_map" => MapFile::Gid,
            _ => MapFile::Setgroups,
        }
    }
}

impl From<EnterFailure> for UsernsError {
    fn from(e: EnterFailure) -> UsernsError {
        match e {
            EnterFailure::Unshare { errno } => UsernsError::Unshare(nix::Error::from_raw(errno)),
            EnterFailure::WriteMap {
                file,
                errno,
                detail,
            } => UsernsError::WriteMap {
                file: file.path(),
                source: match errno {
                    Some(n) => std::io::Error::from_raw_os_error(n),
                    None => std::io::Error::other(detail),
                },
            },
        }
    }
}

/// The helper's side of the conversation, and `f`'s answer.
#[derive(Debug, Serialize, Deserialize)]
enum Crossed<E> {
    /// The child could not enter the namespace.
    Entering(EnterFailure),
    /// The parent could not write the maps (the error stays there).
    Maps,
    Work(E),
}

/// The child has unshared and asks for its maps.
#[derive(Debug, Serialize, Deserialize)]
struct Unshared;

/// The parent wrote them.
#[derive(Debug, Serialize, Deserialize)]
struct MapsWritten;

/// Runs `f` in a forked child that is root of a new user namespace with
/// `map`, and returns what `f` returned, its error typed as `f` made it.
/// The outer error is the helper's own: the namespace could not be made or
/// mapped, or the child died. Work that creates or removes files owned by
/// mapped ids (unpacking and deleting layers) runs here.
///
/// The child is single-threaded (fork copies the calling thread only), so
/// it can enter the new namespace even when the caller has threads.
pub fn run_in_userns<T, E, F>(map: &IdMap, f: F) -> Result<Result<T, E>, UsernsError>
where
    T: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, E>,
{
    let mut maps_failed = None;
    let how = Fork {
        single_threaded: false,
        ..Fork::new("the user-namespace helper")
    };
    let out = forked::converse::<Unshared, T, Crossed<E>, _, _>(
        how,
        |parent| {
            enter(map).map_err(Crossed::Entering)?;
            // Without the parent's answer the maps are not there: the
            // child must not go on as nobody.
            parent
                .step(&Unshared, None)
                .and_then(|()| parent.reply::<MapsWritten>())
                .map_err(|_| Crossed::Maps)?;
            f().map_err(Crossed::Work)
        },
        |Unshared, _, child| {
            // A single-id map was written by the child itself.
            if !map.is_single() {
                if let Err(e) = write_maps(map, child.pid) {
                    maps_failed = Some(e);
                    return Err(Crossed::Maps);
                }
            }
            child.reply(&MapsWritten, None).map_err(|_| Crossed::Maps)
        },
    )?;
    match out {
        Ok(v) => Ok(Ok(v)),
        Err(Crossed::Work(e)) => Ok(Err(e)),
        Err(Crossed::Entering(e)) => Err(e.into()),
        Err(Crossed::Maps) => Err(maps_failed.unwrap_or(UsernsError::Helper(ForkError::Died {
            what: how.what,
            how: forked::Death::Unknown,
        }))),
    }
}

/// In the child: a new user namespace, with its single-id map written here.
fn enter(map: &IdMap) -> Result<(), EnterFailure> {
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| EnterFailure::Unshare { errno: e as i32 })?;
    if map.is_single() {
        write_own_single_map(map).map_err(|e| match e {
            UsernsError::WriteMap { file, source } => EnterFailure::WriteMap {
                file: MapFile::of(file),
                errno: source.raw_os_error(),
                detail: source.to_string(),
            },
            other => EnterFailure::WriteMap {
                file: MapFile::Setgroups,
                errno: None,
                detail: other.to_string(),
            },
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::subid::parse_getsubids;
    use super::*;
    use std::path::Path;

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
                user: "alice".into(),
                free: SubidRange {
                    start: 165536,
                    count: 65536
                },
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
                user: "alice".into(),
                free: SubidRange {
                    start: 165536,
                    count: 65536
                },
            })
        );
    }

    #[test]
    fn free_range_starts_after_every_listed_range() {
        let files = [
            "a:100000:65536\nb:165536:65536\n".to_string(),
            "c:500000:10\n".into(),
        ];
        assert_eq!(free_subid_range(&files).start, 500010);
        assert_eq!(free_subid_range(&[]).start, 100000);
    }

    #[test]
    fn the_single_map_warning_suggests_the_free_range_it_carries() {
        let reason = SingleMapReason::NoSubuid {
            user: "alice".into(),
            free: SubidRange {
                start: 265536,
                count: 65536,
            },
        };
        let text = reason.to_string();
        assert!(
            text.contains("usermod --add-subuids 265536-331071 --add-subgids 265536-331071 alice"),
            "{text}"
        );
        assert!(!text.contains("100000"), "{text}");
    }

    #[test]
    fn single_map_child_is_root_inside() {
        let map = IdMap::single(Uid::current().as_raw(), Gid::current().as_raw());
        let (uid, gid) = run_in_userns(&map, || {
            Ok::<_, ProbeStep>((Uid::current().as_raw(), Gid::current().as_raw()))
        })
        .unwrap()
        .unwrap();
        assert_eq!((uid, gid), (0, 0));
        // The work's own error arrives as the work made it.
        let err = run_in_userns::<u32, _, _>(&map, || {
            Err(ProbeStep {
                step: "mounting".into(),
                errno: libc::ENOSPC,
            })
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(
            err,
            ProbeStep {
                step: "mounting".into(),
                errno: libc::ENOSPC
            }
        );
        assert_eq!(err.to_string(), "mounting: ENOSPC: No space left on device");
    }

    /// A host where only the given sysctls exist.
    fn sysctls(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn apparmor_restriction_prints_the_profile_to_install() {
        let host = sysctls(&[
            ("kernel.apparmor_restrict_unprivileged_userns", "1"),
            ("user.max_user_namespaces", "63000"),
        ]);
        let exe = Path::new("/home/alice/.cargo/bin/burrow");
        let hint = unshare_hint(nix::Error::EACCES, &host, exe);
        assert!(
            hint.starts_with(
                "; unprivileged user namespaces are disabled here: AppArmor restricts them \
                 (kernel.apparmor_restrict_unprivileged_userns=1); an admin installs this \
                 AppArmor profile as /etc/apparmor.d/burrow"
            ),
            "{hint}"
        );
        assert!(hint.contains("`sudo apparmor_parser -r /etc/apparmor.d/burrow`"));
        assert!(hint.contains("kernel.apparmor_restrict_unprivileged_userns=0"));
        // The profile names the binary that runs, not the packaged path.
        assert!(hint.ends_with(&apparmor_profile(exe)), "{hint}");
        assert!(hint.contains(
            "profile burrow /home/alice/.cargo/bin/burrow flags=(unconfined) {\n  userns,\n"
        ));
        assert!(hint.contains("\nabi <abi/4.0>,\n"));
        let shown = UsernsError::Unshare(nix::Error::EACCES).to_string();
        assert!(shown.starts_with("cannot create a user namespace: EACCES"));
    }

    #[test]
    fn shipped_apparmor_profile_is_the_one_the_error_prints() {
        assert_eq!(
            include_str!("../../../packaging/apparmor/burrow"),
            apparmor_profile(Path::new("/usr/bin/burrow"))
        );
        let spaced = apparmor_profile(Path::new("/opt/my tools/burrow"));
        assert!(spaced.contains("profile burrow \"/opt/my tools/burrow\" flags"));
    }

    #[test]
    fn each_blocking_sysctl_gets_its_own_fix() {
        let exe = Path::new("/usr/bin/burrow");
        let max = unshare_hint(
            nix::Error::ENOSPC,
            &sysctls(&[("user.max_user_namespaces", "0")]),
            exe,
        );
        assert!(
            max.contains("user.max_user_namespaces=0; an admin sets"),
            "{max}"
        );
        let clone = unshare_hint(
            nix::Error::EPERM,
            &sysctls(&[
                ("user.max_user_namespaces", "100"),
                ("kernel.unprivileged_userns_clone", "0"),
            ]),
            exe,
        );
        assert!(
            clone.contains("sudo sysctl -w kernel.unprivileged_userns_clone=1"),
            "{clone}"
        );
        // Nothing known blocks it: the errno alone, no invented fix.
        let unknown = unshare_hint(nix::Error::EPERM, &sysctls(&[]), exe);
        assert_eq!(unknown, "; unprivileged user namespaces are disabled here");
        assert_eq!(
            UsernsBlocker::find(&sysctls(&[("user.max_user_namespaces", "5")])),
            None
        );
    }

    #[test]
    fn nsswitch_subid_line_selects_the_source() {
        assert_eq!(
            SubidSource::from_nsswitch("passwd: files\n"),
            SubidSource::Files
        );
        assert_eq!(
            SubidSource::from_nsswitch("passwd: files\nsubid:   files\n"),
            SubidSource::Files
        );
        assert_eq!(
            SubidSource::from_nsswitch("# subid: ldap\nsubid: sss # from IPA\n"),
            SubidSource::Nss {
                module: "sss".into()
            }
        );
        assert_eq!(
            SubidSource::Nss {
                module: "sss".into()
            }
            .describe(IdKind::Gid),
            "getsubids -g (nsswitch subid: sss)"
        );
        assert_eq!(
            parse_getsubids("0: alice 100000 65536\n1: alice 300000 10\nbad line\n"),
            [
                SubidRange {
                    start: 100000,
                    count: 65536
                },
                SubidRange {
                    start: 300000,
                    count: 10
                }
            ]
        );
    }

    #[test]
    fn file_capabilities_parse_from_every_xattr_version() {
        // v2, cap_setuid permitted and effective.
        let mut v2 = vec![];
        for w in [0x0200_0001u32, 1 << 7, 0, 0, 0] {
            v2.extend_from_slice(&w.to_le_bytes());
        }
        let caps = FileCaps::parse(&v2).unwrap();
        assert_eq!(caps.permitted, 1 << 7);
        assert_eq!(caps.to_string(), "cap_setuid=ep");
        // v3 carries a root uid after the v2 words; v1 has one word.
        let mut v3 = vec![];
        for w in [0x0300_0000u32, (1 << 6) | (1 << 7), 0, 1 << 31, 0, 0] {
            v3.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(
            FileCaps::parse(&v3).unwrap().to_string(),
            "cap_setgid,cap_setuid,cap_63=p"
        );
        let mut v1 = vec![];
        for w in [0x0100_0000u32, 1 << 6, 0] {
            v1.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(FileCaps::parse(&v1).unwrap().permitted, 1 << 6);
        assert_eq!(FileCaps::parse(&[1, 2]), None);
        assert_eq!(FileCaps::parse(&[0; 20]), None);
    }

    #[test]
    fn helper_facts_read_setuid_and_file_capabilities() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let plain = write_tmp(d.path(), "newuidmap", "");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        let facts = HelperFacts::at("newuidmap", Some(plain.clone()));
        assert!(!facts.setuid_root && !facts.has_needed_cap && !facts.usable());
        assert!(!HelperFacts::at("newuidmap", None).usable());

        if !Uid::effective().is_root() {
            eprintln!("SKIP setuid and file-capability part: needs root");
            return;
        }
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o4755)).unwrap();
        assert!(HelperFacts::at("newuidmap", Some(plain.clone())).usable());
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        // What `setcap cap_setgid+ep` writes: a v2 vfs_cap_data.
        let mut xattr = vec![];
        for w in [0x0200_0001u32, 1 << 6, 0, 0, 0] {
            xattr.extend_from_slice(&w.to_le_bytes());
        }
        rustix::fs::setxattr(
            &plain,
            "security.capability",
            &xattr,
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let gid = HelperFacts::at("newgidmap", Some(plain.clone()));
        assert_eq!(gid.file_caps.as_deref(), Some("cap_setgid=ep"));
        assert!(gid.usable());
        // cap_setgid is not what newuidmap needs.
        assert!(!HelperFacts::at("newuidmap", Some(plain)).usable());
    }

    #[test]
    fn probe_creates_a_namespace_and_mounts_in_it() {
        probe().unwrap();
    }
}
