//! User-defined networks (`burrow network`): their records under the
//! storage root (`networks/ID.json`, written atomically under one lock),
//! the addresses handed to the containers on them, and the names each
//! member's /etc/hosts gives the others; and docker's predefined
//! networks (bridge, host, none), which are modes, not records. Knows nothing of containers
//! beyond their ids (the caller says which are gone or running) and
//! nothing of the kernel side (`bridge` makes the links).

use crate::lockfile::LockKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// A subnet as `--subnet` takes it: `10.89.1.0/24`, `fd89::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Subnet {
    fn bits(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn as_u128(a: IpAddr) -> u128 {
        match a {
            IpAddr::V4(a) => u32::from(a) as u128,
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn mask(&self) -> u128 {
        let host = self.bits() - self.prefix;
        let all = if self.bits() == 32 {
            u32::MAX as u128
        } else {
            u128::MAX
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    /// Whether `ip` lies in the subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && Self::as_u128(ip) & self.mask() == Self::as_u128(self.addr) & self.mask()
    }

    /// Whether the two share an address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.addr.is_ipv4() == other.addr.is_ipv4()
            && (self.contains(other.addr) || other.contains(self.addr))
    }

    /// The `n`th address of the subnet (0 is the network's own).
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        let host = self.bits() - self.prefix;
        if host < 128 && n >= (1u128 << host) {
            return None;
        }
        let v = (Self::as_u128(self.addr) & self.mask()) | n;
        Some(match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
        })
    }

    /// How many addresses a container may take: all but the network's
    /// own, .1 (docker's gateway, kept free) and IPv4's broadcast.
    fn usable(&self) -> u128 {
        let host = (self.bits() - self.prefix).min(16);
        (1u128 << host).saturating_sub(if self.addr.is_ipv4() { 3 } else { 2 })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let base = self.nth(0).unwrap_or(self.addr);
        write!(f, "{base}/{}", self.prefix)
    }
}

impl std::str::FromStr for Subnet {
    type Err = NetworksError;

    fn from_str(s: &str) -> Result<Subnet, NetworksError> {
        let bad = || NetworksError::BadSubnet(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 30 } else { 120 };
        if prefix > max || prefix < 8 {
            return Err(bad());
        }
        let s = Subnet { addr, prefix };
        // Kept as its network address.
        Ok(Subnet {
            addr: s.nth(0).ok_or_else(bad)?,
            prefix,
        })
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One container on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The container's name when it joined.
    pub name: String,
    /// `--network-alias`, `network connect --alias`.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// The MAC address of its interface on the network.
    pub mac: [u8; 6],
    /// Its /etc/hosts on the host, rewritten as members come and go.
    #[serde(default)]
    pub hosts: Option<PathBuf>,
}

impl Endpoint {
    pub fn mac_text(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// A user-defined network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// One IPv4 and one IPv6 subnet, as a rule.
    pub subnets: Vec<Subnet>,
    /// `--internal`: no way out, to the host or beyond.
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The containers on it, by id.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

impl Network {
    /// The bridge's name in the user's network namespace (15 bytes at
    /// most, as the kernel allows).
    pub fn bridge(&self) -> String {
        format!("bw-{}", &self.id[..12])
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    fn subnet_v4(&self) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.addr.is_ipv4())
    }

    fn subnet_v6(&self) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.addr.is_ipv6())
    }

    /// The prefix length of `ip`'s subnet.
    pub fn prefix_of(&self, ip: IpAddr) -> u8 {
        self.subnets
            .iter()
            .find(|s| s.contains(ip))
            .map_or(if ip.is_ipv4() { 24 } else { 64 }, |s| s.prefix)
    }

    /// docker's `network inspect` object.
    pub fn inspect_json(&self) -> serde_json::Value {
        let config: Vec<_> = self
            .subnets
            .iter()
            .map(|s| {
                serde_json::json!({
                    "Subnet": s.to_string(),
                    "Gateway": s.nth(1).map(|g| g.to_string()).unwrap_or_default(),
                })
            })
            .collect();
        let containers: serde_json::Map<String, serde_json::Value> = self
            .endpoints
            .iter()
            .map(|(id, e)| {
                let v4 = e
                    .ipv4
                    .map(|a| format!("{a}/{}", self.prefix_of(IpAddr::V4(a))))
                    .unwrap_or_default();
                let v6 = e
                    .ipv6
                    .map(|a| format!("{a}/{}", self.prefix_of(IpAddr::V6(a))))
                    .unwrap_or_default();
                (
                    id.clone(),
                    serde_json::json!({
                        "Name": e.name,
                        "EndpointID": endpoint_id(&self.id, id),
                        "MacAddress": e.mac_text(),
                        "IPv4Address": v4,
                        "IPv6Address": v6,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": "bridge",
            "EnableIPv4": self.subnet_v4().is_some(),
            "EnableIPv6": self.subnet_v6().is_some(),
            "IPAM": { "Driver": "default", "Options": {}, "Config": config },
            "Internal": self.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": { "Network": "" },
            "ConfigOnly": false,
            "Containers": containers,
            "Options": { "com.docker.network.bridge.name": self.bridge() },
            "Labels": self.labels,
        })
    }

    /// The /etc/hosts lines naming this network's members: address, name,
    /// aliases, short id.
    fn hosts_lines(&self) -> String {
        let mut out = format!("# burrow network {}\n", self.name);
        for (id, e) in &self.endpoints {
            let mut names = vec![e.name.clone()];
            names.extend(e.aliases.iter().cloned());
            names.push(id[..12.min(id.len())].to_string());
            names.dedup();
            let names = names.join(" ");
            if let Some(a) = e.ipv4 {
                out.push_str(&format!("{a}\t{names}\n"));
            }
            if let Some(a) = e.ipv6 {
                out.push_str(&format!("{a}\t{names}\n"));
            }
        }
        out
    }
}

fn endpoint_id(net: &str, container: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("{net}/{container}")))
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    pub name: String,
    pub subnets: Vec<Subnet>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// What a container asks of a network: `--network-alias`, `--ip`,
/// `--ip6`, `--mac-address`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSpec {
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub mac: Option<[u8; 6]>,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworksError {
    /// docker's words.
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error(
        "invalid network name {0:?}: a letter or digit, then letters, digits, '_', '.' or '-'"
    )]
    BadName(String),
    #[error("invalid subnet {0:?}: expected an address and a prefix length (8 to 30 for IPv4, 8 to 120 for IPv6), such as 10.89.5.0/24")]
    BadSubnet(String),
    #[error("invalid pool request: Pool overlaps with other one on this address space ({subnet} overlaps {what})")]
    Overlaps { subnet: String, what: String },
    #[error("no free subnet left for a new network: give one with --subnet")]
    NoSubnet,
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse { name: String, id: String },
    #[error("no configured subnet of network {network} contains the IP address {ip}")]
    NotInSubnet { network: String, ip: IpAddr },
    #[error("Address already in use: {ip} on network {network}")]
    AddressInUse { network: String, ip: IpAddr },
    /// Two interfaces with one MAC on a bridge would take each other's
    /// frames: the port filter lets each send from its own only.
    #[error("MAC address {mac} is already in use on network {network}")]
    MacInUse { network: String, mac: String },
    #[error("no free address left on network {0}")]
    Full(String),
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected { container: String, network: String },
    /// docker's words for `network rm bridge|host|none`.
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    /// docker's words for `network connect host CTR` of a container not
    /// on the host's network, and `network disconnect host CTR`.
    #[error("container cannot be disconnected from host network or connected to host network")]
    HostNetwork,
    /// docker's words for joining a container on the host's or another
    /// container's network to a network.
    #[error("container sharing network namespace with another container or host cannot be connected to any other network")]
    SharedNetwork,
    /// docker's words for joining `none` and another network.
    #[error("container cannot be connected to multiple networks with one of the networks in private (none) mode")]
    NoNetwork,
    /// A container's predefined network is its `--network` mode, fixed
    /// when burrow made it.
    #[error("container {container} is on network {network} by its --network mode, which burrow sets when it makes a container: make it again with another --network")]
    ModeFixed { container: String, network: String },
    /// The default network and a user network are two modes in burrow.
    #[error("container {container} has --network {mode}: only a container made on a network of `burrow network create` joins another such network")]
    NotOnUserNetwork { container: String, mode: String },
    /// A predefined network is joined by `--network` alone.
    #[error("container {container} cannot join network {network}: burrow puts a container on {network} only when it makes it (--network {network})")]
    JoinsWhenMade { container: String, network: String },
    #[error(transparent)]
    Lock(#[from] crate::lockfile::LockError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> NetworksError {
    let path = path.to_path_buf();
    move |source| NetworksError::Io { what, path, source }
}

/// The default network's subnets: a user network may not take them.
fn default_subnets() -> [Subnet; 2] {
    [
        Subnet {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 0)),
            prefix: 24,
        },
        Subnet {
            addr: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0)),
            prefix: 64,
        },
    ]
}

/// Names docker accepts for networks (and containers).
pub fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && name.len() <= 128
}

/// docker's three predefined networks, as burrow has them: names for the
/// `--network` modes `user` (the default network: `bridge`), `host` and
/// `none`, with fixed ids. Never records: never made, never removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predefined {
    Bridge,
    Host,
    None,
}

impl Predefined {
    pub const ALL: [Predefined; 3] = [Predefined::Bridge, Predefined::Host, Predefined::None];

    pub fn name(self) -> &'static str {
        match self {
            Predefined::Bridge => "bridge",
            Predefined::Host => "host",
            Predefined::None => "none",
        }
    }

    /// Fixed ids: the SHA-256 of `burrow predefined network NAME` (a
    /// unit test checks), the same for every user and every store. A user
    /// network never gets one (`Networks::create` draws again).
    pub fn id(self) -> &'static str {
        match self {
            Predefined::Bridge => {
                "cee7d569c2e03d1d26d8c10476a7565e25fb801c1b219d2e287959d0136faa10"
            }
            Predefined::Host => "a0184a84549db238fc9a6611652cc0f6fc1fcf6989421a5cebb294d0036b2191",
            Predefined::None => "c55b44446fd25540f2e54aa750356d196272df2815b0cf99195742bbf4e21152",
        }
    }

    /// docker's driver names. `bridge` is docker's word for a private
    /// network with a way out through NAT; burrow's is a tap device per
    /// container behind its userspace stack, which `Options` says: there
    /// is no kernel bridge.
    pub fn driver(self) -> &'static str {
        match self {
            Predefined::Bridge => "bridge",
            Predefined::Host => "host",
            Predefined::None => "null",
        }
    }

    /// The `--network` mode a container on it has.
    pub fn mode(self) -> super::NetworkMode {
        match self {
            Predefined::Bridge => super::NetworkMode::User,
            Predefined::Host => super::NetworkMode::Host,
            Predefined::None => super::NetworkMode::None,
        }
    }

    /// The predefined network of a container of `mode`, if any.
    pub fn of_mode(mode: &super::NetworkMode) -> Option<Predefined> {
        Predefined::ALL.into_iter().find(|p| p.mode() == *mode)
    }

    /// The default network's subnets for `bridge`; none for the others.
    fn subnets(self) -> Vec<Subnet> {
        match self {
            Predefined::Bridge => default_subnets().to_vec(),
            Predefined::Host | Predefined::None => Vec::new(),
        }
    }

    /// docker's `network inspect` object; `members` are the running
    /// containers on it, `(id, name)`.
    pub fn inspect_json(self, members: &[(String, String)]) -> serde_json::Value {
        let bridge = self == Predefined::Bridge;
        let config: Vec<_> = self
            .subnets()
            .iter()
            .map(|s| {
                let gateway = match s.addr {
                    IpAddr::V4(_) => super::GATEWAY_V4.to_string(),
                    IpAddr::V6(_) => super::GATEWAY_V6.to_string(),
                };
                serde_json::json!({ "Subnet": s.to_string(), "Gateway": gateway })
            })
            .collect();
        // Each container on the default network has these addresses in
        // its own namespace: the network is one per container, alike.
        let (v4, v6) = if bridge {
            (
                format!("{}/24", super::GUEST_V4),
                format!("{}/64", super::GUEST_V6),
            )
        } else {
            (String::new(), String::new())
        };
        let containers: serde_json::Map<String, serde_json::Value> = members
            .iter()
            .map(|(id, name)| {
                (
                    id.clone(),
                    serde_json::json!({
                        "Name": name,
                        "EndpointID": endpoint_id(self.id(), id),
                        // The tap's MAC is the container kernel's pick.
                        "MacAddress": "",
                        "IPv4Address": v4,
                        "IPv6Address": v6,
                    }),
                )
            })
            .collect();
        let options = if bridge {
            serde_json::json!({
                "burrow.network.mode": "user",
                "burrow.network.stack": "a tap device in each container behind burrow's userspace TCP/IP stack, NAT to the host's networks; no kernel bridge, and the containers on it do not reach each other",
                "com.docker.network.driver.mtu": super::MTU.to_string(),
            })
        } else {
            serde_json::json!({ "burrow.network.mode": self.name() })
        };
        serde_json::json!({
            "Name": self.name(),
            "Id": self.id(),
            "Created": PREDEFINED_CREATED,
            "Scope": "local",
            "Driver": self.driver(),
            "EnableIPv4": bridge,
            "EnableIPv6": bridge,
            "IPAM": { "Driver": "default", "Options": {}, "Config": config },
            "Internal": false,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": { "Network": "" },
            "ConfigOnly": false,
            "Containers": containers,
            "Options": options,
            "Labels": {},
        })
    }
}

/// The predefined networks were never made: Go's zero time, as docker
/// prints a time it does not have.
const PREDEFINED_CREATED: &str = "0001-01-01T00:00:00Z";

/// A network as `network ls` and `network inspect` show it: one of
/// docker's predefined ones or a user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyNetwork {
    Predefined(Predefined),
    User(Network),
}

impl AnyNetwork {
    pub fn id(&self) -> &str {
        match self {
            AnyNetwork::Predefined(p) => p.id(),
            AnyNetwork::User(n) => &n.id,
        }
    }

    pub fn short_id(&self) -> &str {
        &self.id()[..12]
    }

    pub fn name(&self) -> &str {
        match self {
            AnyNetwork::Predefined(p) => p.name(),
            AnyNetwork::User(n) => &n.name,
        }
    }

    pub fn driver(&self) -> &str {
        match self {
            AnyNetwork::Predefined(p) => p.driver(),
            AnyNetwork::User(_) => "bridge",
        }
    }

    /// RFC 3339.
    pub fn created(&self) -> &str {
        match self {
            AnyNetwork::Predefined(_) => PREDEFINED_CREATED,
            AnyNetwork::User(n) => &n.created,
        }
    }

    pub fn subnets(&self) -> Vec<Subnet> {
        match self {
            AnyNetwork::Predefined(p) => p.subnets(),
            AnyNetwork::User(n) => n.subnets.clone(),
        }
    }

    pub fn internal(&self) -> bool {
        matches!(self, AnyNetwork::User(n) if n.internal)
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        match self {
            AnyNetwork::Predefined(_) => BTreeMap::new(),
            AnyNetwork::User(n) => n.labels.clone(),
        }
    }

    /// docker's `--filter type=`: `builtin` or `custom`.
    pub fn builtin(&self) -> bool {
        matches!(self, AnyNetwork::Predefined(_))
    }
}

/// The one of `all` that `name` names: by name or full id first, else by
/// an id prefix that only one has (docker's order). `keys` gives a
/// network's name and id.
fn look_up<T>(
    all: Vec<T>,
    name: &str,
    keys: impl Fn(&T) -> (&str, &str),
) -> Result<T, NetworksError> {
    if let Some(i) = all.iter().position(|n| {
        let (n_name, id) = keys(n);
        n_name == name || id == name
    }) {
        return Ok(all.into_iter().nth(i).expect("found above"));
    }
    let mut by_prefix = all
        .into_iter()
        .filter(|n| !name.is_empty() && keys(n).1.starts_with(name));
    match (by_prefix.next(), by_prefix.next()) {
        (Some(one), None) => Ok(one),
        _ => Err(NetworksError::NotFound(name.to_string())),
    }
}

/// The networks of one storage root: `ROOT/networks/ID.json`, changed
/// only under `ROOT/networks/lock`.
pub struct Networks {
    dir: PathBuf,
}

/// The lock over every network record; released when dropped.
pub struct NetworksLock(#[allow(dead_code)] crate::lockfile::FileLock);

impl Networks {
    pub fn open(storage_root: &Path) -> Networks {
        Networks {
            dir: storage_root.join("networks"),
        }
    }

    fn ensure_dir(&self) -> Result<(), NetworksError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io("creating", &self.dir))
    }

    /// Takes the lock over every record.
    pub fn lock(&self) -> Result<NetworksLock, NetworksError> {
        self.ensure_dir()?;
        let lock = crate::lockfile::lock_file(&self.dir.join("lock"), LockKind::Exclusive)?;
        Ok(NetworksLock(lock))
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>, NetworksError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("reading", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Ok(bytes) = std::fs::read(&path) {
                    if let Ok(n) = serde_json::from_slice::<Network>(&bytes) {
                        out.push(n);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A network by name, full id or id prefix (docker's order).
    pub fn find(&self, name: &str) -> Result<Network, NetworksError> {
        look_up(self.list()?, name, |n| (&n.name, &n.id))
    }

    /// The predefined networks and the user's, by name.
    pub fn list_all(&self) -> Result<Vec<AnyNetwork>, NetworksError> {
        let mut all: Vec<AnyNetwork> = Predefined::ALL
            .into_iter()
            .map(AnyNetwork::Predefined)
            .chain(self.list()?.into_iter().map(AnyNetwork::User))
            .collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(all)
    }

    /// A network, predefined or the user's, by name, full id or id
    /// prefix (docker's order).
    pub fn find_any(&self, name: &str) -> Result<AnyNetwork, NetworksError> {
        look_up(self.list_all()?, name, |n| (n.name(), n.id()))
    }

    fn save(&self, n: &Network) -> Result<(), NetworksError> {
        self.ensure_dir()?;
        let path = self.dir.join(format!("{}.json", n.id));
        let tmp = self.dir.join(format!(".{}.tmp", n.id));
        let text = serde_json::to_vec_pretty(n).unwrap_or_default();
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io("writing", &path)(e)
        })
    }

    /// `network create`.
    pub fn create(&self, spec: &NetworkSpec) -> Result<Network, NetworksError> {
        if !valid_name(&spec.name) {
            return Err(NetworksError::BadName(spec.name.clone()));
        }
        let _lock = self.lock()?;
        let all = self.list()?;
        if all.iter().any(|n| n.name == spec.name) || super::reserved_name(&spec.name) {
            return Err(NetworksError::Exists(spec.name.clone()));
        }
        let taken: Vec<(Subnet, String)> = all
            .iter()
            .flat_map(|n| {
                n.subnets
                    .iter()
                    .map(move |s| (*s, format!("network {}", n.name)))
            })
            .chain(
                default_subnets()
                    .into_iter()
                    .map(|s| (s, "the default network".to_string())),
            )
            .collect();
        for (i, s) in spec.subnets.iter().enumerate() {
            let clash = taken
                .iter()
                .map(|(t, what)| (*t, what.clone()))
                .chain(
                    spec.subnets[..i]
                        .iter()
                        .map(|t| (*t, "another --subnet".to_string())),
                )
                .find(|(t, _)| t.overlaps(s));
            if let Some((_, what)) = clash {
                return Err(NetworksError::Overlaps {
                    subnet: s.to_string(),
                    what,
                });
            }
        }
        let mut subnets = spec.subnets.clone();
        let free = |cand: Subnet| !taken.iter().any(|(t, _)| t.overlaps(&cand));
        if !subnets.iter().any(|s| s.addr.is_ipv4()) {
            let pick = (1..=255u8)
                .map(|n| Subnet {
                    addr: IpAddr::V4(Ipv4Addr::new(10, 89, n, 0)),
                    prefix: 24,
                })
                .find(|c| free(*c))
                .ok_or(NetworksError::NoSubnet)?;
            subnets.insert(0, pick);
        }
        if !subnets.iter().any(|s| s.addr.is_ipv6()) {
            let pick = (1..=0xffffu16)
                .map(|n| Subnet {
                    addr: IpAddr::V6(Ipv6Addr::new(0xfd89, 0, 0, n, 0, 0, 0, 0)),
                    prefix: 64,
                })
                .find(|c| free(*c))
                .ok_or(NetworksError::NoSubnet)?;
            subnets.push(pick);
        }
        let id = loop {
            let mut id = [0u8; 32];
            let _ = rustix::rand::getrandom(&mut id, rustix::rand::GetRandomFlags::empty());
            let id = hex::encode(id);
            if !Predefined::ALL.iter().any(|p| p.id() == id) {
                break id;
            }
        };
        let net = Network {
            id,
            name: spec.name.clone(),
            created: crate::time::rfc3339_nanos(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as _)
                    .unwrap_or(0),
            ),
            subnets,
            internal: spec.internal,
            labels: spec.labels.clone(),
            endpoints: BTreeMap::new(),
        };
        self.save(&net)?;
        Ok(net)
    }

    /// `network rm`: refused while a running container is on it
    /// (`running` says which ids run).
    pub fn remove(
        &self,
        name: &str,
        running: &dyn Fn(&str) -> bool,
    ) -> Result<Network, NetworksError> {
        let _lock = self.lock()?;
        let n = match self.find_any(name)? {
            AnyNetwork::Predefined(p) => {
                return Err(NetworksError::Predefined(p.name().to_string()))
            }
            AnyNetwork::User(n) => n,
        };
        if n.endpoints.keys().any(|id| running(id)) {
            return Err(NetworksError::InUse {
                name: n.name.clone(),
                id: n.id.clone(),
            });
        }
        let path = self.dir.join(format!("{}.json", n.id));
        std::fs::remove_file(&path).map_err(io("removing", &path))?;
        // Containers that stay: their /etc/hosts loses the network's names.
        let mut gone = n.clone();
        gone.endpoints.clear();
        self.rewrite_hosts(&n, &[gone])?;
        Ok(n)
    }

    /// Adds container `id` (named `name`, its /etc/hosts at `hosts`) to
    /// the network `network`, or updates its entry (a restart). Drops the
    /// entries of containers that are gone (`exists`) first. The names of
    /// every member's /etc/hosts are brought up to date.
    pub fn attach(
        &self,
        network: &str,
        id: &str,
        name: &str,
        want: &EndpointSpec,
        hosts: Option<&Path>,
        exists: &dyn Fn(&str) -> bool,
    ) -> Result<(Network, Endpoint), NetworksError> {
        let _lock = self.lock()?;
        let mut n = self.find(network)?;
        n.endpoints.retain(|cid, _| cid == id || exists(cid));
        let previous = n.endpoints.remove(id);
        let in_use = |ip: IpAddr| {
            n.endpoints
                .values()
                .any(|e| e.ipv4.map(IpAddr::V4) == Some(ip) || e.ipv6.map(IpAddr::V6) == Some(ip))
        };
        let check = |ip: IpAddr| -> Result<(), NetworksError> {
            if !n.subnets.iter().any(|s| s.contains(ip))
                || n.subnets.iter().any(|s| s.nth(0) == Some(ip))
            {
                return Err(NetworksError::NotInSubnet {
                    network: n.name.clone(),
                    ip,
                });
            }
            if in_use(ip) {
                return Err(NetworksError::AddressInUse {
                    network: n.name.clone(),
                    ip,
                });
            }
            Ok(())
        };
        if let Some(ip) = want.ipv4 {
            check(IpAddr::V4(ip))?;
        }
        if let Some(ip) = want.ipv6 {
            check(IpAddr::V6(ip))?;
        }
        let v4net = n.subnet_v4().copied();
        let v6net = n.subnet_v6().copied();
        // The host part both families share, where it is free in both.
        let mut index = None;
        // A restart keeps its addresses.
        let kept = previous.as_ref();
        let ipv4 = match (want.ipv4, kept.and_then(|p| p.ipv4), v4net) {
            (Some(ip), _, _) => Some(ip),
            (None, Some(ip), _) if !in_use(IpAddr::V4(ip)) => Some(ip),
            (None, _, Some(s)) => {
                let i = (2..s.usable() + 2)
                    .find(|&i| s.nth(i).is_some_and(|ip| !in_use(ip)))
                    .ok_or_else(|| NetworksError::Full(n.name.clone()))?;
                index = Some(i);
                match s.nth(i) {
                    Some(IpAddr::V4(ip)) => Some(ip),
                    _ => None,
                }
            }
            (None, _, None) => None,
        };
        let ipv6 = match (want.ipv6, kept.and_then(|p| p.ipv6), v6net) {
            (Some(ip), _, _) => Some(ip),
            (None, Some(ip), _) if !in_use(IpAddr::V6(ip)) => Some(ip),
            (None, _, Some(s)) => {
                let same = index
                    .or_else(|| ipv4.and_then(|a| v4net.map(|s4| host_part(s4, IpAddr::V4(a)))))
                    .and_then(|i| s.nth(i))
                    .filter(|ip| !in_use(*ip));
                let ip = match same {
                    Some(ip) => ip,
                    None => (2..s.usable() + 2)
                        .filter_map(|i| s.nth(i))
                        .find(|ip| !in_use(*ip))
                        .ok_or_else(|| NetworksError::Full(n.name.clone()))?,
                };
                match ip {
                    IpAddr::V6(ip) => Some(ip),
                    IpAddr::V4(_) => None,
                }
            }
            (None, _, None) => None,
        };
        let mac = match want.mac {
            Some(mac) => {
                if n.endpoints.values().any(|e| e.mac == mac) {
                    return Err(NetworksError::MacInUse {
                        network: n.name.clone(),
                        mac: super::mac_text(&mac),
                    });
                }
                mac
            }
            None => mac_for(&n.id, id),
        };
        let mut aliases = want.aliases.clone();
        aliases.retain(|a| a != name);
        let e = Endpoint {
            name: name.to_string(),
            aliases,
            ipv4,
            ipv6,
            mac,
            hosts: hosts.map(Path::to_path_buf),
        };
        n.endpoints.insert(id.to_string(), e.clone());
        self.save(&n)?;
        self.rewrite_hosts(&n, &[])?;
        Ok((n, e))
    }

    /// `network disconnect`: takes container `id` off the network.
    pub fn detach(&self, network: &str, id: &str) -> Result<(Network, Endpoint), NetworksError> {
        let _lock = self.lock()?;
        let mut n = self.find(network)?;
        let Some(e) = n.endpoints.remove(id) else {
            return Err(NetworksError::NotConnected {
                container: id.to_string(),
                network: n.name.clone(),
            });
        };
        self.save(&n)?;
        // Its own /etc/hosts loses the network's names too.
        let mut with_it = n.clone();
        with_it.endpoints.insert(id.to_string(), e.clone());
        self.rewrite_hosts_for(&with_it, &n)?;
        Ok((n, e))
    }

    /// The networks container `id` is on, with its entry on each.
    pub fn of_container(&self, id: &str) -> Result<Vec<(Network, Endpoint)>, NetworksError> {
        Ok(self
            .list()?
            .into_iter()
            .filter_map(|n| {
                let e = n.endpoints.get(id)?.clone();
                Some((n, e))
            })
            .collect())
    }

    /// Rewrites the network section of the /etc/hosts of every member of
    /// `n` (and of the members of `extra`, networks that changed).
    fn rewrite_hosts(&self, n: &Network, extra: &[Network]) -> Result<(), NetworksError> {
        let all = self.list()?;
        let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
        let members = n
            .endpoints
            .iter()
            .chain(extra.iter().flat_map(|x| x.endpoints.iter()));
        for (cid, e) in members {
            let Some(path) = &e.hosts else { continue };
            let text = all
                .iter()
                .filter(|net| net.endpoints.contains_key(cid))
                .map(Network::hosts_lines)
                .collect::<String>();
            files.insert(path.clone(), text);
        }
        for (path, section) in files {
            rewrite_section(&path, &section);
        }
        Ok(())
    }

    /// After a member left `now` (it was on `before`): every file of
    /// `before`'s members, its own included.
    fn rewrite_hosts_for(&self, before: &Network, now: &Network) -> Result<(), NetworksError> {
        self.rewrite_hosts(now, std::slice::from_ref(before))
    }

    /// `network prune`: removes every network no container is on
    /// (`exists` says which container ids still exist). The names removed.
    pub fn prune(&self, exists: &dyn Fn(&str) -> bool) -> Result<Vec<String>, NetworksError> {
        let _lock = self.lock()?;
        let mut gone = Vec::new();
        for n in self.list()? {
            if n.endpoints.keys().any(|id| exists(id)) {
                continue;
            }
            let path = self.dir.join(format!("{}.json", n.id));
            std::fs::remove_file(&path).map_err(io("removing", &path))?;
            gone.push(n.name);
        }
        Ok(gone)
    }
}

/// The host part of `ip` in `s`.
fn host_part(s: Subnet, ip: IpAddr) -> u128 {
    Subnet::as_u128(ip) & !s.mask()
}

/// A locally administered MAC address, the same for a container on a
/// network at every start.
fn mac_for(network: &str, container: &str) -> [u8; 6] {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{network}/{container}/mac"));
    [0x02, 0x42, d[0], d[1], d[2], d[3]]
}

/// The line after which /etc/hosts holds the networks' names.
const MARK: &str = "# burrow networks: the containers on this container's networks\n";

/// The /etc/hosts text with its network section replaced.
pub fn with_section(text: &str, section: &str) -> String {
    let base = match text.find(MARK) {
        Some(i) => &text[..i],
        None => text,
    };
    if section.is_empty() {
        return base.to_string();
    }
    format!("{base}{MARK}{section}")
}

/// Writes the section into the file in place: it is bound into a
/// running container, where a renamed file would not show.
fn rewrite_section(path: &Path, section: &str) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let new = with_section(&text, section);
    if new == text {
        return;
    }
    use std::io::{Seek, Write};
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = f
            .seek(std::io::SeekFrom::Start(0))
            .and_then(|_| f.write_all(new.as_bytes()))
            .and_then(|()| f.set_len(new.len() as u64));
    }
}

/// The network section a new member's /etc/hosts starts with.
pub fn section_for(nets: &[Network]) -> String {
    nets.iter().map(Network::hosts_lines).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_overlap_and_count() {
        let a: Subnet = "10.89.1.7/24".parse().unwrap();
        assert_eq!(a.to_string(), "10.89.1.0/24");
        let b: Subnet = "10.89.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        let c: Subnet = "10.90.0.0/16".parse().unwrap();
        assert!(!a.overlaps(&c));
        let v6: Subnet = "fd89:0:0:1::/64".parse().unwrap();
        assert!(!v6.overlaps(&a));
        assert_eq!(v6.nth(2).unwrap().to_string(), "fd89:0:0:1::2");
        assert!(v6.contains("fd89:0:0:1::99".parse().unwrap()));
        assert!("10.0.0.0".parse::<Subnet>().is_err());
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("nonsense/24".parse::<Subnet>().is_err());
        assert_eq!(a.usable(), 253);
    }

    fn store() -> (tempfile::TempDir, Networks) {
        let d = tempfile::tempdir().unwrap();
        let n = Networks::open(d.path());
        (d, n)
    }

    fn spec(name: &str) -> NetworkSpec {
        NetworkSpec {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn create_picks_free_subnets_and_refuses_names_and_overlaps() {
        let (_d, nets) = store();
        let a = nets.create(&spec("a")).unwrap();
        let b = nets.create(&spec("b")).unwrap();
        assert_eq!(a.subnets.len(), 2);
        assert!(!a.subnets[0].overlaps(&b.subnets[0]));
        assert!(!a.subnets[1].overlaps(&b.subnets[1]));
        let e = nets.create(&spec("a")).unwrap_err().to_string();
        assert_eq!(e, "network with name a already exists");
        let mut s = spec("c");
        s.subnets = vec![a.subnets[0]];
        let e = nets.create(&s).unwrap_err().to_string();
        assert!(
            e.contains("Pool overlaps") && e.contains("network a"),
            "{e}"
        );
        s.subnets = vec!["10.0.0.0/8".parse().unwrap()];
        let e = nets.create(&s).unwrap_err().to_string();
        assert!(e.contains("overlaps"), "{e}");
        assert!(nets.create(&spec("-bad")).is_err());
        assert!(nets.create(&spec("bridge")).is_err());
        assert_eq!(nets.find(&a.id[..8]).unwrap().name, "a");
        assert!(matches!(nets.find("zzz"), Err(NetworksError::NotFound(_))));
    }

    #[test]
    fn an_asked_mac_is_the_endpoints_and_a_taken_one_is_refused() {
        let (_d, nets) = store();
        nets.create(&spec("n")).unwrap();
        let all = |_: &str| true;
        let mac = [0x92, 0xd0, 0xc6, 0x0a, 0x29, 0x33];
        let want = EndpointSpec {
            mac: Some(mac),
            ..Default::default()
        };
        let (_, e1) = nets
            .attach("n", &"1".repeat(64), "a", &want, None, &all)
            .unwrap();
        assert_eq!(e1.mac, mac);
        assert_eq!(e1.mac_text(), "92:d0:c6:0a:29:33");
        let err = nets
            .attach("n", &"2".repeat(64), "b", &want, None, &all)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "MAC address 92:d0:c6:0a:29:33 is already in use on network n"
        );
        // The same container again (a restart) keeps it.
        let (_, again) = nets
            .attach("n", &"1".repeat(64), "a", &want, None, &all)
            .unwrap();
        assert_eq!(again.mac, mac);
    }

    #[test]
    fn attach_hands_out_distinct_addresses_and_names_every_member() {
        let (d, nets) = store();
        nets.create(&spec("n")).unwrap();
        let h1 = d.path().join("h1");
        let h2 = d.path().join("h2");
        std::fs::write(&h1, "127.0.0.1\tlocalhost\n").unwrap();
        std::fs::write(&h2, "127.0.0.1\tlocalhost\n").unwrap();
        let all = |_: &str| true;
        let id1 = "1".repeat(64);
        let id2 = "2".repeat(64);
        let (_, e1) = nets
            .attach("n", &id1, "web", &EndpointSpec::default(), Some(&h1), &all)
            .unwrap();
        let want = EndpointSpec {
            aliases: vec!["db".into()],
            ..Default::default()
        };
        let (_, e2) = nets
            .attach("n", &id2, "pg", &want, Some(&h2), &all)
            .unwrap();
        assert_ne!(e1.ipv4, e2.ipv4);
        assert_ne!(e1.ipv6, e2.ipv6);
        assert_ne!(e1.mac, e2.mac);
        let t1 = std::fs::read_to_string(&h1).unwrap();
        assert!(t1.starts_with("127.0.0.1\tlocalhost\n"), "{t1}");
        let v4 = e2.ipv4.unwrap();
        assert!(t1.contains(&format!("{v4}\tpg db 222222222222")), "{t1}");
        // A taken --ip, and one outside the subnets.
        let taken = EndpointSpec {
            ipv4: e1.ipv4,
            ..Default::default()
        };
        let e = nets.attach("n", &"3".repeat(64), "x", &taken, None, &all);
        assert!(matches!(e, Err(NetworksError::AddressInUse { .. })));
        let outside = EndpointSpec {
            ipv4: Some(Ipv4Addr::new(192, 168, 9, 9)),
            ..Default::default()
        };
        let e = nets.attach("n", &"3".repeat(64), "x", &outside, None, &all);
        assert!(matches!(e, Err(NetworksError::NotInSubnet { .. })));
        // The second leaves: the first's file forgets it.
        nets.detach("n", &id2).unwrap();
        let t1 = std::fs::read_to_string(&h1).unwrap();
        assert!(!t1.contains("pg"), "{t1}");
        let t2 = std::fs::read_to_string(&h2).unwrap();
        assert!(!t2.contains("web"), "{t2}");
        // Removing is refused while a member runs.
        let e = nets.remove("n", &|_| true).unwrap_err().to_string();
        assert!(e.contains("has active endpoints"), "{e}");
        nets.remove("n", &|_| false).unwrap();
        assert!(nets.list().unwrap().is_empty());
    }

    #[test]
    fn predefined_ids_are_the_documented_hashes_and_never_a_user_networks() {
        use sha2::{Digest, Sha256};
        for p in Predefined::ALL {
            let want = hex::encode(Sha256::digest(format!(
                "burrow predefined network {}",
                p.name()
            )));
            assert_eq!(p.id(), want, "{p:?}");
            assert_eq!(Predefined::of_mode(&p.mode()), Some(p));
        }
        let (_d, nets) = store();
        let mine = nets.create(&spec("mine")).unwrap();
        assert!(Predefined::ALL.iter().all(|p| p.id() != mine.id));
        let all = nets.list_all().unwrap();
        let names: Vec<_> = all.iter().map(AnyNetwork::name).collect();
        assert_eq!(names, ["bridge", "host", "mine", "none"]);
        // By name, full id and id prefix; never removed, never made again.
        let host = Predefined::Host.id();
        for key in ["host", host, &host[..12]] {
            assert_eq!(
                nets.find_any(key).unwrap(),
                AnyNetwork::Predefined(Predefined::Host),
                "{key}"
            );
        }
        assert_eq!(
            nets.find_any(&mine.id[..12]).unwrap(),
            AnyNetwork::User(mine.clone())
        );
        for p in Predefined::ALL {
            let e = nets.remove(p.name(), &|_| false).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "{} is a pre-defined network and cannot be removed",
                    p.name()
                )
            );
            let e = nets.create(&spec(p.name())).unwrap_err().to_string();
            assert_eq!(e, format!("network with name {} already exists", p.name()));
        }
        // The user's own lookups never see them.
        assert!(matches!(
            nets.find("bridge"),
            Err(NetworksError::NotFound(_))
        ));
        assert_eq!(nets.prune(&|_| false).unwrap(), ["mine"]);
    }

    #[test]
    fn predefined_inspect_says_what_each_network_is() {
        let members = vec![("c".repeat(64), "web".to_string())];
        let b = Predefined::Bridge.inspect_json(&members);
        assert_eq!(b["Driver"], "bridge");
        assert_eq!(b["IPAM"]["Config"][0]["Subnet"], "10.0.2.0/24");
        assert_eq!(b["IPAM"]["Config"][0]["Gateway"], "10.0.2.2");
        assert_eq!(b["IPAM"]["Config"][1]["Gateway"], "fd00::2");
        assert_eq!(b["Options"]["burrow.network.mode"], "user");
        assert!(b["Options"].get("com.docker.network.bridge.name").is_none());
        let c = &b["Containers"]["c".repeat(64)];
        assert_eq!(c["Name"], "web");
        assert_eq!(c["IPv4Address"], "10.0.2.100/24");
        let n = Predefined::None.inspect_json(&[]);
        assert_eq!(n["Driver"], "null");
        assert_eq!(n["IPAM"]["Config"], serde_json::json!([]));
        assert_eq!(n["EnableIPv6"], false);
        assert_eq!(Predefined::Host.inspect_json(&[])["Driver"], "host");
    }

    #[test]
    fn prune_keeps_networks_with_containers() {
        let (_d, nets) = store();
        nets.create(&spec("used")).unwrap();
        nets.create(&spec("idle")).unwrap();
        let id = "4".repeat(64);
        nets.attach("used", &id, "c", &EndpointSpec::default(), None, &|_| true)
            .unwrap();
        let gone = nets.prune(&|cid| cid == id).unwrap();
        assert_eq!(gone, vec!["idle".to_string()]);
        assert_eq!(nets.list().unwrap().len(), 1);
    }
}
