//! Direct published ports: the container's bind(2) calls arrive here from
//! the sandbox's seccomp notifier, and a TCP server binding a published
//! port gets, in place of its socket, one bound to the host port in the
//! HOST's network namespace. It then listens and accepts on the host
//! itself: no relay, the host's loopback speed, the real client address.
//! This module answers every notification, never blocks on one, and never
//! keeps a copy of a socket it handed out.
//!
//! Served directly: a TCP socket (AF_INET or AF_INET6, SOCK_STREAM) bound
//! to the wildcard address or the container's own (10.0.2.100, fd00::100)
//! on a container port published once as TCP, by a process under the filter
//! (the command, the init and their children). The container's own clients
//! still reach such a server at `localhost:PORT` (or 10.0.2.100:PORT): the
//! caller's original socket stays with burrow, bound inside as asked and
//! listening, and what connects to it is spliced to the host port (the
//! server sees those clients as the host's loopback).
//!
//! Left to the kernel (the bind happens inside, as asked; the relay of
//! `ports` carries the port as before): UDP; other addresses (127.0.0.1 in
//! the container); a container port published twice; an IPv4 server with an
//! IPv6 host address, an IPV6_V6ONLY server with an IPv4 or wildcard host
//! address; a port below 1024 for a caller without CAP_NET_BIND_SERVICE;
//! `burrow exec`'d processes (they do not inherit the filter); and any bind
//! where a step fails.
//!
//! What a directly served container sees differently: getsockname() on the
//! server's socket is the host's address and port; those sockets and their
//! connections are not in the container's /proc/net/tcp (netstat, ss);
//! and a socket in the host's namespace answers the host's interface
//! queries (SIOCGIFCONF) and can connect out from the host, which is why
//! `container::network` turns direct ports off unless the container may
//! reach the host's loopback anyway (`network.host_loopback`). Between the
//! bind and the server's listen(), a container client of `localhost:PORT`
//! is accepted by burrow and then closed where the kernel would refuse it.
//! Between the server closing its socket and the next sweep (a few
//! seconds), the host port is free, and a host program may take it.

mod connect;

use super::ports::{bind_host, Listener, PortProto, PublishedPort, Relay};
use super::{GUEST_V4, GUEST_V6};
use crate::notify::{read_memory, Listener as NotifyListener, Ready, Response, Server};
use nix::sys::socket::SockaddrStorage;
use rustix::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener};
use std::time::{Duration, Instant};

/// The longest address bind(2) takes (sizeof(struct sockaddr_storage)):
/// a longer one is the kernel's EINVAL to give.
const SOCKADDR_MAX: usize = 128;
/// A new network namespace's `ip_unprivileged_port_start`, which burrow
/// leaves as it is in the container.
const PROT_SOCK: u16 = 1024;
const CAP_NET_BIND_SERVICE: u32 = 10;
/// linux/pidfd.h: a pidfd for a thread (the notification names the
/// calling thread); kernels before 6.9 refuse it with EINVAL.
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;
/// Notifications taken per round, so relays are not starved by a storm.
const BATCH: usize = 64;
/// Host sockets handed out at once at most (SO_REUSEPORT lets a
/// container bind one port many times; burrow keeps an fd for each).
const MAX_HANDOFFS: usize = 1024;
/// How often handed-out ports are checked for having come back.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The answer to one bind or connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The kernel does the call as asked (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    Continue,
    /// Done here: bind(2) returns 0.
    Bound,
    /// Done here: connect(2) returns 0.
    Connected,
    /// Done here: the call fails with this errno.
    Failed(i32),
}

/// The address a bind(2) passed, read as the kernel reads it for an
/// AF_INET or AF_INET6 socket: at least `sizeof(struct sockaddr_in)` or the
/// RFC 2133 `sockaddr_in6` (no scope id) respectively. Anything else, or
/// too short, is `None`.
pub(super) fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match family as i32 {
        libc::AF_INET if b.len() >= 16 => {
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 if b.len() >= 24 => {
            let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(&b[8..24]).ok()?);
            let scope = match b.get(24..28) {
                Some(s) => u32::from_ne_bytes([s[0], s[1], s[2], s[3]]),
                None => 0,
            };
            Some(SocketAddr::V6(SocketAddrV6::new(ip, port, flow, scope)))
        }
        _ => None,
    }
}

/// The published port a bind is served for, by its index in `ports`: a
/// TCP socket (`domain`, `sotype`, `protocol` as SO_DOMAIN, SO_TYPE and
/// SO_PROTOCOL give them) binding an address of its own family that is the
/// wildcard or the container's own, on a container port published exactly
/// once as TCP.
pub(super) fn choose(
    domain: i32,
    sotype: i32,
    protocol: i32,
    asked: SocketAddr,
    ports: &[PublishedPort],
) -> Option<usize> {
    let family = matches!(
        (domain, asked),
        (libc::AF_INET, SocketAddr::V4(_)) | (libc::AF_INET6, SocketAddr::V6(_))
    );
    if !family || sotype != libc::SOCK_STREAM || protocol != libc::IPPROTO_TCP {
        return None;
    }
    let ours = match asked.ip() {
        IpAddr::V4(a) => a.is_unspecified() || a == GUEST_V4,
        IpAddr::V6(a) => a.is_unspecified() || a == GUEST_V6,
    };
    if !ours || asked.port() == 0 {
        return None;
    }
    let mut tcp = ports
        .iter()
        .enumerate()
        .filter(|(_, p)| p.proto == PortProto::Tcp && p.container_port == asked.port());
    let (i, _) = tcp.next()?;
    // Twice published, one socket cannot be both: the relay serves both.
    tcp.next().is_none().then_some(i)
}

/// Where a direct socket of family `domain` binds on the host for `p`: its
/// host address (an IPv4 one v4-mapped for an IPv6 socket), or the wildcard
/// of the socket's family. `None` when the families cannot meet.
pub(super) fn host_address(domain: i32, v6only: bool, p: &PublishedPort) -> Option<SocketAddr> {
    let port = p.host_port;
    if port == 0 {
        return None;
    }
    let ip = match (domain, p.host_ip) {
        (libc::AF_INET, None) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (libc::AF_INET, Some(IpAddr::V4(a))) => IpAddr::V4(a),
        (libc::AF_INET6, Some(IpAddr::V6(a))) => IpAddr::V6(a),
        (libc::AF_INET6, Some(IpAddr::V4(a))) if !v6only => IpAddr::V6(a.to_ipv6_mapped()),
        (libc::AF_INET6, None) if !v6only => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Where burrow connects, on the host, to reach a server whose socket is
/// bound at `bound`: the loopback address for a wildcard.
fn host_target(bound: SocketAddr, v6only: bool) -> SocketAddr {
    let port = bound.port();
    match bound.ip() {
        IpAddr::V4(a) if a.is_unspecified() => (Ipv4Addr::LOCALHOST, port).into(),
        IpAddr::V6(a) if a.is_unspecified() && v6only => (Ipv6Addr::LOCALHOST, port).into(),
        IpAddr::V6(a) if a.is_unspecified() => (Ipv4Addr::LOCALHOST, port).into(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (v4, port).into(),
            None => bound,
        },
        IpAddr::V4(_) => bound,
    }
}

/// A host socket handed to the container.
struct Handoff {
    /// The published port's index in the forwarder's listeners.
    index: usize,
    /// Its data word in `DirectPorts::watch`.
    token: u64,
    /// The caller's original socket, bound inside as asked and listening,
    /// for the container's own clients (`None` if listening failed).
    inside: Option<TcpListener>,
    /// The server's host address, for what `inside` accepts.
    target: SocketAddr,
}

/// The bind notifier's listener and the ports served through it.
pub(super) struct DirectPorts {
    /// `None` once every process under the filter is gone.
    notify: Option<NotifyListener>,
    /// The server of the listener's other calls (root emulation's, when
    /// one filter notifies both): the network's own are bind and connect.
    others: Option<Box<dyn Server>>,
    /// An epoll set holding every host socket handed out, with no events
    /// asked: the kernel drops a socket from it when its last copy is
    /// closed, which tells burrow the container let go of a port without
    /// burrow keeping a copy (the port must be free when it does). Without
    /// it, every bind goes on as asked.
    watch: Option<OwnedFd>,
    handoffs: Vec<Handoff>,
    next_token: u64,
    last_sweep: Instant,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// An fd a syscall just returned, owned.
fn owned(fd: libc::c_long) -> Option<OwnedFd> {
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: a new fd the kernel just gave us; nobody else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn getsockopt_int(fd: &OwnedFd, level: i32, opt: i32) -> Option<i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(v)
}

fn setsockopt_int(fd: &OwnedFd, level: i32, opt: i32, v: i32) -> bool {
    // SAFETY: setsockopt reads one int from `v`.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// A pidfd for thread `tid` (a thread pidfd where the kernel has them,
/// else the thread must lead its group).
fn pidfd_of(tid: u32) -> Option<OwnedFd> {
    for flags in [PIDFD_THREAD, 0] {
        // SAFETY: pidfd_open takes a pid and flags, no pointers.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid as libc::pid_t, flags) };
        if fd >= 0 {
            return owned(fd);
        }
        if errno() != libc::EINVAL {
            return None;
        }
    }
    None
}

/// A copy of fd `fd` of the process behind `pidfd` (close-on-exec here).
fn steal_fd(pidfd: &OwnedFd, fd: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_getfd takes two fds and flags, no pointers.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0u32) })
}

/// Whether fd `fd` of thread `tid` is close-on-exec ("flags:" in its
/// fdinfo, in octal).
fn fd_cloexec(tid: u32, fd: i32) -> Option<bool> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())?;
    Some(flags & libc::O_CLOEXEC as u32 != 0)
}

/// Whether thread `tid` holds CAP_NET_BIND_SERVICE (its effective set).
fn may_bind_low(tid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_BIND_SERVICE) != 0)
}

fn bind_to(fd: &OwnedFd, addr: SocketAddr) -> bool {
    nix::sys::socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr)).is_ok()
}

/// A socket of the host's namespace connecting (non-blocking) to `target`.
fn connect_to(target: SocketAddr) -> Option<OwnedFd> {
    let family = if target.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket(2); owned right away.
    let fd = owned(unsafe { libc::socket(family, kind, 0) }.into())?;
    match nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(target)) {
        Ok(()) | Err(nix::Error::EINPROGRESS) => Some(fd),
        Err(_) => None,
    }
}

/// The caller's socket options that shape a listener, copied onto its
/// host socket. SO_REUSEADDR is always set there (see `host_socket`); the
/// buffer sizes are not copied (a copied size would turn autotuning off),
/// and options set after bind(2) land on the host socket by themselves.
struct Options {
    reuseport: bool,
    keepalive: bool,
    nodelay: bool,
    v6only: bool,
    nonblock: bool,
}

impl Options {
    fn of(copy: &OwnedFd, domain: i32) -> Option<Options> {
        let flag = |level, opt| getsockopt_int(copy, level, opt).map(|v| v != 0);
        let status = rustix::fs::fcntl_getfl(copy).ok()?;
        Some(Options {
            reuseport: flag(libc::SOL_SOCKET, libc::SO_REUSEPORT)?,
            keepalive: flag(libc::SOL_SOCKET, libc::SO_KEEPALIVE)?,
            nodelay: flag(libc::IPPROTO_TCP, libc::TCP_NODELAY)?,
            v6only: domain == libc::AF_INET6 && flag(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?,
            nonblock: status.contains(rustix::fs::OFlags::NONBLOCK),
        })
    }
}

/// A fresh TCP socket in the host's namespace with the caller's options.
fn host_socket(domain: i32, o: &Options) -> Option<OwnedFd> {
    let mut kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if o.nonblock {
        kind |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain socket(2); owned right away.
    let fd = owned(unsafe { libc::socket(domain, kind, 0) }.into())?;
    // SO_REUSEADDR always: connections burrow relayed on this port before
    // may linger in TIME_WAIT, and burrow's own listener had it too.
    let ok = setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)
        && (!o.reuseport || setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1))
        && (!o.keepalive || setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1))
        && (!o.nodelay || setsockopt_int(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1))
        // Explicit: the host's default (net.ipv6.bindv6only) may differ
        // from the container's.
        && (domain != libc::AF_INET6
            || setsockopt_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, o.v6only as i32));
    ok.then_some(fd)
}

impl DirectPorts {
    pub(super) fn new(notify: NotifyListener, others: Option<Box<dyn Server>>) -> DirectPorts {
        // SAFETY: epoll_create1 takes flags only.
        let watch = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }.into());
        DirectPorts {
            notify: Some(notify),
            others,
            watch,
            handoffs: Vec::new(),
            next_token: 1,
            last_sweep: Instant::now(),
        }
    }

    pub(super) fn poll_fds(&self, fds: &mut Vec<(RawFd, i16)>) {
        if let Some(n) = &self.notify {
            fds.push((n.fd().as_raw_fd(), libc::POLLIN));
        }
        for l in self.handoffs.iter().filter_map(|h| h.inside.as_ref()) {
            fds.push((l.as_raw_fd(), libc::POLLIN));
        }
    }

    /// Answers the binds waiting, accepts the container's own clients of
    /// direct ports, and now and then takes back the ports the container
    /// let go of.
    pub(super) fn poll_once(&mut self, listeners: &mut [Listener], relays: &mut Vec<Relay>) {
        for _ in 0..BATCH {
            let Some(n) = &self.notify else { break };
            match n.ready() {
                Ready::Idle => break,
                // Every process under the filter is gone, and none can
                // come under it again.
                Ready::HungUp => {
                    self.notify = None;
                    break;
                }
                Ready::Waiting => {}
            }
            if !self.handle_one(listeners) {
                break;
            }
        }
        for h in &self.handoffs {
            let Some(l) = &h.inside else { continue };
            while let Ok((conn, _)) = l.accept() {
                let _ = conn.set_nonblocking(true);
                if let Some(out) = connect_to(h.target) {
                    if let Ok(r) = Relay::new(out, conn.into()) {
                        relays.push(r);
                    }
                }
            }
        }
        if self.last_sweep.elapsed() >= SWEEP_EVERY {
            self.sweep(listeners);
        }
    }

    /// Drops the handoffs whose host socket the container closed, and binds
    /// the relay's listener again for a port nobody holds any more.
    fn sweep(&mut self, listeners: &mut [Listener]) {
        self.last_sweep = Instant::now();
        self.drop_closed();
        for (i, l) in listeners.iter_mut().enumerate() {
            if l.socket.is_none() && !self.handoffs.iter().any(|h| h.index == i) {
                l.socket = bind_host(&l.port).ok();
            }
        }
    }

    fn drop_closed(&mut self) {
        if self.handoffs.is_empty() {
            return;
        }
        if let Some(alive) = self.watched() {
            self.handoffs.retain(|h| alive.contains(&h.token));
        }
    }

    /// The tokens of the host sockets still open somewhere: the epoll
    /// set's entries, as its fdinfo lists them ("data: %16llx").
    fn watched(&self) -> Option<HashSet<u64>> {
        let w = self.watch.as_ref()?;
        let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", w.as_raw_fd())).ok()?;
        Some(
            text.lines()
                .filter_map(|l| {
                    let hex = l.split_once("data:")?.1.split_whitespace().next()?;
                    u64::from_str_radix(hex, 16).ok()
                })
                .collect(),
        )
    }

    fn watch(&mut self, sock: &OwnedFd) -> Option<u64> {
        let w = self.watch.as_ref()?;
        let token = self.next_token;
        self.next_token += 1;
        let mut ev = libc::epoll_event {
            events: 0,
            u64: token,
        };
        // SAFETY: epoll_ctl reads the event; both fds are open.
        let r = unsafe {
            libc::epoll_ctl(
                w.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                sock.as_raw_fd(),
                &mut ev,
            )
        };
        (r == 0).then_some(token)
    }

    /// Takes one notification and answers it; false if none could be read.
    fn handle_one(&mut self, listeners: &mut [Listener]) -> bool {
        let Some(n) = self.notify.as_ref().and_then(|l| l.recv()) else {
            return false;
        };
        let answer = match i64::from(n.data.nr) {
            libc::SYS_bind | libc::SYS_connect => match self.serve(&n, listeners) {
                Answer::Continue => Response::Continue,
                Answer::Bound | Answer::Connected => Response::Value(0),
                Answer::Failed(e) => Response::Failed(e),
            },
            _ => match (&self.notify, &mut self.others) {
                (Some(l), Some(o)) => o.serve(l, &n),
                _ => Response::Continue,
            },
        };
        if let Some(l) = &self.notify {
            l.respond(n.id, answer);
        }
        true
    }

    /// Whether notification `id` still waits (its caller alive and blocked
    /// in bind, so its pid still names it).
    /// The socket and the address of a bind or connect notification, both
    /// `(int, const struct sockaddr *, socklen_t)`: the kernel reads the low
    /// 32 bits of the int arguments.
    pub(super) fn caller_sockaddr(n: &libc::seccomp_notif) -> Option<(i32, SocketAddr)> {
        let fd = n.data.args[0] as u32 as i32;
        let len = usize::try_from(n.data.args[2] as u32).ok()?;
        if fd < 0 || len > SOCKADDR_MAX {
            return None;
        }
        let asked = read_memory(n.pid, n.data.args[1], len).and_then(|b| parse_sockaddr(&b))?;
        Some((fd, asked))
    }

    /// A copy of the caller's socket `fd`. The pidfd first, then the
    /// check: if the notification still waits, its pid was not reused, and
    /// the pidfd names the caller.
    fn caller_socket(&self, n: &libc::seccomp_notif, fd: i32) -> Option<OwnedFd> {
        let pidfd = pidfd_of(n.pid)?;
        if !self.still_waiting(n.id) {
            return None;
        }
        steal_fd(&pidfd, fd)
    }

    fn still_waiting(&self, id: u64) -> bool {
        self.notify.as_ref().is_some_and(|n| n.still_waiting(id))
    }

    fn serve(&mut self, n: &libc::seccomp_notif, listeners: &mut [Listener]) -> Answer {
        match i64::from(n.data.nr) {
            libc::SYS_bind => self.serve_bind(n, listeners),
            libc::SYS_connect => self.serve_connect(n),
            _ => Answer::Continue,
        }
    }

    /// Serves one bind: `Continue` unless the socket was bound here.
    fn serve_bind(&mut self, n: &libc::seccomp_notif, listeners: &mut [Listener]) -> Answer {
        if self.watch.is_none() || self.handoffs.len() >= MAX_HANDOFFS {
            return Answer::Continue;
        }
        let Some((fd, asked)) = Self::caller_sockaddr(n) else {
            return Answer::Continue;
        };
        let ports: Vec<PublishedPort> = listeners.iter().map(|l| l.port.clone()).collect();
        // Most binds are not for a published port (unix and netlink
        // sockets, clients): answered before any more work.
        let family = if asked.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        if choose(family, libc::SOCK_STREAM, libc::IPPROTO_TCP, asked, &ports).is_none() {
            return Answer::Continue;
        }
        let Some(copy) = self.caller_socket(n, fd) else {
            return Answer::Continue;
        };
        let opt = |o| getsockopt_int(&copy, libc::SOL_SOCKET, o).unwrap_or(-1);
        let domain = opt(libc::SO_DOMAIN);
        let Some(index) = choose(
            domain,
            opt(libc::SO_TYPE),
            opt(libc::SO_PROTOCOL),
            asked,
            &ports,
        ) else {
            return Answer::Continue;
        };
        let Some(o) = Options::of(&copy, domain) else {
            return Answer::Continue;
        };
        let Some(host) = host_address(domain, o.v6only, &ports[index]) else {
            return Answer::Continue;
        };
        if asked.port() < PROT_SOCK && !may_bind_low(n.pid) {
            return Answer::Continue;
        }
        let Some(cloexec) = fd_cloexec(n.pid, fd) else {
            return Answer::Continue;
        };
        // A port given back may still be held inside by its old handoff.
        self.drop_closed();
        // The caller's own bind, inside, as asked: if it fails, the kernel
        // gives the caller the same error when it does the bind again.
        if !bind_to(&copy, asked) {
            return Answer::Continue;
        }
        // From here the caller's socket is bound as asked: whatever fails
        // below, the bind succeeded, and the relay carries the port.
        let Some(sock) = host_socket(domain, &o) else {
            return Answer::Bound;
        };
        // The port's one host socket must be the server's.
        listeners[index].socket = None;
        let token = if bind_to(&sock, host) {
            self.watch(&sock)
        } else {
            None
        };
        let handed = token.is_some() && self.add_fd(n.id, &sock, fd, cloexec);
        // The caller's copy is the only one now (or, not handed, none is
        // left and the epoll entry went with it).
        drop(sock);
        let Some(token) = token.filter(|_| handed) else {
            if !self.handoffs.iter().any(|h| h.index == index) {
                listeners[index].socket = bind_host(&ports[index]).ok();
            }
            return Answer::Bound;
        };
        // The original socket is burrow's alone now: it listens inside for
        // the container's own clients.
        let _ = rustix::fs::fcntl_setfl(&copy, rustix::fs::OFlags::NONBLOCK);
        // SAFETY: listen(2) on a socket we own.
        let listening = unsafe { libc::listen(copy.as_raw_fd(), 128) } == 0;
        self.handoffs.push(Handoff {
            index,
            token,
            inside: listening.then(|| TcpListener::from(copy)),
            target: host_target(host, o.v6only),
        });
        Answer::Bound
    }

    /// Puts `sock` in the caller's place at its fd `fd` (as dup2 would).
    fn add_fd(&self, id: u64, sock: &OwnedFd, fd: i32, cloexec: bool) -> bool {
        let Some(notify) = &self.notify else {
            return false;
        };
        let add = libc::seccomp_notif_addfd {
            id,
            flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
            srcfd: sock.as_raw_fd() as u32,
            newfd: fd as u32,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: the kernel reads one seccomp_notif_addfd.
        let r = unsafe {
            libc::ioctl(
                notify.fd().as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                &add as *const libc::seccomp_notif_addfd,
            )
        };
        r >= 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[4..8].copy_from_slice(&ip);
        b
    }

    fn sockaddr_in6(ip: Ipv6Addr, port: u16, scope: Option<u32>) -> Vec<u8> {
        let mut b = vec![0u8; 24];
        b[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[8..24].copy_from_slice(&ip.octets());
        if let Some(s) = scope {
            b.extend_from_slice(&s.to_ne_bytes());
        }
        b
    }

    fn port(host_ip: Option<&str>, host: u16, ctr: u16, proto: PortProto) -> PublishedPort {
        PublishedPort {
            host_ip: host_ip.map(|ip| ip.parse().unwrap()),
            host_port: host,
            container_port: ctr,
            proto,
        }
    }

    #[test]
    fn addresses_parse_as_the_kernel_reads_them_and_hostile_ones_do_not() {
        assert_eq!(
            parse_sockaddr(&sockaddr_in([0, 0, 0, 0], 8080)),
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            parse_sockaddr(&sockaddr_in6(Ipv6Addr::UNSPECIFIED, 80, None)),
            Some("[::]:80".parse().unwrap())
        );
        let scoped = parse_sockaddr(&sockaddr_in6(Ipv6Addr::LOCALHOST, 80, Some(3)));
        assert!(matches!(scoped, Some(SocketAddr::V6(a)) if a.scope_id() == 3));
        // Longer than the structure (sockaddr_storage): the rest is ignored.
        let mut long = sockaddr_in([10, 0, 2, 100], 1);
        long.resize(128, 0xff);
        assert_eq!(parse_sockaddr(&long), Some("10.0.2.100:1".parse().unwrap()));
        // Too short for the family, unknown families, nothing at all.
        assert_eq!(parse_sockaddr(&sockaddr_in([0; 4], 80)[..15]), None);
        assert_eq!(
            parse_sockaddr(&sockaddr_in6(Ipv6Addr::UNSPECIFIED, 80, None)[..23]),
            None
        );
        for family in [libc::AF_UNIX, libc::AF_NETLINK, libc::AF_UNSPEC, 0xffff] {
            let mut b = sockaddr_in6(Ipv6Addr::UNSPECIFIED, 80, Some(0));
            b[..2].copy_from_slice(&(family as u16).to_ne_bytes());
            assert_eq!(parse_sockaddr(&b), None, "family {family}");
        }
        assert_eq!(parse_sockaddr(&[]), None);
        assert_eq!(parse_sockaddr(&[libc::AF_INET as u8]), None);
        assert_eq!(parse_sockaddr(&[libc::AF_INET as u8, 0, 0]), None);
    }

    #[test]
    fn only_tcp_wildcard_or_own_binds_of_a_port_published_once_are_chosen() {
        let ports = vec![
            port(Some("127.0.0.1"), 8080, 80, PortProto::Tcp),
            port(None, 5353, 53, PortProto::Udp),
            port(None, 9000, 90, PortProto::Tcp),
            port(None, 9001, 90, PortProto::Tcp),
            port(None, 5354, 54, PortProto::Udp),
            port(None, 5454, 54, PortProto::Tcp),
        ];
        let (v4, v6, tcp, stream) = (
            libc::AF_INET,
            libc::AF_INET6,
            libc::IPPROTO_TCP,
            libc::SOCK_STREAM,
        );
        let pick = |d, t, p, a: &str| choose(d, t, p, a.parse().unwrap(), &ports);
        assert_eq!(pick(v4, stream, tcp, "0.0.0.0:80"), Some(0));
        assert_eq!(pick(v4, stream, tcp, "10.0.2.100:80"), Some(0));
        assert_eq!(pick(v6, stream, tcp, "[::]:80"), Some(0));
        assert_eq!(pick(v6, stream, tcp, "[fd00::100]:80"), Some(0));
        // The TCP one of a number published for both protocols.
        assert_eq!(pick(v4, stream, tcp, "0.0.0.0:54"), Some(5));
        // Loopback and other addresses stay inside.
        assert_eq!(pick(v4, stream, tcp, "127.0.0.1:80"), None);
        assert_eq!(pick(v6, stream, tcp, "[::1]:80"), None);
        assert_eq!(pick(v4, stream, tcp, "10.0.2.101:80"), None);
        assert_eq!(pick(v6, stream, tcp, "[::ffff:0.0.0.0]:80"), None);
        // Not TCP, not published as TCP, published twice, port 0.
        assert_eq!(
            pick(v4, libc::SOCK_DGRAM, libc::IPPROTO_UDP, "0.0.0.0:53"),
            None
        );
        assert_eq!(pick(v4, stream, tcp, "0.0.0.0:53"), None);
        assert_eq!(pick(v4, stream, 262, "0.0.0.0:80"), None);
        assert_eq!(pick(v4, libc::SOCK_SEQPACKET, 132, "0.0.0.0:80"), None);
        assert_eq!(pick(v4, stream, tcp, "0.0.0.0:90"), None);
        assert_eq!(pick(v4, stream, tcp, "0.0.0.0:0"), None);
        // The address's family must be the socket's.
        assert_eq!(pick(v6, stream, tcp, "0.0.0.0:80"), None);
        assert_eq!(pick(v4, stream, tcp, "[::]:80"), None);
        assert_eq!(pick(libc::AF_UNIX, stream, 0, "0.0.0.0:80"), None);
        assert_eq!(pick(-1, -1, -1, "0.0.0.0:80"), None);
    }

    #[test]
    fn host_addresses_follow_the_socket_family_or_give_up() {
        let (v4, v6) = (libc::AF_INET, libc::AF_INET6);
        let at = |d, only, ip: Option<&str>| {
            host_address(d, only, &port(ip, 8080, 80, PortProto::Tcp)).map(|a| a.to_string())
        };
        assert_eq!(at(v4, false, None).as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(
            at(v4, false, Some("127.0.0.1")).as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(at(v4, false, Some("::1")), None);
        assert_eq!(at(v6, false, None).as_deref(), Some("[::]:8080"));
        assert_eq!(at(v6, true, None), None);
        assert_eq!(
            at(v6, false, Some("127.0.0.1")).as_deref(),
            Some("[::ffff:127.0.0.1]:8080")
        );
        assert_eq!(at(v6, true, Some("127.0.0.1")), None);
        assert_eq!(at(v6, true, Some("::1")).as_deref(), Some("[::1]:8080"));
        assert_eq!(at(libc::AF_UNIX, false, None), None);
        assert_eq!(
            host_address(v4, false, &port(None, 0, 80, PortProto::Tcp)),
            None
        );
        // Where burrow reaches such a socket for the container's clients.
        let t = |a: &str, only| host_target(a.parse().unwrap(), only).to_string();
        assert_eq!(t("0.0.0.0:8080", false), "127.0.0.1:8080");
        assert_eq!(t("[::]:8080", false), "127.0.0.1:8080");
        assert_eq!(t("[::]:8080", true), "[::1]:8080");
        assert_eq!(t("[::ffff:192.0.2.1]:8080", false), "192.0.2.1:8080");
        assert_eq!(t("192.0.2.1:8080", false), "192.0.2.1:8080");
    }
}
