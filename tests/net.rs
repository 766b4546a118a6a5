//! Container networking end to end, as the unprivileged test users: the
//! host's loopback reached through the host name (TCP and UDP), DNS through
//! burrow's forwarder (to a tiny resolver on 127.0.0.1), published ports
//! with the client's address seen inside, `--network none` and shared
//! namespaces. Every address used is loopback or inside namespaces the
//! tests make.

mod common;

use common::fixtures::{busybox_rootfs, ImageSpec};
use common::{finish, kill_group, path_str, TestEnv, TestUser};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const NET_APPLETS: &[&str] = &[
    "nc", "nslookup", "tftp", "netstat", "ip", "httpd", "seq", "grep",
];

/// A test environment with a busybox image named `netbox` that has the
/// network applets.
fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::Any)?;
    let mut b = busybox_rootfs();
    for a in NET_APPLETS {
        b = b.symlink(&format!("bin/{a}"), "busybox");
    }
    let tarball = env.fixture("netbox.tar", &b.finish().tar);
    env.ok(&["import", path_str(&tarball), "netbox"]);
    Some(env)
}

/// A port nobody listens on now (the kernel's pick).
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn container_reaches_host_loopback_tcp_and_udp_through_the_host_name() {
    let Some(env) =
        env_with_image("container_reaches_host_loopback_tcp_and_udp_through_the_host_name")
    else {
        return;
    };
    let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind tcp");
    let tcp_port = tcp.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = tcp.accept() {
            let mut line = [0u8; 64];
            let n = c.read(&mut line).unwrap_or(0);
            let _ = c.write_all(
                format!("tcp got {}", String::from_utf8_lossy(&line[..n]).trim()).as_bytes(),
            );
        }
    });
    // A one-block TFTP server: busybox's tftp is the image's UDP client.
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind udp");
    let udp_port = udp.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        udp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 600];
        let (n, from) = udp.recv_from(&mut buf).expect("a TFTP request");
        let request = String::from_utf8_lossy(&buf[2..n]).to_string();
        let mut data = vec![0, 3, 0, 1];
        data.extend_from_slice(b"udp reply\n");
        udp.send_to(&data, from).expect("send");
        let _ = udp.recv_from(&mut buf); // the ACK
        request
    });
    let out = env.ok(&[
        "run",
        "--rm",
        "netbox",
        "sh",
        "-c",
        &format!(
            "echo hello | nc host.containers.internal {tcp_port}; echo; \
             tftp -g -r greeting -l /tmp/g host.docker.internal {udp_port} && cat /tmp/g"
        ),
    ]);
    assert!(out.stdout.contains("tcp got hello"), "{out}");
    assert!(out.stdout.contains("udp reply"), "{out}");
    let request = server.join().expect("udp server");
    assert!(request.starts_with("greeting"), "{request:?}");
}

/// A resolver answering every A query with 192.0.2.55 (a documentation
/// address, only ever carried as data).
fn tiny_dns() -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind dns");
    let port = s.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut names = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let q = &buf[..n];
            if n < 17 {
                continue;
            }
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let l = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..(i + 1 + l).min(n)]).to_string());
                i += 1 + l;
            }
            let end = (i + 5).min(n);
            let qtype = u16::from_be_bytes([q[end - 4], q[end - 3]]);
            names.push(labels.join("."));
            let mut r = q[..2].to_vec();
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, (qtype == 1) as u8, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..end]);
            if qtype == 1 {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 55]);
            }
            let _ = s.send_to(&r, from);
            if names.iter().any(|n| n == "stop.test") {
                break;
            }
        }
        names
    });
    (port, h)
}

#[test]
fn dns_goes_through_the_forwarder_to_the_host_resolver() {
    let Some(env) = env_with_image("dns_goes_through_the_forwarder_to_the_host_resolver") else {
        return;
    };
    let (port, server) = tiny_dns();
    let upstream = format!("127.0.0.1:{port}");
    let out = env.run_env(
        &[
            "run",
            "--rm",
            "netbox",
            "sh",
            "-c",
            "cat /etc/resolv.conf; nslookup -type=a db.example.test; nslookup -type=a stop.test",
        ],
        &[("BURROW_DNS_UPSTREAM", Some(&upstream))],
    );
    out.assert_ok();
    assert!(out.stdout.contains("nameserver 10.0.2.3"), "{out}");
    assert!(out.stdout.contains("192.0.2.55"), "{out}");
    let names = server.join().expect("dns server");
    assert!(names.iter().any(|n| n == "db.example.test"), "{names:?}");
}

#[test]
fn dns_and_add_host_flags_are_written_into_the_container() {
    let Some(env) = env_with_image("dns_and_add_host_flags_are_written_into_the_container") else {
        return;
    };
    let out = env.ok(&[
        "run",
        "--rm",
        "--dns",
        "127.0.0.9",
        "--add-host",
        "db.internal:10.0.2.77",
        "netbox",
        "sh",
        "-c",
        "cat /etc/resolv.conf /etc/hosts",
    ]);
    assert!(out.stdout.contains("nameserver 127.0.0.9"), "{out}");
    assert!(!out.stdout.contains("nameserver 10.0.2.3"), "{out}");
    assert!(out.stdout.contains("10.0.2.77\tdb.internal"), "{out}");
    assert!(
        out.stdout
            .contains("10.0.2.2\thost.containers.internal host.docker.internal"),
        "{out}"
    );
}

/// Connects until the container answers (its server may
/// not listen yet), returning everything it sent.
fn fetch(port: u16, send: &[u8]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sock = std::net::TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            Duration::from_secs(5),
        );
        if let Ok(mut s) = sock {
            let _ = s.write_all(send);
            let mut out = String::new();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = s.read_to_string(&mut out);
            if !out.is_empty() {
                return out;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the container never answered on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A client socket bound to `ip` (any 127/8 address is the host's).
fn connect_from(ip: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain socket(2); owned right below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    use std::os::fd::AsRawFd;
    let local = sa(ip, 0);
    let remote = sa(Ipv4Addr::LOCALHOST, port);
    // SAFETY: bind and connect with valid sockaddr_in values.
    unsafe {
        if libc::bind(
            fd.as_raw_fd(),
            (&local as *const libc::sockaddr_in).cast(),
            len,
        ) < 0
            || libc::connect(
                fd.as_raw_fd(),
                (&remote as *const libc::sockaddr_in).cast(),
                len,
            ) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(TcpStream::from(fd))
}

#[test]
fn published_port_reaches_the_container_with_the_client_address_kept() {
    let Some(env) =
        env_with_image("published_port_reaches_the_container_with_the_client_address_kept")
    else {
        return;
    };
    let port = free_port();
    let ctr = env.spawn(&[
        "run",
        "--rm",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "netbox",
        "sh",
        "-c",
        "nc -l -p 8080 -e netstat -tn",
    ]);
    let client = Ipv4Addr::new(127, 0, 0, 5);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (text, local) = loop {
        if let Ok(mut s) = connect_from(client, port) {
            let local = s.local_addr().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.contains("ESTABLISHED") {
                break (out, local);
            }
        }
        assert!(Instant::now() < deadline, "nothing answered on {port}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = finish(ctr);
    // The container's own view of the connection: the client's address
    // and port, as the client bound them.
    assert!(
        text.contains(&format!("127.0.0.5:{} ", local.port()))
            || text.contains(&format!("127.0.0.5:{}\n", local.port())),
        "client {local} not seen inside:\n{text}\n{out}"
    );
    assert!(text.contains(":8080"), "{text}");
}

#[test]
fn published_udp_port_answers_and_the_server_sees_the_client_address() {
    let Some(env) =
        env_with_image("published_udp_port_answers_and_the_server_sees_the_client_address")
    else {
        return;
    };
    // busybox has no UDP server: the host's python3, bound in read-only.
    let server = env.fixture(
        "udpecho.py",
        b"import socket\n\
          u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
          u.bind(('0.0.0.0', 9000))\n\
          while True:\n\
          \x20   d, a = u.recvfrom(2000)\n\
          \x20   u.sendto(b'echo ' + d + b' from %s:%d' % (a[0].encode(), a[1]), a)\n",
    );
    let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .expect("a free udp port")
        .port();
    let mut ctr = env.spawn(&[
        "run",
        "--rm",
        "-p",
        &format!("127.0.0.1:{port}:9000/udp"),
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
        "-v",
        &format!("{}:/udpecho.py:ro", path_str(&server)),
        "netbox",
        "python3",
        "/udpecho.py",
    ]);
    let client = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 7), 0)).expect("bind client");
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let me = client.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let _ = client.send_to(b"hi", (Ipv4Addr::LOCALHOST, port));
        let mut buf = [0u8; 200];
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            break String::from_utf8_lossy(&buf[..n]).to_string();
        }
        assert!(Instant::now() < deadline, "no UDP answer on {port}");
    };
    kill_group(&mut ctr);
    assert_eq!(reply, format!("echo hi from {me}"));
}

#[test]
fn a_thousand_short_connections_through_a_published_port_lose_none() {
    let Some(env) =
        env_with_image("a_thousand_short_connections_through_a_published_port_lose_none")
    else {
        return;
    };
    let port = free_port();
    let mut ctr = env.spawn(&[
        "run",
        "--rm",
        "--name",
        "web",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "netbox",
        "sh",
        "-c",
        "mkdir /tmp/www && echo pong > /tmp/www/ping && httpd -f -p 8080 -h /tmp/www",
    ]);
    let request = b"GET /ping HTTP/1.0\r\n\r\n";
    assert!(fetch(port, request).contains("pong"));
    // The ports as `port`, `ps` and `inspect` show them.
    let out = env.ok(&["port", "web"]);
    assert_eq!(
        out.stdout.trim(),
        format!("8080/tcp -> 127.0.0.1:{port}"),
        "{out}"
    );
    let out = env.ok(&["port", "web", "8080/tcp"]);
    assert_eq!(out.stdout.trim(), format!("127.0.0.1:{port}"), "{out}");
    let out = env.ok(&["ps"]);
    assert!(
        out.stdout.contains(&format!("127.0.0.1:{port}->8080/tcp")),
        "{out}"
    );
    let out = env.ok(&["inspect", "web"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("inspect json");
    assert_eq!(
        json[0]["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"],
        serde_json::json!(port.to_string()),
        "{out}"
    );
    let workers: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut ok = 0;
                for _ in 0..125 {
                    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    s.write_all(request).expect("send");
                    let mut out = String::new();
                    let _ = s.read_to_string(&mut out);
                    if out.starts_with("HTTP/1.") && out.ends_with("pong\n") {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let ok: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    kill_group(&mut ctr);
    assert_eq!(ok, 1000, "answers lost");
}

#[test]
fn publish_all_maps_the_image_exposed_ports_to_free_host_ports() {
    let Some(env) = env_with_image("publish_all_maps_the_image_exposed_ports_to_free_host_ports")
    else {
        return;
    };
    // The fixture's run config exposes 8080/tcp and 53/udp, runs `sh -c`.
    let mut b = busybox_rootfs();
    for a in NET_APPLETS {
        b = b.symlink(&format!("bin/{a}"), "busybox");
    }
    let (archive, _) = env.docker_archive(
        "exposed.tar",
        &[ImageSpec::new(&["exposed:latest"], vec![b.finish()])],
    );
    env.load(&archive);
    let mut ctr = env.spawn(&[
        "run",
        "--rm",
        "--name",
        "pub",
        "-P",
        "exposed",
        "mkdir -p /tmp/w && echo all > /tmp/w/x && httpd -f -p 8080 -h /tmp/w",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let lines = loop {
        let out = env.run(&["port", "pub"]);
        if out.code() == Some(0) && out.stdout.lines().count() == 2 {
            break out.stdout.clone();
        }
        assert!(Instant::now() < deadline, "no ports: {out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let tcp = lines
        .lines()
        .find_map(|l| l.strip_prefix("8080/tcp -> 0.0.0.0:"))
        .unwrap_or_else(|| panic!("{lines}"));
    assert!(lines.contains("53/udp -> 0.0.0.0:"), "{lines}");
    let port: u16 = tcp.trim().parse().expect("a port number");
    assert!(fetch(port, b"GET /x HTTP/1.0\r\n\r\n").contains("all"));
    kill_group(&mut ctr);
}

#[test]
fn sigint_reaches_the_container_while_the_network_runs() {
    let Some(env) = env_with_image("sigint_reaches_the_container_while_the_network_runs") else {
        return;
    };
    // Published ports start both the stack's and the forwarder's threads.
    let port = free_port();
    let ctr = env.spawn(&[
        "run",
        "--rm",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "netbox",
        "sh",
        "-c",
        "trap 'echo got-int; exit 3' INT; echo ready; while true; do sleep 0.1; done",
    ]);
    // Ready once the published port accepts and the shell has its trap.
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(Instant::now() < deadline, "never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling the burrow process the test started.
    unsafe { libc::kill(ctr.0.id() as i32, libc::SIGINT) };
    let out = finish(ctr);
    assert_eq!(out.code(), Some(3), "{out}");
    assert!(out.stdout.contains("got-int"), "{out}");
}

#[test]
fn a_detached_container_gets_the_network_and_its_published_ports() {
    let Some(env) = env_with_image("a_detached_container_gets_the_network_and_its_published_ports")
    else {
        return;
    };
    let host = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let host_port = host.local_addr().unwrap().port();
    let port = free_port();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "dweb",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "netbox",
        "sh",
        "-c",
        &format!(
            "echo from-detached | nc host.containers.internal {host_port}; \
             mkdir /tmp/w && echo served > /tmp/w/x && exec httpd -f -p 8080 -h /tmp/w"
        ),
    ]);
    host.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut c = loop {
        if let Ok((c, _)) = host.accept() {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "the container never connected out"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = [0u8; 64];
    let n = c.read(&mut got).unwrap_or(0);
    drop(c);
    assert_eq!(String::from_utf8_lossy(&got[..n]).trim(), "from-detached");
    assert!(fetch(port, b"GET /x HTTP/1.0\r\n\r\n").contains("served"));
    let out = env.ok(&["port", "dweb"]);
    assert_eq!(out.stdout.trim(), format!("8080/tcp -> 127.0.0.1:{port}"));
    env.ok(&["rm", "-f", "dweb"]);
    // The supervisor is gone, and with it the host's port.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} still held");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn network_none_has_no_route_out() {
    let Some(env) = env_with_image("network_none_has_no_route_out") else {
        return;
    };
    let out = env.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "netbox",
        "sh",
        "-c",
        "ip route; ip -o link | grep -c . ; nc 10.0.2.2 80 </dev/null",
    ]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(out.stderr.contains("Network is unreachable"), "{out}");
    let lines = out.stdout_lines();
    assert_eq!(lines, vec!["1"], "only loopback, no route:\n{out}");
}

#[test]
fn two_containers_share_one_network_namespace() {
    let Some(env) = env_with_image("two_containers_share_one_network_namespace") else {
        return;
    };
    let mut first = env.spawn(&[
        "run",
        "--rm",
        "--name",
        "first",
        "--hostname",
        "first-host",
        "netbox",
        "sh",
        "-c",
        "nc -l -p 7000 -e echo from-first",
    ]);
    // Wait until `first` runs, then talk to it over the shared loopback.
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let out = env.run(&[
            "run",
            "--rm",
            "--network",
            "container:first",
            "netbox",
            "sh",
            "-c",
            // Its names too: `first` is a foreground --rm container, whose
            // /etc files live under the runtime dir.
            "grep -q first-host /etc/hosts && echo shared-hosts; \
             for i in $(seq 100); do nc 127.0.0.1 7000 </dev/null && exit 0; sleep 0.1; done; exit 1",
        ]);
        if out.code() == Some(0) || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    kill_group(&mut first);
    assert!(out.stdout.contains("from-first"), "{out}");
    assert!(out.stdout.contains("shared-hosts"), "{out}");
}

#[test]
fn network_failures_say_what() {
    let Some(env) = env_with_image("network_failures_say_what") else {
        return;
    };
    let out = env.fails(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "netbox",
        "true",
    ]);
    assert!(out.stderr.contains("no such container: nosuch"), "{out}");
    let out = env.fails(&["run", "--rm", "--network", "bogus", "netbox", "true"]);
    assert!(out.stderr.contains("container:NAME"), "{out}");
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = taken.local_addr().unwrap().port();
    let out = env.fails(&[
        "run",
        "--rm",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "netbox",
        "true",
    ]);
    assert!(out.stderr.contains("already uses tcp port"), "{out}");
    let out = env.fails(&["run", "--rm", "-p", "127.0.0.1:80:80", "netbox", "true"]);
    assert!(out.stderr.contains("ip_unprivileged_port_start"), "{out}");
    let out = env.fails(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "8080:80",
        "netbox",
        "true",
    ]);
    assert!(out.stderr.contains("need --network user"), "{out}");
}
