//! Why this host refuses user namespaces (a sysctl, AppArmor) and the fix
//! for each; what lets newuidmap and newgidmap write maps (setuid, file
//! capabilities). Reads the host; changes nothing.

use super::find_program;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub(super) fn userns_hint(err: nix::Error) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/burrow"));
    unshare_hint(err, &read_sysctl, &exe)
}

/// The setting that keeps unprivileged users from creating user
/// namespaces on this host, from the sysctls that control it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsernsBlocker {
    /// Ubuntu 23.10 and later: `kernel.apparmor_restrict_unprivileged_userns=1`.
    AppArmor,
    /// `user.max_user_namespaces=0`.
    MaxUserNamespaces,
    /// Debian's and Arch's older `kernel.unprivileged_userns_clone=0`.
    UnprivilegedClone,
}

impl UsernsBlocker {
    /// Which setting blocks user namespaces, reading sysctls (by their
    /// dotted names) through `sysctl`.
    pub fn find(sysctl: &dyn Fn(&str) -> Option<String>) -> Option<UsernsBlocker> {
        if sysctl("kernel.apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
            Some(UsernsBlocker::AppArmor)
        } else if sysctl("user.max_user_namespaces").as_deref() == Some("0") {
            Some(UsernsBlocker::MaxUserNamespaces)
        } else if sysctl("kernel.unprivileged_userns_clone").as_deref() == Some("0") {
            Some(UsernsBlocker::UnprivilegedClone)
        } else {
            None
        }
    }

    /// What an admin does about it, for burrow installed at `exe`.
    pub fn fix(self, exe: &Path) -> String {
        match self {
            UsernsBlocker::AppArmor => format!(
                "an admin installs this AppArmor profile as /etc/apparmor.d/burrow and loads it \
                 with `sudo apparmor_parser -r /etc/apparmor.d/burrow` (burrow's packages ship \
                 it), or sets the sysctl kernel.apparmor_restrict_unprivileged_userns=0, which \
                 lifts the restriction for every program:\n\n{}",
                apparmor_profile(exe)
            ),
            UsernsBlocker::MaxUserNamespaces => "an admin sets the sysctl \
                user.max_user_namespaces to a value above 0 (`sudo sysctl -w \
                user.max_user_namespaces=28633`, and the same line in /etc/sysctl.d/ to keep it)"
                .into(),
            UsernsBlocker::UnprivilegedClone => "an admin sets the sysctl \
                kernel.unprivileged_userns_clone=1 (`sudo sysctl -w \
                kernel.unprivileged_userns_clone=1`, and the same line in /etc/sysctl.d/ to keep it)"
                .into(),
        }
    }

    /// The sysctl and its value, as the user sees it.
    pub fn setting(self) -> &'static str {
        match self {
            UsernsBlocker::AppArmor => {
                "AppArmor restricts them (kernel.apparmor_restrict_unprivileged_userns=1)"
            }
            UsernsBlocker::MaxUserNamespaces => "user.max_user_namespaces=0",
            UsernsBlocker::UnprivilegedClone => "kernel.unprivileged_userns_clone=0",
        }
    }
}

/// The hint after a failed `unshare(CLONE_NEWUSER)`: the setting that
/// blocks it and its fix. `sysctl` reads a sysctl by its dotted name; `exe`
/// is the burrow binary an AppArmor profile must name.
pub fn unshare_hint(
    err: nix::Error,
    sysctl: &dyn Fn(&str) -> Option<String>,
    exe: &Path,
) -> String {
    match err {
        nix::Error::EINVAL => " (the process has threads; burrow forks before starting any)".into(),
        nix::Error::EPERM | nix::Error::ENOSPC | nix::Error::EACCES => {
            let mut hint = String::from("; unprivileged user namespaces are disabled here");
            if let Some(blocker) = UsernsBlocker::find(sysctl) {
                hint.push_str(&format!(": {}; {}", blocker.setting(), blocker.fix(exe)));
            }
            hint
        }
        _ => String::new(),
    }
}

/// The AppArmor profile that lets burrow at `exe` create user namespaces
/// and confines nothing else. `packaging/apparmor/burrow` is this profile
/// for `/usr/bin/burrow`.
pub fn apparmor_profile(exe: &Path) -> String {
    let exe = exe.to_string_lossy();
    let exe = if exe.contains(|c: char| c.is_whitespace() || c == '"') {
        format!("\"{}\"", exe.replace('"', "\\\""))
    } else {
        exe.into_owned()
    };
    format!(
        "# burrow creates user namespaces without privileges of its own. Where\n\
         # kernel.apparmor_restrict_unprivileged_userns=1 (Ubuntu 23.10 and later)\n\
         # this profile allows it, and confines nothing else.\n\
         # Install as /etc/apparmor.d/burrow, then: sudo apparmor_parser -r /etc/apparmor.d/burrow\n\
         \n\
         abi <abi/4.0>,\n\
         include <tunables/global>\n\
         \n\
         profile burrow {exe} flags=(unconfined) {{\n\
         \x20 userns,\n\
         \n\
         \x20 # Site-specific additions and overrides. See local/README for details.\n\
         \x20 include if exists <local/burrow>\n\
         }}\n"
    )
}

/// After an EPERM or EACCES inside a new user namespace: the AppArmor fix
/// when AppArmor's restriction is on (it lets `unshare` succeed and then
/// denies the namespace its capabilities), else nothing.
pub fn restricted_hint(err: Option<nix::Error>) -> String {
    if !matches!(err, Some(nix::Error::EPERM | nix::Error::EACCES)) {
        return String::new();
    }
    match UsernsBlocker::find(&read_sysctl) {
        Some(b @ UsernsBlocker::AppArmor) => {
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/burrow"));
            format!("; {}; {}", b.setting(), b.fix(&exe))
        }
        _ => String::new(),
    }
}

/// A sysctl by its dotted name (`user.max_user_namespaces`), trimmed;
/// `None` where this kernel has no such sysctl.
pub fn read_sysctl(name: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// What makes newuidmap or newgidmap able to write another process's map:
/// setuid root, or the file capability it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelperFacts {
    pub program: &'static str,
    /// Where `which` finds it; `None` when it is not installed.
    pub path: Option<PathBuf>,
    pub setuid_root: bool,
    /// Its file capabilities as getcap shows them (`cap_setuid=ep`), if any.
    pub file_caps: Option<String>,
    /// The capability it needs when not setuid root.
    pub needs: &'static str,
    /// Whether the needed capability is in its permitted set.
    pub has_needed_cap: bool,
}

impl HelperFacts {
    /// newuidmap or newgidmap as found on PATH.
    pub fn of(program: &'static str) -> HelperFacts {
        HelperFacts::at(program, find_program(program))
    }

    pub(super) fn at(program: &'static str, path: Option<PathBuf>) -> HelperFacts {
        use std::os::unix::fs::MetadataExt;
        let (needs, bit) = if program == "newgidmap" {
            ("cap_setgid", CAP_SETGID)
        } else {
            ("cap_setuid", CAP_SETUID)
        };
        let mut facts = HelperFacts {
            program,
            path: path.clone(),
            setuid_root: false,
            file_caps: None,
            needs,
            has_needed_cap: false,
        };
        let Some(path) = path else {
            return facts;
        };
        if let Ok(md) = std::fs::metadata(&path) {
            facts.setuid_root = md.uid() == 0 && md.mode() & 0o4000 != 0;
        }
        let mut buf = [0u8; 64];
        if let Ok(n) = rustix::fs::getxattr(&path, "security.capability", &mut buf[..]) {
            if let Some(caps) = FileCaps::parse(&buf[..n]) {
                facts.has_needed_cap = caps.permitted & (1 << bit) != 0;
                facts.file_caps = Some(caps.to_string());
            }
        }
        facts
    }

    /// Whether it can write maps of subordinate ids.
    pub fn usable(&self) -> bool {
        self.path.is_some() && (self.setuid_root || self.has_needed_cap)
    }
}

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// A `security.capability` extended attribute (struct vfs_cap_data, v1 to
/// v3): the permitted set and whether it is raised to effective at exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCaps {
    pub permitted: u64,
    pub effective: bool,
}

impl FileCaps {
    pub fn parse(raw: &[u8]) -> Option<FileCaps> {
        let word = |i: usize| -> Option<u32> {
            let b = raw.get(i * 4..i * 4 + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let magic = word(0)?;
        let effective = magic & 1 != 0;
        let permitted = match magic & 0xFF00_0000 {
            0x0100_0000 => u64::from(word(1)?),
            0x0200_0000 | 0x0300_0000 => u64::from(word(1)?) | u64::from(word(3)?) << 32,
            _ => return None,
        };
        Some(FileCaps {
            permitted,
            effective,
        })
    }
}

impl std::fmt::Display for FileCaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = (0..64)
            .filter(|bit| self.permitted & (1u64 << bit) != 0)
            .map(|bit| match crate::sandbox::caps::cap_name(bit) {
                Some(n) => format!("cap_{}", n.to_ascii_lowercase()),
                None => format!("cap_{bit}"),
            })
            .collect();
        write!(
            f,
            "{}={}",
            names.join(","),
            if self.effective { "ep" } else { "p" }
        )
    }
}
