//! Kubernetes YAML in and out (`burrow kube`): a container or a pod as a
//! Pod (and a Service for its published ports) that `kube play` of other
//! tools and `kubectl apply` take, and a Pod or a one-replica Deployment
//! run as a burrow pod. Only the fields a pod of burrow's has are read or
//! written; the others of a manifest are passed over.

use super::images::Context;
use super::pod::{self, PodSpec};
use super::pods::PodError;
use super::record::{Containers, Record};
use super::run::RunSpec;
use crate::container::error::{Error, Result};
use crate::net::{PortProto, PublishedPort};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a manifest cannot be read or played.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Yaml {
        path: PathBuf,
        source: serde_norway::Error,
    },
    #[error("{}: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
    #[error("no container or pod named {0}")]
    NotFound(String),
}

/// A Kubernetes object of the kinds burrow reads and writes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: serde_norway::Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecYaml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default)]
    pub containers: Vec<ContainerYaml>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeYaml>,
}

/// A pod's volume: one of a host path, an empty directory the pod's
/// containers share, or a claim (a named volume here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeYaml {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathYaml>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<serde_norway::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ClaimYaml>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostPathYaml {
    pub path: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimYaml {
    pub claim_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMountYaml {
    pub name: String,
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResourcesYaml {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, serde_norway::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerYaml {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMountYaml>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesYaml>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub container_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    #[serde(
        default,
        rename = "hostIP",
        alias = "hostIp",
        skip_serializing_if = "Option::is_none"
    )]
    pub host_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// A Pod name Kubernetes takes: lower case letters, digits and '-'.
fn dns_name(name: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    // At most 63, starting and ending with a letter or digit.
    out.truncate(63);
    out = out.trim_matches('-').to_string();
    if out.is_empty() {
        out = "burrow".into();
    }
    out
}

/// A container's mounts as its `volumeMounts`, and the pod's `volumes`
/// they name (added to `volumes`, one per source, shared by the pod's
/// containers): a bind as a hostPath, a named volume as a claim of that
/// name (`kube play` mounts the volume of the claim's name), an anonymous
/// volume as an emptyDir, a tmpfs as an emptyDir in memory.
fn volume_mounts(r: &Record, volumes: &mut Vec<VolumeYaml>) -> Vec<VolumeMountYaml> {
    use super::spec::UserMount;
    let mut out = Vec::new();
    for m in &r.config.mounts {
        let (stem, mut volume, read_only) = match m {
            UserMount::Bind {
                source, read_only, ..
            } => (
                format!("{}-host", source.display()),
                VolumeYaml {
                    host_path: Some(HostPathYaml {
                        path: source.display().to_string(),
                        kind: Some(if source.is_dir() { "Directory" } else { "File" }.into()),
                    }),
                    ..VolumeYaml::default()
                },
                *read_only,
            ),
            UserMount::Volume {
                name,
                read_only,
                anonymous: false,
                ..
            } => (
                format!("{name}-pvc"),
                VolumeYaml {
                    persistent_volume_claim: Some(ClaimYaml {
                        claim_name: name.clone(),
                        read_only: None,
                    }),
                    ..VolumeYaml::default()
                },
                *read_only,
            ),
            UserMount::Volume {
                target, read_only, ..
            } => (
                format!("{}-{target}", r.name),
                VolumeYaml {
                    empty_dir: Some(serde_norway::Value::Mapping(Default::default())),
                    ..VolumeYaml::default()
                },
                *read_only,
            ),
            UserMount::Tmpfs { target, size, .. } => {
                let mut dir = serde_norway::Mapping::new();
                dir.insert("medium".into(), "Memory".into());
                if let Some(size) = size {
                    dir.insert("sizeLimit".into(), size.to_string().into());
                }
                (
                    format!("{}-{target}-tmpfs", r.name),
                    VolumeYaml {
                        empty_dir: Some(serde_norway::Value::Mapping(dir)),
                        ..VolumeYaml::default()
                    },
                    false,
                )
            }
        };
        let same = |v: &VolumeYaml| {
            v.host_path.as_ref().map(|h| &h.path) == volume.host_path.as_ref().map(|h| &h.path)
                && v.persistent_volume_claim.as_ref().map(|c| &c.claim_name)
                    == volume
                        .persistent_volume_claim
                        .as_ref()
                        .map(|c| &c.claim_name)
                && v.empty_dir.is_none()
                && volume.empty_dir.is_none()
        };
        let name = match volumes.iter().find(|v| same(v)) {
            Some(v) => v.name.clone(),
            None => {
                // A DNS label, unique in the pod.
                let base = dns_name(&stem);
                let mut name = base.clone();
                let mut n = 1;
                while volumes.iter().any(|v| v.name == name) {
                    n += 1;
                    let suffix = format!("-{n}");
                    name = format!("{}{suffix}", &base[..base.len().min(63 - suffix.len())]);
                }
                volume.name = name.clone();
                volumes.push(volume);
                name
            }
        };
        out.push(VolumeMountYaml {
            name,
            mount_path: m.target().to_string(),
            read_only: read_only.then_some(true),
            sub_path: None,
        });
    }
    out
}

fn container_yaml(
    r: &Record,
    name: &str,
    ports: &[PublishedPort],
    volumes: &mut Vec<VolumeYaml>,
) -> ContainerYaml {
    let c = &r.config;
    ContainerYaml {
        name: dns_name(name),
        image: r.image.clone(),
        command: c.cmd.clone(),
        args: Vec::new(),
        env: c
            .env
            .iter()
            .filter_map(|e| e.split_once('='))
            .filter(|(k, _)| !matches!(*k, "HOSTNAME" | "TERM" | "container"))
            .map(|(k, v)| EnvVar {
                name: k.into(),
                value: v.into(),
            })
            .collect(),
        working_dir: Some(c.working_dir.clone()).filter(|w| !w.is_empty() && w != "/"),
        ports: ports
            .iter()
            .map(|p| ContainerPort {
                container_port: p.container_port,
                host_port: Some(p.host_port),
                host_ip: p.host_ip.map(|ip| ip.to_string()),
                protocol: Some(p.proto.to_string().to_ascii_uppercase()),
            })
            .collect(),
        volume_mounts: volume_mounts(r, volumes),
        resources: None,
    }
}

fn to_yaml(objects: &[Object]) -> String {
    objects
        .iter()
        .map(|o| serde_norway::to_string(o).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}

fn object(
    kind: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    spec: impl Serialize,
) -> Object {
    Object {
        api_version: "v1".into(),
        kind: kind.into(),
        metadata: Metadata {
            name: name.into(),
            labels,
        },
        spec: serde_norway::to_value(spec).unwrap_or_default(),
    }
}

/// A Service for the published ports, selecting the pod by its `app`
/// label.
fn service(name: &str, ports: &[PublishedPort]) -> Option<Object> {
    if ports.is_empty() {
        return None;
    }
    let ports: Vec<serde_norway::Value> = ports
        .iter()
        .map(|p| {
            let mut m = serde_norway::Mapping::new();
            m.insert(
                "name".into(),
                format!("{}-{}", p.container_port, p.proto).into(),
            );
            m.insert("port".into(), u64::from(p.container_port).into());
            m.insert("targetPort".into(), u64::from(p.container_port).into());
            m.insert(
                "protocol".into(),
                p.proto.to_string().to_ascii_uppercase().into(),
            );
            serde_norway::Value::Mapping(m)
        })
        .collect();
    let mut spec = serde_norway::Mapping::new();
    let mut selector = serde_norway::Mapping::new();
    selector.insert("app".into(), name.into());
    spec.insert("selector".into(), serde_norway::Value::Mapping(selector));
    spec.insert("ports".into(), serde_norway::Value::Sequence(ports));
    Some(object("Service", name, BTreeMap::new(), spec))
}

/// `kube generate CTR|POD`: the Pod (and Service) YAML.
pub fn generate(ctx: &Context, input: &str) -> Result<String> {
    let store = ctx.store()?;
    let containers = Containers::open(store.root())?;
    let (name, members, ports) = match pod::find(ctx, input) {
        Ok(p) => {
            let all = pod::containers(ctx, &p)?;
            let ports = all
                .iter()
                .find(|(r, _)| r.id == p.infra)
                .map(|(r, _)| r.config.ports.clone())
                .unwrap_or_default();
            let members: Vec<Record> = all
                .into_iter()
                .filter(|(r, _)| r.id != p.infra)
                .map(|(r, _)| r)
                .collect();
            (dns_name(&p.name), members, ports)
        }
        Err(_) => match containers.find(input) {
            Ok((r, _)) => {
                let ports = r.config.ports.clone();
                (dns_name(&format!("{}-pod", r.name)), vec![r], ports)
            }
            Err(_) => return Err(KubeError::NotFound(input.into()).into()),
        },
    };
    // The pod's ports go on its first container, as a Pod has no ports of
    // its own.
    let mut yaml_containers = Vec::new();
    let mut volumes = Vec::new();
    for (i, r) in members.iter().enumerate() {
        let own = if i == 0 { &ports[..] } else { &[] };
        // A pod's member is named POD-NAME by `kube play`: the NAME part.
        let short = r
            .name
            .strip_prefix(&format!("{name}-"))
            .unwrap_or(&r.name)
            .to_string();
        yaml_containers.push(container_yaml(r, &short, own, &mut volumes));
    }
    let labels = BTreeMap::from([("app".to_string(), name.clone())]);
    let spec = PodSpecYaml {
        hostname: None,
        containers: yaml_containers,
        restart_policy: Some("Never".into()),
        volumes,
    };
    let mut objects = vec![object("Pod", &name, labels, spec)];
    objects.extend(service(&name, &ports));
    Ok(to_yaml(&objects))
}

/// The pods a manifest describes: (name, spec), a Deployment's template
/// named `NAME-pod` as other tools name it.
fn pods_of(path: &Path) -> Result<Vec<(String, PodSpecYaml)>> {
    let text = std::fs::read_to_string(path).map_err(|source| KubeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let yaml = |source| KubeError::Yaml {
        path: path.to_path_buf(),
        source,
    };
    let unsupported = |what: String| KubeError::Unsupported {
        path: path.to_path_buf(),
        what,
    };
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let value = serde_norway::Value::deserialize(doc).map_err(yaml)?;
        if value.is_null() {
            continue;
        }
        let o: Object = serde_norway::from_value(value).map_err(yaml)?;
        match o.kind.as_str() {
            "Pod" => {
                let spec: PodSpecYaml = serde_norway::from_value(o.spec).map_err(yaml)?;
                out.push((o.metadata.name, spec));
            }
            "Deployment" => {
                let replicas = o.spec.get("replicas").and_then(|r| r.as_u64()).unwrap_or(1);
                if replicas > 1 {
                    return Err(unsupported(format!(
                        "Deployment {} asks for {replicas} replicas: burrow plays one",
                        o.metadata.name
                    ))
                    .into());
                }
                let template = o
                    .spec
                    .get("template")
                    .and_then(|t| t.get("spec"))
                    .cloned()
                    .ok_or_else(|| {
                        unsupported(format!(
                            "Deployment {} has no spec.template.spec",
                            o.metadata.name
                        ))
                    })?;
                let spec: PodSpecYaml = serde_norway::from_value(template).map_err(yaml)?;
                out.push((format!("{}-pod", o.metadata.name), spec));
            }
            // Services name ports the pods publish already.
            "Service" => {}
            other => {
                return Err(unsupported(format!(
                    "kind {other} (burrow plays Pod and Deployment, and reads Service)"
                ))
                .into())
            }
        }
    }
    Ok(out)
}

fn published(c: &ContainerYaml) -> Result<Vec<PublishedPort>> {
    let mut out = Vec::new();
    for p in &c.ports {
        let Some(host_port) = p.host_port else {
            continue;
        };
        let proto = match p
            .protocol
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("tcp") => PortProto::Tcp,
            Some("udp") => PortProto::Udp,
            Some(other) => {
                return Err(Error::Usage(format!(
                    "container {}: protocol {other} is not one burrow publishes (TCP, UDP)",
                    c.name
                )))
            }
        };
        let host_ip = match &p.host_ip {
            Some(ip) => Some(ip.parse().map_err(|_| {
                Error::Usage(format!(
                    "container {}: hostIP {ip} is not an address",
                    c.name
                ))
            })?),
            None => None,
        };
        out.push(PublishedPort {
            host_ip,
            host_port,
            container_port: p.container_port,
            proto,
        });
    }
    Ok(out)
}

/// `kube play FILE`: each Pod (or Deployment) as a burrow pod named as
/// the manifest names it, its containers `POD-CONTAINER`, started.
/// Returns the pods' ids.
pub fn play(ctx: &Context, path: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for (name, spec) in pods_of(path)? {
        let mut publish = Vec::new();
        for c in &spec.containers {
            publish.extend(published(c)?);
        }
        let p = pod::create(
            ctx,
            &PodSpec {
                name: Some(name.clone()),
                publish,
                ..Default::default()
            },
        )?;
        let mounts = match pod_mounts(ctx, &name, &spec) {
            Ok(m) => m,
            Err(e) => {
                let _ = pod::remove(ctx, &p.id, true);
                return Err(e);
            }
        };
        for c in &spec.containers {
            let prepared = container_mounts(c, &mounts).and_then(|v| Ok((v, limits(c)?)));
            let (volumes, limits) = match prepared {
                Ok(x) => x,
                Err(e) => {
                    let _ = pod::remove(ctx, &p.id, true);
                    return Err(e);
                }
            };
            let (entrypoint, mut command) = match c.command.split_first() {
                Some((first, rest)) => (Some(first.clone()), rest.to_vec()),
                None => (None, Vec::new()),
            };
            command.extend(c.args.iter().cloned());
            let run = RunSpec {
                image: c.image.clone(),
                entrypoint,
                command,
                name: Some(format!("{name}-{}", c.name)),
                env: c
                    .env
                    .iter()
                    .map(|e| format!("{}={}", e.name, e.value))
                    .collect(),
                workdir: c.working_dir.clone(),
                detach: true,
                pod: Some(p.id.clone()),
                volumes,
                limits,
                ..Default::default()
            };
            if let Err(e) = super::run::create(ctx, &run)
                .and_then(|id| super::lifecycle::start(ctx, &id).map(|_| ()))
            {
                let _ = pod::remove(ctx, &p.id, true);
                return Err(e);
            }
        }
        ids.push(p.id);
    }
    Ok(ids)
}

/// The volume an emptyDir of a pod is: `POD-VOLUME`.
fn empty_dir_name(pod: &str, volume: &str) -> String {
    format!("{pod}-{volume}")
}

/// What each of a pod's volumes is here: a host path, or a named
/// volume (an emptyDir's made now, empty, for the pod; a claim's made
/// when missing and kept).
enum PodMount {
    Host(PathBuf),
    Named(String),
    /// An emptyDir with `medium: Memory`: a tmpfs in each container that
    /// mounts it (with its `sizeLimit`).
    Memory(Option<u64>),
}

fn pod_mounts(ctx: &Context, pod: &str, spec: &PodSpecYaml) -> Result<BTreeMap<String, PodMount>> {
    let mut out = BTreeMap::new();
    for v in &spec.volumes {
        let mount = match (&v.host_path, &v.empty_dir, &v.persistent_volume_claim) {
            (Some(h), None, None) => {
                let path = PathBuf::from(&h.path);
                match h.kind.as_deref() {
                    Some("DirectoryOrCreate") if !path.exists() => {
                        std::fs::create_dir_all(&path).map_err(|e| {
                            Error::Usage(format!("volume {}: creating {}: {e}", v.name, h.path))
                        })?
                    }
                    Some("FileOrCreate") if !path.exists() => {
                        std::fs::write(&path, b"").map_err(|e| {
                            Error::Usage(format!("volume {}: creating {}: {e}", v.name, h.path))
                        })?
                    }
                    _ => {}
                }
                PodMount::Host(path)
            }
            (None, Some(dir), None) if dir.get("medium").and_then(|m| m.as_str()) == Some("Memory") => {
                let size = match dir.get("sizeLimit") {
                    None => None,
                    Some(q) => {
                        let text = match q {
                            serde_norway::Value::String(s) => s.clone(),
                            other => serde_norway::to_string(other).unwrap_or_default().trim().to_string(),
                        };
                        Some(quantity(&text).filter(|n| *n > 0.0).ok_or_else(|| {
                            Error::Usage(format!(
                                "pod {pod}: volume {}: sizeLimit {text:?} is not a quantity",
                                v.name
                            ))
                        })?.round() as u64)
                    }
                };
                PodMount::Memory(size)
            }
            (None, Some(_), None) => {
                let name = empty_dir_name(pod, &v.name);
                // Empty at each play, as a new pod's emptyDir is.
                super::volumes::verbs::remove(ctx, &name, true)?;
                super::volumes::verbs::create(
                    ctx,
                    &super::volumes::NewVolume {
                        name: Some(name.clone()),
                        labels: BTreeMap::from([("io.burrow.kube.pod".into(), pod.into())]),
                        driver: None,
                        options: BTreeMap::new(),
                    },
                )?;
                PodMount::Named(name)
            }
            (None, None, Some(c)) => PodMount::Named(c.claim_name.clone()),
            _ => {
                return Err(Error::Usage(format!(
                    "pod {pod}: volume {}: burrow plays one of hostPath, emptyDir and persistentVolumeClaim",
                    v.name
                )))
            }
        };
        out.insert(v.name.clone(), mount);
    }
    Ok(out)
}

/// A container's `volumeMounts` as burrow's mounts.
fn container_mounts(
    c: &ContainerYaml,
    mounts: &BTreeMap<String, PodMount>,
) -> Result<Vec<super::spec::UserMount>> {
    let mut out = Vec::new();
    for m in &c.volume_mounts {
        let bad = |why: String| {
            Error::Usage(format!(
                "container {}: volumeMount {}: {why}",
                c.name, m.name
            ))
        };
        if m.sub_path.is_some() {
            return Err(bad("subPath is not played".into()));
        }
        let source = match mounts.get(&m.name) {
            Some(PodMount::Host(p)) => p.display().to_string(),
            Some(PodMount::Named(n)) => n.clone(),
            Some(PodMount::Memory(size)) => {
                let size = size.map(|s| format!(",tmpfs-size={s}")).unwrap_or_default();
                let text = format!("type=tmpfs,target={}{size}", m.mount_path);
                out.push(
                    super::run::parse_mount(&text, Path::new("/"))
                        .map_err(|e| bad(e.to_string()))?,
                );
                continue;
            }
            None => return Err(bad("no volume of the pod has this name".into())),
        };
        let ro = if m.read_only == Some(true) { ":ro" } else { "" };
        let text = format!("{source}:{}{ro}", m.mount_path);
        out.push(super::run::parse_volume(&text, Path::new("/")).map_err(|e| bad(e.to_string()))?);
    }
    Ok(out)
}

/// A Kubernetes quantity (`256Mi`, `1G`, `500m`, `0.5`) as a number.
fn quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let units: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

/// `resources.limits` (`memory`, `cpu`) as burrow's limits; requests are
/// passed over (burrow reserves nothing).
fn limits(c: &ContainerYaml) -> Result<crate::cgroup::Limits> {
    let mut out = crate::cgroup::Limits::default();
    let Some(r) = &c.resources else {
        return Ok(out);
    };
    for (key, value) in &r.limits {
        let text = match value {
            serde_norway::Value::String(s) => s.clone(),
            serde_norway::Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let bad = || {
            Error::Usage(format!(
                "container {}: resources.limits.{key}: {text:?} is not a quantity",
                c.name
            ))
        };
        let n = quantity(&text).filter(|n| *n > 0.0).ok_or_else(bad)?;
        match key.as_str() {
            "memory" => out.memory = Some(n.round() as u64),
            "cpu" => out.cpus = Some(n),
            other => {
                return Err(Error::Usage(format!(
                    "container {}: resources.limits.{other} is not played (memory, cpu)",
                    c.name
                )))
            }
        }
    }
    Ok(out)
}

/// `kube down FILE`: the pods the manifest describes, stopped and removed.
pub fn down(ctx: &Context, path: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for (name, spec) in pods_of(path)? {
        match pod::remove(ctx, &name, true) {
            Ok(p) => ids.push(p.id),
            Err(Error::Container(super::ContainerError::Pod(PodError::NotFound(_)))) => {}
            Err(e) => return Err(e),
        }
        // An emptyDir lives as long as its pod; a claim outlives it.
        for v in spec.volumes.iter().filter(|v| v.empty_dir.is_some()) {
            super::volumes::verbs::remove(ctx, &empty_dir_name(&name, &v.name), true)?;
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_plays_as_one_pod_and_more_replicas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.yaml");
        std::fs::write(
            &path,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n  template:\n    metadata:\n      labels: {app: app}\n    spec:\n      containers:\n      - name: web\n        image: busybox\n        command: [sh, -c]\n        args: [\"echo hi\"]\n        ports:\n        - containerPort: 80\n          hostPort: 8080\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  ports: [{port: 80}]\n",
        )
        .unwrap();
        let pods = pods_of(&path).unwrap();
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].0, "app-pod");
        let c = &pods[0].1.containers[0];
        assert_eq!(c.command, ["sh", "-c"]);
        let ports = published(c).unwrap();
        assert_eq!((ports[0].host_port, ports[0].container_port), (8080, 80));
        std::fs::write(
            &path,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  replicas: 3\n  template: {spec: {containers: []}}\n",
        )
        .unwrap();
        let e = pods_of(&path).unwrap_err().to_string();
        assert!(e.contains("3 replicas"), "{e}");
    }

    #[test]
    fn quantities_and_limits_read_as_kubernetes_writes_them() {
        assert_eq!(quantity("256Mi"), Some(268435456.0));
        assert_eq!(quantity("1G"), Some(1e9));
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("lots"), None);
        let c: ContainerYaml = serde_norway::from_str(
            "name: web\nimage: x\nresources:\n  limits: {memory: 64Mi, cpu: 250m}\n  requests: {memory: 1Mi}\n",
        )
        .unwrap();
        let l = limits(&c).unwrap();
        assert_eq!((l.memory, l.cpus), (Some(64 << 20), Some(0.25)));
        let c: ContainerYaml = serde_norway::from_str(
            "name: web\nimage: x\nresources: {limits: {nvidia.com/gpu: 1}}\n",
        )
        .unwrap();
        let e = limits(&c).unwrap_err().to_string();
        assert!(e.contains("nvidia.com/gpu is not played"), "{e}");
    }

    #[test]
    fn volume_mounts_name_the_pods_volumes() {
        let c: ContainerYaml = serde_norway::from_str(
            "name: web\nimage: x\nvolumeMounts:\n- {name: data, mountPath: /data}\n- {name: conf, mountPath: /etc/conf, readOnly: true}\n",
        )
        .unwrap();
        let mounts = BTreeMap::from([
            ("data".to_string(), PodMount::Named("claim".into())),
            ("conf".to_string(), PodMount::Host("/".into())),
        ]);
        let shown = format!("{:?}", container_mounts(&c, &mounts).unwrap());
        assert!(shown.contains("\"claim\""), "{shown}");
        assert!(
            shown.contains("/etc/conf") && shown.contains("read_only: true"),
            "{shown}"
        );
        let e = container_mounts(&c, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no volume of the pod has this name"), "{e}");
    }

    #[test]
    fn names_become_kubernetes_names() {
        assert_eq!(dns_name("My_Pod.1"), "my-pod-1");
        assert_eq!(dns_name("__"), "burrow");
    }
}
