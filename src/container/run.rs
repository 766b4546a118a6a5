//! `burrow run`: turns what the user asked for (a `RunSpec`) and what the
//! image says (its config) into the plain data the sandbox runs, creates the
//! container record, runs it in the foreground and records how it ended.

use super::images::Context;
use super::network;
use super::record::{self, ContainerConfig, Containers, Record, State};
pub use super::spec::UserMount;
use super::spec::{SecurityOpt, UsernsMode};
use super::supervisor::{self, Foreground, Plan, RestartPolicy, SupervisedNetwork};
use super::volumes::{NewVolume, Volumes};
use super::ContainerError;
use crate::container::error::{Error, Result};
use crate::image::registry::{ProgressMode, PullOptions};
use crate::image::store::{remove_tree, StoreError};
use crate::image::ImageError;
use crate::net::{NetworkMode, PublishedPort};
use crate::sandbox::spec::{CgroupFs, Rootfs, SandboxSpec, SharedUserns, User};
use crate::sandbox::userns::{IdMap, IdRange};
use crate::sandbox::MountOp;
use crate::sandbox::{CapName, CapSet};
use std::io::IsTerminal;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Everything `burrow run` was asked, parsed by the command line's value
/// parsers: what a flag names is typed here, never re-parsed below.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// The image as the user named it (a reference or an id prefix).
    pub image: String,
    /// The command and its arguments after the image (empty: the image's).
    pub command: Vec<String>,
    /// `--name`; a generated one when `None`.
    pub name: Option<String>,
    /// `--rm`.
    pub remove: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// `-e NAME[=VALUE]`, in order (applied after `--env-file`).
    pub env: Vec<String>,
    /// `--env-file`, read when the container is made.
    pub env_files: Vec<PathBuf>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`: a name, uid, or uid:gid, looked up in the image.
    pub user: Option<String>,
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// `-v HOST:CONTAINER[:ro]`, checked.
    pub volumes: Vec<UserMount>,
    /// `--mount`, checked.
    pub mounts: Vec<UserMount>,
    /// `--tmpfs`, checked.
    pub tmpfs: Vec<UserMount>,
    /// `-H`; the first 12 digits of the id when `None`.
    pub hostname: Option<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--init`.
    pub init: bool,
    /// `--userns`.
    pub userns: UsernsMode,
    /// `--security-opt`, each parsed (a seccomp profile's file read) by
    /// the CLI.
    pub security_opt: Vec<SecurityOpt>,
    /// `--privileged`: every capability of the user namespace, no seccomp
    /// profile, no masked or read-only paths.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: Vec<CapName>,
    /// `--cap-drop`.
    pub cap_drop: Vec<CapName>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--network-alias`, `--ip`, `--ip6`: on a user-defined network.
    pub network_endpoint: crate::net::networks::EndpointSpec,
    /// `-p`, each range expanded to its ports.
    pub publish: Vec<PublishedPort>,
    /// `-P`: the image's exposed ports on random host ports.
    pub publish_all: bool,
    /// `--dns`.
    pub dns: Vec<IpAddr>,
    /// `--add-host NAME:IP`.
    pub add_host: Vec<(String, IpAddr)>,
    /// Resource limits (--memory, --cpus, ...), applied through cgroup v2.
    pub limits: crate::cgroup::Limits,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
    /// `-d`: a supervisor runs the container; `run` prints its id.
    pub detach: bool,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `--health-*` and `--no-healthcheck`.
    pub health: super::health::HealthFlags,
    /// `--label` and `--label-file`, over the image's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--stop-signal`, over the image's StopSignal.
    pub stop_signal: Option<i32>,
    /// `--stop-timeout`: seconds `stop` waits before SIGKILL (10).
    pub stop_timeout: Option<u64>,
    /// `--pull`.
    pub pull: PullPolicy,
    /// `--cidfile`: the id is written there (a file that exists is refused).
    pub cidfile: Option<PathBuf>,
    /// `--group-add`: more supplementary groups, by number or by name in
    /// the image's /etc/group.
    pub group_add: Vec<String>,
    /// `--ulimit`, one per resource.
    pub ulimits: Vec<super::spec::Rlimit>,
    /// `--shm-size` in bytes.
    pub shm_size: Option<u64>,
    /// `--proc-view`.
    pub proc_view: ProcViewMode,
    /// `--sysctl`, checked to be namespaced.
    pub sysctls: Vec<(String, String)>,
    /// `--log-driver`, `--log-opt`.
    pub log: super::spec::LogConfig,
    /// `--detach-keys`: kept for `attach` and `start -a`.
    pub detach_keys: Option<super::spec::DetachKeys>,
    /// `--volumes-from`.
    pub volumes_from: Vec<VolumesFrom>,
    /// No anonymous volumes for the image's VOLUME paths: a build's RUN
    /// step writes there into its layer, as BuildKit's do.
    pub skip_image_volumes: bool,
    /// `--pod NAME`: the pod's network, and its IPC, UTS and pid
    /// namespaces as it shares them (its infra container is started if
    /// need be).
    pub pod: Option<String>,
    /// The pod (by id) whose infra container this is: it runs nothing
    /// and holds the pod's namespaces (`SandboxSpec::pause`).
    pub infra_of: Option<String>,
}

/// `--volumes-from CONTAINER[:ro|rw]`: that container's volumes and bind
/// mounts, at the same places, read-only or not as there unless said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub container: String,
    pub read_only: Option<bool>,
}

impl std::str::FromStr for VolumesFrom {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<VolumesFrom, String> {
        let (container, read_only) = match s.rsplit_once(':') {
            Some((c, "ro")) => (c, Some(true)),
            Some((c, "rw")) => (c, Some(false)),
            Some((_, o)) => {
                return Err(format!("--volumes-from {s:?}: unknown mode {o:?} (ro, rw)"))
            }
            None => (s, None),
        };
        if container.is_empty() {
            return Err(format!("--volumes-from {s:?}: no container named"));
        }
        Ok(VolumesFrom {
            container: container.into(),
            read_only,
        })
    }
}

/// The container's mounts: the user's, then those of `--volumes-from`
/// containers and the image's VOLUME paths where the user put nothing
/// (each of these a fresh anonymous volume), as docker combines them.
/// Anonymous volumes get their random names here.
pub fn combine_mounts(
    mut mounts: Vec<UserMount>,
    from: &[(Vec<UserMount>, Option<bool>)],
    image_volumes: &[String],
    mut new_name: impl FnMut() -> String,
) -> Result<Vec<UserMount>, SpecError> {
    let norm = |t: &str| {
        let t = t.trim_end_matches('/');
        if t.is_empty() {
            "/".to_string()
        } else {
            t.to_string()
        }
    };
    let taken = |mounts: &[UserMount], t: &str| mounts.iter().any(|m| norm(m.target()) == norm(t));
    for (theirs, mode) in from {
        for m in theirs {
            if taken(&mounts, m.target()) {
                continue;
            }
            let mut m = m.clone();
            match &mut m {
                UserMount::Tmpfs { .. } => continue,
                UserMount::Bind { read_only, .. } => {
                    *read_only = mode.unwrap_or(*read_only);
                }
                UserMount::Volume {
                    read_only,
                    anonymous,
                    no_copy,
                    ..
                } => {
                    *read_only = mode.unwrap_or(*read_only);
                    // Shared, not ours: `rm -v` of this container leaves it.
                    *anonymous = false;
                    *no_copy = true;
                }
            }
            mounts.push(m);
        }
    }
    for path in image_volumes {
        check_target(path).map_err(|why| SpecError::ImageVolume {
            path: path.clone(),
            why,
        })?;
        if taken(&mounts, path) {
            continue;
        }
        mounts.push(UserMount::Volume {
            name: String::new(),
            target: path.clone(),
            read_only: false,
            no_copy: false,
            anonymous: true,
        });
    }
    for m in &mut mounts {
        if let UserMount::Volume { name, .. } = m {
            if name.is_empty() {
                *name = new_name();
            }
        }
    }
    Ok(mounts)
}

/// `--pull`: when the image is pulled before the container is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when it is not here (the default).
    #[default]
    Missing,
    /// Every time.
    Always,
    /// Never: a missing image is an error.
    Never,
    /// When the registry has a newer one; when it cannot be reached, the
    /// image here is used.
    Newer,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<PullPolicy, String> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            "newer" => Ok(PullPolicy::Newer),
            _ => Err(format!("--pull {s:?}: always, missing, never or newer")),
        }
    }
}

/// `--proc-view`: what /proc/meminfo, /proc/cpuinfo, /proc/stat and the
/// like show inside the container (see `procview`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProcViewMode {
    /// The container's own view when it has memory or CPU limits, else
    /// the host's (the default).
    #[default]
    Auto,
    /// The container's own view, limits or not (its own uptime and load).
    Container,
    /// The host's files, as the kernel shows them.
    Host,
}

impl ProcViewMode {
    /// Whether a container with `limits` gets its own view.
    pub fn on(self, limits: &crate::cgroup::Limits) -> bool {
        match self {
            ProcViewMode::Auto => {
                limits.memory.is_some()
                    || limits.memory_swap.is_some()
                    || limits.cpus.is_some()
                    || limits.cpuset_cpus.is_some()
            }
            ProcViewMode::Container => true,
            ProcViewMode::Host => false,
        }
    }
}

impl std::str::FromStr for ProcViewMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ProcViewMode, String> {
        match s {
            "auto" => Ok(ProcViewMode::Auto),
            "container" => Ok(ProcViewMode::Container),
            "host" => Ok(ProcViewMode::Host),
            _ => Err(format!("--proc-view {s:?}: auto, container or host")),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error(
        "no command specified: the image has no Entrypoint or Cmd; give one after the image name"
    )]
    NoCommand,
    #[error("invalid volume {spec:?}: {why}")]
    Volume { spec: String, why: String },
    #[error("invalid VOLUME {path:?} in the image config: {why}")]
    ImageVolume { path: String, why: String },
    #[error("invalid --mount {spec:?}: {why}")]
    Mount { spec: String, why: String },
    #[error("invalid --tmpfs {spec:?}: {why}")]
    Tmpfs { spec: String, why: String },
    #[error("reading --env-file {path}: {why}")]
    EnvFile { path: PathBuf, why: String },
    #[error("invalid environment variable {0:?}: the name is empty")]
    Env(String),
    #[error("--rm and --restart {0} conflict: a container removed when it exits cannot restart")]
    RemoveAndRestart(RestartPolicy),
    #[error("invalid StopSignal {0:?} in the image config")]
    StopSignal(String),
    #[error("invalid --stop-signal {0:?}: a signal name (SIGTERM, TERM) or number")]
    StopSignalFlag(String),
    #[error("--cidfile {0}: the file exists; remove it or name another")]
    CidfileExists(PathBuf),
    #[error(
        "--ulimit {name}: the hard limit {asked} is above yours ({own}); only a privileged \
         process can raise a hard limit (see `ulimit -H`, or ask an admin for limits.conf)"
    )]
    UlimitAboveYours {
        name: &'static str,
        asked: String,
        own: String,
    },
    #[error(transparent)]
    Sysctl(#[from] super::spec::SysctlError),
    #[error("--log-driver passthrough {0}")]
    Passthrough(&'static str),
    #[error(
        "--group-add {0}: with --userns keep-id and no --user, give the group by number (a gid)"
    )]
    GroupAddName(String),
}

/// What `--ulimit` shows for a limit (`u64::MAX` is unlimited).
fn limit_text(n: u64) -> String {
    if n == u64::MAX {
        "unlimited".into()
    } else {
        n.to_string()
    }
}

/// Checks what the flags of the container's process ask against this
/// machine and each other: hard limits at most ours, sysctls only of
/// namespaces the container has, passthrough only where there is a
/// caller's stdio to pass.
fn check_host_flags(spec: &RunSpec, outlives: bool) -> Result<(), SpecError> {
    for u in &spec.ulimits {
        if let Some((_, own)) = u.resource.current() {
            if u.hard > own {
                return Err(SpecError::UlimitAboveYours {
                    name: u.resource.name(),
                    asked: limit_text(u.hard),
                    own: limit_text(own),
                });
            }
        }
    }
    for (name, _) in &spec.sysctls {
        if name.starts_with("net.")
            && matches!(spec.network, NetworkMode::Host | NetworkMode::Container(_))
        {
            return Err(super::spec::SysctlError::SharedNetwork(
                name.clone(),
                spec.network.to_string(),
            )
            .into());
        }
    }
    if spec.log.driver == super::spec::LogDriver::Passthrough {
        if spec.tty {
            return Err(SpecError::Passthrough(
                "cannot be used with -t: a terminal is burrow's to relay",
            ));
        }
        if outlives {
            return Err(SpecError::Passthrough(
                "needs a foreground run: with -d or create there is no caller's stdio to pass",
            ));
        }
    }
    Ok(())
}

/// Runs a container in the foreground and returns its exit status (with
/// `detach`, starts it under its own supervisor and prints its id).
pub fn run(ctx: &Context, spec: &RunSpec) -> Result<i32> {
    // An interactive run on a terminal can be left with the detach keys
    // (Ctrl-P Ctrl-Q) and attached again, as docker's: its supervisor is
    // then the one a detached container has, started attached, as `start
    // -a -i` starts it, and this process is its first client.
    let detachable = spec.detach_keys.as_ref().is_none_or(|k| !k.0.is_empty());
    if spec.tty && spec.interactive && !spec.detach && detachable && std::io::stdin().is_terminal()
    {
        let (id, _) = create_or_run(ctx, spec, true)?;
        let code = super::lifecycle::start_attached(ctx, &id, true, None)?;
        if spec.remove {
            wait_removed(ctx, &id);
        }
        return Ok(code);
    }
    let (id, code) = create_or_run(ctx, spec, false)?;
    if spec.detach {
        println!("{id}");
    }
    Ok(code)
}

/// After an attached `--rm` run: returns once the supervisor removed the
/// container that exited, as a foreground run ends after the removal
/// (at once when it was detached and runs on).
fn wait_removed(ctx: &Context, id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match super::records(ctx).and_then(|c| Ok(c.find(id)?)) {
            Ok((_, s)) if s.status != record::Status::Running => {}
            _ => return,
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `create`: the container with its record and plan, as `run -d` makes
/// it, left for `start`. Returns its id.
pub fn create(ctx: &Context, spec: &RunSpec) -> Result<String> {
    Ok(create_or_run(ctx, spec, true)?.0)
}

/// A container of a pod: the flags the pod decides checked, and the
/// pod's network (its infra container, started if it is not running) and
/// host name put in their place. Returns them with what the pod shares
/// and its id.
fn pod_member(
    ctx: &Context,
    spec: &RunSpec,
    input: &str,
) -> Result<(RunSpec, super::pods::Share, String)> {
    use super::pods::PodError;
    let store = ctx.store()?;
    let pod = super::pods::Pods::open(store.root()).find(input)?;
    let refuse = |flag: &'static str| -> Result<(RunSpec, super::pods::Share, String)> {
        Err(PodError::MemberFlag {
            pod: pod.name.clone(),
            flag,
        }
        .into())
    };
    if !spec.publish.is_empty() || spec.publish_all {
        return refuse("-p");
    }
    if spec.network != NetworkMode::default()
        || spec.network_endpoint != crate::net::networks::EndpointSpec::default()
    {
        return refuse("--network");
    }
    if pod.share.uts && spec.hostname.is_some() {
        return refuse("--hostname");
    }
    let containers = Containers::open(store.root())?;
    let (_, state) = containers.find(&pod.infra)?;
    if state.status != record::Status::Running {
        super::lifecycle::start(ctx, &pod.infra)?;
    }
    let mut member = spec.clone();
    member.network = NetworkMode::Container(pod.infra.clone());
    if pod.share.uts {
        member.hostname = Some(pod.name.clone());
    }
    Ok((member, pod.share, pod.id))
}

fn create_or_run(ctx: &Context, spec: &RunSpec, create_only: bool) -> Result<(String, i32)> {
    let member;
    let (spec, pod) = match &spec.pod {
        Some(input) => {
            member = pod_member(ctx, spec, input)?;
            (&member.0, Some((member.1, member.2.clone())))
        }
        None => (
            spec,
            spec.infra_of.clone().map(|id| (Default::default(), id)),
        ),
    };
    // A created container, like a detached one, outlives this process.
    let outlives = spec.detach || create_only;
    // Every flag is checked before the image is looked up (or pulled).
    let mounts: Vec<UserMount> = (spec.volumes.iter())
        .chain(&spec.mounts)
        .chain(&spec.tmpfs)
        .cloned()
        .collect();
    // A bad limit is refused before anything is created.
    spec.limits
        .validate()
        .map_err(crate::cgroup::CgroupError::from)?;
    let (no_new_privs, seccomp) = SecurityOpt::resolve(&spec.security_opt);
    check_host_flags(spec, outlives).map_err(spec_err)?;
    let base = if spec.privileged {
        CapSet::all()
    } else {
        CapSet::docker_default()
    };
    let capabilities = base.with_changes(&spec.cap_add, &spec.cap_drop);
    let restart = spec.restart;
    if spec.remove && restart != RestartPolicy::No {
        return Err(spec_err(SpecError::RemoveAndRestart(restart)));
    }
    let keep_id = spec.userns == UsernsMode::KeepId;

    let store = ctx.store()?;
    // Until the container is recorded, no `rmi` may remove its image.
    let image_held = store.hold_shared().map_err(|e| Error::Image(e.into()))?;
    let pull = || -> Result<_> {
        let opts = PullOptions {
            platform: None,
            progress: ProgressMode::detect(false),
        };
        // What was pulled is run: by its id, whatever name it got.
        let pulled = super::images::pull(ctx, &spec.image, &opts, None)?;
        ctx.resolve(&store, &pulled.id.to_string())
    };
    let entry = match (spec.pull, ctx.resolve(&store, &spec.image)) {
        (PullPolicy::Always, _) => pull()?,
        // Pulled only when the registry's manifest is not the one the
        // image here was pulled as; a registry out of reach leaves the
        // image here in use.
        (PullPolicy::Newer, Ok(here)) => {
            match super::images::remote_digest(ctx, &spec.image, None) {
                Ok(d) if here.record.manifest_digest.as_ref() == Some(&d) => here,
                Ok(_) => pull().unwrap_or(here),
                Err(e) => {
                    eprintln!(
                        "Warning: cannot ask the registry for {}: {e}; using the image here",
                        spec.image
                    );
                    here
                }
            }
        }
        (_, Ok(e)) => e,
        (PullPolicy::Never, Err(e)) => return Err(e),
        (_, Err(Error::Image(ImageError::Store(StoreError::NoSuchImage(_)))))
            if pullable(&spec.image) =>
        {
            // Said first, before whatever the registry answers: a typo
            // should not read as a registry's failure.
            let names: Vec<String> = store
                .images()
                .map(|v| v.into_iter().flat_map(|e| e.names).collect())
                .unwrap_or_default();
            match crate::image::reference::closest_name(&spec.image, &names) {
                Some(near) => eprintln!(
                    "no image {} here (did you mean {near}?); pulling it",
                    spec.image
                ),
                None => eprintln!("no image {} here; pulling it", spec.image),
            }
            pull()?
        }
        (_, Err(e)) => return Err(e),
    };
    ctx.warn_other_map(&store, &spec.image, &entry.record.layers);
    let (config, _) = store
        .config(&entry.record.id)
        .map_err(|e| Error::Image(e.into()))?;
    let image_run = config.config.clone().unwrap_or_default();
    let mounts = {
        let containers = Containers::open(store.root())?;
        let mut from = Vec::new();
        for f in &spec.volumes_from {
            let (r, _) = containers.find(&f.container)?;
            from.push((r.config.mounts, f.read_only));
        }
        let image_volumes: Vec<String> = (image_run.volumes.iter())
            .filter(|_| !spec.skip_image_volumes)
            .flat_map(|v| v.keys().cloned())
            .collect();
        combine_mounts(mounts, &from, &image_volumes, record::new_id).map_err(spec_err)?
    };
    if let Some(path) = &spec.cidfile {
        if path.exists() {
            return Err(spec_err(SpecError::CidfileExists(path.clone())));
        }
    }
    let id = record::new_id();
    let uid = nix::unistd::Uid::current().as_raw();
    let gid = nix::unistd::Gid::current().as_raw();
    let process = ProcessPlan::of(spec, &image_run, &id, (uid, gid), |n| std::env::var(n).ok())
        .map_err(spec_err)?;
    let ProcessPlan {
        argv,
        env,
        hostname,
        workdir,
        user,
        shown_user,
        stop_signal,
    } = process;
    let mut labels = image_run.labels.clone().unwrap_or_default();
    labels.extend(spec.labels.clone());

    let base_map = ctx.idmap()?.clone();
    let id_map = if keep_id {
        keep_id_map(&base_map, uid, gid)
    } else {
        base_map
    };
    // From the record's creation to its removal, a Ctrl-C or a SIGTERM is
    // the container's (forwarded once it runs), never a cut in between
    // that leaves a record or a running container behind.
    let _held = HeldSignals::hold()?;
    // The record first: a name taken is an error before anything starts.
    let containers = Containers::open(store.root())?;
    let flags = network::Flags {
        network: &spec.network,
        publish: &spec.publish,
        publish_all: spec.publish_all,
        dns: &spec.dns,
        add_host: &spec.add_host,
        endpoint: &spec.network_endpoint,
        storage: store.root(),
    };
    let mut network = network::plan(
        &containers,
        &flags,
        image_run.exposed_ports.as_ref(),
        &ctx.config.network,
    )?;
    if let (Some((share, _)), Some((join, _, _))) =
        (spec.pod.as_ref().and(pod.as_ref()), &mut network.join)
    {
        let share: &super::pods::Share = share;
        join.ipc = share.ipc;
        join.uts = share.uts;
        join.pid_ns = share.pid;
    }
    let bound = network::bind(&network, &ctx.paths.runtime.join("ports"))?;
    // Held until the record names the volumes it uses: a `volume rm` or
    // `volume prune` in between would remove one about to be used.
    let volumes = Volumes::open(store.root())?;
    let volumes_lock = volumes.lock()?;
    let dir = {
        let _lock = containers.lock()?;
        let name = match &spec.name {
            Some(n) => {
                containers.check_name(n)?;
                n.clone()
            }
            None => containers.generate_name()?,
        };
        make_volumes(&volumes, &store, &mounts)?;
        let record = Record {
            id: id.clone(),
            name,
            image_id: entry.record.id.clone(),
            image: spec.image.clone(),
            // Nanoseconds, as docker records it: ps orders by it.
            created: crate::time::rfc3339_nanos(super::log::now_ns()),
            config: ContainerConfig {
                cmd: argv.clone(),
                env: env.clone(),
                working_dir: workdir.clone(),
                user: shown_user,
                hostname: hostname.clone(),
                tty: spec.tty,
                open_stdin: spec.interactive,
                init: spec.init,
                read_only: spec.read_only,
                mounts: mounts.clone(),
                cap_add: spec.cap_add.iter().map(|c| c.given().into()).collect(),
                cap_drop: spec.cap_drop.iter().map(|c| c.given().into()).collect(),
                no_new_privileges: no_new_privs,
                privileged: spec.privileged,
                userns_mode: spec.userns.shown(),
                network_mode: network.mode.clone(),
                ports: bound.ports(),
                restart_policy: restart,
                stop_signal,
                labels,
                ulimits: spec.ulimits.clone(),
                shm_size: spec.shm_size,
                sysctls: spec.sysctls.clone(),
                log_config: spec.log.clone(),
                group_add: spec.group_add.clone(),
                detach_keys: spec.detach_keys.clone(),
            },
            id_map: id_map.clone(),
            auto_remove: spec.remove,
            // A foreground --rm container's plan is a file less made and
            // removed on the storage filesystem at each run.
            plan_dir: (spec.remove && !outlives).then(|| runtime_dir(ctx, &id)),
            pod: pod.as_ref().map(|(_, id)| id.clone()),
        };
        let dir = containers.create(
            &record,
            &State {
                limits: spec.limits.clone(),
                ..State::created()
            },
        )?;
        // On a user-defined network: an address, and its name in the
        // /etc/hosts of the others there.
        let etc_dir = record.plan_dir.clone().unwrap_or_else(|| dir.clone());
        if let Err(e) = network::attach(
            &mut network,
            store.root(),
            &containers,
            &id,
            &record.name,
            &etc_dir.join("hosts"),
        ) {
            let _ = remove_container_dir(ctx, &dir);
            return Err(e);
        }
        dir
    };
    drop(volumes_lock);
    drop(image_held);
    if let Some(path) = &spec.cidfile {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| f.write_all(id.as_bytes()))
            .map_err(|source| {
                Error::Image(ImageError::Store(StoreError::Io {
                    what: "writing the --cidfile",
                    path: path.clone(),
                    source,
                }))
            })?;
    }
    let result = start_and_wait(
        ctx,
        &id,
        &dir,
        SandboxInputs {
            id_map,
            layers: store.image_layer_dirs(&entry.record.layers),
            mounts,
            hostname,
            env,
            workdir,
            argv,
            user,
            capabilities,
            no_new_privs,
            seccomp,
            network,
            bound,
            spec,
            restart,
            stop_signal,
            health: super::health::HealthCheck::resolve(
                image_run.healthcheck.as_ref(),
                &spec.health,
            ),
            outlives,
            create_only,
        },
    );
    result.map(|code| (id, code))
}

/// Makes the volumes among `mounts` that do not exist yet (a missing named
/// one, as docker makes it; every anonymous one).
fn make_volumes(
    volumes: &Volumes,
    store: &crate::image::store::Store,
    mounts: &[UserMount],
) -> Result<()> {
    for m in mounts {
        if let UserMount::Volume {
            name, anonymous, ..
        } = m
        {
            let mut labels = std::collections::BTreeMap::new();
            if *anonymous {
                labels.insert(super::volumes::ANONYMOUS_LABEL.to_string(), String::new());
            }
            volumes
                .create(
                    store,
                    &NewVolume {
                        name: Some(name.clone()),
                        labels,
                        ..Default::default()
                    },
                )
                .map_err(ContainerError::from)?;
        }
    }
    Ok(())
}

/// What the container's process is, from the flags and the image alone:
/// pure, so that docker's rules of combination are tested without a
/// kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessPlan {
    /// The command line: `--entrypoint` or the image's Entrypoint, then
    /// the command or the image's Cmd.
    pub argv: Vec<String>,
    /// The environment: the image's, `--env-file`, `-e`, then HOSTNAME
    /// and (with `-t`) TERM unless set.
    pub env: Vec<String>,
    /// `-H`, else the first 12 digits of the id.
    pub hostname: String,
    /// `-w`, else the image's WorkingDir, else `/`.
    pub workdir: String,
    /// Who runs it: `-u` or the image's User looked up in the image, or
    /// (`--userns keep-id` with neither) the caller's own ids.
    pub user: User,
    /// The user as `inspect` shows it: as given, empty for the default.
    pub shown_user: String,
    /// The first signal of `stop`: the image's StopSignal, else SIGTERM.
    pub stop_signal: i32,
}

impl ProcessPlan {
    /// The plan for container `id` of an image whose config is `image`;
    /// `own` is the caller's uid and gid (for `--userns keep-id`) and
    /// `lookup` the caller's environment (for `-e NAME`).
    pub fn of(
        spec: &RunSpec,
        image: &crate::image::config::RunConfig,
        id: &str,
        own: (u32, u32),
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ProcessPlan, SpecError> {
        // --stop-signal, else the image's StopSignal, else SIGTERM.
        let stop_signal = match (spec.stop_signal, image.stop_signal.as_deref()) {
            (Some(s), _) => s,
            (None, None | Some("")) => libc::SIGTERM,
            (None, Some(s)) => {
                crate::sandbox::signal_number(s).ok_or_else(|| SpecError::StopSignal(s.into()))?
            }
        };
        let argv = argv(
            spec.entrypoint.as_deref(),
            &spec.command,
            image.entrypoint.as_deref().unwrap_or_default(),
            image.cmd.as_deref().unwrap_or_default(),
        )?;
        let hostname = spec
            .hostname
            .clone()
            .unwrap_or_else(|| id.chars().take(12).collect());
        let mut env = environment(
            image.env.as_deref().unwrap_or_default(),
            &spec.env_files,
            &spec.env,
            lookup,
        )?;
        if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
            env.push(format!("HOSTNAME={hostname}"));
        }
        if spec.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        let keep_id = spec.userns == UsernsMode::KeepId;
        // --group-add: numbers as they are, names looked up in the image.
        let (extra_gids, extra_groups): (Vec<u32>, Vec<String>) = {
            let (n, names): (Vec<&String>, Vec<&String>) = spec
                .group_add
                .iter()
                .partition(|g| g.parse::<u32>().is_ok());
            (
                n.iter().filter_map(|g| g.parse().ok()).collect(),
                names.into_iter().cloned().collect(),
            )
        };
        let user = match (&spec.user, keep_id) {
            (Some(u), _) => User::Lookup {
                spec: u.clone(),
                extra_gids,
                extra_groups,
            },
            (None, true) => User::Id {
                uid: own.0,
                gid: own.1,
                additional_gids: match extra_groups.first() {
                    Some(name) => return Err(SpecError::GroupAddName(name.clone())),
                    None => extra_gids,
                },
            },
            (None, false) => User::Lookup {
                spec: image
                    .user
                    .clone()
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| "0".into()),
                extra_gids,
                extra_groups,
            },
        };
        let workdir = spec
            .workdir
            .clone()
            .or(image.working_dir.clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".into());
        Ok(ProcessPlan {
            argv,
            env,
            hostname,
            workdir,
            user,
            shown_user: spec.user.clone().or(image.user.clone()).unwrap_or_default(),
            stop_signal,
        })
    }
}

/// The signals the foreground wait forwards to the container, blocked
/// while this lives. Its drop discards the ones still pending: they came
/// after the container ended and have no one to go to.
struct HeldSignals {
    held: nix::sys::signal::SigSet,
    old: nix::sys::signal::SigSet,
}

impl HeldSignals {
    fn hold() -> Result<HeldSignals> {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
        let mut held = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
        ] {
            held.add(s);
        }
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&held), Some(&mut old)).map_err(|e| {
            Error::Sandbox(crate::sandbox::SandboxError::Sys {
                call: "sigprocmask",
                errno: e as i32,
            })
        })?;
        Ok(HeldSignals { held, old })
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: sigtimedwait reads the set and the timeout through valid
        // pointers and may write no siginfo (null); a zero timeout returns
        // at once with EAGAIN when nothing of the set is pending.
        while unsafe { libc::sigtimedwait(self.held.as_ref(), std::ptr::null_mut(), &now) } > 0 {}
        let _ = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&self.old),
            None,
        );
    }
}

fn spec_err(e: SpecError) -> Error {
    Error::Container(ContainerError::Spec(e))
}

/// Whether a missing image may be pulled: not an id prefix.
fn pullable(image: &str) -> bool {
    !(image.len() >= 3 && image.len() <= 64 && image.bytes().all(|b| b.is_ascii_hexdigit()))
}

struct SandboxInputs<'a> {
    id_map: IdMap,
    layers: Vec<PathBuf>,
    mounts: Vec<UserMount>,
    hostname: String,
    env: Vec<String>,
    workdir: String,
    argv: Vec<String>,
    user: User,
    capabilities: CapSet,
    no_new_privs: bool,
    seccomp: crate::sandbox::SeccompPolicy,
    network: network::NetworkPlan,
    bound: network::BoundPorts,
    spec: &'a RunSpec,
    restart: RestartPolicy,
    stop_signal: i32,
    health: Option<super::health::HealthCheck>,
    /// Detached or created: its files stay with it under the storage root.
    outlives: bool,
    /// `create`: everything but the start.
    create_only: bool,
}

fn start_and_wait(ctx: &Context, id: &str, dir: &Path, input: SandboxInputs<'_>) -> Result<i32> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Image(ImageError::Store(StoreError::Io { what, path, source }))
    };
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    for d in [&upper, &work] {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(d)
            .map_err(io("creating", d))?;
    }
    // The /etc files live as long as the container runs, under the runtime
    // dir (a tmpfs as a rule): not three more files made and deleted on the
    // storage filesystem, whose journal makes each cost.
    // Only a foreground --rm container ends with this process; any other
    // may be started again, or outlives it (-d), so its files stay with it.
    let throwaway = input.spec.remove && !input.outlives;
    let etc_dir = if throwaway {
        runtime_dir(ctx, id)
    } else {
        dir.to_path_buf()
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&etc_dir)
        .map_err(io("creating", &etc_dir))?;
    let _etc_dir = throwaway.then(|| RemovedOnDrop(etc_dir.clone()));
    let etc = network::etc_files(&etc_dir, &input.hostname, &input.network)
        .map_err(io("writing", &etc_dir))?;
    // Each full map (yours, keep-id's) is held in one shared user
    // namespace; the single-id map needs no helper to write.
    let shared_userns = (ctx.config.userns.keep_alive > 0).then(|| SharedUserns {
        dir: ctx.paths.runtime.join("userns"),
        keep_alive_secs: ctx.config.userns.keep_alive,
    });
    let mut sandbox = SandboxSpec::new(
        input.id_map,
        Rootfs::Overlay {
            lower: input.layers,
            upper,
            work,
        },
        input.argv,
    );
    super::kernel::overlay_choice(&ctx.paths.storage).apply(&mut sandbox);
    sandbox.read_only = input.spec.read_only;
    let volumes = Volumes::open(&ctx.paths.storage)?;
    sandbox.mounts = input
        .mounts
        .into_iter()
        .map(|m| {
            Ok(match m {
                UserMount::Volume {
                    name,
                    target,
                    read_only,
                    no_copy,
                    ..
                } => volume_op(&volumes, &name, target.into(), read_only, !no_copy)?,
                UserMount::Bind {
                    source,
                    target,
                    read_only,
                } => MountOp::Bind {
                    src: source,
                    dst: target.into(),
                    read_only,
                    real: true,
                },
                UserMount::Tmpfs { target, size, mode } => MountOp::Tmpfs {
                    dst: target.into(),
                    size,
                    mode,
                    read_only: false,
                    nosuid: true,
                    nodev: true,
                    noexec: false,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    sandbox.etc = etc;
    sandbox.hostname = Some(input.hostname);
    sandbox.env = input.env;
    sandbox.cwd = input.workdir.into();
    if input.spec.userns == UsernsMode::KeepId && input.spec.user.is_none() {
        // You, by name, with a home: whoami, id -un and $HOME work.
        let name = crate::sandbox::userns::current_user_name();
        sandbox.account = Some(crate::sandbox::user::Account {
            home: format!("/home/{name}"),
            name,
            uid: nix::unistd::Uid::current().as_raw(),
            gid: nix::unistd::Gid::current().as_raw(),
        });
    }
    sandbox.user = input.user;
    sandbox.capabilities = input.capabilities;
    sandbox.no_new_privs = input.no_new_privs;
    sandbox.seccomp = input.seccomp.clone();
    // docker's /sys/fs/cgroup: the container's own cgroup, read-only but
    // for a privileged container. A hybrid host's v2 tree has no
    // controllers to show, so there is none.
    sandbox.cgroup_fs = match (crate::cgroup::detect::layout(), input.spec.privileged) {
        (crate::cgroup::Layout::Unified, false) => CgroupFs::ReadOnly,
        (crate::cgroup::Layout::Unified, true) => CgroupFs::ReadWrite,
        _ => CgroupFs::Absent,
    };
    if input.spec.privileged {
        sandbox.seccomp = crate::sandbox::SeccompPolicy::Unconfined;
        sandbox.masked_paths.clear();
        sandbox.readonly_paths.clear();
    }
    sandbox.init = input.spec.init;
    sandbox.tty = input.spec.tty;
    sandbox.stdin = input.spec.interactive;
    network::apply(&input.network, &mut sandbox);

    sandbox.oom_score_adj = input.spec.oom_score_adj;
    sandbox.rlimits = input.spec.ulimits.clone();
    sandbox.shm_size = input.spec.shm_size;
    if input.spec.proc_view.on(&input.spec.limits) {
        sandbox.proc_view = super::procfuse::files();
    }
    sandbox.sysctls = input.spec.sysctls.clone();
    sandbox.shared_userns = shared_userns;
    // One id mapped: chown, set*id and the like succeed, and the owners
    // asked for are kept for commit (see `sandbox::rootemu`).
    // (keep-id's single map makes you yourself inside, not root: no root
    // to emulate.)
    let id_map = &sandbox.id_map;
    sandbox.root_emulation = id_map.is_single()
        && id_map.uids.first().is_some_and(|r| r.inside == 0)
        && id_map.gids.first().is_some_and(|r| r.inside == 0);
    sandbox.volatile_upper = input.spec.remove;
    sandbox.pause = input.spec.infra_of.is_some();
    // What every supervisor of this container, and `exec`, work from.
    let plan = Plan {
        id: id.to_string(),
        sandbox: sandbox.clone(),
        log_max_size: input.spec.log.rotate_at(ctx.config.logs.max_size.bytes()),
        log: input.spec.log.clone(),
        runtime_dir: super::lifecycle::runtime_dir(ctx, id),
        restart: input.restart,
        auto_remove: input.spec.remove,
        stop_signal: input.stop_signal,
        stop_timeout: input.spec.stop_timeout,
        interactive: input.spec.interactive,
        limits: input.spec.limits.clone(),
        network: SupervisedNetwork::of(&input.network, &input.bound),
        health: input.health,
        join_container: input
            .network
            .joined
            .clone()
            .map(|id| (ctx.paths.storage.clone(), id)),
    };
    let plan_dir = if throwaway { &etc_dir } else { dir };
    plan.save(plan_dir).map_err(io("writing", plan_dir))?;
    if input.outlives {
        // The supervisor binds the published ports itself.
        drop(input.bound);
        if !input.create_only {
            super::lifecycle::launch(ctx, dir)?;
        }
        return Ok(0);
    }
    // The supervisor, in this process: output to our stdio and the log,
    // the control socket, the network, and every state recorded.
    let log_dir = if throwaway { &etc_dir } else { dir };
    let (bound, reserved) = input.bound.into_parts();
    let fg = Foreground {
        bound,
        reserved,
        cgroup_note: ctx.paths.runtime.join("cgroup-note"),
    };
    match supervisor::foreground(dir, log_dir, plan, fg) {
        Ok(code) => Ok(code),
        Err(e) => {
            // It never ran: nothing of it stays, --rm or not (the error
            // says everything a record could).
            let mounts = Containers::open(&ctx.paths.storage)
                .and_then(|c| c.record(id))
                .map(|r| r.config.mounts)
                .unwrap_or_default();
            if let Err(r) = remove_container_dir(ctx, dir) {
                eprintln!("Warning: {r}; `burrow rm {id}` removes the rest");
            }
            let _ = super::volumes::remove_anonymous(&ctx.paths.storage, &mounts, &|p| {
                super::remove_as_owner(ctx, p).map_err(|e| e.to_string())
            });
            Err(match e {
                supervisor::SupervisorError::Sandbox(e) => Error::Sandbox(e),
                supervisor::SupervisorError::Cgroup(e) => Error::Cgroup(e),
                other => Error::Container(ContainerError::Supervisor {
                    code: other.exit_code(),
                    message: other.to_string(),
                }),
            })
        }
    }
}

/// A volume's `_data` by its real path (the sandbox opens it following no
/// link; the storage root may be reached through one).
/// How volume `name` is mounted on `dst`, as its local-driver options
/// say: its own directory, a host directory bound (`o=bind`: the path
/// checked for links a container could have planted, as a `-v` bind is),
/// or a tmpfs.
fn volume_op(
    volumes: &Volumes,
    name: &str,
    dst: PathBuf,
    read_only: bool,
    copy_up: bool,
) -> Result<MountOp> {
    let how = match volumes.get(name) {
        Ok(v) => v.local_mount().map_err(ContainerError::from)?,
        Err(_) => super::volumes::LocalMount::Dir,
    };
    Ok(match how {
        super::volumes::LocalMount::Dir => MountOp::Volume {
            src: real_volume_dir(volumes, name),
            dst,
            read_only,
            copy_up,
        },
        super::volumes::LocalMount::Bind { device } => MountOp::Volume {
            src: crate::sandbox::mounts::real_bind_source(&device)
                .map_err(|e| ContainerError::Other(format!("volume {name}: device {e}")))?,
            dst,
            read_only,
            copy_up,
        },
        super::volumes::LocalMount::Tmpfs { size, mode } => MountOp::Tmpfs {
            dst,
            size,
            mode,
            read_only,
            nosuid: true,
            nodev: true,
            noexec: false,
        },
    })
}

fn real_volume_dir(volumes: &Volumes, name: &str) -> PathBuf {
    let data = volumes.data_of(name);
    match data.parent().map(std::fs::canonicalize) {
        Some(Ok(dir)) => dir.join("_data"),
        _ => data,
    }
}

/// What a container needs only while it runs (its /etc files), under the
/// runtime dir.
pub fn runtime_dir(ctx: &Context, id: &str) -> PathBuf {
    ctx.paths.runtime.join("containers").join(id)
}

/// A directory of burrow's own files, removed when this goes.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes a container's directory: as you when its files are all yours
/// (the common case, and fast), else inside the user namespace.
pub fn remove_container_dir(ctx: &Context, dir: &Path) -> Result<()> {
    // overlayfs leaves its work/work with mode 000 (and as ours): opened
    // up first, the walk below succeeds the first time instead of failing,
    // chmod-ing everything and walking again.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(
        dir.join("work/work"),
        std::fs::Permissions::from_mode(0o700),
    );
    if remove_tree(dir).is_ok() {
        return Ok(());
    }
    let dir = dir.to_path_buf();
    ctx.in_userns(move |_| remove_tree(&dir).map_err(|e| Error::Image(e.into())))
}

/// `--userns keep-id`: your uid and gid inside are yours outside.
///
/// The layers on disk were written through the base map (image root is
/// you, image id k is the k-th subordinate id), so every other id keeps
/// its base mapping: files of image user 1000 still show as 1000. Only two
/// ids trade places: yours goes to your own number, and root takes the
/// subordinate id that number had. What the image owns as root therefore
/// shows as yours inside (documented in README).
pub fn keep_id_map(base: &IdMap, uid: u32, gid: u32) -> IdMap {
    fn swap(ranges: &[IdRange], own: u32) -> Vec<IdRange> {
        let host_self = lookup(ranges, 0);
        let freed = if own == 0 { None } else { lookup(ranges, own) };
        let mut out: Vec<IdRange> = Vec::new();
        for r in ranges {
            // Cut 0 and `own` out of the range; keep the rest as it was.
            let mut pieces = vec![*r];
            for cut in [0, own] {
                pieces = pieces.into_iter().flat_map(|p| split_out(p, cut)).collect();
            }
            out.extend(pieces);
        }
        if let Some(host) = host_self {
            out.push(IdRange {
                inside: own,
                outside: host,
                count: 1,
            });
        }
        if let Some(host) = freed {
            out.push(IdRange {
                inside: 0,
                outside: host,
                count: 1,
            });
        }
        out.sort_by_key(|r| r.inside);
        out
    }
    fn lookup(ranges: &[IdRange], inside: u32) -> Option<u32> {
        ranges
            .iter()
            .find(|r| inside >= r.inside && inside - r.inside < r.count)
            .map(|r| r.outside + (inside - r.inside))
    }
    fn split_out(r: IdRange, cut: u32) -> Vec<IdRange> {
        if cut < r.inside || cut - r.inside >= r.count {
            return vec![r];
        }
        let before = cut - r.inside;
        let mut v = Vec::new();
        if before > 0 {
            v.push(IdRange {
                inside: r.inside,
                outside: r.outside,
                count: before,
            });
        }
        let after = r.count - before - 1;
        if after > 0 {
            v.push(IdRange {
                inside: cut + 1,
                outside: r.outside + before + 1,
                count: after,
            });
        }
        v
    }
    IdMap {
        uids: swap(&base.uids, uid),
        gids: swap(&base.gids, gid),
    }
}

/// The command a container runs: docker's rules for Entrypoint and Cmd.
pub fn argv(
    entrypoint_flag: Option<&str>,
    command: &[String],
    image_entrypoint: &[String],
    image_cmd: &[String],
) -> Result<Vec<String>, SpecError> {
    let out: Vec<String> = match entrypoint_flag {
        // --entrypoint replaces the image's and drops its Cmd as well.
        Some("") => command.to_vec(),
        Some(ep) => std::iter::once(ep.to_string())
            .chain(command.iter().cloned())
            .collect(),
        None => {
            let cmd = if command.is_empty() {
                image_cmd
            } else {
                command
            };
            image_entrypoint.iter().chain(cmd).cloned().collect()
        }
    };
    if out.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(out)
}

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment: the image's, then --env-file lines, then -e, later
/// ones winning; `NAME` alone passes the caller's value on (or nothing).
pub fn environment(
    image_env: &[String],
    env_files: &[PathBuf],
    env: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SpecError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |entry: &str, vars: &mut Vec<(String, String)>| -> Result<(), SpecError> {
        let (name, value) = match entry.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => match lookup(entry) {
                Some(v) => (entry.to_string(), v),
                None => return Ok(()),
            },
        };
        if name.is_empty() {
            return Err(SpecError::Env(entry.to_string()));
        }
        vars.retain(|(n, _)| n != &name);
        vars.push((name, value));
        Ok(())
    };
    for e in image_env {
        set(e, &mut vars)?;
    }
    for path in env_files {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError::EnvFile {
            path: path.clone(),
            why: e.to_string(),
        })?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            set(line, &mut vars)?;
        }
    }
    for e in env {
        set(e, &mut vars)?;
    }
    if !vars.iter().any(|(n, _)| n == "PATH") {
        vars.insert(0, ("PATH".into(), DEFAULT_PATH["PATH=".len()..].into()));
    }
    Ok(vars.into_iter().map(|(n, v)| format!("{n}={v}")).collect())
}

fn absolute_source(raw: &str, cwd: &Path) -> PathBuf {
    let p = Path::new(raw);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

fn check_target(target: &str) -> Result<(), String> {
    if !target.starts_with('/') {
        return Err(format!("the container path {target:?} must be absolute"));
    }
    if target.split('/').any(|c| c == "..") {
        return Err(format!("the container path {target:?} may not contain .."));
    }
    Ok(())
}

/// `-v HOST:CONTAINER[:OPTS]`, `-v NAME:CONTAINER[:OPTS]` (a volume,
/// made when missing) or `-v CONTAINER` (an anonymous volume). A source
/// that starts with `/`, `.` or `~` is a host path; anything else is a
/// volume's name, as docker reads it.
pub fn parse_volume(spec: &str, cwd: &Path) -> Result<UserMount, SpecError> {
    let err = |why: String| SpecError::Volume {
        spec: spec.to_string(),
        why,
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => {
            return Err(err(
                "expected HOST:CONTAINER[:ro], NAME:CONTAINER[:ro] or CONTAINER".into(),
            ))
        }
    };
    if parts.len() > 1 && source.is_empty() {
        return Err(err("the host path or volume name is empty".into()));
    }
    check_target(target).map_err(err)?;
    let (mut read_only, mut no_copy) = (false, false);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "nocopy" => no_copy = true,
            "z" | "Z" => {} // SELinux relabelling: nothing to do here
            other => return Err(err(format!("unknown option {other:?} (ro, rw, nocopy)"))),
        }
    }
    let is_path = source.starts_with('/') || source.starts_with('.') || source.starts_with('~');
    if !is_path {
        if !source.is_empty() {
            super::volumes::check_name(source).map_err(|e| err(e.to_string()))?;
        }
        return Ok(UserMount::Volume {
            name: source.to_string(),
            target: target.to_string(),
            read_only,
            no_copy,
            anonymous: source.is_empty(),
        });
    }
    if no_copy {
        return Err(err("nocopy applies to a volume, not to a host path".into()));
    }
    let source = if let Some(rest) = source.strip_prefix('~') {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(rest.trim_start_matches('/'))
    } else {
        absolute_source(source, cwd)
    };
    if !source.exists() {
        return Err(err(format!(
            "the host path {} does not exist; create it first",
            source.display()
        )));
    }
    let source =
        crate::sandbox::mounts::real_bind_source(&source).map_err(|e| err(e.to_string()))?;
    Ok(UserMount::Bind {
        source,
        target: target.to_string(),
        read_only,
    })
}

/// A size as tmpfs takes it: 64m, 1g, 4096.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        'b' => (&s[..s.len() - 1], 1),
        _ => (&s[..], 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// `--mount type=bind,source=...,target=...[,readonly]` or `type=tmpfs,...`.
pub fn parse_mount(spec: &str, cwd: &Path) -> Result<UserMount, SpecError> {
    let err = |why: String| SpecError::Mount {
        spec: spec.to_string(),
        why,
    };
    let (mut kind, mut source, mut target, mut ro, mut size, mut mode) =
        (None, None, None, false, None, None);
    let mut no_copy = false;
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match (k, v) {
            ("type", Some(v)) => kind = Some(v.to_string()),
            ("source" | "src", Some(v)) => source = Some(v.to_string()),
            ("target" | "dst" | "destination", Some(v)) => target = Some(v.to_string()),
            ("readonly" | "ro", None | Some("true" | "1")) => ro = true,
            ("readonly" | "ro", Some("false" | "0")) => ro = false,
            ("tmpfs-size", Some(v)) => {
                size = Some(parse_size(v).ok_or_else(|| err(format!("bad size {v:?}")))?)
            }
            ("tmpfs-mode", Some(v)) => {
                mode = Some(
                    u32::from_str_radix(v, 8).map_err(|_| err(format!("bad octal mode {v:?}")))?,
                )
            }
            ("volume-nocopy", None | Some("true" | "1")) => no_copy = true,
            ("volume-nocopy", Some("false" | "0")) => no_copy = false,
            ("volume-driver", Some("local")) => {}
            ("bind-propagation" | "relabel" | "consistency", _) => {}
            _ => return Err(err(format!("unknown field {field:?}"))),
        }
    }
    let target = target.ok_or_else(|| err("target= is required".into()))?;
    check_target(&target).map_err(err)?;
    match kind.as_deref() {
        Some("bind") => {
            let raw = source.ok_or_else(|| err("source= is required for type=bind".into()))?;
            let source = absolute_source(&raw, cwd);
            if !source.exists() {
                return Err(err(format!(
                    "the host path {} does not exist; create it first",
                    source.display()
                )));
            }
            let source = crate::sandbox::mounts::real_bind_source(&source)
                .map_err(|e| err(e.to_string()))?;
            Ok(UserMount::Bind {
                source,
                target,
                read_only: ro,
            })
        }
        Some("tmpfs") => Ok(UserMount::Tmpfs { target, size, mode }),
        Some("volume") => {
            let name = source.unwrap_or_default();
            if !name.is_empty() {
                super::volumes::check_name(&name).map_err(|e| err(e.to_string()))?;
            }
            Ok(UserMount::Volume {
                anonymous: name.is_empty(),
                name,
                target,
                read_only: ro,
                no_copy,
            })
        }
        Some(other) => Err(err(format!(
            "type={other} is not supported (bind, volume, tmpfs)"
        ))),
        None => Err(err("type= is required (bind, volume, tmpfs)".into())),
    }
}

/// `--tmpfs PATH[:size=...,mode=...]`.
pub fn parse_tmpfs(spec: &str) -> Result<UserMount, SpecError> {
    let err = |why: String| SpecError::Tmpfs {
        spec: spec.to_string(),
        why,
    };
    let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
    check_target(target).map_err(err)?;
    let (mut size, mut mode) = (None, None);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", v)) => {
                size = Some(parse_size(v).ok_or_else(|| err(format!("bad size {v:?}")))?)
            }
            Some(("mode", v)) => {
                mode = Some(
                    u32::from_str_radix(v, 8).map_err(|_| err(format!("bad octal mode {v:?}")))?,
                )
            }
            _ if matches!(
                o,
                "rw" | "noexec" | "nosuid" | "nodev" | "exec" | "suid" | "dev"
            ) => {}
            _ => return Err(err(format!("unknown option {o:?} (size=, mode=)"))),
        }
    }
    Ok(UserMount::Tmpfs {
        target: target.to_string(),
        size,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_process_plan_combines_flags_and_image_as_docker_does() {
        let image: crate::image::config::RunConfig = serde_json::from_value(serde_json::json!({
            "Entrypoint": ["/entry"],
            "Cmd": ["default"],
            "Env": ["PATH=/bin", "A=image"],
            "User": "app",
            "WorkingDir": "/srv",
            "StopSignal": "SIGQUIT"
        }))
        .unwrap();
        let id = "0123456789abcdef";
        let host = |n: &str| (n == "FROMHOST").then(|| "h".to_string());
        let plain = ProcessPlan::of(&RunSpec::default(), &image, id, (1000, 1000), host).unwrap();
        assert_eq!(plain.argv, v(&["/entry", "default"]));
        assert_eq!(
            plain.env,
            v(&["PATH=/bin", "A=image", "HOSTNAME=0123456789ab"])
        );
        assert_eq!(plain.hostname, "0123456789ab");
        assert_eq!(plain.workdir, "/srv");
        assert_eq!(plain.shown_user, "app");
        assert!(matches!(&plain.user, User::Lookup { spec, .. } if spec == "app"));
        assert_eq!(plain.stop_signal, libc::SIGQUIT);

        let spec = RunSpec {
            command: v(&["mine"]),
            env: v(&["A=flag", "FROMHOST", "HOSTNAME=set"]),
            hostname: Some("box".into()),
            workdir: Some("/w".into()),
            tty: true,
            userns: UsernsMode::KeepId,
            ..Default::default()
        };
        let mut no_user = image.clone();
        no_user.user = None;
        let p = ProcessPlan::of(&spec, &no_user, id, (1000, 1001), host).unwrap();
        assert_eq!(p.argv, v(&["/entry", "mine"]));
        assert_eq!(
            p.env,
            v(&[
                "PATH=/bin",
                "A=flag",
                "FROMHOST=h",
                "HOSTNAME=set",
                "TERM=xterm"
            ])
        );
        assert_eq!((p.hostname.as_str(), p.workdir.as_str()), ("box", "/w"));
        // keep-id without -u runs as the caller's own ids.
        assert!(matches!(
            p.user,
            User::Id {
                uid: 1000,
                gid: 1001,
                ..
            }
        ));
        assert_eq!(p.shown_user, "");

        let mut bad = image.clone();
        bad.stop_signal = Some("SIGNOPE".into());
        assert_eq!(
            ProcessPlan::of(&RunSpec::default(), &bad, id, (0, 0), |_| None),
            Err(SpecError::StopSignal("SIGNOPE".into()))
        );
    }

    #[test]
    fn entrypoint_and_cmd_combine_as_docker_does() {
        let ep = v(&["/entry", "-x"]);
        let cmd = v(&["default"]);
        assert_eq!(
            argv(None, &[], &ep, &cmd).unwrap(),
            v(&["/entry", "-x", "default"])
        );
        assert_eq!(
            argv(None, &v(&["mine"]), &ep, &cmd).unwrap(),
            v(&["/entry", "-x", "mine"])
        );
        assert_eq!(argv(None, &v(&["sh"]), &[], &cmd).unwrap(), v(&["sh"]));
        assert_eq!(
            argv(Some("/other"), &[], &ep, &cmd).unwrap(),
            v(&["/other"])
        );
        assert_eq!(
            argv(Some("/other"), &v(&["a"]), &ep, &cmd).unwrap(),
            v(&["/other", "a"])
        );
        assert_eq!(argv(Some(""), &v(&["ls"]), &ep, &cmd).unwrap(), v(&["ls"]));
        assert_eq!(argv(None, &[], &[], &[]), Err(SpecError::NoCommand));
        assert_eq!(argv(Some(""), &[], &ep, &cmd), Err(SpecError::NoCommand));
    }

    #[test]
    fn environment_layers_image_files_and_flags() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("env");
        std::fs::write(&f, "# comment\nA=file\nB=file\n\nFROMHOST\n").unwrap();
        let host = |n: &str| (n == "FROMHOST" || n == "C").then(|| format!("host-{n}"));
        let env = environment(
            &v(&["PATH=/bin", "A=image"]),
            &[f],
            &v(&["B=flag", "C", "UNSET"]),
            host,
        )
        .unwrap();
        assert_eq!(
            env,
            v(&[
                "PATH=/bin",
                "A=file",
                "FROMHOST=host-FROMHOST",
                "B=flag",
                "C=host-C"
            ])
        );
        let env = environment(&[], &[], &[], |_| None).unwrap();
        assert_eq!(env, v(&[DEFAULT_PATH]));
        assert_eq!(
            environment(&[], &[], &v(&["=x"]), |_| None),
            Err(SpecError::Env("=x".into()))
        );
    }

    #[test]
    fn volumes_mounts_and_tmpfs_parse_with_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path().to_str().unwrap();
        assert_eq!(
            parse_volume(&format!("{host}:/data:ro"), d.path()).unwrap(),
            UserMount::Bind {
                source: d.path().into(),
                target: "/data".into(),
                read_only: true
            }
        );
        assert_eq!(
            parse_volume(".:/src", d.path()).unwrap(),
            UserMount::Bind {
                source: d.path().join("."),
                target: "/src".into(),
                read_only: false
            }
        );
        let missing = parse_volume("/no/such/dir:/x", d.path())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("does not exist"), "{missing}");
        let vol = |name: &str, target: &str, ro, no_copy, anonymous| UserMount::Volume {
            name: name.into(),
            target: target.into(),
            read_only: ro,
            no_copy,
            anonymous,
        };
        assert_eq!(
            parse_volume("named:/x", d.path()).unwrap(),
            vol("named", "/x", false, false, false)
        );
        assert_eq!(
            parse_volume("data:/x:ro,nocopy", d.path()).unwrap(),
            vol("data", "/x", true, true, false)
        );
        assert_eq!(
            parse_volume("/cache", d.path()).unwrap(),
            vol("", "/cache", false, false, true)
        );
        for bad in ["x:/y", "-x:/y", "a@b:/y"] {
            let e = parse_volume(bad, d.path()).unwrap_err().to_string();
            assert!(e.contains("invalid characters"), "{bad}: {e}");
        }
        assert!(parse_volume("relative", d.path()).is_err());
        assert!(parse_volume(&format!("{host}:relative"), d.path()).is_err());
        assert!(parse_volume(&format!("{host}:/x:bogus"), d.path()).is_err());
        assert_eq!(
            parse_mount(
                "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777",
                d.path()
            )
            .unwrap(),
            UserMount::Tmpfs {
                target: "/t".into(),
                size: Some(64 << 20),
                mode: Some(0o1777)
            }
        );
        assert_eq!(
            parse_mount(&format!("type=bind,src={host},dst=/d,readonly"), d.path()).unwrap(),
            UserMount::Bind {
                source: d.path().into(),
                target: "/d".into(),
                read_only: true
            }
        );
        assert_eq!(
            parse_mount("type=volume,target=/x", d.path()).unwrap(),
            vol("", "/x", false, false, true)
        );
        assert_eq!(
            parse_mount("type=volume,src=db,dst=/x,readonly,volume-nocopy", d.path()).unwrap(),
            vol("db", "/x", true, true, false)
        );
        assert!(parse_mount("type=volume,src=../x,dst=/x", d.path()).is_err());
        assert!(parse_mount("type=bind,target=/x", d.path()).is_err());
        assert_eq!(
            parse_tmpfs("/run:size=1g").unwrap(),
            UserMount::Tmpfs {
                target: "/run".into(),
                size: Some(1 << 30),
                mode: None
            }
        );
        assert!(parse_tmpfs("/run/../x").is_err());
    }

    #[test]
    fn keep_id_puts_your_ids_at_their_own_number() {
        let base = IdMap {
            uids: vec![
                IdRange {
                    inside: 0,
                    outside: 1001,
                    count: 1,
                },
                IdRange {
                    inside: 1,
                    outside: 100000,
                    count: 65536,
                },
            ],
            gids: vec![
                IdRange {
                    inside: 0,
                    outside: 1001,
                    count: 1,
                },
                IdRange {
                    inside: 1,
                    outside: 100000,
                    count: 65536,
                },
            ],
        };
        let m = keep_id_map(&base, 1001, 1001);
        // You are yourself; root takes the subordinate id 1001 had.
        assert_eq!(m.host_uid(1001), Some(1001));
        assert_eq!(m.host_uid(0), Some(101000));
        // Every other id keeps the base map's host id, so the files of
        // image user 1000 (unpacked through the base map) still show as 1000.
        for inside in [1, 999, 1000, 1002, 65536] {
            assert_eq!(m.host_uid(inside), base.host_uid(inside), "uid {inside}");
        }
        assert_eq!(m.host_uid(65537), None);
        assert_eq!(m.host_gid(1001), Some(1001));
        assert_eq!(m.host_gid(0), Some(101000));
        // A map of 65537 ids in four lines, none overlapping inside or out.
        let total: u32 = m.uids.iter().map(|r| r.count).sum();
        assert_eq!(total, 65537);
        let mut outs: Vec<(u32, u32)> = m.uids.iter().map(|r| (r.outside, r.count)).collect();
        outs.sort();
        assert!(
            outs.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0),
            "{outs:?}"
        );
        let single = IdMap::single(1001, 1001);
        let m = keep_id_map(&single, 1001, 1001);
        assert_eq!(
            m.uids,
            vec![IdRange {
                inside: 1001,
                outside: 1001,
                count: 1
            }]
        );
        assert!(m.is_single());
    }
}
