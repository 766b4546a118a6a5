//! A running container's published ports: the host listeners, the relays
//! to sockets made inside the container, UDP peers, and the direct ports
//! (`direct`) that hand a host port to the container's own server. Owns
//! no parsing: `ports` has the types and the host side's sockets.

use super::direct::DirectPorts;
use super::ports::*;
use super::NetError;
use nix::sys::socket::{MsgFlags, SockaddrStorage};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

struct UdpPeer {
    inside: OwnedFd,
    listener: usize,
    last: Instant,
}

/// Published ports of one container, carried in while it runs.
pub struct PortForwarder {
    listeners: Vec<Listener>,
    /// `None` with no published port.
    helper: Option<InsideSockets>,
    relays: Vec<Relay>,
    udp: HashMap<(usize, SocketAddr), UdpPeer>,
    direct: Option<DirectPorts>,
}

const UDP_IDLE: Duration = Duration::from_secs(60);

impl PortForwarder {
    /// Binds every host port (so a port in use fails before anything runs
    /// on it). Call `attach` once the container runs.
    pub fn bind(ports: &[PublishedPort]) -> Result<Vec<(PublishedPort, OwnedFd)>, NetError> {
        ports
            .iter()
            .map(|p| {
                Ok((
                    p.clone(),
                    match bind_host(p)? {
                        HostSocket::Tcp(l) => OwnedFd::from(l),
                        HostSocket::Udp(u) => OwnedFd::from(u),
                    },
                ))
            })
            .collect()
    }

    /// Starts the helper in the namespaces of the container's pid 1. The
    /// caller must still be single-threaded. A port without a socket (its
    /// host port handed to the previous run of the container) is bound
    /// again now, or at a later sweep of the direct ports if that fails.
    ///
    /// `socket_notify` is the listener of the sandbox's socket notifier
    /// (`Running::take_socket_notify`): with it, the container's TCP servers
    /// on published ports get their host port directly, and its TCP
    /// connections to the gateway a host socket (see `direct`). The
    /// listener's other calls go to `others` (root emulation's, when one
    /// filter notifies both), or the kernel does them.
    pub fn attach(
        bound: Vec<(PublishedPort, Option<OwnedFd>)>,
        pid: i32,
        socket_notify: Option<crate::notify::Listener>,
        others: Option<Box<dyn crate::notify::Server>>,
    ) -> Result<PortForwarder, NetError> {
        let ports: Vec<PublishedPort> = bound.iter().map(|(p, _)| p.clone()).collect();
        let helper = if ports.is_empty() {
            None
        } else {
            Some(InsideSockets::start(pid, &ports)?)
        };
        let listeners = bound
            .into_iter()
            .map(|(port, fd)| {
                let socket = match fd {
                    Some(fd) => Some(match port.proto {
                        PortProto::Tcp => HostSocket::Tcp(TcpListener::from(fd)),
                        PortProto::Udp => HostSocket::Udp(UdpSocket::from(fd)),
                    }),
                    None => bind_host(&port).ok(),
                };
                Listener { port, socket }
            })
            .collect();
        let direct = socket_notify.map(|l| DirectPorts::new(l, others));
        Ok(PortForwarder {
            listeners,
            helper,
            relays: Vec::new(),
            udp: HashMap::new(),
            direct,
        })
    }

    /// The host sockets this forwarder holds, for the next run of the
    /// container; `None` where the container's server held the port (it
    /// is gone with the container: `attach` binds it again).
    pub fn into_bound(self) -> Vec<(PublishedPort, Option<OwnedFd>)> {
        let PortForwarder {
            listeners, direct, ..
        } = self;
        drop(direct);
        listeners
            .into_iter()
            .map(|l| {
                let fd = l.socket.map(|s| match s {
                    HostSocket::Tcp(t) => OwnedFd::from(t),
                    HostSocket::Udp(u) => OwnedFd::from(u),
                });
                (l.port, fd)
            })
            .collect()
    }

    /// The fds a caller's event loop should wait on, with poll events;
    /// call `poll_once` when any is ready (or every few seconds: idle UDP
    /// peers are swept then).
    pub fn poll_fds(&self) -> Vec<(RawFd, i16)> {
        let mut fds = Vec::new();
        for s in self.listeners.iter().filter_map(|l| l.socket.as_ref()) {
            let fd = match s {
                HostSocket::Tcp(l) => l.as_raw_fd(),
                HostSocket::Udp(u) => u.as_raw_fd(),
            };
            fds.push((fd, libc::POLLIN));
        }
        if let Some(d) = &self.direct {
            d.poll_fds(&mut fds);
        }
        for r in &self.relays {
            let (ur, uw) = r.up.events();
            let (dr, dw) = r.down.events();
            fds.push((r.outside.as_raw_fd(), ur | dw));
            fds.push((r.inside.as_raw_fd(), dr | uw));
        }
        for p in self.udp.values() {
            fds.push((p.inside.as_raw_fd(), libc::POLLIN));
        }
        fds
    }

    /// Runs until `stop` is readable (or hangs up).
    pub fn run_until(&mut self, stop: BorrowedFd<'_>) {
        loop {
            let mut pfds: Vec<libc::pollfd> = std::iter::once((stop.as_raw_fd(), libc::POLLIN))
                .chain(self.poll_fds())
                .map(|(fd, events)| libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                })
                .collect();
            // SAFETY: a valid pollfd array of the given length.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 5000) };
            if r < 0 && last().kind() != std::io::ErrorKind::Interrupted {
                return;
            }
            if pfds[0].revents != 0 {
                return;
            }
            self.poll_once();
        }
    }

    /// Does all the work that is ready, without blocking.
    pub fn poll_once(&mut self) {
        if let Some(d) = &mut self.direct {
            d.poll_once(&mut self.listeners, &mut self.relays);
        }
        self.accept_all();
        self.relays.retain_mut(|r| {
            let up = r.up.step(r.outside.as_fd(), r.inside.as_fd());
            let down = r.down.step(r.inside.as_fd(), r.outside.as_fd());
            up.is_ok() && down.is_ok() && !(r.up.shut && r.down.shut)
        });
        self.pump_udp();
    }

    fn accept_all(&mut self) {
        let mut buf = vec![0u8; 65536];
        let Some(helper) = &mut self.helper else {
            return;
        };
        for i in 0..self.listeners.len() {
            let Listener { port: p, socket } = &self.listeners[i];
            let port = p.container_port;
            let Some(s) = socket else { continue };
            match s {
                HostSocket::Tcp(l) => {
                    while let Ok((conn, client)) = l.accept() {
                        let _ = conn.set_nonblocking(true);
                        let _ = conn.set_nodelay(true);
                        let Ok(inside) = helper.socket(PortProto::Tcp, client, port) else {
                            continue;
                        };
                        if let Ok(r) = Relay::new(conn.into(), inside) {
                            self.relays.push(r);
                        }
                    }
                }
                HostSocket::Udp(u) => {
                    while let Ok((n, client)) = u.recv_from(&mut buf) {
                        let key = (i, client);
                        let peer = match self.udp.entry(key) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(e) => {
                                let Ok(inside) = helper.socket(PortProto::Udp, client, port) else {
                                    continue;
                                };
                                e.insert(UdpPeer {
                                    inside,
                                    listener: i,
                                    last: Instant::now(),
                                })
                            }
                        };
                        peer.last = Instant::now();
                        let _ = nix::sys::socket::sendto(
                            peer.inside.as_raw_fd(),
                            &buf[..n],
                            &SockaddrStorage::from(guest_addr(client, port)),
                            MsgFlags::MSG_DONTWAIT,
                        );
                    }
                }
            }
        }
    }

    fn pump_udp(&mut self) {
        let mut buf = vec![0u8; 65536];
        let listeners = &self.listeners;
        self.udp.retain(|&(_, client), peer| {
            loop {
                // SAFETY: receiving into our own buffer.
                let n = unsafe {
                    libc::recv(
                        peer.inside.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                if n < 0 {
                    break;
                }
                peer.last = Instant::now();
                if let Some(Listener {
                    socket: Some(HostSocket::Udp(u)),
                    ..
                }) = listeners.get(peer.listener)
                {
                    let _ = u.send_to(&buf[..n as usize], client);
                }
            }
            peer.last.elapsed() < UDP_IDLE
        });
    }
}
