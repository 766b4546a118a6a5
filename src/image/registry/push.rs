//! `push`: an image of the store to a registry. Each layer is rebuilt from
//! the store (the exact tar its diff id names), gzip-compressed on the fly
//! and streamed in one chunked PATCH, its digest computed as it goes and
//! given in the closing PUT; blobs the registry already has (HEAD) are
//! skipped. Then the config, then an OCI manifest. Never changes the store.

use super::client::{join_url, Client, Payload, Settings};
use super::manifest::{self, Descriptor};
use super::progress::{Counted, Progress, ProgressMode};
use super::RegistryError;
use crate::image::digest::HashingWriter;
use crate::image::store::Store;
use crate::image::{Digest, Reference};
use nix::fcntl::{Flock, FlockArg};
use std::collections::BTreeMap;
use std::fs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use ureq::http::Method;

type Result<T, E = RegistryError> = std::result::Result<T, E>;

const PARALLEL: usize = 3;

/// A layer's descriptor, and whether it was uploaded.
type LayerResult = Result<(Descriptor, bool)>;

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub progress: ProgressMode,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PushReport {
    pub reference: String,
    pub manifest_digest: Digest,
    /// Layers uploaded, and layers the registry already had.
    pub uploaded: usize,
    pub present: usize,
}

/// Pushes image `id` to `dest` (which must have a tag). Must run inside
/// burrow's user namespace (layer files belong to mapped ids); threads
/// start here.
pub fn push(
    store: &Store,
    settings: &Settings,
    id: &Digest,
    dest: &Reference,
    opts: &PushOptions,
) -> Result<PushReport> {
    let _lock = store.lock_shared()?;
    let tag = match (&dest.tag, &dest.digest) {
        (Some(t), None) => t.clone(),
        _ => {
            return Err(RegistryError::Usage(format!(
                "cannot push to {dest}: a destination needs a tag, not a digest (the registry computes the digest)"
            )))
        }
    };
    let record = store.image(id)?;
    let (_, config_raw) = store.config(id)?;
    let client = Client::new(&dest.registry, settings, None)?;
    let scope = format!("repository:{}:pull,push", dest.repository);
    let base = client.base()?;
    Progress::message(opts.progress, &format!("Pushing {dest}..."));

    let bars = record
        .layers
        .iter()
        .map(|l| {
            (
                format!("Copying blob {}", l.short()),
                store.layer_record(l).map(|r| r.size).unwrap_or(0),
            )
        })
        .collect();
    let progress = Progress::new(opts.progress, bars);
    let ctx = Upload {
        store,
        settings,
        client: &client,
        dest,
        scope: &scope,
        base: &base,
        progress: &progress,
    };
    let layers = ctx.layers(&record.layers)?;
    progress.draw();
    let present = layers.iter().filter(|(_, uploaded)| !uploaded).count();

    let config_digest = Digest::of_bytes(&config_raw);
    if !ctx.exists(&config_digest)? {
        ctx.upload_bytes(&config_digest, &config_raw)?;
    }
    Progress::message(
        opts.progress,
        &format!("Copying config {} done", config_digest.short()),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {
            "mediaType": manifest::OCI_CONFIG,
            "digest": config_digest,
            "size": config_raw.len(),
        },
        "layers": layers.iter().map(|(d, _)| d).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let manifest_digest = Digest::of_bytes(&bytes);
    Progress::message(opts.progress, "Writing manifest to image destination");
    let url = format!("{base}/v2/{}/manifests/{tag}", dest.repository);
    let resp = client.send(
        Method::PUT,
        &url,
        Some(&scope),
        &[("Content-Type", manifest::OCI_MANIFEST)],
        Payload::Bytes(&bytes),
    )?;
    if !resp.status().is_success() {
        return Err(client.status_error(resp, &url, &format!("manifest {dest}")));
    }
    Ok(PushReport {
        reference: dest.to_string(),
        manifest_digest,
        uploaded: layers.len() - present,
        present,
    })
}

struct Upload<'a> {
    store: &'a Store,
    settings: &'a Settings,
    client: &'a Client,
    dest: &'a Reference,
    scope: &'a str,
    base: &'a str,
    progress: &'a Progress,
}

impl Upload<'_> {
    /// Every layer's descriptor, and whether it was uploaded (false: the
    /// registry had it), on up to `PARALLEL` threads.
    fn layers(&self, diff_ids: &[Digest]) -> Result<Vec<(Descriptor, bool)>> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let finished = AtomicBool::new(false);
        let results: Mutex<Vec<Option<LayerResult>>> =
            Mutex::new((0..diff_ids.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            s.spawn(|| {
                while !finished.load(Ordering::Relaxed) {
                    self.progress.draw();
                    std::thread::sleep(std::time::Duration::from_millis(150));
                }
            });
            let workers: Vec<_> = (0..diff_ids.len().min(PARALLEL))
                .map(|_| {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= diff_ids.len() || failed.load(Ordering::SeqCst) {
                            break;
                        }
                        let result = self.layer(&diff_ids[i], i);
                        match &result {
                            Ok((_, true)) => self.progress.finish(i, "done"),
                            Ok((_, false)) => self.progress.finish(i, "skipped: already exists"),
                            Err(_) => {
                                self.progress.finish(i, "failed");
                                failed.store(true, Ordering::SeqCst);
                            }
                        }
                        results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
                    })
                })
                .collect();
            for w in workers {
                let _ = w.join();
            }
            finished.store(true, Ordering::Relaxed);
        });
        let mut out = Vec::new();
        for r in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
            match r {
                Some(r) => out.push(r?),
                None => continue,
            }
        }
        Ok(out)
    }

    fn layer(&self, diff_id: &Digest, bar: usize) -> Result<(Descriptor, bool)> {
        for known in known_blobs(self.settings, diff_id) {
            if self.exists(&known.digest)? {
                return Ok((known, false));
            }
        }
        self.progress.start(bar);
        let desc = self.upload_layer(diff_id, bar)?;
        remember_blob(self.settings, diff_id, &desc);
        Ok((desc, true))
    }

    fn blob_url(&self, d: &Digest) -> String {
        format!("{}/v2/{}/blobs/{d}", self.base, self.dest.repository)
    }

    /// HEAD: does the repository have this blob?
    fn exists(&self, d: &Digest) -> Result<bool> {
        let url = self.blob_url(d);
        let resp = self
            .client
            .send(Method::HEAD, &url, Some(self.scope), &[], Payload::Empty)?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.client.status_error(resp, &url, &format!("blob {d}"))),
        }
    }

    /// POST: a new upload session; its URL.
    fn start_upload(&self, what: &str) -> Result<String> {
        let url = format!("{}/v2/{}/blobs/uploads/", self.base, self.dest.repository);
        let resp = self
            .client
            .send(Method::POST, &url, Some(self.scope), &[], Payload::Empty)?;
        if resp.status().as_u16() != 202 {
            return Err(self.client.status_error(resp, &url, what));
        }
        self.location(&resp, &url, what)
    }

    fn location(
        &self,
        resp: &ureq::http::Response<ureq::Body>,
        url: &str,
        what: &str,
    ) -> Result<String> {
        resp.headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(|l| join_url(url, l))
            .ok_or_else(|| RegistryError::Upload {
                registry: self.client.registry.clone(),
                what: what.into(),
                detail: format!("{url} answered without a Location"),
            })
    }

    fn with_digest(url: &str, d: &Digest) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}digest={d}")
    }

    fn finish_upload(
        &self,
        location: &str,
        d: &Digest,
        payload: Payload<'_>,
        what: &str,
    ) -> Result<()> {
        let url = Self::with_digest(location, d);
        let resp = self.client.send(
            Method::PUT,
            &url,
            Some(self.scope),
            &[("Content-Type", "application/octet-stream")],
            payload,
        )?;
        if resp.status().as_u16() != 201 && !resp.status().is_success() {
            return Err(self.client.status_error(resp, &url, what));
        }
        Ok(())
    }

    /// Monolithic upload of a small blob (the config).
    fn upload_bytes(&self, d: &Digest, data: &[u8]) -> Result<()> {
        let what = format!("config {d}");
        let location = self.start_upload(&what)?;
        self.finish_upload(&location, d, Payload::Bytes(data), &what)
    }

    /// Rebuilds, compresses and streams one layer; its descriptor.
    fn upload_layer(&self, diff_id: &Digest, bar: usize) -> Result<Descriptor> {
        let what = format!("layer {diff_id}");
        let location = self.start_upload(&what)?;
        let store = self.store;
        let registry = &self.client.registry;
        let upload = |detail: String| RegistryError::Upload {
            registry: registry.clone(),
            what: what.clone(),
            detail,
        };
        // The layer is rebuilt and compressed on a thread as it is sent:
        // never written out whole. A rebuild that fails is the cause of a
        // cut upload; an upload that fails stops the rebuild.
        use crate::image::chunks::{self, Failed};
        let streamed = chunks::stream(
            |out| -> Result<(Digest, u64)> {
                let hashed = HashingWriter::new(out);
                let mut gz = flate2::write::GzEncoder::new(hashed, flate2::Compression::default());
                crate::image::archive::repack_verified(store, diff_id, &mut gz)?;
                let (out, digest, size) = gz.finish().map_err(|e| upload(e.to_string()))?.finish();
                out.end().map_err(|e| upload(e.to_string()))?;
                Ok((digest, size))
            },
            |rebuilt| {
                let mut counted = Counted {
                    inner: rebuilt,
                    progress: self.progress,
                    index: bar,
                };
                self.client.send(
                    Method::PATCH,
                    &location,
                    Some(self.scope),
                    &[("Content-Type", "application/octet-stream")],
                    Payload::Stream(&mut counted),
                )
            },
        );
        let (resp, (digest, size)) = match streamed {
            Ok(v) => v,
            Err(Failed::Reader(e) | Failed::Writer(e)) => return Err(e),
            Err(Failed::WriterPanicked) => {
                return Err(upload("rebuilding the layer panicked".into()))
            }
        };
        if resp.status().as_u16() != 202 && !resp.status().is_success() {
            return Err(self.client.status_error(resp, &location, &what));
        }
        let location = self.location(&resp, &location, &what)?;
        self.finish_upload(&location, &digest, Payload::Empty, &what)?;
        Ok(Descriptor {
            media_type: manifest::OCI_LAYER_GZIP.into(),
            digest,
            size,
            urls: vec![],
            platform: None,
            annotations: BTreeMap::new(),
        })
    }
}

/// The OCI media type for a blob whose descriptor said `media_type`.
fn oci_layer_type(media_type: &str) -> &'static str {
    if media_type.contains("zstd") {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else if media_type.contains("gzip") {
        manifest::OCI_LAYER_GZIP
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    }
}

type BlobCache = BTreeMap<Digest, Vec<Descriptor>>;

fn read_cache(path: &std::path::Path) -> BlobCache {
    fs::read(path)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default()
}

/// Blobs known to hold layer `diff_id`, newest first.
fn known_blobs(settings: &Settings, diff_id: &Digest) -> Vec<Descriptor> {
    let Some(path) = &settings.blob_cache else {
        return vec![];
    };
    let mut v = read_cache(path).remove(diff_id).unwrap_or_default();
    v.reverse();
    v
}

/// Records that blob `desc` holds layer `diff_id`. Best effort: losing
/// the record costs only an upload.
pub(super) fn remember_blob(settings: &Settings, diff_id: &Digest, desc: &Descriptor) {
    let Some(path) = &settings.blob_cache else {
        return;
    };
    let Some(dir) = path.parent() else {
        return;
    };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(lock_file) = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("blob-digests.lock"))
    else {
        return;
    };
    let Ok(_lock) = Flock::lock(lock_file, FlockArg::LockExclusive) else {
        return;
    };
    let mut cache = read_cache(path);
    let entry = cache.entry(diff_id.clone()).or_default();
    entry.retain(|d| d.digest != desc.digest);
    entry.push(Descriptor {
        media_type: oci_layer_type(&desc.media_type).into(),
        digest: desc.digest.clone(),
        size: desc.size,
        urls: vec![],
        platform: None,
        annotations: BTreeMap::new(),
    });
    if entry.len() > 4 {
        entry.remove(0);
    }
    let tmp = dir.join(format!(".blob-digests.{}", std::process::id()));
    let data = serde_json::to_vec(&cache).expect("cache serialises");
    if fs::write(&tmp, data)
        .and_then(|_| fs::rename(&tmp, path))
        .is_err()
    {
        let _ = fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_cache_remembers_the_newest_few() {
        let d = tempfile::tempdir().unwrap();
        let settings = Settings {
            registries: Default::default(),
            tls_verify: None,
            certs_dirs: vec![],
            auth: super::super::auth::AuthFiles { files: vec![] },
            blob_cache: Some(d.path().join("cache/blob-digests.json")),
        };
        let diff = Digest::of_bytes(b"layer");
        for i in 0..6u8 {
            let desc = Descriptor {
                media_type: manifest::DOCKER_MANIFEST.into(),
                digest: Digest::of_bytes(&[i]),
                size: i.into(),
                urls: vec![],
                platform: None,
                annotations: BTreeMap::new(),
            };
            remember_blob(&settings, &diff, &desc);
        }
        let known = known_blobs(&settings, &diff);
        assert_eq!(known.len(), 4);
        assert_eq!(known[0].digest, Digest::of_bytes(&[5]));
        assert!(known_blobs(&settings, &Digest::of_bytes(b"other")).is_empty());
    }
}
