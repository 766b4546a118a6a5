//! clap value parsers: each flag's text becomes its type here, at the
//! edge, so that nothing below re-parses it. A value that does not parse
//! is a `FlagError`, whose message already names the flag; burrow prints
//! it as its own usage error (`Error: ...`, exit 125), as it did when the
//! flags were checked after parsing.

use crate::container::run::{parse_mount, parse_tmpfs, parse_volume, SpecError};
use crate::container::spec::{RestartPolicy, SecurityOpt, UserMount, UsernsMode};
use crate::net::{self, NetworkMode, PublishedPort};
use crate::sandbox::CapName;
use std::fmt;
use std::net::IpAddr;

/// A flag's value that does not parse, said as burrow says it.
#[derive(Debug)]
pub struct FlagError(String);

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlagError {}

fn flag<T, E: fmt::Display>(r: Result<T, E>) -> Result<T, FlagError> {
    r.map_err(|e| FlagError(e.to_string()))
}

/// How a command line that does not parse ends: a `FlagError` as one
/// `Error: ` line, anything else as clap says it. Returns the exit status
/// (125, burrow's own failure; 0 for --help and --version).
pub fn report_parse_error(e: &clap::Error) -> i32 {
    let ours = std::error::Error::source(e).and_then(|s| s.downcast_ref::<FlagError>());
    match ours {
        Some(f) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            eprintln!("Error: {f}");
            125
        }
        _ => {
            let _ = e.print();
            if e.use_stderr() {
                125
            } else {
                0
            }
        }
    }
}

/// The published ports of one `-p` (a range gives several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish(pub Vec<PublishedPort>);

/// `-p [IP:]HOST:CTR[/PROTO]`.
pub fn publish(s: &str) -> Result<Publish, FlagError> {
    flag(net::parse_publish(s)).map(Publish)
}

/// The ports of one `--expose` (a range gives several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expose(pub Vec<net::ExposedPort>);

/// `--expose PORT[-PORT][/PROTO]`.
pub fn expose(s: &str) -> Result<Expose, FlagError> {
    let r: net::PortRange = s
        .parse()
        .map_err(|e: net::NetError| FlagError(format!("--expose: {e}")))?;
    Ok(Expose(r.ports().collect()))
}

/// `--platform OS/ARCH[/VARIANT]` of `run`, `create` and `build`: this
/// machine's only, as burrow runs no emulator.
pub fn this_platform(s: &str) -> Result<String, FlagError> {
    let wanted = crate::image::registry::Platform::parse(s)
        .map_err(|e| FlagError(format!("--platform {s:?}: {e}")))?;
    let host = crate::image::registry::Platform::host();
    if !wanted.runs_here() {
        return Err(FlagError(format!(
            "--platform {s}: burrow runs and builds for this machine's platform only ({}/{}), \
             as it runs no emulator",
            host.os, host.architecture
        )));
    }
    Ok(s.to_string())
}

/// A point in time as `logs --since`/`--until` take it (RFC 3339, Unix
/// seconds, or a Go duration before now), in nanoseconds since the epoch.
pub fn time_point(s: &str) -> Result<u64, FlagError> {
    crate::time::point(s, crate::time::now_ns()).ok_or_else(|| {
        FlagError(format!(
            "invalid time {s:?}: RFC 3339, Unix seconds or a duration such as 10m"
        ))
    })
}

/// `--network`.
pub fn network(s: &str) -> Result<NetworkMode, FlagError> {
    flag(s.parse())
}

/// `--ipc`.
pub fn ipc(s: &str) -> Result<crate::container::spec::IpcMode, FlagError> {
    flag(s.parse())
}

/// `--uts`.
pub fn uts(s: &str) -> Result<crate::container::spec::NsMode, FlagError> {
    flag(crate::container::spec::NsMode::parse("uts", s))
}

/// `--pid`.
pub fn pid(s: &str) -> Result<crate::container::spec::NsMode, FlagError> {
    flag(crate::container::spec::NsMode::parse("pid", s))
}

/// `--cgroupns`.
pub fn cgroupns(s: &str) -> Result<crate::container::spec::CgroupnsMode, FlagError> {
    flag(s.parse())
}

/// `--restart`.
pub fn restart(s: &str) -> Result<RestartPolicy, FlagError> {
    flag(s.parse())
}

/// `--dns IP`.
pub fn dns(s: &str) -> Result<IpAddr, FlagError> {
    s.parse()
        .map_err(|_| FlagError(net::NetError::Dns(s.to_string()).to_string()))
}

/// `--dns-search DOMAIN`: a domain name, or `.` (no search domains).
pub fn dns_search(s: &str) -> Result<String, FlagError> {
    flag(net::dns::check_search_domain(s).map(|()| s.to_string()))
}

/// `--dns-option OPT`: one word of a resolv.conf `options` line.
pub fn dns_option(s: &str) -> Result<String, FlagError> {
    flag(net::dns::check_option(s).map(|()| s.to_string()))
}

/// `--annotation KEY=VALUE` (KEY alone: an empty value, as docker's).
pub fn annotation(s: &str) -> Result<(String, String), FlagError> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.trim().is_empty() {
        return Err(FlagError(format!(
            "invalid --annotation {s:?}: expected KEY=VALUE with a key"
        )));
    }
    Ok((k.to_string(), v.to_string()))
}

/// `--mac-address`: a unicast MAC.
pub fn mac_address(s: &str) -> Result<[u8; 6], FlagError> {
    flag(net::parse_mac(s))
}

/// `--add-host NAME:IP`.
pub fn add_host(s: &str) -> Result<(String, IpAddr), FlagError> {
    flag(net::parse_add_host(s))
}

fn cwd() -> Result<std::path::PathBuf, FlagError> {
    std::env::current_dir().map_err(|e| FlagError(format!("the current directory: {e}")))
}

/// `-v HOST:CONTAINER[:ro]`, relative to the current directory.
pub fn volume(s: &str) -> Result<UserMount, FlagError> {
    flag::<_, SpecError>(parse_volume(s, &cwd()?))
}

/// `--device HOST[:CONTAINER][:PERMS]`, a relative host path taken from
/// the current directory.
pub fn device(s: &str) -> Result<crate::container::spec::DeviceMapping, FlagError> {
    flag::<_, SpecError>(crate::container::run::parse_device(s, &cwd()?))
}

/// `--mount type=...`, relative to the current directory.
pub fn mount(s: &str) -> Result<UserMount, FlagError> {
    flag::<_, SpecError>(parse_mount(s, &cwd()?))
}

/// `--tmpfs PATH[:size=...,mode=...]`.
pub fn tmpfs(s: &str) -> Result<UserMount, FlagError> {
    flag::<_, SpecError>(parse_tmpfs(s))
}

/// `--stop-signal`: a name (SIGTERM, TERM) or a number.
pub fn signal(s: &str) -> Result<i32, FlagError> {
    crate::sandbox::signal_number(s)
        .ok_or_else(|| FlagError(SpecError::StopSignalFlag(s.to_string()).to_string()))
}

/// `stop -s`, `restart -s`: a signal by name or number.
pub fn any_signal(s: &str) -> Result<i32, FlagError> {
    crate::sandbox::signal_number(s).ok_or_else(|| {
        FlagError(format!(
            "unknown signal {s:?}: a signal name (SIGTERM, TERM) or number"
        ))
    })
}

/// `--pull always|missing|never|newer`.
pub fn pull(s: &str) -> Result<crate::container::run::PullPolicy, FlagError> {
    s.parse().map_err(FlagError)
}

/// `--proc-view`.
pub fn proc_view(s: &str) -> Result<crate::container::run::ProcViewMode, FlagError> {
    s.parse().map_err(FlagError)
}

/// `--ulimit NAME=SOFT[:HARD]`.
pub fn ulimit(s: &str) -> Result<crate::container::spec::Rlimit, FlagError> {
    flag(crate::container::spec::parse_ulimit(s))
}

/// `--shm-size`: a size as docker reads it (`64m`, `1g`, bytes).
pub fn size(s: &str) -> Result<u64, FlagError> {
    match crate::cgroup::limits::parse_bytes(s) {
        Ok(0) | Err(_) => Err(FlagError(format!(
            "invalid size {s:?}: a number of bytes above 0, or with k, m, g"
        ))),
        Ok(n) => Ok(n),
    }
}

/// `--sysctl NAME=VALUE`, namespaced ones only.
pub fn sysctl(s: &str) -> Result<(String, String), FlagError> {
    flag(crate::container::spec::parse_sysctl(s))
}

/// `--log-driver`.
pub fn log_driver(s: &str) -> Result<crate::container::spec::LogDriver, FlagError> {
    s.parse().map_err(FlagError)
}

/// `--log-opt KEY=VALUE`.
pub fn log_opt(s: &str) -> Result<crate::container::spec::LogOpt, FlagError> {
    s.parse().map_err(FlagError)
}

/// `--detach-keys`.
pub fn detach_keys(s: &str) -> Result<crate::container::spec::DetachKeys, FlagError> {
    s.parse().map_err(FlagError)
}

/// `-a/--attach STDIN|STDOUT|STDERR`.
pub fn std_stream(s: &str) -> Result<crate::container::spec::StdStream, FlagError> {
    s.parse().map_err(FlagError)
}

/// `--userns`.
pub fn userns(s: &str) -> Result<UsernsMode, FlagError> {
    flag(s.parse::<UsernsMode>())
}

/// `--userns` as clap takes it: parsed by [`userns`], its values named
/// for help and completion.
#[derive(Debug, Clone, Copy)]
pub struct UsernsParser;

impl clap::builder::TypedValueParser for UsernsParser {
    type Value = UsernsMode;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<UsernsMode, clap::Error> {
        let parse: fn(&str) -> Result<UsernsMode, FlagError> = userns;
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        use clap::builder::PossibleValue;
        Some(Box::new(
            [
                PossibleValue::new("keep-id").help("your uid and gid inside are yours outside"),
                PossibleValue::new("emulate").help(
                    "you as root and no other id, root emulated (chown, su and apt work, the \
                     owners asked for kept for commit): what a user without subordinate ids gets",
                ),
                PossibleValue::new("host").hide(true),
            ]
            .into_iter(),
        ))
    }
}

/// `--security-opt` (a seccomp profile's file is read here).
pub fn security_opt(s: &str) -> Result<SecurityOpt, FlagError> {
    flag(s.parse::<SecurityOpt>())
}

/// `--cap-add`: a capability (`NET_ADMIN`, `cap_net_admin`) or ALL.
pub fn cap_add(s: &str) -> Result<CapName, FlagError> {
    s.parse().map_err(|e| FlagError(format!("--cap-add: {e}")))
}

/// `--cap-drop`: a capability or ALL.
pub fn cap_drop(s: &str) -> Result<CapName, FlagError> {
    s.parse().map_err(|e| FlagError(format!("--cap-drop: {e}")))
}

/// `prune --filter`: until=TIME (durations count back from now),
/// label=KEY[=VALUE], label!=KEY[=VALUE].
pub fn prune_filter(s: &str) -> Result<crate::container::filter::PruneFilter, FlagError> {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    flag(crate::container::filter::PruneFilter::parse(s, now_ns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Flags {
        #[arg(long, value_parser = network, default_value = "user")]
        network: NetworkMode,
        #[arg(short = 'p', value_parser = publish)]
        publish: Vec<Publish>,
        #[arg(long, value_parser = restart)]
        restart: Option<RestartPolicy>,
        #[arg(long, value_parser = tmpfs)]
        tmpfs: Vec<UserMount>,
    }

    #[test]
    fn flags_parse_into_their_types_and_errors_keep_burrows_words() {
        let f = Flags::try_parse_from([
            "x",
            "--network",
            "none",
            "-p",
            "8000-8001:80-81/udp",
            "--restart",
            "on-failure:2",
            "--tmpfs",
            "/t:size=1m",
        ])
        .unwrap();
        assert_eq!(f.network, NetworkMode::None);
        assert_eq!(f.publish[0].0.len(), 2);
        assert_eq!(f.publish[0].0[1].host_port, 8001);
        assert_eq!(f.restart, Some(RestartPolicy::OnFailure(Some(2))));
        assert_eq!(
            f.tmpfs,
            [UserMount::Tmpfs {
                target: "/t".into(),
                size: Some(1 << 20),
                mode: None
            }]
        );
        for (args, says) in [
            (["--network", "bo gus"], "unknown --network \"bo gus\""),
            (
                ["--restart", "sometimes"],
                "invalid --restart \"sometimes\"",
            ),
            (["--tmpfs", "relative"], "invalid --tmpfs \"relative\""),
            (["-p", "80:80/sctp"], "invalid --publish \"80:80/sctp\""),
        ] {
            let e = Flags::try_parse_from(std::iter::once("x").chain(args)).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
            let source = std::error::Error::source(&e).unwrap();
            let ours = source.downcast_ref::<FlagError>().expect("a FlagError");
            assert!(ours.to_string().starts_with(says), "{ours}");
        }
    }
}
