//! What ADD does beyond COPY: a local tar archive (plain, gzip, bzip2, xz
//! or zstd, told by its content, not its name) is extracted into the destination,
//! and an http(s) URL is downloaded, checked against `--checksum`. An
//! archive's members stay under the destination: `..` and absolute names
//! are resolved inside it, never above.

use super::ignore::clean;
use crate::image::tar::{EntryKind, NewEntry, TarReader, TarWriter};
use sha2::{Digest as _, Sha256};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("{url}: {why}")]
    Download { url: String, why: String },
    #[error("{url}: the checksum is {got}, not {want}")]
    Checksum {
        url: String,
        want: String,
        got: String,
    },
    #[error("--checksum={0}: expecting sha256:HEX (64 hex digits)")]
    BadChecksum(String),
    #[error("{path}: {why}")]
    Archive { path: PathBuf, why: String },
}

/// `sha256:HEX`, checked for form.
pub fn parse_checksum(s: &str) -> Result<String, AddError> {
    match s.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("sha256:{}", h.to_ascii_lowercase()))
        }
        _ => Err(AddError::BadChecksum(s.to_string())),
    }
}

pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name a URL gives: its path's last component, else `index.html`
/// as docker names it.
pub fn url_file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |p| p.1);
    let path = rest
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split_once('/')
        .map_or("", |p| p.1);
    match path.rsplit('/').next() {
        Some(n) if !n.is_empty() && n != "." && n != ".." => n.to_string(),
        _ => "index.html".to_string(),
    }
}

/// A downloaded file: its content digest and the server's Last-Modified
/// time (docker's mtime for it).
pub struct Fetched {
    pub digest: String,
    pub mtime: u64,
}

/// Downloads `url` into `out`; checks `checksum` when given.
pub fn download(
    url: &str,
    out: &mut std::fs::File,
    checksum: Option<&str>,
) -> Result<Fetched, AddError> {
    let fail = |why: String| AddError::Download {
        url: url.to_string(),
        why,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .user_agent(format!("burrow/{}", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .build()
        .into();
    let resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::time::parse_http_date)
        .unwrap_or(0);
    let mut body = resp.into_body();
    let mut reader = body.as_reader();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| fail(e.to_string()))?;
    }
    out.flush().map_err(|e| fail(e.to_string()))?;
    let digest = format!("sha256:{}", hex::encode(h.finalize()));
    if let Some(want) = checksum {
        if want != digest {
            return Err(AddError::Checksum {
                url: url.to_string(),
                want: want.to_string(),
                got: digest,
            });
        }
    }
    Ok(Fetched { digest, mtime })
}

/// `f` decompressed by its first bytes: bzip2 and xz (which docker's ADD
/// also takes; layers never use them), else what layers may be.
fn decompressed(f: std::fs::File) -> std::io::Result<Box<dyn Read>> {
    use std::io::BufRead;
    let mut buffered = BufReader::with_capacity(256 * 1024, f);
    let head = buffered.fill_buf()?;
    if head.starts_with(b"BZh") {
        return Ok(Box::new(bzip2::bufread::MultiBzDecoder::new(buffered)));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Ok(Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(
            buffered,
        )));
    }
    Ok(crate::image::compress::decompressed(buffered)?.1)
}

/// Whether `path` holds a tar archive, plain or compressed (by content).
pub fn is_archive(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(mut r) = decompressed(f) else {
        return false;
    };
    let mut head = vec![0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return false,
        }
    }
    if got < 512 {
        return false;
    }
    // ustar (POSIX) or GNU magic, and a header checksum that adds up.
    let magic = &head[257..263];
    if magic != b"ustar\0" && magic != b"ustar " {
        return false;
    }
    let stored = std::str::from_utf8(&head[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u64::from_str_radix(s, 8).ok());
    let sum: u64 = head
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u64
            }
        })
        .sum();
    stored == Some(sum)
}

/// Appends the members of archive `from` under `dest` (an image path) to
/// `tar`. `owner` replaces the members' owners when given (`--chown`).
pub fn append_archive<W: Write>(
    tar: &mut TarWriter<W>,
    from: &Path,
    dest: &str,
    owner: Option<(u32, u32)>,
) -> Result<(), AddError> {
    let fail = |why: String| AddError::Archive {
        path: from.to_path_buf(),
        why,
    };
    let f = std::fs::File::open(from).map_err(|e| fail(e.to_string()))?;
    let r = decompressed(f).map_err(|e| fail(e.to_string()))?;
    let mut reader = TarReader::new(BufReader::new(r));
    // A member's name inside `dest`: `..` cannot climb above it.
    let inside = |name: &[u8]| -> String {
        let rel = clean(&format!("/{}", crate::image::tar::normalize(name)));
        clean(&format!("{dest}/{rel}"))
    };
    while let Some(e) = reader.next_entry().map_err(|e| fail(e.to_string()))? {
        let path = inside(&e.path);
        let name = path.trim_start_matches('/');
        if name.is_empty() {
            continue;
        }
        if matches!(e.kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            continue;
        }
        let link;
        let mut n = NewEntry::new(name.as_bytes(), e.kind, e.mode, e.mtime.secs.max(0) as u64);
        (n.uid, n.gid) = match owner {
            Some((u, g)) => (u as u64, g as u64),
            None => (e.uid, e.gid),
        };
        match e.kind {
            EntryKind::Symlink => n.link = &e.link,
            EntryKind::Hardlink => {
                link = inside(&e.link);
                n.link = link.trim_start_matches('/').as_bytes();
            }
            _ => {}
        }
        if e.kind == EntryKind::Regular {
            n.size = e.size;
            tar.append(&n, &mut (&mut reader).take(e.size))
                .map_err(|e| fail(e.to_string()))?;
        } else {
            tar.append(&n, &mut std::io::empty())
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names() {
        assert_eq!(url_file_name("http://h:8/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(url_file_name("https://h/"), "index.html");
        assert_eq!(url_file_name("https://h"), "index.html");
    }

    #[test]
    fn checksums() {
        let h = "A".repeat(64);
        assert_eq!(
            parse_checksum(&format!("sha256:{h}")).unwrap(),
            format!("sha256:{}", "a".repeat(64))
        );
        assert!(parse_checksum("sha256:abc").is_err());
        assert!(parse_checksum(&format!("md5:{h}")).is_err());
    }

    #[test]
    fn archive_members_stay_under_the_destination() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("a.tar");
        let mut w = TarWriter::new(std::fs::File::create(&src).unwrap());
        w.append_file("../../etc/evil", 0o644, 0, 1, &mut &b"x"[..])
            .unwrap();
        w.finish().unwrap();
        assert!(is_archive(&src));
        let mut out = Vec::new();
        let mut t = TarWriter::new(&mut out);
        append_archive(&mut t, &src, "/opt/dest", None).unwrap();
        t.finish().unwrap();
        let mut r = TarReader::new(&out[..]);
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!(e.path, b"opt/dest/etc/evil");
        let plain = d.path().join("p.txt");
        std::fs::write(&plain, vec![b'u'; 2048]).unwrap();
        assert!(!is_archive(&plain));
    }
}
