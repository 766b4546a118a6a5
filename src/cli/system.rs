//! `burrow system ...`: storage-wide commands.

use crate::container::images::{self, Context};
use crate::{Error, Result};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Remove all images, layers and containers of this user.
    Reset(Reset),
}

impl SystemCommand {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        match self {
            SystemCommand::Reset(c) => c.exec(ctx),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Reset {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

impl Reset {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        if !self.force {
            return Err(Error::Usage(format!(
                "this removes everything under {}; run `burrow system reset --force` to confirm",
                ctx.paths.storage.display()
            )));
        }
        crate::container::lifecycle::stop_all(ctx)?;
        crate::sandbox::holder::stop(&ctx.paths.runtime.join("userns"));
        images::reset(ctx)
    }
}
