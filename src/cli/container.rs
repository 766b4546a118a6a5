//! The commands for a container's life after `run`: exec, logs, stop, kill,
//! start, restart, wait, attach, top, rename, and the files: cp,
//! diff, export, commit.

use crate::container::images::Context;
use crate::container::lifecycle::{self, LogOptions};
use crate::sandbox::join::ExecSpec;
use crate::{Error, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// `burrow container VERB`: the top-level container verbs under one name,
/// as docker groups them.
#[derive(clap::Subcommand, Debug)]
pub enum ContainerCommand {
    /// Attach to a detached container's output (and stdin).
    Attach(Attach),
    /// Make an image of a container's changes on top of its image.
    Commit(Commit),
    /// Copy files between a container (CONTAINER:PATH) and the host.
    Cp(Cp),
    /// Create a container without starting it.
    Create(Box<super::run::Create>),
    /// List what a container changed.
    Diff(Diff),
    /// Run a command in a running container.
    Exec(Exec),
    /// Write a container's filesystem as a tarball.
    Export(Export),
    /// Show low-level information on containers, as JSON.
    Inspect(super::run::InspectContainers),
    /// Send a signal to containers.
    Kill(Kill),
    /// Print a container's output.
    Logs(Logs),
    /// List containers.
    #[command(visible_aliases = ["list", "ps"])]
    Ls(super::run::Ps),
    /// Freeze every process of running containers.
    Pause(super::resources::Pause),
    /// List a container's published ports.
    Port(super::run::Port),
    /// Rename a container.
    Rename(Rename),
    /// Stop and start containers.
    Restart(Restart),
    /// Remove containers.
    #[command(visible_alias = "remove")]
    Rm(super::run::Rm),
    /// Run a command in a new container.
    Run(Box<super::run::Run>),
    /// Start stopped containers.
    Start(Start),
    /// Show containers' resource use.
    Stats(super::resources::Stats),
    /// Stop containers.
    Stop(Stop),
    /// List the processes of a container.
    Top(Top),
    /// Thaw paused containers.
    Unpause(super::resources::Unpause),
    /// Change the resource limits of running containers.
    Update(super::resources::Update),
    /// Wait for containers to exit; print their exit status.
    Wait(Wait),
    /// Exit 0 when a container exists, 1 when it does not.
    Exists(ContainerExists),
    /// Remove every container that is not running.
    Prune(ContainerPrune),
}

impl ContainerCommand {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let done = match self {
            ContainerCommand::Attach(c) => return c.exec(ctx),
            ContainerCommand::Commit(c) => c.exec(ctx),
            ContainerCommand::Cp(c) => c.exec(ctx),
            ContainerCommand::Create(c) => c.exec(ctx),
            ContainerCommand::Diff(c) => c.exec(ctx),
            ContainerCommand::Exec(c) => return c.exec(ctx),
            ContainerCommand::Export(c) => c.exec(ctx),
            ContainerCommand::Inspect(c) => return c.exec(ctx),
            ContainerCommand::Kill(c) => return c.exec(ctx),
            ContainerCommand::Logs(c) => c.exec(ctx),
            ContainerCommand::Ls(c) => c.exec(ctx),
            ContainerCommand::Pause(c) => c.exec(ctx),
            ContainerCommand::Port(c) => c.exec(ctx),
            ContainerCommand::Rename(c) => c.exec(ctx),
            ContainerCommand::Restart(c) => c.exec(ctx),
            ContainerCommand::Rm(c) => return c.exec(ctx),
            ContainerCommand::Run(c) => return c.exec(ctx),
            ContainerCommand::Start(c) => return c.exec(ctx),
            ContainerCommand::Stats(c) => c.exec(ctx),
            ContainerCommand::Stop(c) => return c.exec(ctx),
            ContainerCommand::Top(c) => c.exec(ctx),
            ContainerCommand::Unpause(c) => c.exec(ctx),
            ContainerCommand::Update(c) => c.exec(ctx),
            ContainerCommand::Wait(c) => return c.exec(ctx),
            ContainerCommand::Exists(c) => return c.exec(ctx),
            ContainerCommand::Prune(c) => c.exec(ctx),
        };
        done.map(|()| 0)
    }
}

#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct Exec {
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Give the command a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable (NAME=VALUE, or NAME to pass yours on).
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Read environment variables from a file of NAME=VALUE lines (-e wins).
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Run as this user: name, uid, or uid:gid.
    #[arg(short, long)]
    user: Option<String>,
    /// Every capability of the container's user namespace and no seccomp
    /// profile for this command, whatever the container runs with.
    #[arg(long)]
    privileged: bool,
    /// Run in the background; print nothing.
    #[arg(short, long)]
    detach: bool,
    /// The container, by name or id.
    container: String,
    /// The command and its arguments.
    #[arg(required = true)]
    command: Vec<String>,
}

impl Exec {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let env = crate::container::plan::exec_environment(&self.env_file, &self.env, |n| {
            std::env::var(n).ok()
        })
        .map_err(crate::container::ContainerError::from)?;
        let spec = ExecSpec {
            argv: self.command,
            env,
            cwd: self.workdir.map(PathBuf::from),
            user: self.user,
            tty: self.tty && !self.detach,
            stdin: self.interactive && !self.detach,
            detached: self.detach,
            privileged: self.privileged,
        };
        lifecycle::exec(ctx, &self.container, &spec, self.detach)
    }
}

#[derive(clap::Args, Debug)]
pub struct Logs {
    /// Keep printing new output until the container exits.
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    tail: Option<String>,
    /// Only output since TIME (RFC 3339, Unix seconds, or a Go duration before now: 10s, 5m, 1h30m).
    #[arg(long, value_name = "TIME", value_parser = super::values::time_point)]
    since: Option<u64>,
    /// Only output before TIME (the same forms); --follow stops there.
    #[arg(long, value_name = "TIME", value_parser = super::values::time_point)]
    until: Option<u64>,
    /// Prefix each line with its time.
    #[arg(short, long)]
    timestamps: bool,
    /// Show the attributes `--log-opt labels=`/`env=` add to each line
    /// (burrow's log keeps none, so nothing is added).
    #[arg(long)]
    details: bool,
    container: String,
}

impl Logs {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let tail = match self.tail.as_deref() {
            None | Some("all") => None,
            Some(n) => Some(
                n.parse()
                    .map_err(|_| Error::Usage(format!("--tail {n:?}: a number or all")))?,
            ),
        };
        // docker's --details prints the attributes of --log-opt labels
        // and env; burrow's log has none, so its lines are the same.
        let _ = self.details;
        let opts = LogOptions {
            follow: self.follow,
            tail,
            since_ns: self.since,
            until_ns: self.until,
            timestamps: self.timestamps,
        };
        lifecycle::logs(ctx, &self.container, &opts)
    }
}

/// The containers a verb acts on: those named, or with `--all` every one
/// (`running` only: those that run).
fn targets(ctx: &Context, all: bool, running: bool, names: Vec<String>) -> Result<Vec<String>> {
    if !all {
        if names.is_empty() {
            return Err(Error::Usage("give at least one container, or --all".into()));
        }
        return Ok(names);
    }
    if !names.is_empty() {
        return Err(Error::Usage("--all and container names conflict".into()));
    }
    Ok(crate::container::list(ctx, !running)?
        .into_iter()
        .map(|(r, _)| r.id[..12].to_string())
        .collect())
}

/// Applies `f` to each container as docker does: a failure is an `Error:`
/// line on stderr and the status 1; the others go on. A failure that is
/// not about the container (a broken store) stops at once.
pub fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut code = 0;
    for n in names {
        match f(n) {
            Ok(()) => {}
            Err(e) if e.exit_code() == 1 || matches!(e, Error::Container(_)) => {
                eprintln!("Error: {e}");
                code = 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(code)
}

#[derive(clap::Args, Debug)]
pub struct Stop {
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECS"
    )]
    time: Option<u64>,
    /// The signal to send first, by name or number (default: the
    /// container's stop signal).
    #[arg(short, long, value_name = "SIGNAL", value_parser = super::values::any_signal)]
    signal: Option<i32>,
    /// Stop every running container.
    #[arg(short, long)]
    all: bool,
    containers: Vec<String>,
}

impl Stop {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let names = targets(ctx, self.all, true, self.containers)?;
        // Every stop signal goes out before any wait (one timeout for N
        // containers); a name that is not a container is reported alone.
        let mut found = Vec::new();
        let code = each(&names, |c| {
            crate::container::find_id(ctx, c)?;
            found.push(c.to_string());
            Ok(())
        })?;
        lifecycle::stop_many_with(ctx, &found, self.time, self.signal)?;
        for c in &found {
            println!("{c}");
        }
        Ok(code)
    }
}

#[derive(clap::Args, Debug)]
pub struct Kill {
    /// The signal, by name or number.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Signal every running container.
    #[arg(short, long)]
    all: bool,
    containers: Vec<String>,
}

impl Kill {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let sig = crate::sandbox::signal_number(&self.signal)
            .ok_or_else(|| Error::Usage(format!("unknown signal {:?}", self.signal)))?;
        let names = targets(ctx, self.all, true, self.containers)?;
        each(&names, |c| {
            lifecycle::kill(ctx, c, sig)?;
            println!("{c}");
            Ok(())
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Start {
    /// Attach to the container's output and wait for it to exit.
    #[arg(short, long)]
    attach: bool,
    /// Pass stdin on (attached).
    #[arg(short, long)]
    interactive: bool,
    /// Start every container that is not running.
    #[arg(long)]
    all: bool,
    /// The keys that detach from the container's terminal (ctrl-p,ctrl-q by default).
    #[arg(long, value_name = "KEYS", value_parser = super::values::detach_keys)]
    detach_keys: Option<crate::container::spec::DetachKeys>,
    containers: Vec<String>,
}

impl Start {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let names = targets(ctx, self.all, false, self.containers)?;
        if self.attach || self.interactive {
            if names.len() != 1 {
                return Err(Error::Usage("--attach takes one container".into()));
            }
            // `start -i` attaches as well, as docker's does.
            return lifecycle::start_attached(
                ctx,
                &names[0],
                self.interactive,
                self.detach_keys.as_ref(),
            );
        }
        each(&names, |c| {
            lifecycle::start(ctx, c)?;
            println!("{c}");
            Ok(())
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Restart {
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECS"
    )]
    time: Option<u64>,
    /// The signal that stops it, by name or number (default: the
    /// container's stop signal).
    #[arg(short, long, value_name = "SIGNAL", value_parser = super::values::any_signal)]
    signal: Option<i32>,
    #[arg(required = true)]
    containers: Vec<String>,
}

impl Restart {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        for c in &self.containers {
            lifecycle::stop_many_with(ctx, std::slice::from_ref(c), self.time, self.signal)?;
            lifecycle::start(ctx, c)?;
            println!("{c}");
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Wait {
    #[arg(required = true)]
    containers: Vec<String>,
}

impl Wait {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        each(&self.containers, |c| {
            println!("{}", lifecycle::wait(ctx, c)?);
            Ok(())
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Attach {
    /// Do not pass stdin on.
    #[arg(long)]
    no_stdin: bool,
    /// The keys that detach from the container's terminal (ctrl-p,ctrl-q by default).
    #[arg(long, value_name = "KEYS", value_parser = super::values::detach_keys)]
    detach_keys: Option<crate::container::spec::DetachKeys>,
    container: String,
}

impl Attach {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        lifecycle::attach(
            ctx,
            &self.container,
            !self.no_stdin,
            self.detach_keys.as_ref(),
        )
    }
}

#[derive(clap::Args, Debug)]
pub struct Top {
    container: String,
}

impl Top {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let procs = lifecycle::top(ctx, &self.container)?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let mut rows = vec![["UID", "PID", "PPID", "TIME", "CMD"]
            .map(String::from)
            .to_vec()];
        for p in procs {
            let secs = p.cpu_ticks / hz;
            rows.push(vec![
                p.uid.to_string(),
                p.pid.to_string(),
                p.ppid.to_string(),
                format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
                p.command,
            ]);
        }
        super::format::print_table(&rows);
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Rename {
    container: String,
    new_name: String,
}

impl Rename {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        lifecycle::rename(ctx, &self.container, &self.new_name)
    }
}

#[derive(clap::Args, Debug)]
pub struct Cp {
    /// Keep the source's uid and gid (as the container's user namespace
    /// sees them: your own files are its root's) instead of the copier's.
    #[arg(short, long)]
    archive: bool,
    /// Follow a symbolic link at the source path (in a container, within
    /// its root) and copy what it points to.
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// CONTAINER:PATH or a host path.
    src: String,
    /// CONTAINER:PATH or a host path.
    dst: String,
}

impl Cp {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        use crate::container::files::{copy, CopyEnd, CopyOptions};
        let opts = CopyOptions {
            archive: self.archive,
            follow_link: self.follow_link,
        };
        copy(
            ctx,
            &CopyEnd::parse(&self.src),
            &CopyEnd::parse(&self.dst),
            opts,
        )
    }
}

#[derive(clap::Args, Debug)]
pub struct Diff {
    container: String,
}

impl Diff {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        for (kind, path) in crate::container::files::diff(ctx, &self.container)? {
            println!("{kind} {path}");
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Export {
    /// Write the tarball to this file (default: standard output, when it is not a terminal).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    container: String,
}

impl Export {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        if self.output.is_none() && std::io::stdout().is_terminal() {
            return Err(Error::Usage(
                "refusing to write a tarball to a terminal: use -o FILE or redirect standard output"
                    .into(),
            ));
        }
        crate::container::files::export(ctx, &self.container, self.output.as_deref())
    }
}

#[derive(clap::Args, Debug)]
pub struct Commit {
    container: String,
    /// The new image's name[:tag].
    image: Option<String>,
    /// A Containerfile instruction applied to the image's config: CMD,
    /// ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL,
    /// STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable, in order).
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// A commit message, kept as the new step's comment (`history`).
    #[arg(short, long, value_name = "TEXT")]
    message: Option<String>,
    /// The image's author (`"Jane <jane@example.com>"`).
    #[arg(short, long, value_name = "NAME")]
    author: Option<String>,
}

impl Commit {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let changes = crate::build::exec::parse_changes(&self.change)?;
        let id = crate::container::files::commit(
            ctx,
            &self.container,
            self.image.as_deref(),
            crate::container::files::CommitNote {
                message: self.message,
                author: self.author,
            },
            move |config| crate::build::exec::apply_changes(config, &changes),
        )?;
        println!("{id}");
        Ok(())
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum HealthcheckCommand {
    /// Run a container's health check now; print the status it leaves
    /// (exit status 1 when the check failed).
    Run(HealthcheckRun),
}

#[derive(clap::Args, Debug)]
pub struct HealthcheckRun {
    /// The container, by name or id.
    container: String,
}

impl HealthcheckCommand {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        match self {
            HealthcheckCommand::Run(c) => {
                let (status, code, output) =
                    crate::container::lifecycle::healthcheck(ctx, &c.container)?;
                if code != 0 && !output.is_empty() {
                    eprint!("{output}");
                }
                println!("{status}");
                Ok(if code == 0 { 0 } else { 1 })
            }
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ContainerExists {
    /// The container, by name or id.
    container: String,
}

impl ContainerExists {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        Ok(if crate::container::exists(ctx, &self.container)? {
            0
        } else {
            1
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct ContainerPrune {
    /// Do not ask for confirmation (burrow never asks; kept for scripts
    /// written for docker).
    #[arg(short, long)]
    force: bool,
    /// Only what matches: until=TIME (RFC 3339, Unix seconds or a duration
    /// such as 24h), label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable).
    #[arg(long, value_name = "FILTER", value_parser = super::values::prune_filter)]
    filter: Vec<crate::container::filter::PruneFilter>,
}

impl ContainerPrune {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let _ = self.force;
        let removed = crate::container::prune(ctx, &self.filter)?;
        if !removed.is_empty() {
            println!("Deleted Containers:");
            for id in removed {
                println!("{id}");
            }
        }
        Ok(())
    }
}
