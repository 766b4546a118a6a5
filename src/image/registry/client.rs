//! One registry over HTTP(S): picks the scheme (HTTPS, plain HTTP only
//! where allowed), trusts the system's CAs plus per-registry ones,
//! answers Basic and Bearer challenges with the user's credentials, and
//! turns every failure into a `RegistryError` that says what happened.
//! Never sends a registry's credentials to another host.

use super::auth::{self, AuthFiles, Challenge, Credentials};
use super::RegistryError;
use crate::config::RegistriesConfig;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ureq::http::{self, Method, Response};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// What a client needs from the user's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub registries: RegistriesConfig,
    /// `--tls-verify`: `Some(false)` skips certificate checks and allows
    /// plain HTTP for every registry of this command.
    pub tls_verify: Option<bool>,
    /// Directories holding `<registry>/*.crt` CAs, the user's first.
    pub certs_dirs: Vec<PathBuf>,
    pub auth: AuthFiles,
    /// Which compressed blobs hold which layer (diff id), learnt from
    /// pulls and pushes, so a push can skip blobs a registry has.
    pub blob_cache: Option<PathBuf>,
}

impl Settings {
    /// The user's `certs.d` under burrow's config dir, then the system's.
    pub fn default_certs_dirs(config_dir: Option<&Path>) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = config_dir.map(|d| d.join("certs.d")).into_iter().collect();
        dirs.push("/etc/containers/certs.d".into());
        dirs.push("/etc/docker/certs.d".into());
        dirs
    }
}

/// Whether `registry` is in `registries.insecure` (an entry without a
/// port matches every port of its host), as `allows_plain_http` reads it.
fn listed_insecure(insecure: &[String], registry: &str) -> bool {
    use crate::image::reference::split_registry;
    let (host, port) = split_registry(registry);
    insecure.iter().any(|entry| {
        let (e_host, e_port) = split_registry(entry);
        entry == registry || (e_port.is_none() && port.is_some() && e_host == host)
    })
}

/// Docker Hub's API lives on another host than its name.
fn endpoint(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// Where the registry was found: its base URL and how it wants to be
/// authenticated.
#[derive(Debug, Clone)]
struct Found {
    base: String,
    challenge: Option<Challenge>,
}

pub struct Client {
    pub registry: String,
    host: String,
    agent: Agent,
    /// Plain HTTP may be tried when HTTPS is not spoken.
    http_allowed: bool,
    /// Certificates are not checked (insecure registry or --tls-verify=false).
    skip_verify: bool,
    certs_hint: PathBuf,
    creds: Option<Credentials>,
    found: Mutex<Option<Found>>,
    /// Bearer tokens by scope.
    tokens: Mutex<HashMap<String, String>>,
}

/// How the body of a request is sent.
pub enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Chunked; cannot be replayed, so its request is never retried.
    Stream(&'a mut dyn Read),
}

impl Client {
    /// A client for `registry`, with the user's credentials for it (or
    /// `creds` when given, as `login` does).
    pub fn new(registry: &str, settings: &Settings, creds: Option<Credentials>) -> Result<Client> {
        let insecure_listed = listed_insecure(&settings.registries.insecure, registry);
        // An explicit --tls-verify wins over the config either way.
        let skip_verify = match settings.tls_verify {
            Some(verify) => !verify,
            None => insecure_listed,
        };
        let http_allowed = skip_verify
            || (settings.tls_verify.is_none() && settings.registries.allows_plain_http(registry));
        let creds = match creds {
            Some(c) => Some(c),
            None => settings
                .auth
                .lookup(registry)
                .map_err(RegistryError::Auth)?,
        };
        let roots = root_certs(registry, &settings.certs_dirs);
        let tls = TlsConfig::builder()
            .root_certs(roots)
            .disable_verification(skip_verify)
            .build();
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("burrow/{}", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .max_idle_connections_per_host(8)
            .tls_config(tls)
            .build()
            .into();
        Ok(Client {
            registry: registry.to_string(),
            host: endpoint(registry).to_string(),
            agent,
            http_allowed,
            skip_verify,
            certs_hint: settings
                .certs_dirs
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("~/.config/burrow/certs.d"))
                .join(registry),
            creds,
            found: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    pub fn has_credentials(&self) -> bool {
        self.creds.is_some()
    }

    /// `GET /v2/`: finds the scheme and the challenge, once.
    fn found(&self) -> Result<Found> {
        let mut guard = self.found.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.as_ref() {
            return Ok(f.clone());
        }
        let mut last = None;
        for scheme in ["https", "http"] {
            if scheme == "http" && !self.http_allowed {
                break;
            }
            let url = format!("{scheme}://{}/v2/", self.host);
            let req = http::Request::get(&url).body(()).expect("valid request");
            match self.agent.run(req) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    // "Client sent an HTTP request to an HTTPS server": the
                    // HTTPS failure was the real one.
                    if scheme == "http" && status == 400 {
                        if let Some(RegistryError::NotTls { registry, detail }) = last {
                            return Err(RegistryError::Tls {
                                hint: self.tls_hint(),
                                registry,
                                detail,
                            });
                        }
                    }
                    let challenge = if status == 401 {
                        resp.headers()
                            .get_all("www-authenticate")
                            .iter()
                            .filter_map(|v| v.to_str().ok())
                            .filter_map(auth::parse_challenge)
                            .min_by_key(|c| matches!(c, Challenge::Basic))
                    } else {
                        None
                    };
                    if status == 429 {
                        return Err(self.status_error(resp, &url, "the registry"));
                    }
                    let f = Found {
                        base: format!("{scheme}://{}", self.host),
                        challenge,
                    };
                    *guard = Some(f.clone());
                    return Ok(f);
                }
                Err(e) => {
                    let err = self.transport_error(e, &url);
                    let try_http = self.http_allowed
                        && scheme == "https"
                        && matches!(
                            &err,
                            RegistryError::NotTls { .. } | RegistryError::Connect { .. }
                        );
                    if !try_http {
                        return Err(match err {
                            RegistryError::NotTls { registry, detail } => RegistryError::Tls {
                                hint: self.tls_hint(),
                                registry,
                                detail,
                            },
                            other => other,
                        });
                    }
                    last = Some(err);
                }
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Connect {
            registry: self.registry.clone(),
            detail: "no scheme to try".into(),
        }))
    }

    fn tls_hint(&self) -> String {
        format!(
            "if the registry's certificate is from a private CA, put that CA in {}/ca.crt; to skip TLS checks for it (and allow plain HTTP), add \"{}\" to registries.insecure in config.toml, or pass --tls-verify=false",
            self.certs_hint.display(),
            self.registry
        )
    }

    /// The base URL (`https://host`).
    pub fn base(&self) -> Result<String> {
        Ok(self.found()?.base)
    }

    /// Checks the client's credentials by asking for `/v2/` (Basic) or a
    /// token (Bearer) with them. For `login`.
    pub fn check_login(&self) -> Result<()> {
        let found = self.found()?;
        match &found.challenge {
            None => Ok(()),
            Some(Challenge::Basic) => {
                let url = format!("{}/v2/", found.base);
                let resp = self.send(Method::GET, &url, None, &[], Payload::Empty)?;
                match resp.status().as_u16() {
                    200..=299 => Ok(()),
                    _ => Err(self.status_error(resp, &url, "the registry")),
                }
            }
            Some(Challenge::Bearer { realm, service, .. }) => self
                .fetch_token(realm, service.as_deref(), None)
                .map(|_| ()),
        }
    }

    /// The Authorization header for `scope`, fetching a token if needed.
    fn authorization(&self, scope: Option<&str>, fresh: bool) -> Result<Option<String>> {
        let found = self.found()?;
        match &found.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.creds.as_ref().map(auth::basic_header)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = scope.unwrap_or("").to_string();
                if !fresh {
                    if let Some(t) = self
                        .tokens
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&key)
                    {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                let token = self.fetch_token(realm, service.as_deref(), scope)?;
                self.tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String> {
        let mut req = self.agent.get(realm);
        if let Some(s) = service {
            req = req.query("service", s);
        }
        if let Some(s) = scope {
            req = req.query("scope", s);
        }
        if let Some(c) = &self.creds {
            req = req.header("Authorization", auth::basic_header(c));
        }
        let mut resp = req.call().map_err(|e| self.transport_error(e, realm))?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, realm, "a token"));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| self.transport_error(e, realm))?;
        let t: Token = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
            registry: self.registry.clone(),
            detail: format!("the token from {realm} is not JSON: {e}"),
        })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Protocol {
                registry: self.registry.clone(),
                detail: format!("{realm} answered without a token"),
            })
    }

    /// Sends one request to the registry (`url` from `base()`), with the
    /// authorization for `scope`. A 401 with a cached token fetches a new
    /// one and retries, unless the body is a stream. Any status comes back
    /// as a response; the caller decides what it means.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        scope: Option<&str>,
        headers: &[(&str, &str)],
        mut payload: Payload<'_>,
    ) -> Result<Response<Body>> {
        let mut fresh = false;
        loop {
            let authz = self.authorization(scope, fresh)?;
            let mut b = http::Request::builder().method(method.clone()).uri(url);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            if let Some(a) = &authz {
                b = b.header("Authorization", a);
            }
            let sent = match &mut payload {
                Payload::Empty => {
                    let needs_length = matches!(method, Method::PUT | Method::POST | Method::PATCH);
                    if needs_length {
                        self.agent.run(b.body(&[][..]).expect("valid request"))
                    } else {
                        self.agent.run(b.body(()).expect("valid request"))
                    }
                }
                Payload::Bytes(data) => self.agent.run(b.body(*data).expect("valid request")),
                Payload::Stream(r) => self
                    .agent
                    .run(b.body(SendBody::from_reader(*r)).expect("valid request")),
            };
            let resp = sent.map_err(|e| self.transport_error(e, url))?;
            let retry = resp.status().as_u16() == 401
                && !fresh
                && !matches!(payload, Payload::Stream(_))
                && matches!(self.found()?.challenge, Some(Challenge::Bearer { .. }));
            if !retry {
                return Ok(resp);
            }
            fresh = true;
        }
    }

    /// GET that follows redirects itself, so a redirect to blob storage on
    /// another host never carries the registry's Authorization header.
    pub fn get_following(
        &self,
        url: &str,
        scope: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Response<Body>> {
        let mut resp = self.send(Method::GET, url, scope, headers, Payload::Empty)?;
        let mut current = url.to_string();
        for _ in 0..10 {
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let Some(location) = resp.headers().get("location").and_then(|l| l.to_str().ok())
            else {
                return Ok(resp);
            };
            let next = join_url(&current, location);
            if same_origin(&next, &current) && host_of(&next) == Some(self.host.as_str()) {
                resp = self.send(Method::GET, &next, scope, headers, Payload::Empty)?;
            } else {
                let mut b = http::Request::get(&next);
                for (k, v) in headers {
                    b = b.header(*k, *v);
                }
                resp = self
                    .agent
                    .run(b.body(()).expect("valid request"))
                    .map_err(|e| self.transport_error(e, &next))?;
            }
            current = next;
        }
        Err(RegistryError::Protocol {
            registry: self.registry.clone(),
            detail: format!("too many redirects from {url}"),
        })
    }

    /// A GET of a URL outside the registry (a foreign layer's), without
    /// the registry's credentials.
    pub fn get_external(&self, url: &str) -> Result<Response<Body>> {
        let mut current = url.to_string();
        for _ in 0..10 {
            let resp = self
                .agent
                .run(
                    http::Request::get(&current)
                        .body(())
                        .expect("valid request"),
                )
                .map_err(|e| self.transport_error(e, &current))?;
            match resp.headers().get("location").and_then(|l| l.to_str().ok()) {
                Some(loc) if resp.status().is_redirection() => current = join_url(&current, loc),
                _ => return Ok(resp),
            }
        }
        Err(RegistryError::Protocol {
            registry: self.registry.clone(),
            detail: format!("too many redirects from {url}"),
        })
    }

    /// Maps a failure to reach the server to what the user must hear.
    pub fn transport_error(&self, e: ureq::Error, url: &str) -> RegistryError {
        let registry = self.registry.clone();
        let host = host_of(url).unwrap_or(&self.host).to_string();
        match e {
            ureq::Error::HostNotFound => RegistryError::UnknownHost {
                host,
                detail: "the name does not resolve".into(),
            },
            ureq::Error::Io(io)
                if io
                    .get_ref()
                    .is_some_and(|e| e.downcast_ref::<rustls::Error>().is_some()) =>
            {
                match io.into_inner().map(|e| e.downcast::<rustls::Error>()) {
                    Some(Ok(tls)) => self.transport_error(ureq::Error::Rustls(*tls), url),
                    _ => RegistryError::Connect {
                        registry,
                        detail: format!("{host}: TLS failure"),
                    },
                }
            }
            ureq::Error::Io(io) => {
                let text = io.to_string();
                if text.contains("lookup")
                    || text.contains("resolution")
                    || text.contains("not known")
                {
                    RegistryError::UnknownHost { host, detail: text }
                } else if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    RegistryError::Connect {
                        registry,
                        detail: format!(
                            "connection to {host} refused (is a registry listening there?)"
                        ),
                    }
                } else {
                    RegistryError::Connect {
                        registry,
                        detail: format!("{host}: {io}"),
                    }
                }
            }
            ureq::Error::Rustls(rustls::Error::InvalidCertificate(c)) if !self.skip_verify => {
                RegistryError::Tls {
                    registry,
                    detail: format!(
                        "the certificate of {host} is not trusted: {}",
                        cert_problem(&c)
                    ),
                    hint: self.tls_hint(),
                }
            }
            ureq::Error::Rustls(other) => RegistryError::NotTls {
                registry,
                detail: format!("{host}: {other}"),
            },
            ureq::Error::Tls(t) => RegistryError::NotTls {
                registry,
                detail: format!("{host}: {t}"),
            },
            ureq::Error::Timeout(t) => RegistryError::Connect {
                registry,
                detail: format!("{host}: timed out ({t})"),
            },
            ureq::Error::Protocol(p) if url.starts_with("https:") => RegistryError::NotTls {
                registry,
                detail: format!("{host}: {p}"),
            },
            other => RegistryError::Connect {
                registry,
                detail: format!("{host}: {other}"),
            },
        }
    }

    /// Turns an unwanted status into an error; `what` names the object
    /// asked for ("manifest docker.io/library/x:1", "blob sha256:...").
    pub fn status_error(&self, mut resp: Response<Body>, url: &str, what: &str) -> RegistryError {
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let detail = resp
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_vec()
            .ok()
            .map(|b| registry_message(&b))
            .unwrap_or_default();
        let registry = self.registry.clone();
        match status {
            401 => RegistryError::Unauthorized {
                registry,
                what: what.into(),
                with: self.creds.as_ref().map(|c| c.source.clone()),
            },
            403 => RegistryError::Denied {
                registry,
                what: what.into(),
                detail,
            },
            404 => RegistryError::NotFound {
                registry,
                what: what.into(),
            },
            429 => RegistryError::RateLimited {
                registry,
                retry_after: retry_after.map(|r| {
                    if r.bytes().all(|b| b.is_ascii_digit()) {
                        format!("{r} seconds")
                    } else {
                        r
                    }
                }),
            },
            _ => RegistryError::Status {
                url: url.into(),
                status,
                detail,
            },
        }
    }
}

fn cert_problem(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match c {
        C::UnknownIssuer => "it is signed by an unknown authority".into(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it is not valid for this host name".into()
        }
        C::Revoked => "it has been revoked".into(),
        other => format!("{other:?}"),
    }
}

/// The registry's `{"errors":[{"code","message"}]}`, as one line.
fn registry_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<E>,
    }
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Errors>(body) {
        Ok(e) => e
            .errors
            .iter()
            .map(|e| format!("{} ({})", e.message, e.code))
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string(),
    }
}

/// The host[:port] of an absolute URL.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

fn same_origin(a: &str, b: &str) -> bool {
    a.split_once("://").map(|x| x.0) == b.split_once("://").map(|x| x.0) && host_of(a) == host_of(b)
}

/// Resolves a `Location` against the URL it came from.
pub fn join_url(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return location.to_string();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if let Some(abs) = location.strip_prefix("//") {
        return format!("{scheme}://{abs}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{host}{location}");
    }
    let path = &rest[host.len()..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{scheme}://{host}{dir}{location}")
}

/// The system's CA bundle (`SSL_CERT_FILE` first) plus `*.crt` in
/// `<dir>/<registry>/` of each certs dir; Mozilla's roots when the system
/// has none.
fn root_certs(registry: &str, certs_dirs: &[PathBuf]) -> RootCerts {
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    let mut add_pem = |path: &Path| {
        if let Ok(data) = std::fs::read(path) {
            for item in ureq::tls::parse_pem(&data).flatten() {
                if let PemItem::Certificate(c) = item {
                    certs.push(c);
                }
            }
        }
    };
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/ca-bundle.pem",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        )
        .find(|p| p.is_file());
    if let Some(p) = &system {
        add_pem(p);
    }
    for dir in certs_dirs {
        let Ok(entries) = std::fs::read_dir(dir.join(registry)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "crt"))
        {
            add_pem(f);
        }
    }
    if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::Specific(Arc::new(certs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_like_a_browser() {
        let base = "https://r.example:5000/v2/a/blobs/sha256:1?x=1";
        assert_eq!(
            join_url(base, "https://cdn.example/b"),
            "https://cdn.example/b"
        );
        assert_eq!(join_url(base, "//cdn.example/b"), "https://cdn.example/b");
        assert_eq!(join_url(base, "/other"), "https://r.example:5000/other");
        assert_eq!(
            join_url(base, "rel"),
            "https://r.example:5000/v2/a/blobs/rel"
        );
        assert_eq!(host_of(base), Some("r.example:5000"));
        assert!(!same_origin("http://a/x", "https://a/x"));
        // Another port on the same address is another origin: a redirect
        // there gets no credentials.
        assert!(!same_origin(
            "http://127.0.0.1:5000/v2/a/blobs/sha256:1",
            "http://127.0.0.1:5001/v2/a/blobs/sha256:1"
        ));
        assert!(same_origin(
            "http://127.0.0.1:5000/v2/a",
            "http://127.0.0.1:5000/b"
        ));
    }

    #[test]
    fn registry_errors_read_as_one_line() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            registry_message(body),
            "manifest unknown (MANIFEST_UNKNOWN)"
        );
        assert_eq!(registry_message(b" plain text "), "plain text");
    }
}
