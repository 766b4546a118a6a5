//! Registries for the tests, all on 127.0.0.1: Debian's `docker-registry`
//! started per test (plain HTTP, HTTPS with a CA made here with openssl,
//! htpasswd basic auth), images uploaded to it by hand over HTTP (any
//! layer compression, any architecture, indexes), a TCP proxy that cuts or
//! stalls a transfer, and a server that answers 429. Every process and
//! thread started here stops when its handle is dropped.

use super::fixtures::{self, Compression, ImageSpec};
use serde_json::{json, Value};
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{what} did not listen on 127.0.0.1:{port}:\n{}",
        fs::read_to_string(log).unwrap_or_default()
    );
}

/// A test CA and a server certificate it signed for 127.0.0.1.
pub struct TestCa {
    pub dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        let (ca_key, ca_crt) = (p("ca.key"), p("ca.crt"));
        ca.extend([
            "-keyout",
            &ca_key,
            "-out",
            &ca_crt,
            "-days",
            "2",
            "-subj",
            "/CN=burrow test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        fixtures::tool("openssl", &ca);
        let (key, csr, crt, ext) = (
            p("server.key"),
            p("server.csr"),
            p("server.crt"),
            p("ext.cnf"),
        );
        fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext");
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
        fixtures::tool("openssl", &req);
        fixtures::tool(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_crt,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        fixtures::make_readable(dir.path());
        TestCa { dir }
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
}

#[derive(Clone, Copy)]
pub enum Security<'a> {
    Plain,
    Tls(&'a TestCa),
    /// htpasswd basic auth (bcrypt), over plain HTTP.
    Auth(&'a str, &'a str),
    /// Bearer tokens from a token server, over plain HTTP.
    Token(&'a TokenServer),
}

/// A running `docker-registry` with its storage in a temp dir.
pub struct Registry {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub tls: bool,
    child: Child,
}

impl Registry {
    pub fn start(security: Security) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut http = format!("  addr: 127.0.0.1:{port}\n");
        let mut auth = String::new();
        let mut tls = false;
        match security {
            Security::Plain => {}
            Security::Tls(ca) => {
                tls = true;
                http.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    ca.dir.path().join("server.crt").display(),
                    ca.dir.path().join("server.key").display()
                ));
            }
            Security::Auth(user, pass) => {
                let line = fixtures::tool("htpasswd", &["-Bbn", user, pass]);
                let file = dir.path().join("htpasswd");
                fs::write(&file, line.trim()).expect("write htpasswd");
                auth = format!(
                    "auth:\n  htpasswd:\n    realm: burrow-test\n    path: {}\n",
                    file.display()
                );
            }
            Security::Token(server) => {
                auth = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    server.realm(),
                    server.cert().display()
                );
            }
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             validation:\n  manifests:\n    urls:\n      allow:\n        - ^http://127\\.0\\.0\\.1\nhttp:\n{http}{auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write registry config");
        let log = dir.path().join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).expect("log"))
            .stderr(fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start docker-registry (apt-get install docker-registry)");
        wait_for_port(port, "docker-registry", &log);
        Registry {
            port,
            dir,
            tls,
            child,
        }
    }

    /// `127.0.0.1:PORT`, as image references name it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}",
            if self.tls { "https" } else { "http" },
            self.port
        )
    }

    /// The file holding a blob in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Copies a docker-archive into the registry with skopeo.
    pub fn skopeo_push(&self, archive: &Path, dest: &str, extra: &[&str]) {
        let src = format!("docker-archive:{}", archive.display());
        let dst = format!("docker://{}/{dest}", self.addr());
        let mut args = vec![
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
        ];
        args.extend_from_slice(extra);
        args.extend([src.as_str(), dst.as_str()]);
        fixtures::tool("skopeo", &args);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An image as the tests upload it: config and layer blobs with their
/// media types.
pub struct RegImage {
    pub config: Vec<u8>,
    pub layers: Vec<(Vec<u8>, &'static str)>,
}

impl RegImage {
    /// From a fixture spec, for `arch` (the config is otherwise the spec's).
    pub fn from_spec(spec: &ImageSpec, arch: &str) -> RegImage {
        let mut config: Value = serde_json::from_slice(&spec.config_bytes()).expect("config");
        config["architecture"] = json!(arch);
        let layers = spec
            .layers
            .iter()
            .map(|(l, c)| {
                let media = match c {
                    Compression::None => "application/vnd.oci.image.layer.v1.tar",
                    Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                    Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
                };
                (c.compress(&l.tar), media)
            })
            .collect();
        RegImage {
            config: serde_json::to_vec(&config).expect("config"),
            layers,
        }
    }

    /// The image id (hex) burrow must report.
    pub fn id(&self) -> String {
        fixtures::sha256_hex(&self.config)
    }

    pub fn layer_digest(&self, i: usize) -> String {
        format!("sha256:{}", fixtures::sha256_hex(&self.layers[i].0))
    }
}

/// Plain HTTP requests to a test registry (anonymous, or with basic auth).
pub struct Uploader {
    base: String,
    agent: ureq::Agent,
    auth: Option<String>,
}

impl Uploader {
    pub fn new(reg: &Registry) -> Uploader {
        assert!(!reg.tls, "uploads go to plain HTTP registries");
        Uploader {
            base: reg.url(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            auth: None,
        }
    }

    pub fn with_basic(mut self, user: &str, pass: &str) -> Uploader {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        self.auth = Some(format!("Basic {b}"));
        self
    }

    fn check(resp: &ureq::http::Response<ureq::Body>, what: &str) {
        assert!(resp.status().is_success(), "{what}: HTTP {}", resp.status());
    }

    /// Uploads a blob (monolithic) unless present; its digest.
    pub fn blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = format!("sha256:{}", fixtures::sha256_hex(data));
        let mut post = self
            .agent
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.base));
        if let Some(a) = &self.auth {
            post = post.header("Authorization", a);
        }
        let resp = post.send_empty().expect("POST upload");
        Self::check(&resp, "start upload");
        let loc = resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let loc = if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let mut put = self.agent.put(format!("{loc}{sep}digest={digest}"));
        if let Some(a) = &self.auth {
            put = put.header("Authorization", a);
        }
        let resp = put
            .header("Content-Type", "application/octet-stream")
            .send(data)
            .expect("PUT blob");
        Self::check(&resp, "finish upload");
        digest
    }

    /// PUTs a manifest under `reference` (a tag or its digest); its digest.
    pub fn manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let mut put = self
            .agent
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.base));
        if let Some(a) = &self.auth {
            put = put.header("Authorization", a);
        }
        let resp = put
            .header("Content-Type", media_type)
            .send(body)
            .expect("PUT manifest");
        Self::check(&resp, "put manifest");
        format!("sha256:{}", fixtures::sha256_hex(body))
    }

    /// The OCI manifest of an image (blobs uploaded first).
    pub fn image_manifest(&self, repo: &str, img: &RegImage) -> Vec<u8> {
        let config = self.blob(repo, &img.config);
        let layers: Vec<Value> = img
            .layers
            .iter()
            .map(|(data, media)| json!({"mediaType": media, "digest": self.blob(repo, data), "size": data.len()}))
            .collect();
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": img.config.len()},
            "layers": layers,
        }))
        .expect("manifest")
    }

    /// Uploads an image under `repo:tag`; the manifest digest.
    pub fn image(&self, repo: &str, tag: &str, img: &RegImage) -> String {
        let m = self.image_manifest(repo, img);
        self.manifest(repo, tag, OCI_MANIFEST, &m)
    }

    /// Uploads each image by digest and an index over them under `tag`;
    /// the index digest.
    pub fn index(&self, repo: &str, tag: &str, images: &[(&RegImage, &str, &str)]) -> String {
        let mut entries = Vec::new();
        for (img, os, arch) in images {
            let m = self.image_manifest(repo, img);
            let d = format!("sha256:{}", fixtures::sha256_hex(&m));
            self.manifest(repo, &d, OCI_MANIFEST, &m);
            entries.push(json!({
                "mediaType": OCI_MANIFEST, "digest": d, "size": m.len(),
                "platform": {"os": os, "architecture": arch},
            }));
        }
        let index = serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
        )
        .expect("index");
        self.manifest(repo, tag, OCI_INDEX, &index)
    }
}

/// What the proxy does to the registry's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Pass,
    /// Closes a connection once it has carried more than this many bytes
    /// to the client, at most `times` times in all.
    Cut {
        after: usize,
        times: usize,
    },
    /// Stops forwarding (but holds the connection open) after this many
    /// bytes to the client.
    Stall {
        after: usize,
    },
}

/// A TCP proxy on 127.0.0.1 in front of a registry.
pub struct Proxy {
    pub port: u16,
    pub mode: Arc<Mutex<ProxyMode>>,
    /// Connections cut or stalled so far.
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, mode: ProxyMode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let mode = Arc::new(Mutex::new(mode));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, h, s) = (mode.clone(), hits.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            continue;
                        };
                        relay(client, server, m.clone(), h.clone(), s.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy {
            port,
            mode,
            hits,
            stop,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn set(&self, mode: ProxyMode) {
        *self.mode.lock().unwrap() = mode;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn relay(
    client: TcpStream,
    server: TcpStream,
    mode: Arc<Mutex<ProxyMode>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let (mut c_read, mut s_write) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    std::thread::spawn(move || {
        let (mut server, mut client) = (server, client);
        let mut sent = 0usize;
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let current = *mode.lock().unwrap();
            match current {
                ProxyMode::Cut { after, times } if sent + n > after && times > 0 => {
                    let _ = client.write_all(&buf[..after.saturating_sub(sent)]);
                    hits.fetch_add(1, Ordering::SeqCst);
                    *mode.lock().unwrap() = ProxyMode::Cut {
                        after,
                        times: times - 1,
                    };
                    break;
                }
                ProxyMode::Stall { after } if sent + n > after => {
                    let _ = client.write_all(&buf[..after.saturating_sub(sent)]);
                    hits.fetch_add(1, Ordering::SeqCst);
                    while !stop.load(Ordering::SeqCst) && *mode.lock().unwrap() == current {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    break;
                }
                _ => {}
            }
            if client.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n;
        }
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    });
}

/// An HTTP server on 127.0.0.1 that answers every request with `status`
/// and `headers`; stops when dropped.
pub struct CannedServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl CannedServer {
    pub fn start(status: &str, headers: &[(&str, &str)]) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;
        let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let response = format!("{head}\r\n{body}");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut req = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                            match conn.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => req.extend_from_slice(&buf[..n]),
                            }
                        }
                        let _ = conn.write_all(response.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        CannedServer { port, stop }
    }
}

impl Drop for CannedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A token server for a registry in token-auth mode (Docker Hub's flow):
/// answers `GET /token?service=..&scope=..` with a JWT signed (ES256,
/// through openssl) by a key whose certificate the registry trusts. Anyone
/// may pull `public/*`; everything else needs `user:password`.
pub struct TokenServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// Requests seen, with whether they carried valid credentials.
    pub requests: Arc<Mutex<Vec<(String, bool)>>>,
    stop: Arc<AtomicBool>,
}

pub const TOKEN_SERVICE: &str = "burrow-test-registry";
pub const TOKEN_ISSUER: &str = "burrow-test-issuer";

impl TokenServer {
    pub fn start(user: &str, password: &str) -> TokenServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("token.key");
        let crt = dir.path().join("token.crt");
        fixtures::tool(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key.to_string_lossy(),
                "-out",
                &crt.to_string_lossy(),
                "-days",
                "2",
                "-subj",
                "/CN=burrow test token issuer",
            ],
        );
        fixtures::tool(
            "openssl",
            &[
                "x509",
                "-in",
                &crt.to_string_lossy(),
                "-outform",
                "DER",
                "-out",
                &dir.path().join("token.der").to_string_lossy(),
            ],
        );
        let cert_der = fs::read(dir.path().join("token.der")).expect("token cert");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, reqs) = (stop.clone(), requests.clone());
        use base64::Engine as _;
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let user = user.to_string();
        let key_path = key.clone();
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
                let auth = text
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("Authorization: ")
                            .or_else(|| l.strip_prefix("authorization: "))
                    })
                    .map(|v| v.trim().to_string());
                let valid = auth.as_deref() == Some(good.as_str());
                reqs.lock().unwrap().push((target.clone(), valid));
                let response = if auth.is_some() && !valid {
                    let body = r#"{"details":"incorrect username or password"}"#;
                    format!("HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                } else {
                    let token = sign_token(
                        &key_path,
                        &cert_der,
                        &target,
                        valid.then_some(user.as_str()),
                    );
                    let body = format!(r#"{{"token":"{token}","expires_in":300}}"#);
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                };
                let _ = conn.write_all(response.as_bytes());
            }
        });
        TokenServer {
            port,
            dir,
            requests,
            stop,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("token.crt")
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JWT granting what the scopes of `target` ask, within policy.
fn sign_token(key: &Path, cert_der: &[u8], target: &str, user: Option<&str>) -> String {
    use base64::Engine as _;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let std64 = base64::engine::general_purpose::STANDARD;
    let query = target.split_once('?').map(|x| x.1).unwrap_or("");
    let mut access = Vec::new();
    for pair in query.split('&') {
        let Some(("scope", v)) = pair.split_once('=') else {
            continue;
        };
        let scope = percent_decode(v);
        let mut parts = scope.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let actions: Vec<&str> = actions
            .split(',')
            .filter(|a| user.is_some() || (name.starts_with("public/") && *a == "pull"))
            .collect();
        access.push(json!({"type": kind, "name": name, "actions": actions}));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = json!({"alg": "ES256", "typ": "JWT", "x5c": [std64.encode(cert_der)]});
    let claims = json!({
        "iss": TOKEN_ISSUER, "sub": user.unwrap_or(""), "aud": TOKEN_SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        url.encode(serde_json::to_vec(&header).expect("json")),
        url.encode(serde_json::to_vec(&claims).expect("json"))
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl dgst");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(signing_input.as_bytes())
        .expect("feed openssl");
    let out = child.wait_with_output().expect("openssl dgst");
    let sig = der_ecdsa_to_raw(&out.stdout);
    format!("{signing_input}.{}", url.encode(sig))
}

/// ECDSA-Sig-Value (DER: SEQUENCE { INTEGER r, INTEGER s }) to JWS's r||s.
fn der_ecdsa_to_raw(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30, "DER sequence");
    let mut i = if der[1] & 0x80 != 0 {
        2 + (der[1] & 0x7f) as usize
    } else {
        2
    };
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02, "DER integer");
        let len = der[i + 1] as usize;
        let mut int = &der[i + 2..i + 2 + len];
        while int.len() > 32 && int[0] == 0 {
            int = &int[1..];
        }
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}
