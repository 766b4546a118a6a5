//! The uid and gid maps of a namespace burrow creates: the full map from
//! your subordinate ranges, or the single-id map and why.

use super::{find_program, IdKind, SubidRange, SubidSource, UsernsError};
use nix::unistd::{Gid, Uid, User};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// `free` is a range no user in /etc/subuid or /etc/subgid has, to
    /// suggest to an admin.
    NoSubuid {
        user: String,
        free: SubidRange,
    },
    NoSubgid {
        user: String,
        free: SubidRange,
    },
    NoHelper {
        program: &'static str,
    },
}

impl std::fmt::Display for SingleMapReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SingleMapReason::NoSubuid { user, free } => write!(
                f,
                "no subordinate uid range for {user} in /etc/subuid; burrow runs with a single-id map \
                 (files owned by other ids are squashed to root; root is emulated: chown, su and apt \
                 work and the owners asked for go into commits, but every file is really yours and \
                 nothing inside is kept from another user inside); for the full model ask an admin for \
                 `usermod --add-subuids {r} --add-subgids {r} {user}`",
                r = range_text(free)
            ),
            SingleMapReason::NoSubgid { user, free } => write!(
                f,
                "no subordinate gid range for {user} in /etc/subgid; burrow runs with a single-id map \
                 (files owned by other ids are squashed to root; root is emulated: chown, su and apt \
                 work and the owners asked for go into commits, but every file is really yours and \
                 nothing inside is kept from another user inside); for the full model ask an admin for \
                 `usermod --add-subgids {r} {user}`",
                r = range_text(free)
            ),
            SingleMapReason::NoHelper { program } => write!(
                f,
                "{program} not found; burrow runs with a single-id map (files owned by other ids \
                 are squashed to root; root is emulated: chown, su and apt work and the owners \
                 asked for go into commits, but every file is really yours and nothing inside is \
                 kept from another user inside); for the full model ask an admin to install the \
                 `uidmap` package"
            ),
        }
    }
}

/// `FIRST-LAST`, as usermod takes a range.
fn range_text(r: &SubidRange) -> String {
    format!(
        "{}-{}",
        r.start,
        u64::from(r.start) + u64::from(r.count) - 1
    )
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

    /// You are root inside, and `count` subordinate ids from `start` are
    /// 1..=count: a user's map with one range in /etc/subuid and
    /// /etc/subgid, for tests that need a full map of their own.
    #[cfg(test)]
    pub fn with_subids(uid: u32, gid: u32, start: u32, count: u32) -> IdMap {
        let ranges = |own| {
            vec![
                IdRange {
                    inside: 0,
                    outside: own,
                    count: 1,
                },
                IdRange {
                    inside: 1,
                    outside: start,
                    count,
                },
            ]
        };
        IdMap {
            uids: ranges(uid),
            gids: ranges(gid),
        }
    }

    /// The map for the user running burrow: uid 0 inside is you, 1..=N are
    /// your subordinate ids. Falls back to the single-id map, with the
    /// reason, when ranges or helpers are missing.
    pub fn for_current_user() -> Result<(IdMap, Option<SingleMapReason>), UsernsError> {
        let uid = Uid::current().as_raw();
        let gid = Gid::current().as_raw();
        let name = current_user_name();
        let source = SubidSource::of_system();
        let uranges = source.ranges(IdKind::Uid, &name, uid)?;
        let granges = source.ranges(IdKind::Gid, &name, uid)?;
        // Read again only to word the advice when a range is missing.
        let free = super::free_subid_range_of_system;
        Self::from_ranges(uid, gid, &name, uranges, granges, free, find_program)
    }

    #[cfg(test)]
    pub(super) fn from_files(
        uid: u32,
        gid: u32,
        name: &str,
        subuid: &std::path::Path,
        subgid: &std::path::Path,
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<(IdMap, Option<SingleMapReason>), UsernsError> {
        let uranges = super::read_subid(subuid, name, uid)?;
        let granges = super::read_subid(subgid, name, uid)?;
        let files: Vec<String> = [subuid, subgid]
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        let free = || super::free_subid_range(&files);
        Self::from_ranges(uid, gid, name, uranges, granges, free, find)
    }

    fn from_ranges(
        uid: u32,
        gid: u32,
        name: &str,
        uranges: Vec<SubidRange>,
        granges: Vec<SubidRange>,
        free: impl FnOnce() -> SubidRange,
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<(IdMap, Option<SingleMapReason>), UsernsError> {
        let single = |reason| Ok((IdMap::single(uid, gid), Some(reason)));
        if uranges.is_empty() {
            return single(SingleMapReason::NoSubuid {
                user: name.into(),
                free: free(),
            });
        }
        if granges.is_empty() {
            return single(SingleMapReason::NoSubgid {
                user: name.into(),
                free: free(),
            });
        }
        for program in ["newuidmap", "newgidmap"] {
            if find(program).is_none() {
                return single(SingleMapReason::NoHelper { program });
            }
        }
        let stack = |own: u32, ranges: Vec<SubidRange>| {
            let mut out = vec![IdRange {
                inside: 0,
                outside: own,
                count: 1,
            }];
            let mut next = 1u32;
            for r in ranges {
                out.push(IdRange {
                    inside: next,
                    outside: r.start,
                    count: r.count,
                });
                next = next.saturating_add(r.count);
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

/// The name of the user running burrow, or its uid when it has no passwd
/// entry.
pub fn current_user_name() -> String {
    User::from_uid(Uid::current())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| Uid::current().as_raw().to_string())
}
