//! The oldest kernel burrow runs containers on, and the newer kernel
//! features it uses with the way each one degrades: the facts `doctor`,
//! `info` and the start of a sandbox judge a kernel release by. Pure data
//! and one comparison; never probes the kernel.

/// A kernel version, `(major, minor)`.
pub type Version = (u32, u32);

/// burrow's minimum kernel: the newest of the features with no fallback.
pub const FLOOR: Version = (5, 6);

/// Where a newer kernel feature is missing, what burrow does instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Without {
    /// Nothing: containers cannot run (the feature sets the floor).
    Required,
    /// It carries on another way, said in words.
    Fallback(&'static str),
}

/// One kernel feature burrow uses beyond what every supported kernel has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// The call or flag, as its manual page names it.
    pub name: &'static str,
    /// The first Linux release that has it.
    pub since: Version,
    /// What burrow uses it for.
    pub used_for: &'static str,
    pub without: Without,
}

/// The features newer than Linux 5.0 on the paths of `run` and `exec`,
/// oldest first.
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "the new mount API (fsopen, fsmount, move_mount, open_tree)",
        since: (5, 2),
        used_for: "mounting /proc, /dev, /sys, tmpfs and volumes detached, then attaching them",
        without: Without::Required,
    },
    Feature {
        name: "pidfd_open and clone3 with CLONE_PIDFD",
        since: (5, 3),
        used_for: "naming a container's processes without the races of a pid",
        without: Without::Required,
    },
    Feature {
        name: "SECCOMP_USER_NOTIF_FLAG_CONTINUE",
        since: (5, 5),
        used_for: "letting the calls the seccomp notifier looked at go on",
        without: Without::Required,
    },
    Feature {
        name: "openat2 with RESOLVE_IN_ROOT",
        since: (5, 6),
        used_for: "resolving the image's paths inside the container's root",
        without: Without::Required,
    },
    Feature {
        name: "pidfd_getfd",
        since: (5, 6),
        used_for: "taking a container's socket for a published port or a connect to the host",
        without: Without::Fallback(
            "the port is relayed and the connect goes through burrow's network stack",
        ),
    },
    Feature {
        name: "setns on a pidfd",
        since: (5, 8),
        used_for: "entering a running container (exec, cp, published ports)",
        without: Without::Fallback("its /proc/PID/ns files, checked against the pidfd"),
    },
    Feature {
        name: "close_range",
        since: (5, 9),
        used_for: "closing what a forked helper inherited",
        without: Without::Fallback("each fd /proc/self/fd lists"),
    },
    Feature {
        name: "SECCOMP_IOCTL_NOTIF_ADDFD",
        since: (5, 9),
        used_for: "handing a container a socket made on the host (direct ports, connects to \
                   the host)",
        without: Without::Fallback(
            "the port is relayed and the connect goes through burrow's network stack",
        ),
    },
    Feature {
        name: "overlayfs in a user namespace",
        since: (5, 11),
        used_for: "the container's root",
        without: Without::Fallback("fuse-overlayfs, else a private copy of the layers"),
    },
    Feature {
        name: "mount_setattr",
        since: (5, 12),
        used_for: "making detached mounts read-only",
        without: Without::Fallback("a read-only bind remount"),
    },
    Feature {
        name: "cgroup.kill",
        since: (5, 14),
        used_for: "killing every process of a container at once",
        without: Without::Fallback("freeze, kill each process, thaw"),
    },
];

/// The release's `(major, minor)`: `5.14.0-427.el9.x86_64` is (5, 14).
pub fn parse_release(release: &str) -> Option<Version> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The floor's release, as `uname -r` would start.
pub fn floor_text() -> String {
    format!("{}.{}", FLOOR.0, FLOOR.1)
}

/// A kernel older than `FLOOR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Linux {release} is older than {}, the oldest kernel burrow runs containers on: it has \
     no {}",
    floor_text(),
    missing_names(.missing)
)]
pub struct BelowFloor {
    pub release: String,
    /// The required features the kernel lacks, oldest first.
    pub missing: Vec<&'static Feature>,
}

fn missing_names(missing: &[&Feature]) -> String {
    missing
        .iter()
        .map(|f| format!("{} (Linux {}.{})", f.name, f.since.0, f.since.1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `release` is at the floor or above. A release that does not
/// parse passes: the calls themselves will say what is missing.
pub fn check(release: &str) -> Result<(), BelowFloor> {
    let Some(version) = parse_release(release) else {
        return Ok(());
    };
    if version >= FLOOR {
        return Ok(());
    }
    Err(BelowFloor {
        release: release.to_string(),
        missing: FEATURES
            .iter()
            .filter(|f| f.without == Without::Required && f.since > version)
            .collect(),
    })
}

/// The features `release` lacks that burrow works around, oldest first.
pub fn degraded(release: &str) -> Vec<&'static Feature> {
    let Some(version) = parse_release(release) else {
        return Vec::new();
    };
    FEATURES
        .iter()
        .filter(|f| matches!(f.without, Without::Fallback(_)) && f.since > version)
        .collect()
}

/// Forces the release judged by `running_release` (`5.4.0`): a seam for
/// tests, which prove the refusal on a kernel above the floor.
pub const FORCE_ENV: &str = "BURROW_TEST_KERNEL_RELEASE";

/// The running kernel's release (`uname -r`), or the one `FORCE_ENV` names.
pub fn running_release() -> String {
    match std::env::var(FORCE_ENV) {
        Ok(forced) if !forced.is_empty() => forced,
        _ => rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned(),
    }
}

/// `check` of the running kernel.
pub fn check_running() -> Result<(), BelowFloor> {
    check(&running_release())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_to_major_and_minor() {
        assert_eq!(parse_release("6.18.0"), Some((6, 18)));
        assert_eq!(parse_release("5.14.0-427.el9.x86_64"), Some((5, 14)));
        assert_eq!(parse_release("4.18.0-553.el8_10.x86_64"), Some((4, 18)));
        assert_eq!(parse_release("5.15.0-91-generic"), Some((5, 15)));
        assert_eq!(parse_release("nonsense"), None);
    }

    #[test]
    fn the_floor_is_the_newest_feature_without_a_fallback() {
        let newest = FEATURES
            .iter()
            .filter(|f| f.without == Without::Required)
            .map(|f| f.since)
            .max();
        assert_eq!(newest, Some(FLOOR));
        // Oldest first, as the lines of doctor list them.
        assert!(FEATURES.windows(2).all(|w| w[0].since <= w[1].since));
    }

    #[test]
    fn rhel_8_is_refused_naming_what_it_lacks_and_rhel_9_passes() {
        let e = check("4.18.0-553.el8_10.x86_64").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("Linux 4.18.0-553.el8_10.x86_64 is older than 5.6"),
            "{text}"
        );
        for name in ["pidfd_open", "openat2", "fsopen", "(Linux 5.3)"] {
            assert!(text.contains(name), "{name} in {text}");
        }
        // Ubuntu 20.04's first kernel: what 5.5 and 5.6 brought, only.
        let e = check("5.4.0-150-generic").unwrap_err();
        let names: Vec<_> = e.missing.iter().map(|f| f.since).collect();
        assert_eq!(names, [(5, 5), (5, 6)]);
        assert_eq!(check("5.14.0-427.el9.x86_64"), Ok(()));
        assert_eq!(check("5.6.0"), Ok(()));
        assert_eq!(check("6.18.0"), Ok(()));
        assert_eq!(check("unknown"), Ok(()));
    }

    #[test]
    fn kernels_above_the_floor_list_what_they_work_around() {
        let names = |r: &str| degraded(r).iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(
            names("5.10.0-32-amd64"),
            [
                "overlayfs in a user namespace",
                "mount_setattr",
                "cgroup.kill"
            ]
        );
        assert_eq!(names("5.15.0-91-generic"), Vec::<&str>::new());
        assert!(names("5.6.0").contains(&"setns on a pidfd"));
        assert!(names("5.5.0").contains(&"pidfd_getfd"));
    }
}
