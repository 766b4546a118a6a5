//! `--build-context NAME=VALUE`: the named contexts of a build, parsed at
//! the edge into a name and a source, and the one spelling under which
//! FROM and `--from=` names are matched against them. Pure string work:
//! a directory is checked, and read, by the build; nothing here is ever
//! fetched from the network.

use crate::image::Reference;
use std::path::PathBuf;
use std::str::FromStr;

/// A `--build-context` value that cannot be used: the flag and the value
/// as given, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--build-context {spec}: {why}")]
pub struct NamedContextError {
    pub spec: String,
    pub why: String,
}

/// What a named context holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// A local directory, as given (relative to the current directory):
    /// read like the main context, after its own ignore file.
    Dir(PathBuf),
    /// `docker-image://REF`: an image, found or pulled as FROM's are.
    Image(String),
    /// `docker-image://scratch`: nothing at all.
    Scratch,
}

/// One `--build-context NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedContext {
    /// The name as `lookup_name` spells it.
    pub name: String,
    pub source: ContextSource,
    /// `NAME=VALUE` as given, for messages.
    pub spec: String,
}

/// The spelling a name is matched under, as docker's: the familiar
/// reference without `:latest` (`docker.io/library/alpine:latest` and
/// `alpine` are both `alpine`). `scratch` and `context` are never
/// replaced by a named context; a name that is no reference matches none.
pub fn lookup_name(name: &str) -> Option<String> {
    if name.eq_ignore_ascii_case("scratch") || name.eq_ignore_ascii_case("context") {
        return None;
    }
    let familiar = Reference::parse(name).ok()?.familiar();
    Some(match familiar.strip_suffix(":latest") {
        Some(short) => short.to_string(),
        None => familiar,
    })
}

/// Whether `value` is a URL docker would fetch (a git repository or a
/// tarball): burrow has no network fetch for contexts.
fn is_url(value: &str) -> bool {
    [
        "http://",
        "https://",
        "git://",
        "git@",
        "ssh://",
        "github.com/",
    ]
    .iter()
    .any(|p| value.starts_with(p))
}

impl FromStr for NamedContext {
    type Err = NamedContextError;

    fn from_str(spec: &str) -> Result<NamedContext, NamedContextError> {
        let err = |why: String| NamedContextError {
            spec: spec.to_string(),
            why,
        };
        let Some((name, value)) = spec.split_once('=') else {
            return Err(err("expecting NAME=VALUE".into()));
        };
        if name.is_empty() {
            return Err(err("the name is empty".into()));
        }
        if name.eq_ignore_ascii_case("scratch") || name.eq_ignore_ascii_case("context") {
            return Err(err(format!(
                "{name:?} is reserved: FROM {name} always means docker's {name}"
            )));
        }
        let name = lookup_name(name).ok_or_else(|| {
            err(format!(
                "{name:?} is not a valid context name (lowercase letters, digits, \
                 '.', '_', '-' and '/', as an image name)"
            ))
        })?;
        let source = if let Some(image) = value.strip_prefix("docker-image://") {
            if image == "scratch" {
                ContextSource::Scratch
            } else {
                Reference::parse(image).map_err(|e| err(e.to_string()))?;
                ContextSource::Image(image.to_string())
            }
        } else if value.starts_with("oci-layout://") {
            return Err(err(
                "an OCI layout is not read by burrow build; `burrow load` a tar of \
                 it and give docker-image://NAME"
                    .into(),
            ));
        } else if value.starts_with("target:") {
            return Err(err("target: names a bake target; burrow has no bake".into()));
        } else if is_url(value) {
            return Err(err(
                "burrow build fetches no context from the network (git or https); \
                 clone or download it and give the directory"
                    .into(),
            ));
        } else if let Some((scheme, _)) = value.split_once("://") {
            return Err(err(format!(
                "unknown context type {scheme}://; give a directory or docker-image://REF"
            )));
        } else if value.is_empty() {
            return Err(err(
                "the value is empty; give a directory or docker-image://REF".into(),
            ));
        } else {
            ContextSource::Dir(PathBuf::from(value))
        };
        Ok(NamedContext {
            name,
            source,
            spec: spec.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> Result<(String, ContextSource), String> {
        s.parse::<NamedContext>()
            .map(|c| (c.name, c.source))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn values_become_directories_images_or_scratch() {
        assert_eq!(
            parsed("docs=./docs"),
            Ok(("docs".into(), ContextSource::Dir("./docs".into())))
        );
        assert_eq!(
            parsed("alpine=docker-image://alpine:3.20"),
            Ok(("alpine".into(), ContextSource::Image("alpine:3.20".into())))
        );
        assert_eq!(
            parsed("docker.io/library/base:latest=docker-image://scratch"),
            Ok(("base".into(), ContextSource::Scratch))
        );
        assert_eq!(
            parsed("quay.io/x/y:1=/d"),
            Ok(("quay.io/x/y:1".into(), ContextSource::Dir("/d".into())))
        );
    }

    #[test]
    fn urls_and_bad_values_are_refused_naming_the_flag_and_value() {
        for (spec, why) in [
            (
                "src=https://example.com/r.git",
                "fetches no context from the network",
            ),
            (
                "src=git@github.com:o/r.git",
                "fetches no context from the network",
            ),
            ("src=github.com/o/r", "fetches no context from the network"),
            ("img=oci-layout:///l@sha256:00", "OCI layout"),
            ("t=target:other", "bake"),
            ("x=ftp://h/x", "unknown context type ftp://"),
            ("x=", "the value is empty"),
            ("novalue", "expecting NAME=VALUE"),
            ("=./d", "the name is empty"),
            ("Upper=./d", "not a valid context name"),
            ("scratch=./d", "reserved"),
            ("CONTEXT=./d", "reserved"),
            ("a=docker-image://bad ref", "invalid reference"),
        ] {
            let e = parsed(spec).unwrap_err();
            assert!(e.starts_with(&format!("--build-context {spec}: ")), "{e}");
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn names_match_in_dockers_familiar_spelling() {
        assert_eq!(lookup_name("alpine").as_deref(), Some("alpine"));
        assert_eq!(lookup_name("alpine:latest").as_deref(), Some("alpine"));
        assert_eq!(
            lookup_name("docker.io/library/alpine:latest").as_deref(),
            Some("alpine")
        );
        assert_eq!(lookup_name("alpine:3").as_deref(), Some("alpine:3"));
        assert_eq!(lookup_name("user/app").as_deref(), Some("user/app"));
        assert_eq!(lookup_name("Scratch"), None);
        assert_eq!(lookup_name("context"), None);
        assert_eq!(lookup_name("Not A Name"), None);
    }
}
