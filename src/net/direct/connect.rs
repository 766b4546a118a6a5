//! Direct connections to the host: a container's TCP connect(2) to the
//! gateway (10.0.2.2, fd00::2, which stand for the host's loopback) is
//! answered with a socket of the HOST's network namespace, connected here
//! to 127.0.0.1 (or ::1) at the same port, put in place of the caller's.
//! The data then moves at the host's loopback speed, no stack in between.
//! This module never waits on one connection longer than `CONNECT_WAIT`,
//! and never keeps a copy of a socket it handed out.
//!
//! Taken: an unbound, unconnected TCP socket (AF_INET or AF_INET6,
//! SOCK_STREAM, IPPROTO_TCP) connecting to the gateway of its own family
//! (or an AF_INET6 one to the v4-mapped 10.0.2.2), on any port other than
//! 0, by a process under the filter. Everything else goes on as asked,
//! through burrow's stack: UDP, other addresses, a socket bound first (its
//! address would be lost), a v4-mapped gateway on an IPV6_V6ONLY socket, a
//! socket already in one of the caller's epoll sets (as nginx registers its
//! upstream sockets before connecting: the set would go on watching the
//! replaced socket), an address length other than exactly a `sockaddr_in`'s
//! or `sockaddr_in6`'s (the filter does not send those), `burrow exec`'d
//! processes, and any connect where a step fails here.
//!
//! What a directly connected container sees differently: getpeername()
//! says 127.0.0.1 (or ::1, ::ffff:127.0.0.1), not the gateway, and
//! getsockname() the host's loopback address with a port of the host's;
//! the connection is not in the container's /proc/net/tcp. A refused
//! connection fails at once with ECONNREFUSED. A non-blocking connect still
//! under way after `CONNECT_WAIT` returns EINPROGRESS as the kernel's
//! would; a blocking one goes through the stack instead. A socket shared
//! with another process (inherited before the connect) stays unconnected
//! there: only the caller's fd is replaced. Like a direct
//! port's, the socket belongs to the host's network: disconnected
//! (AF_UNSPEC) it can connect again from there, which is why it is only
//! done when the container may reach the host's loopback anyway.

use super::*;
use crate::net::{GATEWAY_V4, GATEWAY_V6};

/// The longest the loop waits for the host's connect: loopback answers at
/// once, unless the server's accept queue is full.
const CONNECT_WAIT: Duration = Duration::from_secs(1);

/// Where on the host a connect to `asked` goes, if `asked` is the gateway:
/// its loopback, in the address's own form.
pub(super) fn gateway_target(asked: SocketAddr) -> Option<SocketAddr> {
    let port = asked.port();
    if port == 0 {
        return None;
    }
    let ip = match asked.ip() {
        IpAddr::V4(a) if a == GATEWAY_V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a == GATEWAY_V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(a) if a.to_ipv4_mapped() == Some(GATEWAY_V4) => {
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped())
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The host address a connect is made to directly, if it is taken: a TCP
/// socket (`domain`, `sotype`, `protocol` as SO_DOMAIN, SO_TYPE and
/// SO_PROTOCOL give them) whose own address (`local`, getsockname's) is
/// its family's unbound one, connecting to the gateway in its family.
pub(super) fn direct_target(
    domain: i32,
    sotype: i32,
    protocol: i32,
    v6only: bool,
    local: Option<SocketAddr>,
    asked: SocketAddr,
) -> Option<SocketAddr> {
    let family = matches!(
        (domain, asked, local),
        (libc::AF_INET, SocketAddr::V4(_), Some(SocketAddr::V4(_)))
            | (libc::AF_INET6, SocketAddr::V6(_), Some(SocketAddr::V6(_)))
    );
    if !family || sotype != libc::SOCK_STREAM || protocol != libc::IPPROTO_TCP {
        return None;
    }
    let unbound = local.is_some_and(|l| l.port() == 0 && l.ip().is_unspecified());
    if !unbound {
        return None;
    }
    let target = gateway_target(asked)?;
    let mapped = matches!(target.ip(), IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
    (!(mapped && v6only)).then_some(target)
}

/// What the host's connect came to.
enum Outcome {
    Connected,
    /// Still under way after `CONNECT_WAIT`.
    Pending,
    Refused(i32),
}

fn local_address(fd: &OwnedFd) -> Option<SocketAddr> {
    let a = nix::sys::socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()).ok()?;
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// Whether fd `fd` of thread `tid`, the socket with inode `ino`, is in one
/// of its epoll sets (their fdinfo lists each target as `tfd: FD ...
/// ino:HEX`). True when that cannot be told.
fn in_epoll(tid: u32, fd: i32, ino: u64) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{tid}/fd")) else {
        return true;
    };
    for entry in dir.flatten() {
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.as_os_str() == "anon_inode:[eventpoll]");
        if !is_epoll {
            continue;
        }
        let info = format!("/proc/{tid}/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(text) = std::fs::read_to_string(info) else {
            return true;
        };
        if epoll_watches(&text, fd, ino) {
            return true;
        }
    }
    false
}

/// Whether an epoll fdinfo text lists target fd `fd` with inode `ino`.
pub(super) fn epoll_watches(fdinfo: &str, fd: i32, ino: u64) -> bool {
    fdinfo.lines().any(|l| {
        let mut words = l.split_whitespace();
        let tfd = match (words.next(), words.next()) {
            (Some("tfd:"), Some(n)) => n.parse::<i32>().ok(),
            _ => None,
        };
        let inode = l
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ino:"))
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        tfd == Some(fd) && inode == Some(ino)
    })
}

fn connected(fd: &OwnedFd) -> bool {
    nix::sys::socket::getpeername::<SockaddrStorage>(fd.as_raw_fd()).is_ok()
}

/// Socket options the caller may have set before connecting, copied to
/// the host socket where the caller's value differs from a fresh socket's
/// (so an untouched buffer size keeps its autotuning).
const COPIED: &[(i32, i32)] = &[
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    (libc::SOL_SOCKET, libc::SO_SNDBUF),
    (libc::SOL_SOCKET, libc::SO_RCVBUF),
    (libc::SOL_SOCKET, libc::SO_PRIORITY),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
];

/// A host socket of `domain`, non-blocking, with the caller's options.
fn host_client(domain: i32, caller: &OwnedFd, v6only: bool) -> Option<OwnedFd> {
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket(2); owned right away.
    let fd = owned(unsafe { libc::socket(domain, kind, 0) }.into())?;
    for &(level, opt) in COPIED {
        let (Some(theirs), Some(ours)) = (
            getsockopt_int(caller, level, opt),
            getsockopt_int(&fd, level, opt),
        ) else {
            continue;
        };
        if theirs != ours {
            // The kernel doubles a buffer size as it stores it.
            let v = if opt == libc::SO_SNDBUF || opt == libc::SO_RCVBUF {
                theirs / 2
            } else {
                theirs
            };
            setsockopt_int(&fd, level, opt, v);
        }
    }
    // Explicit: the host's default (net.ipv6.bindv6only) may differ.
    let ok = domain != libc::AF_INET6
        || setsockopt_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v6only as i32);
    ok.then_some(fd)
}

/// Connects `fd` (non-blocking) to `target`, waiting `CONNECT_WAIT` at
/// most. `None` where the attempt itself could not be made.
fn connect_host(fd: &OwnedFd, target: SocketAddr) -> Option<Outcome> {
    match nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(target)) {
        Ok(()) => return Some(Outcome::Connected),
        Err(nix::Error::EINPROGRESS) => {}
        Err(nix::Error::EINTR) => {}
        // Not the server's answer but this process's trouble: the stack
        // may still do better.
        Err(nix::Error::EMFILE | nix::Error::ENFILE | nix::Error::ENOBUFS | nix::Error::ENOMEM) => {
            return None
        }
        Err(e) => return Some(Outcome::Refused(e as i32)),
    }
    let deadline = Instant::now() + CONNECT_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
        if r > 0 {
            return match getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)? {
                0 => Some(Outcome::Connected),
                e => Some(Outcome::Refused(e)),
            };
        }
        if r < 0 && errno() != libc::EINTR {
            return None;
        }
        if Instant::now() >= deadline {
            return Some(Outcome::Pending);
        }
    }
}

impl DirectPorts {
    /// Serves one connect: `Continue` unless it was answered here.
    pub(super) fn serve_connect(&self, n: &libc::seccomp_notif) -> Answer {
        let Some((fd, asked)) = Self::caller_sockaddr(n) else {
            return Answer::Continue;
        };
        // Most connects are not to the gateway (DNS, the outside, unix
        // sockets of the same length): answered before any more work.
        if gateway_target(asked).is_none() {
            return Answer::Continue;
        }
        let Some(copy) = self.caller_socket(n, fd) else {
            return Answer::Continue;
        };
        let opt = |o| getsockopt_int(&copy, libc::SOL_SOCKET, o).unwrap_or(-1);
        let domain = opt(libc::SO_DOMAIN);
        let Some(o) = Options::of(&copy, domain) else {
            return Answer::Continue;
        };
        let local = local_address(&copy);
        let Some(target) = direct_target(
            domain,
            opt(libc::SO_TYPE),
            opt(libc::SO_PROTOCOL),
            o.v6only,
            local,
            asked,
        ) else {
            return Answer::Continue;
        };
        if connected(&copy) {
            return Answer::Continue;
        }
        let Ok(stat) = rustix::fs::fstat(&copy) else {
            return Answer::Continue;
        };
        if in_epoll(n.pid, fd, stat.st_ino) {
            return Answer::Continue;
        }
        let Some(cloexec) = fd_cloexec(n.pid, fd) else {
            return Answer::Continue;
        };
        let Some(sock) = host_client(domain, &copy, o.v6only) else {
            return Answer::Continue;
        };
        let answer = match connect_host(&sock, target) {
            None => return Answer::Continue,
            // The caller's socket is untouched: as after a refused
            // connect of its own, it may try again.
            Some(Outcome::Refused(e)) => return Answer::Failed(e),
            Some(Outcome::Connected) => Answer::Connected,
            Some(Outcome::Pending) if o.nonblock => Answer::Failed(libc::EINPROGRESS),
            Some(Outcome::Pending) => return Answer::Continue,
        };
        if !o.nonblock && rustix::fs::fcntl_setfl(&sock, rustix::fs::OFlags::empty()).is_err() {
            return Answer::Continue;
        }
        if !self.add_fd(n.id, &sock, fd, cloexec) {
            // Dead (the answer goes nowhere) or out of fds: the server
            // sees a connection closed at once.
            return Answer::Continue;
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_the_gateway_on_a_real_port_has_a_host_target() {
        let t = |s: &str| gateway_target(a(s)).map(|t| t.to_string());
        assert_eq!(t("10.0.2.2:5201").as_deref(), Some("127.0.0.1:5201"));
        assert_eq!(t("[fd00::2]:80").as_deref(), Some("[::1]:80"));
        assert_eq!(
            t("[::ffff:10.0.2.2]:80").as_deref(),
            Some("[::ffff:127.0.0.1]:80")
        );
        // A scope id or flow label changes nothing.
        let scoped = SocketAddr::V6(SocketAddrV6::new(GATEWAY_V6, 80, 7, 3));
        assert_eq!(gateway_target(scoped), Some(a("[::1]:80")));
        for other in [
            "10.0.2.2:0",
            "10.0.2.3:53",
            "10.0.2.100:80",
            "127.0.0.1:80",
            "0.0.0.0:80",
            "255.255.255.255:80",
            "[fd00::3]:53",
            "[::1]:80",
            "[::]:80",
            "[::10.0.2.2]:80",
            "[64:ff9b::a00:202]:80",
            "[fe80::2]:80",
        ] {
            assert_eq!(gateway_target(a(other)), None, "{other}");
        }
    }

    #[test]
    fn only_unbound_tcp_sockets_of_the_gateway_s_family_are_taken() {
        let (v4, v6, stream, tcp) = (
            libc::AF_INET,
            libc::AF_INET6,
            libc::SOCK_STREAM,
            libc::IPPROTO_TCP,
        );
        let (any4, any6) = (Some(a("0.0.0.0:0")), Some(a("[::]:0")));
        let take = |d, t, p, only, local, to: &str| direct_target(d, t, p, only, local, a(to));
        assert_eq!(
            take(v4, stream, tcp, false, any4, "10.0.2.2:8080"),
            Some(a("127.0.0.1:8080"))
        );
        assert_eq!(
            take(v6, stream, tcp, false, any6, "[fd00::2]:8080"),
            Some(a("[::1]:8080"))
        );
        assert_eq!(
            take(v6, stream, tcp, false, any6, "[::ffff:10.0.2.2]:8080"),
            Some(a("[::ffff:127.0.0.1]:8080"))
        );
        assert_eq!(
            take(v6, stream, tcp, true, any6, "[fd00::2]:8080"),
            Some(a("[::1]:8080"))
        );
        // A v6-only socket cannot reach a v4-mapped address.
        assert_eq!(
            take(v6, stream, tcp, true, any6, "[::ffff:10.0.2.2]:8080"),
            None
        );
        // Bound first, to a port or an address of its own; no address.
        for local in [
            Some(a("0.0.0.0:40000")),
            Some(a("10.0.2.100:0")),
            Some(a("127.0.0.1:0")),
            None,
        ] {
            assert_eq!(
                take(v4, stream, tcp, false, local, "10.0.2.2:80"),
                None,
                "{local:?}"
            );
        }
        assert_eq!(
            take(
                v6,
                stream,
                tcp,
                false,
                Some(a("[fd00::100]:0")),
                "[fd00::2]:80"
            ),
            None
        );
        // Not TCP: UDP, MPTCP, SCTP, raw, a datagram socket lying about
        // its protocol, garbage.
        assert_eq!(
            take(
                v4,
                libc::SOCK_DGRAM,
                libc::IPPROTO_UDP,
                false,
                any4,
                "10.0.2.2:53"
            ),
            None
        );
        assert_eq!(take(v4, stream, 262, false, any4, "10.0.2.2:80"), None);
        assert_eq!(
            take(v4, libc::SOCK_SEQPACKET, 132, false, any4, "10.0.2.2:80"),
            None
        );
        assert_eq!(
            take(v4, libc::SOCK_RAW, tcp, false, any4, "10.0.2.2:80"),
            None
        );
        assert_eq!(
            take(v4, libc::SOCK_DGRAM, tcp, false, any4, "10.0.2.2:80"),
            None
        );
        assert_eq!(take(-1, -1, -1, false, any4, "10.0.2.2:80"), None);
        // Families that do not meet: the kernel's error to give.
        assert_eq!(take(v4, stream, tcp, false, any4, "[fd00::2]:80"), None);
        assert_eq!(take(v6, stream, tcp, false, any6, "10.0.2.2:80"), None);
        assert_eq!(take(v4, stream, tcp, false, any6, "10.0.2.2:80"), None);
        assert_eq!(take(v6, stream, tcp, false, any4, "[fd00::2]:80"), None);
        assert_eq!(
            take(libc::AF_UNIX, stream, 0, false, any4, "10.0.2.2:80"),
            None
        );
        // Not the gateway, or port 0.
        assert_eq!(take(v4, stream, tcp, false, any4, "10.0.2.2:0"), None);
        assert_eq!(take(v4, stream, tcp, false, any4, "127.0.0.1:80"), None);
        assert_eq!(take(v4, stream, tcp, false, any4, "192.0.2.1:80"), None);
    }

    #[test]
    fn epoll_targets_are_matched_by_fd_and_inode() {
        let text = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t3c12\n\
                    tfd:        7 events:       19 data:                7  pos:0 ino:1a2b sdev:8\n\
                    tfd:       12 events:        4 data:                c  pos:0 ino:ff sdev:8\n";
        assert!(epoll_watches(text, 7, 0x1a2b));
        assert!(epoll_watches(text, 12, 0xff));
        // Same fd, another file (the fd was reused), or the epoll's own.
        assert!(!epoll_watches(text, 7, 0xff));
        assert!(!epoll_watches(text, 3, 0x3c12));
        assert!(!epoll_watches("", 7, 0x1a2b));
        assert!(!epoll_watches("tfd: x ino:zz\ntfd:\n", 7, 0x1a2b));
    }

    #[test]
    fn hostile_connect_addresses_parse_to_nothing_or_to_what_the_kernel_reads() {
        // The gateway in a sockaddr_in6 too short for the kernel, a family
        // field claiming IPv4 over IPv6 bytes, a truncated IPv4 one.
        let mut b = vec![0u8; 28];
        b[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&80u16.to_be_bytes());
        b[8..24].copy_from_slice(&GATEWAY_V6.octets());
        assert_eq!(
            parse_sockaddr(&b).and_then(gateway_target),
            Some(a("[::1]:80"))
        );
        assert_eq!(parse_sockaddr(&b[..23]), None);
        b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(parse_sockaddr(&b).and_then(gateway_target), None);
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&80u16.to_be_bytes());
        v4[4..8].copy_from_slice(&GATEWAY_V4.octets());
        assert_eq!(
            parse_sockaddr(&v4).and_then(gateway_target),
            Some(a("127.0.0.1:80"))
        );
        assert_eq!(parse_sockaddr(&v4[..15]), None);
        // AF_UNSPEC (a disconnect) is never taken.
        v4[..2].copy_from_slice(&(libc::AF_UNSPEC as u16).to_ne_bytes());
        assert_eq!(parse_sockaddr(&v4), None);
    }
}
