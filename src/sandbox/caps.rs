//! Capability names and sets, docker's default set and its add/drop rules,
//! and the few prctl/capset calls that bound the container's process.
//! Never raises a capability the process does not already hold.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Capability names by number (linux/capability.h), without `CAP_`.
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's default capabilities.
const DOCKER_DEFAULT: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("unknown capability {0:?}")]
    Unknown(String),
}

/// A set of capabilities, bit N for capability N. Serialised as names
/// (`["CAP_CHOWN", ...]`) so `inspect` reads like docker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

/// The capability number of `name`: `CAP_NET_ADMIN`, `net_admin`...
pub fn cap_number(name: &str) -> Result<u8, CapError> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES
        .iter()
        .position(|n| *n == bare)
        .map(|i| i as u8)
        .ok_or_else(|| CapError::Unknown(name.to_string()))
}

/// The name of capability `number` without `CAP_` (`NET_ADMIN`), if this
/// table knows it.
pub fn cap_name(number: u32) -> Option<&'static str> {
    NAMES.get(usize::try_from(number).ok()?).copied()
}

/// One `--cap-add` or `--cap-drop` value: a capability or `ALL`, with
/// the text as given (which `inspect` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapName {
    given: String,
    /// `None` for `ALL`.
    number: Option<u8>,
}

impl CapName {
    /// The text as the user gave it.
    pub fn given(&self) -> &str {
        &self.given
    }

    pub fn is_all(&self) -> bool {
        self.number.is_none()
    }

    /// Whether both name one capability (or both `ALL`), however spelt.
    pub fn same(&self, other: &CapName) -> bool {
        self.number == other.number
    }
}

impl std::str::FromStr for CapName {
    type Err = CapError;

    fn from_str(s: &str) -> Result<CapName, CapError> {
        let number = if s.trim().eq_ignore_ascii_case("ALL") {
            None
        } else {
            Some(cap_number(s)?)
        };
        Ok(CapName {
            given: s.to_string(),
            number,
        })
    }
}

impl CapSet {
    pub fn empty() -> CapSet {
        CapSet(0)
    }

    /// Every capability burrow knows by name.
    pub fn all() -> CapSet {
        CapSet((1u64 << NAMES.len()) - 1)
    }

    pub fn docker_default() -> CapSet {
        let mut s = CapSet::empty();
        for n in DOCKER_DEFAULT {
            if let Ok(c) = cap_number(n) {
                s.insert(c);
            }
        }
        s
    }

    pub fn contains(self, cap: u8) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }

    pub fn insert(&mut self, cap: u8) {
        if cap < 64 {
            self.0 |= 1 << cap;
        }
    }

    pub fn remove(&mut self, cap: u8) {
        if cap < 64 {
            self.0 &= !(1 << cap);
        }
    }

    /// `CAP_` names in number order.
    pub fn names(self) -> Vec<String> {
        (0..NAMES.len())
            .filter(|&i| self.contains(i as u8))
            .map(|i| format!("CAP_{}", NAMES[i]))
            .collect()
    }

    /// Docker's `--cap-add`/`--cap-drop` on top of `self`: `ALL` in add
    /// starts from every capability and then drops; `ALL` in drop keeps
    /// only what is added; otherwise drops then adds.
    pub fn with_changes(self, add: &[CapName], drop: &[CapName]) -> CapSet {
        let add_all = add.iter().any(CapName::is_all);
        let mut set = if add_all {
            CapSet::all()
        } else if drop.iter().any(CapName::is_all) {
            CapSet::empty()
        } else {
            self
        };
        drop.iter()
            .filter_map(|c| c.number)
            .for_each(|c| set.remove(c));
        if !add_all {
            add.iter()
                .filter_map(|c| c.number)
                .for_each(|c| set.insert(c));
        }
        set
    }
}

impl Serialize for CapSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for CapSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut set = CapSet::empty();
        for n in names {
            set.insert(cap_number(&n).map_err(serde::de::Error::custom)?);
        }
        Ok(set)
    }
}

/// Drops every capability outside `keep` from the bounding set. Needs
/// CAP_SETPCAP, so it runs before the switch to the container's user.
pub(crate) fn drop_bounding_set(keep: CapSet) -> Result<(), (u8, rustix::io::Errno)> {
    // Capabilities newer than burrow's table are dropped too: they were not
    // asked for.
    for cap in 0..64u8 {
        if keep.contains(cap) {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number and no pointers.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            let e = rustix::io::Errno::from_raw_os_error(errno());
            if e == rustix::io::Errno::INVAL {
                // Past the kernel's last capability.
                break;
            }
            return Err((cap, e));
        }
    }
    Ok(())
}

/// Sets effective and permitted to `keep` (root) or nothing (any other
/// uid: the kernel already cleared them at setuid), clears inheritable
/// and ambient, so that execve grants the bounding set to root only.
pub(crate) fn set_process_caps(keep: CapSet, uid: u32) -> Result<(), rustix::io::Errno> {
    use rustix::thread::{set_capabilities, CapabilitySet, CapabilitySets};
    let granted = if uid == 0 { keep.0 } else { 0 };
    let set = CapabilitySet::from_bits_retain(granted);
    set_capabilities(
        None,
        CapabilitySets {
            effective: set,
            permitted: set,
            inheritable: CapabilitySet::empty(),
        },
    )?;
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r != 0 {
        return Err(rustix::io::Errno::from_raw_os_error(errno()));
    }
    Ok(())
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_set_has_the_well_known_mask() {
        assert_eq!(CapSet::docker_default().0, 0xa80425fb);
        assert_eq!(CapSet::docker_default().names().len(), 14);
    }

    #[test]
    fn names_parse_with_or_without_prefix_in_any_case() {
        assert_eq!(cap_number("CAP_SYS_ADMIN"), Ok(21));
        assert_eq!(cap_number("sys_admin"), Ok(21));
        assert_eq!(cap_number("checkpoint_restore"), Ok(40));
        assert_eq!(
            cap_number("CAP_FLY"),
            Err(CapError::Unknown("CAP_FLY".into()))
        );
    }

    fn caps(names: &[&str]) -> Vec<CapName> {
        names.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn add_and_drop_follow_docker() {
        let d = CapSet::docker_default();
        let s = d.with_changes(&caps(&["NET_ADMIN"]), &caps(&["chown"]));
        assert!(s.contains(12) && !s.contains(0) && s.contains(1));

        let s = d.with_changes(&caps(&["KILL"]), &caps(&["ALL"]));
        assert_eq!(s.names(), vec!["CAP_KILL"]);

        let s = d.with_changes(&caps(&["all"]), &caps(&["SYS_ADMIN"]));
        assert_eq!(s, {
            let mut a = CapSet::all();
            a.remove(21);
            a
        });

        assert_eq!(
            "NOPE".parse::<CapName>(),
            Err(CapError::Unknown("NOPE".into()))
        );
        assert_eq!(caps(&["cap_kill"])[0].given(), "cap_kill");
    }

    #[test]
    fn sets_serialise_as_names() {
        let mut s = CapSet::empty();
        s.insert(5);
        s.insert(0);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, r#"["CAP_CHOWN","CAP_KILL"]"#);
        assert_eq!(serde_json::from_str::<CapSet>(&text).unwrap(), s);
        assert!(serde_json::from_str::<CapSet>(r#"["CAP_X"]"#).is_err());
    }
}
