//! `burrow kube`: Kubernetes YAML out of containers and pods, and pods out
//! of Kubernetes YAML.

use crate::container::images::Context;
use crate::container::kube;
use crate::Result;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum KubeCommand {
    /// Write a container or pod as a Kubernetes Pod (and a Service for its published ports).
    Generate(Generate),
    /// Run the Pods (and one-replica Deployments) of a Kubernetes YAML file as burrow pods.
    Play(Play),
    /// Stop and remove the pods a Kubernetes YAML file describes.
    Down(Down),
}

impl KubeCommand {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        match self {
            KubeCommand::Generate(c) => {
                let yaml = kube::generate(ctx, &c.target)?;
                match c.filename {
                    Some(path) => std::fs::write(&path, yaml).map_err(|e| {
                        crate::Error::Usage(format!("writing {}: {e}", path.display()))
                    })?,
                    None => print!("{yaml}"),
                }
                Ok(0)
            }
            KubeCommand::Play(c) => {
                for id in kube::play(ctx, &c.file)? {
                    println!("{id}");
                }
                Ok(0)
            }
            KubeCommand::Down(c) => {
                for id in kube::down(ctx, &c.file)? {
                    println!("{id}");
                }
                Ok(0)
            }
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Generate {
    /// Write the YAML to this file instead of standard output.
    #[arg(short, long)]
    filename: Option<PathBuf>,
    /// The container or pod, by name or id.
    target: String,
}

#[derive(clap::Args, Debug)]
pub struct Play {
    /// The Kubernetes YAML file.
    file: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct Down {
    /// The Kubernetes YAML file it was played from.
    file: PathBuf,
}
