//! `burrow pod`: containers that share one network (and IPC, UTS and,
//! when asked, pid) namespace, reach each other on localhost and publish
//! their ports on the pod. A pod's namespaces are held by its infra
//! container, whose pid 1 runs nothing (`SandboxSpec::pause`) from an
//! empty image burrow makes once (`localhost/burrow-pause`); the pod's
//! ports are the infra's, and every member joins its namespaces at each
//! start. The records are `pods`'; the containers are started, stopped and
//! removed through `run` and `lifecycle` as any other.

use super::images::Context;
use super::pods::{Pod, PodError, Pods, Share};
use super::record::{Containers, Record, State, Status};
use super::run::RunSpec;
use crate::container::error::{Error, Result};
use crate::net::{NetworkMode, PublishedPort};
use std::collections::BTreeMap;

/// The image whose container holds a pod's namespaces: no files at all.
pub const PAUSE_IMAGE: &str = "localhost/burrow-pause:latest";

/// What `pod create` was asked.
#[derive(Debug, Clone, Default)]
pub struct PodSpec {
    /// `--name`; a generated one when `None`.
    pub name: Option<String>,
    /// `-p`, on the pod's infra container.
    pub publish: Vec<PublishedPort>,
    /// `--network` of the pod (the default network when `User`).
    pub network: NetworkMode,
    pub share: Share,
    pub labels: BTreeMap<String, String>,
}

/// The empty image of infra containers, imported once.
fn pause_image(ctx: &Context) -> Result<String> {
    let store = ctx.store()?;
    if let Ok(e) = ctx.resolve(&store, PAUSE_IMAGE) {
        return Ok(e.record.id.to_string());
    }
    // A tar archive of no entries: its two zero blocks.
    let tar = ctx
        .paths
        .runtime
        .join(format!(".burrow-pause-{}.tar", std::process::id()));
    std::fs::write(&tar, [0u8; 1024]).map_err(|e| PodError::Io {
        what: "writing",
        path: tar.clone(),
        source: e,
    })?;
    let imported = super::images::import(
        ctx,
        &tar,
        Some(PAUSE_IMAGE),
        Some("the empty image of burrow's pod infra containers"),
        Default::default(),
    );
    let _ = std::fs::remove_file(&tar);
    imported?;
    Ok(ctx.resolve(&store, PAUSE_IMAGE)?.record.id.to_string())
}

/// `pod create`: the record and its infra container, started (the pod's
/// ports are bound from now on). Returns the pod.
pub fn create(ctx: &Context, spec: &PodSpec) -> Result<Pod> {
    let store = ctx.store()?;
    let pods = Pods::open(store.root());
    let image = pause_image(ctx)?;
    let _lock = pods.lock()?;
    let id = super::record::new_id();
    let name = match &spec.name {
        Some(n) => {
            pods.check_name(n)?;
            n.clone()
        }
        None => {
            let taken: Vec<String> = pods.list()?.into_iter().map(|p| p.name).collect();
            let containers = Containers::open(store.root())?;
            let mut name = containers.generate_name()?;
            while taken.contains(&name) {
                name = containers.generate_name()?;
            }
            name
        }
    };
    let infra_spec = RunSpec {
        image,
        entrypoint: Some(String::new()),
        command: vec!["/pause".into()],
        name: Some(format!("{}-infra", &id[..12])),
        hostname: Some(name.clone()),
        network: spec.network.clone(),
        publish: spec.publish.clone(),
        infra_of: Some(id.clone()),
        ..Default::default()
    };
    let infra = super::run::create(ctx, &infra_spec)?;
    let pod = Pod {
        id,
        name,
        created: crate::time::rfc3339_nanos(super::log::now_ns()),
        labels: spec.labels.clone(),
        share: spec.share,
        infra: infra.clone(),
    };
    if let Err(e) = pods.save(&pod) {
        let _ = super::remove_unchecked(ctx, &infra, true, true);
        return Err(e.into());
    }
    if let Err(e) = super::lifecycle::start(ctx, &infra) {
        let _ = super::remove_unchecked(ctx, &infra, true, true);
        let _ = pods.remove(&pod.id);
        return Err(e);
    }
    Ok(pod)
}

/// A pod by name or id.
pub fn find(ctx: &Context, input: &str) -> Result<Pod> {
    let store = ctx.store()?;
    Ok(Pods::open(store.root()).find(input)?)
}

/// Every pod, oldest first.
pub fn list(ctx: &Context) -> Result<Vec<Pod>> {
    let store = ctx.store()?;
    Ok(Pods::open(store.root()).list()?)
}

/// `pod exists`.
pub fn exists(ctx: &Context, input: &str) -> Result<bool> {
    match find(ctx, input) {
        Ok(_) => Ok(true),
        Err(Error::Container(super::ContainerError::Pod(PodError::NotFound(_)))) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The pod's containers, the infra first, each with its state.
pub fn containers(ctx: &Context, pod: &Pod) -> Result<Vec<(Record, State)>> {
    let store = ctx.store()?;
    let mut all: Vec<(Record, State)> = Containers::open(store.root())?
        .list()?
        .into_iter()
        .filter(|(r, _)| r.pod.as_deref() == Some(pod.id.as_str()))
        .collect();
    all.sort_by_key(|(r, _)| (r.id != pod.infra, r.created.clone()));
    Ok(all)
}

/// The pod's state in podman's words: Running (all running), Degraded
/// (some), Exited (none, some ran), Created (none ever ran).
pub fn status(members: &[(Record, State)]) -> &'static str {
    let running = members
        .iter()
        .filter(|(_, s)| s.status == Status::Running)
        .count();
    if running > 0 && running == members.len() {
        "Running"
    } else if running > 0 {
        "Degraded"
    } else if members.iter().all(|(_, s)| s.status == Status::Created) {
        "Created"
    } else {
        "Exited"
    }
}

/// `pod start`: the infra, then every member not running.
pub fn start(ctx: &Context, input: &str) -> Result<Pod> {
    let pod = find(ctx, input)?;
    for (r, s) in containers(ctx, &pod)? {
        if s.status != Status::Running {
            super::lifecycle::start(ctx, &r.id)?;
        }
    }
    Ok(pod)
}

/// `pod stop`: the members, then the infra (whose end ends the pod's
/// namespaces).
pub fn stop(ctx: &Context, input: &str, timeout: Option<u64>) -> Result<Pod> {
    let pod = find(ctx, input)?;
    let members: Vec<String> = containers(ctx, &pod)?
        .into_iter()
        .filter(|(r, _)| r.id != pod.infra)
        .map(|(r, _)| r.id)
        .collect();
    super::lifecycle::stop_many(ctx, &members, timeout)?;
    super::lifecycle::stop(ctx, &pod.infra, timeout)?;
    Ok(pod)
}

/// `pod restart`.
pub fn restart(ctx: &Context, input: &str, timeout: Option<u64>) -> Result<Pod> {
    stop(ctx, input, timeout)?;
    start(ctx, input)
}

/// `pod kill`: the signal to every running container of the pod.
pub fn kill(ctx: &Context, input: &str, signal: i32) -> Result<Pod> {
    let pod = find(ctx, input)?;
    for (r, s) in containers(ctx, &pod)?.into_iter().rev() {
        if s.status == Status::Running {
            super::lifecycle::kill(ctx, &r.id, signal)?;
        }
    }
    Ok(pod)
}

/// `pod rm`: refused while a member runs, unless `force`, which stops
/// and removes them all; the infra container goes with the pod.
pub fn remove(ctx: &Context, input: &str, force: bool) -> Result<Pod> {
    let pod = find(ctx, input)?;
    let members = containers(ctx, &pod)?;
    let running = members
        .iter()
        .any(|(r, s)| r.id != pod.infra && s.status == Status::Running);
    if running && !force {
        return Err(PodError::Running(pod.name.clone()).into());
    }
    // Members first: the infra holds the namespaces they are in.
    for (r, _) in members.iter().rev() {
        super::remove_unchecked(ctx, &r.id, true, false)?;
    }
    let store = ctx.store()?;
    let pods = Pods::open(store.root());
    let _lock = pods.lock()?;
    pods.remove(&pod.id)?;
    Ok(pod)
}

/// `pod inspect`'s JSON, in podman's shape.
pub fn inspect_json(ctx: &Context, pod: &Pod) -> Result<serde_json::Value> {
    let members = containers(ctx, pod)?;
    let infra = members.iter().find(|(r, _)| r.id == pod.infra);
    let ports: Vec<serde_json::Value> = infra
        .map(|(r, _)| r.config.ports.clone())
        .unwrap_or_default()
        .iter()
        .map(|p| {
            serde_json::json!({
                "HostIp": p.host_ip.map_or(String::new(), |ip| ip.to_string()),
                "HostPort": p.host_port.to_string(),
                "ContainerPort": p.container_port.to_string(),
                "Protocol": p.proto.to_string(),
            })
        })
        .collect();
    let network = infra.map(|(r, _)| r.config.network_mode.to_string());
    Ok(serde_json::json!({
        "Id": pod.id,
        "Name": pod.name,
        "Created": pod.created,
        "State": status(&members),
        "Hostname": pod.name,
        "Labels": pod.labels,
        "CreateInfra": true,
        "InfraContainerId": pod.infra,
        "SharedNamespaces": pod.share.names(),
        "NumContainers": members.len(),
        "InfraConfig": {
            "PortBindings": ports,
            "Networks": network.into_iter().collect::<Vec<_>>(),
        },
        "Containers": members.iter().map(|(r, s)| serde_json::json!({
            "Id": r.id,
            "Name": r.name,
            "State": serde_json::to_value(s.status).unwrap_or_default(),
        })).collect::<Vec<_>>(),
    }))
}
