//! `run`/`create` flags that burrow takes so that `alias docker=burrow`
//! does not trip on them, though they mean nothing here: the ones to
//! refuse (each with why, in one table) and the ones taken with a warning,
//! as a cgroup v2 host discards them. Nothing here acts on a container.

/// A flag burrow refuses, but for the values it `accepts` (the ones that
/// ask for what burrow does anyway).
struct Refusal {
    flag: &'static str,
    accepts: &'static [&'static str],
    reason: &'static str,
}

/// Every refused flag and why, in the order `--help` lists them.
const REFUSALS: &[Refusal] = &[
    Refusal {
        flag: "--cpu-rt-period",
        accepts: &[],
        reason: "cgroup v2, which burrow uses, has no real-time CPU controller",
    },
    Refusal {
        flag: "--cpu-rt-runtime",
        accepts: &[],
        reason: "cgroup v2, which burrow uses, has no real-time CPU controller",
    },
    Refusal {
        flag: "--cpu-count",
        accepts: &[],
        reason: "a Windows containers' flag; use --cpus",
    },
    Refusal {
        flag: "--cpu-percent",
        accepts: &[],
        reason: "a Windows containers' flag; use --cpus",
    },
    Refusal {
        flag: "--gpus",
        accepts: &[],
        reason: "burrow has no GPU support of its own; give the container the GPU's device nodes with --device (e.g. --device /dev/dri)",
    },
    Refusal {
        flag: "--storage-opt",
        accepts: &[],
        reason: "a size of the writable layer needs a quota-capable file system (xfs with project quotas) that burrow does not manage",
    },
    Refusal {
        flag: "--link",
        accepts: &[],
        reason: "legacy container links are not supported; put the containers on a network of their own (`burrow network create NET`, then --network NET for each), where each reaches the others by name",
    },
    Refusal {
        flag: "--link-local-ip",
        accepts: &[],
        reason: "burrow's networks give a container no link-local address of your choosing",
    },
    Refusal {
        flag: "--isolation",
        accepts: &["default"],
        reason: "only `default` exists on Linux",
    },
    Refusal {
        flag: "--volume-driver",
        accepts: &["local"],
        reason: "burrow's volumes have one driver, `local`",
    },
    Refusal {
        flag: "--runtime",
        accepts: &["burrow"],
        reason: "burrow runs its containers itself, with no OCI runtime to choose (only `burrow` is taken)",
    },
    Refusal {
        flag: "--cgroup-parent",
        accepts: &[],
        reason: "a rootless container's cgroup is the one systemd delegates to you (a scope of its own) or the delegated cgroup burrow runs in; burrow places it under no other parent",
    },
    Refusal {
        flag: "--disable-content-trust",
        accepts: &["true", "1", "t", "T", "TRUE", "True"],
        reason: "burrow does not verify image signatures (content trust); images are checked against their digests",
    },
];

/// `--kernel-memory` and `--oom-kill-disable`: what is said when they are
/// discarded, a cgroup v2 host's words then burrow's reason.
const KERNEL_MEMORY_DISCARDED: &str = "WARNING: Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded: cgroup v2, which burrow uses, has no kernel memory limit of its own (--memory counts kernel memory)";
const OOM_KILL_DISABLE_DISCARDED: &str = "WARNING: Your kernel does not support OomKillDisable. OomKillDisable discarded: cgroup v2, which burrow uses, cannot turn the OOM killer off for a container";

/// The flags of this file, as `run` and `create` take them.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct DockerOnlyFlags {
    /// Refused: cgroup v2 has no real-time CPU controller.
    #[arg(long, value_name = "MICROSECONDS", allow_hyphen_values = true)]
    cpu_rt_period: Option<String>,
    /// Refused: cgroup v2 has no real-time CPU controller.
    #[arg(long, value_name = "MICROSECONDS", allow_hyphen_values = true)]
    cpu_rt_runtime: Option<String>,
    /// Refused: Windows only; use --cpus.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    cpu_count: Option<String>,
    /// Refused: Windows only; use --cpus.
    #[arg(long, value_name = "PERCENT", allow_hyphen_values = true)]
    cpu_percent: Option<String>,
    /// Refused: give the GPU's device nodes with --device.
    #[arg(long, value_name = "GPUS")]
    gpus: Option<String>,
    /// Refused: a writable layer's size needs a quota-capable file system burrow does not manage.
    #[arg(long, value_name = "OPT")]
    storage_opt: Vec<String>,
    /// Refused: use a network (`burrow network create`), where containers reach each other by name.
    #[arg(long, value_name = "CONTAINER[:ALIAS]")]
    link: Vec<String>,
    /// Refused: burrow's networks give no link-local address of your choosing.
    #[arg(long, value_name = "ADDR")]
    link_local_ip: Vec<String>,
    /// Isolation technology: only default (anything else is refused).
    #[arg(long, value_name = "default")]
    isolation: Option<String>,
    /// Volume driver: only local (anything else is refused).
    #[arg(long, value_name = "local")]
    volume_driver: Option<String>,
    /// Runtime: only burrow, which runs its containers itself (anything else is refused).
    #[arg(long, value_name = "burrow")]
    runtime: Option<String>,
    /// Refused: a rootless container's cgroup is the one systemd delegates (or the one burrow runs in).
    #[arg(long, value_name = "CGROUP")]
    cgroup_parent: Option<String>,
    /// Skip image verification: true (the default; burrow verifies no signatures); false is refused.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    disable_content_trust: Option<String>,
    /// Taken and discarded with a warning: cgroup v2 has no kernel memory limit (--memory counts it).
    #[arg(long, value_name = "BYTES", value_parser = crate::cgroup::limits::parse_bytes)]
    kernel_memory: Option<u64>,
    /// Taken and discarded with a warning: cgroup v2 cannot turn the OOM killer off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    oom_kill_disable: Option<bool>,
}

impl DockerOnlyFlags {
    /// The flags given, each with its values.
    fn given(&self) -> Vec<(&'static str, Vec<&str>)> {
        fn one(v: &Option<String>) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        fn many(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        vec![
            ("--cpu-rt-period", one(&self.cpu_rt_period)),
            ("--cpu-rt-runtime", one(&self.cpu_rt_runtime)),
            ("--cpu-count", one(&self.cpu_count)),
            ("--cpu-percent", one(&self.cpu_percent)),
            ("--gpus", one(&self.gpus)),
            ("--storage-opt", many(&self.storage_opt)),
            ("--link", many(&self.link)),
            ("--link-local-ip", many(&self.link_local_ip)),
            ("--isolation", one(&self.isolation)),
            ("--volume-driver", one(&self.volume_driver)),
            ("--runtime", one(&self.runtime)),
            ("--cgroup-parent", one(&self.cgroup_parent)),
            ("--disable-content-trust", one(&self.disable_content_trust)),
        ]
    }

    /// The first refused flag given, as the usage error (exit 125) that
    /// names it, its value and why.
    pub fn check(&self) -> Result<(), String> {
        for (flag, values) in self.given() {
            for value in values {
                refused(flag, value)?;
            }
        }
        Ok(())
    }

    /// The warnings for what was taken and discarded, one line each.
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.kernel_memory.is_some_and(|n| n > 0) {
            out.push(KERNEL_MEMORY_DISCARDED);
        }
        // Asking for the OOM killer on is what burrow does anyway.
        if self.oom_kill_disable == Some(true) {
            out.push(OOM_KILL_DISABLE_DISCARDED);
        }
        out
    }
}

/// `Err` with the message when `flag VALUE` is refused.
fn refused(flag: &str, value: &str) -> Result<(), String> {
    match REFUSALS.iter().find(|r| r.flag == flag) {
        Some(r) if !r.accepts.contains(&value) => {
            Err(format!("{flag} {value:?} is not supported: {}", r.reason))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cmd {
        #[command(flatten)]
        flags: DockerOnlyFlags,
    }

    fn parse(args: &[&str]) -> DockerOnlyFlags {
        let mut argv = vec!["burrow"];
        argv.extend_from_slice(args);
        Cmd::try_parse_from(argv).unwrap().flags
    }

    #[test]
    fn every_refused_flag_says_why_and_its_accepted_values_pass() {
        for r in REFUSALS {
            let err = refused(r.flag, "x").unwrap_err();
            assert!(
                err.starts_with(&format!("{} \"x\" is not supported: ", r.flag)),
                "{err}"
            );
            assert!(err.ends_with(r.reason), "{err}");
            for ok in r.accepts {
                assert_eq!(refused(r.flag, ok), Ok(()), "{} {ok}", r.flag);
            }
        }
        // Each flag of the struct is in the table, and only those.
        let given: Vec<&str> = DockerOnlyFlags::default()
            .given()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        let table: Vec<&str> = REFUSALS.iter().map(|r| r.flag).collect();
        assert_eq!(given, table);
    }

    #[test]
    fn the_defaults_docker_users_pass_are_taken() {
        for args in [
            &["--isolation", "default"][..],
            &["--volume-driver", "local"][..],
            &["--runtime", "burrow"][..],
            &["--disable-content-trust"][..],
            &["--disable-content-trust=true"][..],
            &["--oom-kill-disable=false"][..],
            &["--kernel-memory", "0"][..],
        ] {
            let f = parse(args);
            assert_eq!(f.check(), Ok(()), "{args:?}");
            assert!(f.warnings().is_empty(), "{args:?}");
        }
        for (args, says) in [
            (&["--disable-content-trust=false"][..], "image signatures"),
            (&["--runtime", "runc"][..], "no OCI runtime"),
            (&["--isolation", "hyperv"][..], "only `default`"),
            (&["--volume-driver", "nfs"][..], "one driver"),
            (
                &["--link", "db:db", "--link", "x"][..],
                "burrow network create",
            ),
            (&["--storage-opt", "size=10G"][..], "quota"),
            (&["--gpus", "all"][..], "--device"),
            (&["--cpu-rt-runtime", "950000"][..], "real-time"),
            (&["--cpu-percent", "50"][..], "Windows"),
            (&["--cgroup-parent", "/docker"][..], "systemd"),
        ] {
            let err = parse(args).check().unwrap_err();
            assert!(err.starts_with(args[0].split('=').next().unwrap()), "{err}");
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn discarded_flags_warn_once_each() {
        let f = parse(&["--oom-kill-disable", "--kernel-memory", "64m"]);
        assert_eq!(f.check(), Ok(()));
        assert_eq!(
            f.warnings(),
            vec![KERNEL_MEMORY_DISCARDED, OOM_KILL_DISABLE_DISCARDED]
        );
        assert!(Cmd::try_parse_from(["burrow", "--kernel-memory", "lots"]).is_err());
    }
}
