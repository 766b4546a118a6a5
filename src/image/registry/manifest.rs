//! Registry manifests as the distribution API serves them: Docker schema 2
//! and OCI image manifests, manifest lists and OCI indexes, and choosing
//! the one for a platform. Pure data: never touches the network.

use crate::image::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1";

/// Every manifest type burrow reads, for the Accept header.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor: what a manifest says of a blob or a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    /// Where a non-distributable layer can be fetched from instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// Docker's foreign layers and OCI's non-distributable ones: registries
    /// may not hold them, the descriptor's URLs do.
    pub fn is_foreign(&self) -> bool {
        self.media_type.contains(".foreign.") || self.media_type.contains(".nondistributable.")
    }
}

/// `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A `--platform` that is not `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid platform {0:?}: expected os/arch or os/arch/variant, as in linux/arm64 or linux/arm/v7"
)]
pub struct BadPlatform(pub String);

/// Why bytes from a registry are not a manifest burrow can read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a manifest: {0}")]
    NotJson(serde_json::Error),
    #[error(
        "it is a Docker schema 1 manifest (from docker before 1.10), which burrow does not \
         read; push the image again with a current tool"
    )]
    Schema1,
    #[error("the manifest has no config")]
    NoConfig,
}

impl Platform {
    /// This machine's platform, as OCI names it.
    pub fn host() -> Platform {
        let (os, arch) = crate::image::archive::host_platform();
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: None,
        }
    }

    /// Whether this names this machine's OS and architecture (any
    /// variant): what burrow can run, as it runs no emulator.
    pub fn runs_here(&self) -> bool {
        let host = Platform::host();
        (self.os.as_str(), self.architecture.as_str())
            == (host.os.as_str(), host.architecture.as_str())
    }

    /// Parses `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`).
    pub fn parse(s: &str) -> Result<Platform, BadPlatform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(BadPlatform(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: normalize_arch(&parts[1].to_ascii_lowercase()).into(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// Whether `candidate` (from an index) runs here as `self` asks. A
    /// wanted variant must match (arm64's default `v8` also matches none);
    /// no wanted variant accepts any.
    fn accepts(&self, candidate: &Platform) -> bool {
        if candidate.os != self.os || normalize_arch(&candidate.architecture) != self.architecture {
            return false;
        }
        match (&self.variant, &candidate.variant) {
            (None, _) => true,
            (Some(w), Some(c)) => w == c,
            (Some(w), None) => self.architecture == "arm64" && w == "v8",
        }
    }
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" | "armel" => "arm",
        other => other,
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A manifest or an index: the fields of both, since some registries omit
/// `mediaType` and the shape then tells which it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed manifest.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image {
        media_type: String,
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    Index {
        manifests: Vec<Descriptor>,
    },
}

impl Manifest {
    /// Parses manifest bytes; `content_type` is the registry's header.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(ManifestError::NotJson)?;
        let media_type = raw
            .media_type
            .clone()
            .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_string()))
            .unwrap_or_default();
        if raw.schema_version == Some(1) || media_type.starts_with(DOCKER_SCHEMA1) {
            return Err(ManifestError::Schema1);
        }
        let is_index = media_type == OCI_INDEX
            || media_type == DOCKER_LIST
            || (raw.config.is_none() && raw.manifests.is_some());
        if is_index {
            return Ok(Manifest::Index {
                manifests: raw.manifests.unwrap_or_default(),
            });
        }
        let config = raw.config.ok_or(ManifestError::NoConfig)?;
        Ok(Manifest::Image {
            media_type: if media_type.is_empty() {
                OCI_MANIFEST.into()
            } else {
                media_type
            },
            config,
            layers: raw.layers.unwrap_or_default(),
        })
    }
}

/// The platforms an index offers, for an error message; attestation
/// entries (`unknown/unknown`) are not images and are left out.
pub fn platforms(manifests: &[Descriptor]) -> Vec<String> {
    let mut out: Vec<String> = manifests
        .iter()
        .filter_map(|m| m.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(Platform::to_string)
        .collect();
    out.dedup();
    out
}

/// The entry of an index for `wanted`: an exact variant match first, then
/// one without a variant, then any variant of the architecture.
pub fn choose<'a>(manifests: &'a [Descriptor], wanted: &Platform) -> Option<&'a Descriptor> {
    let fits: Vec<&Descriptor> = manifests
        .iter()
        .filter(|m| m.platform.as_ref().is_some_and(|p| wanted.accepts(p)))
        .collect();
    let variant = |m: &&Descriptor| m.platform.as_ref().and_then(|p| p.variant.clone());
    fits.iter()
        .find(|m| variant(m).is_some() && variant(m) == wanted.variant)
        .or_else(|| fits.iter().find(|m| variant(m).is_none()))
        .or_else(|| {
            // A 64-bit ARM host without a wanted variant prefers v8.
            fits.iter()
                .find(|m| variant(m).as_deref() == Some("v8"))
                .or(fits.first())
        })
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(platform: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::of_bytes(platform.as_bytes()),
            size: 1,
            urls: vec![],
            platform: Some(Platform::parse(platform).unwrap()),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn platform_parse_normalizes_and_rejects_junk() {
        let p = Platform::parse("linux/x86_64").unwrap();
        assert_eq!(p.to_string(), "linux/amd64");
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().variant.as_deref(),
            Some("v7")
        );
        for bad in ["linux", "linux/", "a/b/c/d", "linux/amd 64"] {
            assert_eq!(Platform::parse(bad), Err(BadPlatform(bad.into())), "{bad}");
        }
    }

    #[test]
    fn choose_prefers_exact_variant_and_skips_other_arches() {
        let list = vec![
            desc("linux/arm/v6"),
            desc("linux/arm/v7"),
            desc("linux/amd64"),
        ];
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(choose(&list, &v7), Some(&list[1]));
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(choose(&list, &amd), Some(&list[2]));
        let s390 = Platform::parse("linux/s390x").unwrap();
        assert_eq!(choose(&list, &s390), None);
        let arm64 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(choose(&[desc("linux/arm64")], &arm64).is_some());
    }

    #[test]
    fn platforms_lists_images_not_attestations() {
        let mut att = desc("linux/amd64");
        att.platform = Some(Platform {
            os: "unknown".into(),
            architecture: "unknown".into(),
            variant: None,
        });
        let list = vec![desc("linux/amd64"), desc("linux/arm64/v8"), att];
        assert_eq!(platforms(&list), ["linux/amd64", "linux/arm64/v8"]);
    }

    #[test]
    fn parse_tells_index_from_manifest_and_refuses_schema1() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Manifest::parse(index, None),
            Ok(Manifest::Index { .. })
        ));
        let d = Digest::of_bytes(b"c");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"x","digest":"{d}","size":1}},"layers":[]}}"#
        );
        match Manifest::parse(m.as_bytes(), None).unwrap() {
            Manifest::Image {
                media_type, config, ..
            } => {
                assert_eq!(media_type, DOCKER_MANIFEST);
                assert_eq!(config.digest, d);
            }
            other => panic!("{other:?}"),
        }
        let s1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let e = Manifest::parse(s1, None).unwrap_err();
        assert!(matches!(e, ManifestError::Schema1), "{e}");
        assert!(e.to_string().contains("schema 1"), "{e}");
    }
}
