//! Image references (`registry/repository[:tag][@digest]`) parsed and
//! normalized by docker's grammar, with an error that names the input and
//! the exact fault. Pure string work: never touches the network or the store.

use super::Digest;
use std::fmt;
use std::str::FromStr;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

/// The longest `registry/repository` docker accepts.
pub const NAME_MAX: usize = 255;

/// The longest tag docker accepts.
pub const TAG_MAX: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference {input:?}: {why}")]
    Invalid { input: String, why: String },
}

/// `registry/repository[:tag][@digest]`, normalized: `busybox` is
/// `docker.io/library/busybox:latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses with docker's rules; an unqualified name gets `docker.io`.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        Self::parse_in(input, DOCKER_HUB)
    }

    /// Parses; an unqualified name gets `default_registry` (`localhost` for
    /// images made here, as podman names them). A tag of `latest` is added
    /// when neither tag nor digest is given.
    pub fn parse_in(input: &str, default_registry: &str) -> Result<Reference, ReferenceError> {
        parse(input, default_registry).map_err(|why| ReferenceError::Invalid {
            input: input.to_string(),
            why,
        })
    }

    /// Whether `input` names its registry (`host.tld/...`, `host:port/...`,
    /// `localhost/...`). Docker's rule: the part before the first `/` is a
    /// registry when it has a `.` or a `:`, is `localhost`, or has an
    /// uppercase letter (a repository never does, a host name may).
    pub fn is_qualified(input: &str) -> bool {
        match input.split_once('/') {
            Some((first, _)) => looks_like_registry(first),
            None => false,
        }
    }

    /// `registry/repository`, no tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name as docker shows it: `busybox` for
    /// `docker.io/library/busybox`, `user/app` for `docker.io/user/app`,
    /// and the full name for any other registry.
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            match self.repository.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The reference as docker shows it: `busybox:latest`,
    /// `quay.io/a/b@sha256:...`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_tag_and_digest(&mut s);
        s
    }

    /// The registry's host (without IPv6 brackets) and port, for
    /// connecting; URLs should use `registry` as it is.
    pub fn host_port(&self) -> (&str, Option<u16>) {
        split_registry(&self.registry)
    }

    fn push_tag_and_digest(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_tag_and_digest(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

/// Splits a registry (`host`, `host:port`, `[v6]:port`) into its host,
/// without IPv6 brackets, and its port. A port that is not a number gives
/// `None`; registries from `Reference::parse` always have a valid one.
pub fn split_registry(registry: &str) -> (&str, Option<u16>) {
    if let Some(after_bracket) = registry.strip_prefix('[') {
        if let Some((host, rest)) = after_bracket.split_once(']') {
            let port = rest.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port);
        }
        return (registry, None);
    }
    match registry.split_once(':') {
        Some((host, port)) => (host, port.parse().ok()),
        None => (registry, None),
    }
}

fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn parse(input: &str, default_registry: &str) -> Result<Reference, String> {
    if input.is_empty() {
        return Err("the reference is empty".into());
    }
    // Docker refuses these so that an image id is never taken for a name.
    if input.len() == 64 && Digest::from_hex(input).is_ok() {
        return Err("a 64-digit hex string is an image id, not a repository name".into());
    }

    let (rest, digest) = match input.split_once('@') {
        Some((rest, d)) => (rest, Some(parse_digest(d)?)),
        None => (input, None),
    };
    if rest.is_empty() {
        return Err("no repository name before '@'".into());
    }
    if rest.starts_with('[') && !rest.contains('/') {
        return Err(
            "a registry address must be followed by /repository (as in [::1]:5000/name)".into(),
        );
    }

    // A tag's ':' comes after the last '/'; one before it is a port.
    let after_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[after_slash..].rfind(':') {
        Some(i) => {
            let (name, tag) = (&rest[..after_slash + i], &rest[after_slash + i + 1..]);
            check_tag(tag)?;
            (name, Some(tag.to_string()))
        }
        None => (rest, None),
    };
    if name.is_empty() {
        return Err("no repository name before the tag".into());
    }

    let (domain, path) = match name.split_once('/') {
        Some((first, path)) if looks_like_registry(first) => {
            check_registry(first)?;
            (Some(first), path)
        }
        _ => (None, name),
    };
    check_path(path)?;

    let registry = match domain {
        None => default_registry,
        Some("index.docker.io") => DOCKER_HUB,
        Some(d) => d,
    };
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    let len = registry.len() + 1 + repository.len();
    if len > NAME_MAX {
        return Err(format!(
            "the name {registry}/{repository} is {len} characters long; the limit is {NAME_MAX}"
        ));
    }

    let tag = match (tag, &digest) {
        (None, None) => Some("latest".to_string()),
        (tag, _) => tag,
    };
    Ok(Reference {
        registry: registry.to_string(),
        repository,
        tag,
        digest,
    })
}

fn parse_digest(d: &str) -> Result<Digest, String> {
    if d.is_empty() {
        return Err("nothing after '@': expected a digest such as sha256:<64 hex digits>".into());
    }
    let Some((algorithm, hex)) = d.split_once(':') else {
        return Err(format!(
            "digest {d:?} has no algorithm: expected sha256:<64 hex digits>"
        ));
    };
    if algorithm != "sha256" {
        return Err(if is_digest_algorithm(algorithm) {
            format!("digest algorithm {algorithm:?} is not supported: only sha256 is")
        } else {
            format!("invalid digest {d:?}: expected sha256:<64 hex digits>")
        });
    }
    Digest::from_hex(hex).map_err(|_| {
        if hex.len() != 64 {
            format!(
                "digest {d:?} has {} characters after sha256:, expected 64 hex digits",
                hex.chars().count()
            )
        } else {
            format!("digest {d:?} must be 64 lowercase hex digits after sha256:")
        }
    })
}

/// The OCI grammar for an algorithm: `[a-z0-9]+([+._-][a-z0-9]+)*`.
fn is_digest_algorithm(a: &str) -> bool {
    !a.is_empty()
        && a.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// `[\w][\w.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    match chars.next() {
        None => return Err("empty tag after ':'".into()),
        Some(c) if !is_word(c) => {
            return Err(format!(
                "tag {tag:?} must start with a letter, a digit or '_'"
            ))
        }
        Some(_) => {}
    }
    if let Some(c) = chars.find(|&c| !(is_word(c) || c == '.' || c == '-')) {
        return Err(format!("character {c:?} is not allowed in tag {tag:?}"));
    }
    if tag.len() > TAG_MAX {
        return Err(format!(
            "tag is {} characters long; the limit is {TAG_MAX}",
            tag.len()
        ));
    }
    Ok(())
}

/// `host[:port]`, where host is DNS labels (letters, digits, inner dashes)
/// or a bracketed IPv6 address.
fn check_registry(domain: &str) -> Result<(), String> {
    let port = if let Some(after) = domain.strip_prefix('[') {
        let Some((addr, rest)) = after.split_once(']') else {
            return Err(format!("registry {domain:?} has '[' without ']'"));
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(format!(
                "registry {domain:?}: {addr:?} is not an IPv6 address (hex digits and ':' only)"
            ));
        }
        match rest {
            "" => None,
            _ => match rest.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(format!(
                        "registry {domain:?}: expected ':port' after ']', found {rest:?}"
                    ))
                }
            },
        }
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        for label in host.split('.') {
            if label.is_empty() {
                return Err(format!("registry host {host:?} has an empty label"));
            }
            if let Some(c) = label
                .chars()
                .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
            {
                return Err(format!(
                    "character {c:?} is not allowed in registry host {host:?}"
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(format!(
                    "registry host {host:?}: label {label:?} must start and end with a letter or digit"
                ));
            }
        }
        port
    };
    if let Some(port) = port {
        if port.is_empty() {
            return Err(format!("registry {domain:?} has an empty port"));
        }
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "registry {domain:?}: port {port:?} is not a number"
            ));
        }
        if port.parse::<u16>().is_err() {
            return Err(format!(
                "registry {domain:?}: port {port} is out of range (at most 65535)"
            ));
        }
    }
    Ok(())
}

/// Components `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` joined by `/`.
fn check_path(path: &str) -> Result<(), String> {
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("repository name must be lowercase".into());
    }
    for component in path.split('/') {
        check_component(component)?;
    }
    Ok(())
}

fn check_component(c: &str) -> Result<(), String> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let sep = |b: u8| matches!(b, b'.' | b'_' | b'-');
    let bytes = c.as_bytes();
    if bytes.is_empty() {
        return Err(
            "repository name has an empty path component (a leading, trailing or doubled '/')"
                .into(),
        );
    }
    if let Some(bad) = c
        .chars()
        .find(|&ch| !(ch.is_ascii() && (alnum(ch as u8) || sep(ch as u8))))
    {
        return Err(format!(
            "character {bad:?} is not allowed in repository name"
        ));
    }
    if !alnum(bytes[0]) {
        return Err(format!(
            "path component {c:?} must start with a lowercase letter or digit"
        ));
    }
    if !alnum(bytes[bytes.len() - 1]) {
        return Err(format!(
            "path component {c:?} must end with a lowercase letter or digit"
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && sep(bytes[i]) {
            i += 1;
        }
        let run = &c[start..i];
        let ok = matches!(run, "." | "_" | "__") || run.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!(
                "path component {c:?} has separator {run:?}; allowed are '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

/// The local name closest to `wanted`, for a "did you mean": names are
/// compared by repository alone (the registry, docker's `library/` and
/// the tag or digest left out), at most a third of its characters apart,
/// the closest first; `None` when none is that close.
pub fn closest_name<'a>(wanted: &str, names: &'a [String]) -> Option<&'a str> {
    fn repository(name: &str) -> &str {
        let name = name.split('@').next().unwrap_or(name);
        let (dir, last) = match name.rsplit_once('/') {
            Some((d, l)) => (Some(d), l),
            None => (None, name),
        };
        let last_len = last.split(':').next().unwrap_or(last).len();
        let cut = dir.map_or(0, |d| d.len() + 1) + last_len;
        let mut repo = &name[..cut];
        if let Some((first, rest)) = repo.split_once('/') {
            if first.contains(['.', ':']) || first == "localhost" {
                repo = rest;
            }
        }
        repo.strip_prefix("library/").unwrap_or(repo)
    }
    let want = repository(wanted);
    let limit = (want.chars().count() / 3).max(1);
    names
        .iter()
        .map(|n| (strsim::levenshtein(want, repository(n)), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    fn canonical(input: &str) -> String {
        match Reference::parse(input) {
            Ok(r) => r.to_string(),
            Err(e) => panic!("{input:?} should parse: {e}"),
        }
    }

    fn why(input: &str) -> String {
        match Reference::parse(input) {
            Ok(r) => panic!("{input:?} should be refused, parsed as {r}"),
            Err(ReferenceError::Invalid { input: shown, why }) => {
                assert_eq!(shown, input, "the error shows the input as given");
                why
            }
        }
    }

    #[test]
    fn docker_hub_short_names_normalize_to_library() {
        for input in [
            "busybox",
            "library/busybox",
            "docker.io/busybox",
            "docker.io/library/busybox",
            "index.docker.io/busybox",
            "index.docker.io/library/busybox:latest",
        ] {
            assert_eq!(
                canonical(input),
                "docker.io/library/busybox:latest",
                "{input}"
            );
        }
        assert_eq!(canonical("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(canonical("a/b/c"), "docker.io/a/b/c:latest");
    }

    #[test]
    fn well_known_valid_references_parse_as_docker_parses_them() {
        let d = format!("sha256:{HEX}");
        let cases: Vec<(String, &str, &str, Option<&str>, bool)> = vec![
            // input, registry, repository, tag, has digest
            (
                "localhost:5000/a/b:tag".into(),
                "localhost:5000",
                "a/b",
                Some("tag"),
                false,
            ),
            (
                "localhost/a".into(),
                "localhost",
                "a",
                Some("latest"),
                false,
            ),
            (
                "127.0.0.1:5000/x".into(),
                "127.0.0.1:5000",
                "x",
                Some("latest"),
                false,
            ),
            (
                "192.168.1.1/repo".into(),
                "192.168.1.1",
                "repo",
                Some("latest"),
                false,
            ),
            (
                "[::1]:5000/x".into(),
                "[::1]:5000",
                "x",
                Some("latest"),
                false,
            ),
            (
                "[2001:db8::1]/repo".into(),
                "[2001:db8::1]",
                "repo",
                Some("latest"),
                false,
            ),
            (
                "[2001:db8:1:2:3:4:5:6]/repo:tag".into(),
                "[2001:db8:1:2:3:4:5:6]",
                "repo",
                Some("tag"),
                false,
            ),
            (
                format!("[2001:db8::1]:5000/repo:tag@{d}"),
                "[2001:db8::1]:5000",
                "repo",
                Some("tag"),
                true,
            ),
            (format!("a@{d}"), "docker.io", "library/a", None, true),
            (
                format!("a:tag@{d}"),
                "docker.io",
                "library/a",
                Some("tag"),
                true,
            ),
            (
                format!("test:5000/repo@{d}"),
                "test:5000",
                "repo",
                None,
                true,
            ),
            (
                "test.com:tag".into(),
                "docker.io",
                "library/test.com",
                Some("tag"),
                false,
            ),
            (
                "test.com:5000".into(),
                "docker.io",
                "library/test.com",
                Some("5000"),
                false,
            ),
            (
                "localhost:5000".into(),
                "docker.io",
                "library/localhost",
                Some("5000"),
                false,
            ),
            (
                "test_com".into(),
                "docker.io",
                "library/test_com",
                Some("latest"),
                false,
            ),
            (
                "foo/foo_bar.com:8080".into(),
                "docker.io",
                "foo/foo_bar.com",
                Some("8080"),
                false,
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
                "sub-dom1.foo.com",
                "bar/baz/quux",
                Some("some-long-tag"),
                false,
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com".into(),
                "b.gcr.io",
                "test.example.com/my-app",
                Some("test.example.com"),
                false,
            ),
            (
                "xn--n3h.com/myimage:xn--n3h.com".into(),
                "xn--n3h.com",
                "myimage",
                Some("xn--n3h.com"),
                false,
            ),
            (
                "lowercase:Uppercase".into(),
                "docker.io",
                "library/lowercase",
                Some("Uppercase"),
                false,
            ),
            (
                "a__b".into(),
                "docker.io",
                "library/a__b",
                Some("latest"),
                false,
            ),
            (
                "a.b_c--d---e".into(),
                "docker.io",
                "library/a.b_c--d---e",
                Some("latest"),
                false,
            ),
            (
                "quay.io/a/b:_tag.1-x".into(),
                "quay.io",
                "a/b",
                Some("_tag.1-x"),
                false,
            ),
            // An uppercase first component is a host name, as docker has it.
            ("Foo/bar".into(), "Foo", "bar", Some("latest"), false),
            (
                "Example.COM:443/a".into(),
                "Example.COM:443",
                "a",
                Some("latest"),
                false,
            ),
        ];
        for (input, registry, repository, tag, has_digest) in cases {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry, registry, "{input}");
            assert_eq!(r.repository, repository, "{input}");
            assert_eq!(r.tag.as_deref(), tag, "{input}");
            assert_eq!(r.digest.is_some(), has_digest, "{input}");
            if has_digest {
                assert_eq!(r.digest.as_ref().map(|d| d.hex()), Some(HEX));
            }
        }
    }

    #[test]
    fn malformed_references_are_refused_with_the_reason() {
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            ("Busybox".into(), "repository name must be lowercase"),
            ("Uppercase:tag".into(), "must be lowercase"),
            (
                "test:5000/Uppercase/lowercase:tag".into(),
                "must be lowercase",
            ),
            ("docker.io/Busybox".into(), "must be lowercase"),
            ("a:".into(), "empty tag after ':'"),
            (":tag".into(), "no repository name before the tag"),
            (format!("@sha256:{HEX}"), "no repository name before '@'"),
            ("a//b".into(), "empty path component"),
            ("a/".into(), "empty path component"),
            ("/a".into(), "empty path component"),
            ("a___b".into(), "separator \"___\""),
            ("a._b".into(), "separator \"._\""),
            ("-a".into(), "must start with a lowercase letter or digit"),
            ("a-".into(), "must end with a lowercase letter or digit"),
            ("_a".into(), "must start"),
            ("a/.b".into(), "must start"),
            ("aa/asdf$$^/aa".into(), "character '$' is not allowed"),
            ("a b".into(), "character ' ' is not allowed"),
            (" busybox".into(), "character ' '"),
            ("a:-tag".into(), "tag \"-tag\" must start"),
            ("a:.tag".into(), "must start"),
            ("a:ta$g".into(), "character '$' is not allowed in tag"),
            (
                format!("a:{}", "t".repeat(129)),
                "tag is 129 characters long",
            ),
            ("a@".into(), "nothing after '@'"),
            ("a@sha256".into(), "has no algorithm"),
            ("a@sha256:abc".into(), "has 3 characters after sha256:"),
            (
                format!("a@sha256:{}", HEX.to_uppercase()),
                "64 lowercase hex digits",
            ),
            (
                format!("a@sha512:{HEX}{HEX}"),
                "\"sha512\" is not supported: only sha256 is",
            ),
            (format!("a@Sha256:{HEX}"), "invalid digest"),
            (format!("a@sha256:{HEX}@sha256:{HEX}"), "has 136 characters"),
            (HEX.into(), "is an image id"),
            ("[2001:db8::1]".into(), "must be followed by /repository"),
            (
                "[2001:db8::1]:5000".into(),
                "must be followed by /repository",
            ),
            (
                "[2001:db8::1]:tag".into(),
                "must be followed by /repository",
            ),
            ("[fe80::1%eth0]:5000/repo".into(), "is not an IPv6 address"),
            ("[::1/repo".into(), "'[' without ']'"),
            ("[::1]x/repo".into(), "expected ':port' after ']'"),
            ("[]:5000/repo".into(), "is not an IPv6 address"),
            (
                "foo_bar.com:8080/x".into(),
                "character '_' is not allowed in registry host",
            ),
            (
                "-a.com/x".into(),
                "must start and end with a letter or digit",
            ),
            ("a..com/x".into(), "empty label"),
            ("localhost:/x".into(), "empty port"),
            ("localhost:abc/x".into(), "port \"abc\" is not a number"),
            ("localhost:70000/x".into(), "out of range"),
            (
                "a:b:c".into(),
                "character ':' is not allowed in repository name",
            ),
        ];
        for (input, expected) in cases {
            let why = why(&input);
            assert!(
                why.contains(expected),
                "{input:?}: expected {expected:?} in {why:?}"
            );
        }
    }

    #[test]
    fn error_message_shows_input_and_fault() {
        let e = Reference::parse("Busybox").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid reference "Busybox": repository name must be lowercase"#
        );
    }

    #[test]
    fn names_up_to_255_characters_are_accepted_and_longer_refused() {
        // Components of "a" up to exactly the limit, counting the registry.
        let registry = "example.com";
        let path_len = NAME_MAX - registry.len() - 1;
        let mut path = "a/".repeat((path_len - 1) / 2) + "a";
        if path.len() < path_len {
            path.push('a');
        }
        assert_eq!(registry.len() + 1 + path.len(), NAME_MAX);
        let ok = format!("{registry}/{path}:tag-puts-this-over-max");
        assert_eq!(Reference::parse(&ok).unwrap().name().len(), 255);

        let too_long = format!("{registry}/{path}b:tag");
        assert!(why(&too_long).contains("256 characters long; the limit is 255"));

        // Docker's own case: 128 "a/" components, too long once normalized.
        let docker_case = "a/".repeat(128) + "a:tag";
        assert!(why(&docker_case).contains("the limit is 255"));
    }

    #[test]
    fn tag_of_128_characters_is_accepted() {
        let tag = "t".repeat(128);
        let r = Reference::parse(&format!("a:{tag}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some(tag.as_str()));
    }

    #[test]
    fn parse_in_uses_the_given_registry_without_library_prefix() {
        let r = Reference::parse_in("myimage", "localhost").unwrap();
        assert_eq!(r.to_string(), "localhost/myimage:latest");
        let r = Reference::parse_in("quay.io/x/y:1", "localhost").unwrap();
        assert_eq!(r.to_string(), "quay.io/x/y:1");
        // docker.io keeps its rule whichever default was given.
        let r = Reference::parse_in("docker.io/busybox", "localhost").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    }

    #[test]
    fn display_is_canonical_and_keeps_tag_and_digest() {
        let r = Reference::parse(&format!("busybox:1.36@sha256:{HEX}")).unwrap();
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox:1.36@sha256:{HEX}")
        );
        let r = Reference::parse(&format!("busybox@sha256:{HEX}")).unwrap();
        assert_eq!(r.tag, None, "a digest alone adds no tag");
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox@sha256:{HEX}")
        );
        // Display output parses back to the same reference.
        assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn familiar_form_is_dockers_short_form() {
        assert_eq!(
            Reference::parse("busybox").unwrap().familiar(),
            "busybox:latest"
        );
        assert_eq!(
            Reference::parse("docker.io/user/app:v1")
                .unwrap()
                .familiar(),
            "user/app:v1"
        );
        assert_eq!(
            Reference::parse("docker.io/library/a/b")
                .unwrap()
                .familiar(),
            "library/a/b:latest"
        );
        assert_eq!(
            Reference::parse("localhost:5000/a/b:tag")
                .unwrap()
                .familiar(),
            "localhost:5000/a/b:tag"
        );
        assert_eq!(
            Reference::parse(&format!("busybox@sha256:{HEX}"))
                .unwrap()
                .familiar(),
            format!("busybox@sha256:{HEX}")
        );
    }

    #[test]
    fn is_qualified_follows_dockers_domain_rule() {
        for q in [
            "docker.io/busybox",
            "localhost/a",
            "localhost:5000/a",
            "127.0.0.1/x",
            "[::1]:5000/x",
            "quay.io/a/b:tag",
            "Foo/bar",
        ] {
            assert!(Reference::is_qualified(q), "{q}");
        }
        for q in [
            "busybox",
            "library/busybox",
            "user/app:v1",
            "localhost",
            "a.b:1",
        ] {
            assert!(!Reference::is_qualified(q), "{q}");
        }
    }

    #[test]
    fn split_registry_gives_host_and_port() {
        assert_eq!(split_registry("docker.io"), ("docker.io", None));
        assert_eq!(split_registry("localhost:5000"), ("localhost", Some(5000)));
        assert_eq!(split_registry("[::1]:5000"), ("::1", Some(5000)));
        assert_eq!(split_registry("[2001:db8::1]"), ("2001:db8::1", None));
        let r = Reference::parse("127.0.0.1:5000/x").unwrap();
        assert_eq!(r.host_port(), ("127.0.0.1", Some(5000)));
    }

    #[test]
    fn a_typo_finds_the_closest_local_name_by_repository() {
        let names: Vec<String> = [
            "docker.io/library/debian:12",
            "localhost/run/plain:latest",
            "quay.io/podman/stable:v4",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            closest_name("debain", &names),
            Some("docker.io/library/debian:12")
        );
        assert_eq!(
            closest_name("debian:13", &names),
            Some("docker.io/library/debian:12")
        );
        assert_eq!(
            closest_name("localhost:1/run/plian", &names),
            Some("localhost/run/plain:latest")
        );
        assert_eq!(
            closest_name("podman/stabel", &names),
            Some("quay.io/podman/stable:v4")
        );
        assert_eq!(closest_name("alpine", &names), None);
        assert_eq!(closest_name("x", &[]), None);
    }
}
