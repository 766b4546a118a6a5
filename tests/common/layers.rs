//! What an image's layers say about owners: the layers of a saved image
//! and the (uid, gid, mode, type) of every entry of a layer tar, to compare
//! what burrow wrote for two users, or with a layer it was given.

use super::{path_str, TestEnv};
use std::collections::BTreeMap;
use std::io::Read;

/// (owner, group, mode, type) of every entry of a layer tar, by path
/// (no leading `./`, no trailing slash).
pub type Headers = BTreeMap<String, (u64, u64, u32, u8)>;

/// The owner (uid, gid) the headers give `path`.
pub fn owner(h: &Headers, path: &str) -> Option<(u64, u64)> {
    h.get(path).map(|h| (h.0, h.1))
}

/// The owner and mode the headers give `path`.
pub fn owner_mode(h: &Headers, path: &str) -> Option<(u64, u64, u32)> {
    h.get(path).map(|h| (h.0, h.1, h.2))
}

/// Commits container `name` as `tag`; the headers of its new layer.
pub fn commit_layer(env: &TestEnv, name: &str, tag: &str) -> Headers {
    env.ok(&["commit", name, tag]);
    tar_headers(&last_layer(env, tag))
}

/// The headers of `export` of container `name`.
pub fn export(env: &TestEnv, name: &str) -> Headers {
    let tarball = env.work.join("exported.tar");
    env.ok(&["export", "-o", path_str(&tarball), name]);
    tar_headers(&std::fs::read(&tarball).expect("read the export"))
}

pub fn tar_headers(data: &[u8]) -> Headers {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(data);
    for e in ar.entries().expect("layer entries") {
        let e = e.expect("layer entry");
        let h = e.header();
        let path = String::from_utf8_lossy(&e.path_bytes())
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        out.insert(
            path,
            (
                h.uid().expect("uid"),
                h.gid().expect("gid"),
                h.mode().expect("mode") & 0o7777,
                h.entry_type().as_byte(),
            ),
        );
    }
    out
}

/// The layers of `image` as `save` writes them (docker-archive),
/// uncompressed, base first.
pub fn saved_layers(env: &TestEnv, image: &str) -> Vec<Vec<u8>> {
    let saved = env.work.join("saved.tar");
    env.ok(&["save", "-o", path_str(&saved), image]);
    let bytes = std::fs::read(&saved).expect("read saved archive");
    let _ = std::fs::remove_file(&saved);
    let mut files = BTreeMap::new();
    let mut ar = tar::Archive::new(&bytes[..]);
    for e in ar.entries().expect("archive entries") {
        let mut e = e.expect("archive entry");
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read archive entry");
        files.insert(path, data);
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&files["manifest.json"]).expect("manifest.json");
    manifest[0]["Layers"]
        .as_array()
        .expect("the manifest's layers")
        .iter()
        .map(|l| {
            let data = files[l.as_str().expect("a layer path")].clone();
            if data.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&data[..])
                    .read_to_end(&mut out)
                    .expect("gunzip layer");
                out
            } else {
                data
            }
        })
        .collect()
}

/// The last layer of `image`, as `save` writes it.
pub fn last_layer(env: &TestEnv, image: &str) -> Vec<u8> {
    saved_layers(env, image).pop().expect("a layer")
}
