//! `burrow run` and the container commands that go with it: ps, rm,
//! inspect of containers.

use super::values;
use super::Format;
use crate::container::images::Context;
use crate::container::run::{self, RunSpec};
use crate::container::spec::{RestartPolicy, SecurityOpt, UserMount, UsernsMode};
use crate::container::{self as ctr};
use crate::net::NetworkMode;
use crate::sandbox::CapName;
use crate::Result;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct Run {
    /// Run in the background under a supervisor; print the container's id.
    #[arg(short, long)]
    detach: bool,
    /// Pass the signals `run` gets on to the container (--sig-proxy=false: they end `run` alone, and the container runs on); a terminal (-t) delivers its own.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    sig_proxy: bool,
    #[command(flatten)]
    create: Create,
}

impl Run {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let mut spec = self.create.spec()?;
        // docker's words: a detached run attaches nothing.
        if self.detach && !spec.attach.is_empty() {
            return Err(crate::Error::Usage("Conflicting options: -a and -d".into()));
        }
        spec.detach = self.detach;
        spec.no_sig_proxy = !self.sig_proxy;
        let spec = in_new_pod(ctx, spec)?;
        run::run(ctx, &spec).map_err(not_found_is_125)
    }
}

/// `--pod new:NAME`: the pod made first, with the container's published
/// ports (a pod's containers publish theirs on the pod).
fn in_new_pod(ctx: &Context, mut spec: RunSpec) -> Result<RunSpec> {
    let Some(name) = spec.pod.as_deref().and_then(|p| p.strip_prefix("new:")) else {
        return Ok(spec);
    };
    let pod = ctr::pod::create(
        ctx,
        &ctr::pod::PodSpec {
            name: Some(name.to_string()),
            publish: std::mem::take(&mut spec.publish),
            ..Default::default()
        },
    )?;
    spec.pod = Some(pod.id);
    Ok(spec)
}

/// `run` and `create` fail with 125 on anything of burrow's, a missing
/// image or container included (which other commands exit 1 for).
fn not_found_is_125(e: crate::Error) -> crate::Error {
    match e {
        crate::Error::Container(ctr::ContainerError::Record(
            ctr::record::RecordError::NotFound(_),
        ))
        | crate::Error::Container(ctr::ContainerError::Pod(ctr::pods::PodError::NotFound(_)))
        | crate::Error::Image(crate::image::ImageError::Store(
            crate::image::store::StoreError::NoSuchImage(_),
        )) => crate::Error::Usage(e.to_string()),
        e => e,
    }
}

/// `create`: every flag of `run` but `-d`; the container waits for `start`.
#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct Create {
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Print no pull progress when the image is pulled.
    #[arg(short, long)]
    quiet: bool,
    /// Set a label: KEY=VALUE (or KEY, empty).
    #[arg(short, long = "label", value_name = "KEY[=VALUE]")]
    label: Vec<String>,
    /// Read labels from a file of KEY=VALUE lines (# starts a comment).
    #[arg(long, value_name = "FILE")]
    label_file: Vec<PathBuf>,
    /// The signal `stop` sends first (default: the image's StopSignal, else SIGTERM).
    #[arg(long, value_name = "SIGNAL", value_parser = super::values::signal)]
    stop_signal: Option<i32>,
    /// Seconds `stop` waits for the container after its stop signal before SIGKILL (default 10).
    #[arg(long, value_name = "SECS")]
    stop_timeout: Option<u64>,
    /// When to pull the image: missing (default), always, never, newer.
    #[arg(long, value_name = "POLICY", default_value = "missing", value_parser = super::values::pull)]
    pull: run::PullPolicy,
    /// Write the container's id to this file (which must not exist).
    #[arg(long, value_name = "FILE")]
    cidfile: Option<PathBuf>,
    /// Another supplementary group for the container's process: a gid, or a name in the image's /etc/group.
    #[arg(long, value_name = "GROUP")]
    group_add: Vec<String>,
    /// A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, stack, memlock, ...; -1 is unlimited).
    #[arg(long, value_name = "NAME=SOFT[:HARD]", value_parser = values::ulimit)]
    ulimit: Vec<ctr::spec::Rlimit>,
    /// The size of /dev/shm (64m by default).
    #[arg(long, value_name = "SIZE", value_parser = values::size)]
    shm_size: Option<u64>,
    /// What /proc/meminfo, cpuinfo, stat, uptime, loadavg, swaps, diskstats and /sys/devices/system/cpu/online show: auto (the container's own with --memory, --cpus or --cpuset-cpus), container, host.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = values::proc_view)]
    proc_view: run::ProcViewMode,
    /// A namespaced sysctl: net.* (with a network of its own), kernel.shm*/msg*/sem, fs.mqueue.*.
    #[arg(long, value_name = "NAME=VALUE", value_parser = values::sysctl)]
    sysctl: Vec<(String, String)>,
    /// Where output goes: k8s-file (default), json-file (the same log), none, passthrough (your own stdio).
    #[arg(long, value_name = "DRIVER", value_parser = values::log_driver)]
    log_driver: Option<ctr::spec::LogDriver>,
    /// A log option: max-size=SIZE (of each file), max-file=N (the files
    /// kept, the live one among them; 1 with max-size alone).
    #[arg(long, value_name = "KEY=VALUE", value_parser = values::log_opt)]
    log_opt: Vec<ctr::spec::LogOpt>,
    /// The keys that detach `attach` and `start -a` from the container's terminal (ctrl-p,ctrl-q by default).
    #[arg(long, value_name = "KEYS", value_parser = values::detach_keys)]
    detach_keys: Option<ctr::spec::DetachKeys>,
    /// Restart policy while the supervisor lives: no, on-failure[:N], always.
    #[arg(long, value_name = "POLICY", value_parser = values::restart)]
    restart: Option<RestartPolicy>,
    /// Name the container.
    #[arg(long)]
    name: Option<String>,
    /// Connect only this stream of the container to yours: STDIN, STDOUT or STDERR (repeatable; default stdout and stderr, and stdin with -i). Output not attached still goes to the log; with neither output, the container's id is printed.
    #[arg(short, long = "attach", value_name = "STREAM", value_parser = values::std_stream)]
    attach: Vec<ctr::spec::StdStream>,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Give the container a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable (NAME=VALUE, or NAME to pass yours on).
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Read environment variables from a file of NAME=VALUE lines.
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Run as this user: name, uid, or uid:gid (from the image's /etc/passwd and /etc/group).
    #[arg(short, long)]
    user: Option<String>,
    /// Override the image's entrypoint ("" clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Mount a host path or a volume: HOST:CONTAINER[:ro], NAME:CONTAINER[:ro,nocopy] (made if missing), or CONTAINER (a new anonymous volume).
    #[arg(short, long = "volume", value_name = "HOST|NAME:CONTAINER[:ro]", value_parser = values::volume)]
    volume: Vec<UserMount>,
    /// A mount: type=bind,source=...,target=...[,readonly], type=volume[,source=NAME],target=...[,readonly][,volume-nocopy] or type=tmpfs,target=...[,tmpfs-size=...].
    #[arg(long, value_parser = values::mount)]
    mount: Vec<UserMount>,
    /// Mount the volumes and bind mounts of a container at the same places: CONTAINER[:ro|rw].
    #[arg(long, value_name = "CONTAINER[:ro|rw]")]
    volumes_from: Vec<crate::container::run::VolumesFrom>,
    /// A host device node, or a directory of them, in the container: HOST[:CONTAINER][:PERMS] (PERMS a subset of rwm, the default).
    #[arg(long, value_name = "HOST[:CONTAINER][:PERMS]", value_parser = values::device)]
    device: Vec<ctr::spec::DeviceMapping>,
    /// Refused: a rootless container cannot have device cgroup rules; give each device with --device.
    #[arg(long, value_name = "RULE")]
    device_cgroup_rule: Vec<String>,
    /// A tmpfs: PATH[:size=...].
    #[arg(long, value_parser = values::tmpfs)]
    tmpfs: Vec<UserMount>,
    /// The container's hostname (default: the first 12 digits of its id).
    #[arg(long, short = 'H')]
    hostname: Option<String>,
    /// The container's domain name (its UTS namespace's, as `domainname` shows).
    #[arg(long, value_name = "NAME")]
    domainname: Option<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    read_only: bool,
    /// Run a small init as pid 1 that reaps zombies and forwards signals.
    #[arg(long)]
    init: bool,
    /// User namespace mode (default: you as root, your subordinate ids as the other ids).
    #[arg(long, value_name = "MODE", value_parser = values::UsernsParser)]
    userns: Option<UsernsMode>,
    /// Security options: no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json (docker's format).
    #[arg(long = "security-opt", value_name = "OPT", value_parser = values::security_opt)]
    security_opt: Vec<SecurityOpt>,
    /// Every capability of the container's user namespace, no seccomp profile, no masked paths.
    #[arg(long)]
    privileged: bool,
    /// Add a capability (or ALL).
    #[arg(long, value_parser = values::cap_add)]
    cap_add: Vec<CapName>,
    /// Drop a capability (or ALL).
    #[arg(long, value_parser = values::cap_drop)]
    cap_drop: Vec<CapName>,
    /// Network: user (burrow's own NAT to the host's networks), none (loopback only), host (no isolation), container:NAME (share NAME's), or the name of a network made with `burrow network create`.
    #[arg(long, alias = "net", default_value = "user", value_parser = values::network)]
    network: NetworkMode,
    /// IPC namespace: private (its own, the default), shareable (its own, which other containers may join), none (its own, no /dev/shm), host, or container:NAME (share a shareable NAME's, its /dev/shm too).
    #[arg(long, value_name = "MODE", default_value = "private", value_parser = values::ipc)]
    ipc: ctr::spec::IpcMode,
    /// UTS namespace (the host name): private, host, or container:NAME.
    #[arg(long, value_name = "MODE", default_value = "private", value_parser = values::uts)]
    uts: ctr::spec::NsMode,
    /// pid namespace: private, or container:NAME (see NAME's processes).
    #[arg(long, value_name = "MODE", default_value = "private", value_parser = values::pid)]
    pid: ctr::spec::NsMode,
    /// cgroup namespace: private (its own, rooted at its cgroup) or host (its cgroup paths as the host shows them).
    #[arg(long, value_name = "MODE", default_value = "private", value_parser = values::cgroupns)]
    cgroupns: ctr::spec::CgroupnsMode,
    /// Another name for the container on its network (`--network NAME`).
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    network_alias: Vec<String>,
    /// The container's IPv4 address on its network (`--network NAME`).
    #[arg(long, value_name = "ADDR")]
    ip: Option<std::net::Ipv4Addr>,
    /// The container's IPv6 address on its network (`--network NAME`).
    #[arg(long, value_name = "ADDR")]
    ip6: Option<std::net::Ipv6Addr>,
    /// The MAC address of the container's interface (a unicast one, e.g. 92:d0:c6:0a:29:33); not with --network none, host or container:NAME.
    #[arg(long, value_name = "MAC", value_parser = values::mac_address)]
    mac_address: Option<[u8; 6]>,
    /// Publish a container port: [IP:]HOSTPORT:CTRPORT[/tcp|udp], ports may be ranges.
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CTR[/PROTO]", value_parser = values::publish)]
    publish: Vec<values::Publish>,
    /// Publish every exposed port (the image's and --expose's) on a random host port.
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Expose a container port or range without publishing it: PORT[-PORT][/tcp|udp].
    #[arg(long, value_name = "PORT[-PORT][/PROTO]", value_parser = values::expose)]
    expose: Vec<values::Expose>,
    /// The image's platform (OS/ARCH[/VARIANT]): only this machine's, as burrow runs no emulator.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = values::this_platform)]
    platform: Option<String>,
    /// Run in a pod (`burrow pod create`), by name or id, or in a new one: new:NAME.
    #[arg(long, value_name = "POD")]
    pod: Option<String>,
    /// A DNS server for the container (instead of burrow's forwarder).
    #[arg(long, value_name = "IP", value_parser = values::dns)]
    dns: Vec<IpAddr>,
    /// A search domain of the container's /etc/resolv.conf (instead of the host's; `.` for none).
    #[arg(long, value_name = "DOMAIN", value_parser = values::dns_search)]
    dns_search: Vec<String>,
    /// An option of the container's /etc/resolv.conf (instead of the host's): ndots:2, timeout:1, ...
    #[arg(long, alias = "dns-opt", value_name = "OPT", value_parser = values::dns_option)]
    dns_option: Vec<String>,
    /// An /etc/hosts entry: NAME:IP (host-gateway names the host).
    #[arg(long, value_name = "NAME:IP", value_parser = values::add_host)]
    add_host: Vec<(String, IpAddr)>,
    /// An annotation of the container: KEY=VALUE (repeatable), shown by inspect.
    #[arg(long, value_name = "KEY=VALUE", value_parser = values::annotation)]
    annotation: Vec<(String, String)>,
    #[command(flatten)]
    limits: super::resources::LimitFlags,
    /// Accepted as docker does and discarded with a warning: cgroup v2 has no per-cgroup swappiness (0-100; -1 unset).
    #[arg(long, value_name = "0-100", allow_hyphen_values = true, value_parser = clap::value_parser!(i64).range(-1..=100))]
    memory_swappiness: Option<i64>,
    #[command(flatten)]
    docker_only: super::docker_only::DockerOnlyFlags,
    #[command(flatten)]
    health: HealthArgs,
    /// Adjust the OOM killer's preference for the container (-1000..1000; without privileges only upwards).
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = clap::value_parser!(i32).range(-1000..=1000))]
    oom_score_adj: Option<i32>,
    /// The image to run.
    image: String,
    /// The command and its arguments (default: the image's).
    command: Vec<String>,
}

impl Create {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let spec = in_new_pod(ctx, self.spec()?)?;
        let id = run::create(ctx, &spec).map_err(not_found_is_125)?;
        println!("{id}");
        Ok(())
    }

    fn spec(self) -> Result<RunSpec> {
        // --platform was checked to be this machine's by its parser.
        let _ = &self.platform;
        if let Some(rule) = self.device_cgroup_rule.first() {
            return Err(
                ctr::ContainerError::from(ctr::run::SpecError::DeviceCgroupRule(rule.clone()))
                    .into(),
            );
        }
        self.docker_only.check().map_err(crate::Error::Usage)?;
        for w in self.docker_only.warnings() {
            eprintln!("{w}");
        }
        let mut labels = std::collections::BTreeMap::new();
        for file in &self.label_file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                crate::Error::Usage(format!("reading --label-file {}: {e}", file.display()))
            })?;
            for line in text.lines().map(str::trim) {
                if !line.is_empty() && !line.starts_with('#') {
                    let (k, v) = line.split_once('=').unwrap_or((line, ""));
                    labels.insert(k.to_string(), v.to_string());
                }
            }
        }
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let mut log = ctr::spec::LogConfig {
            driver: self.log_driver.unwrap_or_default(),
            ..Default::default()
        };
        for o in &self.log_opt {
            match *o {
                ctr::spec::LogOpt::MaxSize(n) => log.max_size = Some(n),
                ctr::spec::LogOpt::MaxFile(n) => log.max_file = Some(n),
            }
        }
        // One limit per name: the last given, as docker keeps them.
        let mut ulimits: Vec<ctr::spec::Rlimit> = Vec::new();
        for u in self.ulimit {
            ulimits.retain(|o| o.resource != u.resource);
            ulimits.push(u);
        }
        Ok(RunSpec {
            ulimits,
            shm_size: self.shm_size,
            proc_view: self.proc_view,
            sysctls: self.sysctl,
            log,
            detach_keys: self.detach_keys,
            labels,
            annotations: self.annotation.into_iter().collect(),
            stop_signal: self.stop_signal,
            stop_timeout: self.stop_timeout,
            pull: self.pull,
            cidfile: self.cidfile,
            group_add: self.group_add,
            image: self.image,
            command: self.command,
            name: self.name,
            remove: self.rm,
            interactive: self.interactive,
            tty: self.tty,
            env: self.env,
            env_files: self.env_file,
            workdir: self.workdir,
            user: self.user,
            entrypoint: self.entrypoint,
            volumes: self.volume,
            volumes_from: self.volumes_from,
            skip_image_volumes: false,
            pod: self.pod,
            infra_of: None,
            devices: self.device,
            quiet: self.quiet,
            mounts: self.mount,
            tmpfs: self.tmpfs,
            hostname: self.hostname,
            domainname: self.domainname,
            read_only: self.read_only,
            init: self.init,
            userns: self.userns.unwrap_or_default(),
            security_opt: self.security_opt,
            privileged: self.privileged,
            cap_add: self.cap_add,
            cap_drop: self.cap_drop,
            network: self.network,
            ipc: self.ipc,
            uts: self.uts,
            pid: self.pid,
            cgroupns: self.cgroupns,
            network_endpoint: crate::net::networks::EndpointSpec {
                aliases: self.network_alias,
                ipv4: self.ip,
                ipv6: self.ip6,
                mac: self.mac_address,
            },
            publish: self.publish.into_iter().flat_map(|p| p.0).collect(),
            publish_all: self.publish_all,
            expose: self.expose.into_iter().flat_map(|e| e.0).collect(),
            dns: self.dns,
            dns_search: self.dns_search,
            dns_options: self.dns_option,
            add_host: self.add_host,
            limits: self.limits.limits(),
            oom_score_adj: self.oom_score_adj,
            memory_swappiness: self.memory_swappiness.and_then(|n| u8::try_from(n).ok()),
            detach: false,
            attach: self.attach,
            no_sig_proxy: false,
            restart: self.restart.unwrap_or_default(),
            health: self.health.flags(),
        })
    }
}

/// `--health-*`: the health check, over the image's HEALTHCHECK.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HealthArgs {
    /// The health check's command, run with /bin/sh -c in the container.
    #[arg(long, value_name = "COMMAND")]
    health_cmd: Option<String>,
    /// Time between health checks (a Go duration: 30s, 1m30s).
    #[arg(long, value_name = "DURATION", value_parser = duration_ns)]
    health_interval: Option<u64>,
    /// Failures in a row that make the container unhealthy.
    #[arg(long, value_name = "N")]
    health_retries: Option<u32>,
    /// Time after the start during which failures do not count.
    #[arg(long, value_name = "DURATION", value_parser = duration_ns)]
    health_start_period: Option<u64>,
    /// Time between health checks during the start period while the container is starting (default 5s).
    #[arg(long, value_name = "DURATION", value_parser = duration_ns)]
    health_start_interval: Option<u64>,
    /// Time a health check may take before it counts as failed.
    #[arg(long, value_name = "DURATION", value_parser = duration_ns)]
    health_timeout: Option<u64>,
    /// Run no health check, whatever the image says.
    #[arg(long, conflicts_with = "health_cmd")]
    no_healthcheck: bool,
    /// What to do when the container turns unhealthy: none, kill, restart, stop.
    #[arg(long, value_name = "ACTION", default_value = "none")]
    health_on_failure: ctr::health::OnFailure,
}

impl HealthArgs {
    pub fn flags(&self) -> ctr::health::HealthFlags {
        ctr::health::HealthFlags {
            cmd: self.health_cmd.clone(),
            interval_ns: self.health_interval,
            timeout_ns: self.health_timeout,
            start_period_ns: self.health_start_period,
            start_interval_ns: self.health_start_interval,
            retries: self.health_retries,
            disabled: self.no_healthcheck,
            on_failure: self.health_on_failure,
        }
    }
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn duration_ns(s: &str) -> std::result::Result<u64, String> {
    crate::time::go_duration(s)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| format!("invalid duration {s:?}: a Go duration such as 30s, 1m30s or 500ms"))
}

#[derive(clap::Args, Debug)]
pub struct Ps {
    /// Show all containers, not only running ones.
    #[arg(short, long)]
    all: bool,
    /// Show only ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show full ids.
    #[arg(long)]
    no_trunc: bool,
    /// Show the N last created containers (of every state).
    #[arg(short = 'n', long = "last", value_name = "N")]
    last: Option<usize>,
    /// Show the latest created container (of every state).
    #[arg(short, long)]
    latest: bool,
    /// Only containers that match (KEY=VALUE): id, name, label, status, health (starting, healthy, unhealthy, none), ancestor, exited, before, since, volume (name or destination), network (name or id), publish and expose (PORT[-PORT][/PROTO]), is-task.
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<ctr::filter::Filter>,
    /// Show the size of each container's writable layer (and its image's).
    #[arg(short, long)]
    size: bool,
    /// Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
}

impl Ps {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let last = if self.latest { Some(1) } else { self.last };
        // Newest first; --last and --latest take every state, as docker's do.
        let mut filters = self.filter;
        // An ancestor is the image it names here too, by id, and every
        // image built on it (one key's values are alternatives).
        if filters
            .iter()
            .any(|f| matches!(f, ctr::filter::Filter::Ancestor(_)))
        {
            let store = ctx.store()?;
            let mut children = Vec::new();
            for f in &mut filters {
                if let ctr::filter::Filter::Ancestor(a) = f {
                    if let Ok(e) = ctx.resolve(&store, a) {
                        *a = e.record.id.hex().to_string();
                        children.extend(
                            crate::container::images::descendants(&store, &e.record.id)
                                .into_iter()
                                .map(|d| ctr::filter::Filter::Ancestor(d.hex().to_string())),
                        );
                    }
                }
            }
            filters.extend(children);
        }
        let mut list = ctr::list_filtered(ctx, self.all || last.is_some(), &filters)?;
        if let Some(n) = last {
            list.truncate(n);
        }
        for (r, s) in &list {
            if s.status == crate::container::record::Status::Unknown {
                let why = s.error.as_deref().unwrap_or_default();
                eprintln!("Warning: container {}: {why}", ctr::shown_name(r));
            }
        }
        if self.quiet {
            for (r, _) in &list {
                println!(
                    "{}",
                    if self.no_trunc {
                        &r.id[..]
                    } else {
                        &r.id[..12]
                    }
                );
            }
            return Ok(());
        }
        // --size: the writable layer's bytes, and with the image's.
        // As docker's: computed when asked, or when a template shows them.
        let want_size =
            self.size || matches!(&self.format, Format::Template(t) if t.mentions(".Size"));
        let sizes: Vec<Option<(u64, u64)>> = if want_size {
            let store = ctx.store()?;
            let records: Vec<&ctr::record::Record> = list.iter().map(|(r, _)| r).collect();
            let rw = ctr::writable_sizes(ctx, &records)?;
            list.iter()
                .zip(rw)
                .map(|((r, _), rw)| {
                    let image = store.image(&r.image_id).map(|i| i.size).unwrap_or(0);
                    Some((rw, rw + image))
                })
                .collect()
        } else {
            vec![None; list.len()]
        };
        let items: Vec<_> = list
            .iter()
            .zip(&sizes)
            .map(|((r, s), size)| {
                let mut row = ps_row(r, s, self.no_trunc);
                if let Some((rw, root)) = size {
                    row["Size"] = format!(
                        "{} (virtual {})",
                        super::format::human_size(*rw),
                        super::format::human_size(*root)
                    )
                    .into();
                }
                row
            })
            .collect();
        match &self.format {
            // docker's `json` is `{{json .}}` over the same fields.
            Format::Json => {
                super::format::print_json_lines(&items);
                return Ok(());
            }
            Format::Template(t) => return t.print(&items, PS_HEADERS),
            Format::Table => {}
        }
        let mut columns = vec![
            "ID",
            "Image",
            "Command",
            "RunningFor",
            "Status",
            "Ports",
            "Names",
        ];
        if self.size {
            columns.push("Size");
        }
        let mut rows = vec![columns
            .iter()
            .map(|c| header_of(PS_HEADERS, c))
            .collect::<Vec<_>>()];
        for item in &items {
            rows.push(
                columns
                    .iter()
                    .map(|c| item[c].as_str().unwrap_or_default().to_string())
                    .collect(),
            );
        }
        super::format::print_table(&rows);
        Ok(())
    }
}

/// `ps`'s fields, as docker names them, and their column titles.
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

pub(super) fn header_of(headers: &[(&str, &str)], field: &str) -> String {
    headers
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(field, |(_, h)| h)
        .to_string()
}

/// One `ps` line as docker's template fields: the strings its table shows.
pub(super) fn ps_row(
    r: &ctr::record::Record,
    s: &ctr::record::State,
    no_trunc: bool,
) -> serde_json::Value {
    let id = if no_trunc { &r.id[..] } else { &r.id[..12] };
    let mut command = ctr::command_line(r);
    if !no_trunc && command.chars().count() > 20 {
        command = command.chars().take(19).collect::<String>() + "…";
    }
    let running = s.status == crate::container::record::Status::Running;
    let state = if running && crate::container::resources::paused(s) {
        serde_json::Value::from("paused")
    } else {
        serde_json::to_value(s.status).unwrap_or_default()
    };
    // Ports are shown while they are published, as docker does.
    let ports = if running {
        crate::container::network::published(r)
            .iter()
            .map(|p| p.short())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        String::new()
    };
    let config = serde_json::to_value(&r.config).unwrap_or_default();
    let labels = config
        .get("Labels")
        .and_then(|l| l.as_object())
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    // docker's names for the predefined networks: bridge for the default
    // (burrow's user mode), host, none; a user network by its name.
    let network = match crate::net::networks::Predefined::of_mode(&r.config.network_mode) {
        Some(p) => p.name().to_string(),
        None => r.config.network_mode.to_string(),
    };
    // Bind sources (cut to 15 characters as docker's are), then volumes.
    let mounts = r
        .config
        .mounts
        .iter()
        .filter_map(|m| match m {
            crate::container::spec::UserMount::Bind { source, .. } => {
                Some(source.display().to_string())
            }
            // A volume by its name, as docker shows it.
            crate::container::spec::UserMount::Volume { name, .. } => Some(name.clone()),
            _ => None,
        })
        .map(|m| {
            if no_trunc || m.chars().count() <= 15 {
                m
            } else {
                m.chars().take(14).collect::<String>() + "…"
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    serde_json::json!({
        "ID": id,
        "Image": r.image,
        // Quoted as Go's strconv.Quote does it (JSON's escapes, for what
        // a command line holds).
        "Command": serde_json::Value::from(command).to_string(),
        "CreatedAt": crate::time::docker_date(&r.created),
        "RunningFor": crate::time::ago(&r.created, crate::image::store::now()),
        "Ports": ports,
        "State": state,
        "Status": ctr::status_text(s),
        "HealthStatus": s.health.as_ref().map(|h| h.status.to_string()).unwrap_or_default(),
        // docker's until the sizes are asked for: none counted.
        "Size": super::format::human_size(0),
        "Names": r.name,
        "Labels": labels,
        "Mounts": mounts,
        "Networks": network,
        "LocalVolumes": r
            .config
            .mounts
            .iter()
            .filter(|m| matches!(m, crate::container::spec::UserMount::Volume { .. }))
            .count()
            .to_string(),
    })
}

#[derive(clap::Args, Debug)]
pub struct Port {
    /// The container, by name or id.
    container: String,
    /// Only this container port: PORT[/PROTO].
    port: Option<String>,
}

impl Port {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let ports = crate::container::network::published_of(ctx, &self.container)?;
        let wanted = self.port.as_deref().map(|p| match p.split_once('/') {
            Some((n, proto)) => (n.to_string(), proto.to_string()),
            None => (p.to_string(), "tcp".to_string()),
        });
        for p in ports {
            match &wanted {
                Some((n, proto)) => {
                    if *n == p.container_port.to_string() && *proto == p.proto.to_string() {
                        println!("{}", p.to_string().split(" -> ").nth(1).unwrap_or_default());
                    }
                }
                None => println!("{p}"),
            }
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Rm {
    /// Stop (SIGKILL) a running container first.
    #[arg(short, long)]
    force: bool,
    /// Remove every container (running ones only with -f), but a pod's
    /// infra container, which goes with its pod (`pod rm`).
    #[arg(short, long)]
    all: bool,
    /// Remove the container's anonymous volumes too.
    #[arg(short, long)]
    volumes: bool,
    containers: Vec<String>,
}

impl Rm {
    /// Removes every container it can, as docker does: each failure is an
    /// `Error:` line on stderr and the status is 1, except that with `-f` a
    /// missing container is only reported.
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        if self.all != self.containers.is_empty() {
            return Err(crate::Error::Usage(
                "give the containers to remove, or --all".into(),
            ));
        }
        let names = if self.all {
            // A pod's infra container goes with its pod (`pod rm`).
            let infra = ctr::infra_ids(ctx)?;
            ctr::list(ctx, true)?
                .into_iter()
                .map(|(r, _)| r.id)
                .filter(|id| !infra.contains(id))
                .collect()
        } else {
            self.containers
        };
        let mut code = 0;
        for c in &names {
            match ctr::remove(ctx, c, self.force, self.volumes) {
                // What was typed (a name or an id prefix), as docker echoes
                // it; with --all, each container's id.
                Ok(_) => println!("{c}"),
                Err(crate::Error::Container(ctr::ContainerError::Record(
                    ctr::record::RecordError::NotFound(_),
                ))) => {
                    eprintln!("Error: No such container: {c}");
                    if !self.force {
                        code = 1;
                    }
                }
                Err(e) => {
                    eprintln!("Error: {e}");
                    code = 1;
                }
            }
        }
        Ok(code)
    }
}

/// What `inspect` looks at.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InspectType {
    Container,
    Image,
}

#[derive(clap::Args, Debug)]
pub struct Inspect {
    /// Output format: json, or a Go template run on each object (`{{.State.Status}}`, `{{json .Config}}`).
    #[arg(short, long, default_value = "json", value_parser = Format::parse)]
    format: Format,
    /// Only look for this kind of object.
    #[arg(long = "type", value_enum)]
    kind: Option<InspectType>,
    /// Containers or images, by name or id.
    #[arg(required = true)]
    names: Vec<String>,
}

impl Inspect {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        inspect(ctx, &self.names, self.kind, &self.format)
    }
}

/// `container inspect`: containers only.
#[derive(clap::Args, Debug)]
pub struct InspectContainers {
    /// Output format: json, or a Go template (`{{.State.Status}}`).
    #[arg(short, long, default_value = "json", value_parser = Format::parse)]
    format: Format,
    /// Containers, by name or id.
    #[arg(required = true)]
    names: Vec<String>,
}

impl InspectContainers {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        inspect(ctx, &self.names, Some(InspectType::Container), &self.format)
    }
}

/// Prints what was found as one JSON array; each name not found is an
/// `Error: No such ...` line and the status 1, as docker's.
pub fn inspect(
    ctx: &Context,
    names: &[String],
    kind: Option<InspectType>,
    format: &Format,
) -> Result<i32> {
    super::format::inspect_each(names, format, |n| match kind {
        Some(InspectType::Container) => ctr::inspect_json(ctx, n),
        Some(InspectType::Image) => image_json(ctx, n),
        // A container first, as docker looks.
        None => match ctr::inspect_json(ctx, n) {
            Err(e) if e.exit_code() == 1 => image_json(ctx, n).map_err(|e| {
                if e.exit_code() == 1 {
                    crate::Error::Conflict(format!("No such object: {n}"))
                } else {
                    e
                }
            }),
            other => other,
        },
    })
}

fn image_json(ctx: &Context, name: &str) -> Result<serde_json::Value> {
    let mut v = crate::container::images::inspect(ctx, std::slice::from_ref(&name.to_string()))?;
    Ok(v.pop().unwrap_or_default())
}
