//! `burrow builder prune`: frees what builds keep between them: the step
//! cache (its keys and the unnamed intermediate images only it names),
//! cache mounts and context indexes. Takes the store's exclusive lock, so
//! it waits for a running build instead of pulling its cache away.

use crate::container::images::Context;
use crate::container::record::Containers;
use crate::image::ImageError;
use crate::{Error, Result};
use std::path::Path;

/// What `prune` freed.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Pruned {
    /// Intermediate images removed.
    pub images: usize,
    /// Bytes the store shrank by.
    pub bytes: u64,
}

pub fn prune(ctx: &Context) -> Result<Pruned> {
    ctx.in_userns(|store| {
        let img = |e: crate::image::store::StoreError| Error::Image(ImageError::from(e));
        let _lock = store.lock_exclusive().map_err(img)?;
        let before = disk_usage(store.root());
        let build = store.root().join("build");
        for d in ["cache", "mounts", "contexts"] {
            let dir = build.join(d);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Usage(format!("removing {}: {e}", dir.display()))),
            }
        }
        let containers = Containers::open(store.root())?;
        let _made = containers.lock()?;
        // The records' images alone: a state read under the containers'
        // lock can wait for a supervisor that waits for that lock
        // (`Containers::records_alone`).
        let used: std::collections::BTreeSet<_> = containers
            .records_alone()?
            .into_iter()
            .map(|r| r.image_id)
            .collect();
        let mut images = 0;
        for entry in store.images().map_err(img)? {
            if entry.record.intermediate
                && entry.names.is_empty()
                && !used.contains(&entry.record.id)
            {
                store.remove_image(&entry.record.id).map_err(img)?;
                images += 1;
            }
        }
        let after = disk_usage(store.root());
        Ok(Pruned {
            images,
            bytes: before.saturating_sub(after),
        })
    })
}

/// What builds keep, as `system df` counts it.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct CacheUse {
    /// Unnamed intermediate images the step cache keeps.
    pub images: usize,
    /// Bytes: the step cache, cache mounts and context indexes on disk,
    /// and the layers only those images hold. All of it is reclaimable
    /// (`builder prune`).
    pub bytes: u64,
}

/// `system df`'s build cache line. Read in the user namespace: cache
/// mounts belong to the containers' ids.
pub fn usage(ctx: &Context) -> Result<CacheUse> {
    ctx.in_userns(|store| {
        let img = |e: crate::image::store::StoreError| Error::Image(ImageError::from(e));
        let mut u = CacheUse {
            bytes: disk_usage(&store.root().join("build")),
            ..CacheUse::default()
        };
        let all = store.images().map_err(img)?;
        let cached =
            |e: &crate::image::store::ImageEntry| e.record.intermediate && e.names.is_empty();
        let kept: std::collections::BTreeSet<_> = all
            .iter()
            .filter(|e| !cached(e))
            .flat_map(|e| e.record.layers.iter().cloned())
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for e in all.iter().filter(|e| cached(e)) {
            u.images += 1;
            for l in &e.record.layers {
                if !kept.contains(l) && seen.insert(l.clone()) {
                    u.bytes += store.counted_bytes(l);
                }
            }
        }
        Ok(u)
    })
}

/// Bytes of the files under `dir` (each inode once), not following links.
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if seen.insert((m.dev(), m.ino())) {
                total += m.blocks() * 512;
            }
        }
    }
    total
}
