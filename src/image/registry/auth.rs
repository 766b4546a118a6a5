//! Registry credentials and authentication challenges: reads the auth files
//! burrow honours (its own, then the containers tools', then docker's),
//! writes only its own (atomically, mode 0600), and parses
//! `WWW-Authenticate`. Never sends anything anywhere.

use base64::Engine as _;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{}: {detail}; fix or remove the file", .path.display())]
    Corrupt { path: PathBuf, detail: String },
}

/// A user name and password for one registry, and the file they came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub source: PathBuf,
}

/// The auth files, in the order they are read. The first is burrow's own,
/// the only one written.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuthFiles {
    pub files: Vec<PathBuf>,
}

impl AuthFiles {
    /// `$XDG_CONFIG_HOME/burrow/auth.json`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json`.
    pub fn for_user() -> AuthFiles {
        let mut files = Vec::new();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        if let Some(c) = config_home {
            files.push(c.join("burrow/auth.json"));
        }
        if let Some(r) = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
        {
            files.push(r.join("containers/auth.json"));
        }
        if let Some(h) = home {
            files.push(h.join(".docker/config.json"));
        }
        AuthFiles { files }
    }

    /// burrow's own file, where `login` writes.
    pub fn own(&self) -> Option<&Path> {
        self.files.first().map(PathBuf::as_path)
    }

    /// The first credentials any file holds for `registry`.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, AuthError> {
        for path in &self.files {
            let Some(auths) = read_auths(path)? else {
                continue;
            };
            for key in keys_for(registry) {
                if let Some((k, entry)) = auths.iter().find(|(k, _)| normalize_key(k) == key) {
                    if let Some(c) = decode_entry(path, k, entry)? {
                        return Ok(Some(c));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Records credentials for `registry` in burrow's own file.
    pub fn store(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<PathBuf, AuthError> {
        let path = self.own_or_err()?;
        let mut doc = read_doc(&path)?.unwrap_or_else(|| serde_json::json!({}));
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        if !doc.is_object() {
            doc = serde_json::json!({});
        }
        let auths = doc
            .as_object_mut()
            .expect("an object")
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}));
        if !auths.is_object() {
            *auths = serde_json::json!({});
        }
        let map = auths.as_object_mut().expect("an object");
        map.retain(|k, _| normalize_key(k) != normalize_key(registry));
        map.insert(registry.to_string(), serde_json::json!({ "auth": encoded }));
        write_private(&path, &doc)?;
        Ok(path)
    }

    /// Removes `registry` from burrow's own file; false when it was not
    /// there.
    pub fn remove(&self, registry: &str) -> Result<bool, AuthError> {
        let path = self.own_or_err()?;
        let Some(mut doc) = read_doc(&path)? else {
            return Ok(false);
        };
        let Some(map) = doc.get_mut("auths").and_then(|a| a.as_object_mut()) else {
            return Ok(false);
        };
        let before = map.len();
        let keys: Vec<&str> = keys_for(registry);
        map.retain(|k, _| !keys.contains(&normalize_key(k)));
        if map.len() == before {
            return Ok(false);
        }
        write_private(&path, &doc)?;
        Ok(true)
    }

    fn own_or_err(&self) -> Result<PathBuf, AuthError> {
        self.own()
            .map(Path::to_path_buf)
            .ok_or_else(|| AuthError::Io {
                what: "finding",
                path: PathBuf::from("$XDG_CONFIG_HOME/burrow/auth.json"),
                source: io::Error::new(io::ErrorKind::NotFound, "HOME is not set"),
            })
    }
}

/// The keys a registry may be filed under: docker files Docker Hub as its
/// old index URL.
fn keys_for(registry: &str) -> Vec<&str> {
    if registry == "docker.io" {
        vec!["docker.io", "index.docker.io", "registry-1.docker.io"]
    } else {
        vec![normalize_key(registry)]
    }
}

/// `https://index.docker.io/v1/` -> `index.docker.io`.
pub fn normalize_key(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn read_doc(path: &Path) -> Result<Option<serde_json::Value>, AuthError> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::Io {
                what: "reading",
                path: path.into(),
                source,
            })
        }
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|e| AuthError::Corrupt {
            path: path.into(),
            detail: format!("not JSON: {e}"),
        })
}

fn read_auths(path: &Path) -> Result<Option<BTreeMap<String, serde_json::Value>>, AuthError> {
    let Some(doc) = read_doc(path)? else {
        return Ok(None);
    };
    Ok(doc
        .get("auths")
        .and_then(|a| a.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
}

fn decode_entry(
    path: &Path,
    key: &str,
    entry: &serde_json::Value,
) -> Result<Option<Credentials>, AuthError> {
    let corrupt = |detail: &str| AuthError::Corrupt {
        path: path.into(),
        detail: format!("auths.{key:?}: {detail}"),
    };
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        if auth.is_empty() {
            return Ok(None);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| corrupt("\"auth\" is not base64"))?;
        let text = String::from_utf8(raw).map_err(|_| corrupt("\"auth\" is not UTF-8"))?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| corrupt("\"auth\" is not base64 of user:password"))?;
        return Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
            source: path.into(),
        }));
    }
    match (
        entry.get("username").and_then(|u| u.as_str()),
        entry.get("password").and_then(|p| p.as_str()),
    ) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
            source: path.into(),
        })),
        _ => Ok(None),
    }
}

/// Writes `doc` to `path` with mode 0600 through a temp file and rename, so
/// a reader never sees half a file and nobody else ever can read it.
fn write_private(path: &Path, doc: &serde_json::Value) -> Result<(), AuthError> {
    let io_at = |what, p: &Path| {
        let p = p.to_path_buf();
        move |source| AuthError::Io {
            what,
            path: p,
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_at("creating", dir))?;
    let tmp = dir.join(format!(".auth.json.tmp-{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_at("creating", &tmp))?;
    let mut data = serde_json::to_vec_pretty(doc).expect("JSON serialises");
    data.push(b'\n');
    let written = f
        .write_all(&data)
        .and_then(|_| f.sync_all())
        .and_then(|_| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(AuthError::Io {
            what: "writing",
            path: path.into(),
            source: e,
        });
    }
    Ok(())
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="a,b"` or `Basic
/// realm="..."`; `None` for schemes burrow does not speak.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `key="quoted, value",key2=token` into a map (keys lowercased).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// `Basic base64(user:pass)`.
pub fn basic_header(c: &Credentials) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_keeps_commas_inside_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn files_are_read_in_order_and_docker_hub_keys_match() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path().join("burrow/auth.json");
        let docker = d.path().join("docker.json");
        fs::write(
            &docker,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="},"r.example:5000":{"auth":"ZG9jazpw"}}}"#,
        )
        .unwrap();
        let files = AuthFiles {
            files: vec![own.clone(), d.path().join("missing.json"), docker.clone()],
        };
        let hub = files.lookup("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "secret")
        );
        assert_eq!(hub.source, docker);
        files.store("r.example:5000", "mine", "pa:ss").unwrap();
        let r = files.lookup("r.example:5000").unwrap().unwrap();
        assert_eq!(
            (r.username.as_str(), r.password.as_str(), r.source.as_path()),
            ("mine", "pa:ss", own.as_path())
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&own).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(files.remove("r.example:5000").unwrap());
        assert!(!files.remove("r.example:5000").unwrap());
        // docker's entry is still read, and never written.
        assert_eq!(
            files.lookup("r.example:5000").unwrap().unwrap().username,
            "dock"
        );
    }

    #[test]
    fn corrupt_entries_name_the_file_and_key() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("auth.json");
        fs::write(&f, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        let files = AuthFiles { files: vec![f] };
        let e = files.lookup("h").unwrap_err().to_string();
        assert!(
            e.contains("auth.json") && e.contains("\"h\"") && e.contains("base64"),
            "{e}"
        );
    }
}
