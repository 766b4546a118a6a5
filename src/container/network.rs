//! The network of one container, from the run's flags to running stacks:
//! which namespace it gets, its /etc/hosts and /etc/resolv.conf, the host
//! ports bound before it starts, and, once it runs, burrow's userspace stack
//! and port forwarder on their own threads. Used by the foreground `run` and
//! meant for the detached supervisor: `plan` -> `etc_files` -> `apply` ->
//! `bind` (before spawn) -> `start` (after spawn) -> `Network::stop`.
//! Published TCP ports and TCP connections to the host's loopback are
//! served directly where they can be: `apply` asks the sandbox for its
//! socket notifier, whose listener goes to the forwarder (see
//! `net::direct`), which then runs even with no published port.

use super::record::{Containers, Status};
use super::run::RunSpec;
use crate::net::{
    self, NetError, NetworkMode, PortForwarder, PortReservation, PublishedPort, UserNetConfig,
    UserNetwork,
};
use crate::sandbox::spec::{EtcFiles, JoinNamespaces, NetSetup, SandboxSpec};
use crate::sandbox::userns::IdMap;
use crate::{Error, Result};
use rustix::fd::{AsFd, OwnedFd};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// What the flags asked for, checked.
#[derive(Debug, Clone)]
pub struct NetworkPlan {
    pub mode: NetworkMode,
    pub ports: Vec<PublishedPort>,
    pub dns: Vec<IpAddr>,
    pub add_hosts: Vec<(String, IpAddr)>,
    /// For `container:NAME`: its namespaces, its id map, its directory
    /// (whose /etc/hosts and /etc/resolv.conf are shared too).
    pub join: Option<(JoinNamespaces, IdMap, std::path::PathBuf)>,
    pub host_loopback: bool,
    /// `network.direct_ports` of the configuration.
    pub direct_ports: bool,
    /// `network.direct_host` of the configuration.
    pub direct_host: bool,
}

fn net_err(e: NetError) -> Error {
    Error::Usage(e.to_string())
}

/// The flags as given: `--network`, `-p`, `-P` (with the image's exposed
/// ports), `--dns`, `--add-host`, with the `[network]` configuration.
pub fn plan(
    containers: &Containers,
    spec: &RunSpec,
    exposed: Option<&BTreeMap<String, serde_json::Value>>,
    config: &crate::config::NetworkConfig,
) -> Result<NetworkPlan> {
    let (network, publish, publish_all, dns, add_host) = (
        spec.network.as_str(),
        &spec.publish,
        spec.publish_all,
        &spec.dns,
        &spec.add_host,
    );
    let mode: NetworkMode = network.parse().map_err(net_err)?;
    let mut ports = Vec::new();
    for p in publish {
        ports.extend(net::parse_publish(p).map_err(net_err)?);
    }
    if publish_all {
        for key in exposed
            .map(|e| e.keys().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            // "80/tcp": a random free host port, as docker does.
            for mut p in net::parse_publish(key).map_err(net_err)? {
                p.host_port = 0;
                ports.push(p);
            }
        }
    }
    if !ports.is_empty() && mode != NetworkMode::User {
        return Err(Error::Usage(format!(
            "published ports need --network user (this container has --network {network})"
        )));
    }
    let dns = dns
        .iter()
        .map(|d| d.parse().map_err(|_| net_err(NetError::Dns(d.clone()))))
        .collect::<Result<Vec<IpAddr>>>()?;
    let add_hosts = add_host
        .iter()
        .map(|h| net::parse_add_host(h).map_err(net_err))
        .collect::<Result<Vec<_>>>()?;
    let join = match &mode {
        NetworkMode::Container(name) => Some(joinable(containers, name)?),
        _ => None,
    };
    Ok(NetworkPlan {
        mode,
        ports,
        dns,
        add_hosts,
        join,
        host_loopback: config.host_loopback,
        direct_ports: config.direct_ports,
        direct_host: config.direct_host,
    })
}

impl NetworkPlan {
    /// Whether the container's TCP servers get their published host ports
    /// directly. Only where the container may reach the host's loopback
    /// anyway: a socket of the host's network can connect out from it.
    pub fn direct(&self) -> bool {
        self.mode == NetworkMode::User
            && self.direct_ports
            && self.host_loopback
            && self.ports.iter().any(|p| p.proto == net::PortProto::Tcp)
    }

    /// Whether the container's TCP connections to the gateway are made
    /// with sockets of the host's, connected to its loopback: only where
    /// the gateway is the host's loopback anyway.
    pub fn direct_host(&self) -> bool {
        self.mode == NetworkMode::User && self.direct_host && self.host_loopback
    }
}

/// The namespaces of a running container, by name or id.
fn joinable(
    containers: &Containers,
    name: &str,
) -> Result<(JoinNamespaces, IdMap, std::path::PathBuf)> {
    let (r, s) = containers
        .find(name)
        .map_err(|e| Error::Usage(format!("--network container:{name}: {e}")))?;
    let pid = match (s.status, s.pid, s.pid_start) {
        (Status::Running, Some(pid), Some(start))
            if super::record::process_start_time(pid) == Some(start) =>
        {
            pid
        }
        _ => {
            return Err(Error::Usage(format!(
                "--network container:{name}: container {} is not running",
                r.name
            )))
        }
    };
    let map: IdMap = serde_json::from_value(r.id_map.clone())
        .map_err(|e| Error::Usage(format!("--network container:{name}: its id map: {e}")))?;
    Ok((
        JoinNamespaces {
            user: format!("/proc/{pid}/ns/user").into(),
            net: format!("/proc/{pid}/ns/net").into(),
        },
        map,
        etc_dir_of(&containers.dir_of(&r.id)),
    ))
}

/// Where a container's /etc/hosts and /etc/resolv.conf live: beside its
/// record, or (a foreground --rm container's) under the runtime dir, as
/// its plan says.
fn etc_dir_of(dir: &Path) -> std::path::PathBuf {
    super::supervise::Plan::load(dir)
        .ok()
        .and_then(|p| p.sandbox.etc.hosts)
        .and_then(|h| h.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf())
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf for the container, in
/// its directory.
pub fn etc_files(dir: &Path, hostname: &str, plan: &NetworkPlan) -> std::io::Result<EtcFiles> {
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (own, gateway, resolv) = match plan.mode {
        NetworkMode::User => (
            Some(IpAddr::V4(net::GUEST_V4)),
            Some(net::dns::default_gateway()),
            net::dns::container_resolv_conf(&plan.dns, &host_resolv),
        ),
        // The host's own resolvers work from the host's network.
        NetworkMode::Host | NetworkMode::Container(_) if plan.dns.is_empty() => {
            (None, None, host_resolv.clone())
        }
        NetworkMode::Host | NetworkMode::Container(_) => (
            None,
            None,
            net::dns::container_resolv_conf(&plan.dns, &host_resolv)
                .replace(&format!("nameserver {}\n", net::RESOLVER_V4), ""),
        ),
        NetworkMode::None => (
            None,
            None,
            "# burrow: this container has no network\n".into(),
        ),
    };
    let hostname_file = dir.join("hostname");
    std::fs::write(&hostname_file, format!("{hostname}\n"))?;
    let mut hosts_text = net::dns::container_hosts(hostname, own, gateway, &plan.add_hosts);
    let mut resolv = resolv;
    // Sharing a network shares its names: the other container's files,
    // with this one's --add-host entries after them.
    if let Some((_, _, other)) = &plan.join {
        if let Ok(h) = std::fs::read_to_string(other.join("hosts")) {
            hosts_text = h;
            for (name, ip) in &plan.add_hosts {
                hosts_text.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        if plan.dns.is_empty() {
            if let Ok(r) = std::fs::read_to_string(other.join("resolv.conf")) {
                resolv = r;
            }
        }
    }
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, hosts_text)?;
    let resolv_conf = dir.join("resolv.conf");
    std::fs::write(&resolv_conf, resolv)?;
    Ok(EtcFiles {
        hostname: Some(hostname_file),
        hosts: Some(hosts),
        resolv_conf: Some(resolv_conf),
    })
}

/// Sets the sandbox's network fields for the plan.
pub fn apply(plan: &NetworkPlan, sandbox: &mut SandboxSpec) {
    match &plan.mode {
        NetworkMode::None => sandbox.namespaces.net = true,
        NetworkMode::Host => {
            eprintln!("Note: --network host: the container uses the host's network; it is not isolated from it");
            sandbox.namespaces.net = false;
        }
        NetworkMode::Container(_) => {
            sandbox.namespaces.net = false;
            if let Some((join, map, _)) = &plan.join {
                sandbox.join = Some(join.clone());
                sandbox.id_map = map.clone();
            }
        }
        NetworkMode::User => user_mode(sandbox, plan.direct(), plan.direct_host()),
    }
}

/// `--network user`: a network namespace with the tap made inside, and
/// the socket notifier for the direct paths asked for.
fn user_mode(sandbox: &mut SandboxSpec, direct_ports: bool, direct_host: bool) {
    sandbox.namespaces.net = true;
    sandbox.net_setup = Some(NetSetup(net::tap::setup_inside));
    sandbox.bind_notify = direct_ports;
    sandbox.connect_notify = direct_host;
}

/// Host ports bound before the container starts, and held for it among
/// the containers of this user (`PortReservation`, in `dir`).
pub struct BoundPorts {
    sockets: Vec<(PublishedPort, OwnedFd)>,
    reserved: PortReservation,
    dir: std::path::PathBuf,
}

impl BoundPorts {
    /// The ports as bound (a `-P` port's host number filled in).
    pub fn ports(&self) -> Vec<PublishedPort> {
        self.sockets.iter().map(|(p, _)| p.clone()).collect()
    }
}

/// Holds (in `dir`, see `PortReservation`) and binds the plan's host
/// ports, so that a port in use fails the run before anything starts.
pub fn bind(plan: &NetworkPlan, dir: &std::path::Path) -> Result<BoundPorts> {
    // Held before bound: a port another container's server is taking
    // over is free in the kernel for a moment.
    let mut reserved = PortReservation::take(dir, &plan.ports).map_err(net_err)?;
    let mut bound = PortForwarder::bind(&plan.ports).map_err(net_err)?;
    let mut picked = Vec::new();
    for (p, fd) in &mut bound {
        if p.host_port == 0 {
            if let Ok(a) = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(
                rustix::fd::AsRawFd::as_raw_fd(fd),
            ) {
                p.host_port = a
                    .as_sockaddr_in()
                    .map(|s| s.port())
                    .or(a.as_sockaddr_in6().map(|s| s.port()))
                    .unwrap_or(0);
                picked.push(p.clone());
            }
        }
    }
    reserved.extend(PortReservation::take(dir, &picked).map_err(net_err)?);
    Ok(BoundPorts {
        sockets: bound,
        reserved,
        dir: dir.to_path_buf(),
    })
}

/// The running network of one container; `stop` ends it.
pub struct Network {
    stop: Option<OwnedFd>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _reserved: PortReservation,
}

/// Starts the stack on the tap (in `user` mode) and the port forwarder,
/// with the sandbox's socket notifier if `apply` asked for one. Call right
/// after spawn, while this process is still single-threaded: the
/// forwarder's helper is forked here, and threads start last.
pub fn start(
    plan: &NetworkPlan,
    tap: Option<OwnedFd>,
    ports: BoundPorts,
    pid: i32,
    socket_notify: Option<OwnedFd>,
) -> Result<Network> {
    // The notifier's listener needs a reader even with no port published.
    let BoundPorts {
        sockets, reserved, ..
    } = ports;
    let forwarder = if sockets.is_empty() && socket_notify.is_none() {
        None
    } else {
        let bound = sockets.into_iter().map(|(p, fd)| (p, Some(fd))).collect();
        Some(PortForwarder::attach(bound, pid, socket_notify).map_err(net_err)?)
    };
    // One fd per connection and flow on both sides: the soft limit of
    // 1024 is too few for a busy container, the hard limit is ours to take.
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let (stop_r, stop_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::Usage(format!("pipe: {e}")))?;
    let mut threads = Vec::new();
    // The threads take no signals: the supervisor's main thread waits for
    // them on a signalfd (and forwards them), and a signal landing on a
    // thread that does not block it would end the whole process instead.
    let mut old = nix::sys::signal::SigSet::empty();
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&nix::sys::signal::SigSet::all()),
        Some(&mut old),
    );
    struct Restore(nix::sys::signal::SigSet);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&self.0),
                None,
            );
        }
    }
    let _restore = Restore(old);
    if let (NetworkMode::User, Some(tap)) = (&plan.mode, tap) {
        let config = UserNetConfig {
            host_loopback: plan.host_loopback,
            dns_upstreams: net::dns::host_upstreams(),
        };
        let stop = stop_r
            .try_clone()
            .map_err(|e| Error::Usage(format!("dup: {e}")))?;
        let mut stack = UserNetwork::new(tap, config);
        threads.push(std::thread::spawn(move || {
            let _ = stack.run_until(stop.as_fd());
        }));
    }
    if let Some(mut f) = forwarder {
        let stop = stop_r
            .try_clone()
            .map_err(|e| Error::Usage(format!("dup: {e}")))?;
        threads.push(std::thread::spawn(move || f.run_until(stop.as_fd())));
    }
    Ok(Network {
        stop: Some(stop_w),
        threads,
        _reserved: reserved,
    })
}

impl Network {
    /// Ends the stack and the forwarder and waits for them.
    pub fn stop(mut self) {
        self.stop.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop.take();
    }
}

/// The ports a container record says were published.
pub fn published(r: &super::record::Record) -> Vec<PublishedPort> {
    r.config
        .get("Ports")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
        .unwrap_or_default()
}

/// `burrow port CTR`: the published ports of a container by name or id.
pub fn published_of(ctx: &super::images::Context, name: &str) -> Result<Vec<PublishedPort>> {
    let store = ctx.store()?;
    let containers = Containers::open(store.root())?;
    let (r, _) = containers.find(name)?;
    Ok(published(&r))
}

/// `inspect`'s NetworkSettings, in docker's shape.
pub fn inspect_json(r: &super::record::Record) -> serde_json::Value {
    let mut ports = serde_json::Map::new();
    for p in published(r) {
        let entry = ports
            .entry(format!("{}/{}", p.container_port, p.proto))
            .or_insert_with(|| serde_json::json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(serde_json::json!({
                "HostIp": p.host_ip.map_or("0.0.0.0".to_string(), |ip| ip.to_string()),
                "HostPort": p.host_port.to_string(),
            }));
        }
    }
    let mode = r
        .config
        .get("NetworkMode")
        .and_then(|m| m.as_str())
        .unwrap_or("user");
    let user = matches!(mode.parse::<NetworkMode>(), Ok(NetworkMode::User));
    serde_json::json!({
        "NetworkMode": mode,
        "Ports": ports,
        "IPAddress": if user { net::GUEST_V4.to_string() } else { String::new() },
        "Gateway": if user { net::GATEWAY_V4.to_string() } else { String::new() },
        "GlobalIPv6Address": if user { net::GUEST_V6.to_string() } else { String::new() },
        "IPv6Gateway": if user { net::GATEWAY_V6.to_string() } else { String::new() },
    })
}

/// What the detached supervisor needs to bring the network back up for
/// each start of the container: plain data, saved in its plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SupervisedNetwork {
    /// `--network user`: a tap and burrow's stack.
    pub user: bool,
    pub host_loopback: bool,
    pub ports: Vec<PublishedPort>,
    /// Published TCP ports served directly (`NetworkPlan::direct`).
    #[serde(default)]
    pub direct: bool,
    /// Connections to the host's loopback made directly
    /// (`NetworkPlan::direct_host`).
    #[serde(default)]
    pub direct_host: bool,
    /// Where the host ports are held (`PortReservation`); none in plans
    /// saved before it was.
    #[serde(default)]
    pub ports_dir: Option<std::path::PathBuf>,
}

impl NetworkPlan {
    /// The part of the plan a detached supervisor carries out.
    pub fn supervised(&self, bound: &BoundPorts) -> SupervisedNetwork {
        SupervisedNetwork {
            user: self.mode == NetworkMode::User,
            host_loopback: self.host_loopback,
            ports: bound.ports(),
            direct: self.direct(),
            direct_host: self.direct_host(),
            ports_dir: Some(bound.dir.clone()),
        }
    }
}

/// The network as an event source of the detached supervisor's loop: the
/// stack on the tap and the published ports, both driven without threads.
pub struct SupervisedStack {
    config: SupervisedNetwork,
    /// The host ports bound before the first start; from then on the
    /// forwarder holds them, and hands them to the next one on a restart
    /// (binding again those the container's servers held).
    bound: Vec<(PublishedPort, Option<OwnedFd>)>,
    /// The socket notifier's listener of the latest start, until `started`.
    socket_notify: Option<OwnedFd>,
    /// The host ports held for the container until it ends for good.
    reserved: PortReservation,
    stack: Option<UserNetwork>,
    forwarder: Option<PortForwarder>,
    /// The fds to watch, refreshed after every round of work.
    watched: Vec<(std::os::fd::RawFd, i16)>,
    deadline: Option<std::time::Instant>,
}

impl SupervisedStack {
    /// Binds the published ports now, so that a port in use fails the
    /// start with a message.
    pub fn new(config: SupervisedNetwork) -> std::result::Result<SupervisedStack, String> {
        let reserved = match &config.ports_dir {
            Some(dir) => PortReservation::take(dir, &config.ports).map_err(|e| e.to_string())?,
            None => PortReservation::default(),
        };
        let bound = PortForwarder::bind(&config.ports)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(p, fd)| (p, Some(fd)))
            .collect();
        Ok(SupervisedStack {
            config,
            bound,
            socket_notify: None,
            reserved,
            stack: None,
            forwarder: None,
            watched: Vec::new(),
            deadline: None,
        })
    }

    /// The sandbox's network set-up for this plan (the plan's saved spec
    /// cannot carry the function).
    pub fn prepare(config: &SupervisedNetwork, sandbox: &mut SandboxSpec) {
        if config.user {
            user_mode(sandbox, config.direct, config.direct_host);
        }
    }

    /// The container (re)started with pid 1 `pid` and, in `user` mode, its
    /// tap. The supervisor is single-threaded: the port helper forks here.
    pub fn started(&mut self, pid: i32, tap: Option<OwnedFd>) -> std::result::Result<(), String> {
        self.stack = None;
        let mut bound = match self.forwarder.take() {
            Some(f) => f.into_bound(),
            None => std::mem::take(&mut self.bound),
        };
        // A forwarder that could not start lost its sockets: bound anew.
        if bound.is_empty() {
            bound = self
                .config
                .ports
                .iter()
                .map(|p| (p.clone(), None))
                .collect();
        }
        let socket_notify = self.socket_notify.take();
        if let (true, Some(tap)) = (self.config.user, tap) {
            self.stack = Some(UserNetwork::new(
                tap,
                UserNetConfig {
                    host_loopback: self.config.host_loopback,
                    dns_upstreams: net::dns::host_upstreams(),
                },
            ));
        }
        // The notifier's listener needs a reader even with no port.
        if !bound.is_empty() || socket_notify.is_some() {
            self.forwarder =
                Some(PortForwarder::attach(bound, pid, socket_notify).map_err(|e| e.to_string())?);
        }
        self.refresh();
        Ok(())
    }

    /// Does what is ready, then notes what to watch next.
    pub fn work(&mut self) {
        if let Some(s) = &mut self.stack {
            s.poll_once();
        }
        if let Some(f) = &mut self.forwarder {
            f.poll_once();
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        self.watched.clear();
        let mut deadline = None;
        if let Some(s) = &mut self.stack {
            let (fds, timeout) = s.poll_fds();
            self.watched.extend(fds);
            deadline = timeout.map(|t| std::time::Instant::now() + t);
        }
        if let Some(f) = &self.forwarder {
            self.watched.extend(f.poll_fds());
            let sweep = std::time::Instant::now() + std::time::Duration::from_secs(5);
            deadline = Some(deadline.map_or(sweep, |d: std::time::Instant| d.min(sweep)));
        }
        self.deadline = deadline;
    }

    /// The fds to watch now, with poll events.
    pub fn watched(&self) -> &[(std::os::fd::RawFd, i16)] {
        &self.watched
    }

    /// The latest the loop may sleep before calling `work`.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline
    }
}

impl super::supervise::Extension for SupervisedStack {
    fn fds(&self) -> Vec<(rustix::fd::BorrowedFd<'_>, nix::poll::PollFlags, u32)> {
        self.watched
            .iter()
            .map(|&(fd, events)| {
                // SAFETY: every fd listed is owned by the stack or the
                // forwarder, which live as long as `self`.
                let fd = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
                (fd, nix::poll::PollFlags::from_bits_truncate(events), 0)
            })
            .collect()
    }

    fn ready(&mut self, _token: u32, _revents: nix::poll::PollFlags) {
        self.work();
    }

    fn next_deadline(&self) -> Option<std::time::Instant> {
        self.deadline()
    }

    fn tick(&mut self) {
        self.work();
    }

    fn prepare(&self, spec: &mut SandboxSpec) {
        SupervisedStack::prepare(&self.config, spec);
    }

    fn release(&mut self) {
        self.forwarder = None;
        self.bound.clear();
        self.reserved = PortReservation::default();
        self.refresh();
    }

    fn take_socket_notify(&mut self, fd: &mut Option<OwnedFd>) {
        self.socket_notify = fd.take();
    }

    fn take_net(&mut self, pid: i32, net: &mut Option<OwnedFd>) {
        if let Err(e) = self.started(pid, net.take()) {
            eprintln!("burrow: the container's network: {e}");
        }
    }
}
