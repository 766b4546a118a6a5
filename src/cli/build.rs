//! `burrow build`: flags only; the work is `build::exec::build`.

use crate::build::exec::BuildSpec;
use crate::build::mounts::SecretSpec;
use crate::container::images::Context;
use crate::Result;
use std::path::PathBuf;

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
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// The build context: the directory COPY and ADD read from.
    context: PathBuf,
}

impl Build {
    pub fn exec(self, ctx: &Context) -> Result<()> {
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
            },
        )?;
        println!("{id}");
        Ok(())
    }
}
