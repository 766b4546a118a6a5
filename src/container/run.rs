//! `burrow run`: turns what the user asked for (a `RunSpec`) and what the
//! image says (its config) into the plain data the sandbox runs, creates the
//! container record, runs it in the foreground and records how it ended.

use super::images::Context;
use super::network;
pub use super::plan::{argv, combine_mounts, environment, keep_id_map, ProcessPlan, DEFAULT_PATH};
use super::plan::{check_target, read_env_files, Facts, VolumeSource};
use super::record::{self, Containers, Record, State};
pub use super::spec::{
    parse_device, parse_size, DeviceMapping, ProcViewMode, PullPolicy, RunSpec, SpecError,
    UserMount, VolumesFrom,
};
use super::spec::{IpcMode, NsMode, UsernsMode};
use super::supervisor::{self, Foreground};
use super::volumes::{NewVolume, Volumes};
use super::ContainerError;
use crate::container::error::{Error, Result};
use crate::image::registry::{ProgressMode, PullOptions};
use crate::image::store::{remove_tree, StoreError};
use crate::image::ImageError;
use crate::net::NetworkMode;
use crate::sandbox;
use std::io::IsTerminal;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

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
    if spec.uts == NsMode::Host && spec.hostname.is_some() {
        return Err(SpecError::NamespaceFlags(
            "conflicting options: --hostname and --uts host (the container has the host's name)",
        ));
    }
    if spec.uts == NsMode::Host && spec.domainname.is_some() {
        return Err(SpecError::NamespaceFlags(
            "conflicting options: --domainname and --uts host (the container has the host's)",
        ));
    }
    if spec.pid == NsMode::Host {
        return Err(SpecError::NamespaceFlags(
            "--pid host is not supported: a /proc of the host's pid namespace cannot be mounted from a user namespace, and a container's processes end with its own pid namespace when its pid 1 ends: in the host's, those it leaves behind would outlive it; --pid container:NAME shares another container's",
        ));
    }
    for (name, _) in &spec.sysctls {
        if !name.starts_with("net.") && spec.ipc == IpcMode::Host {
            return Err(SpecError::NamespaceFlags(
                "--sysctl of the IPC namespace (kernel.*, fs.mqueue.*) cannot be set with --ipc host: it is the host's",
            ));
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
    // (Ctrl-P Ctrl-Q) and attached again, as docker's; one without
    // --sig-proxy leaves the container running when a signal ends it. The
    // supervisor of either is the one a detached container has, started
    // attached, as `start -a` starts it, and this process is its first
    // client (which passes no signal on).
    let detachable = spec.detach_keys.as_ref().is_none_or(|k| !k.0.is_empty());
    let leavable = spec.tty && spec.interactive && detachable && std::io::stdin().is_terminal();
    if !spec.detach && (leavable || !spec.proxies_signals()) {
        if !spec.proxies_signals() && spec.log.driver == super::spec::LogDriver::Passthrough {
            return Err(spec_err(SpecError::Passthrough(
                "cannot be used with --sig-proxy=false: the container would outlive the stdio it was given",
            )));
        }
        let (id, _) = create_or_run(ctx, spec, true)?;
        let attached = spec.attached();
        if attached.no_output() {
            println!("{id}");
        }
        let code = super::lifecycle::start_attached(ctx, &id, spec.interactive, None)?;
        if spec.remove {
            wait_removed(ctx, &id);
        }
        return Ok(if attached.no_output() { 0 } else { code });
    }
    let (id, code) = create_or_run(ctx, spec, false)?;
    if spec.detach {
        println!("{id}");
    }
    // docker's client, with neither output attached, ends with 0 once the
    // container has (its status is in `inspect`).
    Ok(if spec.attached().no_output() { 0 } else { code })
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
    if !matches!(spec.ipc, IpcMode::Private | IpcMode::Shareable)
        || spec.uts != NsMode::Private
        || spec.pid != NsMode::Private
    {
        return Err(spec_err(SpecError::NamespaceFlags(
            "--ipc, --uts and --pid are the pod's to decide: `burrow pod create --share` names the namespaces its containers share",
        )));
    }
    if spec.network != NetworkMode::default()
        || spec.network_endpoint != crate::net::networks::EndpointSpec::default()
    {
        return refuse("--network");
    }
    if pod.share.uts && spec.hostname.is_some() {
        return refuse("--hostname");
    }
    if pod.share.uts && spec.domainname.is_some() {
        return refuse("--domainname");
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
    // Before anything is pulled or created: a kernel below the floor
    // would fail deep inside, with ENOSYS.
    sandbox::floor::check_running().map_err(sandbox::SandboxError::KernelTooOld)?;
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
    // A bad limit is refused before anything is created.
    spec.limits
        .validate()
        .map_err(crate::cgroup::CgroupError::from)?;
    check_host_flags(spec, outlives).map_err(spec_err)?;
    if let Some(n) = spec.memory_swappiness {
        // docker on cgroup v2 takes the flag and drops it, saying so.
        eprintln!(
            "Warning: --memory-swappiness {n} is discarded: cgroup v2 has no per-cgroup \
             swappiness (the host's vm.swappiness applies)"
        );
    }
    // The host's name, where the host's UTS namespace is kept: in
    // /etc/hostname and $HOSTNAME as docker has it.
    let with_host_name;
    let spec = if spec.uts == NsMode::Host {
        with_host_name = RunSpec {
            hostname: Some(
                rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned(),
            ),
            ..spec.clone()
        };
        &with_host_name
    } else {
        spec
    };
    super::plan::check(spec).map_err(spec_err)?;
    // The host's device nodes, looked up before anything is made.
    let devices = host_devices(spec).map_err(spec_err)?;
    // A foreground run's supervisor is this process: the D-Bus helper
    // that will ask systemd for its scope connects while the image is
    // resolved and the container recorded (under emulation a connection
    // costs as much as all of that).
    let mut scope = if outlives {
        None
    } else {
        crate::cgroup::prepare_scope()
    };
    let id = record::new_id();
    // The scope itself is asked for at once, and made by systemd while this
    // process works, when nothing this run may start before its supervisor
    // has its cgroup is shared with other containers: the user namespace's
    // holder is up already (or not used), and no user network or other
    // container's namespaces are joined.
    if let Some(early) = &mut scope {
        if holder_not_started(ctx, spec) {
            early.start_for(&id);
        }
    }

    let store = ctx.store()?;
    // Until the container is recorded, no `rmi` may remove its image.
    let image_held = store.hold_shared().map_err(|e| Error::Image(e.into()))?;
    let pull = || -> Result<_> {
        let opts = PullOptions {
            platform: None,
            progress: ProgressMode::detect(spec.quiet),
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
    // Read once: the map they were unpacked under, and which are visible.
    let layer_records = store.layer_records(&entry.record.layers);
    ctx.warn_other_map(&spec.image, &layer_records);
    let (config, _) = store
        .config(&entry.record.id)
        .map_err(|e| Error::Image(e.into()))?;
    let image_run = config.config.clone().unwrap_or_default();
    let containers = Containers::open(store.root())?;
    let mut volumes_from = Vec::new();
    for f in &spec.volumes_from {
        let (r, _) = containers.find(&f.container)?;
        volumes_from.push((r.config.mounts, f.read_only));
    }
    if let Some(path) = &spec.cidfile {
        if path.exists() {
            return Err(spec_err(SpecError::CidfileExists(path.clone())));
        }
    }
    // From the record's creation to its removal, a Ctrl-C or a SIGTERM is
    // the container's (forwarded once it runs), never a cut in between
    // that leaves a record or a running container behind.
    let _held = HeldSignals::hold()?;
    let flags = network::Flags {
        network: &spec.network,
        publish: &spec.publish,
        publish_all: spec.publish_all,
        dns: &spec.dns,
        dns_search: &spec.dns_search,
        dns_options: &spec.dns_options,
        add_host: &spec.add_host,
        endpoint: &spec.network_endpoint,
        storage: store.root(),
    };
    let mut network = network::plan(
        &containers,
        &flags,
        &super::plan::exposed_ports(spec, &image_run),
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
    network::share(
        &containers,
        &mut network,
        &network::SharedWith {
            ipc: spec.ipc.container(),
            uts: spec.uts.container(),
            pid: spec.pid.container(),
        },
    )?;
    // A container that names no volume (of its own, of --volumes-from or
    // of its image) needs neither the volumes' directory, nor its real
    // path, nor its lock.
    let volumes = super::plan::names_volumes(spec, &volumes_from, &image_run)
        .then(|| Volumes::open(store.root()))
        .transpose()?;
    let own = (
        nix::unistd::Uid::current().as_raw(),
        nix::unistd::Gid::current().as_raw(),
    );
    // The trees the container's user namespace reads its files through:
    // that of the container it joins, else the one --userns asks for.
    let map = match &network.join {
        Some((_, joined, _)) => joined.clone(),
        None => super::plan::userns_map(spec.userns, ctx.idmap()?, own),
    };
    let layers =
        super::images::layer_dirs_for(ctx, &store, &entry.record.layers, &layer_records, &map)?;
    let facts = Facts {
        id: id.clone(),
        own,
        own_name: if spec.userns == UsernsMode::KeepId && spec.user.is_none() {
            crate::sandbox::userns::current_user_name()
        } else {
            String::new()
        },
        host_env: std::env::vars().collect(),
        env_files: read_env_files(&spec.env_files).map_err(spec_err)?,
        base_map: ctx.idmap()?.clone(),
        layers,
        dir: containers.dir_of(&id),
        runtime_root: ctx.paths.runtime.clone(),
        storage: ctx.paths.storage.clone(),
        volumes_dir: match &volumes {
            Some(v) => v.real_dir(),
            None => store.root().join("volumes"),
        },
        volume_sources: match &volumes {
            Some(v) => volume_sources(v, spec, &volumes_from)?,
            None => Default::default(),
        },
        volumes_from,
        cgroup: crate::cgroup::detect::layout(),
        overlay: super::kernel::overlay_choice(&ctx.paths.storage),
        network,
        outlives,
        devices,
    };
    let mut plan = super::plan::plan(spec, &image_run, &ctx.config, facts).map_err(spec_err)?;
    if plan.network.mode == NetworkMode::Host {
        eprintln!("Note: --network host: the container uses the host's network; it is not isolated from it");
    }
    let bound = network::bind(&plan.network, &ctx.paths.runtime.join("ports"))?;
    // Held until the record names the volumes it uses: a `volume rm` or
    // `volume prune` in between would remove one about to be used.
    let volumes_lock = volumes.as_ref().map(Volumes::lock).transpose()?;
    let (dir, record, created) = {
        let _lock = containers.lock()?;
        let name = match &spec.name {
            Some(n) => {
                containers.check_name(n)?;
                n.clone()
            }
            None => containers.generate_name()?,
        };
        if let Some(volumes) = &volumes {
            make_volumes(volumes, &store, &plan.mounts)?;
        }
        let record = Record {
            id: id.clone(),
            name,
            image_id: entry.record.id.clone(),
            image: spec.image.clone(),
            // Nanoseconds, as docker records it: ps orders by it.
            created: crate::time::rfc3339_nanos(super::log::now_ns()),
            config: plan.record_config(spec, bound.ports()),
            id_map: plan.id_map.clone(),
            auto_remove: spec.remove,
            // A foreground --rm container's plan is a file less made and
            // removed on the storage filesystem at each run.
            plan_dir: plan.plan_dir(),
            pod: pod.as_ref().map(|(_, id)| id.clone()),
        };
        // A foreground run's supervisor writes the `create` event while
        // the container's set-up runs (written at once if it never gets
        // there).
        let (dir, created) = containers.create_unannounced(
            &record,
            &State {
                limits: spec.limits.clone(),
                ..State::created()
            },
        )?;
        let created = match outlives {
            true => {
                created.announce();
                None
            }
            false => Some(created),
        };
        // On a user-defined network: an address, and its name in the
        // /etc/hosts of the others there.
        if let Err(e) = network::attach(
            &mut plan.network,
            store.root(),
            &containers,
            &id,
            &record.name,
            &plan.etc_dir.join("hosts"),
        ) {
            let _ = remove_container_dir(ctx, &dir);
            return Err(e);
        }
        (dir, record, created)
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
    // docker's run with no output attached prints the id (and its
    // status is 0, see `run`).
    if !outlives && spec.attached().no_output() {
        println!("{id}");
    }
    let started = Started {
        record,
        created,
        scope,
        attached: spec.attached(),
    };
    let code = start_and_wait(ctx, &dir, plan, bound, started, create_only)?;
    Ok((id, code))
}

/// Whether a run of `spec` is sure to start no holder of the user's
/// namespaces (which outlives the container, so must not be born in its
/// scope): it joins no container's or user network's namespaces, and the
/// holder of its map is up (or none is kept).
fn holder_not_started(ctx: &Context, spec: &RunSpec) -> bool {
    if !matches!(spec.network, NetworkMode::None | NetworkMode::User)
        || spec.pod.is_some()
        || spec.infra_of.is_some()
        || spec.ipc.container().is_some()
        || spec.uts.container().is_some()
        || spec.pid.container().is_some()
    {
        return false;
    }
    if ctx.config.userns.keep_alive == 0 {
        return true;
    }
    let Ok(base) = ctx.idmap() else {
        return false;
    };
    let own = (
        nix::unistd::Uid::current().as_raw(),
        nix::unistd::Gid::current().as_raw(),
    );
    let map = super::plan::userns_map(spec.userns, base, own);
    map.is_single()
        || crate::sandbox::holder::open_live(&ctx.paths.runtime.join("userns"), &map).is_some()
}

/// How each volume the container names (its own and those of
/// `--volumes-from`) is mounted, as the local driver's options of those
/// that exist say; one still missing will be a plain directory.
fn volume_sources(
    volumes: &Volumes,
    spec: &RunSpec,
    from: &[(Vec<UserMount>, Option<bool>)],
) -> Result<std::collections::BTreeMap<String, VolumeSource>> {
    let mut out = std::collections::BTreeMap::new();
    let named = (spec.volumes.iter())
        .chain(&spec.mounts)
        .chain(from.iter().flat_map(|(m, _)| m));
    for m in named {
        let UserMount::Volume { name, .. } = m else {
            continue;
        };
        let how = match volumes.get(name) {
            Ok(v) => v.local_mount().map_err(ContainerError::from)?,
            Err(_) => super::volumes::LocalMount::Dir,
        };
        let source = match how {
            super::volumes::LocalMount::Dir => VolumeSource::Dir,
            // The path checked for links a container could have planted,
            // as a `-v` bind is.
            super::volumes::LocalMount::Bind { device, read_only } => VolumeSource::Bind {
                device: crate::sandbox::mounts::real_bind_source(&device)
                    .map_err(|e| ContainerError::Other(format!("volume {name}: device {e}")))?,
                read_only,
            },
            super::volumes::LocalMount::Tmpfs {
                size,
                mode,
                uid,
                gid,
            } => VolumeSource::Tmpfs {
                size,
                mode,
                uid,
                gid,
            },
        };
        out.insert(name.clone(), source);
    }
    Ok(out)
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

/// The signals the foreground wait forwards to the container, blocked
/// while this lives. Its drop discards the ones still pending: they came
/// after the container ended and have no one to go to.
struct HeldSignals {
    held: nix::sys::signal::SigSet,
    old: nix::sys::signal::SigSet,
}

impl HeldSignals {
    fn hold() -> Result<HeldSignals> {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
        let held = supervisor::terminal::proxied_signals();
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

/// The host's device nodes of `--device`, each where it goes. A
/// privileged container takes every permission, as docker ignores the
/// ones given then.
fn host_devices(spec: &RunSpec) -> std::result::Result<Vec<sandbox::spec::DeviceNode>, SpecError> {
    let mut nodes = Vec::new();
    for d in &spec.devices {
        nodes.extend(sandbox::mounts::host_devices(
            &d.path_on_host,
            &d.path_in_container,
            spec.privileged || d.may_read(),
            spec.privileged || d.may_write(),
        )?);
    }
    Ok(nodes)
}

fn spec_err(e: SpecError) -> Error {
    Error::Container(ContainerError::Spec(e))
}

/// Whether a missing image may be pulled: not an id prefix.
fn pullable(image: &str) -> bool {
    !(image.len() >= 3 && image.len() <= 64 && image.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Carries out the plan of a container whose record exists: its
/// writable layer's and /etc files' directories, its plan saved, then
/// its supervisor (re-executed for one that outlives this process, in
/// this process for a foreground run).
/// What `start_and_wait` hands a foreground run's supervisor besides the
/// plan.
struct Started {
    /// The container's record, as just written.
    record: Record,
    /// Its `create` event, for the supervisor to write (foreground only).
    created: Option<record::Unannounced>,
    /// The scope's D-Bus helper, started early.
    scope: Option<crate::cgroup::EarlyScope>,
    /// The streams a foreground run connects to ours (`-a`).
    attached: super::spec::Attached,
}

fn start_and_wait(
    ctx: &Context,
    dir: &Path,
    plan: super::plan::Plan,
    bound: network::BoundPorts,
    started: Started,
    create_only: bool,
) -> Result<i32> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Image(ImageError::Store(StoreError::Io { what, path, source }))
    };
    for d in [dir.join("upper"), dir.join("work")] {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&d)
            .map_err(io("creating", &d))?;
    }
    let etc_dir = &plan.etc_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(etc_dir)
        .map_err(io("creating", etc_dir))?;
    let _etc_dir = plan.throwaway.then(|| RemovedOnDrop(etc_dir.clone()));
    network::etc_files(etc_dir, &plan.process.hostname, &plan.network)
        .map_err(io("writing", etc_dir))?;
    // What every supervisor of this container, and `exec`, work from:
    // written here for one that outlives us, by the supervisor below
    // (while the container's set-up runs) for a foreground run.
    let supervised = plan.supervised_with(&bound);
    let plan_dir = if plan.throwaway { etc_dir } else { dir };
    if plan.outlives {
        supervised.save(plan_dir).map_err(io("writing", plan_dir))?;
        // The supervisor binds the published ports itself.
        drop(bound);
        if !create_only {
            super::lifecycle::launch(ctx, dir)?;
        }
        return Ok(0);
    }
    // The supervisor, in this process: output to our stdio and the log,
    // the control socket, the network, and every state recorded.
    let id = plan.id.clone();
    let (bound, reserved) = bound.into_parts();
    let fg = Foreground {
        bound,
        reserved,
        cgroup_note: ctx.paths.runtime.join("cgroup-note"),
        record: started.record,
        scope: started.scope,
        created: started.created,
        attached: started.attached,
    };
    match supervisor::foreground(dir, plan_dir, supervised, fg) {
        Ok(code) => Ok(code),
        Err(e) => {
            // It never ran: nothing of it stays, --rm or not (the error
            // says everything a record could).
            if let Err(r) = remove_container_dir(ctx, dir) {
                eprintln!("Warning: {r}; `burrow rm {id}` removes the rest");
            }
            let _ = super::volumes::remove_anonymous(&ctx.paths.storage, &plan.mounts, &|p| {
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

fn absolute_source(raw: &str, cwd: &Path) -> PathBuf {
    let p = Path::new(raw);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
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
    use crate::sandbox::userns::{IdMap, IdRange};
    use crate::sandbox::User;

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
        let plain =
            ProcessPlan::of(&RunSpec::default(), &image, id, (1000, 1000), &[], host).unwrap();
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
        let p = ProcessPlan::of(&spec, &no_user, id, (1000, 1001), &[], host).unwrap();
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
            ProcessPlan::of(&RunSpec::default(), &bad, id, (0, 0), &[], |_| None),
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
        let texts = read_env_files(&[f]).unwrap();
        let host = |n: &str| (n == "FROMHOST" || n == "C").then(|| format!("host-{n}"));
        let env = environment(
            &v(&["PATH=/bin", "A=image"]),
            &texts,
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
        let missing = d.path().join("missing");
        assert!(matches!(
            read_env_files(std::slice::from_ref(&missing)),
            Err(SpecError::EnvFile { path, .. }) if path == missing
        ));
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
        let base = IdMap::with_subids(1001, 1001, 100000, 65536);
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
