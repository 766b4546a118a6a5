//! Subordinate id ranges: /etc/subuid and /etc/subgid, or the NSS module
//! that `getsubids` asks.

use super::UsernsError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;

/// A subordinate id range: `count` ids from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubidRange {
    pub start: u32,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Uid,
    Gid,
}

/// A 65536-id range after every range in the given /etc/subuid-style
/// texts, from 100000 as useradd starts.
pub fn free_subid_range(files: &[String]) -> SubidRange {
    let end = files
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            let mut f = l.trim().split(':').skip(1);
            let start: u64 = f.next()?.parse().ok()?;
            let count: u64 = f.next()?.parse().ok()?;
            Some(start + count)
        })
        .max()
        .unwrap_or(0)
        .max(100_000);
    SubidRange {
        start: u32::try_from(end).unwrap_or(u32::MAX - 65536),
        count: 65536,
    }
}

/// A free range after every range in /etc/subuid and /etc/subgid, to
/// suggest to an admin.
pub fn free_subid_range_of_system() -> SubidRange {
    let files: Vec<String> = ["/etc/subuid", "/etc/subgid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    free_subid_range(&files)
}

/// Where newuidmap and newgidmap find subordinate ranges: /etc/subuid and
/// /etc/subgid, or the NSS module on the `subid:` line of
/// /etc/nsswitch.conf (sss, ldap...), which `getsubids` queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubidSource {
    Files,
    Nss { module: String },
}

impl SubidSource {
    /// This system's source, from /etc/nsswitch.conf.
    pub fn of_system() -> SubidSource {
        let text = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
        SubidSource::from_nsswitch(&text)
    }

    /// The source an nsswitch.conf names: shadow reads one module from the
    /// `subid:` line, and files when there is none.
    pub fn from_nsswitch(text: &str) -> SubidSource {
        let module = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter_map(|l| l.strip_prefix("subid:"))
            .filter_map(|rest| rest.split_whitespace().next())
            .next_back();
        match module {
            None | Some("files") => SubidSource::Files,
            Some(m) => SubidSource::Nss {
                module: m.to_string(),
            },
        }
    }

    /// The user's ranges of one kind, in the order newuidmap reads them.
    pub fn ranges(
        &self,
        kind: IdKind,
        name: &str,
        uid: u32,
    ) -> Result<Vec<SubidRange>, UsernsError> {
        match self {
            SubidSource::Files => read_subid(Path::new(self.file(kind)), name, uid),
            SubidSource::Nss { .. } => getsubids(kind, name),
        }
    }

    /// Where the ranges come from, for messages: `/etc/subuid`, or
    /// `getsubids (nsswitch subid: sss)`.
    pub fn describe(&self, kind: IdKind) -> String {
        match self {
            SubidSource::Files => self.file(kind).to_string(),
            SubidSource::Nss { module } => format!(
                "getsubids{} (nsswitch subid: {module})",
                if kind == IdKind::Gid { " -g" } else { "" }
            ),
        }
    }

    fn file(&self, kind: IdKind) -> &'static str {
        match kind {
            IdKind::Uid => "/etc/subuid",
            IdKind::Gid => "/etc/subgid",
        }
    }
}

/// Ranges from `getsubids [-g] NAME`, whose lines read `0: NAME START COUNT`.
fn getsubids(kind: IdKind, name: &str) -> Result<Vec<SubidRange>, UsernsError> {
    let mut cmd = Command::new("getsubids");
    if kind == IdKind::Gid {
        cmd.arg("-g");
    }
    let out = cmd.arg(name).output().map_err(|e| UsernsError::Getsubids {
        user: name.to_string(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        // getsubids fails for a user without ranges, as it does for an
        // unreachable directory: both mean no full map for now.
        return Ok(Vec::new());
    }
    Ok(parse_getsubids(&String::from_utf8_lossy(&out.stdout)))
}

pub(super) fn parse_getsubids(text: &str) -> Vec<SubidRange> {
    text.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(':')?;
            let mut f = rest.split_whitespace();
            let (_name, start, count) = (f.next()?, f.next()?, f.next()?);
            let (start, count) = (start.parse().ok()?, count.parse().ok()?);
            (count > 0).then_some(SubidRange { start, count })
        })
        .collect()
}

/// Ranges of /etc/subuid-style `file` for a user, by name or by uid, in
/// file order. A missing file means no ranges.
pub fn read_subid(file: &Path, name: &str, uid: u32) -> Result<Vec<SubidRange>, UsernsError> {
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
            (count > 0).then_some(SubidRange { start, count })
        })
        .collect())
}
