//! `burrow build`: flags only; the work is `build::exec::build`.

use crate::build::exec::{BuildNetwork, BuildSpec, ImageFormat, PullPolicy};
use crate::build::mounts::SecretSpec;
use crate::build::named::NamedContext;
use crate::build::progress::ProgressMode;
use crate::container::images::Context;
use crate::Result;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullArg {
    /// Also `true`: docker's `--pull` is a boolean.
    #[value(alias = "true")]
    Always,
    #[value(alias = "false")]
    Missing,
    Never,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkArg {
    User,
    None,
    Host,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Docker,
    Oci,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressArg {
    Auto,
    Plain,
    Tty,
}

#[derive(clap::Args, Debug)]
pub struct Build {
    /// Name the image (NAME[:TAG]); may be given more than once.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    tags: Vec<String>,
    /// The Containerfile (`-` reads it from stdin); default: Containerfile,
    /// else Dockerfile, in the context.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Set a build argument (KEY=VALUE; KEY alone takes your environment's value).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Build only this stage and the stages it needs.
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// Run every step; use no cached result.
    #[arg(long)]
    no_cache: bool,
    /// Add a label to the image (KEY=VALUE).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Write the image id to this file.
    #[arg(long, value_name = "FILE")]
    iidfile: Option<PathBuf>,
    /// A secret for RUN --mount=type=secret (id=ID,src=PATH or id=ID,env=VAR);
    /// it is never written to the image.
    #[arg(long = "secret", value_name = "id=ID,src=PATH|env=VAR")]
    secrets: Vec<SecretSpec>,
    /// When to pull FROM images: always, missing (the default) or never;
    /// `--pull` alone is always.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true,
          default_value = "missing", default_missing_value = "always")]
    pull: PullArg,
    /// Build for this platform (OS/ARCH[/VARIANT]): only this machine's,
    /// as burrow runs no emulator.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = super::values::this_platform)]
    platform: Option<String>,
    /// Accepted for scripts written for docker: burrow keeps no container
    /// of a step, whether it succeeded or failed.
    #[arg(long)]
    rm: bool,
    /// Accepted for scripts written for docker (see --rm).
    #[arg(long)]
    force_rm: bool,
    /// Accepted for scripts written for docker's buildx: the image always
    /// goes to burrow's image store.
    #[arg(long)]
    load: bool,
    /// The network of RUN steps: user (the default), none or host.
    #[arg(long, value_enum, default_value = "user")]
    network: NetworkArg,
    /// The image's config format: docker (keeps HEALTHCHECK, SHELL and
    /// ONBUILD) or oci.
    #[arg(long, value_enum, default_value = "docker")]
    format: FormatArg,
    /// Merge the layers the build makes into one (the base image's stay).
    #[arg(long)]
    squash: bool,
    /// An /etc/hosts entry of RUN steps: NAME:IP (host-gateway names the host).
    #[arg(long, value_name = "NAME:IP", value_parser = super::values::add_host)]
    add_host: Vec<(String, std::net::IpAddr)>,
    /// Accepted for scripts written for docker: burrow's own local build
    /// cache is always used (a registry or a directory given here is not
    /// read; --no-cache turns the cache off).
    #[arg(long, value_name = "SOURCE")]
    cache_from: Vec<String>,
    /// A named context: what FROM NAME, COPY --from=NAME and RUN
    /// --mount=from=NAME read instead of a stage or an image of that name:
    /// a directory (after its own .dockerignore) or docker-image://REF.
    #[arg(long = "build-context", value_name = "NAME=DIR|docker-image://REF")]
    build_contexts: Vec<NamedContext>,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// How steps are shown: tty (the running steps' last output lines
    /// redrawn in place), plain (one line per step, then its output) or
    /// auto (tty on a terminal).
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressArg,
    /// The build context: the directory COPY and ADD read from; `-` reads a
    /// tar of it (or a Containerfile alone) from stdin.
    context: PathBuf,
}

impl Build {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        // --platform was checked to be this machine's by its parser.
        let _ = (
            self.rm,
            self.force_rm,
            self.load,
            self.platform,
            self.cache_from,
        );
        let id = crate::build::exec::build(
            ctx,
            &BuildSpec {
                context: self.context,
                file: self.file,
                tags: self.tags,
                build_args: self.build_args,
                target: self.target,
                no_cache: self.no_cache,
                labels: self.labels,
                iidfile: self.iidfile,
                quiet: self.quiet,
                secrets: self.secrets,
                squash: self.squash,
                add_host: self.add_host,
                contexts: self.build_contexts,
                pull: match self.pull {
                    PullArg::Always => PullPolicy::Always,
                    PullArg::Missing => PullPolicy::Missing,
                    PullArg::Never => PullPolicy::Never,
                },
                network: match self.network {
                    NetworkArg::User => BuildNetwork::User,
                    NetworkArg::None => BuildNetwork::None,
                    NetworkArg::Host => BuildNetwork::Host,
                },
                progress: match self.progress {
                    ProgressArg::Auto => ProgressMode::Auto,
                    ProgressArg::Plain => ProgressMode::Plain,
                    ProgressArg::Tty => ProgressMode::Tty,
                },
                format: match self.format {
                    FormatArg::Docker => ImageFormat::Docker,
                    FormatArg::Oci => ImageFormat::Oci,
                },
            },
        )?;
        println!("{id}");
        Ok(())
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum BuilderCommand {
    /// Free the build cache: cached steps, their unnamed images, cache
    /// mounts and context indexes (images with a name are kept).
    Prune(BuilderPrune),
}

impl BuilderCommand {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        match self {
            BuilderCommand::Prune(c) => c.exec(ctx),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct BuilderPrune {
    /// Remove all of the build cache (burrow always does; kept for scripts
    /// written for docker).
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation (burrow never asks).
    #[arg(short, long)]
    force: bool,
}

impl BuilderPrune {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let _ = (self.all, self.force);
        let pruned = crate::build::prune::prune(ctx)?;
        println!(
            "Total reclaimed space: {}",
            super::format::human_size(pruned.bytes)
        );
        Ok(())
    }
}
