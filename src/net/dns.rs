//! Name resolution for containers: the host's resolvers (read from its
//! resolv.conf) that the forwarder at 10.0.2.3 relays to, and the
//! container's own /etc/resolv.conf and /etc/hosts text.

use super::{GATEWAY_V4, HOST_NAMES, RESOLVER_V4};
use std::net::{IpAddr, SocketAddr};

/// The nameservers of a resolv.conf text, port 53. A systemd-resolved stub
/// (127.0.0.53) is kept: the forwarder runs on the host, where it answers.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("nameserver")).then_some(())?;
            // A scoped IPv6 address (fe80::1%eth0) cannot be used as is.
            let ip: IpAddr = f.next()?.split('%').next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// The search and options lines of a resolv.conf, for the container's.
pub fn search_and_options(resolv_conf: &str) -> Vec<String> {
    resolv_conf
        .lines()
        .filter(|l| l.starts_with("search ") || l.starts_with("options "))
        .map(str::to_string)
        .collect()
}

/// `--dns-search`'s domain: `.` (no search domains at all), or labels of
/// letters, digits, '-' and '_' separated by dots (one trailing dot
/// allowed), at most 255 bytes, not starting with '-'.
pub fn check_search_domain(d: &str) -> Result<(), super::NetError> {
    let bare = d.strip_suffix('.').unwrap_or(d);
    let ok = d == "."
        || (!bare.is_empty()
            && d.len() <= 255
            && !bare.starts_with('-')
            && bare.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }));
    if ok {
        Ok(())
    } else {
        Err(super::NetError::DnsSearch(d.to_string()))
    }
}

/// `--dns-option`'s word: printable, no blank (one word of an `options`
/// line).
pub fn check_option(o: &str) -> Result<(), super::NetError> {
    if !o.is_empty() && o.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(super::NetError::DnsOption(o.to_string()))
    }
}

/// A resolv.conf text with `--dns-search`'s and `--dns-option`'s lines in
/// place of its own `search` (and `domain`) and `options` lines, as docker
/// writes them; an empty list keeps the text's lines. `search .` names no
/// search domain: the text's go and none come.
pub fn with_search_and_options(text: &str, search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    for l in text.lines() {
        let key = l.split_whitespace().next().unwrap_or_default();
        let replaced = match key {
            "search" | "domain" => !search.is_empty(),
            "options" => !options.is_empty(),
            _ => false,
        };
        if !replaced {
            out.push_str(l);
            out.push('\n');
        }
    }
    let search: Vec<&str> = search
        .iter()
        .map(String::as_str)
        .filter(|d| *d != ".")
        .collect();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// The forwarder's upstreams: `BURROW_DNS_UPSTREAM` (a comma-separated list
/// of IP:PORT, a seam for tests and odd set-ups), else the host's
/// /etc/resolv.conf; with nothing usable, 127.0.0.53 as a last guess.
pub fn host_upstreams() -> Vec<SocketAddr> {
    if let Ok(v) = std::env::var("BURROW_DNS_UPSTREAM") {
        let list: Vec<SocketAddr> = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        if !list.is_empty() {
            return list;
        }
    }
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let list = nameservers(&text);
    if list.is_empty() {
        vec![SocketAddr::from(([127, 0, 0, 53], 53))]
    } else {
        list
    }
}

/// The container's resolv.conf: `--dns` servers if given, else burrow's
/// forwarder; the host's search domains and options either way.
pub fn container_resolv_conf(dns: &[IpAddr], host_resolv_conf: &str) -> String {
    let mut out = String::from("# written by burrow\n");
    for l in search_and_options(host_resolv_conf) {
        out.push_str(&l);
        out.push('\n');
    }
    if dns.is_empty() {
        out.push_str(&format!("nameserver {RESOLVER_V4}\n"));
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
    }
    out
}

/// The container's /etc/hosts: localhost, its own name, the host's names
/// (when `gateway` is some: the address that reaches the host) and
/// `--add-host` entries.
pub fn container_hosts(
    hostname: &str,
    own_address: Option<IpAddr>,
    gateway: Option<IpAddr>,
    extra: &[(String, IpAddr)],
) -> String {
    let mut out = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    match own_address {
        Some(a) => out.push_str(&format!("{a}\t{hostname}\n")),
        None => out.push_str(&format!("127.0.1.1\t{hostname}\n")),
    }
    if let Some(g) = gateway {
        out.push_str(&format!("{g}\t{}\n", HOST_NAMES.join(" ")));
    }
    for (name, ip) in extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    out
}

/// The gateway's address, which /etc/hosts names for the host.
pub fn default_gateway() -> IpAddr {
    IpAddr::V4(GATEWAY_V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_and_options_flags_replace_the_texts_lines() {
        let host = "nameserver 1.1.1.1\ndomain old.example\nsearch old.example\noptions edns0\n";
        let both = with_search_and_options(
            host,
            &["a.test".into(), "b.test".into()],
            &["ndots:2".into()],
        );
        assert_eq!(
            both,
            "nameserver 1.1.1.1\nsearch a.test b.test\noptions ndots:2\n"
        );
        assert_eq!(with_search_and_options(host, &[], &[]), host);
        assert_eq!(
            with_search_and_options(host, &[".".into()], &[]),
            "nameserver 1.1.1.1\noptions edns0\n"
        );
        for ok in [".", "example.com", "example.com.", "my_lab.example"] {
            assert!(check_search_domain(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x.test", "a..b", "a b", ".."] {
            assert!(check_search_domain(bad).is_err(), "{bad}");
        }
        assert!(check_option("ndots:2").is_ok());
        assert!(check_option("ndots: 2").is_err() && check_option("").is_err());
    }

    #[test]
    fn nameservers_keep_the_stub_and_skip_junk() {
        let text = "# c\nnameserver 127.0.0.53\nsearch lan\nnameserver fe80::1%eth0\nnameserver nope\noptions edns0\n";
        assert_eq!(
            nameservers(text),
            vec![
                "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
        let r = container_resolv_conf(&[], text);
        assert!(r.contains("nameserver 10.0.2.3\n"), "{r}");
        assert!(
            r.contains("search lan\n") && r.contains("options edns0\n"),
            "{r}"
        );
        let r = container_resolv_conf(&["9.9.9.9".parse().unwrap()], text);
        assert!(
            !r.contains("10.0.2.3") && r.contains("nameserver 9.9.9.9"),
            "{r}"
        );
    }

    #[test]
    fn hosts_name_the_host_and_extra_entries() {
        let h = container_hosts(
            "box",
            Some("10.0.2.100".parse().unwrap()),
            Some(default_gateway()),
            &[("db".into(), "10.9.9.9".parse().unwrap())],
        );
        assert!(h.contains("10.0.2.100\tbox\n"), "{h}");
        assert!(
            h.contains("10.0.2.2\thost.containers.internal host.docker.internal\n"),
            "{h}"
        );
        assert!(h.contains("10.9.9.9\tdb\n"), "{h}");
    }
}
