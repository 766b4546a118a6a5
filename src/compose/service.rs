//! One service of a loaded project to what burrow runs: the container's
//! `RunSpec` (image, command, environment, ports, volumes, health check,
//! limits, labels), the networks it joins with their aliases, and the
//! names compose gives containers, networks and volumes. Pure: nothing
//! here touches the store.

use super::{
    Build, ComposeError, Healthcheck, ListOrMap, Project, Scalar, Service, ServiceNetworks,
    ServiceVolume, StrOrList,
};
use crate::build::named::{ContextSource, NamedContext};
use crate::container::health::HealthFlags;
use crate::container::run::{parse_mount, parse_volume, PullPolicy, RunSpec};
use crate::container::spec::UserMount;
use crate::image::registry::Platform;
use crate::net::networks::{EndpointSpec, Predefined};
use crate::net::NetworkMode;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The labels compose puts on what it makes, by which `ps` and `down`
/// find them again.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";
pub const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";
pub const HASH_LABEL: &str = "com.docker.compose.config-hash";
pub const NETWORK_LABEL: &str = "com.docker.compose.network";
pub const VOLUME_LABEL: &str = "com.docker.compose.volume";

/// The network a service without `networks` joins.
pub const DEFAULT_NETWORK: &str = "default";

/// What one service becomes.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub service: String,
    /// `project-service-1`, or the service's `container_name`.
    pub container: String,
    /// The first network is the container's `--network`; the others are
    /// connected before it starts. Full names, with the endpoint.
    pub networks: Vec<(String, EndpointSpec)>,
    /// What `build` asks, when the service has one.
    pub build: Option<crate::build::exec::BuildSpec>,
    /// The platform its image is pulled for (`platform:`): this
    /// machine's, perhaps with a variant; none says this machine's.
    pub platform: Option<Platform>,
    /// Secrets and configs burrow writes itself, bound from there: `up`
    /// writes them before the container is made.
    pub files: Vec<GeneratedFile>,
    pub spec: RunSpec,
}

/// A secret's or config's content from `environment:` or `content:`, and
/// the file under the project's state directory that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub content: Vec<u8>,
}

impl Project {
    /// A network's name as made: `project_NAME`, or its `name:`.
    pub fn network_name(&self, key: &str) -> String {
        match self.model.networks.get(key).and_then(Option::as_ref) {
            Some(n) if n.name.is_some() => n.name.clone().unwrap_or_default(),
            Some(n) if n.external == Some(true) => key.to_string(),
            _ => format!("{}_{key}", self.name),
        }
    }

    /// docker's predefined network (`bridge`, `host` or `none`) that the
    /// network `key` names: burrow has them as `--network` modes, never
    /// made and never removed.
    pub fn predefined_network(&self, key: &str) -> Option<Predefined> {
        let name = self.network_name(key);
        Predefined::ALL.into_iter().find(|p| p.name() == name)
    }

    /// A volume's name as made: `project_NAME`, or its `name:`.
    pub fn volume_name(&self, key: &str) -> String {
        match self.model.volumes.get(key).and_then(Option::as_ref) {
            Some(v) if v.name.is_some() => v.name.clone().unwrap_or_default(),
            Some(v) if v.external == Some(true) => key.to_string(),
            _ => format!("{}_{key}", self.name),
        }
    }

    /// The image a service runs: its `image`, else `project-service` (the
    /// name its build is tagged with).
    pub fn image_of(&self, service: &str) -> String {
        match self
            .model
            .services
            .get(service)
            .and_then(|s| s.image.clone())
        {
            Some(i) => i,
            None => format!("{}-{service}", self.name),
        }
    }

    /// The keys of the networks a service joins (none with a
    /// `network_mode`).
    pub fn networks_of(&self, service: &Service) -> Vec<String> {
        if service.network_mode.is_some() {
            return Vec::new();
        }
        match &service.networks {
            None => vec![DEFAULT_NETWORK.to_string()],
            Some(ServiceNetworks::List(l)) => l.clone(),
            Some(ServiceNetworks::Map(m)) => m.keys().cloned().collect(),
        }
    }

    /// Every network key some service joins, and each volume key.
    pub fn used_networks(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.model.services.values() {
            for n in self.networks_of(s) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// The keys of the top-level volumes a service mounts (by the short
    /// syntax's name, or a long `type: volume`'s source).
    pub fn volumes_of(&self, service: &Service) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in service.volumes.iter().flatten() {
            let key = match v {
                ServiceVolume::Short(text) => text
                    .split_once(':')
                    .map(|(src, _)| src)
                    .filter(|src| !src.is_empty() && !is_path(src)),
                ServiceVolume::Long(l) if l.kind == "volume" => l.source.as_deref(),
                ServiceVolume::Long(_) => None,
            };
            if let Some(key) = key.filter(|k| !out.iter().any(|o| o == k)) {
                out.push(key.to_string());
            }
        }
        out
    }

    /// How many containers a service runs: its `scale`, else its
    /// `deploy.replicas`, else one.
    pub fn replicas(&self, name: &str) -> Result<u32, ComposeError> {
        let Some(s) = self.model.services.get(name) else {
            return Err(ComposeError::NoService(name.to_string()));
        };
        let (key, value) = match (
            &s.scale,
            s.deploy.as_ref().and_then(|d| d.replicas.as_ref()),
        ) {
            (Some(v), _) => ("scale", v),
            (None, Some(v)) => ("deploy.replicas", v),
            (None, None) => return Ok(1),
        };
        value
            .to_string()
            .parse()
            .map_err(|_| ComposeError::Service {
                service: name.to_string(),
                key: key.into(),
                why: format!("{value}: a number of containers (0 or more)"),
            })
    }

    /// The platform a service's image is pulled for: its `platform:`,
    /// which must name this machine's OS and architecture (burrow runs no
    /// emulator), as `build --platform` must; none without one.
    pub fn platform_of(&self, name: &str) -> Result<Option<Platform>, ComposeError> {
        let s = self
            .model
            .services
            .get(name)
            .ok_or_else(|| ComposeError::NoService(name.to_string()))?;
        let Some(text) = &s.platform else {
            return Ok(None);
        };
        let bad = |why: String| ComposeError::Service {
            service: name.to_string(),
            key: "platform".into(),
            why,
        };
        let wanted = Platform::parse(text).map_err(|e| bad(e.to_string()))?;
        if !wanted.runs_here() {
            let host = Platform::host();
            return Err(bad(format!(
                "{text}: burrow runs images for this machine's platform only ({}/{}), as it \
                 runs no emulator",
                host.os, host.architecture
            )));
        }
        Ok(Some(wanted))
    }

    /// The plan of one service (`number` is its container's number).
    pub fn plan(&self, name: &str, number: u32) -> Result<ServicePlan, ComposeError> {
        let s = self
            .model
            .services
            .get(name)
            .ok_or_else(|| ComposeError::NoService(name.to_string()))?;
        let bad = |what: &str, why: String| ComposeError::Service {
            service: name.to_string(),
            key: what.to_string(),
            why,
        };
        if s.container_name.is_some() && number > 1 {
            return Err(bad(
                "container_name",
                "one name cannot be given to more than one container: remove it to scale the service"
                    .into(),
            ));
        }
        let container = s
            .container_name
            .clone()
            .unwrap_or_else(|| format!("{}-{name}-{number}", self.name));
        let mut spec = RunSpec {
            image: self.image_of(name),
            name: Some(container.clone()),
            ..RunSpec::default()
        };

        // The command: a string is split as a shell would, not run by one.
        let words = |v: &StrOrList, key: &str| -> Result<Vec<String>, ComposeError> {
            match v {
                StrOrList::List(l) => Ok(l.clone()),
                StrOrList::Str(s) => {
                    shlex::split(s).ok_or_else(|| bad(key, format!("{s:?} has an unclosed quote")))
                }
            }
        };
        if let Some(c) = &s.command {
            spec.command = words(c, "command")?;
        }
        if let Some(e) = &s.entrypoint {
            // docker's --entrypoint takes one word: the rest goes before
            // the command, and the image's CMD is dropped as with the flag.
            let mut e = words(e, "entrypoint")?;
            if e.is_empty() {
                spec.entrypoint = Some(String::new());
            } else {
                let first = e.remove(0);
                e.append(&mut spec.command);
                spec.command = e;
                spec.entrypoint = Some(first);
            }
        }

        if let Some(files) = &s.env_file {
            let files = match files {
                StrOrList::Str(f) => vec![f.clone()],
                StrOrList::List(l) => l.clone(),
            };
            spec.env_files = files.iter().map(|f| self.dir.join(f)).collect();
        }
        if let Some(env) = &s.environment {
            spec.env = key_values(env)
                .into_iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k,
                })
                .collect();
        }
        spec.workdir = s.working_dir.clone();
        spec.user = s.user.clone();
        spec.hostname = s.hostname.clone();
        spec.init = s.init.unwrap_or(false);
        spec.tty = s.tty.unwrap_or(false);
        spec.interactive = s.stdin_open.unwrap_or(false);
        spec.read_only = s.read_only.unwrap_or(false);
        if let Some(sig) = &s.stop_signal {
            spec.stop_signal = Some(
                crate::sandbox::signal_number(sig)
                    .ok_or_else(|| bad("stop_signal", format!("{sig:?} is not a signal")))?,
            );
        }
        if let Some(d) = &s.stop_grace_period {
            spec.stop_timeout =
                Some(duration_ns(d).map_err(|w| bad("stop_grace_period", w))? / 1_000_000_000);
        }
        for (key, list, out) in [
            ("cap_add", &s.cap_add, &mut spec.cap_add),
            ("cap_drop", &s.cap_drop, &mut spec.cap_drop),
        ] {
            for c in list.iter().flatten() {
                out.push(
                    c.parse()
                        .map_err(|e: crate::sandbox::caps::CapError| bad(key, e.to_string()))?,
                );
            }
        }
        if let Some(hosts) = &s.extra_hosts {
            for (k, v) in key_values(hosts) {
                let line = match v {
                    Some(v) => format!("{k}:{v}"),
                    None => k,
                };
                spec.add_host.push(
                    crate::net::parse_add_host(&line)
                        .map_err(|e| bad("extra_hosts", e.to_string()))?,
                );
            }
        }
        if let Some(r) = &s.restart {
            spec.restart = r
                .parse()
                .map_err(|e: crate::container::spec::RestartPolicyError| {
                    bad("restart", e.to_string())
                })?;
        }
        spec.pull = match s.pull_policy.as_deref() {
            None | Some("missing") | Some("if_not_present") => PullPolicy::Missing,
            Some("always") => PullPolicy::Always,
            Some("never") => PullPolicy::Never,
            // `build`: the image is built, never pulled.
            Some("build") => PullPolicy::Never,
            Some(p) => {
                return Err(bad(
                    "pull_policy",
                    format!("{p:?}: always, missing, never or build"),
                ))
            }
        };
        if s.build.is_some() && s.image.is_none() {
            spec.pull = PullPolicy::Never;
        }

        for p in s.ports.iter().flatten() {
            let text = p.text();
            spec.publish.extend(
                crate::net::ports::parse_publish(&text).map_err(|e| bad("ports", e.to_string()))?,
            );
        }

        for v in s.volumes.iter().flatten() {
            let m = match v {
                ServiceVolume::Short(text) => {
                    let (source, rest) = text.split_once(':').unwrap_or(("", text));
                    let text = if source.is_empty() {
                        rest.to_string()
                    } else if is_path(source) {
                        format!("{}:{rest}", self.bind_source(source).display())
                    } else {
                        self.check_volume(name, source)?;
                        format!("{}:{rest}", self.volume_name(source))
                    };
                    parse_volume(&text, &self.dir).map_err(|e| bad("volumes", e.to_string()))?
                }
                ServiceVolume::Long(l) => {
                    let mut text = format!("type={}", l.kind);
                    match (l.kind.as_str(), &l.source) {
                        ("bind", Some(src)) => {
                            text.push_str(&format!(",source={}", self.bind_source(src).display()))
                        }
                        ("volume", Some(src)) => {
                            self.check_volume(name, src)?;
                            text.push_str(&format!(",source={}", self.volume_name(src)));
                        }
                        _ => {}
                    }
                    text.push_str(&format!(",target={}", l.target));
                    if l.read_only == Some(true) {
                        text.push_str(",readonly");
                    }
                    parse_mount(&text, &self.dir).map_err(|e| bad("volumes", e.to_string()))?
                }
            };
            spec.volumes.push(m);
        }

        if let Some(h) = &s.healthcheck {
            spec.health = health(h).map_err(|w| bad("healthcheck", w))?;
        }
        if let Some(limits) = s
            .deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.limits.as_ref())
        {
            if let Some(c) = &limits.cpus {
                spec.limits.cpus =
                    Some(c.to_string().parse().map_err(|_| {
                        bad("deploy.resources.limits.cpus", format!("{c}: a number"))
                    })?);
            }
            if let Some(m) = &limits.memory {
                spec.limits.memory = Some(
                    crate::cgroup::limits::parse_bytes(&m.to_string())
                        .map_err(|e| bad("deploy.resources.limits.memory", e.to_string()))?,
                );
            }
            if let Some(p) = &limits.pids {
                let n: i64 = p
                    .to_string()
                    .parse()
                    .map_err(|_| bad("deploy.resources.limits.pids", format!("{p}: a number")))?;
                spec.limits.pids_limit = Some(u64::try_from(n).ok());
            }
        }

        let mut labels: BTreeMap<String, String> = s
            .labels
            .as_ref()
            .map(key_values)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        labels.insert(PROJECT_LABEL.into(), self.name.clone());
        labels.insert(SERVICE_LABEL.into(), name.to_string());
        labels.insert(NUMBER_LABEL.into(), number.to_string());
        labels.insert(ONEOFF_LABEL.into(), "False".into());
        spec.labels = labels;

        let mut networks = Vec::new();
        let keys = self.networks_of(s);
        let predefined = keys
            .iter()
            .find_map(|k| self.predefined_network(k).map(|p| (k, p)));
        if let Some((key, p)) = predefined {
            // A name for a `--network` mode: joined when the container is
            // made, with no endpoint of its own.
            if keys.len() > 1 {
                return Err(bad(
                    "networks",
                    format!(
                        "network {key:?} is {}, docker's predefined network, which burrow gives a container as its --network mode: it joins no other network with it",
                        p.name()
                    ),
                ));
            }
            if let Some(ServiceNetworks::Map(m)) = &s.networks {
                if let Some(Some(n)) = m.get(key) {
                    if n.aliases.is_some() || n.ipv4_address.is_some() {
                        return Err(bad(
                            "networks",
                            format!(
                                "network {key:?} is {}, docker's predefined network: aliases and ipv4_address are for networks the project makes or `burrow network create` made, as docker has them only on user-defined networks",
                                p.name()
                            ),
                        ));
                    }
                }
            }
            spec.network = p.mode();
        }
        for key in keys.iter().filter(|_| predefined.is_none()).cloned() {
            if key != DEFAULT_NETWORK && !self.model.networks.contains_key(&key) {
                return Err(bad(
                    "networks",
                    format!("network {key:?} is not declared under the top-level networks"),
                ));
            }
            let mut aliases = vec![name.to_string()];
            if let Some(ServiceNetworks::Map(m)) = &s.networks {
                if let Some(Some(n)) = m.get(&key) {
                    aliases.extend(n.aliases.iter().flatten().cloned());
                }
            }
            let ipv4 = match &s.networks {
                Some(ServiceNetworks::Map(m)) => match m.get(&key).and_then(Option::as_ref) {
                    Some(n) => n
                        .ipv4_address
                        .as_deref()
                        .map(|a| {
                            a.parse().map_err(|_| {
                                bad("networks", format!("{a:?} is not an IPv4 address"))
                            })
                        })
                        .transpose()?,
                    None => None,
                },
                _ => None,
            };
            networks.push((
                self.network_name(&key),
                EndpointSpec {
                    aliases,
                    ipv4,
                    ipv6: None,
                    mac: None,
                },
            ));
        }
        if let Some((first, endpoint)) = networks.first() {
            spec.network = NetworkMode::Named(first.clone());
            spec.network_endpoint = endpoint.clone();
        }
        if let Some(mode) = &s.network_mode {
            if s.networks.is_some() {
                return Err(bad(
                    "network_mode",
                    "cannot be combined with networks: a container in another's network joins no network of its own".into(),
                ));
            }
            spec.network = match mode.as_str() {
                "host" => NetworkMode::Host,
                "none" => NetworkMode::None,
                "bridge" | "default" => NetworkMode::User,
                m => match (m.strip_prefix("service:"), m.strip_prefix("container:")) {
                    (Some(svc), _) => NetworkMode::Container(self.plan(svc, 1)?.container),
                    (_, Some(c)) if !c.is_empty() => NetworkMode::Container(c.to_string()),
                    _ => {
                        return Err(bad(
                            "network_mode",
                            format!("{m:?}: host, none, bridge, service:NAME or container:NAME"),
                        ))
                    }
                },
            };
        }
        let mut files: Vec<GeneratedFile> = Vec::new();
        for (key, refs) in [("secrets", &s.secrets), ("configs", &s.configs)] {
            for r in refs.iter().flatten() {
                let (mount, file) = self.file_mount(name, key, r)?;
                spec.volumes.push(mount);
                if let Some(f) = file {
                    if !files.contains(&f) {
                        files.push(f);
                    }
                }
            }
        }
        // What burrow writes counts as the service's configuration: a
        // changed value makes `up` recreate the container.
        spec.labels
            .insert(HASH_LABEL.into(), self.config_hash(name, &files));

        let build = match &s.build {
            None => None,
            Some(b) => {
                let (context, file, args, target, contexts) = match b {
                    Build::Context(c) => (c.clone(), None, Vec::new(), None, Vec::new()),
                    Build::Full(f) => (
                        f.context.clone().unwrap_or_else(|| ".".into()),
                        f.dockerfile.clone(),
                        f.args
                            .as_ref()
                            .map(key_values)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| match v {
                                Some(v) => format!("{k}={v}"),
                                None => k,
                            })
                            .collect(),
                        f.target.clone(),
                        self.named_contexts(name, f)?,
                    ),
                };
                let context = self.dir.join(context);
                Some(crate::build::exec::BuildSpec {
                    file: file.map(|f| context.join(f)),
                    context,
                    tags: vec![self.image_of(name)],
                    build_args: args,
                    target,
                    contexts,
                    ..Default::default()
                })
            }
        };
        Ok(ServicePlan {
            service: name.to_string(),
            container,
            networks,
            build,
            platform: self.platform_of(name)?,
            files,
            spec,
        })
    }

    /// A build's `additional_contexts` as `build --build-context`s: a
    /// directory relative to the project directory, `docker-image://REF`,
    /// or `service:NAME`, the image of that service (built first).
    fn named_contexts(
        &self,
        service: &str,
        build: &super::BuildSpec,
    ) -> Result<Vec<NamedContext>, ComposeError> {
        let bad = |why: String| ComposeError::Service {
            service: service.to_string(),
            key: "build.additional_contexts".into(),
            why,
        };
        let mut out = Vec::new();
        for (name, value) in build
            .additional_contexts
            .as_ref()
            .map(key_values)
            .unwrap_or_default()
        {
            let Some(value) = value else {
                return Err(bad(format!(
                    "{name:?} has no value: NAME=DIR, NAME=docker-image://REF or NAME=service:SERVICE"
                )));
            };
            let given = format!("{name}={value}");
            // `service:NAME` is the image compose gives that service.
            let text = match value.strip_prefix("service:") {
                Some(other) if self.model.services.contains_key(other) => {
                    format!("{name}=docker-image://{}", self.image_of(other))
                }
                Some(other) => {
                    return Err(bad(format!(
                        "{given}: {other:?} is not a service of this project"
                    )))
                }
                None => given.clone(),
            };
            let mut context: NamedContext =
                text.parse()
                    .map_err(|e: crate::build::named::NamedContextError| {
                        bad(format!("{given}: {}", e.why))
                    })?;
            context.spec = given;
            if let ContextSource::Dir(d) = &context.source {
                context.source = ContextSource::Dir(self.dir.join(d));
            }
            out.push(context);
        }
        Ok(out)
    }

    /// A secret (at `/run/secrets/NAME`) or a config (at `/NAME`), or at
    /// the reference's `target`, bound read-only: its `file`, or the file
    /// burrow writes for its `environment` (that variable's value) or, a
    /// config's, its `content`.
    fn file_mount(
        &self,
        service: &str,
        key: &str,
        r: &super::FileRef,
    ) -> Result<(UserMount, Option<GeneratedFile>), ComposeError> {
        let bad = |why: String| ComposeError::Service {
            service: service.to_string(),
            key: key.to_string(),
            why,
        };
        let (source, target) = match r {
            super::FileRef::Short(s) => (s.as_str(), None),
            super::FileRef::Long(l) => {
                if l.uid.is_some() || l.gid.is_some() || l.mode.is_some() {
                    eprintln!(
                        "Warning: service {service}: {key} {:?}: uid, gid and mode are not applied; the file keeps its own owner and mode (0444 for one burrow writes)",
                        l.source
                    );
                }
                (l.source.as_str(), l.target.as_deref())
            }
        };
        let top = if key == "secrets" {
            &self.model.secrets
        } else {
            &self.model.configs
        };
        let def = top.get(source).ok_or_else(|| {
            bad(format!(
                "{source:?} is not declared under the top-level {key}"
            ))
        })?;
        let target = match (key, target) {
            (_, Some(t)) if t.starts_with('/') => t.to_string(),
            ("secrets", Some(t)) => format!("/run/secrets/{t}"),
            ("secrets", None) => format!("/run/secrets/{source}"),
            (_, Some(t)) => format!("/{t}"),
            (_, None) => format!("/{source}"),
        };
        let content = match (&def.file, &def.environment, &def.content) {
            _ if def.external == Some(true) => {
                return Err(bad(format!(
                    "{source:?}: external {key} are kept by a swarm or an orchestrator, which burrow is not: give it a file, environment or content"
                )))
            }
            (Some(file), None, None) => {
                let host = self.bind_source(file);
                if !host.is_file() {
                    return Err(bad(format!("{source:?}: {} is not a file", host.display())));
                }
                let mount = parse_mount(
                    &format!(
                        "type=bind,source={},target={target},readonly",
                        host.display()
                    ),
                    &self.dir,
                )
                .map_err(|e| bad(e.to_string()))?;
                return Ok((mount, None));
            }
            (None, Some(var), None) => self
                .environment
                .get(var)
                .ok_or_else(|| {
                    bad(format!(
                        "{source:?}: the environment variable {var} is not set"
                    ))
                })?
                .as_bytes()
                .to_vec(),
            (None, None, Some(text)) if key == "configs" => text.as_bytes().to_vec(),
            (None, None, Some(_)) => {
                return Err(bad(format!(
                    "{source:?}: content is for configs; a secret comes from a file or environment"
                )))
            }
            (None, None, None) => {
                return Err(bad(format!(
                    "{source:?}: says neither file, environment nor content"
                )))
            }
            _ => {
                return Err(bad(format!(
                    "{source:?}: one of file, environment or content, not several"
                )))
            }
        };
        // The key names a file of burrow's own: nothing that climbs out.
        if source.is_empty()
            || source.starts_with('.')
            || !source
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(bad(format!(
                "{source:?}: a name of letters, digits, '.', '_' and '-' (not first '.')"
            )));
        }
        let dir = self.state_dir.as_ref().ok_or_else(|| {
            bad(format!(
                "{source:?}: no directory to write it to (the project's state directory is not known here)"
            ))
        })?;
        let path = dir.join(key).join(source);
        let mount = UserMount::Bind {
            source: path.clone(),
            target,
            read_only: true,
        };
        Ok((mount, Some(GeneratedFile { path, content })))
    }

    /// A bind mount's host path: `~` is the home directory, a relative
    /// path is the project directory's.
    fn bind_source(&self, source: &str) -> PathBuf {
        let p = expand_home(source);
        let p = p.strip_prefix(".").unwrap_or(&p);
        self.dir.join(p)
    }

    /// The host paths of a service's short-syntax bind mounts, which `up`
    /// makes when missing, as compose does.
    pub fn bind_sources(&self, service: &str) -> Vec<PathBuf> {
        let Some(s) = self.model.services.get(service) else {
            return Vec::new();
        };
        s.volumes
            .iter()
            .flatten()
            .filter_map(|v| match v {
                ServiceVolume::Short(text) => text.split_once(':').map(|(src, _)| src),
                ServiceVolume::Long(_) => None,
            })
            .filter(|src| is_path(src))
            .map(|src| self.bind_source(src))
            .collect()
    }

    /// A named volume must be declared at the top level, as compose says.
    fn check_volume(&self, service: &str, key: &str) -> Result<(), ComposeError> {
        if self.model.volumes.contains_key(key) {
            Ok(())
        } else {
            Err(ComposeError::Service {
                service: service.to_string(),
                key: "volumes".into(),
                why: format!("named volume {key:?} is not declared under the top-level volumes"),
            })
        }
    }

    /// A digest of the service's merged, interpolated configuration: a
    /// container whose label differs is made again by `up`.
    pub fn config_hash(&self, service: &str, files: &[GeneratedFile]) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_norway::to_string(&self.value["services"][service]).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(text.as_bytes());
        for f in files {
            h.update(f.path.as_os_str().as_encoded_bytes());
            h.update([0]);
            h.update(Sha256::digest(&f.content));
        }
        hex::encode(h.finalize())
    }
}

/// A bind mount's source: a path (`.`, `/`, `~`), not a volume's name.
fn is_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~'])
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~") {
        Some(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest.trim_start_matches('/')),
        None => PathBuf::from(p),
    }
}

/// A list of `K=V` (or `K`) or a map, as ordered pairs.
pub fn key_values(v: &ListOrMap) -> Vec<(String, Option<String>)> {
    match v {
        ListOrMap::List(l) => l
            .iter()
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (s.clone(), None),
            })
            .collect(),
        ListOrMap::Map(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map(Scalar::to_string)))
            .collect(),
    }
}

fn duration_ns(s: &str) -> Result<u64, String> {
    crate::time::go_duration(s)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| format!("{s:?} is not a duration such as 30s, 1m30s or 500ms"))
}

/// `healthcheck` as burrow's `--health-*` flags: `CMD` words are quoted
/// for the shell the check runs in, `CMD-SHELL` is the line, `NONE` or
/// `disable: true` turns the image's off.
fn health(h: &Healthcheck) -> Result<HealthFlags, String> {
    let mut f = HealthFlags::default();
    if h.disable == Some(true) {
        f.disabled = true;
        return Ok(f);
    }
    match &h.test {
        None => {}
        Some(StrOrList::Str(s)) => f.cmd = Some(s.clone()),
        Some(StrOrList::List(l)) => match l.split_first() {
            Some((k, rest)) if k == "CMD" => {
                let words: Vec<String> = rest
                    .iter()
                    .map(|w| shlex::try_quote(w).map(|q| q.into_owned()))
                    .collect::<Result<_, _>>()
                    .map_err(|_| "a CMD word holds a NUL byte".to_string())?;
                f.cmd = Some(words.join(" "));
            }
            Some((k, rest)) if k == "CMD-SHELL" => f.cmd = Some(rest.join(" ")),
            Some((k, _)) if k == "NONE" => f.disabled = true,
            _ => return Err(format!("test {l:?}: starts with CMD, CMD-SHELL or NONE")),
        },
    }
    f.interval_ns = h.interval.as_deref().map(duration_ns).transpose()?;
    f.timeout_ns = h.timeout.as_deref().map(duration_ns).transpose()?;
    f.start_period_ns = h.start_period.as_deref().map(duration_ns).transpose()?;
    f.start_interval_ns = h.start_interval.as_deref().map(duration_ns).transpose()?;
    f.retries = h.retries.map(|r| r.0);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::super::{load, Options};
    use crate::cgroup::Limits;
    use std::collections::HashMap;

    fn project(text: &str) -> super::Project {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("compose.yaml"), text).unwrap();
        let opts = Options {
            project_name: Some("demo".into()),
            ..Options::default()
        };
        std::fs::create_dir(d.path().join("src")).unwrap();
        let p = load(&opts, d.path(), &HashMap::new()).unwrap();
        std::mem::forget(d);
        p
    }

    #[test]
    fn a_service_becomes_a_run_spec_with_compose_names_and_labels() {
        let p = project(
            "services:\n  web:\n    build: {context: app, args: {A: 1}, target: t}\n    entrypoint: [\"/bin/sh\", \"-c\"]\n    command: \"echo 'a b'\"\n    ports: [\"127.0.0.1:8080:80\"]\n    volumes: [\"data:/data\", \"./src:/src:ro\"]\n    environment: {X: \"1\"}\n    networks:\n      back: {aliases: [api]}\n    healthcheck: {test: [CMD, pg_isready, -U, \"a b\"], interval: 1s, retries: 5}\n    deploy: {resources: {limits: {cpus: \"0.5\", memory: 64m, pids: 100}}}\n    restart: on-failure:3\nvolumes:\n  data: {}\nnetworks:\n  back: {}\n",
        );
        let plan = p.plan("web", 1).unwrap();
        assert_eq!(plan.container, "demo-web-1");
        let s = &plan.spec;
        assert_eq!(s.image, "demo-web");
        assert_eq!(s.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(s.command, ["-c", "echo", "a b"]);
        assert_eq!(s.env, ["X=1"]);
        assert_eq!(s.publish.len(), 1);
        assert_eq!(s.labels["com.docker.compose.project"], "demo");
        assert_eq!(s.labels["com.docker.compose.service"], "web");
        assert_eq!(s.labels["com.docker.compose.container-number"], "1");
        assert_eq!(
            s.network,
            crate::net::NetworkMode::Named("demo_back".into())
        );
        assert_eq!(s.network_endpoint.aliases, ["web", "api"]);
        assert_eq!(s.health.cmd.as_deref(), Some("pg_isready -U 'a b'"));
        assert_eq!(s.health.interval_ns, Some(1_000_000_000));
        assert_eq!(s.health.retries, Some(5));
        assert_eq!(
            s.limits,
            Limits {
                cpus: Some(0.5),
                memory: Some(64 << 20),
                pids_limit: Some(Some(100)),
                ..Limits::default()
            }
        );
        assert_eq!(s.restart.to_string(), "on-failure:3");
        let shown = format!("{:?}", s.volumes);
        assert!(shown.contains("demo_data"), "{shown}");
        let b = plan.build.unwrap();
        assert!(b.context.ends_with("app"));
        assert_eq!(b.tags, ["demo-web"]);
        assert_eq!(b.build_args, ["A=1"]);
        assert_eq!(b.target.as_deref(), Some("t"));
    }

    #[test]
    fn undeclared_volumes_and_networks_are_refused_by_name() {
        let p = project("services:\n  web:\n    image: x\n    volumes: [\"data:/d\"]\n");
        let e = p.plan("web", 1).unwrap_err().to_string();
        assert!(e.contains("\"data\" is not declared"), "{e}");
        let p = project("services:\n  web:\n    image: x\n    networks: [front]\n");
        let e = p.plan("web", 1).unwrap_err().to_string();
        assert!(e.contains("\"front\" is not declared"), "{e}");
    }

    #[test]
    fn secrets_and_configs_from_environment_and_content_are_files_burrow_writes() {
        use super::{GeneratedFile, HASH_LABEL};
        use crate::container::spec::UserMount;
        use std::path::PathBuf;
        let mut p = project(
            "services:\n  app:\n    image: x\n    secrets: [token]\n    configs: [conf, {source: level, target: /etc/level}]\nsecrets:\n  token: {environment: TOKEN}\nconfigs:\n  conf: {content: \"a=1\\n\"}\n  level: {environment: LEVEL}\n",
        );
        p.environment.insert("TOKEN".into(), "s3cret".into());
        p.environment.insert("LEVEL".into(), "4".into());
        p.state_dir = Some(PathBuf::from("/state/demo"));
        let plan = p.plan("app", 1).unwrap();
        let file = |path: &str, content: &str| GeneratedFile {
            path: PathBuf::from(path),
            content: content.as_bytes().to_vec(),
        };
        assert_eq!(
            plan.files,
            [
                file("/state/demo/secrets/token", "s3cret"),
                file("/state/demo/configs/conf", "a=1\n"),
                file("/state/demo/configs/level", "4"),
            ]
        );
        let bind = |source: &str, target: &str| UserMount::Bind {
            source: PathBuf::from(source),
            target: target.into(),
            read_only: true,
        };
        assert_eq!(
            plan.spec.volumes,
            [
                bind("/state/demo/secrets/token", "/run/secrets/token"),
                bind("/state/demo/configs/conf", "/conf"),
                bind("/state/demo/configs/level", "/etc/level"),
            ]
        );
        // A new value is a new configuration: `up` makes the container again.
        p.environment.insert("TOKEN".into(), "other".into());
        let again = p.plan("app", 1).unwrap();
        assert_ne!(again.spec.labels[HASH_LABEL], plan.spec.labels[HASH_LABEL]);
        p.environment.remove("TOKEN");
        let e = p.plan("app", 1).unwrap_err().to_string();
        assert!(
            e.contains("secrets: \"token\": the environment variable TOKEN is not set"),
            "{e}"
        );
    }

    #[test]
    fn a_secret_with_content_two_sources_or_a_name_that_climbs_out_is_refused() {
        for (top, want) in [
            ("secrets:\n  s: {content: x}\n", "content is for configs"),
            (
                "secrets:\n  s: {file: ./a, environment: A}\n",
                "one of file, environment or content",
            ),
            ("secrets:\n  s: {external: true}\n", "external secrets"),
            (
                "secrets:\n  s: {name: x}\n",
                "neither file, environment nor content",
            ),
        ] {
            let mut p = project(&format!(
                "services:\n  app:\n    image: x\n    secrets: [s]\n{top}"
            ));
            p.environment.insert("A".into(), "1".into());
            p.state_dir = Some("/state/demo".into());
            let e = p.plan("app", 1).unwrap_err().to_string();
            assert!(e.contains(want), "{top}: {e}");
        }
        let mut p = project(
            "services:\n  app:\n    image: x\n    secrets: [\"..\"]\nsecrets:\n  \"..\": {environment: A}\n",
        );
        p.environment.insert("A".into(), "1".into());
        p.state_dir = Some("/state/demo".into());
        let e = p.plan("app", 1).unwrap_err().to_string();
        assert!(e.contains("a name of letters"), "{e}");
    }

    #[test]
    fn additional_contexts_become_named_contexts_and_service_ones_build_first() {
        use crate::build::named::ContextSource;
        let p = project(
            "services:\n  base:\n    build: ./base\n  web:\n    build:\n      context: app\n      additional_contexts:\n        docs: ./docs\n        abs: /srv/d\n        img: docker-image://netbox:1\n        base: service:base\n  tool:\n    image: x\n    build:\n      context: .\n      additional_contexts: [\"web=service:web\"]\n",
        );
        let b = p.plan("web", 1).unwrap().build.unwrap();
        let got: Vec<(String, ContextSource, String)> = b
            .contexts
            .into_iter()
            .map(|c| (c.name, c.source, c.spec))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "abs".to_string(),
                    ContextSource::Dir("/srv/d".into()),
                    "abs=/srv/d".to_string()
                ),
                (
                    "base".to_string(),
                    ContextSource::Image("demo-base".into()),
                    "base=service:base".to_string()
                ),
                (
                    "docs".to_string(),
                    ContextSource::Dir(p.dir.join("./docs")),
                    "docs=./docs".to_string()
                ),
                (
                    "img".to_string(),
                    ContextSource::Image("netbox:1".into()),
                    "img=docker-image://netbox:1".to_string()
                ),
            ]
        );
        // The list form; a service's image by its `image:`.
        let tool = p.plan("tool", 1).unwrap().build.unwrap();
        assert_eq!(
            tool.contexts[0].source,
            ContextSource::Image("demo-web".into())
        );
        // Each after the builds whose images it uses.
        assert_eq!(
            super::super::build_order(&p.model, &["tool".to_string()]).unwrap(),
            ["base", "web", "tool"]
        );
    }

    #[test]
    fn additional_contexts_that_cannot_be_used_are_refused_naming_them() {
        let load_err = |text: &str| {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("compose.yaml"), text).unwrap();
            let opts = Options {
                project_name: Some("demo".into()),
                ..Options::default()
            };
            load(&opts, d.path(), &HashMap::new())
                .unwrap_err()
                .to_string()
        };
        let e = load_err(
            "services:\n  web:\n    build: {context: ., additional_contexts: {b: \"service:nope\"}}\n",
        );
        assert_eq!(
            e,
            "service web: build.additional_contexts: b=service:nope: \"nope\" is not a service of this project"
        );
        let e = load_err(
            "services:\n  a:\n    build: {context: ., additional_contexts: {b: \"service:b\"}}\n  b:\n    build: {context: ., additional_contexts: [\"a=service:a\"]}\n",
        );
        assert_eq!(
            e,
            "build cycle between services (additional_contexts service:): a -> b -> a"
        );
        for (contexts, want) in [
            (
                "{src: \"https://example.com/r.git\"}",
                "src=https://example.com/r.git: burrow build fetches no context from the network",
            ),
            ("[\"novalue\"]", "\"novalue\" has no value"),
            ("{Up: ./d}", "Up=./d: \"Up\" is not a valid context name"),
        ] {
            let p = project(&format!(
                "services:\n  web:\n    build: {{context: ., additional_contexts: {contexts}}}\n"
            ));
            let e = p.plan("web", 1).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("service web: build.additional_contexts: {want}")),
                "{e}"
            );
        }
    }

    #[test]
    fn dockers_predefined_networks_are_network_modes_never_made() {
        use crate::net::NetworkMode;
        let p = project(
            "services:\n  a:\n    image: x\n  b:\n    image: x\n    networks: [outside]\n  c:\n    image: x\n    networks: [none]\n  d:\n    image: x\n    network_mode: bridge\nnetworks:\n  default: {external: true, name: bridge}\n  outside: {external: true, name: host}\n  none: {external: true}\n",
        );
        for (service, mode) in [
            ("a", NetworkMode::User),
            ("b", NetworkMode::Host),
            ("c", NetworkMode::None),
            ("d", NetworkMode::User),
        ] {
            let plan = p.plan(service, 1).unwrap();
            assert_eq!(plan.spec.network, mode, "{service}");
            assert!(plan.networks.is_empty(), "{service}: {:?}", plan.networks);
            assert!(plan.spec.network_endpoint.aliases.is_empty(), "{service}");
        }
        assert!(p.predefined_network("default").is_some());
        assert!(p.predefined_network("elsewhere").is_none());
        // A predefined network is the container's only one, and has no
        // aliases or addresses of its own (as docker's).
        for (service, want) in [
            ("two", "it joins no other network with it"),
            ("named", "aliases and ipv4_address are for networks"),
        ] {
            let p = project(
                "services:\n  two:\n    image: x\n    networks: [outside, back]\n  named:\n    image: x\n    networks:\n      outside: {aliases: [web]}\nnetworks:\n  outside: {external: true, name: bridge}\n  back: {}\n",
            );
            let e = p.plan(service, 1).unwrap_err().to_string();
            assert!(e.contains(want), "{service}: {e}");
            assert!(e.contains("\"outside\" is bridge"), "{service}: {e}");
        }
    }

    #[test]
    fn a_service_without_networks_is_on_the_project_default() {
        let p = project("services:\n  db:\n    image: x\n");
        let plan = p.plan("db", 1).unwrap();
        assert_eq!(plan.networks[0].0, "demo_default");
        assert_eq!(p.used_networks(), ["default"]);
        assert_eq!(p.volume_name("v"), "demo_v");
    }

    #[test]
    fn a_services_volumes_are_the_top_level_ones_it_mounts() {
        let p = project(
            "services:\n  app:\n    image: x\n    volumes:\n      - data:/d\n      - ./here:/h\n      \
             - /anon\n      - {type: volume, source: logs, target: /l}\n      \
             - {type: bind, source: /tmp, target: /t}\n      - data:/again\n\
             volumes:\n  data: {}\n  logs: {}\n  unused: {}\n",
        );
        assert_eq!(p.volumes_of(&p.model.services["app"]), ["data", "logs"]);
    }
}
