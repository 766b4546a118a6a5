//! The stage graph of a parsed Containerfile: global ARGs, stages by name
//! and index, what each stage needs (its FROM, `COPY --from`, `RUN
//! --mount=from=`), the stages a `--target` needs, and the waves of
//! stages that do not depend on each other; which names `--build-context`
//! replaces, as docker's order has it. Pure, like `sandbox::mount_ops`.

use super::named::lookup_name;
use super::parse::{Containerfile, Instruction, Kind, ParseError};
use super::words::{expand, Vars};
use std::collections::{BTreeMap, BTreeSet};

/// Args docker knows without an ARG line; used by RUN, never recorded.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An image reference, args substituted.
    Image(String),
    /// An earlier stage.
    Stage(usize),
    /// A `--build-context` of this name (as `lookup_name` spells it).
    Context(String),
}

/// A `--target` or `--from=` that names no usable stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("target stage {0:?} could not be found")]
    NoTarget(String),
    #[error("--from is empty")]
    EmptyFrom,
    #[error("--from={0} refers to the current stage")]
    FromCurrent(String),
    #[error("invalid from flag value {0}: refers to current or future build stage")]
    FromLater(String),
}

/// Another stage or an image a stage reads files from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Stage(usize),
    Image(String),
    /// A `--build-context` of this name.
    Context(String),
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    /// The FROM line.
    pub from: Instruction,
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
    /// Stages and images its COPY --from and RUN --mount=from= read.
    pub reads: BTreeSet<Source>,
    /// Its name is a `--build-context`'s: the stage is that context, and
    /// its instructions are never run (as docker does).
    pub replaced: bool,
}

impl Stage {
    /// Stages this one cannot start before.
    pub fn needs(&self) -> BTreeSet<usize> {
        let mut out: BTreeSet<usize> = self
            .reads
            .iter()
            .filter_map(|s| match s {
                Source::Stage(i) => Some(*i),
                Source::Image(_) | Source::Context(_) => None,
            })
            .collect();
        if let Base::Stage(i) = self.base {
            out.insert(i);
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub file: String,
    pub escape: char,
    /// ARGs before the first FROM, with defaults as written.
    pub global_args: Vec<(String, Option<String>)>,
    /// Their values (build args over defaults), for FROM lines and `ARG
    /// NAME` re-declarations in stages.
    pub global_vars: Vars,
    pub stages: Vec<Stage>,
    /// The names of the `--build-context`s given (as `lookup_name` spells
    /// them).
    pub contexts: BTreeSet<String>,
}

/// Docker's automatic platform args, global without an ARG line.
pub fn platform_args() -> Vars {
    let (os, arch) = crate::image::archive::host_platform();
    let mut v = Vars::new();
    for prefix in ["TARGET", "BUILD"] {
        v.insert(format!("{prefix}PLATFORM"), format!("{os}/{arch}"));
        v.insert(format!("{prefix}OS"), os.to_string());
        v.insert(format!("{prefix}ARCH"), arch.to_string());
        v.insert(format!("{prefix}VARIANT"), String::new());
    }
    v
}

fn err(file: &str, i: &Instruction, message: String) -> ParseError {
    ParseError {
        file: file.to_string(),
        line: i.line,
        instruction: i.keyword.clone(),
        message,
    }
}

impl Graph {
    /// Splits `cf` into stages; `build_args` are the `--build-arg` values,
    /// `contexts` the names of the `--build-context`s.
    pub fn new(
        file: &str,
        cf: &Containerfile,
        build_args: &BTreeMap<String, String>,
        contexts: &BTreeSet<String>,
    ) -> Result<Graph, ParseError> {
        // The named context a name means, if any.
        let context = |name: &str| lookup_name(name).filter(|n| contexts.contains(n));
        let mut global_args = Vec::new();
        let mut global_vars = platform_args();
        let mut stages: Vec<Stage> = Vec::new();
        for ins in &cf.instructions {
            match &ins.kind {
                Kind::From {
                    image,
                    name,
                    platform,
                } => {
                    let image = expand(image, cf.escape, &global_vars)
                        .map_err(|e| err(file, ins, e.to_string()))?;
                    if image.is_empty() {
                        return Err(err(
                            file,
                            ins,
                            format!("base name ({}) should not be blank", ins.args),
                        ));
                    }
                    let lower = image.to_ascii_lowercase();
                    // docker's order: a stage whose own name is a named
                    // context is that context; else an earlier stage, a
                    // named context, an image.
                    let replaced_by = name.as_deref().and_then(&context);
                    let base = if let Some(c) = &replaced_by {
                        Base::Context(c.clone())
                    } else if lower == "scratch" {
                        Base::Scratch
                    } else if let Some(s) = stages
                        .iter()
                        .find(|s| s.name.as_deref() == Some(lower.as_str()))
                    {
                        match &s.base {
                            Base::Context(c) if s.replaced => Base::Context(c.clone()),
                            _ => Base::Stage(s.index),
                        }
                    } else if let Some(c) = context(&image) {
                        Base::Context(c)
                    } else {
                        Base::Image(image)
                    };
                    if let Some(n) = name {
                        if stages.iter().any(|s| s.name.as_deref() == Some(n)) {
                            return Err(err(file, ins, format!("duplicate stage name {n:?}")));
                        }
                    }
                    let platform = platform
                        .as_deref()
                        .map(|p| expand(p, cf.escape, &global_vars))
                        .transpose()
                        .map_err(|e| err(file, ins, e.to_string()))?;
                    stages.push(Stage {
                        index: stages.len(),
                        name: name.clone(),
                        base,
                        from: ins.clone(),
                        platform,
                        instructions: Vec::new(),
                        reads: BTreeSet::new(),
                        replaced: replaced_by.is_some(),
                    });
                }
                Kind::Arg(args) if stages.is_empty() => {
                    for (k, v) in args {
                        global_args.push((k.clone(), v.clone()));
                        let value = match (build_args.get(k), v) {
                            (Some(b), _) => Some(b.clone()),
                            (None, Some(d)) => Some(
                                expand(d, cf.escape, &global_vars)
                                    .map_err(|e| err(file, ins, e.to_string()))?,
                            ),
                            (None, None) => None,
                        };
                        if let Some(value) = value {
                            global_vars.insert(k.clone(), value);
                        }
                    }
                }
                _ if stages.is_empty() => return Err(err(
                    file,
                    ins,
                    "no build stage in current context: only ARG may come before the first FROM"
                        .into(),
                )),
                _ => {
                    if let Some(s) = stages.last_mut().filter(|s| !s.replaced) {
                        s.instructions.push(ins.clone());
                    }
                }
            }
        }
        if stages.is_empty() {
            return Err(ParseError {
                file: file.to_string(),
                line: cf.instructions.last().map_or(1, |i| i.line),
                instruction: String::new(),
                message: "the file has no FROM: no build stage".into(),
            });
        }
        let mut g = Graph {
            file: file.to_string(),
            escape: cf.escape,
            global_args,
            global_vars,
            stages,
            contexts: contexts.clone(),
        };
        g.find_reads(build_args)?;
        Ok(g)
    }

    /// Fills each stage's `reads`, expanding `--from` with the stage's
    /// args as they stand at that line.
    fn find_reads(&mut self, build_args: &BTreeMap<String, String>) -> Result<(), ParseError> {
        let names = self.names();
        for s in &mut self.stages {
            let mut vars = Vars::new();
            for ins in &s.instructions {
                let mut froms: Vec<&str> = Vec::new();
                match &ins.kind {
                    Kind::Arg(args) => {
                        for (k, v) in args {
                            let value = match (build_args.get(k), v) {
                                (Some(b), _) => Some(b.clone()),
                                (None, Some(d)) => expand(d, self.escape, &vars).ok(),
                                (None, None) => self.global_vars.get(k).cloned(),
                            };
                            vars.insert(k.clone(), value.unwrap_or_default());
                        }
                    }
                    Kind::Env(pairs) => {
                        let before = vars.clone();
                        for (k, v) in pairs {
                            if let Ok(v) = expand(v, self.escape, &before) {
                                vars.insert(k.clone(), v);
                            }
                        }
                    }
                    Kind::Copy(c) => froms.extend(c.from.as_deref()),
                    Kind::Run { flags, .. } => {
                        froms.extend(flags.mounts.iter().filter_map(|m| m.from.as_deref()))
                    }
                    _ => {}
                }
                for f in froms {
                    let f = expand(f, self.escape, &vars)
                        .map_err(|e| err(&self.file, ins, e.to_string()))?;
                    let src = resolve_from(&names, &self.contexts, s.index, &f)
                        .map_err(|e| err(&self.file, ins, e.to_string()))?;
                    s.reads.insert(src);
                }
            }
        }
        Ok(())
    }

    /// The stage `--target` names (by name or index); the last without.
    pub fn target(&self, target: Option<&str>) -> Result<usize, StageError> {
        match target {
            None => Ok(self.stages.len() - 1),
            Some(t) => {
                let lower = t.to_ascii_lowercase();
                self.stages
                    .iter()
                    .find(|s| s.name.as_deref() == Some(lower.as_str()))
                    .map(|s| s.index)
                    .ok_or_else(|| StageError::NoTarget(t.to_string()))
            }
        }
    }

    /// What `--from=from` names in stage `current` (already substituted).
    pub fn resolve_from(&self, current: usize, from: &str) -> Result<Source, StageError> {
        resolve_from(&self.names(), &self.contexts, current, from)
    }

    /// Each stage's name, and the context that replaces it.
    fn names(&self) -> Vec<StageName> {
        self.stages
            .iter()
            .map(|s| StageName {
                name: s.name.clone(),
                context: match &s.base {
                    Base::Context(c) if s.replaced => Some(c.clone()),
                    _ => None,
                },
            })
            .collect()
    }

    /// The stages `target` needs, itself included, in index order.
    pub fn needed(&self, target: usize) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if seen.insert(i) {
                todo.extend(self.stages[i].needs());
            }
        }
        seen.into_iter().collect()
    }

    /// `stages` (a `needed` set) in waves: each wave's stages depend only
    /// on earlier waves, so the stages of one wave may run at once.
    pub fn waves(&self, stages: &[usize]) -> Vec<Vec<usize>> {
        let mut done: BTreeSet<usize> = BTreeSet::new();
        let mut left: Vec<usize> = stages.to_vec();
        let mut out = Vec::new();
        while !left.is_empty() {
            let (ready, rest): (Vec<usize>, Vec<usize>) = left
                .iter()
                .partition(|&&i| self.stages[i].needs().iter().all(|d| done.contains(d)));
            if ready.is_empty() {
                // Cannot happen: a stage only needs earlier ones.
                out.push(rest);
                break;
            }
            done.extend(&ready);
            out.push(ready);
            left = rest;
        }
        out
    }
}

/// A stage's name, and the named context that replaces the stage.
struct StageName {
    name: Option<String>,
    context: Option<String>,
}

/// `--from=X` in stage `current`: an earlier stage by name or index (the
/// context that replaces it, if one does), else a named context, else an
/// image.
fn resolve_from(
    names: &[StageName],
    contexts: &BTreeSet<String>,
    current: usize,
    from: &str,
) -> Result<Source, StageError> {
    if from.is_empty() {
        return Err(StageError::EmptyFrom);
    }
    let stage = |i: usize| match &names[i].context {
        Some(c) => Source::Context(c.clone()),
        None => Source::Stage(i),
    };
    let lower = from.to_ascii_lowercase();
    if let Some(i) = names[..current]
        .iter()
        .position(|n| n.name.as_deref() == Some(lower.as_str()))
    {
        return Ok(stage(i));
    }
    if names[current].name.as_deref() == Some(lower.as_str()) {
        return Err(StageError::FromCurrent(from.to_string()));
    }
    if let Ok(i) = from.parse::<usize>() {
        if i >= current {
            return Err(StageError::FromLater(from.to_string()));
        }
        return Ok(stage(i));
    }
    match lookup_name(from).filter(|n| contexts.contains(n)) {
        Some(c) => Ok(Source::Context(c)),
        None => Ok(Source::Image(from.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::parse::parse;

    fn graph(text: &str, args: &[(&str, &str)]) -> Result<Graph, ParseError> {
        with_contexts(text, args, &[])
    }

    fn with_contexts(
        text: &str,
        args: &[(&str, &str)],
        contexts: &[&str],
    ) -> Result<Graph, ParseError> {
        let cf = parse("Containerfile", text)?;
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let contexts = contexts.iter().map(|c| c.to_string()).collect();
        Graph::new("Containerfile", &cf, &args, &contexts)
    }

    const MULTI: &str = "ARG BASE=busybox\nARG V\n\
        FROM $BASE AS deps\nRUN make deps\n\
        FROM ${BASE}:${V:-1} AS tools\nRUN make tools\n\
        FROM deps AS build\nARG SRC=tools\nCOPY --from=$SRC /t /t\nRUN make\n\
        FROM scratch AS docs\nCOPY x /x\n\
        FROM busybox\nCOPY --from=build /out /bin/out\nCOPY --from=alpine:3 /etc/os-release /\nCOPY --from=3 /x /x\n";

    #[test]
    fn stages_bases_and_reads() {
        let g = graph(MULTI, &[("V", "2")]).unwrap();
        assert_eq!(g.stages.len(), 5);
        assert_eq!(g.stages[0].base, Base::Image("busybox".into()));
        assert_eq!(g.stages[1].base, Base::Image("busybox:2".into()));
        assert_eq!(g.stages[2].base, Base::Stage(0));
        assert_eq!(g.stages[3].base, Base::Scratch);
        assert_eq!(g.stages[2].reads, [Source::Stage(1)].into());
        assert_eq!(
            g.stages[4].reads,
            [
                Source::Stage(2),
                Source::Stage(3),
                Source::Image("alpine:3".into())
            ]
            .into()
        );
        assert_eq!(g.stages[2].instructions.len(), 3);
        let g = graph(MULTI, &[]).unwrap();
        assert_eq!(g.stages[1].base, Base::Image("busybox:1".into()));
    }

    #[test]
    fn target_prunes_to_what_it_needs() {
        let g = graph(MULTI, &[]).unwrap();
        let last = g.target(None).unwrap();
        assert_eq!(g.needed(last), vec![0, 1, 2, 3, 4]);
        let b = g.target(Some("BUILD")).unwrap();
        assert_eq!(g.needed(b), vec![0, 1, 2]);
        assert_eq!(g.needed(g.target(Some("docs")).unwrap()), vec![3]);
        let e = g.target(Some("nope")).unwrap_err();
        assert_eq!(e, StageError::NoTarget("nope".into()));
        assert_eq!(e.to_string(), "target stage \"nope\" could not be found");
    }

    #[test]
    fn independent_stages_share_a_wave() {
        let g = graph(MULTI, &[]).unwrap();
        assert_eq!(g.waves(&g.needed(4)), vec![vec![0, 1, 3], vec![2], vec![4]]);
        assert_eq!(g.waves(&[0, 1, 2]), vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn errors_name_line_and_instruction() {
        let e = graph("RUN x\nFROM a", &[]).unwrap_err().to_string();
        assert!(e.starts_with("Containerfile:1: RUN: no build stage"), "{e}");
        let e = graph("FROM a AS x\nFROM b AS x", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Containerfile:2: FROM: duplicate stage name"),
            "{e}"
        );
        let e = graph("FROM a\nCOPY --from=1 /a /b\nFROM b", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Containerfile:2: COPY: invalid from flag value 1"),
            "{e}"
        );
        let e = graph("FROM a AS me\nCOPY --from=me /a /b", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("current stage"), "{e}");
        let e = graph("ARG X\nFROM $X", &[]).unwrap_err().to_string();
        assert!(
            e.contains("Containerfile:2: FROM: base name ($X) should not be blank"),
            "{e}"
        );
        assert!(graph("# only a comment\n", &[]).is_err());
    }

    #[test]
    fn named_contexts_replace_stages_bases_and_from_sources_in_dockers_order() {
        let text = "FROM busybox AS gen\nRUN exit 3\n\
            FROM gen AS uses\nCOPY --from=gen /a /a\nCOPY --from=0 /b /b\n\
            FROM alpine:latest AS base\nRUN true\n\
            FROM docker.io/library/alpine\nCOPY --from=docs /d /d\n\
            COPY --from=other /o /o\nCOPY --from=base /x /x\n";
        let g = with_contexts(text, &[], &["gen", "alpine", "docs", "base"]).unwrap();
        // The stage named like a context is that context: nothing of it runs.
        assert_eq!(g.stages[0].base, Base::Context("gen".into()));
        assert!(g.stages[0].replaced && g.stages[0].instructions.is_empty());
        // A FROM or --from naming it (by name or index) reads the context.
        assert_eq!(g.stages[1].base, Base::Context("gen".into()));
        assert!(!g.stages[1].replaced);
        assert_eq!(g.stages[1].reads, [Source::Context("gen".into())].into());
        assert_eq!(g.stages[1].instructions.len(), 2);
        // `AS base` is replaced before its FROM alpine is looked at.
        assert_eq!(g.stages[2].base, Base::Context("base".into()));
        // An image name in docker's long spelling matches its short one.
        assert_eq!(g.stages[3].base, Base::Context("alpine".into()));
        assert_eq!(
            g.stages[3].reads,
            [
                Source::Image("other".into()),
                Source::Context("base".into()),
                Source::Context("docs".into()),
            ]
            .into()
        );
        assert_eq!(g.needed(3), vec![3], "no stage runs for a context");
        // Without the contexts, the same names are stages and images.
        let g = graph(text, &[]).unwrap();
        assert_eq!(g.stages[1].base, Base::Stage(0));
        assert_eq!(
            g.stages[3].base,
            Base::Image("docker.io/library/alpine".into())
        );
        assert!(g.stages[3].reads.contains(&Source::Image("docs".into())));
        // scratch is never replaced; an earlier stage's name is that stage.
        let g = with_contexts(
            "FROM scratch\nFROM busybox AS alpine\nFROM alpine\n",
            &[],
            &["scratch", "busybox"],
        )
        .unwrap();
        assert_eq!(g.stages[0].base, Base::Scratch);
        assert_eq!(g.stages[1].base, Base::Context("busybox".into()));
        assert_eq!(g.stages[2].base, Base::Stage(1));
    }

    #[test]
    fn a_later_stage_name_in_from_is_an_image() {
        let g = graph("FROM later\nFROM busybox AS later", &[]).unwrap();
        assert_eq!(g.stages[0].base, Base::Image("later".into()));
    }

    #[test]
    fn platform_args_are_global() {
        let g = graph("FROM img-$TARGETARCH", &[]).unwrap();
        let Base::Image(i) = &g.stages[0].base else {
            panic!()
        };
        assert!(!i.ends_with('-'), "{i}");
    }
}
