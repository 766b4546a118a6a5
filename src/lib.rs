//! burrow: rootless, daemonless containers.
//!
//! The crate is laid out as `../shared/DESIGN.md` maps it: `cli` parses,
//! `container` orchestrates, `image`, `sandbox`, `cgroup` and `net` do the
//! work, and `config` knows where everything lives.

// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod build;
pub mod cgroup;
pub mod cli;
pub mod compose;
pub mod config;
pub mod container;
pub mod doctor;
pub mod error;
pub mod forked;
pub mod glob;
pub mod image;
pub mod lockfile;
pub mod net;
pub mod notify;
pub mod owners;
pub mod sandbox;
pub mod setns;
pub mod time;

pub use error::{Error, Result};
