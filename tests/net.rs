//! Container networking end to end, as the unprivileged test users: the
//! host's loopback reached through the host name (TCP and UDP), DNS through
//! burrow's forwarder (to a tiny resolver on 127.0.0.1), published ports
//! with the client's address seen inside, `--network none` and shared
//! namespaces. Every address used is loopback or inside namespaces the
//! tests make.
#![deny(clippy::undocumented_unsafe_blocks)]

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

#[test]
fn dns_search_and_dns_option_replace_the_hosts_lines_in_every_network_mode() {
    let Some(env) =
        env_with_image("dns_search_and_dns_option_replace_the_hosts_lines_in_every_network_mode")
    else {
        return;
    };
    for mode in ["user", "host", "none"] {
        let out = env.ok(&[
            "run",
            "--rm",
            "--network",
            mode,
            "--dns-search",
            "corp.example",
            "--dns-search",
            "lab.example",
            "--dns-option",
            "ndots:3",
            "--dns-opt",
            "timeout:1",
            "netbox",
            "cat",
            "/etc/resolv.conf",
        ]);
        let search: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("search"))
            .collect();
        let options: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("options"))
            .collect();
        assert_eq!(search, ["search corp.example lab.example"], "{mode}: {out}");
        assert_eq!(options, ["options ndots:3 timeout:1"], "{mode}: {out}");
        assert!(!out.stdout.contains("\ndomain "), "{mode}: {out}");
    }
    // The host's nameservers stay with the host's network.
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--dns-search",
        "x.test",
        "netbox",
        "cat",
        "/etc/resolv.conf",
    ]);
    for ns in host.lines().filter(|l| l.starts_with("nameserver")) {
        assert!(out.stdout.contains(ns), "{ns}: {out}");
    }
    // `.` names no search domain at all.
    let out = env.ok(&[
        "run",
        "--rm",
        "--dns-search",
        ".",
        "netbox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(!out.stdout.contains("search"), "{out}");
    assert!(out.stdout.contains("nameserver 10.0.2.3"), "{out}");
    for (flag, bad) in [
        ("--dns-search", "-bad.example"),
        ("--dns-option", "ndots: 2"),
    ] {
        let out = env.run(&["run", "--rm", &format!("{flag}={bad}"), "netbox", "true"]);
        out.assert_error();
        assert!(out.error_line().contains(flag), "{out}");
    }
}

/// Connects until the container answers (its server may
/// not listen yet), returning everything it sent.
fn fetch(port: u16, send: &[u8]) -> String {
    common::wait_for(
        Duration::from_secs(30),
        &format!("the container to answer on port {port}"),
        || {
            let mut s = std::net::TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                Duration::from_secs(5),
            )
            .ok()?;
            let _ = s.write_all(send);
            let mut out = String::new();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = s.read_to_string(&mut out);
            (!out.is_empty()).then_some(out)
        },
    )
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

/// Turns direct ports off in the user's config: every published port is
/// then carried by burrow's relay.
fn relay_only(env: &TestEnv) {
    let dir = env.config_home.join("burrow");
    std::fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    let file = dir.join("config.toml");
    std::fs::write(&file, "[network]\ndirect_ports = false\n").unwrap();
    env.give(&file);
}

#[test]
fn published_port_reaches_the_container_with_the_client_address_kept() {
    let Some(env) =
        env_with_image("published_port_reaches_the_container_with_the_client_address_kept")
    else {
        return;
    };
    // The relay's way of keeping the address (the server's connections are
    // in the container's own netstat only when they are relayed).
    relay_only(&env);
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
    let (text, local) = common::wait_for(
        Duration::from_secs(30),
        &format!("an answer on {port}"),
        || {
            let mut s = connect_from(client, port).ok()?;
            let local = s.local_addr().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out.contains("ESTABLISHED").then_some((out, local))
        },
    );
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
    let reply = common::wait_for(
        Duration::from_secs(30),
        &format!("a UDP answer on {port}"),
        || {
            let _ = client.send_to(b"hi", (Ipv4Addr::LOCALHOST, port));
            let mut buf = [0u8; 200];
            let (n, _) = client.recv_from(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).to_string())
        },
    );
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
    // httpd's port served directly first, then by the relay.
    for direct in [true, false] {
        if !direct {
            relay_only(&env);
        }
        a_thousand_short_connections(&env, direct);
    }
}

fn a_thousand_short_connections(env: &TestEnv, direct: bool) {
    let port = free_port();
    let name = if direct { "web" } else { "web-relayed" };
    let mut ctr = env.spawn(&[
        "run",
        "--rm",
        "--name",
        name,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "netbox",
        "sh",
        "-c",
        "mkdir /tmp/www && echo pong > /tmp/www/ping && httpd -f -p 8080 -h /tmp/www",
    ]);
    let request = b"GET /ping HTTP/1.0\r\n\r\n";
    assert!(fetch(port, request).contains("pong"));
    wait_listener(port, !direct);
    // The ports as `port`, `ps` and `inspect` show them.
    let out = env.ok(&["port", name]);
    assert_eq!(
        out.stdout.trim(),
        format!("8080/tcp -> 127.0.0.1:{port}"),
        "{out}"
    );
    let out = env.ok(&["port", name, "8080/tcp"]);
    assert_eq!(out.stdout.trim(), format!("127.0.0.1:{port}"), "{out}");
    let out = env.ok(&["ps"]);
    assert!(
        out.stdout.contains(&format!("127.0.0.1:{port}->8080/tcp")),
        "{out}"
    );
    let out = env.ok(&["inspect", name]);
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
    assert_eq!(ok, 1000, "answers lost (direct: {direct})");
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
    let lines = common::wait_for(Duration::from_secs(30), "two published ports", || {
        let out = env.run(&["port", "pub"]);
        if out.code() == Some(0) && out.stdout.lines().count() == 2 {
            Ok(out.stdout)
        } else {
            Err(out.to_string())
        }
    });
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
fn expose_records_ports_that_publish_all_binds_and_inspect_shows() {
    let Some(env) = env_with_image("expose_records_ports_that_publish_all_binds_and_inspect_shows")
    else {
        return;
    };
    // --expose alone publishes nothing; it is recorded as docker's
    // ExposedPorts, with -p's container ports.
    env.ok(&[
        "create",
        "--name",
        "quiet",
        "--expose",
        "7000-7001",
        "--expose",
        "53/udp",
        "netbox",
        "true",
    ]);
    let out = env.ok(&[
        "inspect",
        "--format",
        "{{json .Config.ExposedPorts}}",
        "quiet",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    let keys: Vec<&String> = v.as_object().expect("a map").keys().collect();
    assert_eq!(keys, ["53/udp", "7000/tcp", "7001/tcp"], "{out}");
    // -P binds each exposed port to a free host port; a port -p names
    // keeps -p's host port.
    let fixed = free_port();
    let mut ctr = env.spawn(&[
        "run",
        "--rm",
        "--name",
        "loud",
        "--expose",
        "7000",
        "--expose",
        "8080",
        "-p",
        &format!("127.0.0.1:{fixed}:8080"),
        "-P",
        "netbox",
        "sh",
        "-c",
        "mkdir -p /tmp/w && echo exposed > /tmp/w/x && httpd -f -p 7000 -h /tmp/w",
    ]);
    let lines = common::wait_for(Duration::from_secs(30), "two published ports", || {
        let out = env.run(&["port", "loud"]);
        if out.code() == Some(0) && out.stdout.lines().count() == 2 {
            Ok(out.stdout)
        } else {
            Err(out.to_string())
        }
    });
    assert!(
        lines.contains(&format!("8080/tcp -> 127.0.0.1:{fixed}")),
        "{lines}"
    );
    let port: u16 = lines
        .lines()
        .find_map(|l| l.strip_prefix("7000/tcp -> 0.0.0.0:"))
        .unwrap_or_else(|| panic!("{lines}"))
        .trim()
        .parse()
        .expect("a port number");
    assert!(fetch(port, b"GET /x HTTP/1.0\r\n\r\n").contains("exposed"));
    kill_group(&mut ctr);
    let bad = env.run(&["create", "--expose", "70000", "netbox"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert!(bad.stderr.contains("--expose"), "{bad}");
    env.ok(&["rm", "quiet"]);
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
    common::wait_for(
        Duration::from_secs(30),
        "the published port to accept",
        || TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok(),
    );
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
    let mut c = common::wait_for(
        Duration::from_secs(30),
        "the container to connect out",
        || host.accept().ok().map(|(c, _)| c),
    );
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
    common::wait_for(
        Duration::from_secs(10),
        &format!("port {port} to be let go"),
        || TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok(),
    );
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
    let out = common::wait_for(
        Duration::from_secs(30),
        "the other container to answer",
        || {
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
            if out.code() == Some(0) {
                Ok(out)
            } else {
                Err(out.to_string())
            }
        },
    );
    kill_group(&mut first);
    assert!(out.stdout.contains("from-first"), "{out}");
    assert!(out.stdout.contains("shared-hosts"), "{out}");
}

#[test]
fn a_container_with_an_init_is_joined_exec_d_and_copied_from() {
    let Some(env) = env_with_image("a_container_with_an_init_is_joined_exec_d_and_copied_from")
    else {
        return;
    };
    // Its pid 1 is burrow's init, which is not dumpable: its /proc/PID/ns
    // files cannot be opened from outside.
    env.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "withinit",
        "netbox",
        "sh",
        "-c",
        "while true; do nc -l -p 7000 -e echo from-init; done",
    ]);
    let out = common::wait_for(
        Duration::from_secs(30),
        "the other container to answer",
        || {
            let out = env.run(&[
                "run",
                "--rm",
                "--network",
                "container:withinit",
                "netbox",
                "sh",
                "-c",
                "for i in $(seq 100); do nc 127.0.0.1 7000 </dev/null && exit 0; sleep 0.1; done; exit 1",
            ]);
            if out.code() == Some(0) {
                Ok(out)
            } else {
                Err(out.to_string())
            }
        },
    );
    // exec and cp reach it too.
    let exec = env.run(&["exec", "withinit", "echo", "exec-ok"]);
    let cp = env.run(&["cp", "withinit:/bin/busybox", "-"]);
    env.ok(&["rm", "-f", "withinit"]);
    assert!(out.stdout.contains("from-init"), "{out}");
    assert!(exec.stdout.contains("exec-ok"), "{exec}");
    assert_eq!(cp.code(), Some(0), "{cp}");
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
    assert!(out.stderr.contains("No such container: nosuch"), "{out}");
    let out = env.fails(&["run", "--rm", "--network", "bogus", "netbox", "true"]);
    assert!(out.stderr.contains("network bogus not found"), "{out}");
    let out = env.fails(&["run", "--rm", "--network", "bo gus", "netbox", "true"]);
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

/// A TCP server for the direct-port tests, run with the host's python3
/// (bound in read-only): `srv.py ADDR PORT [QUITS]`. It binds once and
/// lets go (as a server probing its port does), binds again, prints its
/// socket's own address, and answers each client with what it sees,
/// `peer=IP:PORT sock=IP:PORT`; the QUITS-th client (1 by default) sending
/// `quit` makes it exit 1.
const SERVER_PY: &[u8] = b"import socket, sys\n\
host, port = sys.argv[1], int(sys.argv[2])\n\
quits = int(sys.argv[3]) if len(sys.argv) > 3 else 1\n\
fam = socket.AF_INET6 if ':' in host else socket.AF_INET\n\
def sock():\n\
\x20   s = socket.socket(fam, socket.SOCK_STREAM)\n\
\x20   s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
\x20   if fam == socket.AF_INET6:\n\
\x20       s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n\
\x20   return s\n\
p = sock(); p.bind((host, port)); p.close()\n\
s = sock(); s.bind((host, port)); s.listen(64)\n\
print('listening %s:%d' % s.getsockname()[:2], flush=True)\n\
while True:\n\
\x20   c, a = s.accept()\n\
\x20   c.settimeout(2)\n\
\x20   try:\n\
\x20       d = c.recv(16)\n\
\x20   except OSError:\n\
\x20       d = b''\n\
\x20   l = c.getsockname()\n\
\x20   c.sendall(('peer=%s:%d sock=%s:%d\\n' % (a[0], a[1], l[0], l[1])).encode())\n\
\x20   c.close()\n\
\x20   quits -= d.startswith(b'quit')\n\
\x20   if quits == 0:\n\
\x20       sys.exit(1)\n";

/// `run` arguments binding the host's python3 and the server script in.
fn python_args(env: &TestEnv) -> Vec<String> {
    let server = env.fixture("srv.py", SERVER_PY);
    [
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
        "-v",
        &format!("{}:/srv.py:ro", path_str(&server)),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Asks the server at `to` (from `from`, any local address) what it sees,
/// sending `say` first; retried until it answers.
fn ask(from: std::net::IpAddr, to: SocketAddr, say: &[u8]) -> (String, SocketAddr) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    common::wait_for(
        Duration::from_secs(30),
        &format!("an answer on {to}"),
        || {
            let domain = if to.is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            };
            // SAFETY: plain socket(2); owned right below.
            let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            assert!(fd >= 0, "socket");
            // SAFETY: a new fd nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let bound = nix::sys::socket::bind(
                fd.as_raw_fd(),
                &nix::sys::socket::SockaddrStorage::from(SocketAddr::new(from, 0)),
            );
            bound.expect("bind the client");
            nix::sys::socket::connect(fd.as_raw_fd(), &nix::sys::socket::SockaddrStorage::from(to))
                .ok()?;
            let mut s = TcpStream::from(fd);
            let local = s.local_addr().unwrap();
            let _ = s.write_all(say);
            let _ = s.shutdown(std::net::Shutdown::Write);
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out.starts_with("peer=")
                .then(|| (out.trim().to_string(), local))
        },
    )
}

/// Who holds the TCP socket listening on host port `port`: `Some(true)`
/// when a process of this network namespace does (burrow's relay),
/// `Some(false)` when only processes of another one do (the container's
/// server itself), `None` when nothing listens or nobody is found.
fn listener_held_here(port: u16) -> Option<bool> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && f.get(3) == Some(&"0A") {
                if let Some(inode) = f.get(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    held_here(&inodes)
}

/// Who holds the sockets `inodes` (as `socket:[INODE]`): `Some(true)` when
/// a process of this network namespace does, `Some(false)` when only
/// processes of another one do, `None` when nobody is found.
fn held_here(inodes: &[String]) -> Option<bool> {
    if inodes.is_empty() {
        return None;
    }
    let ours = std::fs::read_link("/proc/self/ns/net").ok()?;
    let (mut here, mut there) = (false, false);
    for proc_dir in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(fds) = std::fs::read_dir(proc_dir.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|t| inodes.iter().any(|i| t.as_os_str() == i.as_str()))
        });
        if holds {
            match std::fs::read_link(proc_dir.path().join("ns/net")) {
                Ok(ns) if ns == ours => here = true,
                Ok(_) => there = true,
                Err(_) => {}
            }
        }
    }
    (here || there).then_some(here)
}

/// Waits until something listens on host port `port`, then says who.
fn wait_listener(port: u16, held_here: bool) {
    common::wait_for(
        Duration::from_secs(30),
        &format!("port {port}'s listener to be held here: {held_here}"),
        || {
            let now = listener_held_here(port);
            if now == Some(held_here) {
                Ok(())
            } else {
                Err(format!("held here: {now:?}"))
            }
        },
    );
}

fn localhost5() -> std::net::IpAddr {
    std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5))
}

fn to_port(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// The inside client of the direct-port tests: asks the server at
/// 127.0.0.1:8080 from inside the container until it answers.
const INSIDE_CLIENT: &str =
    "until nc 127.0.0.1 8080 </dev/null >/tmp/in 2>/dev/null && [ -s /tmp/in ]; \
     do sleep 0.1; done; echo inside: $(cat /tmp/in)";

#[test]
fn a_published_server_on_the_wildcard_listens_on_the_host_itself() {
    let Some(env) = env_with_image("a_published_server_on_the_wildcard_listens_on_the_host_itself")
    else {
        return;
    };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    // Two quits end the server: the inside client's, and the test's once
    // it has looked from the host.
    let script = format!(
        "python3 /srv.py 0.0.0.0 8080 2 & {INSIDE_CLIENT}; \
         echo quit | nc 127.0.0.1 8080 >/dev/null; wait"
    );
    let mut args = vec!["run", "--rm", "-p", &publish];
    let py = python_args(&env);
    args.extend(py.iter().map(|s| s.as_str()));
    args.extend(["netbox", "sh", "-c", &script]);
    let ctr = env.spawn(&args);
    let (seen, me) = ask(localhost5(), to_port(port), b"");
    // The server accepted on the host's own socket: the client as it
    // bound itself, and the host's address and port as its side.
    assert_eq!(
        seen,
        format!("peer=127.0.0.5:{} sock=127.0.0.1:{port}", me.port())
    );
    // Listening in the host's network namespace, by the container's
    // process: no relay of burrow's holds the port.
    wait_listener(port, false);
    ask(localhost5(), to_port(port), b"quit");
    let out = finish(ctr);
    assert!(
        out.stdout.contains(&format!("listening 127.0.0.1:{port}")),
        "{out}"
    );
    // localhost:8080 inside still reaches the server, through burrow.
    assert!(out.stdout.contains("inside: peer=127.0.0.1:"), "{out}");
    assert!(
        out.stdout.contains(&format!("sock=127.0.0.1:{port}")),
        "{out}"
    );
}

#[test]
fn a_server_bound_to_loopback_inside_keeps_its_own_bind() {
    let Some(env) = env_with_image("a_server_bound_to_loopback_inside_keeps_its_own_bind") else {
        return;
    };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let script = format!(
        "python3 /srv.py 127.0.0.1 8080 & {INSIDE_CLIENT}; \
         echo quit | nc 127.0.0.1 8080 >/dev/null; wait"
    );
    let mut args = vec!["run", "--rm", "-p", &publish];
    let py = python_args(&env);
    args.extend(py.iter().map(|s| s.as_str()));
    args.extend(["netbox", "sh", "-c", &script]);
    let ctr = env.spawn(&args);
    let out = finish(ctr);
    assert!(out.stdout.contains("listening 127.0.0.1:8080\n"), "{out}");
    assert!(
        out.stdout.contains("inside: peer=127.0.0.1:")
            && out.stdout.contains("sock=127.0.0.1:8080"),
        "{out}"
    );
}

#[test]
fn an_ipv6_wildcard_server_is_reached_through_a_published_port() {
    let Some(env) = env_with_image("an_ipv6_wildcard_server_is_reached_through_a_published_port")
    else {
        return;
    };
    let port = free_port();
    let publish = format!("{port}:8080");
    // Under --init: the init and the command inherit the notifier.
    let mut args = vec!["run", "--rm", "--init", "-p", &publish];
    let py = python_args(&env);
    args.extend(py.iter().map(|s| s.as_str()));
    args.extend(["netbox", "python3", "/srv.py", "::", "8080"]);
    let ctr = env.spawn(&args);
    // A dual-stack socket on the host: IPv4 clients v4-mapped, IPv6 ones
    // as they are.
    let (seen, me) = ask(localhost5(), to_port(port), b"");
    assert_eq!(
        seen,
        format!(
            "peer=::ffff:127.0.0.5:{} sock=::ffff:127.0.0.1:{port}",
            me.port()
        )
    );
    let v6 = std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    let (seen, me) = ask(v6, SocketAddr::new(v6, port), b"");
    assert_eq!(seen, format!("peer=::1:{} sock=::1:{port}", me.port()));
    wait_listener(port, false);
    ask(localhost5(), to_port(port), b"quit");
    let out = finish(ctr);
    assert!(
        out.stdout.contains(&format!("listening :::{port}")),
        "{out}"
    );
}

#[test]
fn a_detached_direct_port_works_across_restarts() {
    let Some(env) = env_with_image("a_detached_direct_port_works_across_restarts") else {
        return;
    };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let mut args = vec![
        "run",
        "-d",
        "--name",
        "dsrv",
        "--restart",
        "on-failure:5",
        "-p",
        &publish,
    ];
    let py = python_args(&env);
    args.extend(py.iter().map(|s| s.as_str()));
    args.extend(["netbox", "python3", "/srv.py", "0.0.0.0", "8080"]);
    env.ok(&args);
    let served = |why: &str| {
        let (seen, me) = ask(localhost5(), to_port(port), b"");
        assert_eq!(
            seen,
            format!("peer=127.0.0.5:{} sock=127.0.0.1:{port}", me.port()),
            "{why}"
        );
        wait_listener(port, false);
    };
    served("first start");
    // `exec`'d processes reach it at localhost too.
    let out = env.ok(&["exec", "dsrv", "nc", "127.0.0.1", "8080"]);
    assert!(
        out.stdout.starts_with("peer=127.0.0.1:")
            && out.stdout.contains(&format!("sock=127.0.0.1:{port}")),
        "{out}"
    );
    // The server exits 1: the supervisor starts it again, and the port
    // it held comes back to the next run.
    ask(localhost5(), to_port(port), b"quit");
    served("after the restart policy's restart");
    env.ok(&["restart", "-t", "1", "dsrv"]);
    served("after `burrow restart`");
    env.ok(&["rm", "-f", "dsrv"]);
    common::wait_for(
        Duration::from_secs(10),
        &format!("port {port} to be let go"),
        || TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok(),
    );
}

/// Who holds the host's TCP socket with local port `local` connected to
/// port `remote` (see `held_here`): the container's own process for a
/// direct connection, burrow's stack (in this namespace) otherwise.
fn client_held_here(local: u16, remote: u16) -> Option<bool> {
    let port = |a: Option<&&str>| {
        a.and_then(|a| a.rsplit(':').next())
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if port(f.get(1)) == Some(local) && port(f.get(2)) == Some(remote) {
                if let Some(inode) = f.get(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    held_here(&inodes)
}

/// A TCP server on `at` (host loopback) for one client: reads a line,
/// finds who holds the client's end, answers `tcp got LINE`. Gives the
/// client's address and whether burrow's stack held its end.
/// What `one_client_server` saw: the client's address, and whether
/// burrow's stack held its end (`client_held_here`).
type SeenClient = Option<(SocketAddr, Option<bool>)>;

fn one_client_server(at: SocketAddr) -> (u16, std::thread::JoinHandle<SeenClient>) {
    let l = TcpListener::bind(at).expect("bind");
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        l.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut c, peer) = loop {
            match l.accept() {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(_) => return None,
            }
        };
        c.set_nonblocking(false).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut line = [0u8; 64];
        let n = c.read(&mut line).unwrap_or(0);
        // The client waits for the answer: its end is still open.
        let here = client_held_here(peer.port(), port);
        let _ = c.write_all(
            format!("tcp got {}\n", String::from_utf8_lossy(&line[..n]).trim()).as_bytes(),
        );
        Some((peer, here))
    });
    (port, server)
}

#[test]
fn a_connect_to_the_host_name_is_made_on_the_host_directly() {
    let Some(env) = env_with_image("a_connect_to_the_host_name_is_made_on_the_host_directly")
    else {
        return;
    };
    let (port, server) = one_client_server(to_port(0));
    let v6 = std::net::Ipv6Addr::LOCALHOST;
    let (port6, server6) = one_client_server(SocketAddr::from((v6, 0)));
    let refused = free_port();
    // The container's own loopback server is reached as before: 127.0.0.1
    // inside is not the gateway.
    let script = format!(
        "echo hello | nc host.containers.internal {port}; \
         echo hello6 | nc fd00::2 {port6}; \
         start=$(busybox date +%s); nc 10.0.2.2 {refused} </dev/null; \
         echo refused after $(( $(busybox date +%s) - start ))s; \
         python3 /srv.py 127.0.0.1 8080 & {INSIDE_CLIENT}; \
         echo quit | nc 127.0.0.1 8080 >/dev/null; wait"
    );
    let mut args = vec!["run", "--rm"];
    let py = python_args(&env);
    args.extend(py.iter().map(|s| s.as_str()));
    args.extend(["netbox", "sh", "-c", &script]);
    let out = env.run(&args);
    assert!(out.stdout.contains("tcp got hello\n"), "{out}");
    assert!(out.stdout.contains("tcp got hello6\n"), "{out}");
    let (peer, here) = server.join().unwrap().expect("a client");
    // The client's end is a socket of the host's loopback, held by the
    // container's nc: no stack of burrow's in between.
    assert!(peer.ip().is_loopback(), "{peer}");
    assert_eq!(here, Some(false), "client {peer}: held by burrow's stack");
    let (peer6, here6) = server6.join().unwrap().expect("an IPv6 client");
    assert_eq!(peer6.ip(), std::net::IpAddr::V6(v6));
    assert_eq!(here6, Some(false), "client {peer6}: held by burrow's stack");
    // Nobody listening: refused at once, from the host's own answer.
    assert!(out.stderr.contains("Connection refused"), "{out}");
    let secs = out
        .stdout
        .split_once("refused after ")
        .and_then(|(_, r)| r.split_once('s'))
        .and_then(|(n, _)| n.parse::<u32>().ok());
    assert!(secs.is_some_and(|s| s <= 1), "{out}");
    assert!(out.stdout.contains("inside: peer=127.0.0.1:"), "{out}");
    assert!(out.stdout.contains("sock=127.0.0.1:8080"), "{out}");
}

#[test]
fn a_detached_container_connects_to_the_host_directly() {
    let Some(env) = env_with_image("a_detached_container_connects_to_the_host_directly") else {
        return;
    };
    let (port, server) = one_client_server(to_port(0));
    env.ok(&[
        "run",
        "-d",
        "--name",
        "dclient",
        "netbox",
        "sh",
        "-c",
        &format!("echo hello | nc host.containers.internal {port}; sleep 60"),
    ]);
    let got = server.join().unwrap();
    env.ok(&["rm", "-f", "dclient"]);
    let (peer, here) = got.expect("a client");
    assert_eq!(here, Some(false), "client {peer}: held by burrow's stack");
}

#[test]
fn with_direct_host_off_connections_to_the_host_go_through_the_stack() {
    let Some(env) =
        env_with_image("with_direct_host_off_connections_to_the_host_go_through_the_stack")
    else {
        return;
    };
    let dir = env.config_home.join("burrow");
    std::fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    let file = dir.join("config.toml");
    std::fs::write(&file, "[network]\ndirect_host = false\n").unwrap();
    env.give(&file);
    let (port, server) = one_client_server(to_port(0));
    let out = env.run(&[
        "run",
        "--rm",
        "netbox",
        "sh",
        "-c",
        &format!("echo hello | nc host.containers.internal {port}"),
    ]);
    assert!(out.stdout.contains("tcp got hello"), "{out}");
    let (peer, here) = server.join().unwrap().expect("a client");
    assert_eq!(
        here,
        Some(true),
        "client {peer}: not held by burrow's stack"
    );
}

/// A non-blocking client, run with the host's python3: `client.py PORT
/// early|late` connects to the gateway's PORT, its socket put in an epoll
/// set before the connect (`early`, as nginx does) or after (`late`), waits
/// for the set to say it is writable, and prints the answer to `NAME`.
const EPOLL_CLIENT_PY: &[u8] = b"import socket, select, sys\n\
port, when = int(sys.argv[1]), sys.argv[2]\n\
s = socket.socket(); s.setblocking(False)\n\
e = select.epoll()\n\
if when == 'early':\n\
\x20   e.register(s.fileno(), select.EPOLLOUT)\n\
try:\n\
\x20   s.connect(('10.0.2.2', port))\n\
except BlockingIOError:\n\
\x20   pass\n\
if when == 'late':\n\
\x20   e.register(s.fileno(), select.EPOLLOUT)\n\
ev = e.poll(10)\n\
assert ev and ev[0][1] & select.EPOLLOUT, ev\n\
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0\n\
s.setblocking(True); s.sendall(when.encode() + b'\\n')\n\
print(s.recv(100).decode().strip(), flush=True)\n";

#[test]
fn a_socket_in_an_epoll_set_before_its_connect_goes_through_the_stack() {
    let Some(env) =
        env_with_image("a_socket_in_an_epoll_set_before_its_connect_goes_through_the_stack")
    else {
        return;
    };
    let client = env.fixture("client.py", EPOLL_CLIENT_PY);
    let (early, early_server) = one_client_server(to_port(0));
    let (late, late_server) = one_client_server(to_port(0));
    let script = format!("python3 /client.py {early} early && python3 /client.py {late} late");
    let bind = format!("{}:/client.py:ro", path_str(&client));
    let mut args = vec!["run", "--rm", "-v", &bind];
    let py = python_args(&env);
    args.extend(py.iter().map(|s| s.as_str()));
    args.extend(["netbox", "sh", "-c", &script]);
    let out = env.run(&args);
    assert!(out.stdout.contains("tcp got early\n"), "{out}");
    assert!(out.stdout.contains("tcp got late\n"), "{out}");
    // Replaced, the early socket's epoll set would watch a dead file.
    let (peer, here) = early_server.join().unwrap().expect("the early client");
    assert_eq!(here, Some(true), "client {peer}: not carried by the stack");
    // A non-blocking client registering after its connect is served
    // directly.
    let (peer, here) = late_server.join().unwrap().expect("the late client");
    assert_eq!(here, Some(false), "client {peer}: held by burrow's stack");
}

/// Two containers publishing the same host port, started back to back:
/// the second start fails (exit 125, the port "already allocated") and
/// leaves nothing running, and the first one serves the port. 20 tries,
/// with the container's server taking the port directly and through the
/// relay.
#[test]
fn a_host_port_is_published_by_one_container_only() {
    let Some(env) = env_with_image("a_host_port_is_published_by_one_container_only") else {
        return;
    };
    for direct in [true, false] {
        if !direct {
            relay_only(&env);
        }
        for i in 0..10 {
            let port = free_port();
            let publish = format!("127.0.0.1:{port}:8080");
            let start =
                |name: &str| {
                    env.run(&[
                    "run", "-d", "--name", name, "-p", &publish, "netbox", "sh", "-c",
                    "mkdir /tmp/w && echo $HOSTNAME > /tmp/w/x && exec httpd -f -p 8080 -h /tmp/w",
                ])
                };
            let (a, b) = (start("first"), start("second"));
            let why = format!("try {i}, direct ports {direct}\n{a}\n{b}");
            a.assert_ok();
            b.assert_error();
            assert!(
                b.error_line().contains(&format!(
                    "Bind for 127.0.0.1:{port} failed: port is already allocated"
                )),
                "{why}"
            );
            let id = a.stdout.trim();
            let ps = env.ok(&["ps", "-q", "--no-trunc"]);
            assert_eq!(ps.stdout.trim(), id, "{why}\n{ps}");
            let served = fetch(port, b"GET /x HTTP/1.0\r\n\r\n");
            assert!(served.contains(&id[..12]), "{why}\n{served}");
            env.ok(&["rm", "-f", "first"]);
        }
    }
}
