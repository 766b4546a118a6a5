//! `search`: repositories of a registry whose names hold a term, from the
//! registry's catalog (`/v2/_catalog`, followed page by page). Docker
//! Hub has no catalog; a registry that refuses one says so.

use super::client::{join_url, Client, Payload, Settings};
use super::RegistryError;
use ureq::http::Method;

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// One repository found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `REGISTRY/REPOSITORY`, as `pull` takes it.
    pub name: String,
}

/// Repositories of `registry` whose names contain `term` (every one for
/// an empty term), sorted, at most `limit`.
pub fn search(settings: &Settings, registry: &str, term: &str, limit: usize) -> Result<Vec<Found>> {
    if matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        return Err(RegistryError::Usage(
            "docker.io has no catalog to search: name a registry that has one (burrow search REGISTRY/TERM)"
                .into(),
        ));
    }
    let client = Client::new(registry, settings, None)?;
    let base = client.base()?;
    let mut url = format!("{base}/v2/_catalog?n=1000");
    let mut names = Vec::new();
    // A registry's pages are bounded: at most this many are followed.
    for _ in 0..1000 {
        let resp = client.send(
            Method::GET,
            &url,
            Some("registry:catalog:*"),
            &[("Accept", "application/json")],
            Payload::Empty,
        )?;
        if !resp.status().is_success() {
            if resp.status().as_u16() == 404 {
                return Err(RegistryError::Usage(format!(
                    "registry {registry} has no catalog to search (404 on /v2/_catalog)"
                )));
            }
            return Err(client.status_error(resp, &url, "the catalog"));
        }
        let next = resp
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(next_link)
            .map(|l| join_url(&url, &l));
        let body = resp
            .into_body()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|e| RegistryError::Protocol {
                registry: registry.to_string(),
                detail: format!("reading the catalog: {e}"),
            })?;
        let page: Catalog = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
            registry: registry.to_string(),
            detail: format!("the catalog is not JSON: {e}"),
        })?;
        names.extend(page.repositories.unwrap_or_default());
        match next {
            Some(n) if n != url => url = n,
            _ => break,
        }
    }
    let term = term.to_lowercase();
    names.retain(|n| n.to_lowercase().contains(&term));
    names.sort();
    names.dedup();
    names.truncate(limit);
    Ok(names
        .into_iter()
        .map(|n| Found {
            name: format!("{registry}/{n}"),
        })
        .collect())
}

#[derive(serde::Deserialize)]
struct Catalog {
    repositories: Option<Vec<String>>,
}

/// The target of a `Link: </v2/_catalog?last=x&n=100>; rel="next"` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
