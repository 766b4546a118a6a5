//! Container networking: the network modes, the tap device and its
//! addresses inside the container, burrow's userspace TCP/IP stack (a NAT
//! gateway on the tap), the DNS forwarder and published ports. Knows
//! nothing of images, the CLI or the sandbox's internals: `container` hands
//! it plain data (a tap fd, a pid, a port list) and runs what it returns.

pub mod bridge;
pub mod devices;
mod direct;
pub mod dns;
mod forward;
pub mod netlink;
pub mod networks;
pub mod portfilter;
pub mod ports;
pub mod stack;
pub mod tap;

pub use forward::PortForwarder;
pub use ports::{parse_publish, ExposedPort, PortProto, PortRange, PortReservation, PublishedPort};
pub use stack::{UserNetConfig, UserNetwork};

use std::net::{Ipv4Addr, Ipv6Addr};

/// The container's interface, addresses and gateways in `user` mode.
pub const IFNAME: &str = "eth0";
pub const MTU: u32 = 65520;
pub const GUEST_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
pub const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const RESOLVER_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
pub const GUEST_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x100);
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
pub const RESOLVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3);

/// The names /etc/hosts gives the host (the gateway).
pub const HOST_NAMES: &[&str] = &["host.containers.internal", "host.docker.internal"];

/// `--network`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A network namespace with loopback only.
    None,
    /// The host's network namespace: no isolation.
    Host,
    /// Another container's network (and so user) namespace.
    Container(String),
    /// A network namespace with a tap device behind burrow's stack (the
    /// default).
    #[default]
    User,
    /// A user-defined network (`burrow network create`), by name or id:
    /// the default network's way out, and a veth on the network's bridge.
    Named(String),
}

/// The names `--network` gives its own modes: no user network may take
/// them.
pub fn reserved_name(name: &str) -> bool {
    matches!(
        name,
        "user" | "slirp4netns" | "pasta" | "bridge" | "default" | "none" | "host" | "private"
    ) || name.starts_with("container:")
        || name.starts_with("pod:")
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(
        "unknown --network {0:?}: burrow knows user (the default), none, host, container:NAME and the names of networks made with `burrow network create`"
    )]
    UnknownMode(String),
    #[error("invalid --publish {spec:?}: {why}")]
    Publish { spec: String, why: String },
    #[error("invalid port {spec:?}: {why}")]
    Port { spec: String, why: String },
    #[error("invalid --add-host {0:?}: expected NAME:IP")]
    AddHost(String),
    #[error("invalid --mac-address {spec:?}: {why}")]
    MacAddress { spec: String, why: &'static str },
    #[error("invalid --dns {0:?}: expected an IP address")]
    Dns(String),
    #[error("invalid --dns-search {0:?}: expected a domain name (or `.` for none)")]
    DnsSearch(String),
    #[error("invalid --dns-option {0:?}: expected one resolv.conf option (ndots:2, edns0, ...)")]
    DnsOption(String),
    #[error("cannot listen on {addr} ({proto}) for a published port: {source}{hint}")]
    Listen {
        addr: std::net::SocketAddr,
        proto: PortProto,
        source: std::io::Error,
        hint: String,
    },
    /// Another container of this user publishes the port: docker's words.
    #[error("Bind for {addr} failed: port is already allocated")]
    Allocated { addr: std::net::SocketAddr },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The helper that makes sockets inside the container for its
    /// published ports.
    #[error(transparent)]
    PortHelper(#[from] ports::PortHelperError),
    /// `burrow network`'s errors, in docker's words.
    #[error(transparent)]
    Networks(#[from] networks::NetworksError),
}

impl std::str::FromStr for NetworkMode {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, NetError> {
        Ok(match s {
            "" | "user" | "slirp4netns" | "pasta" | "bridge" | "default" => NetworkMode::User,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => match s.strip_prefix("container:") {
                Some(name) if !name.is_empty() => NetworkMode::Container(name.to_string()),
                None if networks::valid_name(s) => NetworkMode::Named(s.to_string()),
                _ => return Err(NetError::UnknownMode(s.to_string())),
            },
        })
    }
}

impl std::fmt::Display for NetworkMode {
    /// As `--network` takes it (the canonical name of each mode).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Container(name) => write!(f, "container:{name}"),
            NetworkMode::User => f.write_str("user"),
            NetworkMode::Named(name) => f.write_str(name),
        }
    }
}

/// `--mac-address`: six hex bytes with `:` or `-` between them, a
/// unicast address (one a container's interface may have).
pub fn parse_mac(spec: &str) -> Result<[u8; 6], NetError> {
    let bad = |why| NetError::MacAddress {
        spec: spec.to_string(),
        why,
    };
    let parts: Vec<&str> = spec.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6
        || !parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(bad("expected six hex bytes, e.g. 92:d0:c6:0a:29:33"));
    }
    for (b, p) in mac.iter_mut().zip(&parts) {
        *b = u8::from_str_radix(p, 16).map_err(|_| bad("expected six hex bytes"))?;
    }
    if mac[0] & 1 == 1 {
        return Err(bad(
            "a multicast address (the first byte is odd); an interface needs a unicast one",
        ));
    }
    if mac == [0; 6] {
        return Err(bad("the all-zero address is no interface's"));
    }
    if mac == stack::GATEWAY_MAC {
        return Err(bad(
            "it is the address of burrow's gateway on the container's network",
        ));
    }
    Ok(mac)
}

/// A MAC address as `ip link` writes it.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `--add-host NAME:IP` (IPv6 addresses may be bracketed).
pub fn parse_add_host(spec: &str) -> Result<(String, std::net::IpAddr), NetError> {
    let bad = || NetError::AddHost(spec.to_string());
    let (name, ip) = spec.split_once([':', '=']).ok_or_else(bad)?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = if ip == "host-gateway" {
        std::net::IpAddr::V4(GATEWAY_V4)
    } else {
        ip.parse().map_err(|_| bad())?
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok((name.to_string(), ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_parse_as_unicast_only() {
        assert_eq!(
            parse_mac("92:d0:c6:0a:29:33").unwrap(),
            [0x92, 0xd0, 0xc6, 0x0a, 0x29, 0x33]
        );
        assert_eq!(
            parse_mac("02-42-AC-11-00-02").unwrap(),
            [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]
        );
        assert_eq!(
            mac_text(&parse_mac("02-42-AC-11-00-02").unwrap()),
            "02:42:ac:11:00:02"
        );
        for (bad, says) in [
            ("01:00:5e:00:00:01", "multicast"),
            ("ff:ff:ff:ff:ff:ff", "multicast"),
            ("00:00:00:00:00:00", "all-zero"),
            ("52:55:0a:00:02:02", "gateway"),
            ("92:d0:c6:0a:29", "six hex bytes"),
            ("92:d0:c6:0a:29:3g", "six hex bytes"),
            ("92d0c60a2933", "six hex bytes"),
            ("92:d0:c6:0a:29:333", "six hex bytes"),
        ] {
            let err = parse_mac(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid --mac-address {bad:?}: ")),
                "{err}"
            );
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn network_modes_parse_and_unknown_ones_are_named() {
        assert_eq!("user".parse::<NetworkMode>().unwrap(), NetworkMode::User);
        assert_eq!("none".parse::<NetworkMode>().unwrap(), NetworkMode::None);
        assert_eq!("host".parse::<NetworkMode>().unwrap(), NetworkMode::Host);
        assert_eq!(
            "container:web".parse::<NetworkMode>().unwrap(),
            NetworkMode::Container("web".into())
        );
        let e = "container:".parse::<NetworkMode>().unwrap_err().to_string();
        assert!(e.contains("container:NAME"), "{e}");
        assert_eq!(
            "mynet".parse::<NetworkMode>().unwrap(),
            NetworkMode::Named("mynet".into())
        );
        assert!("bo gus".parse::<NetworkMode>().is_err());
        for text in ["user", "none", "host", "container:web"] {
            assert_eq!(text.parse::<NetworkMode>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn add_host_takes_v4_v6_and_host_gateway() {
        assert_eq!(
            parse_add_host("db:10.1.2.3").unwrap(),
            ("db".into(), "10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            parse_add_host("v6:[fd00::9]").unwrap(),
            ("v6".into(), "fd00::9".parse().unwrap())
        );
        assert_eq!(
            parse_add_host("gw:host-gateway").unwrap().1,
            std::net::IpAddr::V4(GATEWAY_V4)
        );
        assert!(parse_add_host("nocolon").is_err());
        assert!(parse_add_host("x:notanip").is_err());
    }
}
