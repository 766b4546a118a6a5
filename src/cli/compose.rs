//! `burrow compose`: a compose project's services as containers (the
//! compose specification's files; docker compose's verbs and names).

use crate::compose::{self, verbs, ComposeError, Project};
use crate::container::images::Context;
use crate::container::lifecycle;
use crate::sandbox::join::ExecSpec;
use crate::{Error, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Compose {
    /// A compose file (repeat to merge several, later ones over earlier); default: compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml here or above.
    #[arg(short, long = "file", value_name = "FILE")]
    file: Vec<PathBuf>,
    /// The project's name (default: the file's `name`, $COMPOSE_PROJECT_NAME, or its directory's name).
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    project_name: Option<String>,
    /// A profile to enable (repeatable; default: $COMPOSE_PROFILES).
    #[arg(long, value_name = "PROFILE")]
    profile: Vec<String>,
    /// An environment file for interpolation instead of the project's .env.
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    #[command(subcommand)]
    command: ComposeCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ComposeCommand {
    /// Create and start the services' containers (with their networks and volumes).
    Up(Up),
    /// Stop and remove the project's containers and networks (-v: its volumes too).
    Down(Down),
    /// List the project's containers.
    Ps(Ps),
    /// Print the services' output.
    Logs(Logs),
    /// Run a command in a service's running container.
    Exec(Exec),
    /// Run a one-off command in a new container of a service.
    Run(Run),
    /// Build the images of services that have a build section.
    Build(Services),
    /// Pull the images of services.
    Pull(Services),
    /// Print the merged, interpolated project as YAML.
    Config(Config),
    /// Restart the services' containers.
    Restart(StopArgs),
    /// Stop the services' containers.
    Stop(StopArgs),
    /// Start the services' stopped containers.
    Start(StartArgs),
}

impl Compose {
    fn load(&self) -> Result<Project> {
        let dir = std::env::current_dir()
            .map_err(|e| Error::Usage(format!("the current directory: {e}")))?;
        let opts = compose::Options {
            files: self.file.clone(),
            project_name: self.project_name.clone(),
            profiles: self.profile.clone(),
            env_files: self.env_file.clone(),
        };
        compose::load(&opts, &dir, &std::env::vars().collect()).map_err(to_error)
    }

    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let mut project = self.load()?;
        project.state_dir = Some(ctx.paths.storage.join("compose").join(&project.name));
        self.command.exec(ctx, &project).map_err(to_error)
    }
}

/// Errors of burrow's own pass through with their exit status; the
/// project's (a bad file, a dependency that failed) are 1, as docker
/// compose's are.
fn to_error(e: ComposeError) -> Error {
    match e {
        ComposeError::Burrow(e) => *e,
        e => Error::Conflict(e.to_string()),
    }
}

impl ComposeCommand {
    fn exec(self, ctx: &Context, project: &Project) -> std::result::Result<i32, ComposeError> {
        match self {
            ComposeCommand::Up(c) => c.exec(ctx, project),
            ComposeCommand::Down(c) => {
                verbs::down(ctx, project, c.volumes, c.remove_orphans).map(|()| 0)
            }
            ComposeCommand::Ps(c) => c.exec(ctx, project).map(|()| 0),
            ComposeCommand::Logs(c) => c.exec(ctx, project).map(|()| 0),
            ComposeCommand::Exec(c) => c.exec(ctx, project),
            ComposeCommand::Run(c) => c.exec(ctx, project),
            ComposeCommand::Build(c) => {
                let order = verbs::selected(project, &c.services)?;
                verbs::build(ctx, project, &order, true).map(|()| 0)
            }
            ComposeCommand::Pull(c) => verbs::pull(ctx, project, &c.services).map(|()| 0),
            ComposeCommand::Config(c) => c.exec(project).map(|()| 0),
            ComposeCommand::Restart(c) => {
                verbs::stop(ctx, project, &c.services, c.timeout)?;
                verbs::start(ctx, project, &c.services, &Default::default()).map(|()| 0)
            }
            ComposeCommand::Stop(c) => {
                verbs::stop(ctx, project, &c.services, c.timeout).map(|()| 0)
            }
            ComposeCommand::Start(c) => verbs::start(
                ctx,
                project,
                &c.services,
                &verbs::StartOptions {
                    wait: c.wait,
                    wait_timeout: c.wait_timeout,
                },
            )
            .map(|()| 0),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Up {
    /// Start the containers in the background and return.
    #[arg(short, long)]
    detach: bool,
    /// Build the images of services with a build section first, even when they exist.
    #[arg(long)]
    build: bool,
    /// Create the containers without starting them.
    #[arg(long, conflicts_with = "wait")]
    no_start: bool,
    /// Wait for the services to be running (healthy, those with a health check), then return; implies -d.
    #[arg(long)]
    wait: bool,
    /// Seconds to wait, in all, for dependencies and (with --wait) the services to be ready before failing (default: until each health check decides).
    #[arg(long, value_name = "SECS")]
    wait_timeout: Option<u64>,
    /// Stop every container when one exits (attached only).
    #[arg(long, conflicts_with_all = ["detach", "wait", "no_start"])]
    abort_on_container_exit: bool,
    /// Stop every container when one exits with a status other than 0 (attached only); that status is up's.
    #[arg(long, conflicts_with_all = ["detach", "wait", "no_start", "abort_on_container_exit"])]
    abort_on_container_failure: bool,
    /// Return the exit status of SERVICE's container; implies --abort-on-container-exit (unless --abort-on-container-failure).
    #[arg(long, value_name = "SERVICE", conflicts_with_all = ["detach", "wait", "no_start"])]
    exit_code_from: Option<String>,
    /// Attached: follow only SERVICE's containers (their output, their exits); repeatable.
    #[arg(long, value_name = "SERVICE", conflicts_with_all = ["detach", "wait", "no_start"])]
    attach: Vec<String>,
    /// Attached: do not follow SERVICE's containers (they run all the same); repeatable.
    #[arg(long, value_name = "SERVICE")]
    no_attach: Vec<String>,
    /// Attached: print the services' lines without the container's name before each.
    #[arg(long)]
    no_log_prefix: bool,
    /// Run N containers of SERVICE (named PROJECT-SERVICE-1..N), over its scale or deploy.replicas.
    #[arg(long, value_name = "SERVICE=N", value_parser = parse_scale)]
    scale: Vec<(String, u32)>,
    /// The services (default: all, and each with what it depends on).
    services: Vec<String>,
}

impl Up {
    fn exec(self, ctx: &Context, project: &Project) -> std::result::Result<i32, ComposeError> {
        if let Some(s) = &self.exit_code_from {
            verbs::check_exit_code_from(project, &self.services, s)?;
        }
        if !(self.detach || self.wait || self.no_start) {
            verbs::check_attach(project, &self.services, &self.attach, &self.no_attach)?;
        }
        let started = interrupted(verbs::up(
            ctx,
            project,
            &verbs::UpOptions {
                services: self.services,
                build: self.build,
                no_start: self.no_start,
                wait_timeout: self.wait_timeout,
                wait: self.wait,
                scale: self.scale,
                keep_extra: false,
            },
        ))?;
        let started = match started {
            Ok(s) => s,
            Err(code) => return Ok(code),
        };
        if self.detach || self.wait || self.no_start {
            return Ok(0);
        }
        // Attached: every container's output, prefixed, until they have
        // all exited; Ctrl-C stops them, a second one kills them.
        verbs::attach(
            ctx,
            project,
            started,
            &verbs::AttachOptions {
                no_prefix: self.no_log_prefix,
                abort_on_exit: self.abort_on_container_exit
                    || (self.exit_code_from.is_some() && !self.abort_on_container_failure),
                abort_on_failure: self.abort_on_container_failure,
                attach: self.attach,
                no_attach: self.no_attach,
                exit_code_from: self.exit_code_from,
            },
        )
    }
}

/// An `up` a signal interrupted (it said what it undid) is exit status
/// 130, as a shell gives a command that SIGINT ended.
fn interrupted<T>(
    r: std::result::Result<T, ComposeError>,
) -> std::result::Result<std::result::Result<T, i32>, ComposeError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e @ ComposeError::Interrupted) => {
            eprintln!("{e}");
            Ok(Err(130))
        }
        Err(e) => Err(e),
    }
}

/// `--scale SERVICE=N`.
fn parse_scale(s: &str) -> std::result::Result<(String, u32), String> {
    let (service, n) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected SERVICE=N"))?;
    let n = n
        .parse()
        .map_err(|_| format!("{s:?}: {n:?} is not a number of containers"))?;
    Ok((service.to_string(), n))
}

#[derive(clap::Args, Debug)]
pub struct Down {
    /// Remove the project's named volumes too.
    #[arg(short, long)]
    volumes: bool,
    /// Remove containers of services no longer in the files too.
    #[arg(long)]
    remove_orphans: bool,
}

#[derive(clap::Args, Debug)]
pub struct Ps {
    /// Show stopped containers too.
    #[arg(short, long)]
    all: bool,
    /// Only the containers' ids.
    #[arg(short, long)]
    quiet: bool,
    /// Only the services' names.
    #[arg(long)]
    services: bool,
    /// Output format: table, json, or a Go template (`{{.Name}}`, `{{.Service}}`, `{{.State}}`).
    #[arg(long, default_value = "table", value_parser = super::Format::parse)]
    format: super::Format,
    /// Only these services' containers.
    service: Vec<String>,
}

impl Ps {
    fn exec(self, ctx: &Context, project: &Project) -> std::result::Result<(), ComposeError> {
        let mut list = verbs::containers(ctx, project, &self.service)?;
        if !self.all {
            list.retain(|(_, s)| s.status == crate::container::record::Status::Running);
        }
        if self.quiet {
            for (r, _) in &list {
                println!("{}", r.id);
            }
            return Ok(());
        }
        let service = |r| verbs::label(r, compose::service::SERVICE_LABEL).unwrap_or_default();
        if self.services {
            for (r, _) in &list {
                println!("{}", service(r));
            }
            return Ok(());
        }
        let ports = |r| {
            crate::container::network::published(r)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.format {
            super::Format::Table => {
                let mut rows = vec![["NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"]
                    .map(String::from)
                    .to_vec()];
                for (r, s) in &list {
                    rows.push(vec![
                        r.name.clone(),
                        r.image.clone(),
                        service(r).to_string(),
                        crate::container::status_text(s),
                        ports(r),
                    ]);
                }
                super::format::print_table(&rows);
            }
            super::Format::Json | super::Format::Template(_) => {
                // docker compose's fields: `ps`'s, and the service's.
                let items: Vec<serde_json::Value> = list
                    .iter()
                    .map(|(r, s)| {
                        let mut row = super::run::ps_row(r, s, false);
                        if let Some(o) = row.as_object_mut() {
                            o.remove("HealthStatus");
                        }
                        row["Name"] = r.name.clone().into();
                        row["Project"] = project.name.clone().into();
                        row["Service"] = service(r).into();
                        row["ExitCode"] = s.exit_code.unwrap_or(0).into();
                        row["Health"] = s
                            .health
                            .as_ref()
                            .map(|h| h.status.to_string())
                            .unwrap_or_default()
                            .into();
                        row["Publishers"] = publishers(r);
                        row
                    })
                    .collect();
                match &self.format {
                    super::Format::Template(t) => t.print(&items, COMPOSE_PS_HEADERS)?,
                    _ => super::format::print_json_lines(&items),
                }
            }
        }
        Ok(())
    }
}

/// `compose ps`'s template fields and their titles, as docker compose's.
const COMPOSE_PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("Project", "PROJECT"),
    ("Service", "SERVICE"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Health", "HEALTH"),
    ("ExitCode", "EXIT CODE"),
    ("Ports", "PORTS"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Size", "SIZE"),
];

/// docker compose's `Publishers`: each published port as an object.
fn publishers(r: &crate::container::record::Record) -> serde_json::Value {
    crate::container::network::published(r)
        .iter()
        .map(|p| {
            serde_json::json!({
                "URL": p.host_ip.map_or("0.0.0.0".to_string(), |ip| ip.to_string()),
                "TargetPort": p.container_port,
                "PublishedPort": p.host_port,
                "Protocol": p.proto.to_string(),
            })
        })
        .collect()
}

#[derive(clap::Args, Debug)]
pub struct Logs {
    /// Keep printing new output.
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines of each container.
    #[arg(short = 'n', long, value_name = "N")]
    tail: Option<usize>,
    /// Prefix each line with its time.
    #[arg(short, long)]
    timestamps: bool,
    /// Print the lines without the container's name before each.
    #[arg(long)]
    no_log_prefix: bool,
    /// Only these services' output.
    services: Vec<String>,
}

impl Logs {
    fn exec(self, ctx: &Context, project: &Project) -> std::result::Result<(), ComposeError> {
        verbs::logs(
            ctx,
            project,
            &self.services,
            &compose::output::LogArgs {
                follow: self.follow,
                tail: self.tail,
                timestamps: self.timestamps,
                no_prefix: self.no_log_prefix,
            },
        )
    }
}

/// The container of a service, by its number.
fn container_of(
    ctx: &Context,
    project: &Project,
    service: &str,
    index: u32,
) -> std::result::Result<String, ComposeError> {
    let want = index.to_string();
    verbs::containers(ctx, project, &[service.to_string()])?
        .into_iter()
        .find(|(r, _)| {
            verbs::label(r, compose::service::NUMBER_LABEL) == Some(want.as_str())
                && verbs::label(r, compose::service::ONEOFF_LABEL) != Some("True")
        })
        .map(|(r, _)| r.name)
        .ok_or_else(|| {
            if project.model.services.contains_key(service) {
                ComposeError::Model(format!(
                    "service {service:?} has no container {index}: run `burrow compose up` first"
                ))
            } else {
                ComposeError::NoService(service.to_string())
            }
        })
}

#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct Exec {
    /// Run in the background.
    #[arg(short, long)]
    detach: bool,
    /// No terminal (default: one when stdin is a terminal).
    #[arg(short = 'T', long = "no-tty")]
    no_tty: bool,
    /// Set an environment variable (NAME=VALUE).
    #[arg(short, long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Run as this user.
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Which of the service's containers (1 by default).
    #[arg(long, default_value_t = 1)]
    index: u32,
    /// Every capability of the container's user namespace and no seccomp
    /// profile for this command, as `burrow exec --privileged`.
    #[arg(long)]
    privileged: bool,
    service: String,
    #[arg(required = true)]
    command: Vec<String>,
}

impl Exec {
    fn exec(self, ctx: &Context, project: &Project) -> std::result::Result<i32, ComposeError> {
        use std::io::IsTerminal;
        let name = container_of(ctx, project, &self.service, self.index)?;
        let tty = !self.detach && !self.no_tty && std::io::stdin().is_terminal();
        let spec = ExecSpec {
            argv: self.command,
            env: self.env,
            cwd: self.workdir.map(PathBuf::from),
            user: self.user,
            tty,
            stdin: !self.detach,
            detached: self.detach,
            privileged: self.privileged,
        };
        Ok(lifecycle::exec(ctx, &name, &spec, self.detach)?)
    }
}

#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct Run {
    /// Run in the background; print the container's id.
    #[arg(short, long)]
    detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// No terminal (default: one when stdin is a terminal).
    #[arg(short = 'T', long = "no-tty")]
    no_tty: bool,
    /// Set an environment variable (NAME=VALUE).
    #[arg(short, long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Run as this user.
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Override the service's entrypoint.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Name the container.
    #[arg(long)]
    name: Option<String>,
    /// Publish the service's ports as `up` does.
    #[arg(long)]
    service_ports: bool,
    /// Publish a container port ([IP:]HOST:CTR[/PROTO]), in place of the
    /// service's ports.
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CTR[/PROTO]", value_parser = super::values::publish)]
    publish: Vec<super::values::Publish>,
    /// Mount a volume or a host directory (as `burrow run -v`; a relative
    /// host path is from the current directory), besides the service's.
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:OPTS]", value_parser = super::values::volume)]
    volume: Vec<crate::container::spec::UserMount>,
    /// Add or override a label: KEY=VALUE (or KEY, empty).
    #[arg(short, long = "label", value_name = "KEY[=VALUE]")]
    label: Vec<String>,
    /// Start no service the service depends on, and wait for none.
    #[arg(long)]
    no_deps: bool,
    /// Add a capability (or ALL), over the service's cap_drop.
    #[arg(long, value_name = "CAP", value_parser = super::values::cap_add)]
    cap_add: Vec<crate::sandbox::caps::CapName>,
    /// Drop a capability (or ALL), over the service's cap_add.
    #[arg(long, value_name = "CAP", value_parser = super::values::cap_drop)]
    cap_drop: Vec<crate::sandbox::caps::CapName>,
    /// Give the container the service's name and network aliases on its networks (by default it is known there by its own name only).
    #[arg(long)]
    use_aliases: bool,
    service: String,
    /// The command (default: the service's).
    command: Vec<String>,
}

impl Run {
    fn exec(self, ctx: &Context, project: &Project) -> std::result::Result<i32, ComposeError> {
        let code = verbs::run(
            ctx,
            project,
            &self.service,
            &verbs::RunOptions {
                command: self.command,
                detach: self.detach,
                remove: self.rm,
                env: self.env,
                user: self.user,
                workdir: self.workdir,
                entrypoint: self.entrypoint,
                name: self.name,
                service_ports: self.service_ports,
                publish: self.publish.into_iter().flat_map(|p| p.0).collect(),
                volumes: self.volume,
                labels: self
                    .label
                    .iter()
                    .map(|l| {
                        let (k, v) = l.split_once('=').unwrap_or((l, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect(),
                no_deps: self.no_deps,
                no_tty: self.no_tty,
                cap_add: self.cap_add,
                cap_drop: self.cap_drop,
                use_aliases: self.use_aliases,
            },
        );
        Ok(interrupted(code)?.unwrap_or_else(|c| c))
    }
}

#[derive(clap::Args, Debug)]
pub struct Services {
    /// The services (default: all).
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Wait for the services to be running (healthy, those with a health check), then return.
    #[arg(long)]
    wait: bool,
    /// Seconds to wait, in all, for dependencies and (with --wait) the services to be ready before failing (default: until each health check decides).
    #[arg(long, value_name = "SECS")]
    wait_timeout: Option<u64>,
    /// The services (default: all).
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(short = 't', long, value_name = "SECS")]
    timeout: Option<u64>,
    /// The services (default: all).
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct Config {
    /// Only the services' names.
    #[arg(long)]
    services: bool,
    /// Only the volumes' names.
    #[arg(long)]
    volumes: bool,
    /// Check the files; print nothing.
    #[arg(short, long)]
    quiet: bool,
}

impl Config {
    fn exec(self, project: &Project) -> std::result::Result<(), ComposeError> {
        if self.quiet {
            return Ok(());
        }
        if self.services {
            for s in project.model.services.keys() {
                println!("{s}");
            }
            return Ok(());
        }
        if self.volumes {
            for v in project.model.volumes.keys() {
                println!("{v}");
            }
            return Ok(());
        }
        let text = serde_norway::to_string(&project.value)
            .map_err(|e| ComposeError::Model(format!("writing the project as YAML: {e}")))?;
        print!("{text}");
        Ok(())
    }
}
