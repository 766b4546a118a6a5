//! OCI registries (the distribution API): pulling images into the store,
//! pushing them from it, and checking credentials for `login`. Owns the
//! HTTP client, authentication, manifests and transfer progress; never
//! writes layers except through `Store::add_layer`, and never runs
//! anything from an image.

pub mod auth;
pub mod client;
pub mod manifest;
pub mod progress;
mod pull;
mod push;
pub mod search;

pub use client::Settings;
pub use manifest::Platform;
pub use progress::ProgressMode;
pub use pull::{candidates, pull, remote_digest, PullOptions, PullReport};
pub use push::{push, PushOptions, PushReport};

use crate::image::store::StoreError;
use crate::image::Digest;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "cannot resolve registry host {host}: {detail}; check the name, and your network or DNS"
    )]
    UnknownHost { host: String, detail: String },
    #[error("cannot reach registry {registry}: {detail}")]
    Connect { registry: String, detail: String },
    #[error("TLS with registry {registry} failed: {detail}; {hint}")]
    Tls {
        registry: String,
        detail: String,
        hint: String,
    },
    /// The server does not speak TLS (or broke the handshake): HTTPS was
    /// tried where plain HTTP may be next.
    #[error("registry {registry} does not speak TLS: {detail}; if it serves plain HTTP, add it to registries.insecure in config.toml or pass --tls-verify=false")]
    NotTls { registry: String, detail: String },
    #[error("registry {registry} refused the username and password given for {username} (401 Unauthorized): one of them is wrong; nothing was stored")]
    LoginRefused { registry: String, username: String },
    #[error("{}", unauthorized(.registry, .what, .with))]
    Unauthorized {
        registry: String,
        what: String,
        /// The file the refused credentials came from.
        with: Option<PathBuf>,
    },
    #[error("registry {registry} denied access to {what} (403 Forbidden){}; if you need other credentials, `burrow login {registry}`", detail_suffix(.detail))]
    Denied {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("{what} not found in registry {registry}")]
    NotFound { registry: String, what: String },
    #[error("registry {registry} is rate limiting requests (429 Too Many Requests){}", retry(.retry_after))]
    RateLimited {
        registry: String,
        retry_after: Option<String>,
    },
    #[error("HTTP {status} from {url}{}", detail_suffix(.detail))]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("registry {registry}: {detail}")]
    Protocol { registry: String, detail: String },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "{reference}: no image for {wanted} (it has: {available}); choose one with --platform"
    )]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error("{reference}: {detail}")]
    BadImage { reference: String, detail: String },
    #[error("layer {digest} of {reference} is non-distributable and {detail}")]
    Foreign {
        reference: String,
        digest: Digest,
        detail: String,
    },
    #[error("downloading {what} from {registry}: {detail}")]
    Transfer {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("uploading {what} to {registry}: {detail}")]
    Upload {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("{0}")]
    AllFailed(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] crate::image::archive::ArchiveError),
}

impl RegistryError {
    /// Whether another try of the same transfer may succeed (the
    /// connection dropped); a wrong digest or a refusal will not change.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::Transfer { .. } | RegistryError::Connect { .. }
        ) || matches!(self, RegistryError::Status { status, .. } if *status >= 500)
    }
}

fn unauthorized(registry: &str, what: &str, with: &Option<PathBuf>) -> String {
    match with {
        None => format!(
            "registry {registry} refused access to {what} (401 Unauthorized): it needs credentials (log in with `burrow login {registry}`), or the repository does not exist"
        ),
        Some(file) => format!(
            "registry {registry} refused the credentials from {} for {what} (401 Unauthorized); log in again with `burrow login {registry}`",
            file.display()
        ),
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

fn retry(after: &Option<String>) -> String {
    match after {
        Some(t) => format!("; it asks to retry after {t}"),
        None => "; try again later".into(),
    }
}

/// Checks `username`/`password` against `registry` and records them in
/// burrow's auth file. Returns that file.
pub fn login(
    settings: &Settings,
    registry: &str,
    username: &str,
    password: &str,
) -> Result<PathBuf, RegistryError> {
    let own = settings
        .auth
        .own()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("auth.json"));
    let creds = auth::Credentials {
        username: username.into(),
        password: password.into(),
        source: own,
    };
    let client = client::Client::new(registry, settings, Some(creds))?;
    // What is refused here is what was typed, not a stored file.
    client.check_login().map_err(|e| match e {
        RegistryError::Unauthorized { registry, .. } => RegistryError::LoginRefused {
            registry,
            username: username.into(),
        },
        e => e,
    })?;
    Ok(settings.auth.store(registry, username, password)?)
}

/// `https://reg.example/v2/` -> `reg.example`; `index.docker.io` ->
/// `docker.io`: the key a registry's credentials are filed under.
pub fn registry_key(input: &str) -> Result<String, RegistryError> {
    let key = auth::normalize_key(input.trim());
    let key = match key {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        k => k,
    };
    if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(RegistryError::Usage(format!(
            "{input:?} is not a registry: give a host name, with its port if it has one (registry.example:5000)"
        )));
    }
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_keys_drop_scheme_and_path() {
        assert_eq!(
            registry_key("https://index.docker.io/v1/").unwrap(),
            "docker.io"
        );
        assert_eq!(registry_key("r.example:5000").unwrap(), "r.example:5000");
        assert!(registry_key("a b").is_err());
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = RegistryError::Unauthorized {
            registry: "r:5000".into(),
            what: "manifest r:5000/a:1".into(),
            with: None,
        };
        assert!(e.to_string().contains("burrow login r:5000"), "{e}");
        let e = RegistryError::RateLimited {
            registry: "docker.io".into(),
            retry_after: Some("30 seconds".into()),
        };
        assert!(
            e.to_string().contains("429") && e.to_string().contains("30 seconds"),
            "{e}"
        );
        let e = RegistryError::Denied {
            registry: "r".into(),
            what: "x".into(),
            detail: String::new(),
        };
        assert!(
            e.to_string().contains("403") && e.to_string().contains("burrow login"),
            "{e}"
        );
    }
}
