//! Command-line definitions (clap): one file per command family, each an
//! `exec` that turns parsed arguments into one call of the library. No
//! logic lives here beyond formatting output.

pub mod build;
pub mod complete;
pub mod compose;
pub mod container;
pub mod docker_only;
pub mod doctor;
pub mod format;
pub mod image;
pub mod kube;
pub mod network;
pub mod pod;
pub mod registry;
pub mod resources;
pub mod run;
pub mod system;
pub mod values;
pub mod volume;

use crate::container::images::Context;
use crate::Result;
use clap::{Parser, Subcommand};

/// Rootless, daemonless containers.
#[derive(Parser, Debug)]
#[command(name = "burrow", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a new container.
    Run(Box<run::Run>),
    /// Create a container without starting it (every flag of run but -d).
    Create(Box<run::Create>),
    /// List containers.
    Ps(run::Ps),
    /// Remove containers.
    Rm(run::Rm),
    /// List a container's published ports.
    Port(run::Port),
    /// Freeze every process of running containers.
    Pause(resources::Pause),
    /// Thaw paused containers.
    Unpause(resources::Unpause),
    /// Show containers' CPU, memory, network, block I/O and process use.
    Stats(resources::Stats),
    /// Change the resource limits of running containers.
    Update(resources::Update),
    /// Run a command in a running container.
    Exec(container::Exec),
    /// Print a container's output (stdout and stderr to their own streams).
    Logs(container::Logs),
    /// Stop containers: the image's stop signal, then SIGKILL after a timeout.
    Stop(container::Stop),
    /// Send a signal to containers.
    Kill(container::Kill),
    /// Start stopped containers again (same writable layer).
    Start(container::Start),
    /// Stop and start containers.
    Restart(container::Restart),
    /// Wait for containers to exit; print their exit status.
    Wait(container::Wait),
    /// Attach to a detached container's output (and stdin).
    Attach(container::Attach),
    /// List the processes of a container.
    Top(container::Top),
    /// Rename a container.
    Rename(container::Rename),
    /// Copy files between a container (CONTAINER:PATH) and the host.
    Cp(container::Cp),
    /// List what a container changed: A added, C changed, D deleted.
    Diff(container::Diff),
    /// Write a container's filesystem as a tarball.
    Export(container::Export),
    /// Make an image of a container's changes on top of its image.
    Commit(container::Commit),
    /// Build an image from a Containerfile (or Dockerfile) and a context directory.
    Build(build::Build),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// List images.
    Images(image::List),
    /// Import a root filesystem tarball (plain, gzip or zstd) as an image.
    Import(image::Import),
    /// Load images from a docker-archive or an OCI layout (directory or tar).
    Load(image::Load),
    /// Save images to a docker-archive or an OCI layout.
    Save(image::Save),
    /// Remove images.
    Rmi(image::Remove),
    /// Give an image another name.
    Tag(image::Tag),
    /// Show low-level information on containers or images, as JSON.
    Inspect(run::Inspect),
    /// Pull an image from a registry.
    Pull(registry::Pull),
    /// Search a registry's catalog for repositories.
    Search(registry::Search),
    /// Push an image to a registry.
    Push(registry::Push),
    /// Log in to a registry.
    Login(registry::Login),
    /// Log out of a registry.
    Logout(registry::Logout),
    /// Manage containers (the container verbs under one name).
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Manage images.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage burrow's storage.
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Manage networks: containers on one reach each other by name.
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage pods: containers sharing one network, IPC and UTS namespace.
    #[command(subcommand)]
    Pod(pod::PodCommand),
    /// Kubernetes YAML: generate it from a container or pod, play it as a pod.
    #[command(subcommand)]
    Kube(kube::KubeCommand),
    /// Check this host for what rootless containers need; print each fix.
    ///
    /// Each line is ok, warn (burrow works around it, with less) or FAIL
    /// (burrow cannot run containers), then what was found and the command
    /// or setting that fixes it. The exit status is 125 when a check fails.
    Doctor(doctor::Doctor),
    /// Show what burrow found on this host.
    Info(doctor::Info),
    /// Show burrow's version.
    Version(doctor::Version),
    /// Show an image's build steps, newest first.
    History(image::History),
    /// Show what happened to containers and images.
    Events(system::Events),
    /// Run a compose project: services, their networks and volumes.
    Compose(compose::Compose),
    /// Run containers' health checks.
    #[command(subcommand)]
    Healthcheck(container::HealthcheckCommand),
}

impl Cli {
    /// Parses the command line. `run` and `exec`, whose start-up time is
    /// a feature, first try a parser of their own subcommand alone:
    /// building all of burrow's takes clap a few hundred microseconds.
    /// Whatever that parser does not take (`--help`, a bad flag) goes to
    /// the full one, whose messages are the ones users see.
    pub fn parse_args() -> std::result::Result<Cli, clap::Error> {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        Self::fast(&args).map_or_else(|| Self::full(&args), Ok)
    }

    /// The full parser. A single-value option given twice takes the last
    /// value, as docker's parser does (clap's default is an error).
    pub fn full(args: &[std::ffi::OsString]) -> std::result::Result<Cli, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        fn last_wins(cmd: clap::Command) -> clap::Command {
            cmd.args_override_self(true).mut_subcommands(last_wins)
        }
        let cmd = last_wins(Cli::command());
        let args = operands_end_the_flags(&cmd, args);
        let m = cmd.try_get_matches_from(args)?;
        Cli::from_arg_matches(&m)
    }

    fn fast(args: &[std::ffi::OsString]) -> Option<Cli> {
        use clap::{Args, FromArgMatches};
        fn one<T: Args + FromArgMatches>(
            name: &'static str,
            args: &[std::ffi::OsString],
        ) -> Option<T> {
            let cmd = T::augment_args(clap::Command::new(name).args_override_self(true));
            let args = operands_end_the_flags(&cmd, args);
            let m = cmd.try_get_matches_from(args).ok()?;
            T::from_arg_matches(&m).ok()
        }
        let command = match args.get(1)?.to_str()? {
            "run" => Command::Run(Box::new(one("run", &args[1..])?)),
            "exec" => Command::Exec(one("exec", &args[1..])?),
            _ => return None,
        };
        Some(Cli { command })
    }

    /// `doctor` and `info` report a config or runtime dir that fails to
    /// load instead of stopping at it: they run without a `Context`.
    pub fn needs_context(&self) -> bool {
        !matches!(
            self.command,
            Command::Doctor(_) | Command::Info(_) | Command::Version(_)
        )
    }

    /// Runs a command for which `needs_context` is false.
    pub fn exec_without_context(self) -> Result<()> {
        match self.command {
            Command::Doctor(c) => c.exec(),
            Command::Info(c) => c.exec(),
            Command::Version(c) => c.exec(),
            _ => Err(crate::Error::Usage(
                "this command needs burrow's config".into(),
            )),
        }
    }

    /// Runs the command; the exit status is the container's for `run`.
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let done = match self.command {
            Command::Run(c) => return c.exec(ctx),
            Command::Create(c) => c.exec(ctx),
            Command::Ps(c) => c.exec(ctx),
            Command::Rm(c) => return c.exec(ctx),
            Command::Port(c) => c.exec(ctx),
            Command::Pause(c) => c.exec(ctx),
            Command::Unpause(c) => c.exec(ctx),
            Command::Stats(c) => c.exec(ctx),
            Command::Update(c) => c.exec(ctx),
            Command::Exec(c) => return c.exec(ctx),
            Command::Healthcheck(c) => return c.exec(ctx),
            Command::History(c) => c.exec(ctx),
            Command::Events(c) => c.exec(ctx),
            Command::Logs(c) => c.exec(ctx),
            Command::Stop(c) => return c.exec(ctx),
            Command::Kill(c) => return c.exec(ctx),
            Command::Start(c) => return c.exec(ctx),
            Command::Restart(c) => c.exec(ctx),
            Command::Wait(c) => return c.exec(ctx),
            Command::Attach(c) => return c.exec(ctx),
            Command::Top(c) => c.exec(ctx),
            Command::Rename(c) => c.exec(ctx),
            Command::Cp(c) => c.exec(ctx),
            Command::Diff(c) => c.exec(ctx),
            Command::Export(c) => c.exec(ctx),
            Command::Commit(c) => c.exec(ctx),
            Command::Build(c) => c.exec(ctx),
            Command::Builder(c) => c.exec(ctx),
            Command::Images(c) => c.exec(ctx),
            Command::Import(c) => c.exec(ctx),
            Command::Load(c) => c.exec(ctx),
            Command::Save(c) => c.exec(ctx),
            Command::Rmi(c) => c.exec(ctx),
            Command::Tag(c) => c.exec(ctx),
            Command::Inspect(c) => return c.exec(ctx),
            Command::Pull(c) => c.exec(ctx),
            Command::Search(c) => c.exec(ctx),
            Command::Push(c) => c.exec(ctx),
            Command::Login(c) => c.exec(ctx),
            Command::Logout(c) => c.exec(ctx),
            Command::Container(c) => return c.exec(ctx),
            Command::Image(c) => return c.exec(ctx),
            Command::Volume(c) => return c.exec(ctx),
            Command::System(c) => c.exec(ctx),
            Command::Network(c) => return c.exec(ctx),
            Command::Pod(c) => return c.exec(ctx),
            Command::Compose(c) => return c.exec(ctx),
            Command::Kube(c) => return c.exec(ctx),
            Command::Doctor(_) | Command::Info(_) | Command::Version(_) => self_contained(),
        };
        done.map(|()| 0)
    }
}

fn self_contained() -> Result<()> {
    Err(crate::Error::Usage(
        "doctor and info run through Cli::exec_without_context".into(),
    ))
}

pub use format::Format;

/// docker reads its own flags of `run`, `create` and `exec` only up to
/// the command's first operand (the image, the container, compose's
/// service): everything after it is the container's command, `-c` and
/// `--help` included (`run --entrypoint sh IMAGE -c 'echo hi'`). clap
/// takes flags anywhere until a value of the trailing argument itself
/// was seen, so the command's first word, when it looks like a flag,
/// would be read as burrow's. Returns `args` with a `--` put after that
/// operand, found by walking `cmd`'s subcommands and skipping each flag
/// (and its value when it takes one). Hand-written: clap has no mode
/// that stops at the first operand.
fn operands_end_the_flags(
    cmd: &clap::Command,
    args: &[std::ffi::OsString],
) -> Vec<std::ffi::OsString> {
    let mut out = args.to_vec();
    let mut cmd = cmd;
    // The command whose subcommand `cmd` is, if any.
    let mut parent: Option<&str> = None;
    let takes_value = |a: &clap::Arg| {
        a.get_action().takes_values() && a.get_num_args().is_none_or(|n| n.min_values() > 0)
    };
    let mut i = 1;
    while i < out.len() {
        let Some(word) = out[i].to_str() else {
            break;
        };
        if word == "--" {
            break;
        }
        if let Some(long) = word.strip_prefix("--") {
            let named = |a: &&clap::Arg| {
                a.get_long() == Some(long) || a.get_all_aliases().is_some_and(|v| v.contains(&long))
            };
            if cmd.get_arguments().find(named).is_some_and(takes_value) {
                i += 1;
            }
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A cluster (`-it`, `-p80:80`): the first that takes a value
            // takes the rest of the word, or the next word.
            for (at, c) in shorts.char_indices() {
                let short = cmd.get_arguments().find(|a| {
                    a.get_short() == Some(c)
                        || a.get_all_short_aliases().is_some_and(|v| v.contains(&c))
                });
                if short.is_some_and(takes_value) {
                    if at + c.len_utf8() == shorts.len() {
                        i += 1;
                    }
                    break;
                }
            }
        } else if let Some(sub) = cmd.find_subcommand(word) {
            parent = Some(cmd.get_name());
            cmd = sub;
        } else {
            let docker_stops = matches!(cmd.get_name(), "run" | "create" | "exec")
                && matches!(parent, None | Some("burrow" | "container" | "compose"));
            // A `--` after the operand is the command's, as docker
            // passes it on.
            if docker_stops && i + 1 < out.len() {
                out.insert(i + 1, "--".into());
            }
            break;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<std::ffi::OsString> {
        s.split(' ').map(Into::into).collect()
    }

    #[test]
    fn fast_parse_of_run_and_exec_matches_the_full_parser() {
        for line in [
            "burrow run --rm --network none img true",
            "burrow run -it --rm -e A=1 -e B -v /tmp:/b:ro -p 8080:80 --name x img sh -c echo",
            "burrow run -d --restart on-failure:3 --memory 64m img sleep 1 --rm",
            "burrow run img",
            "burrow exec -it -u 1000 -w /tmp ctr sh -c id",
            "burrow exec ctr ls -l --all",
            "burrow run --name a --rm --name b --rm -w /x img",
        ] {
            let args = argv(line);
            let fast = Cli::fast(&args).unwrap_or_else(|| panic!("fast parse refused {line}"));
            let full = Cli::full(&args).expect(line);
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{line}");
        }
    }

    #[test]
    fn a_repeated_single_value_option_takes_the_last_value() {
        for line in [
            "burrow run --name a --name b img",
            "burrow create --name a --name b img",
            "burrow container create --name a --name b img",
            "burrow stop -t 1 -t 2 b",
        ] {
            let cli = Cli::full(&argv(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
            let shown = format!("{cli:?}");
            assert!(
                shown.contains("\"b\"") && !shown.contains("\"a\"") || shown.contains("Some(2)"),
                "{line}: {shown}"
            );
        }
        // Lists still gather every value.
        let cli = Cli::full(&argv("burrow run -e A=1 -e B=2 img")).expect("parses");
        assert!(format!("{cli:?}").contains("[\"A=1\", \"B=2\"]"));
    }

    #[test]
    fn the_first_operand_ends_burrows_flags_as_in_docker() {
        // (line, what the container's command must read)
        for (line, command) in [
            ("burrow run --entrypoint sh img -c hi", "[\"-c\", \"hi\"]"),
            ("burrow run --rm img --help", "[\"--help\"]"),
            (
                "burrow run -p 8080:80 -e A=1 img -it --rm",
                "[\"-it\", \"--rm\"]",
            ),
            ("burrow run -itp 80:80 img -d", "[\"-d\"]"),
            ("burrow run --name=x -m64m img -m", "[\"-m\"]"),
            ("burrow run --oom-score-adj -5 img -v", "[\"-v\"]"),
            ("burrow run img -- -x", "[\"--\", \"-x\"]"),
            ("burrow create img -c x", "[\"-c\", \"x\"]"),
            ("burrow container run img -c x", "[\"-c\", \"x\"]"),
            ("burrow exec -u 0 ctr -c x", "[\"-c\", \"x\"]"),
            ("burrow container exec ctr --help", "[\"--help\"]"),
            ("burrow compose -f c.yml run web -c x", "[\"-c\", \"x\"]"),
            ("burrow compose exec -T web -l", "[\"-l\"]"),
        ] {
            let cli = Cli::full(&argv(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
            let shown = format!("{cli:?}");
            assert!(
                shown.contains(&format!("command: {command}")),
                "{line}: {shown}"
            );
            if let Some(fast) = Cli::fast(&argv(line)) {
                assert_eq!(format!("{fast:?}"), shown, "{line}");
            }
        }
        // Elsewhere flags after an operand are still flags.
        let cli = Cli::full(&argv("burrow volume create v --label a=b")).expect("parses");
        assert!(format!("{cli:?}").contains("(\"a\", \"b\")"), "{cli:?}");
        // `--help` before the operand is burrow's.
        for line in ["burrow run --help", "burrow exec -h"] {
            let e = Cli::full(&argv(line)).expect_err(line);
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{line}");
        }
    }

    #[test]
    fn fast_parse_leaves_help_errors_and_other_commands_to_the_full_parser() {
        for line in [
            "burrow run --help",
            "burrow run -h",
            "burrow run --version",
            "burrow run --no-such-flag img",
            "burrow run",
            "burrow exec --help",
            "burrow ps -a",
            "burrow",
        ] {
            assert!(Cli::fast(&argv(line)).is_none(), "{line}");
        }
    }
}
