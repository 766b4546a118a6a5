//! Orchestration: turns what the CLI parsed into calls of `image`,
//! `sandbox`, `cgroup` and `net`, and owns container records. Store
//! operations that create or delete files owned by mapped ids run here,
//! inside a user namespace.

pub mod error;
pub mod events;
pub mod files;
pub mod filter;
pub mod health;
pub mod images;
pub mod kernel;
pub mod kube;
pub mod lifecycle;
pub mod log;
pub mod network;
pub mod networks;
pub mod plan;
pub mod pod;
pub mod pods;
pub mod procfuse;
pub mod procview;
pub mod record;
pub mod resources;
pub mod run;
pub mod spec;
pub mod supervisor;
pub mod volumes;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Record(#[from] record::RecordError),
    #[error(transparent)]
    Spec(#[from] run::SpecError),
    #[error(transparent)]
    Plan(#[from] supervisor::PlanError),
    #[error(transparent)]
    Volume(#[from] volumes::VolumeError),
    #[error(transparent)]
    Pod(#[from] pods::PodError),
    #[error(transparent)]
    Kube(#[from] kube::KubeError),
    #[error(transparent)]
    Files(#[from] files::FilesError),
    #[error("container {0} is running; stop it first, or remove it with -f")]
    Running(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {name} cannot be {what}: {note}")]
    Damaged {
        name: String,
        what: &'static str,
        note: String,
    },
    #[error(
        "container {name} cannot be {what}: it runs without a cgroup (cgroup v2 \
         delegation was not available when it started; see `burrow doctor`)"
    )]
    NoCgroup { name: String, what: String },
    #[error(
        "cannot exec in container {0}: it is not running; start it first (`burrow start {0}`)"
    )]
    ExecNotRunning(String),
    /// The detached supervisor could not start the container.
    #[error("{message}")]
    Supervisor { message: String, code: i32 },
    #[error("{0}")]
    Other(String),
}

impl ContainerError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ContainerError::Supervisor { code, .. } => *code,
            // docker's status for an object that does not exist.
            ContainerError::Record(record::RecordError::NotFound(_)) => 1,
            ContainerError::Volume(e) => e.exit_code(),
            ContainerError::Pod(e) => e.exit_code(),
            _ => 125,
        }
    }
}

use crate::container::error::Result;
use crate::container::images::Context;
use crate::container::record::{Containers, Record, State, Status};

fn records(ctx: &Context) -> Result<Containers> {
    let store = ctx.store()?;
    Ok(Containers::open(store.root())?)
}

/// Containers for `ps`: running ones, or all with `all`.
pub fn list(ctx: &Context, all: bool) -> Result<Vec<(Record, State)>> {
    let mut list = records(ctx)?.list()?;
    if !all {
        list.retain(|(_, s)| s.status == Status::Running);
    }
    // Newest first, as docker lists them.
    list.sort_by_key(|(r, _)| std::cmp::Reverse(crate::time::parse_rfc3339_nanos(&r.created)));
    Ok(list)
}

/// Containers for `ps --filter`: those of `list(all)` that pass every
/// filter (a status filter looks at every container, as docker's does).
pub fn list_filtered(
    ctx: &Context,
    all: bool,
    filters: &[filter::Filter],
) -> Result<Vec<(Record, State)>> {
    let by_status = filters
        .iter()
        .any(|f| matches!(f, filter::Filter::Status(_)));
    let everyone = list(ctx, true)?;
    let created = |r: &Record| crate::time::parse_rfc3339_nanos(&r.created).unwrap_or_default();
    let created_of = |input: &str| {
        let found = everyone
            .iter()
            .find(|(r, _)| r.name == input || r.id == input)
            .or_else(|| {
                let hits: Vec<_> = everyone
                    .iter()
                    .filter(|(r, _)| !input.is_empty() && r.id.starts_with(input))
                    .collect();
                (hits.len() == 1).then(|| hits[0])
            });
        found.map(|(r, _)| created(r))
    };
    // The user's networks, read once, for `network=`.
    let user_networks = if filters
        .iter()
        .any(|f| matches!(f, filter::Filter::Network(_)))
    {
        crate::net::networks::Networks::open(ctx.store()?.root())
            .list()
            .map_err(crate::net::NetError::from)?
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for (r, s) in &everyone {
        if !(all || by_status) && s.status != Status::Running {
            continue;
        }
        let labels = labels(r);
        let networks: Vec<(String, String)> = user_networks
            .iter()
            .filter(|n| n.endpoints.contains_key(&r.id))
            .map(|n| (n.name.clone(), n.id.clone()))
            .collect();
        let seen = filter::Seen {
            record: r,
            state: s,
            paused: resources::paused(s),
            labels: &labels,
            created: created(r),
            networks: &networks,
        };
        if filter::matches(filters, &seen, &created_of) {
            out.push((r.clone(), s.clone()));
        }
    }
    Ok(out)
}

/// A container's labels (the image's, then its own), in order.
pub fn labels(r: &Record) -> Vec<(String, String)> {
    r.config
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Bytes of the regular files under each of `dirs` (0 for one that is
/// missing), counted inside the user namespace: a container's files
/// belong to its mapped ids, whose closed directories the user cannot
/// enter from outside.
pub fn tree_sizes(ctx: &Context, dirs: Vec<std::path::PathBuf>) -> Result<Vec<u64>> {
    if dirs.is_empty() {
        return Ok(Vec::new());
    }
    ctx.in_userns(move |_| Ok(dirs.iter().map(|d| volumes::bytes_under(d)).collect()))
}

/// The bytes each container's writable layer holds (what `ps --size` and
/// `system df` show).
pub fn writable_sizes(ctx: &Context, containers: &[&Record]) -> Result<Vec<u64>> {
    let c = records(ctx)?;
    tree_sizes(
        ctx,
        containers
            .iter()
            .map(|r| c.dir_of(&r.id).join("upper"))
            .collect(),
    )
}

/// The command a container runs, as one line.
pub fn command_line(r: &Record) -> String {
    r.config.cmd.join(" ")
}

/// `Up 3 minutes`, `Exited (0) 2 hours ago`, `Created`, as docker says it.
pub fn status_text(s: &State) -> String {
    let now = crate::image::store::now();
    let since = |t: &Option<String>| {
        t.as_deref()
            .map(|t| crate::time::ago(t, now))
            .unwrap_or_default()
    };
    let up = s
        .started_at
        .as_deref()
        .and_then(|t| crate::time::since(t, now))
        .map(crate::time::human_duration)
        .unwrap_or_default();
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {up}{}{}",
            if resources::paused(s) {
                " (Paused)"
            } else {
                ""
            },
            match s.health.as_ref().map(|h| h.status) {
                Some(health::HealthStatus::Starting) => " (health: starting)".to_string(),
                Some(h) => format!(" ({h})"),
                None => String::new(),
            }
        ),
        Status::Exited => match s.exit_code {
            Some(code) => format!("Exited ({code}) {}", since(&s.finished_at)),
            None => "Exited (unknown)".into(),
        },
        Status::Unknown => "Unknown (damaged record)".into(),
    }
}

/// `inspect` of a container: docker's shape, plus burrow's rootfs driver
/// and id map.
pub fn inspect_json(ctx: &Context, input: &str) -> Result<serde_json::Value> {
    let c = records(ctx)?;
    let (r, s) = c.find(input)?;
    Ok(serde_json::json!({
        "Id": r.id,
        "Name": r.name,
        "Created": r.created,
        "Image": r.image_id.to_string(),
        "ImageName": r.image,
        "Config": shown_config(&r.config, &c.dir_of(&r.id)),
        "State": {
            "Status": s.status,
            "Running": s.status == Status::Running,
            "Pid": s.pid.unwrap_or(0),
            "ExitCode": s.exit_code,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
            "Error": s.error,
            "OOMKilled": s.oom_killed,
            "Paused": resources::paused(&s),
            "Health": s.health,
        },
        "NetworkSettings": network::inspect_json(&r, ctx.store()?.root()),
        "HostConfig": host_config(&r.config, &s.limits),
        "Mounts": mounts_json(ctx, &r.config.mounts),
        "Cgroup": s.cgroup,
        "RootfsDriver": s.rootfs_driver,
        "IdMap": r.id_map,
        "AutoRemove": r.auto_remove,
        "Path": c.dir_of(&r.id),
    }))
}

/// The keys of the record's config that docker shows in `HostConfig`.
const HOST_KEYS: &[&str] = &[
    "Ulimits",
    "ShmSize",
    "Sysctls",
    "LogConfig",
    "GroupAdd",
    "DetachKeys",
    "IpcMode",
    "PidMode",
    "UTSMode",
    "CgroupnsMode",
    "MemorySwappiness",
    "Devices",
    "Annotations",
];

/// `inspect`'s `Config`: the record's, without what `HostConfig` shows.
fn shown_config(config: &record::ContainerConfig, dir: &std::path::Path) -> serde_json::Value {
    let mut v = serde_json::to_value(config).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        for k in HOST_KEYS {
            m.remove(*k);
        }
        // The check the supervisor runs (the image's with the flags over
        // it), as docker shows it; none when the container has none.
        let check = supervisor::Plan::load(dir).ok().and_then(|p| p.health);
        if let Some(check) = check {
            m.insert("Healthcheck".into(), check.docker_json());
        }
    }
    v
}

/// `inspect`'s `HostConfig` in docker's shape: the limits, then the
/// process's host settings (`--ulimit`, `--shm-size`, `--sysctl`,
/// `--log-driver`, `--group-add`).
fn host_config(
    config: &record::ContainerConfig,
    limits: &crate::cgroup::Limits,
) -> serde_json::Value {
    let mut v = serde_json::to_value(limits).unwrap_or_default();
    if !v.is_object() {
        v = serde_json::json!({});
    }
    let signed = |n: u64| if n == u64::MAX { -1 } else { n as i64 };
    let mut log_opts = serde_json::Map::new();
    if let Some(n) = config.log_config.max_size {
        log_opts.insert("max-size".into(), n.to_string().into());
    }
    if let Some(n) = config.log_config.max_file {
        log_opts.insert("max-file".into(), n.to_string().into());
    }
    let extra = serde_json::json!({
        "Ulimits": config.ulimits.iter().map(|u| serde_json::json!({
            "Name": u.resource.name(),
            "Soft": signed(u.soft),
            "Hard": signed(u.hard),
        })).collect::<Vec<_>>(),
        "ShmSize": config.shm_size.unwrap_or(64 << 20),
        "Sysctls": config.sysctls.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "LogConfig": {"Type": config.log_config.driver.name(), "Config": log_opts},
        "GroupAdd": config.group_add,
        // As docker shows them: the IPC mode always, the others "" when
        // the container has its own.
        "IpcMode": config.ipc_mode.to_string(),
        "PidMode": own_as_empty(&config.pid_mode),
        "UTSMode": own_as_empty(&config.uts_mode),
        // docker's list: PathOnHost, PathInContainer, CgroupPermissions.
        "Devices": config.devices,
        // docker's names for the limits asked (0: none), beside burrow's.
        "Memory": limits.memory.unwrap_or(0),
        "BlkioWeight": limits.blkio_weight.unwrap_or(0),
        "BlkioWeightDevice": limits.blkio_weight_device.iter().map(|d| serde_json::json!({
            "Path": d.device, "Weight": d.weight,
        })).collect::<Vec<_>>(),
        "BlkioDeviceReadBps": device_rates(limits.device_read_bps.iter().map(|r| (&r.device, r.bytes_per_sec))),
        "BlkioDeviceWriteBps": device_rates(limits.device_write_bps.iter().map(|r| (&r.device, r.bytes_per_sec))),
        "BlkioDeviceReadIOps": device_rates(limits.device_read_iops.iter().map(|r| (&r.device, r.iops))),
        "BlkioDeviceWriteIOps": device_rates(limits.device_write_iops.iter().map(|r| (&r.device, r.iops))),
        // Taken and discarded (cgroup v2 has neither), recorded as a
        // cgroup v2 host records them.
        "KernelMemory": 0,
        "OomKillDisable": false,
        "NanoCpus": limits.cpus.map_or(0, |c| (c * 1e9).round() as u64),
        "PidsLimit": limits.pids_limit.map(|p| p.map_or(-1, |n| n as i64)),
        "CpuPeriod": limits.cpu_period.unwrap_or(0),
        "CpuQuota": limits.cpu_quota.unwrap_or(0),
        "MemorySwappiness": config.memory_swappiness,
        "CgroupnsMode": config.cgroupns_mode.to_string(),
    });
    if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
        // docker's map, left out when empty as docker leaves it.
        if !config.annotations.is_empty() {
            m.insert("Annotations".into(), serde_json::json!(config.annotations));
        }
    }
    v
}

/// `PidMode` and `UTSMode` as docker shows them: "" for the container's
/// own namespace.
fn own_as_empty(mode: &spec::NsMode) -> String {
    match mode {
        spec::NsMode::Private => String::new(),
        other => other.to_string(),
    }
}

/// docker's `[{"Path": ..., "Rate": ...}]` of a device limit.
fn device_rates<'a>(
    rates: impl Iterator<Item = (&'a std::path::PathBuf, u64)>,
) -> Vec<serde_json::Value> {
    rates
        .map(|(path, rate)| serde_json::json!({"Path": path, "Rate": rate}))
        .collect()
}

/// A container's mounts as `inspect` shows them under `Mounts` (docker's
/// shape).
fn mounts_json(ctx: &Context, mounts: &[spec::UserMount]) -> Vec<serde_json::Value> {
    use spec::UserMount;
    let volumes = volumes::Volumes::open(&ctx.paths.storage).ok();
    mounts
        .iter()
        .map(|m| match m {
            UserMount::Volume {
                name,
                target,
                read_only,
                ..
            } => serde_json::json!({
                "Type": "volume",
                "Name": name,
                "Source": volumes.as_ref().map(|v| v.data_of(name)),
                "Destination": target,
                "Driver": "local",
                "Mode": if *read_only { "ro" } else { "" },
                "RW": !read_only,
                "Propagation": "",
            }),
            UserMount::Bind {
                source,
                target,
                read_only,
            } => serde_json::json!({
                "Type": "bind",
                "Source": source,
                "Destination": target,
                "Mode": if *read_only { "ro" } else { "" },
                "RW": !read_only,
                "Propagation": "rprivate",
            }),
            UserMount::Tmpfs { target, .. } => serde_json::json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": target,
                "Mode": "",
                "RW": true,
                "Propagation": "",
            }),
        })
        .collect()
}

/// The full id of the container a name or id prefix names.
pub fn find_id(ctx: &Context, input: &str) -> Result<String> {
    Ok(records(ctx)?.find(input)?.0.id)
}

/// A container's name, or its short id when its damaged record lost it.
pub fn shown_name(r: &Record) -> String {
    if r.name.is_empty() {
        r.id[..12].to_string()
    } else {
        r.name.clone()
    }
}

/// Removes a container and its writable layer; a running one only with
/// `force` (killed first), with its anonymous volumes when `volumes`.
/// Returns its id.
pub fn remove(ctx: &Context, input: &str, force: bool, volumes: bool) -> Result<String> {
    let c = records(ctx)?;
    let (r, _) = c.find(input)?;
    // A pod's infra container holds the namespaces its other containers
    // join: without it the pod is broken, so it goes only with the pod.
    if r.pod.is_some() {
        let store = ctx.store()?;
        if let Some(pod) = pods::Pods::open(store.root()).infra_of(&r.id)? {
            return Err(pods::PodError::Infra {
                container: r.name,
                pod: pod.name,
            }
            .into());
        }
    }
    remove_unchecked(ctx, &r.id, force, volumes)
}

/// `remove`, a pod's infra container too (`pod rm`, and a `pod create`
/// undone).
pub(crate) fn remove_unchecked(
    ctx: &Context,
    input: &str,
    force: bool,
    volumes: bool,
) -> Result<String> {
    let c = records(ctx)?;
    let (r, s) = c.find(input)?;
    if s.status == Status::Unknown {
        if !force {
            return Err(ContainerError::Damaged {
                name: shown_name(&r),
                what: "removed without -f (it may still run)",
                note: s.error.unwrap_or_default(),
            }
            .into());
        }
        // Its supervisor, if one still runs, stops it and its pid 1.
        let _ = lifecycle::stop(ctx, &r.id, Some(0));
    }
    if matches!(s.status, Status::Running | Status::Unknown) {
        if !force {
            return Err(ContainerError::Running(r.name).into());
        }
        if let (Some(pid), Some(start)) = (s.pid, s.pid_start) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while record::process_start_time(pid) == Some(start)
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    if let Some(cg) = &s.cgroup {
        cg.destroy()?;
    }
    let dir = c.dir_of(&r.id);
    // A supervisor killed with SIGKILL, or a reboot, leaves this behind.
    let _ = std::fs::remove_dir_all(lifecycle::runtime_dir(ctx, &r.id));
    let _lock = c.lock()?;
    // Left behind when the process that ran it was killed.
    let _ = std::fs::remove_dir_all(run::runtime_dir(ctx, &r.id));
    // Out of sight first, in one rename: a supervisor or a `run` still
    // writing its last state then writes into nothing, instead of racing the
    // deletion below. A leftover of a killed `rm` is cleaned with the
    // store's other temporary files.
    let doomed = ctx.paths.storage.join("tmp").join(format!("gone-{}", r.id));
    let dir = match std::fs::rename(&dir, &doomed) {
        Ok(()) => doomed,
        Err(_) => dir,
    };
    // Held while it is removed: the store's cleaning of leftovers takes an
    // unlocked entry of its `tmp/` for a killed command's.
    let _held = crate::lockfile::try_lock_existing(&dir, crate::lockfile::LockKind::Exclusive);
    // The writable layer holds files of mapped ids: delete it as their owner.
    ctx.in_userns(move |_| {
        crate::image::store::remove_tree(&dir)
            .map_err(|e| crate::container::error::Error::Image(e.into()))
    })?;
    drop(_lock);
    if volumes {
        volumes::remove_anonymous(&ctx.paths.storage, &r.config.mounts, &|p| {
            remove_as_owner(ctx, p).map_err(|e| e.to_string())
        })?;
    }
    events::record(
        &ctx.paths.storage,
        events::Event::new(
            "container",
            "destroy",
            &r.id,
            &[("name", &r.name), ("image", &r.image)],
        ),
    );
    Ok(r.id)
}

/// Removes a tree under the storage root: as you when its files are all
/// yours, else inside the user namespace (a volume a container chowned).
pub fn remove_as_owner(ctx: &Context, path: &std::path::Path) -> Result<()> {
    if crate::image::store::remove_tree(path).is_ok() {
        return Ok(());
    }
    let p = path.to_path_buf();
    ctx.in_userns(move |_| {
        crate::image::store::remove_tree(&p)
            .map_err(|e| crate::container::error::Error::Image(e.into()))
    })
}

/// The ids of every pod's infra container: `rm --all` and `prune` pass
/// them by, as `remove` refuses them.
pub fn infra_ids(ctx: &Context) -> Result<std::collections::HashSet<String>> {
    let store = ctx.store()?;
    Ok(pods::Pods::open(store.root())
        .list()?
        .into_iter()
        .map(|p| p.infra)
        .collect())
}

/// Whether `input` names a container (`container exists`).
pub fn exists(ctx: &Context, input: &str) -> Result<bool> {
    Ok(records(ctx)?.find(input).is_ok())
}

/// `container prune`: removes every container that is not running
/// (created or exited) and passes `filters` (created before `until`,
/// labels); returns their ids.
pub fn prune(ctx: &Context, filters: &[filter::PruneFilter]) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let infra = infra_ids(ctx)?;
    for (r, s) in list(ctx, true)? {
        if infra.contains(&r.id) {
            // Removed with its pod (`pod rm`), never alone.
            continue;
        }
        let created =
            crate::time::parse_rfc3339_nanos(&r.created).and_then(|n| u64::try_from(n).ok());
        if matches!(s.status, Status::Created | Status::Exited)
            && filter::prune_matches(filters, created, &r.config.labels)
        {
            removed.push(remove(ctx, &r.id, false, false)?);
        }
    }
    Ok(removed)
}
