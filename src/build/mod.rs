//! `burrow build`: Containerfile parsing, the stage graph, the build cache
//! and the context index. Runs RUN steps through `container`; never touches
//! the sandbox directly, and never copies the context to look up its cache.

pub mod add;
pub mod context;
pub mod exec;
pub mod graph;
pub mod ignore;
pub mod mounts;
pub mod named;
pub mod parse;
pub mod progress;
pub mod prune;
pub mod rootfs;
pub mod squash;
pub mod stdin;
pub mod words;
