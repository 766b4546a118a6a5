//! `pull`: short names to candidate references, the manifest (through an
//! index to this platform's), the config, then the missing layers, several
//! at once, each streamed from the socket into `Store::add_layer` (checked
//! and unpacked as it arrives). The image is recorded only when every
//! layer is whole; a killed pull leaves only temp dirs the next command
//! removes.

use super::client::{Client, Payload, Settings};
use super::manifest::{self, Descriptor, Manifest, Platform};
use super::progress::{Counted, Progress, ProgressMode};
use super::RegistryError;
use crate::config::RegistriesConfig;
use crate::image::config::ImageConfig;
use crate::image::store::{AddedLayer, Store, StoreError};
use crate::image::{Digest, Reference};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use ureq::http::Method;

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Layers fetched at once: enough to fill a link, few enough not to thrash
/// two cores unpacking.
const PARALLEL: usize = 4;
/// Tries of one layer when the connection drops.
const ATTEMPTS: usize = 3;
const MANIFEST_LIMIT: u64 = 4 << 20;
const CONFIG_LIMIT: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// `None`: this machine's.
    pub platform: Option<Platform>,
    pub progress: ProgressMode,
}

/// What a pull did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PullReport {
    pub id: Digest,
    /// The reference pulled, fully qualified.
    pub reference: String,
    pub manifest_digest: Digest,
    /// Layers downloaded, and layers the store already had.
    pub fetched: usize,
    pub present: usize,
    pub notes: Vec<String>,
    pub squashed: u64,
}

/// The references `input` may mean, in the order they are tried: a
/// qualified name is itself; a short name is its alias, else itself under
/// each registry of `registries.search`.
pub fn candidates(input: &str, registries: &RegistriesConfig) -> Result<Vec<Reference>> {
    let bad = |e: crate::image::reference::ReferenceError| RegistryError::Usage(e.to_string());
    if Reference::is_qualified(input) {
        return Ok(vec![Reference::parse(input).map_err(bad)?]);
    }
    if let Some(target) = registries.expand_alias(input) {
        return Ok(vec![Reference::parse(&target).map_err(bad)?]);
    }
    if registries.search.is_empty() {
        return Err(RegistryError::Usage(format!(
            "{input:?} names no registry and registries.search in config.toml is empty; give the full name (registry.example/{input})"
        )));
    }
    registries
        .search
        .iter()
        .map(|r| Reference::parse_in(input, r).map_err(bad))
        .collect()
}

/// An image found in a registry, not yet downloaded.
struct Resolved {
    client: Client,
    reference: Reference,
    manifest_digest: Digest,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

fn scope(r: &Reference) -> String {
    format!("repository:{}:pull", r.repository)
}

/// Reads a small body whole, refusing more than `limit` bytes.
fn read_small(
    client: &Client,
    resp: ureq::http::Response<ureq::Body>,
    limit: u64,
    url: &str,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    resp.into_body()
        .into_reader()
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| RegistryError::Transfer {
            registry: client.registry.clone(),
            what: url.into(),
            detail: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(RegistryError::Protocol {
            registry: client.registry.clone(),
            detail: format!("{url} is larger than {limit} bytes"),
        });
    }
    Ok(out)
}

/// GET a manifest by tag or digest; checks the digest when one was asked.
fn get_manifest(
    client: &Client,
    r: &Reference,
    by: &str,
    expect: Option<&Digest>,
) -> Result<(Vec<u8>, Option<String>)> {
    let url = format!("{}/v2/{}/manifests/{by}", client.base()?, r.repository);
    let resp = client.send(
        Method::GET,
        &url,
        Some(&scope(r)),
        &[("Accept", manifest::ACCEPT)],
        Payload::Empty,
    )?;
    if !resp.status().is_success() {
        let what = match expect {
            Some(d) if r.digest.as_ref() != Some(d) => format!("manifest {d} of {r}"),
            _ => format!("image {r} (no such repository or tag)"),
        };
        return Err(client.status_error(resp, &url, &what));
    }
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = read_small(client, resp, MANIFEST_LIMIT, &url)?;
    if let Some(d) = expect {
        let actual = Digest::of_bytes(&bytes);
        if &actual != d {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest of {r} from {url}"),
                expected: d.clone(),
                actual,
            });
        }
    }
    Ok((bytes, content_type))
}

fn resolve(settings: &Settings, r: &Reference, wanted: &Platform) -> Result<Resolved> {
    let client = Client::new(&r.registry, settings, None)?;
    let by = match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => "latest".into(),
    };
    let (bytes, ctype) = get_manifest(&client, r, &by, r.digest.as_ref())?;
    let manifest_digest = Digest::of_bytes(&bytes);
    let bad = |detail: String| RegistryError::BadImage {
        reference: r.to_string(),
        detail,
    };
    let mut parsed = Manifest::parse(&bytes, ctype.as_deref()).map_err(|e| bad(e.to_string()))?;
    for _ in 0..4 {
        let Manifest::Index { manifests } = &parsed else {
            break;
        };
        let chosen =
            manifest::choose(manifests, wanted).ok_or_else(|| RegistryError::NoPlatform {
                reference: r.to_string(),
                wanted: wanted.to_string(),
                available: {
                    let p = manifest::platforms(manifests);
                    if p.is_empty() {
                        "no platforms listed".into()
                    } else {
                        p.join(", ")
                    }
                },
            })?;
        let d = chosen.digest.clone();
        let (bytes, ctype) = get_manifest(&client, r, &d.to_string(), Some(&d))?;
        parsed = Manifest::parse(&bytes, ctype.as_deref()).map_err(|e| bad(e.to_string()))?;
    }
    match parsed {
        Manifest::Image { config, layers, .. } => Ok(Resolved {
            client,
            reference: r.clone(),
            manifest_digest,
            config,
            layers,
        }),
        Manifest::Index { .. } => Err(bad("indexes nested too deep".into())),
    }
}

/// Pulls `input` (a reference or a short name) into the store. Must run
/// inside burrow's user namespace; threads are started here, after the
/// fork into it.
pub fn pull(
    store: &Store,
    settings: &Settings,
    input: &str,
    opts: &PullOptions,
) -> Result<PullReport> {
    store.clean_if_idle()?;
    let _lock = store.lock_shared()?;
    let wanted = opts.platform.clone().unwrap_or_else(Platform::host);
    let mut failures = Vec::new();
    let all = candidates(input, &settings.registries)?;
    for r in &all {
        Progress::message(opts.progress, &format!("Trying to pull {r}..."));
        match resolve(settings, r, &wanted) {
            Ok(resolved) => return fetch(store, settings, resolved, opts, &wanted),
            Err(e) => failures.push((r.to_string(), e)),
        }
    }
    if failures.len() == 1 {
        return Err(failures.pop().expect("one").1);
    }
    Err(RegistryError::AllFailed(format!(
        "cannot pull {input:?} from any registry in registries.search: {}",
        failures
            .iter()
            .map(|(r, e)| format!("{r}: {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    )))
}

/// The digest of the manifest a pull of `input` would fetch now (the
/// platform's, out of an index), asked of the first registry that has it:
/// for `--pull newer`, which pulls only when it differs from the local
/// image's. Fetches no blob.
pub fn remote_digest(
    settings: &Settings,
    input: &str,
    platform: Option<&Platform>,
) -> Result<Digest> {
    let wanted = platform.cloned().unwrap_or_else(Platform::host);
    let mut last = None;
    for r in &candidates(input, &settings.registries)? {
        match resolve(settings, r, &wanted) {
            Ok(resolved) => return Ok(resolved.manifest_digest),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| RegistryError::AllFailed(format!("no registry to ask for {input:?}"))))
}

fn fetch(
    store: &Store,
    settings: &Settings,
    res: Resolved,
    opts: &PullOptions,
    wanted: &Platform,
) -> Result<PullReport> {
    let r = &res.reference;
    let client = &res.client;
    let base = client.base()?;
    let config_url = format!("{base}/v2/{}/blobs/{}", r.repository, res.config.digest);
    let resp = client.get_following(&config_url, Some(&scope(r)), &[])?;
    if !resp.status().is_success() {
        let what = format!("config blob {} of {r}", res.config.digest);
        return Err(client.status_error(resp, &config_url, &what));
    }
    let config_bytes = read_small(client, resp, CONFIG_LIMIT, &config_url)?;
    let actual = Digest::of_bytes(&config_bytes);
    if actual != res.config.digest {
        return Err(RegistryError::DigestMismatch {
            what: format!("config of {r}"),
            expected: res.config.digest.clone(),
            actual,
        });
    }
    let config = ImageConfig::parse(&config_bytes).map_err(|e| RegistryError::BadImage {
        reference: r.to_string(),
        detail: format!("its config is not an image config: {e}"),
    })?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != res.layers.len() {
        return Err(RegistryError::BadImage {
            reference: r.to_string(),
            detail: format!(
                "the manifest lists {} layers but the config {} diff ids",
                res.layers.len(),
                diff_ids.len()
            ),
        });
    }

    let bars = res
        .layers
        .iter()
        .map(|l| (format!("Copying blob {}", l.digest.short()), l.size))
        .collect();
    let progress = Progress::new(opts.progress, bars);
    // A layer is fetched once even when the image lists it twice.
    let mut jobs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, (desc, diff_id)) in res.layers.iter().zip(diff_ids).enumerate() {
        if store.has_layer(diff_id) || !seen.insert(diff_id.clone()) {
            progress.finish(i, "skipped: already exists");
        } else {
            jobs.push((i, desc, diff_id));
        }
    }
    let present = res.layers.len() - jobs.len();
    let added = download_all(store, client, r, &jobs, &progress)?;
    progress.draw();
    Progress::message(
        opts.progress,
        &format!("Copying config {} done", res.config.digest.short()),
    );
    Progress::message(opts.progress, "Writing manifest to image destination");

    for ((_, desc, diff_id), _) in jobs.iter().zip(&added) {
        super::push::remember_blob(settings, diff_id, desc);
    }
    let record = match (&r.tag, &r.digest) {
        (Some(tag), _) => {
            let name = Reference {
                tag: Some(tag.clone()),
                digest: None,
                ..r.clone()
            };
            store.commit_image(&config_bytes, Some(res.manifest_digest.clone()), &[name])?
        }
        (None, _) => {
            // By digest only: the record gets `repo@digest` as a repo
            // digest, and no tag.
            let rec = store.commit_image(
                &config_bytes,
                Some(res.manifest_digest.clone()),
                std::slice::from_ref(r),
            )?;
            store.untag(&r.to_string())?;
            rec
        }
    };
    let mut notes = Vec::new();
    // A single-platform image is taken as it is, as docker does; say so
    // when it is not for the platform asked.
    if !config.architecture.is_empty()
        && (config.os != wanted.os || config.architecture != wanted.architecture)
    {
        notes.push(format!(
            "{r} is an image for {}/{}, not {}/{}; it may not run here",
            config.os, config.architecture, wanted.os, wanted.architecture
        ));
    }
    let mut squashed = 0;
    for a in &added {
        squashed += a.squashed;
        for n in &a.notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    Ok(PullReport {
        id: record.id,
        reference: r.to_string(),
        manifest_digest: res.manifest_digest,
        fetched: added.len(),
        present,
        notes,
        squashed,
    })
}

/// Runs the layer jobs on up to `PARALLEL` threads, redrawing progress
/// meanwhile. The first failure stops new layers from starting.
fn download_all(
    store: &Store,
    client: &Client,
    r: &Reference,
    jobs: &[(usize, &Descriptor, &Digest)],
    progress: &Progress,
) -> Result<Vec<AddedLayer>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<AddedLayer>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let workers = jobs.len().min(PARALLEL);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                progress.draw();
                std::thread::sleep(std::time::Duration::from_millis(150));
            }
        });
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= jobs.len() || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let (i, desc, diff_id) = jobs[k];
                    let mut result = Err(RegistryError::Usage("not tried".into()));
                    for attempt in 1..=ATTEMPTS {
                        progress.start(i);
                        result = download_layer(store, client, r, desc, diff_id, progress, i);
                        match &result {
                            Err(e)
                                if e.is_transient()
                                    && attempt < ATTEMPTS
                                    && !failed.load(Ordering::SeqCst) =>
                            {
                                std::thread::sleep(std::time::Duration::from_millis(
                                    500 * attempt as u64,
                                ));
                            }
                            _ => break,
                        }
                    }
                    match &result {
                        Ok(_) => progress.finish(i, "done"),
                        Err(_) => {
                            progress.finish(i, "failed");
                            failed.store(true, Ordering::SeqCst);
                        }
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner())[k] = Some(result);
                })
            })
            .collect();
        for h in handles {
            let _ = h.join();
        }
        finished.store(true, Ordering::Relaxed);
    });
    let mut out = Vec::new();
    for r in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        match r {
            Some(r) => out.push(r?),
            None => continue, // not started: another layer's error comes first
        }
    }
    Ok(out)
}

/// Reads the network body and keeps the first error it met, so a dropped
/// connection is reported as such rather than as the unpacker's complaint
/// about a short tar.
struct NetReader<R> {
    inner: R,
    error: Option<String>,
}

impl<R: Read> Read for NetReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.error.is_none() {
                self.error = Some(e.to_string());
            }
        })
    }
}

fn download_layer(
    store: &Store,
    client: &Client,
    r: &Reference,
    desc: &Descriptor,
    diff_id: &Digest,
    progress: &Progress,
    bar: usize,
) -> Result<AddedLayer> {
    let what = format!("layer {} of {r}", desc.digest);
    let resp = if desc.is_foreign() && !desc.urls.is_empty() {
        let mut last = None;
        let mut got = None;
        for url in &desc.urls {
            match client.get_external(url) {
                Ok(resp) if resp.status().is_success() => {
                    got = Some(resp);
                    break;
                }
                Ok(resp) => last = Some(client.status_error(resp, url, &what)),
                Err(e) => last = Some(e),
            }
        }
        match got {
            Some(resp) => resp,
            None => {
                return Err(RegistryError::Foreign {
                    reference: r.to_string(),
                    digest: desc.digest.clone(),
                    detail: format!(
                        "none of its URLs ({}) could be fetched: {}",
                        desc.urls.join(", "),
                        last.map(|e| e.to_string()).unwrap_or_default()
                    ),
                })
            }
        }
    } else {
        let url = format!(
            "{}/v2/{}/blobs/{}",
            client.base()?,
            r.repository,
            desc.digest
        );
        let resp = client.get_following(&url, Some(&scope(r)), &[])?;
        if !resp.status().is_success() {
            if desc.is_foreign() && resp.status().as_u16() == 404 {
                return Err(RegistryError::Foreign {
                    reference: r.to_string(),
                    digest: desc.digest.clone(),
                    detail: "the manifest gives no URLs to fetch it from, and the registry does not have it".into(),
                });
            }
            return Err(client.status_error(resp, &url, &format!("blob {} ({what})", desc.digest)));
        }
        resp
    };
    let mut net = NetReader {
        inner: resp.into_body().into_reader(),
        error: None,
    };
    let label = format!("blob {} of {}", desc.digest, r.name());
    let added = {
        let mut counted = Counted {
            inner: &mut net,
            progress,
            index: bar,
        };
        store.add_layer(&mut counted, Some(diff_id), Some(&desc.digest), &label)
    };
    match added {
        Ok(a) => Ok(a),
        Err(_) if net.error.is_some() => Err(RegistryError::Transfer {
            registry: client.registry.clone(),
            what,
            detail: net.error.unwrap_or_default(),
        }),
        Err(StoreError::DigestMismatch {
            what: _,
            expected,
            actual,
        }) => Err(RegistryError::DigestMismatch {
            what: if &expected == diff_id {
                format!("the uncompressed {what} (diff id from the image config)")
            } else {
                what
            },
            expected,
            actual,
        }),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registries(search: &[&str], aliases: &[(&str, &str)]) -> RegistriesConfig {
        RegistriesConfig {
            search: search.iter().map(|s| s.to_string()).collect(),
            insecure: vec![],
            aliases: aliases
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn short_names_try_aliases_then_each_search_registry() {
        let cfg = registries(
            &["quay.io", "docker.io"],
            &[("fedora", "registry.fedoraproject.org/fedora")],
        );
        let c = candidates("fedora:40", &cfg).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].to_string(), "registry.fedoraproject.org/fedora:40");
        let c: Vec<String> = candidates("busybox", &cfg)
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            c,
            ["quay.io/busybox:latest", "docker.io/library/busybox:latest"]
        );
        let c = candidates("ghcr.io/a/b:1", &cfg).unwrap();
        assert_eq!(c[0].to_string(), "ghcr.io/a/b:1");
        assert!(candidates("x", &registries(&[], &[])).is_err());
    }
}
