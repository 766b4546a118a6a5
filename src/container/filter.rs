//! `ps --filter KEY=VALUE`: docker's container filters, parsed once at the
//! edge and judged by a pure function of a record and its state. Values of
//! one key are alternatives; different keys must all match.

use super::health::HealthStatus;
use super::record::{Record, State, Status};
use crate::net::{NetworkMode, PortRange};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("invalid filter {0:?}: use KEY=VALUE")]
    Syntax(String),
    #[error(
        "invalid filter key {0:?}: burrow knows id, name, label, status, health, ancestor, exited, before, since, volume, network, publish, expose and is-task"
    )]
    Key(String),
    #[error("invalid filter health={0:?}: starting, healthy, unhealthy or none")]
    Health(String),
    #[error("invalid filter {key}={value:?}: PORT[-PORT][/tcp|udp]")]
    Port { key: &'static str, value: String },
    #[error("invalid filter is-task={0:?}: true or false")]
    IsTask(String),
    #[error("invalid filter status={0:?}: created, restarting, running, removing, paused, exited or dead")]
    Status(String),
    #[error("invalid filter exited={0:?}: an exit status (a number)")]
    Exited(String),
}

/// One `--filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// A prefix of the id.
    Id(String),
    /// Part of the name; `^` and `$` anchor it, as in docker's regular
    /// expression.
    Name(String),
    /// A label: its key, or key and value.
    Label(String, Option<String>),
    Status(String),
    /// The image by the name it was run as, or its id (or a prefix).
    Ancestor(String),
    Exited(i32),
    /// Created before (after) the container with this name or id.
    Before(String),
    Since(String),
    /// The health check's status; `None` is a container without one.
    Health(Option<HealthStatus>),
    /// A volume by name, or any mount by its destination in the container.
    Volume(String),
    /// A network by name or id (a prefix), or one of `--network`'s own
    /// modes by the names it takes (`bridge` is the default network).
    Network(String),
    /// A published container port (docker's `PortBindings`), in a range.
    Publish(PortRange),
    /// An exposed container port (EXPOSE, `--expose`, `-p`), in a range.
    Expose(PortRange),
    /// A task of a swarm service: burrow has none, so `true` matches no
    /// container and `false` every one.
    IsTask(bool),
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Filter, FilterError> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| FilterError::Syntax(s.into()))?;
        let value = value.to_string();
        Ok(match key {
            "id" => Filter::Id(value),
            "name" => Filter::Name(value),
            "label" => match value.split_once('=') {
                Some((k, v)) => Filter::Label(k.into(), Some(v.into())),
                None => Filter::Label(value, None),
            },
            "status" => {
                const KNOWN: [&str; 7] = [
                    "created",
                    "restarting",
                    "running",
                    "removing",
                    "paused",
                    "exited",
                    "dead",
                ];
                if !KNOWN.contains(&value.as_str()) {
                    return Err(FilterError::Status(value));
                }
                Filter::Status(value)
            }
            "ancestor" => Filter::Ancestor(value),
            "exited" => Filter::Exited(value.parse().map_err(|_| FilterError::Exited(value))?),
            "before" => Filter::Before(value),
            "since" => Filter::Since(value),
            "health" => Filter::Health(match value.as_str() {
                "starting" => Some(HealthStatus::Starting),
                "healthy" => Some(HealthStatus::Healthy),
                "unhealthy" => Some(HealthStatus::Unhealthy),
                "none" => None,
                _ => return Err(FilterError::Health(value)),
            }),
            "volume" => Filter::Volume(value),
            "network" => Filter::Network(value),
            "publish" | "expose" => {
                let range = value.parse().map_err(|_| FilterError::Port {
                    key: if key == "publish" {
                        "publish"
                    } else {
                        "expose"
                    },
                    value: value.clone(),
                })?;
                if key == "publish" {
                    Filter::Publish(range)
                } else {
                    Filter::Expose(range)
                }
            }
            "is-task" => Filter::IsTask(match value.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(FilterError::IsTask(value)),
            }),
            other => return Err(FilterError::Key(other.into())),
        })
    }
}

impl Filter {
    fn key(&self) -> &'static str {
        match self {
            Filter::Id(_) => "id",
            Filter::Name(_) => "name",
            Filter::Label(..) => "label",
            Filter::Status(_) => "status",
            Filter::Ancestor(_) => "ancestor",
            Filter::Exited(_) => "exited",
            Filter::Before(_) => "before",
            Filter::Since(_) => "since",
            Filter::Health(_) => "health",
            Filter::Volume(_) => "volume",
            Filter::Network(_) => "network",
            Filter::Publish(_) => "publish",
            Filter::Expose(_) => "expose",
            Filter::IsTask(_) => "is-task",
        }
    }
}

/// What a container is judged on.
pub struct Seen<'a> {
    pub record: &'a Record,
    pub state: &'a State,
    pub paused: bool,
    /// Its labels (the image's, then its own).
    pub labels: &'a [(String, String)],
    /// Its creation, in nanoseconds, for before/since.
    pub created: i128,
    /// The networks made with `network create` it is on: name and id.
    pub networks: &'a [(String, String)],
}

/// Whether a container passes every filter. `created_of` gives the creation
/// time of the container a before/since names (None when there is none:
/// nothing passes).
pub fn matches(
    filters: &[Filter],
    c: &Seen<'_>,
    created_of: &dyn Fn(&str) -> Option<i128>,
) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(Filter::key).collect();
    keys.dedup();
    keys.iter().all(|key| {
        filters
            .iter()
            .filter(|f| f.key() == *key)
            .any(|f| one(f, c, created_of))
    })
}

fn one(f: &Filter, c: &Seen<'_>, created_of: &dyn Fn(&str) -> Option<i128>) -> bool {
    let r = c.record;
    match f {
        Filter::Id(p) => r.id.starts_with(p.as_str()),
        Filter::Name(n) => name_matches(&r.name, n),
        Filter::Label(k, v) => c
            .labels
            .iter()
            .any(|(lk, lv)| lk == k && v.as_ref().is_none_or(|v| v == lv)),
        Filter::Status(s) => status_word(c.state, c.paused) == s,
        Filter::Ancestor(a) => {
            let hex = r.image_id.hex();
            let bare = a.strip_prefix("sha256:").unwrap_or(a);
            r.image == *a
                || r.image.strip_suffix(":latest") == Some(a.as_str())
                || a.strip_suffix(":latest") == Some(r.image.as_str())
                || (bare.len() >= 3 && hex.starts_with(bare))
        }
        Filter::Exited(code) => {
            c.state.status == Status::Exited && c.state.exit_code == Some(*code)
        }
        Filter::Before(other) => created_of(other).is_some_and(|t| c.created < t),
        Filter::Since(other) => created_of(other).is_some_and(|t| c.created > t),
        Filter::Health(h) => c.state.health.as_ref().map(|x| x.status) == *h,
        Filter::Volume(v) => r.config.mounts.iter().any(|m| {
            m.target() == v || matches!(m, super::spec::UserMount::Volume { name, .. } if name == v)
        }),
        Filter::Network(n) => match n.parse::<NetworkMode>() {
            Ok(mode @ (NetworkMode::User | NetworkMode::None | NetworkMode::Host)) => {
                r.config.network_mode == mode
            }
            _ => c
                .networks
                .iter()
                .any(|(name, id)| name == n || (n.len() >= 3 && id.starts_with(n.as_str()))),
        },
        Filter::Publish(range) => r.config.ports.iter().any(|p| range.contains(p.exposed())),
        Filter::Expose(range) => r
            .config
            .exposed_ports
            .iter()
            .copied()
            .chain(r.config.ports.iter().map(|p| p.exposed()))
            .any(|p| range.contains(p)),
        Filter::IsTask(task) => !task,
    }
}

/// docker's word for a container's state.
pub fn status_word(s: &State, paused: bool) -> &'static str {
    match s.status {
        Status::Created => "created",
        Status::Running if paused => "paused",
        Status::Running => "running",
        Status::Exited => "exited",
        Status::Unknown => "dead",
    }
}

pub(crate) fn name_matches(name: &str, pattern: &str) -> bool {
    let (start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

/// One `prune --filter`: docker's `until=TIME`, `label=KEY[=VALUE]` and
/// `label!=KEY[=VALUE]`, for containers, images and `system prune`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneFilter {
    /// Only what was created before this time (nanoseconds since the epoch).
    Until(u64),
    /// Only what has this label (and value).
    Label(String, Option<String>),
    /// Only what has not this label (and value).
    NotLabel(String, Option<String>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PruneFilterError {
    #[error("invalid filter {0:?}: use until=TIME, label=KEY[=VALUE] or label!=KEY[=VALUE]")]
    Syntax(String),
    #[error("invalid filter until={0:?}: RFC 3339, Unix seconds or a duration such as 10m")]
    Time(String),
}

impl PruneFilter {
    /// Parses one filter; `until=` durations count back from `now_ns`.
    pub fn parse(s: &str, now_ns: u64) -> Result<PruneFilter, PruneFilterError> {
        let label = |v: &str| match v.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (v.to_string(), None),
        };
        match s.split_once('=') {
            Some(("until", t)) => crate::time::point(t, now_ns)
                .map(PruneFilter::Until)
                .ok_or_else(|| PruneFilterError::Time(t.into())),
            Some(("label", v)) if !v.is_empty() => {
                let (k, v) = label(v);
                Ok(PruneFilter::Label(k, v))
            }
            Some(("label!", v)) if !v.is_empty() => {
                let (k, v) = label(v);
                Ok(PruneFilter::NotLabel(k, v))
            }
            _ => Err(PruneFilterError::Syntax(s.into())),
        }
    }
}

/// Whether something created at `created_ns` (None: unknown, as old as can
/// be) with `labels` may be pruned under `filters`, as docker judges it:
/// every `until` and `label` must hold; it is kept if it carries every
/// `label!` named.
pub fn prune_matches(
    filters: &[PruneFilter],
    created_ns: Option<u64>,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let has = |k: &String, v: &Option<String>| {
        labels
            .get(k)
            .is_some_and(|lv| v.as_ref().is_none_or(|v| v == lv))
    };
    let mut negated = filters
        .iter()
        .filter_map(|f| match f {
            PruneFilter::NotLabel(k, v) => Some((k, v)),
            _ => None,
        })
        .peekable();
    if negated.peek().is_some() && negated.all(|(k, v)| has(k, v)) {
        return false;
    }
    filters.iter().all(|f| match f {
        PruneFilter::Until(t) => created_ns.unwrap_or(0) < *t,
        PruneFilter::Label(k, v) => has(k, v),
        PruneFilter::NotLabel(..) => true,
    })
}

/// One `images --filter`: docker's `dangling`, `label`, `before`, `since`
/// and `reference` (the `REPOSITORY[:TAG]` argument is one too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageFilter {
    /// Without a name (true) or with one (false).
    Dangling(bool),
    /// A label of the image's config: its key, or key and value.
    Label(String, Option<String>),
    /// Created before (after) the image with this name or id.
    Before(String),
    Since(String),
    /// A glob over a name (`busy*:*libc`): its path parts match as Go's
    /// `path.Match` does, against the name with or without its tag.
    Reference(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageFilterError {
    #[error("invalid filter {0:?}: use KEY=VALUE")]
    Syntax(String),
    #[error("invalid filter key {0:?}: burrow knows dangling, label, before, since and reference")]
    Key(String),
    #[error("invalid filter dangling={0:?}: true or false")]
    Dangling(String),
}

impl std::str::FromStr for ImageFilter {
    type Err = ImageFilterError;

    fn from_str(s: &str) -> Result<ImageFilter, ImageFilterError> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| ImageFilterError::Syntax(s.into()))?;
        let value = value.to_string();
        Ok(match key {
            "dangling" => ImageFilter::Dangling(match value.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(ImageFilterError::Dangling(value)),
            }),
            "label" => match value.split_once('=') {
                Some((k, v)) => ImageFilter::Label(k.into(), Some(v.into())),
                None => ImageFilter::Label(value, None),
            },
            "before" => ImageFilter::Before(value),
            "since" => ImageFilter::Since(value),
            "reference" => ImageFilter::Reference(value),
            other => return Err(ImageFilterError::Key(other.into())),
        })
    }
}

impl ImageFilter {
    fn key(&self) -> &'static str {
        match self {
            ImageFilter::Dangling(_) => "dangling",
            ImageFilter::Label(..) => "label",
            ImageFilter::Before(_) => "before",
            ImageFilter::Since(_) => "since",
            ImageFilter::Reference(_) => "reference",
        }
    }
}

/// What an image is judged on.
pub struct ImageSeen<'a> {
    /// Its names, as stored (`localhost/app:1`, `docker.io/library/busybox:latest`).
    pub names: &'a [String],
    pub labels: &'a std::collections::BTreeMap<String, String>,
    /// Its creation, in nanoseconds (None: unknown, older than any).
    pub created: Option<i128>,
}

/// Whether a stored name matches a `reference` pattern: the pattern is
/// tried on the name as stored and as docker shows it (`busybox:latest`,
/// `busybox`), and, for images made here, without `localhost/`, the name
/// they are run by.
pub fn reference_matches(pattern: &str, name: &str) -> bool {
    let glob = crate::glob::Glob::path(pattern);
    let Ok(r) = crate::image::reference::Reference::parse(name) else {
        return glob.is_match(name);
    };
    let mut forms = vec![name.to_string(), r.name(), r.familiar(), r.familiar_name()];
    if r.registry == "localhost" {
        forms.push(r.repository.clone());
        if let Some(t) = &r.tag {
            forms.push(format!("{}:{t}", r.repository));
        }
    }
    forms.iter().any(|f| glob.is_match(f))
}

/// Whether an image passes every filter: values of one key are
/// alternatives, keys must all match. `created_of` gives the creation of
/// the image a before/since names (None when there is none: nothing passes).
pub fn image_matches(
    filters: &[ImageFilter],
    image: &ImageSeen<'_>,
    created_of: &dyn Fn(&str) -> Option<i128>,
) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(ImageFilter::key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|key| {
        filters
            .iter()
            .filter(|f| f.key() == *key)
            .any(|f| image_one(f, image, created_of))
    })
}

fn image_one(
    f: &ImageFilter,
    image: &ImageSeen<'_>,
    created_of: &dyn Fn(&str) -> Option<i128>,
) -> bool {
    let created = image.created.unwrap_or(i128::MIN);
    match f {
        ImageFilter::Dangling(d) => image.names.is_empty() == *d,
        ImageFilter::Label(k, v) => image
            .labels
            .get(k)
            .is_some_and(|lv| v.as_ref().is_none_or(|v| v == lv)),
        ImageFilter::Before(other) => created_of(other).is_some_and(|t| created < t),
        ImageFilter::Since(other) => created_of(other).is_some_and(|t| created > t),
        ImageFilter::Reference(p) => image.names.iter().any(|n| reference_matches(p, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_filters_take_until_and_labels_as_docker_does() {
        let now = 100_000_000_000;
        let f = |s: &str| PruneFilter::parse(s, now).expect(s);
        assert_eq!(f("until=10s"), PruneFilter::Until(90_000_000_000));
        assert_eq!(f("until=50"), PruneFilter::Until(50_000_000_000));
        assert_eq!(
            f("until=1970-01-01T00:00:20Z"),
            PruneFilter::Until(20_000_000_000)
        );
        assert!(PruneFilter::parse("until=soon", now).is_err());
        assert!(PruneFilter::parse("name=x", now).is_err());
        assert!(PruneFilter::parse("label=", now).is_err());
        let labels: std::collections::BTreeMap<String, String> =
            [("tier".to_string(), "web".to_string())].into();
        let none = Default::default();
        let old = Some(10_000_000_000);
        assert!(prune_matches(&[f("until=50")], old, &none));
        assert!(!prune_matches(&[f("until=5")], old, &none));
        assert!(prune_matches(&[f("until=5")], None, &none));
        assert!(prune_matches(&[f("label=tier")], old, &labels));
        assert!(prune_matches(&[f("label=tier=web")], old, &labels));
        assert!(!prune_matches(&[f("label=tier=db")], old, &labels));
        assert!(!prune_matches(
            &[f("label=tier"), f("until=5")],
            old,
            &labels
        ));
        assert!(!prune_matches(&[f("label!=tier")], old, &labels));
        assert!(prune_matches(&[f("label!=tier=db")], old, &labels));
        assert!(prune_matches(&[f("label!=tier")], old, &none));
    }

    fn record(name: &str, image: &str) -> Record {
        Record {
            id: format!("{:0<64}", "abc123"),
            name: name.into(),
            image_id: "sha256:dead0000000000000000000000000000000000000000000000000000000000be"
                .parse()
                .expect("digest"),
            image: image.into(),
            created: String::new(),
            config: Default::default(),
            id_map: crate::sandbox::userns::IdMap {
                uids: vec![],
                gids: vec![],
            },
            auto_remove: false,
            plan_dir: None,
            pod: None,
        }
    }

    fn check(filters: &[&str], r: &Record, s: &State, labels: &[(String, String)]) -> bool {
        let f: Vec<Filter> = filters.iter().map(|f| f.parse().expect(f)).collect();
        let seen = Seen {
            record: r,
            state: s,
            paused: false,
            labels,
            created: 5,
            networks: &[],
        };
        matches(&f, &seen, &|n| match n {
            "old" => Some(1),
            "new" => Some(9),
            _ => None,
        })
    }

    #[test]
    fn filters_of_one_key_are_alternatives_and_keys_all_must_match() {
        let r = record("web-1", "docker.io/library/alpine:latest");
        let exited = State {
            status: Status::Exited,
            exit_code: Some(3),
            ..State::created()
        };
        let labels = vec![("tier".to_string(), "front".to_string())];
        assert!(check(&["name=web"], &r, &exited, &labels));
        assert!(check(&["name=^web-1$"], &r, &exited, &labels));
        assert!(!check(&["name=^eb"], &r, &exited, &labels));
        assert!(check(
            &["status=running", "status=exited"],
            &r,
            &exited,
            &labels
        ));
        assert!(!check(&["status=exited", "name=db"], &r, &exited, &labels));
        assert!(check(&["exited=3", "label=tier"], &r, &exited, &labels));
        assert!(check(&["label=tier=front"], &r, &exited, &labels));
        assert!(!check(&["label=tier=back"], &r, &exited, &labels));
        assert!(!check(&["exited=0"], &r, &exited, &labels));
        assert!(check(&["id=abc1"], &r, &exited, &labels));
        assert!(check(&["ancestor=dead00"], &r, &exited, &labels));
        assert!(check(
            &["ancestor=docker.io/library/alpine"],
            &r,
            &exited,
            &labels
        ));
        assert!(check(&["since=old", "before=new"], &r, &exited, &labels));
        assert!(!check(&["before=old"], &r, &exited, &labels));
        assert!(!check(&["since=nosuch"], &r, &exited, &labels));
        assert!(check(&["status=created"], &r, &State::created(), &labels));
    }

    #[test]
    fn health_volume_network_ports_and_tasks_match_as_dockers_do() {
        use crate::net::{ExposedPort, PortProto, PublishedPort};
        let mut r = record("web", "alpine");
        r.config.mounts = vec![
            super::super::spec::UserMount::Volume {
                name: "data".into(),
                target: "/var/lib/data".into(),
                read_only: false,
                no_copy: false,
                anonymous: false,
            },
            super::super::spec::UserMount::Tmpfs {
                target: "/scratch".into(),
                size: None,
                mode: None,
            },
        ];
        r.config.ports = vec![PublishedPort {
            host_ip: None,
            host_port: 32768,
            container_port: 80,
            proto: PortProto::Tcp,
        }];
        r.config.exposed_ports = [ExposedPort {
            port: 8080,
            proto: PortProto::Tcp,
        }]
        .into();
        let s = State::created();
        let none = [];
        assert!(check(&["health=none"], &r, &s, &none));
        assert!(!check(&["health=healthy"], &r, &s, &none));
        let unhealthy = State {
            health: Some(super::super::health::Health {
                status: HealthStatus::Unhealthy,
                ..Default::default()
            }),
            ..State::created()
        };
        assert!(check(&["health=unhealthy"], &r, &unhealthy, &none));
        assert!(!check(&["health=none"], &r, &unhealthy, &none));
        assert!(check(&["volume=data"], &r, &s, &none));
        assert!(check(&["volume=/scratch"], &r, &s, &none));
        assert!(!check(&["volume=/var"], &r, &s, &none));
        // The default network answers to docker's name for it.
        assert!(check(&["network=bridge"], &r, &s, &none));
        assert!(!check(&["network=host"], &r, &s, &none));
        // The container port, not the host's, as docker's PortBindings.
        assert!(check(&["publish=80"], &r, &s, &none));
        assert!(check(&["publish=1-100/tcp"], &r, &s, &none));
        assert!(!check(&["publish=80/udp"], &r, &s, &none));
        assert!(!check(&["publish=32768"], &r, &s, &none));
        assert!(!check(&["publish=8080"], &r, &s, &none));
        // Published ports are exposed too.
        assert!(check(&["expose=8000-8080/tcp"], &r, &s, &none));
        assert!(check(&["expose=80"], &r, &s, &none));
        assert!(!check(&["expose=81-90"], &r, &s, &none));
        assert!(check(&["is-task=false"], &r, &s, &none));
        assert!(!check(&["is-task=true"], &r, &s, &none));
        assert_eq!(
            "health=ok".parse::<Filter>(),
            Err(FilterError::Health("ok".into()))
        );
        assert!("publish=80/sctp".parse::<Filter>().is_err());
        assert!("expose=90-80".parse::<Filter>().is_err());
    }

    #[test]
    fn bad_filters_say_what_is_known() {
        assert_eq!(
            "colour=red".parse::<Filter>(),
            Err(FilterError::Key("colour".into()))
        );
        assert_eq!(
            "status=asleep".parse::<Filter>(),
            Err(FilterError::Status("asleep".into()))
        );
        assert_eq!(
            "exited=x".parse::<Filter>(),
            Err(FilterError::Exited("x".into()))
        );
        assert_eq!(
            "name".parse::<Filter>(),
            Err(FilterError::Syntax("name".into()))
        );
    }

    #[test]
    fn image_filters_take_dangling_labels_times_and_reference_globs() {
        let f = |s: &str| s.parse::<ImageFilter>().expect(s);
        let labels: std::collections::BTreeMap<String, String> =
            [("tier".to_string(), "web".to_string())].into();
        let names = vec![
            "docker.io/library/busybox:uclibc".to_string(),
            "localhost/app:1".to_string(),
        ];
        let image = ImageSeen {
            names: &names,
            labels: &labels,
            created: Some(5),
        };
        let unnamed = ImageSeen {
            names: &[],
            labels: &labels,
            created: Some(5),
        };
        let check = |filters: &[&str], i: &ImageSeen<'_>| {
            let filters: Vec<ImageFilter> = filters.iter().map(|s| f(s)).collect();
            image_matches(&filters, i, &|n| match n {
                "old" => Some(1),
                "new" => Some(9),
                _ => None,
            })
        };
        assert!(check(&["dangling=true"], &unnamed));
        assert!(!check(&["dangling=true"], &image));
        assert!(check(&["dangling=false"], &image));
        assert!(check(&["label=tier", "dangling=false"], &image));
        assert!(!check(&["label=tier=db"], &image));
        assert!(check(&["since=old", "before=new"], &image));
        assert!(!check(&["before=old"], &image));
        assert!(!check(&["since=nosuch"], &image));
        for hit in [
            "busybox",
            "busy*:*libc",
            "app",
            "app:1",
            "localhost/app:*",
            "*",
        ] {
            assert!(check(&[&format!("reference={hit}")], &image), "{hit}");
        }
        for miss in ["busy", "app:2", "*/*/*/*", "library/busybox"] {
            assert!(!check(&[&format!("reference={miss}")], &image), "{miss}");
        }
        assert!(check(&["reference=nomatch", "reference=app"], &image));
        assert!(!check(&["reference=app"], &unnamed));
        assert_eq!(
            "colour=red".parse::<ImageFilter>(),
            Err(ImageFilterError::Key("colour".into()))
        );
        assert_eq!(
            "dangling=maybe".parse::<ImageFilter>(),
            Err(ImageFilterError::Dangling("maybe".into()))
        );
    }
}
