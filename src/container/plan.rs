//! The whole plan of one container, as one pure function: what the user
//! asked (`RunSpec`), what the image says (its config), burrow's
//! configuration and the facts gathered about this machine and the store
//! (`Facts`) become plain data: capabilities, id map, mounts, /etc files,
//! environment, user, working directory, network, limits, the supervisor's
//! instructions and the `SandboxSpec` built from them. It does no I/O and
//! never touches the machine, so docker's rules of combination are tested
//! here without a kernel; `run` gathers the facts before and carries the
//! plan out after (volumes, record, /etc files, the supervisor).

use super::health::HealthCheck;
use super::network::{self, NetworkPlan};
use super::record::ContainerConfig;
use super::spec::{
    CgroupnsMode, IpcMode, NsMode, RestartPolicy, RunSpec, SecurityOpt, SpecError, UserMount,
    UsernsMode,
};
use super::supervisor::{self, SupervisedNetwork};
use crate::image::config::RunConfig;
use crate::net::{ExposedPort, PublishedPort};
use crate::sandbox::spec::{CgroupFs, DevShm, Rootfs, SandboxSpec, SharedUserns, User};
use crate::sandbox::userns::{IdMap, IdRange};
use crate::sandbox::{CapSet, MountOp};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What the plan depends on besides the flags, the image and the
/// configuration: read from the machine and the store by the caller
/// (`run`), so that `plan` reads nothing itself.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The container's new id.
    pub id: String,
    /// The caller's uid and gid (`--userns keep-id`).
    pub own: (u32, u32),
    /// The caller's login name (keep-id's account in the container).
    pub own_name: String,
    /// The caller's environment, for `-e NAME`.
    pub host_env: BTreeMap<String, String>,
    /// The texts of `--env-file`'s files, in order (`read_env_files`).
    pub env_files: Vec<String>,
    /// The id map of the caller's subordinate ids (or the single-id map).
    pub base_map: IdMap,
    /// The image's layer directories, base first.
    pub layers: Vec<PathBuf>,
    /// The container's directory under the storage root (its writable
    /// layer, and its record's files).
    pub dir: PathBuf,
    /// burrow's runtime dir (`$XDG_RUNTIME_DIR/burrow`): the container's
    /// control socket, and (a foreground `--rm` one's) its /etc files and
    /// plan, go under its `containers/ID`; the user-namespace holders
    /// under `userns`.
    pub runtime_root: PathBuf,
    /// The storage root (`storage.root`), whose records say which
    /// container a shared network's is.
    pub storage: PathBuf,
    /// The volumes' directory, by its real path (the sandbox opens a
    /// volume following no link; the storage root may be reached through
    /// one).
    pub volumes_dir: PathBuf,
    /// How the volumes that exist and are named are mounted (their
    /// local-driver options); any other is its directory under
    /// `volumes_dir`.
    pub volume_sources: BTreeMap<String, VolumeSource>,
    /// The mounts of the `--volumes-from` containers, with the mode asked.
    pub volumes_from: Vec<(Vec<UserMount>, Option<bool>)>,
    /// The host's cgroup layout.
    pub cgroup: crate::cgroup::Layout,
    /// How the kernel overlay works here, if it does.
    pub overlay: super::kernel::OverlayChoice,
    /// The network flags checked against the records (`network::plan`:
    /// the container whose namespaces are shared, the user network).
    pub network: NetworkPlan,
    /// Detached or created: it outlives this process (its files stay
    /// with it under the storage root).
    pub outlives: bool,
    /// The host's device nodes `--device` names (`host_devices`).
    pub devices: Vec<crate::sandbox::spec::DeviceNode>,
}

/// Everything a container is made from, decided.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    /// Command line, environment, host name, working directory, user and
    /// stop signal.
    pub process: ProcessPlan,
    /// The image's labels, then `--label`.
    pub labels: BTreeMap<String, String>,
    /// The image's EXPOSE, `--expose` and the published container ports.
    pub exposed: BTreeSet<ExposedPort>,
    /// The user namespace's maps (keep-id's, or those of the container
    /// whose namespaces are shared).
    pub id_map: IdMap,
    /// Capabilities kept: docker's default set, or all with
    /// `--privileged`, then `--cap-add` and `--cap-drop`.
    pub capabilities: CapSet,
    pub no_new_privs: bool,
    /// The user's mounts, those of `--volumes-from` and the image's
    /// VOLUME paths, volumes named.
    pub mounts: Vec<UserMount>,
    /// The network: mode, ports to publish, names, the container to
    /// share. `network::attach` completes it once the record exists.
    pub network: NetworkPlan,
    /// Where its /etc files are written (`network::etc_files`): the
    /// runtime dir for a foreground `--rm` container (its plan and log
    /// go there too), else its directory.
    pub etc_dir: PathBuf,
    /// Detached or created: a supervisor of its own runs it.
    pub outlives: bool,
    /// A foreground `--rm` container: nothing of it outlives this process.
    pub throwaway: bool,
    /// What every supervisor of the container, and `exec`, work from;
    /// the sandbox's spec within. Its `network` is filled in once the
    /// host ports are bound (`supervised_with`).
    pub supervised: supervisor::Plan,
}

/// The container's exposed ports as docker counts them: the image's
/// EXPOSE (a protocol burrow cannot carry, such as sctp, left out),
/// `--expose`, and each published container port.
pub fn exposed_ports(spec: &RunSpec, image: &RunConfig) -> BTreeSet<ExposedPort> {
    let from_image = image
        .exposed_ports
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.parse().ok());
    from_image
        .chain(spec.expose.iter().copied())
        .chain(spec.publish.iter().map(PublishedPort::exposed))
        .collect()
}

/// Checks of the flags against each other alone, made before the image
/// is looked up (or pulled).
pub fn check(spec: &RunSpec) -> Result<(), SpecError> {
    if spec.remove && spec.restart != RestartPolicy::No {
        return Err(SpecError::RemoveAndRestart(spec.restart));
    }
    Ok(())
}

/// The plan of a container: pure.
pub fn plan(
    spec: &RunSpec,
    image: &RunConfig,
    config: &crate::config::Config,
    facts: Facts,
) -> Result<Plan, SpecError> {
    check(spec)?;
    let Facts {
        id,
        own,
        own_name,
        host_env,
        env_files,
        base_map,
        layers,
        dir,
        runtime_root,
        storage,
        volumes_dir,
        volume_sources,
        volumes_from,
        cgroup,
        overlay,
        network,
        outlives,
        devices,
    } = facts;
    let (no_new_privs, seccomp) = SecurityOpt::resolve(&spec.security_opt);
    let base = if spec.privileged {
        CapSet::all()
    } else {
        CapSet::docker_default()
    };
    let capabilities = base.with_changes(&spec.cap_add, &spec.cap_drop);
    let keep_id = spec.userns == UsernsMode::KeepId;

    let mounts = {
        let given: Vec<UserMount> = (spec.volumes.iter())
            .chain(&spec.mounts)
            .chain(&spec.tmpfs)
            .cloned()
            .collect();
        let image_volumes: Vec<String> = (image.volumes.iter())
            .filter(|_| !spec.skip_image_volumes)
            .flat_map(|v| v.keys().cloned())
            .collect();
        // Named after the container's own (random) id: unique, and the
        // plan stays a function of its inputs.
        let mut n = 0;
        let new_name = || {
            n += 1;
            crate::image::Digest::of_bytes(format!("{id} anonymous volume {n}").as_bytes())
                .hex()
                .to_string()
        };
        combine_mounts(given, &volumes_from, &image_volumes, new_name)?
    };
    let process = ProcessPlan::of(spec, image, &id, own, &env_files, |n| {
        host_env.get(n).cloned()
    })?;
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(spec.labels.clone());
    let id_map = userns_map(spec.userns, &base_map, own);
    check_volume_owners(&volume_sources, &id_map)?;
    // The /etc files live as long as the container runs, under the
    // runtime dir (a tmpfs as a rule): not three more files made and
    // deleted on the storage filesystem, whose journal makes each cost.
    // Only a foreground --rm container ends with this process; any other
    // may be started again, or outlives it (-d), so its files stay with it.
    let throwaway = spec.remove && !outlives;
    let runtime_dir = runtime_root.join("containers").join(&id);
    let etc_dir = if throwaway {
        runtime_dir.clone()
    } else {
        dir.clone()
    };

    let mut sandbox = SandboxSpec::new(
        id_map.clone(),
        Rootfs::Overlay {
            lower: layers,
            upper: dir.join("upper"),
            work: dir.join("work"),
        },
        process.argv.clone(),
    );
    overlay.apply(&mut sandbox);
    sandbox.read_only = spec.read_only;
    sandbox.mounts = mounts
        .iter()
        .map(|m| mount_op(m, &volumes_dir, &volume_sources))
        .collect();
    sandbox.devices = devices;
    sandbox.etc = network::etc_paths(&etc_dir);
    sandbox.hostname = Some(process.hostname.clone());
    sandbox.domainname = spec.domainname.clone();
    sandbox.env = process.env.clone();
    sandbox.cwd = process.workdir.clone().into();
    if keep_id && spec.user.is_none() {
        // You, by name, with a home: whoami, id -un and $HOME work.
        sandbox.account = Some(crate::sandbox::user::Account {
            home: format!("/home/{own_name}"),
            name: own_name,
            uid: own.0,
            gid: own.1,
        });
    }
    sandbox.user = process.user.clone();
    sandbox.capabilities = capabilities;
    sandbox.no_new_privs = no_new_privs;
    sandbox.seccomp = seccomp;
    // docker's /sys/fs/cgroup: the container's own cgroup, read-only but
    // for a privileged container. A hybrid host's v2 tree has no
    // controllers to show, so there is none.
    sandbox.cgroup_fs = match (cgroup, spec.privileged) {
        (crate::cgroup::Layout::Unified, false) => CgroupFs::ReadOnly,
        (crate::cgroup::Layout::Unified, true) => CgroupFs::ReadWrite,
        _ => CgroupFs::Absent,
    };
    if spec.privileged {
        sandbox.seccomp = crate::sandbox::SeccompPolicy::Unconfined;
        sandbox.masked_paths.clear();
        sandbox.readonly_paths.clear();
    }
    sandbox.init = spec.init;
    sandbox.tty = spec.tty;
    sandbox.stdin = spec.interactive;
    network::apply(&network, &mut sandbox);
    apply_namespace_modes(spec, &mut sandbox);
    sandbox.oom_score_adj = spec.oom_score_adj;
    sandbox.rlimits = spec.ulimits.clone();
    sandbox.shm_size = spec.shm_size;
    if spec.proc_view.on(&spec.limits) {
        sandbox.proc_view = super::procfuse::files();
    }
    sandbox.sysctls = spec.sysctls.clone();
    // Each full map (yours, keep-id's) is held in one shared user
    // namespace; the single-id map needs no helper to write.
    sandbox.shared_userns = (config.userns.keep_alive > 0).then(|| SharedUserns {
        dir: runtime_root.join("userns"),
        keep_alive_secs: config.userns.keep_alive,
        single_map: false,
    });
    // One id mapped: chown, set*id and the like succeed, and the owners
    // asked for are kept for commit (see `sandbox::rootemu`).
    // (keep-id's single map makes you yourself inside, not root: no root
    // to emulate.)
    let map = &sandbox.id_map;
    sandbox.root_emulation = map.is_single()
        && map.uids.first().is_some_and(|r| r.inside == 0)
        && map.gids.first().is_some_and(|r| r.inside == 0);
    sandbox.volatile_upper = spec.remove;
    sandbox.pause = spec.infra_of.is_some();

    let supervised = supervisor::Plan {
        id: id.clone(),
        sandbox,
        log_max_size: spec.log.rotate_at(config.logs.max_size.bytes()),
        log: spec.log.clone(),
        runtime_dir,
        restart: spec.restart,
        auto_remove: spec.remove,
        stop_signal: process.stop_signal,
        stop_timeout: spec.stop_timeout,
        interactive: spec.interactive,
        limits: spec.limits.clone(),
        network: SupervisedNetwork::default(),
        health: HealthCheck::resolve(image.healthcheck.as_ref(), &spec.health),
        join_container: network.joined.clone().map(|id| (storage, id)),
    };
    Ok(Plan {
        id,
        process,
        labels,
        exposed: exposed_ports(spec, image),
        id_map,
        capabilities,
        no_new_privs,
        mounts,
        network,
        etc_dir,
        outlives,
        throwaway,
        supervised,
    })
}

/// `--ipc` and `--uts` of the container's own or the host's (a
/// `container:NAME` one is a join: `network::share`; its /dev/shm is the
/// joined container's).
fn apply_namespace_modes(spec: &RunSpec, sandbox: &mut SandboxSpec) {
    match spec.ipc {
        IpcMode::None => sandbox.dev_shm = DevShm::Absent,
        IpcMode::Host => {
            sandbox.namespaces.ipc = false;
            sandbox.dev_shm = DevShm::Host;
        }
        IpcMode::Shareable => sandbox.dev_shm = DevShm::Shareable,
        IpcMode::Container(_) => sandbox.dev_shm = DevShm::Joined,
        IpcMode::Private => {}
    }
    if spec.uts == NsMode::Host {
        sandbox.namespaces.uts = false;
        sandbox.hostname = None;
        sandbox.domainname = None;
    }
    // The host's cgroup namespace: /sys/fs/cgroup becomes a bind of the
    // container's own cgroup (`mount_ops`), as cgroup2 cannot be mounted
    // for a namespace the user namespace does not own.
    if spec.cgroupns == CgroupnsMode::Host {
        sandbox.namespaces.cgroup = false;
    }
}

/// How a volume is mounted, as the local driver's options say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// Its own `_data` under the volumes' directory.
    Dir,
    /// `type=none o=bind[,ro] device=DIR`: that host directory, by its
    /// real path (checked for planted links).
    Bind { device: PathBuf, read_only: bool },
    /// `type=tmpfs`: a tmpfs for each container that mounts it, its root
    /// owned by `uid`:`gid` (ids of the container) when given.
    Tmpfs {
        size: Option<u64>,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    },
}

/// A tmpfs volume's `uid=` and `gid=` are ids of the container: refused
/// before anything runs when its user namespace has no such id (the
/// kernel would answer EINVAL).
fn check_volume_owners(
    sources: &BTreeMap<String, VolumeSource>,
    map: &IdMap,
) -> Result<(), SpecError> {
    for (name, source) in sources {
        let VolumeSource::Tmpfs { uid, gid, .. } = source else {
            continue;
        };
        let owners = [
            ("uid", *uid, uid.is_some_and(|u| map.host_uid(u).is_none())),
            ("gid", *gid, gid.is_some_and(|g| map.host_gid(g).is_none())),
        ];
        for (key, id, unmapped) in owners {
            if let (Some(id), true) = (id, unmapped) {
                return Err(SpecError::VolumeOwner {
                    name: name.clone(),
                    key,
                    id,
                    why: if map.is_single() {
                        " (without subordinate ids for you in /etc/subuid and /etc/subgid it \
                         maps 0 alone)"
                    } else {
                        ""
                    },
                });
            }
        }
    }
    Ok(())
}

/// A mount the user asked for, as the sandbox applies it.
fn mount_op(
    m: &UserMount,
    volumes_dir: &Path,
    sources: &BTreeMap<String, VolumeSource>,
) -> MountOp {
    match m.clone() {
        UserMount::Volume {
            name,
            target,
            read_only,
            no_copy,
            ..
        } => match sources.get(&name).unwrap_or(&VolumeSource::Dir) {
            VolumeSource::Dir => MountOp::Volume {
                src: super::volumes::data_in(volumes_dir, &name),
                dst: target.into(),
                read_only,
                copy_up: !no_copy,
            },
            VolumeSource::Bind {
                device,
                read_only: ro,
            } => MountOp::Volume {
                src: device.clone(),
                dst: target.into(),
                read_only: read_only || *ro,
                // Nothing is written to a directory its volume says is
                // read-only, not even the image's content.
                copy_up: !no_copy && !*ro,
            },
            VolumeSource::Tmpfs {
                size,
                mode,
                uid,
                gid,
            } => MountOp::Tmpfs {
                dst: target.into(),
                size: *size,
                mode: *mode,
                uid: *uid,
                gid: *gid,
                read_only,
                nosuid: true,
                nodev: true,
                noexec: false,
            },
        },
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
            uid: None,
            gid: None,
            read_only: false,
            nosuid: true,
            nodev: true,
            noexec: false,
        },
    }
}

impl Plan {
    /// The record's view of the container (what `inspect` shows), with
    /// the host ports as bound.
    pub fn record_config(&self, spec: &RunSpec, ports: Vec<PublishedPort>) -> ContainerConfig {
        // `run -d` attaches nothing, as docker records it.
        let attached = match spec.detach {
            true => super::spec::Attached::NONE,
            false => spec.attached(),
        };
        ContainerConfig {
            cmd: self.process.argv.clone(),
            env: self.process.env.clone(),
            working_dir: self.process.workdir.clone(),
            user: self.process.shown_user.clone(),
            hostname: self.process.hostname.clone(),
            tty: spec.tty,
            open_stdin: spec.interactive,
            attach_stdin: attached.stdin,
            attach_stdout: attached.stdout,
            attach_stderr: attached.stderr,
            init: spec.init,
            read_only: spec.read_only,
            mounts: self.mounts.clone(),
            cap_add: spec.cap_add.iter().map(|c| c.given().into()).collect(),
            cap_drop: spec.cap_drop.iter().map(|c| c.given().into()).collect(),
            no_new_privileges: self.no_new_privs,
            privileged: spec.privileged,
            userns_mode: spec.userns.shown(),
            network_mode: self.network.mode.clone(),
            ipc_mode: match &spec.ipc {
                IpcMode::Container(name) => IpcMode::Container(self.joined_id(name)),
                other => other.clone(),
            },
            pid_mode: self.by_id(&spec.pid),
            uts_mode: self.by_id(&spec.uts),
            ports,
            restart_policy: spec.restart,
            stop_signal: self.process.stop_signal,
            labels: self.labels.clone(),
            exposed_ports: self.exposed.clone(),
            ulimits: spec.ulimits.clone(),
            shm_size: spec.shm_size,
            sysctls: spec.sysctls.clone(),
            log_config: spec.log.clone(),
            group_add: spec.group_add.clone(),
            detach_keys: spec.detach_keys.clone(),
            cgroupns_mode: spec.cgroupns,
            memory_swappiness: spec.memory_swappiness,
            devices: spec.devices.clone(),
            annotations: spec.annotations.clone(),
            mac_address: spec.network_endpoint.mac.as_ref().map(crate::net::mac_text),
        }
    }

    /// The full id of the container whose namespaces are joined, which
    /// `container:NAME` named (`NAME` itself when none is).
    fn joined_id(&self, name: &str) -> String {
        self.network.joined.clone().unwrap_or_else(|| name.into())
    }

    /// `--uts` or `--pid` as the record keeps it: a container by its id.
    fn by_id(&self, mode: &NsMode) -> NsMode {
        match mode {
            NsMode::Container(name) => NsMode::Container(self.joined_id(name)),
            other => other.clone(),
        }
    }

    /// Where the record says its plan lives when not beside it: a
    /// foreground `--rm` container's, under the runtime dir.
    pub fn plan_dir(&self) -> Option<PathBuf> {
        self.throwaway.then(|| self.etc_dir.clone())
    }

    /// The supervisor's instructions, with the network as bound.
    pub fn supervised_with(&self, bound: &network::BoundPorts) -> supervisor::Plan {
        supervisor::Plan {
            network: SupervisedNetwork::of(&self.network, bound),
            ..self.supervised.clone()
        }
    }
}

/// The texts of `--env-file`'s files, in order.
pub fn read_env_files(paths: &[PathBuf]) -> Result<Vec<String>, SpecError> {
    paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path).map_err(|e| SpecError::EnvFile {
                path: path.clone(),
                why: e.to_string(),
            })
        })
        .collect()
}

/// Whether `combine_mounts` of the same inputs gives the container a
/// volume: one of `spec`'s own mounts, one of `from`'s, or one its image
/// declares. A run without one skips the volumes' directory and lock.
pub fn names_volumes(
    spec: &RunSpec,
    from: &[(Vec<UserMount>, Option<bool>)],
    image: &RunConfig,
) -> bool {
    let volume = |m: &UserMount| matches!(m, UserMount::Volume { .. });
    (spec.volumes.iter())
        .chain(&spec.mounts)
        .chain(&spec.tmpfs)
        .chain(from.iter().flat_map(|(m, _)| m))
        .any(volume)
        || (!spec.skip_image_volumes && image.volumes.as_ref().is_some_and(|v| !v.is_empty()))
}

/// The container's mounts: the user's, then those of `--volumes-from`
/// containers and the image's VOLUME paths where the user put nothing
/// (each of these a fresh anonymous volume), as docker combines them.
/// Anonymous volumes get their names (from `new_name`) here.
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
    /// `lookup` the caller's environment (for `-e NAME`); `env_files` the
    /// texts of `--env-file`'s files (`read_env_files`).
    pub fn of(
        spec: &RunSpec,
        image: &crate::image::config::RunConfig,
        id: &str,
        own: (u32, u32),
        env_files: &[String],
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
            env_files,
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

/// The id map `--userns` asks for (a container joining another's
/// namespaces gets that one's instead): keep-id's, the single-id map for
/// `emulate`, else the caller's own.
pub fn userns_map(mode: UsernsMode, base: &IdMap, own: (u32, u32)) -> IdMap {
    match mode {
        UsernsMode::KeepId => keep_id_map(base, own.0, own.1),
        UsernsMode::Emulate => IdMap::single(own.0, own.1),
        UsernsMode::Default | UsernsMode::Host => base.clone(),
    }
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

/// The environment: the image's, then --env-file lines (`env_files`:
/// the files' texts, in order), then -e, later ones winning; `NAME` alone
/// passes the caller's value on (or nothing).
pub fn environment(
    image_env: &[String],
    env_files: &[String],
    env: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SpecError> {
    let mut vars = assignments(image_env, env_files, env, lookup)?;
    if !vars.iter().any(|(n, _)| n == "PATH") {
        vars.insert(0, ("PATH".into(), DEFAULT_PATH["PATH=".len()..].into()));
    }
    Ok(vars.into_iter().map(|(n, v)| format!("{n}={v}")).collect())
}

/// What `exec --env-file` and `-e` add to the container's environment
/// (which they win over): the files' lines, then `-e`, later ones
/// winning; `NAME` alone passes the caller's value on (or nothing).
pub fn exec_environment(
    env_files: &[PathBuf],
    env: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SpecError> {
    let texts = read_env_files(env_files)?;
    let vars = assignments(&[], &texts, env, lookup)?;
    Ok(vars.into_iter().map(|(n, v)| format!("{n}={v}")).collect())
}

/// `environment`'s variables in order, without its PATH default.
fn assignments(
    image_env: &[String],
    env_files: &[String],
    env: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, SpecError> {
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
    for text in env_files {
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
    Ok(vars)
}

pub(super) fn check_target(target: &str) -> Result<(), String> {
    if !target.starts_with('/') {
        return Err(format!("the container path {target:?} must be absolute"));
    }
    if target.split('/').any(|c| c == "..") {
        return Err(format!("the container path {target:?} may not contain .."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::NetworkMode;
    use crate::sandbox::spec::JoinNamespaces;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn net(mode: NetworkMode) -> NetworkPlan {
        NetworkPlan {
            mode,
            ports: Vec::new(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            add_hosts: Vec::new(),
            join: None,
            joined: None,
            host_loopback: false,
            direct_ports: true,
            direct_host: true,
            named: None,
            tap_mac: None,
        }
    }

    /// A machine with subordinate ids 100000:65536 for uid 1000, cgroup
    /// v2, a kernel overlay taking `lowerdir+`.
    fn facts(network: NetworkPlan) -> Facts {
        Facts {
            id: ID.into(),
            own: (1000, 1000),
            own_name: "alice".into(),
            host_env: BTreeMap::from([("FROMHOST".to_string(), "h".to_string())]),
            env_files: Vec::new(),
            base_map: IdMap::with_subids(1000, 1000, 100000, 65536),
            layers: vec!["/s/layers/a".into(), "/s/layers/b".into()],
            dir: format!("/s/containers/{ID}").into(),
            runtime_root: "/run/user/1000/burrow".into(),
            storage: "/s".into(),
            volumes_dir: "/real/s/volumes".into(),
            volume_sources: BTreeMap::new(),
            volumes_from: Vec::new(),
            cgroup: crate::cgroup::Layout::Unified,
            overlay: crate::container::kernel::OverlayChoice {
                kernel: "6.18.0".into(),
                api: Some(crate::sandbox::OverlayApi::LowerdirPlus),
                refused: None,
            },
            network,
            outlives: false,
            devices: Vec::new(),
        }
    }

    fn image() -> RunConfig {
        serde_json::from_value(serde_json::json!({
            "Cmd": ["sh"],
            "Env": ["PATH=/bin"],
            "Volumes": {"/data": {}},
            "Labels": {"from": "image"}
        }))
        .unwrap()
    }

    fn plan_of(spec: &RunSpec, network: NetworkPlan) -> Plan {
        plan(
            spec,
            &image(),
            &crate::config::Config::default(),
            facts(network),
        )
        .unwrap()
    }

    #[test]
    fn cgroupns_host_keeps_the_hosts_namespace_and_the_record_says_so() {
        let private = plan_of(&RunSpec::default(), net(NetworkMode::User));
        assert!(private.supervised.sandbox.namespaces.cgroup);
        let spec = RunSpec {
            cgroupns: CgroupnsMode::Host,
            memory_swappiness: Some(10),
            ..RunSpec::default()
        };
        let host = plan_of(&spec, net(NetworkMode::User));
        let s = &host.supervised.sandbox;
        assert!(!s.namespaces.cgroup);
        // Still shown its own cgroup at /sys/fs/cgroup (a bind, once the
        // supervisor knows it), read-only.
        assert_eq!(s.cgroup_fs, CgroupFs::ReadOnly);
        let c = host.record_config(&spec, Vec::new());
        assert_eq!(c.cgroupns_mode, CgroupnsMode::Host);
        assert_eq!(c.memory_swappiness, Some(10));
    }

    #[test]
    fn a_plain_run_gets_docker_defaults_on_the_default_network() {
        let p = plan_of(&RunSpec::default(), net(NetworkMode::User));
        let s = &p.supervised.sandbox;
        assert_eq!(s.argv, vec!["sh"]);
        assert_eq!(s.env, vec!["PATH=/bin", "HOSTNAME=0123456789ab"]);
        assert_eq!(s.hostname.as_deref(), Some("0123456789ab"));
        assert_eq!(s.cwd, PathBuf::from("/"));
        assert_eq!(p.capabilities, CapSet::docker_default());
        assert_eq!(s.capabilities, CapSet::docker_default());
        assert_eq!(s.seccomp, crate::sandbox::SeccompPolicy::Default);
        assert!(!s.masked_paths.is_empty() && !s.readonly_paths.is_empty());
        assert_eq!(s.cgroup_fs, CgroupFs::ReadOnly);
        assert_eq!(s.overlay_api, crate::sandbox::OverlayApi::LowerdirPlus);
        assert!(!s.read_only);
        // The full map as it is, held in the shared user namespace.
        assert_eq!(s.id_map, facts(net(NetworkMode::User)).base_map);
        assert!(!s.root_emulation);
        assert_eq!(
            s.shared_userns.as_ref().map(|u| u.dir.clone()),
            Some(PathBuf::from("/run/user/1000/burrow/userns"))
        );
        // The writable layer beside the record, the layers base first.
        let dir = PathBuf::from(format!("/s/containers/{ID}"));
        assert_eq!(
            s.rootfs,
            Rootfs::Overlay {
                lower: vec!["/s/layers/a".into(), "/s/layers/b".into()],
                upper: dir.join("upper"),
                work: dir.join("work"),
            }
        );
        // Its own network namespace; the tap comes at each start.
        assert!(s.namespaces.net);
        assert!(p.network.uplink());
        // Not --rm: its /etc files and plan stay with it.
        assert!(!p.throwaway);
        assert_eq!(p.plan_dir(), None);
        assert_eq!(s.etc.hosts, Some(dir.join("hosts")));
        assert_eq!(
            p.supervised.runtime_dir,
            PathBuf::from(format!("/run/user/1000/burrow/containers/{ID}"))
        );
        // The image's VOLUME is an anonymous volume, named after the id.
        let [UserMount::Volume {
            name,
            target,
            anonymous: true,
            ..
        }] = p.mounts.as_slice()
        else {
            panic!("{:?}", p.mounts)
        };
        assert_eq!((name.len(), target.as_str()), (64, "/data"));
        assert_eq!(
            s.mounts,
            vec![MountOp::Volume {
                src: PathBuf::from(format!("/real/s/volumes/{name}/_data")),
                dst: "/data".into(),
                read_only: false,
                copy_up: true,
            }]
        );
        assert_eq!(p.labels.get("from").map(String::as_str), Some("image"));
        // The same inputs, the same plan.
        let again = plan_of(&RunSpec::default(), net(NetworkMode::User));
        assert_eq!(again.mounts, p.mounts);
        assert_eq!(again.supervised.sandbox, p.supervised.sandbox);
    }

    #[test]
    fn rm_in_the_foreground_keeps_its_files_under_the_runtime_dir() {
        let spec = RunSpec {
            remove: true,
            ..RunSpec::default()
        };
        let p = plan_of(&spec, net(NetworkMode::User));
        let run = PathBuf::from(format!("/run/user/1000/burrow/containers/{ID}"));
        assert!(p.throwaway);
        assert_eq!(p.plan_dir(), Some(run.clone()));
        assert_eq!(
            p.supervised.sandbox.etc.resolv_conf,
            Some(run.join("resolv.conf"))
        );
        assert!(p.supervised.sandbox.volatile_upper);
        assert!(p.supervised.auto_remove);
        // Detached, the same container's files stay with it.
        let mut f = facts(net(NetworkMode::User));
        f.outlives = true;
        let d = plan(&spec, &image(), &crate::config::Config::default(), f).unwrap();
        assert!(!d.throwaway && d.outlives);
        // And --rm with --restart is refused.
        let both = RunSpec {
            remove: true,
            restart: RestartPolicy::Always,
            ..RunSpec::default()
        };
        assert!(matches!(
            plan(
                &both,
                &image(),
                &crate::config::Config::default(),
                facts(net(NetworkMode::User))
            ),
            Err(SpecError::RemoveAndRestart(RestartPolicy::Always))
        ));
    }

    #[test]
    fn keep_id_maps_you_to_yourself_with_your_account() {
        let spec = RunSpec {
            userns: UsernsMode::KeepId,
            ..RunSpec::default()
        };
        let p = plan_of(&spec, net(NetworkMode::User));
        let s = &p.supervised.sandbox;
        assert_eq!(
            s.id_map,
            keep_id_map(&facts(net(NetworkMode::None)).base_map, 1000, 1000)
        );
        assert_eq!(p.id_map, s.id_map);
        assert!(matches!(
            s.user,
            User::Id {
                uid: 1000,
                gid: 1000,
                ..
            }
        ));
        let account = s.account.as_ref().unwrap();
        assert_eq!(
            (account.name.as_str(), account.home.as_str(), account.uid),
            ("alice", "/home/alice", 1000)
        );
        // With -u, the image's user is looked up and no account is added.
        let with_user = RunSpec {
            user: Some("nobody".into()),
            ..spec
        };
        let p = plan_of(&with_user, net(NetworkMode::User));
        assert!(p.supervised.sandbox.account.is_none());
        assert!(
            matches!(&p.supervised.sandbox.user, User::Lookup { spec, .. } if spec == "nobody")
        );
    }

    #[test]
    fn the_proc_view_follows_limits_unless_asked() {
        let plain = plan_of(&RunSpec::default(), net(NetworkMode::User));
        assert!(plain.supervised.sandbox.proc_view.is_empty());
        let limited = RunSpec {
            limits: crate::cgroup::Limits {
                memory: Some(64 << 20),
                ..Default::default()
            },
            ..RunSpec::default()
        };
        let p = plan_of(&limited, net(NetworkMode::User));
        assert!(!p.supervised.sandbox.proc_view.is_empty());
        let host = RunSpec {
            proc_view: crate::container::spec::ProcViewMode::Host,
            ..limited
        };
        let p = plan_of(&host, net(NetworkMode::User));
        assert!(p.supervised.sandbox.proc_view.is_empty());
    }

    #[test]
    fn a_single_id_map_emulates_root() {
        let mut f = facts(net(NetworkMode::User));
        f.base_map = IdMap::single(1000, 1000);
        let p = plan(
            &RunSpec::default(),
            &image(),
            &crate::config::Config::default(),
            f,
        )
        .unwrap();
        assert!(p.supervised.sandbox.root_emulation);
    }

    /// `--userns emulate` gives a user with subordinate ids the single-id
    /// map of one without (the caller as root) and root emulation; without
    /// the flag, neither.
    #[test]
    fn userns_emulate_gives_a_full_map_user_the_single_id_map_and_emulation() {
        let run = |userns| {
            let f = facts(net(NetworkMode::User));
            assert!(!f.base_map.is_single() && f.own == (1000, 1000));
            let spec = RunSpec {
                userns,
                ..RunSpec::default()
            };
            plan(&spec, &image(), &crate::config::Config::default(), f).unwrap()
        };
        let p = run(UsernsMode::Emulate);
        assert_eq!(p.id_map, IdMap::single(1000, 1000));
        assert_eq!(p.supervised.sandbox.id_map, IdMap::single(1000, 1000));
        assert!(p.supervised.sandbox.root_emulation);
        let p = run(UsernsMode::Default);
        assert!(!p.supervised.sandbox.id_map.is_single());
        assert!(!p.supervised.sandbox.root_emulation);
    }

    #[test]
    fn privileged_and_cap_changes_shape_the_capabilities() {
        let spec = RunSpec {
            privileged: true,
            ..RunSpec::default()
        };
        let p = plan_of(&spec, net(NetworkMode::User));
        let s = &p.supervised.sandbox;
        assert_eq!(s.capabilities, CapSet::all());
        assert_eq!(s.seccomp, crate::sandbox::SeccompPolicy::Unconfined);
        assert!(s.masked_paths.is_empty() && s.readonly_paths.is_empty());
        assert_eq!(s.cgroup_fs, CgroupFs::ReadWrite);

        let spec = RunSpec {
            cap_add: vec!["NET_ADMIN".parse().unwrap()],
            cap_drop: vec!["chown".parse().unwrap()],
            ..RunSpec::default()
        };
        let p = plan_of(&spec, net(NetworkMode::User));
        let names = p.supervised.sandbox.capabilities.names();
        assert!(names.contains(&"CAP_NET_ADMIN".to_string()), "{names:?}");
        assert!(!names.contains(&"CAP_CHOWN".to_string()), "{names:?}");
        assert!(names.contains(&"CAP_KILL".to_string()), "{names:?}");
        assert_eq!(p.capabilities, p.supervised.sandbox.capabilities);
        let record = p.record_config(&spec, Vec::new());
        assert_eq!(
            (record.cap_add, record.cap_drop),
            (vec!["NET_ADMIN".to_string()], vec!["chown".to_string()])
        );
    }

    #[test]
    fn volumes_binds_and_tmpfs_become_mount_ops_in_order() {
        let spec = RunSpec {
            volumes: vec![
                UserMount::Volume {
                    name: "cache".into(),
                    target: "/data".into(),
                    read_only: true,
                    no_copy: false,
                    anonymous: false,
                },
                UserMount::Bind {
                    source: "/home/alice/src".into(),
                    target: "/src".into(),
                    read_only: false,
                },
            ],
            tmpfs: vec![UserMount::Tmpfs {
                target: "/tmp".into(),
                size: Some(1 << 20),
                mode: None,
            }],
            read_only: true,
            ..RunSpec::default()
        };
        let p = plan_of(&spec, net(NetworkMode::User));
        let s = &p.supervised.sandbox;
        assert!(s.read_only);
        // -v NAME:/data takes the image's VOLUME /data: no anonymous one.
        assert_eq!(
            s.mounts,
            vec![
                MountOp::Volume {
                    src: "/real/s/volumes/cache/_data".into(),
                    dst: "/data".into(),
                    read_only: true,
                    copy_up: true,
                },
                MountOp::Bind {
                    src: "/home/alice/src".into(),
                    dst: "/src".into(),
                    read_only: false,
                    real: true,
                },
                MountOp::Tmpfs {
                    dst: "/tmp".into(),
                    size: Some(1 << 20),
                    mode: None,
                    uid: None,
                    gid: None,
                    read_only: false,
                    nosuid: true,
                    nodev: true,
                    noexec: false,
                },
            ]
        );
        assert_eq!(p.record_config(&spec, Vec::new()).mounts, p.mounts);
    }

    #[test]
    fn volumes_with_local_driver_options_mount_as_they_say() {
        let vol = |name: &str, target: &str| UserMount::Volume {
            name: name.into(),
            target: target.into(),
            read_only: false,
            no_copy: false,
            anonymous: false,
        };
        let spec = RunSpec {
            volumes: vec![vol("scratch", "/scratch"), vol("shared", "/data")],
            ..RunSpec::default()
        };
        let mut f = facts(net(NetworkMode::User));
        f.volume_sources = BTreeMap::from([
            (
                "scratch".to_string(),
                VolumeSource::Tmpfs {
                    size: Some(4096),
                    mode: Some(0o1777),
                    uid: Some(1000),
                    gid: Some(100),
                },
            ),
            (
                "shared".to_string(),
                VolumeSource::Bind {
                    device: "/srv/shared".into(),
                    read_only: true,
                },
            ),
        ]);
        let p = plan(&spec, &image(), &crate::config::Config::default(), f).unwrap();
        assert_eq!(
            p.supervised.sandbox.mounts,
            vec![
                MountOp::Tmpfs {
                    dst: "/scratch".into(),
                    size: Some(4096),
                    mode: Some(0o1777),
                    uid: Some(1000),
                    gid: Some(100),
                    read_only: false,
                    nosuid: true,
                    nodev: true,
                    noexec: false,
                },
                MountOp::Volume {
                    src: "/srv/shared".into(),
                    dst: "/data".into(),
                    read_only: true,
                    copy_up: false,
                },
            ]
        );
        // An owner the container's map lacks is refused before it runs.
        for (uid, gid, key) in [(Some(70000), None, "uid"), (None, Some(65537), "gid")] {
            let mut f = facts(net(NetworkMode::User));
            f.volume_sources = BTreeMap::from([(
                "scratch".to_string(),
                VolumeSource::Tmpfs {
                    size: None,
                    mode: None,
                    uid,
                    gid,
                },
            )]);
            let e = plan(&spec, &image(), &crate::config::Config::default(), f).unwrap_err();
            assert!(
                matches!(e, SpecError::VolumeOwner { key: k, .. } if k == key),
                "{e}"
            );
            assert!(e.to_string().starts_with("volume scratch: o="), "{e}");
        }
    }

    #[test]
    fn each_network_mode_sets_the_namespaces_it_needs() {
        let none = plan_of(&RunSpec::default(), net(NetworkMode::None));
        assert!(none.supervised.sandbox.namespaces.net);
        assert!(!none.network.uplink());
        assert!(none.supervised.sandbox.join.is_none());

        let host = plan_of(&RunSpec::default(), net(NetworkMode::Host));
        assert!(!host.supervised.sandbox.namespaces.net);

        let network: crate::net::networks::Network = serde_json::from_value(serde_json::json!({
            "id": "ab".repeat(32),
            "name": "front",
            "created": "",
            "subnets": [],
            "internal": true
        }))
        .unwrap();
        let mut named = net(NetworkMode::Named("front".into()));
        named.named = Some(network::NamedNetwork {
            network,
            endpoint: Default::default(),
            attached: None,
        });
        let p = plan_of(&RunSpec::default(), named);
        assert!(p.supervised.sandbox.namespaces.net);
        // --internal: no way out, so no tap.
        assert!(!p.network.uplink());
        assert_eq!(
            p.record_config(&RunSpec::default(), Vec::new())
                .network_mode,
            NetworkMode::Named("front".into())
        );

        // container:NAME: its user and network namespaces, its map.
        let join = JoinNamespaces {
            pid: 4242,
            net: true,
            ipc: false,
            uts: false,
            pid_ns: false,
        };
        let mut shared = net(NetworkMode::Container("db".into()));
        let theirs = IdMap::single(1000, 1000);
        shared.join = Some((join.clone(), theirs.clone(), "/s/containers/db".into()));
        shared.joined = Some("db-id".into());
        let p = plan_of(&RunSpec::default(), shared.clone());
        let s = &p.supervised.sandbox;
        assert!(!s.namespaces.net);
        assert!(s.namespaces.uts && s.hostname.is_some());
        assert_eq!(s.join, Some(join.clone()));
        assert_eq!(s.id_map, theirs);
        assert_eq!(
            p.supervised.join_container,
            Some((PathBuf::from("/s"), "db-id".to_string()))
        );
        // A pod's member shares its host name and IPC too.
        let pod = JoinNamespaces {
            uts: true,
            ipc: true,
            ..join
        };
        shared.join = Some((pod, theirs, "/s/containers/db".into()));
        let p = plan_of(&RunSpec::default(), shared);
        let s = &p.supervised.sandbox;
        assert!(!s.namespaces.uts && !s.namespaces.ipc && s.hostname.is_none());
        assert!(!s.pause);
        // A pod's infra container holds the namespaces and runs nothing.
        let infra = RunSpec {
            infra_of: Some("pod-id".into()),
            ..RunSpec::default()
        };
        assert!(
            plan_of(&infra, net(NetworkMode::User))
                .supervised
                .sandbox
                .pause
        );
    }

    #[test]
    fn ipc_modes_choose_the_dev_shm_and_the_record_names_a_joined_container_by_id() {
        for (ipc, dev_shm) in [
            (IpcMode::Private, DevShm::Own),
            (IpcMode::Shareable, DevShm::Shareable),
            (IpcMode::None, DevShm::Absent),
            (IpcMode::Host, DevShm::Host),
        ] {
            let spec = RunSpec {
                ipc: ipc.clone(),
                ..RunSpec::default()
            };
            let p = plan_of(&spec, net(NetworkMode::User));
            assert_eq!(p.supervised.sandbox.dev_shm, dev_shm, "{ipc}");
            assert_eq!(p.record_config(&spec, Vec::new()).ipc_mode, ipc);
        }
        // --ipc, --pid container:NAME (as `network::share` plans them):
        // the joined container's /dev/shm, its full id in the record.
        let mut shared = net(NetworkMode::User);
        let join = JoinNamespaces {
            pid: 4242,
            net: false,
            ipc: true,
            uts: false,
            pid_ns: true,
        };
        shared.join = Some((join, IdMap::single(1000, 1000), "/s/containers/db".into()));
        shared.joined = Some("db-id".into());
        let spec = RunSpec {
            ipc: IpcMode::Container("db".into()),
            pid: NsMode::Container("db".into()),
            ..RunSpec::default()
        };
        let p = plan_of(&spec, shared);
        let s = &p.supervised.sandbox;
        assert_eq!(s.dev_shm, DevShm::Joined);
        assert!(!s.namespaces.ipc);
        assert!(s.validate().is_ok());
        let config = p.record_config(&spec, Vec::new());
        assert_eq!(config.ipc_mode, IpcMode::Container("db-id".into()));
        assert_eq!(config.pid_mode, NsMode::Container("db-id".into()));
        assert_eq!(config.uts_mode, NsMode::Private);
    }

    #[test]
    fn the_plan_prints_and_its_sandbox_round_trips_through_json() {
        let p = plan_of(&RunSpec::default(), net(NetworkMode::User));
        assert!(format!("{p:?}").contains("HOSTNAME=0123456789ab"));
        let json = serde_json::to_string(&p.supervised.sandbox).unwrap();
        let back: SandboxSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p.supervised.sandbox);
    }

    #[test]
    fn names_volumes_is_true_exactly_when_the_plan_mounts_a_volume() {
        let volume = |name: &str| UserMount::Volume {
            name: name.into(),
            target: "/v".into(),
            read_only: false,
            no_copy: false,
            anonymous: name.is_empty(),
        };
        let bind = UserMount::Bind {
            source: "/tmp".into(),
            target: "/b".into(),
            read_only: false,
        };
        let plain: RunConfig = serde_json::from_value(serde_json::json!({"Cmd": ["sh"]})).unwrap();
        let skip = RunSpec {
            skip_image_volumes: true,
            ..RunSpec::default()
        };
        let with = |f: fn(&mut RunSpec, UserMount), m: UserMount| {
            let mut s = skip.clone();
            f(&mut s, m);
            s
        };
        type From = Vec<(Vec<UserMount>, Option<bool>)>;
        let cases: Vec<(RunSpec, From, RunConfig)> = vec![
            (skip.clone(), vec![], plain.clone()),
            (RunSpec::default(), vec![], plain.clone()),
            (RunSpec::default(), vec![], image()),
            (skip.clone(), vec![], image()),
            (
                with(|s, m| s.volumes.push(m), volume("data")),
                vec![],
                plain.clone(),
            ),
            (
                with(|s, m| s.volumes.push(m), volume("")),
                vec![],
                plain.clone(),
            ),
            (
                with(|s, m| s.mounts.push(m), volume("data")),
                vec![],
                plain.clone(),
            ),
            (
                with(|s, m| s.volumes.push(m), bind.clone()),
                vec![],
                plain.clone(),
            ),
            (
                skip.clone(),
                vec![(vec![volume("theirs")], None)],
                plain.clone(),
            ),
            (
                skip.clone(),
                vec![(vec![bind.clone()], Some(true))],
                plain.clone(),
            ),
        ];
        for (spec, from, img) in cases {
            let mut f = facts(net(NetworkMode::None));
            f.volumes_from = from.clone();
            let p = plan(&spec, &img, &crate::config::Config::default(), f).unwrap();
            let mounted = (p.mounts.iter()).any(|m| matches!(m, UserMount::Volume { .. }));
            assert_eq!(
                names_volumes(&spec, &from, &img),
                mounted,
                "{spec:?} {from:?} {img:?}"
            );
        }
    }
}
