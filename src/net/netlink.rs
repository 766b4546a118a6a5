//! Interface set-up over a NETLINK_ROUTE socket: link up and MTU, an
//! address, a default route. Raw messages on purpose: this runs in the
//! sandbox's single-threaded child, where an async netlink client (and the
//! runtime it brings) must not start.

use rustix::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("netlink {what}: {}", std::io::Error::from_raw_os_error(*errno))]
pub struct NetlinkError {
    pub what: String,
    pub errno: i32,
}

fn err(what: impl Into<String>, errno: i32) -> NetlinkError {
    NetlinkError {
        what: what.into(),
        errno,
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A route socket; each request is sent with an ACK asked and checked.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

const NLMSG_HDRLEN: usize = 16;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One request under construction: header, fixed part, attributes.
struct Msg(Vec<u8>);

impl Msg {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Msg {
        let mut b = vec![0u8; NLMSG_HDRLEN];
        b[4..6].copy_from_slice(&kind.to_ne_bytes());
        b[6..8].copy_from_slice(
            &(flags | (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes(),
        );
        b.extend_from_slice(fixed);
        b.resize(align(b.len()), 0);
        Msg(b)
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Msg {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(align(self.0.len()), 0);
        self
    }
}

fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn family(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

impl Netlink {
    pub fn open() -> Result<Netlink, NetlinkError> {
        // SAFETY: plain socket(2); the fd is owned right below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(err("socket", last_errno()));
        }
        // SAFETY: a new fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Netlink { fd, seq: 0 })
    }

    /// A route socket opened elsewhere: in a container's network
    /// namespace, by its root, and handed out, so that the one holding it
    /// sets up that namespace (the kernel checks the opener's rights and
    /// the caller's, and the caller owns the container's user namespace).
    pub fn from_fd(fd: OwnedFd) -> Netlink {
        Netlink { fd, seq: 0 }
    }

    /// The index of the interface `name` in the socket's network namespace.
    pub fn index_of(&self, name: &str) -> Result<u32, NetlinkError> {
        // SAFETY: ifreq is plain old data; zeroed is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes().take(15)) {
            *dst = src as libc::c_char;
        }
        // SAFETY: SIOCGIFINDEX reads the name and writes the index into
        // the ifreq we pass; any socket answers it for its namespace.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCGIFINDEX, &mut req) } < 0 {
            return Err(err(format!("index of {name}"), last_errno()));
        }
        // SAFETY: SIOCGIFINDEX filled in the index member.
        Ok(unsafe { req.ifr_ifru.ifru_ifindex } as u32)
    }

    fn request(&mut self, what: &str, mut msg: Msg) -> Result<(), NetlinkError> {
        self.seq += 1;
        let len = msg.0.len() as u32;
        msg.0[0..4].copy_from_slice(&len.to_ne_bytes());
        msg.0[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        // SAFETY: sending our own buffer; the kernel is the default peer.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.0.as_ptr().cast(), msg.0.len(), 0) };
        if n < 0 {
            return Err(err(what, last_errno()));
        }
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: receiving into our own buffer of the given size.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                if last_errno() == libc::EINTR {
                    continue;
                }
                return Err(err(what, last_errno()));
            }
            let n = n as usize;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let mlen = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let seq =
                    u32::from_ne_bytes([buf[off + 8], buf[off + 9], buf[off + 10], buf[off + 11]]);
                if mlen < NLMSG_HDRLEN || off + mlen > n {
                    break;
                }
                if kind == libc::NLMSG_ERROR as u16 && seq == self.seq && mlen >= NLMSG_HDRLEN + 4 {
                    let p = off + NLMSG_HDRLEN;
                    let code = i32::from_ne_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
                    return match code {
                        0 => Ok(()),
                        c => Err(err(what, -c)),
                    };
                }
                off += align(mlen);
            }
        }
    }

    /// Sets the MTU and brings the link up.
    pub fn link_up(&mut self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        // struct ifinfomsg: family, pad, type, index, flags, change.
        let mut fixed = [0u8; 16];
        fixed[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
        fixed[8..12].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
        fixed[12..16].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
        let msg = Msg::new(libc::RTM_NEWLINK, 0, &fixed).attr(libc::IFLA_MTU, &mtu.to_ne_bytes());
        self.request("set the link up", msg)
    }

    /// Has the link announce its IPv4 addresses with a gratuitous ARP
    /// whenever it comes up (`net.ipv4.conf.IF.arp_notify = 1`, set over
    /// netlink: a sysctl file would name the namespace of whoever opened
    /// it, not this socket's). Neighbours that kept an address's old MAC
    /// (a container removed, its address given to a new one) learn the
    /// new one at once instead of after their cache times out.
    pub fn announce_on_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut fixed = [0u8; 16];
        fixed[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
        let conf = attr_bytes(IPV4_DEVCONF_ARP_NOTIFY, &1u32.to_ne_bytes());
        let inet = attr_bytes(IFLA_INET_CONF | NLA_F_NESTED, &conf);
        let spec = attr_bytes(libc::AF_INET as u16 | NLA_F_NESTED, &inet);
        let msg = Msg::new(libc::RTM_NEWLINK, 0, &fixed).attr(IFLA_AF_SPEC | NLA_F_NESTED, &spec);
        self.request("set arp_notify on the link", msg)
    }

    /// Gives the link (while it is down) the MAC address `mac`.
    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<(), NetlinkError> {
        // struct ifinfomsg: family, pad, type, index, flags, change.
        let mut fixed = [0u8; 16];
        fixed[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
        let msg = Msg::new(libc::RTM_NEWLINK, 0, &fixed).attr(libc::IFLA_ADDRESS, &mac);
        self.request("set the link's MAC address", msg)
    }

    /// Adds `addr/prefix` to the link, usable at once (no IPv6 duplicate
    /// address detection: the link has one peer, burrow's stack).
    pub fn add_address(
        &mut self,
        index: u32,
        addr: IpAddr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        // struct ifaddrmsg: family, prefixlen, flags, scope, index.
        let mut fixed = [0u8; 8];
        fixed[0] = family(addr);
        fixed[1] = prefix;
        fixed[4..8].copy_from_slice(&index.to_ne_bytes());
        let bytes = addr_bytes(addr);
        let msg = Msg::new(
            libc::RTM_NEWADDR,
            (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
            &fixed,
        )
        .attr(libc::IFA_LOCAL, &bytes)
        .attr(libc::IFA_ADDRESS, &bytes)
        .attr(libc::IFA_FLAGS, &(libc::IFA_F_NODAD).to_ne_bytes());
        self.request(&format!("add address {addr}/{prefix}"), msg)
    }

    /// A default route through `gateway` on the link.
    pub fn add_default_route(&mut self, index: u32, gateway: IpAddr) -> Result<(), NetlinkError> {
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol,
        // scope, type, flags.
        let mut fixed = [0u8; 12];
        fixed[0] = family(gateway);
        fixed[4] = libc::RT_TABLE_MAIN;
        fixed[5] = libc::RTPROT_BOOT;
        fixed[6] = libc::RT_SCOPE_UNIVERSE;
        fixed[7] = libc::RTN_UNICAST;
        let msg = Msg::new(
            libc::RTM_NEWROUTE,
            (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
            &fixed,
        )
        .attr(libc::RTA_GATEWAY, &addr_bytes(gateway))
        .attr(libc::RTA_OIF, &index.to_ne_bytes());
        self.request(&format!("add a default route via {gateway}"), msg)
    }
}

impl Netlink {
    /// `ip rule add ipproto tcp|udp sport PORT lookup TABLE`.
    pub fn add_sport_rule(
        &mut self,
        v6: bool,
        tcp: bool,
        port: u16,
        table: u32,
    ) -> Result<(), NetlinkError> {
        // struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1,
        // res2, action, flags.
        let mut fixed = [0u8; 12];
        fixed[0] = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
        fixed[4] = libc::RT_TABLE_UNSPEC;
        fixed[7] = 1; // FR_ACT_TO_TBL
        let mut range = [0u8; 4];
        range[0..2].copy_from_slice(&port.to_ne_bytes());
        range[2..4].copy_from_slice(&port.to_ne_bytes());
        const FRA_PRIORITY: u16 = 6;
        const FRA_TABLE: u16 = 15;
        const FRA_IP_PROTO: u16 = 22;
        const FRA_SPORT_RANGE: u16 = 23;
        let proto = if tcp {
            libc::IPPROTO_TCP
        } else {
            libc::IPPROTO_UDP
        } as u8;
        let msg = Msg::new(
            libc::RTM_NEWRULE,
            (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
            &fixed,
        )
        .attr(FRA_TABLE, &table.to_ne_bytes())
        .attr(FRA_PRIORITY, &100u32.to_ne_bytes())
        .attr(FRA_IP_PROTO, &[proto])
        .attr(FRA_SPORT_RANGE, &range);
        self.request(&format!("add a rule for source port {port}"), msg)
    }

    /// `ip route add local default dev lo table TABLE`.
    pub fn add_local_default(&mut self, v6: bool, table: u32) -> Result<(), NetlinkError> {
        let mut fixed = [0u8; 12];
        fixed[0] = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
        fixed[4] = libc::RT_TABLE_UNSPEC;
        fixed[5] = libc::RTPROT_BOOT;
        fixed[6] = libc::RT_SCOPE_HOST;
        fixed[7] = libc::RTN_LOCAL;
        let lo: u32 = 1;
        let msg = Msg::new(
            libc::RTM_NEWROUTE,
            (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
            &fixed,
        )
        .attr(libc::RTA_TABLE, &table.to_ne_bytes())
        .attr(libc::RTA_OIF, &lo.to_ne_bytes());
        self.request("add a local default route", msg)
    }
}

// Link attributes the libc crate does not name on every target.
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_BR_FORWARD_DELAY: u16 = 1;
const IFLA_BR_STP_STATE: u16 = 5;
const IFLA_BR_MCAST_SNOOPING: u16 = 23;
const NLA_F_NESTED: u16 = 1 << 15;
/// `IFLA_AF_SPEC` and, in its `AF_INET` part, `IFLA_INET_CONF`, whose
/// attributes are `IPV4_DEVCONF_*` (linux/if_link.h, linux/ip.h).
const IFLA_AF_SPEC: u16 = 26;
const IFLA_INET_CONF: u16 = 1;
const IPV4_DEVCONF_ARP_NOTIFY: u16 = 22;

/// One attribute's bytes (header, data, padding), to nest in another.
fn attr_bytes(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(align(4 + data.len()));
    b.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(data);
    b.resize(align(b.len()), 0);
    b
}

fn name_bytes(name: &str) -> Vec<u8> {
    let mut b = name.as_bytes().to_vec();
    b.push(0);
    b
}

impl Netlink {
    /// `ip link add NAME type bridge` with no spanning tree (its ports
    /// forward at once), no forward delay and no multicast snooping (so
    /// that IPv6 neighbour discovery floods to every port). An existing
    /// bridge of that name is fine.
    pub fn add_bridge(&mut self, name: &str, mtu: u32) -> Result<(), NetlinkError> {
        let data = [
            attr_bytes(IFLA_BR_FORWARD_DELAY, &0u32.to_ne_bytes()),
            attr_bytes(IFLA_BR_STP_STATE, &0u32.to_ne_bytes()),
            attr_bytes(IFLA_BR_MCAST_SNOOPING, &[0u8]),
        ]
        .concat();
        let info = [
            attr_bytes(IFLA_INFO_KIND, b"bridge"),
            attr_bytes(IFLA_INFO_DATA | NLA_F_NESTED, &data),
        ]
        .concat();
        let msg = Msg::new(
            libc::RTM_NEWLINK,
            (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
            &[0u8; 16],
        )
        .attr(IFLA_IFNAME, &name_bytes(name))
        .attr(IFLA_MTU, &mtu.to_ne_bytes())
        .attr(IFLA_LINKINFO | NLA_F_NESTED, &info);
        match self.request(&format!("create the bridge {name}"), msg) {
            Err(e) if e.errno == libc::EEXIST => Ok(()),
            r => r,
        }
    }

    /// `ip link add NAME address MAC mtu MTU type veth peer name PEER
    /// netns FD`: the pair made in this socket's namespace, its peer moved
    /// at once into the namespace `peer_netns`.
    pub fn add_veth(
        &mut self,
        name: &str,
        mac: [u8; 6],
        mtu: u32,
        peer: &str,
        peer_netns: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), NetlinkError> {
        let fd = peer_netns.as_raw_fd() as u32;
        let peer_info = [
            vec![0u8; 16],
            attr_bytes(IFLA_IFNAME, &name_bytes(peer)),
            attr_bytes(IFLA_MTU, &mtu.to_ne_bytes()),
            attr_bytes(IFLA_NET_NS_FD, &fd.to_ne_bytes()),
        ]
        .concat();
        let info = [
            attr_bytes(IFLA_INFO_KIND, b"veth"),
            attr_bytes(
                IFLA_INFO_DATA | NLA_F_NESTED,
                &attr_bytes(VETH_INFO_PEER | NLA_F_NESTED, &peer_info),
            ),
        ]
        .concat();
        let msg = Msg::new(
            libc::RTM_NEWLINK,
            (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
            &[0u8; 16],
        )
        .attr(IFLA_IFNAME, &name_bytes(name))
        .attr(IFLA_ADDRESS, &mac)
        .attr(IFLA_MTU, &mtu.to_ne_bytes())
        .attr(IFLA_LINKINFO | NLA_F_NESTED, &info);
        self.request(&format!("create the veth pair {name}/{peer}"), msg)
    }

    /// `ip link set INDEX master MASTER up`.
    pub fn set_master_up(&mut self, index: u32, master: u32) -> Result<(), NetlinkError> {
        let mut fixed = [0u8; 16];
        fixed[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
        fixed[8..12].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
        fixed[12..16].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
        let msg = Msg::new(libc::RTM_NEWLINK, 0, &fixed).attr(IFLA_MASTER, &master.to_ne_bytes());
        self.request("attach the link to its bridge", msg)
    }

    /// `ip link set INDEX up`.
    pub fn set_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut fixed = [0u8; 16];
        fixed[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
        fixed[8..12].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
        fixed[12..16].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
        let msg = Msg::new(libc::RTM_NEWLINK, 0, &fixed);
        self.request("set the link up", msg)
    }

    /// `ip link del INDEX`.
    pub fn delete_link(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut fixed = [0u8; 16];
        fixed[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
        let msg = Msg::new(libc::RTM_DELLINK, 0, &fixed);
        self.request("delete the link", msg)
    }

    /// The socket's own descriptor (for `ioctl`s on its namespace).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }
}
