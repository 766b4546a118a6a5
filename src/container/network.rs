//! The network of one container, from the run's flags to running stacks:
//! which namespace it gets, its /etc/hosts and /etc/resolv.conf, the host
//! ports bound before it starts: `plan` -> `etc_files` -> `apply` -> `bind`
//! (before the record is made). Once it runs, the supervisor drives the
//! rest (`supervisor::SupervisedNetwork`): burrow's userspace stack on the
//! tap, the published ports, and the socket notifier through which TCP
//! servers on published ports and TCP connections to the host's loopback
//! are served directly (see `net::direct`).

use super::record::{Containers, Status};
use crate::container::error::{Error, Result};
use crate::net::{self, NetworkMode, PortForwarder, PortReservation, PublishedPort};
use crate::sandbox::spec::{EtcFiles, JoinNamespaces, SandboxSpec};
use crate::sandbox::userns::IdMap;
use rustix::fd::OwnedFd;
use std::net::IpAddr;
use std::path::Path;

/// What the flags asked for, checked.
#[derive(Debug, Clone)]
pub struct NetworkPlan {
    pub mode: NetworkMode,
    pub ports: Vec<PublishedPort>,
    pub dns: Vec<IpAddr>,
    /// `--dns-search`, `--dns-option`: over the resolv.conf's own.
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub add_hosts: Vec<(String, IpAddr)>,
    /// For `container:NAME`: its namespaces, its id map, its directory
    /// (whose /etc/hosts and /etc/resolv.conf are shared too).
    pub join: Option<(JoinNamespaces, IdMap, std::path::PathBuf)>,
    /// For `container:NAME`: that container's id.
    pub joined: Option<String>,
    pub host_loopback: bool,
    /// `network.direct_ports` of the configuration.
    pub direct_ports: bool,
    /// `network.direct_host` of the configuration.
    pub direct_host: bool,
    /// For a user-defined network: the network as it was found, what the
    /// container asks of it, and (once `attach`ed) where its record lives
    /// and the container's id.
    pub named: Option<NamedNetwork>,
    /// `--mac-address` on burrow's own network: its tap's.
    pub tap_mac: Option<[u8; 6]>,
}

/// `--network NAME` with `--network-alias`, `--ip`, `--ip6`.
#[derive(Debug, Clone)]
pub struct NamedNetwork {
    pub network: net::networks::Network,
    pub endpoint: net::networks::EndpointSpec,
    /// The storage root and the container's id, once attached.
    pub attached: Option<(std::path::PathBuf, String)>,
}

/// `run`'s network flags, as parsed.
pub struct Flags<'a> {
    /// `--network`.
    pub network: &'a NetworkMode,
    /// `-p`, ranges expanded.
    pub publish: &'a [PublishedPort],
    /// `-P`.
    pub publish_all: bool,
    /// `--dns`.
    pub dns: &'a [IpAddr],
    /// `--dns-search`.
    pub dns_search: &'a [String],
    /// `--dns-option`.
    pub dns_options: &'a [String],
    /// `--add-host`.
    pub add_host: &'a [(String, IpAddr)],
    /// `--network-alias`, `--ip`, `--ip6` (for a user-defined network),
    /// `--mac-address` (for it, or for burrow's own network's tap).
    pub endpoint: &'a net::networks::EndpointSpec,
    /// The storage root, whose `networks/` holds the user's networks.
    pub storage: &'a Path,
}

/// The flags as given: `--network`, `-p`, `-P` (with the exposed ports:
/// the image's and `--expose`'s), `--dns`, `--add-host`, with the
/// `[network]` configuration.
pub fn plan(
    containers: &Containers,
    flags: &Flags<'_>,
    exposed: &std::collections::BTreeSet<net::ExposedPort>,
    config: &crate::config::NetworkConfig,
) -> Result<NetworkPlan> {
    let (network, publish, publish_all, dns, add_host) = (
        flags.network,
        flags.publish,
        flags.publish_all,
        flags.dns,
        flags.add_host,
    );
    let mode = network.clone();
    let mut ports = publish.to_vec();
    if publish_all {
        // Each exposed port that -p did not publish: a random free host
        // port, as docker does.
        for e in exposed {
            if !publish.iter().any(|p| p.exposed() == *e) {
                ports.push(PublishedPort {
                    host_ip: None,
                    host_port: 0,
                    container_port: e.port,
                    proto: e.proto,
                });
            }
        }
    }
    let named = match &mode {
        NetworkMode::Named(name) => {
            let network = net::networks::Networks::open(flags.storage)
                .find(name)
                .map_err(|e| Error::Usage(e.to_string()))?;
            Some(NamedNetwork {
                network,
                endpoint: flags.endpoint.clone(),
                attached: None,
            })
        }
        _ => {
            // docker's words; the interface is another's, or there is none.
            if flags.endpoint.mac.is_some() && mode != NetworkMode::User {
                return Err(Error::Usage(format!(
                    "conflicting options: mac-address and the network mode (--network {network} gives the container no interface of its own)"
                )));
            }
            let asked = net::networks::EndpointSpec {
                mac: None,
                ..flags.endpoint.clone()
            };
            if asked != net::networks::EndpointSpec::default() {
                return Err(Error::Usage(format!(
                    "--network-alias, --ip and --ip6 need a network made with `burrow network create` (this container has --network {network})"
                )));
            }
            None
        }
    };
    let uplink = match &named {
        Some(n) => !n.network.internal,
        None => mode == NetworkMode::User,
    };
    if !ports.is_empty() && !uplink {
        return Err(Error::Usage(format!(
            "published ports need --network user or a network that is not --internal (this container has --network {network})"
        )));
    }
    let dns = dns.to_vec();
    let add_hosts = add_host.to_vec();
    let join = match &mode {
        NetworkMode::Container(name) => Some(joinable(containers, "--network", name, true)?),
        _ => None,
    };
    let joined = match &mode {
        NetworkMode::Container(name) => Some(containers.find(name)?.0.id),
        _ => None,
    };
    Ok(NetworkPlan {
        mode,
        ports,
        dns,
        dns_search: flags.dns_search.to_vec(),
        dns_options: flags.dns_options.to_vec(),
        add_hosts,
        join,
        joined,
        host_loopback: config.host_loopback,
        direct_ports: config.direct_ports,
        direct_host: config.direct_host,
        tap_mac: if named.is_none() {
            flags.endpoint.mac
        } else {
            None
        },
        named,
    })
}

/// Puts the container on its user-defined network (an address, its names
/// in every member's /etc/hosts): after its record exists, before its
/// /etc files are written. `hosts` is where its /etc/hosts will be.
pub fn attach(
    plan: &mut NetworkPlan,
    storage: &Path,
    containers: &Containers,
    id: &str,
    name: &str,
    hosts: &Path,
) -> Result<()> {
    let Some(named) = &mut plan.named else {
        return Ok(());
    };
    let exists = |cid: &str| containers.find(cid).is_ok();
    let (network, _) = net::networks::Networks::open(storage)
        .attach(
            &named.network.id,
            id,
            name,
            &named.endpoint,
            Some(hosts),
            &exists,
        )
        .map_err(|e| Error::Usage(e.to_string()))?;
    named.network = network;
    named.attached = Some((storage.to_path_buf(), id.to_string()));
    Ok(())
}

impl NetworkPlan {
    /// Whether the container's TCP servers get their published host ports
    /// directly. Only where the container may reach the host's loopback
    /// anyway: a socket of the host's network can connect out from it.
    pub fn direct(&self) -> bool {
        self.uplink()
            && self.direct_ports
            && self.host_loopback
            && self.ports.iter().any(|p| p.proto == net::PortProto::Tcp)
    }

    /// Whether the container's TCP connections to the gateway are made
    /// with sockets of the host's, connected to its loopback: only where
    /// the gateway is the host's loopback anyway.
    pub fn direct_host(&self) -> bool {
        self.uplink() && self.direct_host && self.host_loopback
    }

    /// Whether the container has burrow's way out (a tap and its stack):
    /// the default network, and every user network but an internal one.
    pub fn uplink(&self) -> bool {
        match &self.named {
            Some(n) => !n.network.internal,
            None => self.mode == NetworkMode::User,
        }
    }
}

/// What `--ipc`, `--uts` and `--pid` ask of another container: the name
/// each `container:NAME` gives.
pub struct SharedWith<'a> {
    pub ipc: Option<&'a str>,
    pub uts: Option<&'a str>,
    pub pid: Option<&'a str>,
}

/// Adds the namespaces `--ipc`, `--uts` and `--pid container:NAME` name to
/// the plan: that container's, entered with its user namespace (a
/// namespace is entered only from the user namespace that owns it). One
/// container's namespaces at most: two would need two user namespaces.
pub fn share(containers: &Containers, plan: &mut NetworkPlan, with: &SharedWith<'_>) -> Result<()> {
    for (flag, name) in [
        ("--ipc", with.ipc),
        ("--uts", with.uts),
        ("--pid", with.pid),
    ] {
        let Some(name) = name else { continue };
        let (donor, _) = containers
            .find(name)
            .map_err(|e| Error::Usage(format!("{flag} container:{name}: {e}")))?;
        let id = donor.id.clone();
        match &plan.joined {
            Some(other) if *other != id => {
                return Err(Error::Usage(format!(
                    "{flag} container:{name} names another container than the namespaces already shared (container {}): burrow shares the namespaces of one container at most",
                    &other[..other.len().min(12)]
                )))
            }
            Some(_) => {}
            None => {
                plan.join = Some(joinable(containers, flag, name, false)?);
                plan.joined = Some(id);
            }
        }
        if flag == "--ipc" {
            shareable(&donor, name)?;
        }
        if let Some((join, _, _)) = &mut plan.join {
            match flag {
                "--ipc" => join.ipc = true,
                "--uts" => join.uts = true,
                _ => join.pid_ns = true,
            }
        }
    }
    Ok(())
}

/// Whether `--ipc container:NAME` may join `donor`'s IPC namespace: as
/// docker has it, only one made to be shared (`--ipc shareable`, docker's
/// default being `private`), or one that shares another's in turn
/// (`--ipc container:`), whose /dev/shm it hands on. The host's (`--ipc
/// host`) is the host's to share: `--ipc host` says so.
fn shareable(donor: &super::record::Record, name: &str) -> Result<()> {
    use super::spec::IpcMode;
    let hint = match &donor.config.ipc_mode {
        IpcMode::Shareable | IpcMode::Container(_) => return Ok(()),
        IpcMode::Host => {
            "it is in the host's IPC namespace (--ipc host): give this container --ipc host to share it"
        }
        IpcMode::Private | IpcMode::None => "hint: use --ipc shareable for the donor container",
    };
    Err(Error::Usage(format!(
        "--ipc container:{name}: failed to join IPC namespace: container {name}: non-shareable IPC ({hint}; its IPC mode is {})",
        donor.config.ipc_mode
    )))
}

/// The namespaces of a running container, by name or id (`flag`
/// `container:NAME`), its network's with `net`.
fn joinable(
    containers: &Containers,
    flag: &str,
    name: &str,
    net: bool,
) -> Result<(JoinNamespaces, IdMap, std::path::PathBuf)> {
    let (r, s) = containers
        .find(name)
        .map_err(|e| Error::Usage(format!("{flag} container:{name}: {e}")))?;
    let pid = match (s.status, s.pid, s.pid_start) {
        (Status::Running, Some(pid), Some(start))
            if super::record::process_start_time(pid) == Some(start) =>
        {
            pid
        }
        _ => {
            return Err(Error::Usage(format!(
                "{flag} container:{name}: container {} is not running",
                r.name
            )))
        }
    };
    let pid = super::record::entry_pid(&r, pid).ok_or_else(|| {
        Error::Usage(format!(
            "{flag} container:{name}: container {} has no command running under its init",
            r.name
        ))
    })?;
    let map = r.id_map.clone();
    Ok((
        JoinNamespaces {
            pid,
            net,
            ipc: false,
            uts: false,
            pid_ns: false,
        },
        map,
        // Its /etc files live beside its record, or (a foreground --rm
        // container's) with its plan under the runtime dir.
        r.plan_dir
            .clone()
            .unwrap_or_else(|| containers.dir_of(&r.id)),
    ))
}

/// The pid whose namespaces a container joining container `id` enters,
/// while that container runs (its command, under its init if it has one).
pub fn running_pid(storage: &Path, id: &str) -> Option<i32> {
    let containers = Containers::open(storage).ok()?;
    let (r, s) = containers.find(id).ok()?;
    match (s.status, s.pid, s.pid_start) {
        (Status::Running, Some(pid), Some(start))
            if super::record::process_start_time(pid) == Some(start) =>
        {
            super::record::entry_pid(&r, pid)
        }
        _ => None,
    }
}

/// Where the container's /etc/hostname, /etc/hosts and /etc/resolv.conf
/// are kept: in `dir`.
pub fn etc_paths(dir: &Path) -> EtcFiles {
    EtcFiles {
        hostname: Some(dir.join("hostname")),
        hosts: Some(dir.join("hosts")),
        resolv_conf: Some(dir.join("resolv.conf")),
    }
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf for the container, in
/// its directory (`etc_paths`).
pub fn etc_files(dir: &Path, hostname: &str, plan: &NetworkPlan) -> std::io::Result<EtcFiles> {
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (own, gateway, resolv) = match &plan.mode {
        NetworkMode::Named(_) if !plan.uplink() => (
            None,
            None,
            "# burrow: this container's network is internal: no way out\n".into(),
        ),
        NetworkMode::Named(_) => (
            None,
            Some(net::dns::default_gateway()),
            net::dns::container_resolv_conf(&plan.dns, &host_resolv),
        ),
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
    let paths = etc_paths(dir);
    let (Some(hostname_file), Some(hosts), Some(resolv_conf)) =
        (&paths.hostname, &paths.hosts, &paths.resolv_conf)
    else {
        return Ok(paths);
    };
    std::fs::write(hostname_file, format!("{hostname}\n"))?;
    let mut hosts_text = net::dns::container_hosts(hostname, own, gateway, &plan.add_hosts);
    let mut resolv = resolv;
    // Sharing a network shares its names: the other container's files,
    // with this one's --add-host entries after them.
    if let Some((_, _, other)) = plan.join.as_ref().filter(|(j, _, _)| j.net) {
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
    // The names of the containers on its networks, kept current by
    // `networks` as they come and go.
    if let Some((storage, id)) = plan.named.as_ref().and_then(|n| n.attached.as_ref()) {
        let mut own = String::new();
        let nets = net::networks::Networks::open(storage)
            .of_container(id)
            .unwrap_or_default();
        if let Some((_, e)) = nets.first() {
            if let Some(a) = e.ipv4 {
                own = format!("{a}\t{hostname}\n");
            }
        }
        let section =
            net::networks::section_for(&nets.into_iter().map(|(n, _)| n).collect::<Vec<_>>());
        hosts_text = net::networks::with_section(&format!("{hosts_text}{own}"), &section);
    }
    std::fs::write(hosts, hosts_text)?;
    let resolv = net::dns::with_search_and_options(&resolv, &plan.dns_search, &plan.dns_options);
    std::fs::write(resolv_conf, resolv)?;
    Ok(paths)
}

/// Sets the sandbox's network fields for the plan (pure: `plan::plan`).
pub fn apply(plan: &NetworkPlan, sandbox: &mut SandboxSpec) {
    match &plan.mode {
        NetworkMode::None => sandbox.namespaces.net = true,
        NetworkMode::Host => sandbox.namespaces.net = false,
        NetworkMode::Container(_) => sandbox.namespaces.net = false,
        // The tap and the socket notifier (and a user network's links):
        // `SupervisedNetwork::prepare`, at each start.
        NetworkMode::User | NetworkMode::Named(_) => sandbox.namespaces.net = true,
    }
    // Another container's namespaces: its network's (`--network
    // container:`), a pod's, `--ipc`/`--uts`/`--pid container:`'s.
    if let Some((join, map, _)) = &plan.join {
        sandbox.join = Some(join.clone());
        sandbox.id_map = map.clone();
        if join.uts {
            sandbox.namespaces.uts = false;
            sandbox.hostname = None;
            sandbox.domainname = None;
        }
        if join.ipc {
            sandbox.namespaces.ipc = false;
        }
    }
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

    /// Where the ports are held (`PortReservation`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ports with their host sockets and their hold, for the
    /// supervisor.
    pub fn into_parts(self) -> (Vec<(PublishedPort, OwnedFd)>, PortReservation) {
        (self.sockets, self.reserved)
    }
}

/// Holds (in `dir`, see `PortReservation`) and binds the plan's host
/// ports, so that a port in use fails the run before anything starts.
pub fn bind(plan: &NetworkPlan, dir: &std::path::Path) -> Result<BoundPorts> {
    // Held before bound: a port another container's server is taking
    // over is free in the kernel for a moment.
    let mut reserved = PortReservation::take(dir, &plan.ports)?;
    let mut bound = PortForwarder::bind(&plan.ports)?;
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
    reserved.extend(PortReservation::take(dir, &picked)?);
    Ok(BoundPorts {
        sockets: bound,
        reserved,
        dir: dir.to_path_buf(),
    })
}

/// The ports a container record says were published.
pub fn published(r: &super::record::Record) -> Vec<PublishedPort> {
    r.config.ports.clone()
}

/// `burrow port CTR`: the published ports of a container by name or id.
pub fn published_of(ctx: &super::images::Context, name: &str) -> Result<Vec<PublishedPort>> {
    let store = ctx.store()?;
    let containers = Containers::open(store.root())?;
    let (r, _) = containers.find(name)?;
    Ok(published(&r))
}

/// `inspect`'s NetworkSettings, in docker's shape.
pub fn inspect_json(r: &super::record::Record, storage: &Path) -> serde_json::Value {
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
    let user = r.config.network_mode == NetworkMode::User;
    let mut networks = serde_json::Map::new();
    if let NetworkMode::Named(_) = &r.config.network_mode {
        {
            for (n, e) in net::networks::Networks::open(storage)
                .of_container(&r.id)
                .unwrap_or_default()
            {
                networks.insert(
                    n.name.clone(),
                    serde_json::json!({
                        "Aliases": e.aliases,
                        "NetworkID": n.id,
                        "MacAddress": e.mac_text(),
                        "IPAddress": e.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                        "IPPrefixLen": e.ipv4.map(|a| n.prefix_of(IpAddr::V4(a))).unwrap_or(0),
                        "GlobalIPv6Address": e.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                        "GlobalIPv6PrefixLen": e.ipv6.map(|a| n.prefix_of(IpAddr::V6(a))).unwrap_or(0),
                        "DNSNames": [r.name.clone(), r.id[..12].to_string()],
                    }),
                );
            }
        }
    }
    // docker names a container's predefined network among its networks.
    if let Some(p) = net::networks::Predefined::of_mode(&r.config.network_mode) {
        let addr = |a: String| if user { a } else { String::new() };
        networks.insert(
            p.name().to_string(),
            serde_json::json!({
                "Aliases": null,
                "NetworkID": p.id(),
                "MacAddress": r.config.mac_address.clone().filter(|_| user).unwrap_or_default(),
                "IPAddress": addr(net::GUEST_V4.to_string()),
                "IPPrefixLen": if user { 24 } else { 0 },
                "Gateway": addr(net::GATEWAY_V4.to_string()),
                "GlobalIPv6Address": addr(net::GUEST_V6.to_string()),
                "GlobalIPv6PrefixLen": if user { 64 } else { 0 },
                "IPv6Gateway": addr(net::GATEWAY_V6.to_string()),
                "DNSNames": null,
            }),
        );
    }
    serde_json::json!({
        "Networks": networks,
        "NetworkMode": r.config.network_mode.to_string(),
        "Ports": ports,
        "IPAddress": if user { net::GUEST_V4.to_string() } else { String::new() },
        "Gateway": if user { net::GATEWAY_V4.to_string() } else { String::new() },
        "GlobalIPv6Address": if user { net::GUEST_V6.to_string() } else { String::new() },
        "IPv6Gateway": if user { net::GATEWAY_V6.to_string() } else { String::new() },
        // The default network's interface (`--mac-address`), as docker's.
        "MacAddress": r.config.mac_address.clone().filter(|_| user).unwrap_or_default(),
    })
}
