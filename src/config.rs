//! `config.toml`, its defaults, and where burrow keeps things (XDG).
//! (Skeleton: being written.)

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Other(String),
}

/// Every key of `config.toml`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub storage: StorageConfig,
    pub registries: RegistriesConfig,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where images, layers and containers live (default
    /// `$XDG_DATA_HOME/burrow/storage`).
    pub root: Option<PathBuf>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistriesConfig {
    /// Registries tried, in order, for an unqualified image name.
    pub search: Vec<String>,
}

impl Default for RegistriesConfig {
    fn default() -> Self {
        RegistriesConfig {
            search: vec!["docker.io".into()],
        }
    }
}

/// Resolved locations.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    /// The storage root: images, layers, containers.
    pub storage: PathBuf,
    /// Locks, pids, sockets; private to the user.
    pub runtime: PathBuf,
    /// Download scratch.
    pub cache: PathBuf,
}

/// Loads `config.toml` (if any) and resolves the paths.
pub fn load() -> Result<(Config, Paths), ConfigError> {
    todo!()
}

/// Refuses a storage root on a network filesystem. (Skeleton.)
pub fn check_storage_fs(_path: &std::path::Path, _config: &Config) -> Result<(), ConfigError> {
    Ok(())
}
