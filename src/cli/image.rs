//! Image commands: images, import, load, save, rmi, tag, inspect and the
//! `image` family that groups them.

use super::format::{human_size, print_table};
use super::Format;
use crate::container::images::{self, Context, Removed};
use crate::image::archive::SaveFormat;
use crate::{Error, Result};
use clap::Subcommand;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images.
    #[command(visible_alias = "list")]
    Ls(List),
    /// Remove images.
    #[command(visible_alias = "remove")]
    Rm(Remove),
    /// Build an image from a Containerfile (or Dockerfile) and a context directory.
    Build(Box<super::build::Build>),
    /// Show low-level information on images, as JSON.
    Inspect(Inspect),
    /// Remove images without a name (with -a, all images).
    Prune(Prune),
    /// Give an image another name.
    Tag(Tag),
    /// Save images to a docker-archive or an OCI layout.
    Save(Save),
    /// Load images from a docker-archive or an OCI layout.
    Load(Load),
    /// Import a root filesystem tarball as an image.
    Import(Import),
    /// Pull an image from a registry.
    Pull(super::registry::Pull),
    /// Push an image to a registry.
    Push(super::registry::Push),
    /// Exit 0 when an image exists, 1 when it does not.
    Exists(Exists),
    /// Show an image's build steps, newest first.
    History(History),
    /// Show an image's layers as a tree, base first, with the images each
    /// layer tops.
    Tree(Tree),
}

impl ImageCommand {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        let done = match self {
            ImageCommand::Ls(c) => c.exec(ctx),
            ImageCommand::Rm(c) => c.exec(ctx),
            ImageCommand::Build(c) => c.exec(ctx),
            ImageCommand::Inspect(c) => return c.exec(ctx),
            ImageCommand::Prune(c) => c.exec(ctx),
            ImageCommand::Tag(c) => c.exec(ctx),
            ImageCommand::Save(c) => c.exec(ctx),
            ImageCommand::Load(c) => c.exec(ctx),
            ImageCommand::Import(c) => c.exec(ctx),
            ImageCommand::Pull(c) => c.exec(ctx),
            ImageCommand::Push(c) => c.exec(ctx),
            ImageCommand::Exists(c) => return c.exec(ctx),
            ImageCommand::Tree(c) => c.exec(ctx),
            ImageCommand::History(c) => c.exec(ctx),
        };
        done.map(|()| 0)
    }
}

#[derive(clap::Args, Debug)]
pub struct List {
    /// Show only image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show manifest digests.
    #[arg(long)]
    digests: bool,
    /// Show full image ids.
    #[arg(long)]
    no_trunc: bool,
    /// Also show build steps' intermediate images.
    #[arg(short, long)]
    all: bool,
    /// Only images that match: dangling=true|false, label=KEY[=VALUE],
    /// before=IMAGE, since=IMAGE, reference=PATTERN (`busy*:1.*`); repeatable.
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<crate::container::filter::ImageFilter>,
    /// Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
    /// Only this repository (`busybox`, `localhost/app`), and tag if given.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

impl List {
    pub fn exec(mut self, ctx: &Context) -> Result<()> {
        // docker's argument is a reference filter like any other.
        if let Some(r) = self.reference.take() {
            self.filter
                .push(crate::container::filter::ImageFilter::Reference(r));
        }
        let entries = images::list_matching(ctx, self.all, &self.filter)?;
        if self.quiet {
            for e in &entries {
                println!(
                    "{}",
                    if self.no_trunc {
                        e.record.id.to_string()
                    } else {
                        e.record.id.short().to_string()
                    }
                );
            }
            return Ok(());
        }
        let store = ctx.store()?;
        let created = |id| {
            store
                .config(id)
                .ok()
                .and_then(|(c, _)| c.created)
                .unwrap_or_default()
        };
        // Shared and unique sizes and the containers using each image:
        // worked out when a template shows them (docker's list says N/A).
        let usage = match &self.format {
            Format::Template(t)
                if [".SharedSize", ".UniqueSize", ".Containers"]
                    .iter()
                    .any(|f| t.mentions(f)) =>
            {
                Some(images::image_use(ctx)?)
            }
            _ => None,
        };
        let mut items = Vec::new();
        for e in &entries {
            let used = usage.as_ref().and_then(|u| u.get(&e.record.id));
            let id = if self.no_trunc {
                e.record.id.to_string()
            } else {
                e.record.id.short().to_string()
            };
            // One config read per image, not per name it has.
            let created_at = created(&e.record.id);
            let names: Vec<(String, String)> = if e.names.is_empty() {
                vec![("<none>".into(), "<none>".into())]
            } else {
                e.names
                    .iter()
                    .map(|n| match n.rsplit_once(':') {
                        Some((repo, tag)) if !tag.contains('/') => {
                            (repo.to_string(), tag.to_string())
                        }
                        _ => (n.clone(), "<none>".into()),
                    })
                    .collect()
            };
            for (repo, tag) in names {
                items.push(serde_json::json!({
                    "ID": id,
                    "Repository": repo,
                    "Tag": tag,
                    "Digest": e.record.manifest_digest.as_ref()
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "<none>".into()),
                    "CreatedSince": crate::time::ago(&created_at, crate::image::store::now()),
                    "CreatedAt": crate::time::docker_date(&created_at),
                    "Size": human_size(e.record.size),
                    "VirtualSize": human_size(e.record.size),
                    "SharedSize": used.map_or("N/A".into(), |u| human_size(u.shared)),
                    "UniqueSize": used.map_or("N/A".into(), |u| human_size(u.unique)),
                    "Containers": used.map_or("N/A".into(), |u| u.containers.to_string()),
                }));
            }
        }
        match &self.format {
            // docker's `json` is `{{json .}}` over the same fields, a line
            // per repository and tag.
            Format::Json => {
                super::format::print_json_lines(&items);
                return Ok(());
            }
            Format::Template(t) => return t.print(&items, IMAGES_HEADERS),
            Format::Table => {}
        }
        let mut columns = vec!["Repository", "Tag"];
        if self.digests {
            columns.push("Digest");
        }
        columns.extend(["ID", "CreatedSince", "Size"]);
        let mut rows = vec![columns
            .iter()
            .map(|c| super::run::header_of(IMAGES_HEADERS, c))
            .collect::<Vec<_>>()];
        for item in &items {
            rows.push(
                columns
                    .iter()
                    .map(|c| item[c].as_str().unwrap_or_default().to_string())
                    .collect(),
            );
        }
        print_table(&rows);
        Ok(())
    }
}

/// `images`'s template fields, as docker names them, and their titles.
const IMAGES_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
];

#[derive(clap::Args, Debug)]
pub struct Import {
    /// Tarball of a root filesystem (plain, gzip or zstd), or - for stdin.
    file: PathBuf,
    /// Name for the image, NAME[:TAG] (unqualified names go under localhost/).
    name: Option<String>,
    /// A comment recorded in the image's history.
    #[arg(short, long)]
    message: Option<String>,
    /// A Containerfile instruction applied to the image's config: CMD,
    /// ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL,
    /// STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable, in order).
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    change: Vec<String>,
}

impl Import {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let changes = crate::build::exec::parse_changes(&self.change)?;
        let mut config = serde_json::json!({ "config": {} });
        crate::build::exec::apply_changes(&mut config, &changes)?;
        let run_config = serde_json::from_value(config["config"].take())
            .map_err(|e| Error::Usage(format!("--change: {e}")))?;
        let report = images::import(
            ctx,
            &self.file,
            self.name.as_deref(),
            self.message.as_deref(),
            run_config,
        )?;
        images::print_notes(ctx, &report);
        for i in &report.images {
            println!("{}", i.id);
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Load {
    /// docker-archive tar, OCI layout directory, or OCI layout tar (default: standard input).
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

impl Load {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        if self.input.is_none() && std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "load reads an archive from standard input, which is a terminal: use -i FILE or `burrow load < FILE`".into(),
            ));
        }
        let report = images::load(ctx, self.input.as_deref())?;
        if !self.quiet {
            images::print_notes(ctx, &report);
            for i in &report.images {
                if i.names.is_empty() {
                    println!("Loaded image: {}", i.id);
                }
                for n in &i.names {
                    println!("Loaded image: {n}");
                }
            }
        }
        Ok(())
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SaveFormatArg {
    #[default]
    DockerArchive,
    OciArchive,
    OciDir,
}

#[derive(clap::Args, Debug)]
pub struct Save {
    /// Where to write (a file, or a directory for oci-dir); default: standard output, when it is not a terminal.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value_t)]
    format: SaveFormatArg,
    /// Images to save.
    #[arg(required = true)]
    images: Vec<String>,
}

impl Save {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let format = match self.format {
            SaveFormatArg::DockerArchive => SaveFormat::DockerArchive,
            SaveFormatArg::OciArchive => SaveFormat::OciArchive,
            SaveFormatArg::OciDir => SaveFormat::OciDir,
        };
        if self.output.is_none() && std::io::stdout().is_terminal() {
            return Err(Error::Usage(
                "refusing to write an image archive to a terminal: use -o FILE or redirect standard output".into(),
            ));
        }
        images::save(ctx, &self.images, format, self.output.as_deref())
    }
}

#[derive(clap::Args, Debug)]
pub struct Remove {
    /// Remove an image by id even when it has several names.
    #[arg(short, long)]
    force: bool,
    /// Remove every image.
    #[arg(short, long)]
    all: bool,
    images: Vec<String>,
}

impl Remove {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        if self.images.is_empty() && !self.all {
            return Err(Error::Usage(
                "rmi needs at least one image (or --all)".into(),
            ));
        }
        let report = images::remove(ctx, &self.images, self.force, self.all)?;
        for r in report.removed {
            match r {
                Removed::Untagged(n, _) => println!("Untagged: {n}"),
                Removed::Deleted(id) => println!("Deleted: {id}"),
            }
        }
        if report.conflicts.is_empty() {
            Ok(())
        } else {
            Err(Error::Conflict(report.conflicts.join("\nError: ")))
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Tag {
    /// The image to name.
    source: String,
    /// New names, NAME[:TAG].
    #[arg(required = true)]
    targets: Vec<String>,
}

impl Tag {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        images::tag(ctx, &self.source, &self.targets)
    }
}

#[derive(clap::Args, Debug)]
pub struct Inspect {
    /// Output format: json, or a Go template run on each image (`{{.Id}}`, `{{json .Config}}`).
    #[arg(short, long, default_value = "json", value_parser = Format::parse)]
    format: Format,
    #[arg(required = true)]
    images: Vec<String>,
}

impl Inspect {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        super::run::inspect(
            ctx,
            &self.images,
            Some(super::run::InspectType::Image),
            &self.format,
        )
    }
}

#[derive(clap::Args, Debug)]
pub struct Prune {
    /// Remove all images, not only those without a name.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation (burrow never asks; kept for scripts
    /// written for docker).
    #[arg(short, long)]
    force: bool,
    /// Only what matches: until=TIME (RFC 3339, Unix seconds or a duration
    /// such as 24h), label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable).
    #[arg(long, value_name = "FILTER", value_parser = super::values::prune_filter)]
    filter: Vec<crate::container::filter::PruneFilter>,
    /// Also free the build cache, as `burrow builder prune` does: cached
    /// steps, their unnamed images, cache mounts and context indexes.
    #[arg(long)]
    build_cache: bool,
}

impl Prune {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let _ = self.force;
        // The build cache first: the unnamed images only it named are
        // then gone with it, and the rest is what `image prune` removes.
        let pruned = if self.build_cache {
            Some(crate::build::prune::prune(ctx)?)
        } else {
            None
        };
        for id in images::prune(ctx, self.all, &self.filter)? {
            println!("Deleted: {id}");
        }
        if let Some(p) = pruned {
            println!(
                "Total reclaimed space: {}",
                super::format::human_size(p.bytes)
            );
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Exists {
    /// The image, by name or id.
    image: String,
}

impl Exists {
    pub fn exec(self, ctx: &Context) -> Result<i32> {
        Ok(if images::exists(ctx, &self.image)? {
            0
        } else {
            1
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct History {
    /// Show sizes in bytes and the steps untruncated.
    #[arg(long)]
    no_trunc: bool,
    /// Show only the ids.
    #[arg(short, long)]
    quiet: bool,
    /// Sizes as they are, and times as RFC 3339 (default true, as docker).
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    human: bool,
    /// Output format: table, json, or a Go template (`{{.CreatedBy}}`).
    #[arg(long, default_value = "table", value_parser = Format::parse)]
    format: Format,
    /// The image, by name or id.
    image: String,
}

/// `history`'s template fields, as docker names them, and their titles.
const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

impl History {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let mut rows = images::history(ctx, &self.image, crate::image::store::now())?;
        for r in &mut rows {
            let id = r["ID"].as_str().unwrap_or_default().to_string();
            if !self.no_trunc && id.starts_with("sha256:") {
                r["ID"] = id["sha256:".len()..][..12].into();
            }
            // --human=false: the time itself, as docker's.
            if !self.human {
                r["CreatedSince"] = r["CreatedAt"].clone();
            }
            let size = r["Size"].as_u64().unwrap_or(0);
            r["Size"] = if self.human {
                human_size(size)
            } else {
                size.to_string()
            }
            .into();
            let by = r["CreatedBy"].as_str().unwrap_or_default().to_string();
            if !self.no_trunc && by.chars().count() > 45 {
                r["CreatedBy"] = (by.chars().take(44).collect::<String>() + "…").into();
            }
        }
        if self.quiet {
            for r in &rows {
                println!("{}", r["ID"].as_str().unwrap_or_default());
            }
            return Ok(());
        }
        match &self.format {
            Format::Template(t) => t.print(&rows, HISTORY_HEADERS),
            Format::Json => {
                super::format::print_json_lines(&rows);
                Ok(())
            }
            Format::Table => {
                let columns = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"];
                let mut table = vec![columns
                    .iter()
                    .map(|c| super::run::header_of(HISTORY_HEADERS, c))
                    .collect::<Vec<_>>()];
                for r in &rows {
                    table.push(
                        columns
                            .iter()
                            .map(|c| r[c].as_str().unwrap_or_default().to_string())
                            .collect(),
                    );
                }
                print_table(&table);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_docker() {
        for (bytes, shown) in [
            (0, "0B"),
            (2, "2B"),
            (999, "999B"),
            (1_500, "1.5kB"),
            (1_000_000, "1MB"),
            (4_300_000, "4.3MB"),
            (21_540_000, "21.5MB"),
            (123_456_789, "123MB"),
            (9_996_000, "10MB"),
            (999_700, "1e+03kB"),
            (1_234_567_890, "1.23GB"),
        ] {
            assert_eq!(human_size(bytes), shown, "{bytes}");
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Tree {
    /// The image, by name or id.
    image: String,
}

impl Tree {
    pub fn exec(self, ctx: &Context) -> Result<()> {
        let t = images::tree(ctx, &self.image)?;
        println!("Image ID: {}", t.id.short());
        println!("Tags:     [{}]", t.names.join(" "));
        println!("Size:     {}", human_size(t.size));
        println!("Image Layers");
        let n = t.layers.len();
        for (i, l) in t.layers.iter().enumerate() {
            let branch = if i + 1 == n { "└──" } else { "├──" };
            let mut line = format!(
                "{branch} ID: {} Size: {}",
                l.diff_id.short(),
                human_size(l.size)
            );
            if !l.top_of.is_empty() {
                line.push_str(&format!(" Top Layer of: [{}]", l.top_of.join(" ")));
            }
            println!("{line}");
            if let Some(step) = &l.created_by {
                let bar = if i + 1 == n { " " } else { "│" };
                println!("{bar}     {step}");
            }
        }
        Ok(())
    }
}
