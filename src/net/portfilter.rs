//! What a container may send into a user network: frames from its own MAC
//! address, IPv4 and ARP from its own address, IPv6 from its own, its
//! link-local or the unspecified address, and neighbour advertisements for
//! those addresses only; no router advertisements or redirects. Enforced
//! on the bridge's end of its veth pair, in the user's network namespace,
//! which the container cannot enter: its root may change its own MAC,
//! take another's address or forge ARP and NDP in its own namespace
//! (with NET_ADMIN and NET_RAW, or --privileged), and none of it reaches
//! the others. Never touches the container's side.
//!
//! Why nftables, in the `netdev` family on the port's ingress hook: it is
//! namespaced and a user namespace's root may program it in a network
//! namespace it owns (kernels since 4.2); the hook runs before the bridge
//! sees a frame, so a forged source MAC is never learnt, and only for that
//! port's frames (no cost to the others). tc's classifiers that could say
//! the same (`flower`, the `gact` drop action) are absent from kernels
//! built without them (this one has neither, and no modules), and bridge
//! port flags (`locked`, 5.18+) check no IP, ARP or NDP content. Raw
//! netlink messages, as in `netlink`: this runs in a single-threaded
//! supervisor, where no async client may start.

use super::netlink::NetlinkError;
use rustix::fd::{AsRawFd, OwnedFd};
use std::net::{Ipv4Addr, Ipv6Addr};

/// One nftables expression, plain data (`rules` is testable without a
/// kernel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Loads `len` bytes at `offset` of a header (`Base`) into register 1.
    Payload { base: Base, offset: u32, len: u32 },
    /// Loads the ethertype (`meta protocol`) into register 1.
    Protocol,
    /// Loads the transport protocol past IPv6 extension headers (`meta
    /// l4proto`) into register 1; a packet without one matches no rule.
    L4Proto,
    /// Compares register 1 with `data`.
    Cmp { equal: bool, data: Vec<u8> },
    /// The rule's verdict: accept.
    Accept,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Link = 0,
    Network = 1,
    Transport = 2,
}

const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_ICMPV6: u8 = 58;
const ND_ROUTER_ADVERT: u8 = 134;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const ND_REDIRECT: u8 = 137;

fn load(base: Base, offset: u32, len: u32) -> Expr {
    Expr::Payload { base, offset, len }
}

fn eq(data: &[u8]) -> Expr {
    Expr::Cmp {
        equal: true,
        data: data.to_vec(),
    }
}

fn ne(data: &[u8]) -> Expr {
    Expr::Cmp {
        equal: false,
        data: data.to_vec(),
    }
}

/// The link-local address the kernel gives an interface with `mac`
/// (EUI-64, the default `addr_gen_mode`).
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    let m = mac;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 2,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// The rules of a port whose container has `mac` and these addresses:
/// each accepts one kind of frame; the chain drops everything else.
pub fn rules(mac: [u8; 6], ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) -> Vec<Vec<Expr>> {
    let from = |ethertype: u16| {
        vec![
            load(Base::Link, 6, 6),
            eq(&mac),
            Expr::Protocol,
            eq(&ethertype.to_be_bytes()),
        ]
    };
    let mut out = Vec::new();
    if let Some(v4) = ipv4 {
        // ARP for Ethernet and IPv4 (so the offsets below mean what they
        // say), with its own hardware and protocol address as sender.
        let mut arp = from(ETH_P_ARP);
        arp.extend([
            load(Base::Network, 0, 6),
            eq(&[0, 1, 8, 0, 6, 4]),
            load(Base::Network, 8, 6),
            eq(&mac),
            load(Base::Network, 14, 4),
            eq(&v4.octets()),
            Expr::Accept,
        ]);
        out.push(arp);
        let mut ip = from(ETH_P_IP);
        ip.extend([load(Base::Network, 12, 4), eq(&v4.octets()), Expr::Accept]);
        out.push(ip);
    }
    let own: Vec<Ipv6Addr> = ipv6.into_iter().chain([link_local(mac)]).collect();
    let icmp6_type = || load(Base::Transport, 0, 1);
    let from6 = |src: Ipv6Addr| {
        let mut r = from(ETH_P_IPV6);
        r.extend([load(Base::Network, 8, 16), eq(&src.octets()), Expr::L4Proto]);
        r
    };
    for &src in &own {
        let mut other = from6(src);
        other.extend([ne(&[IPPROTO_ICMPV6]), Expr::Accept]);
        out.push(other);
    }
    for src in own.iter().copied().chain([Ipv6Addr::UNSPECIFIED]) {
        // ICMPv6 but neighbour advertisements (below), router
        // advertisements and redirects: no container is a router.
        let mut icmp = from6(src);
        icmp.extend([
            eq(&[IPPROTO_ICMPV6]),
            icmp6_type(),
            ne(&[ND_ROUTER_ADVERT]),
            ne(&[ND_NEIGHBOR_ADVERT]),
            ne(&[ND_REDIRECT]),
            Expr::Accept,
        ]);
        out.push(icmp);
    }
    for &src in &own {
        for &target in &own {
            let mut na = from6(src);
            na.extend([
                eq(&[IPPROTO_ICMPV6]),
                icmp6_type(),
                eq(&[ND_NEIGHBOR_ADVERT]),
                load(Base::Transport, 8, 16),
                eq(&target.octets()),
                Expr::Accept,
            ]);
            out.push(na);
        }
    }
    out
}

// nftables' netlink numbers (linux/netfilter/nf_tables.h, nfnetlink.h).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFPROTO_NETDEV: u8 = 5;
const NF_NETDEV_INGRESS: u32 = 0;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_HOOK_DEV: u16 = 3;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFT_META_PROTOCOL: u32 = 1;
const NFT_META_L4PROTO: u32 = 16;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NLA_F_NESTED: u16 = 1 << 15;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(align(4 + data.len()));
    b.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(data);
    b.resize(align(b.len()), 0);
    b
}

fn nest(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    attr(kind | NLA_F_NESTED, &parts.concat())
}

fn be32(kind: u16, v: u32) -> Vec<u8> {
    attr(kind, &v.to_be_bytes())
}

fn text(kind: u16, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    attr(kind, &b)
}

fn expr_bytes(e: &Expr) -> Vec<u8> {
    let (name, data) = match e {
        Expr::Payload { base, offset, len } => (
            "payload",
            vec![
                be32(NFTA_PAYLOAD_DREG, NFT_REG_1),
                be32(NFTA_PAYLOAD_BASE, *base as u32),
                be32(NFTA_PAYLOAD_OFFSET, *offset),
                be32(NFTA_PAYLOAD_LEN, *len),
            ],
        ),
        Expr::Protocol | Expr::L4Proto => (
            "meta",
            vec![
                be32(NFTA_META_DREG, NFT_REG_1),
                be32(
                    NFTA_META_KEY,
                    if *e == Expr::Protocol {
                        NFT_META_PROTOCOL
                    } else {
                        NFT_META_L4PROTO
                    },
                ),
            ],
        ),
        Expr::Cmp { equal, data } => (
            "cmp",
            vec![
                be32(NFTA_CMP_SREG, NFT_REG_1),
                be32(NFTA_CMP_OP, u32::from(!*equal)),
                nest(NFTA_CMP_DATA, &[attr(NFTA_DATA_VALUE, data)]),
            ],
        ),
        Expr::Accept => (
            "immediate",
            vec![
                be32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT),
                nest(
                    NFTA_IMMEDIATE_DATA,
                    &[nest(
                        NFTA_DATA_VERDICT,
                        &[be32(NFTA_VERDICT_CODE, NF_ACCEPT)],
                    )],
                ),
            ],
        ),
    };
    nest(
        NFTA_LIST_ELEM,
        &[text(NFTA_EXPR_NAME, name), nest(NFTA_EXPR_DATA, &data)],
    )
}

/// One batch of nftables messages, sent at once and applied by the kernel
/// all or nothing.
struct Batch {
    bytes: Vec<u8>,
    seq: u32,
    /// The messages that are acknowledged, by sequence number.
    asked: Vec<(u32, String)>,
}

impl Batch {
    fn new() -> Batch {
        let mut b = Batch {
            bytes: Vec::new(),
            seq: 0,
            asked: Vec::new(),
        };
        b.push(NFNL_MSG_BATCH_BEGIN, 0, 0, None, &[]);
        b
    }

    /// Appends one message: `kind` of nftables (or of nfnetlink itself
    /// when `what` is `None`).
    fn push(&mut self, kind: u16, flags: u16, family: u8, what: Option<String>, attrs: &[Vec<u8>]) {
        self.seq += 1;
        let mut flags = flags | libc::NLM_F_REQUEST as u16;
        let (kind, res_id) = match &what {
            Some(_) => ((NFNL_SUBSYS_NFTABLES << 8) | kind, 0u16),
            None => (kind, NFNL_SUBSYS_NFTABLES),
        };
        if let Some(what) = what {
            flags |= libc::NLM_F_ACK as u16;
            self.asked.push((self.seq, what));
        }
        let body = attrs.concat();
        let len = 16 + 4 + body.len();
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&(len as u32).to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(&flags.to_ne_bytes());
        self.bytes.extend_from_slice(&self.seq.to_ne_bytes());
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg: family, version, res_id (big-endian).
        self.bytes.push(family);
        self.bytes.push(0);
        self.bytes.extend_from_slice(&res_id.to_be_bytes());
        self.bytes.extend_from_slice(&body);
        self.bytes.resize(start + align(len), 0);
    }

    fn op(&mut self, kind: u16, flags: i32, what: String, attrs: &[Vec<u8>]) {
        self.push(kind, flags as u16, NFPROTO_NETDEV, Some(what), attrs);
    }

    /// Sends the batch and checks every answer.
    fn send(mut self, socket: &OwnedFd) -> Result<(), NetlinkError> {
        self.push(NFNL_MSG_BATCH_END, 0, 0, None, &[]);
        let fail = |what: &str, errno: i32| NetlinkError {
            what: what.to_string(),
            errno,
        };
        let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let mut buf = vec![0u8; 32 * 1024];
        // Answers left from an earlier batch that failed part way: their
        // sequence numbers would be taken for this one's.
        // SAFETY: receiving into our own buffer of the given size.
        while unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        } > 0
        {}
        // SAFETY: sending our own buffer; the kernel is the default peer.
        let n = unsafe {
            libc::send(
                socket.as_raw_fd(),
                self.bytes.as_ptr().cast(),
                self.bytes.len(),
                0,
            )
        };
        if n < 0 {
            return Err(fail("send the port's filter", errno()));
        }
        let mut pending = self.asked.len();
        while pending > 0 {
            // SAFETY: receiving into our own buffer of the given size.
            let n =
                unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err(fail("read the answer to the port's filter", errno()));
            }
            let n = n as usize;
            let mut off = 0;
            while off + 16 <= n {
                let word =
                    |p: usize| u32::from_ne_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
                let mlen = word(off) as usize;
                let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let seq = word(off + 8);
                if mlen < 16 || off + mlen > n {
                    break;
                }
                if kind == libc::NLMSG_ERROR as u16 && mlen >= 20 {
                    let asked = self.asked.iter().find(|(s, _)| *s == seq);
                    let code = word(off + 16) as i32;
                    if code != 0 {
                        // The batch as a whole may be refused too (EPERM).
                        let what = asked.map_or("apply the netfilter batch", |(_, w)| w.as_str());
                        return Err(fail(what, -code));
                    }
                    if asked.is_some() {
                        pending -= 1;
                    }
                }
                off += align(mlen);
            }
        }
        Ok(())
    }
}

/// Whether a failure to open the netfilter socket or to apply a port's
/// filter means the kernel has no nftables here (so the port goes
/// unfiltered, said once) rather than a fault that fails the join:
/// EPROTONOSUPPORT from socket(2) without nfnetlink, EOPNOTSUPP for the
/// batch when nf_tables is not loaded and could not be (the request
/// loads the module where that is allowed: Debian 12's 6.1 does; a
/// blacklist or disabled module loading forbids it),
/// ENOENT or EOPNOTSUPP for the netdev family or the filter chain type
/// when CONFIG_NF_TABLES_NETDEV is off, EAFNOSUPPORT for the family.
pub fn nftables_absent(errno: i32) -> bool {
    matches!(
        errno,
        libc::EPROTONOSUPPORT | libc::EOPNOTSUPP | libc::ENOENT | libc::EAFNOSUPPORT
    )
}

/// What burrow says, once per user-namespace holder, when a port goes
/// unfiltered because of `e` (`nftables_absent`).
pub fn absent_warning(e: &NetlinkError) -> String {
    format!(
        "this kernel has no nftables for burrow's user networks ({e}): containers on user \
         networks are not kept from claiming each other's addresses (MAC, IPv4, IPv6, ARP, \
         neighbour advertisements); an admin can `modprobe nf_tables` (and list it in \
         /etc/modules-load.d/), or build the kernel with CONFIG_NF_TABLES and \
         CONFIG_NF_TABLES_NETDEV"
    )
}

/// The table of the port `peer`: one per port, so that it is replaced or
/// removed whole.
fn table(peer: &str) -> String {
    format!("burrow-{peer}")
}

/// Opens a NETLINK_NETFILTER socket in this process's network namespace,
/// with a receive timeout (an answer that never comes is an error, not a
/// hang).
pub fn open_socket() -> Result<OwnedFd, NetlinkError> {
    use rustix::fd::FromRawFd;
    // SAFETY: plain socket(2); the fd is owned right below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(NetlinkError {
            what: "open a netfilter socket".into(),
            errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        });
    }
    // SAFETY: a new fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    // SAFETY: SO_RCVTIMEO takes a timeval of the given size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    Ok(fd)
}

/// Puts the filter on port `peer` (the bridge's end, in the socket's
/// namespace), replacing any earlier one: an ingress chain that drops
/// what `rules` does not accept.
pub fn install(
    socket: &OwnedFd,
    peer: &str,
    mac: [u8; 6],
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
) -> Result<(), NetlinkError> {
    let t = table(peer);
    let create = libc::NLM_F_CREATE;
    let mut b = Batch::new();
    // Made if missing, then removed with whatever it held, then made anew:
    // all in one transaction.
    b.op(
        NFT_MSG_NEWTABLE,
        create,
        format!("create the nftables table {t}"),
        &[text(NFTA_TABLE_NAME, &t)],
    );
    b.op(
        NFT_MSG_DELTABLE,
        0,
        format!("replace the nftables table {t}"),
        &[text(NFTA_TABLE_NAME, &t)],
    );
    b.op(
        NFT_MSG_NEWTABLE,
        create,
        format!("create the nftables table {t}"),
        &[text(NFTA_TABLE_NAME, &t)],
    );
    b.op(
        NFT_MSG_NEWCHAIN,
        create,
        format!("create the ingress chain of {peer} (nftables' netdev family)"),
        &[
            text(NFTA_CHAIN_TABLE, &t),
            text(NFTA_CHAIN_NAME, "ingress"),
            nest(
                NFTA_CHAIN_HOOK,
                &[
                    be32(NFTA_HOOK_HOOKNUM, NF_NETDEV_INGRESS),
                    be32(NFTA_HOOK_PRIORITY, 0),
                    text(NFTA_HOOK_DEV, peer),
                ],
            ),
            be32(NFTA_CHAIN_POLICY, NF_DROP),
            text(NFTA_CHAIN_TYPE, "filter"),
        ],
    );
    for rule in rules(mac, ipv4, ipv6) {
        let exprs: Vec<Vec<u8>> = rule.iter().map(expr_bytes).collect();
        b.op(
            NFT_MSG_NEWRULE,
            create | libc::NLM_F_APPEND,
            format!("add a rule to the ingress chain of {peer}"),
            &[
                text(NFTA_RULE_TABLE, &t),
                text(NFTA_RULE_CHAIN, "ingress"),
                nest(NFTA_RULE_EXPRESSIONS, &exprs),
            ],
        );
    }
    b.send(socket)
}

/// For `burrow doctor`: puts the filter a container's port gets on the
/// loopback of a new network namespace, as a user network's port would
/// be filtered (the same batch: table, netdev ingress chain, every kind
/// of rule). The caller is a forked, single-threaded child in a user
/// namespace of its own; the namespace and its table die with it. On a
/// kernel with nftables as a module, the request loads it (the kernel
/// asks modprobe for it) unless the admin forbade that.
pub fn probe_in_new_netns() -> Result<(), NetlinkError> {
    // SAFETY: unshare(2) of the calling process alone; it is the caller's
    // forked child and has no other threads.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
        return Err(NetlinkError {
            what: "unshare a network namespace".into(),
            errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        });
    }
    let socket = open_socket()?;
    install(
        &socket,
        "lo",
        [0x02, 0, 0, 0, 0, 1],
        Some(Ipv4Addr::new(10, 0, 0, 1)),
        Some(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
    )
}

/// Removes the filter of port `peer`, if there is one.
pub fn remove(socket: &OwnedFd, peer: &str) -> Result<(), NetlinkError> {
    let t = table(peer);
    let mut b = Batch::new();
    b.op(
        NFT_MSG_NEWTABLE,
        libc::NLM_F_CREATE,
        format!("create the nftables table {t}"),
        &[text(NFTA_TABLE_NAME, &t)],
    );
    b.op(
        NFT_MSG_DELTABLE,
        0,
        format!("remove the nftables table {t}"),
        &[text(NFTA_TABLE_NAME, &t)],
    );
    b.send(socket)
}

/// Whether port `peer` has a filter (its table) in the socket's
/// namespace: asked of the kernel, not of any record.
pub fn has_filter(socket: &OwnedFd, peer: &str) -> Result<bool, NetlinkError> {
    let t = table(peer);
    let what = format!("look up the nftables table {t}");
    let fail = |errno: i32| NetlinkError {
        what: what.clone(),
        errno,
    };
    let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let body = text(NFTA_TABLE_NAME, &t);
    let len = 16 + 4 + body.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE).to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&[NFPROTO_NETDEV, 0, 0, 0]);
    msg.extend_from_slice(&body);
    // SAFETY: sending our own buffer; the kernel is the default peer.
    if unsafe { libc::send(socket.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
        return Err(fail(errno()));
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut found = false;
    loop {
        // SAFETY: receiving into our own buffer of the given size.
        let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(fail(errno()));
        }
        let n = n as usize;
        let mut off = 0;
        while off + 16 <= n {
            let word = |p: usize| u32::from_ne_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
            let mlen = word(off) as usize;
            let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if mlen < 16 || off + mlen > n {
                break;
            }
            if kind == libc::NLMSG_ERROR as u16 && mlen >= 20 {
                return match -(word(off + 16) as i32) {
                    0 => Ok(found),
                    libc::ENOENT => Ok(false),
                    e => Err(fail(e)),
                };
            }
            if kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE {
                found = true;
            }
            off += align(mlen);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x42, 0xaa, 0xbb, 0xcc, 0xdd];

    #[test]
    fn link_local_is_the_eui64_of_the_mac() {
        assert_eq!(
            link_local(MAC).to_string(),
            "fe80::42:aaff:febb:ccdd".to_string()
        );
    }

    #[test]
    fn every_rule_checks_the_source_mac_and_accepts() {
        let v4 = Ipv4Addr::new(10, 89, 0, 2);
        let v6: Ipv6Addr = "fd89::2".parse().unwrap();
        let all = rules(MAC, Some(v4), Some(v6));
        for r in &all {
            assert_eq!(r[0], load(Base::Link, 6, 6), "{r:?}");
            assert_eq!(r[1], eq(&MAC), "{r:?}");
            assert_eq!(r.last(), Some(&Expr::Accept), "{r:?}");
        }
        // ARP names its own MAC and address as sender.
        let arp = &all[0];
        assert!(arp.contains(&eq(&ETH_P_ARP.to_be_bytes())));
        assert!(arp.contains(&eq(&v4.octets())));
        // A neighbour advertisement is accepted only for its own
        // addresses; no rule accepts any ICMPv6 type without looking at it.
        let na: Vec<_> = all
            .iter()
            .filter(|r| r.contains(&eq(&[ND_NEIGHBOR_ADVERT])))
            .collect();
        assert_eq!(na.len(), 4);
        for r in &na {
            let target = r[r.len() - 2].clone();
            assert!(
                target == eq(&v6.octets()) || target == eq(&link_local(MAC).octets()),
                "{r:?}"
            );
        }
        for r in all.iter().filter(|r| r.contains(&eq(&[IPPROTO_ICMPV6]))) {
            assert!(r.contains(&load(Base::Transport, 0, 1)), "{r:?}");
        }
        // Without IPv4: no ARP, no IPv4.
        let v6only = rules(MAC, None, Some(v6));
        assert!(!v6only
            .iter()
            .any(|r| r.contains(&eq(&ETH_P_ARP.to_be_bytes()))
                || r.contains(&eq(&ETH_P_IP.to_be_bytes()))));
    }

    #[test]
    fn only_a_missing_nftables_degrades_the_join() {
        for absent in [
            libc::EPROTONOSUPPORT,
            libc::EOPNOTSUPP,
            libc::ENOENT,
            libc::EAFNOSUPPORT,
        ] {
            assert!(nftables_absent(absent), "{absent}");
        }
        // Refused, out of memory, a bad message, no answer: the join fails.
        for fault in [
            libc::EPERM,
            libc::EACCES,
            libc::ENOMEM,
            libc::EINVAL,
            libc::EAGAIN,
            libc::EBUSY,
            libc::EEXIST,
            libc::ENOBUFS,
            0,
        ] {
            assert!(!nftables_absent(fault), "{fault}");
        }
        let e = NetlinkError {
            what: "open a netfilter socket".into(),
            errno: libc::EPROTONOSUPPORT,
        };
        let w = absent_warning(&e);
        assert!(w.contains("modprobe nf_tables"), "{w}");
        assert!(w.contains("CONFIG_NF_TABLES"), "{w}");
        assert!(w.contains("open a netfilter socket"), "{w}");
    }

    #[test]
    fn a_batch_is_framed_by_begin_and_end_and_acks_each_operation() {
        let mut b = Batch::new();
        b.op(
            NFT_MSG_NEWTABLE,
            libc::NLM_F_CREATE,
            "t".into(),
            &[text(NFTA_TABLE_NAME, "x")],
        );
        assert_eq!(b.asked.len(), 1);
        let kind = u16::from_ne_bytes([b.bytes[4], b.bytes[5]]);
        assert_eq!(kind, NFNL_MSG_BATCH_BEGIN);
        let first = u32::from_ne_bytes([b.bytes[0], b.bytes[1], b.bytes[2], b.bytes[3]]) as usize;
        let kind = u16::from_ne_bytes([b.bytes[first + 4], b.bytes[first + 5]]);
        assert_eq!(kind, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE);
        assert_eq!(b.bytes[first + 16], NFPROTO_NETDEV);
        assert_eq!(b.bytes.len() % 4, 0);
    }
}
