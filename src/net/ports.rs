//! Published ports: `-p [IP:]HOSTPORT:CTRPORT[/tcp|udp]` and ranges.

use super::NetError;
use super::{GUEST_V4, GUEST_V6};
use crate::forked::{ChannelError, ChildSide, Fork, ForkError, Heard, Started};
use nix::sys::socket::SockaddrStorage;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::net::{SocketAddr, TcpListener, UdpSocket};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProto {
    Tcp,
    Udp,
}

impl std::fmt::Display for PortProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PortProto::Tcp => "tcp",
            PortProto::Udp => "udp",
        })
    }
}

/// One host port carried to one container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The host address listened on; `None` is every address.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: PortProto,
}

impl std::fmt::Display for PublishedPort {
    /// docker's `port` line: `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self.host_ip.map_or("0.0.0.0".to_string(), |ip| match ip {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        });
        write!(
            f,
            "{}/{} -> {ip}:{}",
            self.container_port, self.proto, self.host_port
        )
    }
}

impl PublishedPort {
    /// `ps`'s form: `127.0.0.1:8080->80/tcp`.
    pub fn short(&self) -> String {
        let ip = self.host_ip.map_or("0.0.0.0".to_string(), |ip| match ip {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        });
        format!(
            "{ip}:{}->{}/{}",
            self.host_port, self.container_port, self.proto
        )
    }
}

/// A container port and its protocol, docker's `80/tcp`: what EXPOSE,
/// `--expose` and `-p` declare; a record keeps them as docker's config's
/// `ExposedPorts` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExposedPort {
    pub port: u16,
    pub proto: PortProto,
}

impl std::fmt::Display for ExposedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

impl std::str::FromStr for ExposedPort {
    type Err = NetError;

    /// `80/tcp`, `53/udp`, or `80` (tcp).
    fn from_str(s: &str) -> Result<ExposedPort, NetError> {
        match s.parse::<PortRange>()? {
            PortRange { first, last, proto } if first == last => {
                Ok(ExposedPort { port: first, proto })
            }
            _ => Err(NetError::Port {
                spec: s.into(),
                why: "one port, not a range".into(),
            }),
        }
    }
}

impl Serialize for ExposedPort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExposedPort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ExposedPort, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Container ports as docker's `--expose` and `ps --filter publish|expose`
/// take them: `PORT[-PORT][/tcp|udp]`, tcp when no protocol is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
    pub proto: PortProto,
}

impl std::str::FromStr for PortRange {
    type Err = NetError;

    fn from_str(s: &str) -> Result<PortRange, NetError> {
        let bad = |why: &str| NetError::Port {
            spec: s.to_string(),
            why: why.to_string(),
        };
        let (body, proto) = match s.rsplit_once('/') {
            Some((b, "tcp")) => (b, PortProto::Tcp),
            Some((b, "udp")) => (b, PortProto::Udp),
            Some(_) => return Err(bad("the protocol must be tcp or udp")),
            None => (s, PortProto::Tcp),
        };
        let (first, last) =
            range(body).ok_or_else(|| bad("a port is 1-65535, a range FIRST-LAST"))?;
        Ok(PortRange { first, last, proto })
    }
}

impl PortRange {
    /// Each port of the range.
    pub fn ports(self) -> impl Iterator<Item = ExposedPort> {
        (self.first..=self.last).map(move |port| ExposedPort {
            port,
            proto: self.proto,
        })
    }

    pub fn contains(&self, p: ExposedPort) -> bool {
        p.proto == self.proto && (self.first..=self.last).contains(&p.port)
    }
}

impl PublishedPort {
    /// The container side of the port.
    pub fn exposed(&self) -> ExposedPort {
        ExposedPort {
            port: self.container_port,
            proto: self.proto,
        }
    }
}

fn range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
    (a > 0 && a <= b).then_some((a, b))
}

/// `-p` in docker's forms: `CTR`, `HOST:CTR`, `IP:HOST:CTR`, `IP::CTR`,
/// each port a number or a range, `/tcp` or `/udp` after. A missing host
/// port is 0: the kernel picks a free one when it is bound, as docker
/// does.
pub fn parse_publish(spec: &str) -> Result<Vec<PublishedPort>, NetError> {
    let bad = |why: &str| NetError::Publish {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let (body, proto) = match spec.rsplit_once('/') {
        Some((b, "tcp")) => (b, PortProto::Tcp),
        Some((b, "udp")) => (b, PortProto::Udp),
        Some(_) => return Err(bad("the protocol must be tcp or udp")),
        None => (spec, PortProto::Tcp),
    };
    // An IPv6 host address is bracketed: [::1]:8080:80.
    let (ip, rest) = if let Some(r) = body.strip_prefix('[') {
        let (ip, rest) = r.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        (
            Some(ip),
            rest.strip_prefix(':')
                .ok_or_else(|| bad("expected : after ]"))?,
        )
    } else {
        match body.matches(':').count() {
            0 | 1 => (None, body),
            2 => {
                let (ip, rest) = body.split_once(':').unwrap_or(("", body));
                (Some(ip), rest)
            }
            _ => return Err(bad("too many colons (bracket an IPv6 address)")),
        }
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| bad("the host address is not an IP address"))?,
        ),
    };
    let (host, ctr) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest),
    };
    let (c0, c1) =
        range(ctr).ok_or_else(|| bad("the container port must be 1-65535 or a range"))?;
    let host_ports = if host.is_empty() {
        None
    } else {
        let (h0, h1) =
            range(host).ok_or_else(|| bad("the host port must be 1-65535 or a range"))?;
        if h1 - h0 != c1 - c0 {
            return Err(bad("the host and container ranges differ in length"));
        }
        Some(h0)
    };
    Ok((0..=c1 - c0)
        .map(|i| PublishedPort {
            host_ip,
            host_port: host_ports.map_or(0, |h0| h0 + i),
            container_port: c0 + i,
            proto,
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Carrying published ports into the container.
//
// The host side listens as the user. For each client, a socket is made
// INSIDE the container's network namespace by a helper process (forked
// while the supervisor is single-threaded, then entering the container's
// user and network namespaces: a multi-threaded process cannot), bound to
// the client's own address and connected to the container; the two kernel
// sockets are then spliced together. The container sees the real client
// address: a loopback client's (127.0.0.5 stays 127.0.0.5) as an address
// of its own loopback, any other with IP_TRANSPARENT, which the
// namespace's root may set, plus a policy route sending the container
// port's replies back to the local socket.
//
// A TCP server that binds a published port itself is served without any of
// this when the sandbox's socket notifier is on: it gets the host port (see
// `direct`), and the port's listener here is closed until it lets go. The
// same notifier's connects to the gateway are answered here too, so a
// forwarder runs for it even with no published port (and no helper then).
// ---------------------------------------------------------------------------

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}

pub(super) fn last() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// The lowest port an unprivileged user may bind.
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

fn listen_error(p: &PublishedPort, addr: SocketAddr, source: std::io::Error) -> NetError {
    let hint = match source.raw_os_error() {
        Some(libc::EADDRINUSE) => format!(
            "; another program (or container) already uses {} port {}: choose another host port",
            p.proto, p.host_port
        ),
        Some(libc::EACCES) if p.host_port < unprivileged_port_start() => format!(
            "; ports below {} need privileges (sysctl net.ipv4.ip_unprivileged_port_start): \
             publish on a higher host port, e.g. -p {}:{}",
            unprivileged_port_start(),
            p.host_port as u32 + 8000,
            p.container_port
        ),
        Some(libc::EADDRNOTAVAIL) => "; that address is not one of this host's".into(),
        _ => String::new(),
    };
    NetError::Listen {
        addr,
        proto: p.proto,
        source,
        hint,
    }
}

/// Host ports held for the containers of this user, as docker's daemon
/// holds them: a lock on `DIR/PROTO-PORT` for each, taken before the port
/// is bound and released when the holder ends (a lock dies with its
/// process, whatever the way). The kernel's bind cannot be the only
/// check: while a container's server takes over its port (see `direct`),
/// and between a restart and the next bind, the port is free in the
/// kernel but not free to give to another container.
///
/// Each address has its own byte of the file, and the wildcard the whole
/// file: `127.0.0.1:80` and `127.0.0.2:80` may both be held, neither of
/// them with `0.0.0.0:80`.
#[derive(Debug, Default)]
pub struct PortReservation(Vec<OwnedFd>);

impl PortReservation {
    /// Holds every port of `ports` with a host port (`-P`'s 0 is the
    /// kernel's to pick: held once bound), or none: the first one taken
    /// by someone else is `NetError::Allocated`.
    pub fn take(
        dir: &std::path::Path,
        ports: &[PublishedPort],
    ) -> Result<PortReservation, NetError> {
        let mut held = PortReservation::default();
        for p in ports.iter().filter(|p| p.host_port != 0) {
            held.0.push(reserve(dir, p)?);
        }
        Ok(held)
    }

    /// Adds what `other` holds.
    pub fn extend(&mut self, other: PortReservation) {
        self.0.extend(other.0);
    }
}

/// The bytes of a port's lock file that `ip` locks: the whole file for
/// the wildcard of either family (it takes the port on every address),
/// one byte per address else (an IPv6 one by a hash of it, past the IPv4
/// ones: two addresses sharing a byte only refuse each other).
fn lock_range(ip: Option<IpAddr>) -> (i64, i64) {
    let ip = match ip {
        Some(IpAddr::V6(a)) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
        other => other.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
    };
    match ip {
        a if a.is_unspecified() => (0, 0),
        IpAddr::V4(a) => (1 + i64::from(u32::from(a)), 1),
        IpAddr::V6(a) => {
            // FNV-1a: stable across versions, unlike std's hasher.
            let h = a.octets().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            ((1 << 33) + (h >> 4) as i64, 1)
        }
    }
}

fn reserve(dir: &std::path::Path, p: &PublishedPort) -> Result<OwnedFd, NetError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = dir.join(format!("{}-{}", p.proto, p.host_port));
    let io = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| NetError::Io { what, source }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create the directory of"))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io("open the port lock"))?;
    let (start, len) = lock_range(p.host_ip);
    // SAFETY: an all-zero flock is a valid value; the fields that matter
    // are set below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = start;
    lock.l_len = len;
    // An open file description lock: held by this fd (and copies of it),
    // not by the process, so it is neither shared with nor lost to forks.
    // SAFETY: F_OFD_SETLK reads one struct flock.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) } < 0 {
        let e = last();
        return Err(match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => NetError::Allocated { addr: host_addr(p) },
            _ => io("lock")(e),
        });
    }
    Ok(OwnedFd::from(file))
}

/// The host's listening socket for one published port.
pub(super) enum HostSocket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

fn host_addr(p: &PublishedPort) -> SocketAddr {
    SocketAddr::new(
        p.host_ip
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        p.host_port,
    )
}

pub(super) fn bind_host(p: &PublishedPort) -> Result<HostSocket, NetError> {
    let addr = host_addr(p);
    let s = match p.proto {
        PortProto::Tcp => {
            HostSocket::Tcp(TcpListener::bind(addr).map_err(|e| listen_error(p, addr, e))?)
        }
        PortProto::Udp => {
            HostSocket::Udp(UdpSocket::bind(addr).map_err(|e| listen_error(p, addr, e))?)
        }
    };
    match &s {
        HostSocket::Tcp(l) => l.set_nonblocking(true),
        HostSocket::Udp(u) => u.set_nonblocking(true),
    }
    .map_err(io_err("set the listener non-blocking"))?;
    Ok(s)
}

/// The process inside the container's network namespace that makes
/// sockets there on request: a child on `crate::forked`'s channel, whose
/// steps are its answers.
pub(super) struct InsideSockets {
    helper: Started<HelperSays, (), InsideError>,
}

/// A socket inside, for a client of a published port.
#[derive(Debug, Serialize, Deserialize)]
struct SocketRequest {
    proto: PortProto,
    client: SocketAddr,
    port: u16,
}

/// What the helper says, one step at a time.
#[derive(Debug, Serialize, Deserialize)]
enum HelperSays {
    /// It closed every fd it inherited: the parent may go on.
    Ready,
    /// The socket asked for rides along, or why there is none.
    Socket(Result<(), InsideError>),
}

/// What the helper could not do inside the container, as it reports it
/// across the fork.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum InsideError {
    #[error(
        "cannot enter the user and network namespaces of the container's process {pid}: {}",
        std::io::Error::from_raw_os_error(*errno)
    )]
    Join { pid: i32, errno: i32 },
    #[error(
        "cannot make a socket in the container for {client} to its port {port}/{proto}: {}",
        std::io::Error::from_raw_os_error(*errno)
    )]
    Socket {
        proto: PortProto,
        client: SocketAddr,
        port: u16,
        errno: i32,
    },
    #[error("an unreadable request from the supervisor: {0}")]
    Request(String),
}

/// Why the published ports' helper could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum PortHelperError {
    #[error("the published ports have no container process {0} to join")]
    NoProcess(i32),
    #[error(
        "cannot open a pidfd of the container's process {pid} for its published ports: {source}"
    )]
    Pidfd { pid: i32, source: std::io::Error },
    /// Forking, talking to or losing the helper.
    #[error(transparent)]
    Fork(#[from] ForkError),
    #[error("{WHAT}: {0}")]
    Inside(#[from] InsideError),
    #[error("{WHAT} answered out of turn")]
    OutOfTurn,
}

/// The helper, in the user's words.
const WHAT: &str = "the published ports' helper";

impl InsideSockets {
    /// Forks the helper into the namespaces of `pid`. The caller must be
    /// single-threaded.
    pub(super) fn start(
        pid: i32,
        ports: &[PublishedPort],
    ) -> Result<InsideSockets, PortHelperError> {
        // A pidfd, not /proc/PID/ns/*: those need ptrace access to pid 1,
        // which an init that is not dumpable does not give.
        let target = rustix::process::Pid::from_raw(pid).ok_or(PortHelperError::NoProcess(pid))?;
        let pidfd = rustix::process::pidfd_open(target, rustix::process::PidfdFlags::empty())
            .map_err(|e| PortHelperError::Pidfd {
                pid,
                source: e.into(),
            })?;
        let helper = crate::forked::start(Fork::new(WHAT), move |side| {
            serve_inside(side, pidfd, pid, ports)
        })?;
        let mut helper = InsideSockets { helper };
        // Not before the helper has closed what it inherited: the
        // published ports' host sockets among them, which a container's
        // server bound directly must be the only one to hold.
        match helper.helper.hear()? {
            Heard::Step(HelperSays::Ready, _) => Ok(helper),
            Heard::Done(Err(e)) => Err(e.into()),
            _ => Err(PortHelperError::OutOfTurn),
        }
    }

    /// A socket inside, bound to `client` where it can be and connected
    /// (non-blocking) to the container's `port`.
    pub(super) fn socket(
        &mut self,
        proto: PortProto,
        client: SocketAddr,
        port: u16,
    ) -> Result<OwnedFd, PortHelperError> {
        let req = SocketRequest {
            proto,
            client,
            port,
        };
        self.helper.tell(&req, None)?;
        match self.helper.hear()? {
            Heard::Step(HelperSays::Socket(Ok(())), Some(fd)) => Ok(fd),
            Heard::Step(HelperSays::Socket(Err(e)), _) | Heard::Done(Err(e)) => Err(e.into()),
            _ => Err(PortHelperError::OutOfTurn),
        }
    }
}

/// The helper: closes what it inherited, enters the namespaces, sets the
/// return route for transparent sockets, then answers requests until the
/// supervisor goes.
fn serve_inside(
    side: &ChildSide<HelperSays>,
    pidfd: OwnedFd,
    pid: i32,
    ports: &[PublishedPort],
) -> Result<(), InsideError> {
    // Nothing of the supervisor's stays open here: a pipe someone waits
    // to see closed (a report to the CLI, a client's socket), or a host
    // port's socket, would stay open as long as this helper lives. First,
    // before the parent goes on (it waits for the word below).
    crate::forked::close_fds_except(3, &[pidfd.as_raw_fd(), side.raw_fd()]);
    if side.step(&HelperSays::Ready, None).is_err() {
        // The supervisor went away.
        return Ok(());
    }
    // SAFETY: prctl on this forked, single-threaded helper, plain integers.
    let orphaned = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        // In the container's user namespace, where its root holds every
        // capability: not dumpable before it joins.
        libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0);
        libc::getppid() == 1
    };
    if orphaned {
        // The supervisor went away before the death signal was set.
        return Ok(());
    }
    crate::setns::join(pid, pidfd.as_fd(), libc::CLONE_NEWUSER | libc::CLONE_NEWNET).map_err(
        |e| InsideError::Join {
            pid,
            errno: e.errno(),
        },
    )?;
    drop(pidfd);
    return_routes(ports);
    loop {
        let (said, fd) = match side.request::<SocketRequest>() {
            Ok(Some((req, _))) => match inside_socket(req.proto, req.client, req.port) {
                Ok(fd) => (Ok(()), Some(fd)),
                Err(e) => (
                    Err(InsideError::Socket {
                        proto: req.proto,
                        client: req.client,
                        port: req.port,
                        errno: e.raw_os_error().unwrap_or(libc::EIO),
                    }),
                    None,
                ),
            },
            Err(ChannelError::Decode(why)) => (Err(InsideError::Request(why)), None),
            // The supervisor went away.
            Ok(None) | Err(_) => return Ok(()),
        };
        if side
            .step(&HelperSays::Socket(said), fd.as_ref().map(|f| f.as_fd()))
            .is_err()
        {
            return Ok(());
        }
    }
}

/// Replies from a published container port to a non-local client go to
/// the local transparent socket, not out of the tap: a rule per port
/// (source port, table 100) and a `local` default route in table 100.
/// Best effort: without them a remote client's address cannot be kept and
/// `inside_socket` falls back to an unbound socket.
fn return_routes(ports: &[PublishedPort]) {
    let Ok(mut nl) = super::netlink::Netlink::open() else {
        return;
    };
    let mut done = std::collections::HashSet::new();
    for p in ports {
        if done.insert((p.proto, p.container_port)) {
            for v6 in [false, true] {
                let _ = nl.add_sport_rule(
                    v6,
                    p.proto == PortProto::Tcp,
                    p.container_port,
                    RETURN_TABLE,
                );
            }
        }
    }
    for v6 in [false, true] {
        let _ = nl.add_local_default(v6, RETURN_TABLE);
    }
}

const RETURN_TABLE: u32 = 100;

/// The container's address for `port`, in the client's family.
pub(super) fn guest_addr(client: SocketAddr, port: u16) -> SocketAddr {
    match client {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(GUEST_V4), port),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(GUEST_V6), port),
    }
}

fn inside_socket(proto: PortProto, client: SocketAddr, port: u16) -> std::io::Result<OwnedFd> {
    let target = guest_addr(client, port);
    let family = match client {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let kind = match proto {
        PortProto::Tcp => libc::SOCK_STREAM,
        PortProto::Udp => libc::SOCK_DGRAM,
    };
    // SAFETY: plain socket(2); owned right below.
    let fd = unsafe { libc::socket(family, kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(last());
    }
    // SAFETY: a new fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let on: libc::c_int = 1;
    let set = |level, opt| {
        // SAFETY: setsockopt with an int option value.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                opt,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    set(libc::SOL_SOCKET, libc::SO_REUSEADDR);
    if !client.ip().is_loopback() {
        match family {
            libc::AF_INET => set(libc::SOL_IP, libc::IP_TRANSPARENT),
            _ => set(libc::SOL_IPV6, libc::IPV6_TRANSPARENT),
        };
    }
    let bound = nix::sys::socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(client)).is_ok();
    if !bound {
        // The address is lost, the connection is not: an unbound socket.
        // SAFETY: as above.
        let fd2 =
            unsafe { libc::socket(family, kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
        if fd2 < 0 {
            return Err(last());
        }
        // SAFETY: a new fd nobody else owns.
        let fd2 = unsafe { OwnedFd::from_raw_fd(fd2) };
        return connect_to(proto, fd2, target);
    }
    connect_to(proto, fd, target)
}

/// TCP connects (non-blocking). UDP does not: the server's replies come
/// from whichever address its routing picks (127.0.0.1 towards a loopback
/// client), which a connected socket would drop.
fn connect_to(proto: PortProto, fd: OwnedFd, target: SocketAddr) -> std::io::Result<OwnedFd> {
    if proto == PortProto::Udp {
        return Ok(fd);
    }
    match nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(target)) {
        Ok(()) | Err(nix::Error::EINPROGRESS) => Ok(fd),
        Err(e) => Err(std::io::Error::from_raw_os_error(e as i32)),
    }
}

/// One direction of a spliced TCP connection: socket -> pipe -> socket.
pub(super) struct Half {
    pipe_r: OwnedFd,
    pipe_w: OwnedFd,
    queued: usize,
    eof: bool,
    pub(super) shut: bool,
}

const PIPE_SIZE: usize = 1 << 20;

impl Half {
    fn new() -> std::io::Result<Half> {
        let (r, w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let _ = rustix::pipe::fcntl_setpipe_size(&w, PIPE_SIZE);
        Ok(Half {
            pipe_r: r,
            pipe_w: w,
            queued: 0,
            eof: false,
            shut: false,
        })
    }

    /// Moves what it can; Err when the connection is broken.
    pub(super) fn step(&mut self, from: BorrowedFd, to: BorrowedFd) -> std::io::Result<()> {
        let flags = (libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE) as libc::c_uint;
        loop {
            let mut moved = false;
            if !self.eof && self.queued < PIPE_SIZE {
                // SAFETY: splice between fds we own, no offsets.
                let n = unsafe {
                    libc::splice(
                        from.as_raw_fd(),
                        std::ptr::null_mut(),
                        self.pipe_w.as_raw_fd(),
                        std::ptr::null_mut(),
                        PIPE_SIZE,
                        flags,
                    )
                };
                match n {
                    0 => self.eof = true,
                    n if n > 0 => {
                        self.queued += n as usize;
                        moved = true;
                    }
                    _ => {
                        let e = last();
                        if e.kind() != std::io::ErrorKind::WouldBlock {
                            return Err(e);
                        }
                    }
                }
            }
            if self.queued > 0 {
                // SAFETY: as above.
                let n = unsafe {
                    libc::splice(
                        self.pipe_r.as_raw_fd(),
                        std::ptr::null_mut(),
                        to.as_raw_fd(),
                        std::ptr::null_mut(),
                        self.queued,
                        flags,
                    )
                };
                if n > 0 {
                    self.queued -= n as usize;
                    moved = true;
                } else if n < 0 {
                    let e = last();
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        return Err(e);
                    }
                }
            }
            if self.eof && self.queued == 0 && !self.shut {
                // SAFETY: shutdown on a socket we own.
                unsafe { libc::shutdown(to.as_raw_fd(), libc::SHUT_WR) };
                self.shut = true;
            }
            if !moved {
                return Ok(());
            }
        }
    }

    pub(super) fn events(&self) -> (i16, i16) {
        let read = if !self.eof && self.queued < PIPE_SIZE {
            libc::POLLIN
        } else {
            0
        };
        let write = if self.queued > 0 { libc::POLLOUT } else { 0 };
        (read, write)
    }
}

/// One spliced TCP connection: `outside` is the client's side.
pub(super) struct Relay {
    pub(super) outside: OwnedFd,
    pub(super) inside: OwnedFd,
    pub(super) up: Half,
    pub(super) down: Half,
}

impl Relay {
    pub(super) fn new(outside: OwnedFd, inside: OwnedFd) -> std::io::Result<Relay> {
        Ok(Relay {
            outside,
            inside,
            up: Half::new()?,
            down: Half::new()?,
        })
    }
}

/// A published port and its host socket. `None` while the container's
/// own server holds the port (a direct port, see `direct`), or when binding
/// it again failed (tried again every sweep).
pub(super) struct Listener {
    pub(super) port: PublishedPort,
    pub(super) socket: Option<HostSocket>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_helper_for_no_process_says_which() {
        match InsideSockets::start(0, &[]) {
            Err(PortHelperError::NoProcess(0)) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a helper for pid 0"),
        }
        match InsideSockets::start(i32::MAX, &[]) {
            Err(e @ PortHelperError::Pidfd { pid: i32::MAX, .. }) => assert!(
                e.to_string().starts_with(
                    "cannot open a pidfd of the container's process 2147483647 for its \
                     published ports: "
                ),
                "{e}"
            ),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a helper for pid {}", i32::MAX),
        }
    }

    #[test]
    fn a_reserved_host_port_is_refused_until_its_holder_lets_go() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("ports");
        let at = |s: &str| parse_publish(s).unwrap();
        let first = PortReservation::take(&dir, &at("127.0.0.1:8080:80")).unwrap();
        for taken in [
            "127.0.0.1:8080:81",
            "8080:80",
            "[::]:8080:80",
            "[::ffff:127.0.0.1]:8080:80",
        ] {
            let e = PortReservation::take(&dir, &at(taken)).unwrap_err();
            assert!(matches!(e, NetError::Allocated { .. }), "{taken}: {e}");
        }
        assert_eq!(
            PortReservation::take(&dir, &at("127.0.0.1:8080:80"))
                .unwrap_err()
                .to_string(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        // Other addresses, protocols and ports are free, and -P's 0 is
        // not held before the kernel picks it.
        for free in [
            "127.0.0.2:8080:80",
            "[::1]:8080:80",
            "127.0.0.1:8080:80/udp",
            "8081:80",
        ] {
            PortReservation::take(&dir, &at(free)).unwrap();
        }
        let mut any = at("8080:80");
        any[0].host_port = 0;
        PortReservation::take(&dir, &any).unwrap();
        // All or none: a set with a taken port holds nothing.
        let mut one = PortReservation::take(&dir, &at("9001:91")).unwrap();
        assert!(PortReservation::take(&dir, &at("9000-9001:90-91")).is_err());
        one.extend(PortReservation::take(&dir, &at("9000:90")).unwrap());
        assert!(PortReservation::take(&dir, &at("9000:90")).is_err());
        drop(one);
        let _both = PortReservation::take(&dir, &at("9000-9001:90-91")).unwrap();
        drop(first);
        PortReservation::take(&dir, &at("8080:80")).unwrap();
    }

    #[test]
    fn publish_forms_and_ranges_parse() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            p,
            vec![PublishedPort {
                host_ip: None,
                host_port: 8080,
                container_port: 80,
                proto: PortProto::Tcp
            }]
        );
        let p = parse_publish("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(p[0].host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p[0].proto, PortProto::Udp);
        let p = parse_publish("[::1]:9000-9002:7000-7002").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!((p[2].host_port, p[2].container_port), (9002, 7002));
        // No host port: 0, a free one picked when bound.
        assert_eq!(parse_publish("80").unwrap()[0].host_port, 0);
        assert_eq!(p[0].to_string(), "7000/tcp -> [::1]:9000");
        let p = parse_publish("127.0.0.1::80-81").unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.host_port == 0), "{p:?}");
        assert_eq!(p[1].container_port, 81);
        assert_eq!(p[0].host_ip, Some("127.0.0.1".parse().unwrap()));
        for bad in [
            "0:80",
            "1-3:1-2",
            "x:80",
            "80/sctp",
            "1.2.3:80:80",
            "a:b:c:d",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }
}
