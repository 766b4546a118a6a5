//! Command-line definitions (clap): one file per command family, each an
//! `exec` that turns parsed arguments into one call of the library. No
//! logic lives here beyond formatting output.

pub mod image;
pub mod registry;
pub mod run;
pub mod system;

use crate::container::images::Context;
use crate::Result;
use clap::{Parser, Subcommand};

/// Rootless, daemonless containers.
#[derive(Parser, Debug)]
#[command(name = "burrow", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a new container.
    Run(Box<run::Run>),
    /// List containers.
    Ps(run::Ps),
    /// Remove containers.
    Rm(run::Rm),
    /// List images.
    Images(image::List),
    /// Import a root filesystem tarball (plain, gzip or zstd) as an image.
    Import(image::Import),
    /// Load images from a docker-archive or an OCI layout (directory or tar).
    Load(image::Load),
    /// Save images to a docker-archive or an OCI layout.
    Save(image::Save),
    /// Remove images.
    Rmi(image::Remove),
    /// Give an image another name.
    Tag(image::Tag),
    /// Show low-level information on containers or images, as JSON.
    Inspect(run::Inspect),
    /// Pull an image from a registry.
    Pull(registry::Pull),
    /// Push an image to a registry.
    Push(registry::Push),
    /// Log in to a registry.
    Login(registry::Login),
    /// Log out of a registry.
    Logout(registry::Logout),
    /// Manage images.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Manage burrow's storage.
    #[command(subcommand)]
    System(system::SystemCommand),
}

impl Cli {
    /// Runs the command; the exit status is the container's for `run`.
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let done = match self.command {
            Command::Run(c) => return c.exec(ctx),
            Command::Ps(c) => c.exec(ctx),
            Command::Rm(c) => c.exec(ctx),
            Command::Images(c) => c.exec(ctx),
            Command::Import(c) => c.exec(ctx),
            Command::Load(c) => c.exec(ctx),
            Command::Save(c) => c.exec(ctx),
            Command::Rmi(c) => c.exec(ctx),
            Command::Tag(c) => c.exec(ctx),
            Command::Inspect(c) => c.exec(ctx),
            Command::Pull(c) => c.exec(ctx),
            Command::Push(c) => c.exec(ctx),
            Command::Login(c) => c.exec(ctx),
            Command::Logout(c) => c.exec(ctx),
            Command::Image(c) => c.exec(ctx),
            Command::System(c) => c.exec(ctx),
        };
        done.map(|()| 0)
    }
}

/// `--format`: a table for people, JSON for programs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}
