//! Containerfile text to instructions, with docker's rules: parser
//! directives (`# escape=`, `# syntax=`), comments, line continuations,
//! heredocs, flags, exec (JSON) and shell forms, and each instruction's
//! own argument syntax. Pure: no file system, no environment. Variables
//! are not substituted here (that needs each stage's ENV and ARGs, see
//! `words::expand`); every word is kept as written.

use super::words::{split_blanks, split_quoted, unquote};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {}{message}", keyword_prefix(.instruction))]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    /// The instruction keyword, upper case; empty for a directive or a
    /// line that is none.
    pub instruction: String,
    pub message: String,
}

fn keyword_prefix(k: &str) -> String {
    if k.is_empty() {
        String::new()
    } else {
        format!("{k}: ")
    }
}

/// RUN, CMD, ENTRYPOINT, HEALTHCHECK CMD: `["exec", "form"]` or a shell
/// command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// A heredoc body attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// False for a quoted delimiter (`<<"EOF"`): no substitution inside.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped.
    pub strip_tabs: bool,
}

/// `RUN --mount=...`, as written (values are substituted at build time).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    pub kind: MountKind,
    pub target: Option<String>,
    pub source: Option<String>,
    pub from: Option<String>,
    pub id: Option<String>,
    pub sharing: Option<String>,
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub size: Option<String>,
    pub env: Option<String>,
    pub read_only: bool,
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountKind {
    #[default]
    Bind,
    Cache,
    Secret,
    Ssh,
    Tmpfs,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunFlags {
    pub mounts: Vec<Mount>,
    pub network: Option<String>,
    pub security: Option<String>,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    pub add: bool,
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub unpack: Option<bool>,
    /// Sources that are heredocs (named `<<NAME` in `sources`).
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK's options, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    pub command: Option<Command>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        flags: RunFlags,
        command: Command,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Copy(Copy),
    Shell(Vec<String>),
    /// `None` for `HEALTHCHECK NONE`.
    Healthcheck(Option<Health>),
    Stopsignal(String),
    Onbuild(Box<Instruction>),
    Maintainer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    /// The keyword, upper case.
    pub keyword: String,
    /// Everything after the keyword, continuations joined.
    pub args: String,
    pub kind: Kind,
}

impl Instruction {
    /// The instruction as one line (`COPY a /b`), for history and keys.
    pub fn text(&self) -> String {
        if self.args.is_empty() {
            self.keyword.clone()
        } else {
            format!("{} {}", self.keyword, self.args)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containerfile {
    pub escape: char,
    /// `# syntax=`: accepted and not acted on.
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

struct Ctx<'a> {
    file: &'a str,
    line: usize,
    keyword: String,
    escape: char,
}

impl Ctx<'_> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line: self.line,
            instruction: self.keyword.clone(),
            message: message.into(),
        }
    }
}

/// Parses a Containerfile's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Containerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut seen_escape = false;
    let mut i = 0;
    // Directives: only at the very top, before any other line.
    while i < lines.len() {
        let Some((key, value)) = directive(lines[i]) else {
            break;
        };
        let err = |m: String| ParseError {
            file: file.into(),
            line: i + 1,
            instruction: String::new(),
            message: m,
        };
        match key.as_str() {
            "escape" => {
                if seen_escape {
                    return Err(err("only one escape parser directive can be used".into()));
                }
                seen_escape = true;
                escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    v => {
                        return Err(err(format!(
                            "invalid escape token {v:?}: it must be ` or \\"
                        )))
                    }
                };
            }
            "syntax" => {
                if syntax.is_some() {
                    return Err(err("only one syntax parser directive can be used".into()));
                }
                syntax = Some(value);
            }
            // Unknown directives (and `check`) are comments.
            _ => {}
        }
        i += 1;
    }

    let mut instructions = Vec::new();
    while i < lines.len() {
        let raw = lines[i];
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        // Join continuation lines; comment lines inside are dropped.
        let mut joined = String::new();
        let mut cur = trimmed.to_string();
        loop {
            match continued(&cur, escape) {
                Some(head) => {
                    joined.push_str(head);
                    i += 1;
                    // Skip comments and blank lines within the instruction.
                    while i < lines.len() {
                        let t = lines[i].trim_start();
                        if t.starts_with('#') || t.is_empty() {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i].to_string();
                }
                None => {
                    joined.push_str(&cur);
                    i += 1;
                    break;
                }
            }
        }
        let (word, rest) = match joined.find(char::is_whitespace) {
            Some(p) => (&joined[..p], joined[p..].trim()),
            None => (joined.as_str(), ""),
        };
        let keyword = word.to_ascii_uppercase();
        let mut ctx = Ctx {
            file,
            line: start + 1,
            keyword: keyword.clone(),
            escape,
        };
        if !KEYWORDS.contains(&keyword.as_str()) {
            ctx.keyword = String::new();
            return Err(ctx.err(format!("unknown instruction: {word}")));
        }
        // Heredoc bodies follow the instruction's last line.
        let mut heredocs = Vec::new();
        let heredoc_owner = if keyword == "ONBUILD" {
            rest.split_whitespace()
                .next()
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default()
        } else {
            keyword.clone()
        };
        if matches!(heredoc_owner.as_str(), "RUN" | "COPY" | "ADD") {
            for marker in heredoc_markers(rest, escape) {
                let mut content = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let mut l = lines[i];
                    i += 1;
                    if marker.strip_tabs {
                        l = l.trim_start_matches('\t');
                    }
                    if l == marker.name {
                        closed = true;
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                if !closed {
                    return Err(ctx.err(format!(
                        "heredoc <<{} is not closed: no line {:?} follows",
                        marker.name, marker.name
                    )));
                }
                heredocs.push(Heredoc { content, ..marker });
            }
        }
        let kind = instruction(&mut ctx, rest, heredocs)?;
        instructions.push(Instruction {
            line: start + 1,
            keyword,
            args: rest.to_string(),
            kind,
        });
    }
    Ok(Containerfile {
        escape,
        syntax,
        instructions,
    })
}

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.strip_prefix('#')?.trim();
    let (k, v) = body.split_once('=')?;
    let k = k.trim();
    if k.is_empty()
        || !k.starts_with(|c: char| c.is_ascii_alphabetic())
        || !k.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// The line without its continuation escape, when it has one.
fn continued(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    t.strip_suffix(escape)
}

fn heredoc_markers(rest: &str, escape: char) -> Vec<Heredoc> {
    let mut out = Vec::new();
    for w in split_quoted(rest, escape) {
        // `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`; `<<EOF>file` too.
        let Some(m) = w.strip_prefix("<<") else {
            continue;
        };
        let (strip_tabs, m) = match m.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, m),
        };
        let m = m.split(['>', '<', '|', ';', '&']).next().unwrap_or("");
        if m.is_empty() {
            continue;
        }
        let quoted = m.contains(['"', '\'']);
        let Ok(name) = unquote(m, escape) else {
            continue;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            continue;
        }
        out.push(Heredoc {
            name,
            content: String::new(),
            expand: !quoted,
            strip_tabs,
        });
    }
    out
}

/// `--name` or `--name=value`.
type Flag = (String, Option<String>);

/// Leading `--flag[=value]` words and what follows them.
fn flags<'a>(ctx: &Ctx, rest: &'a str) -> Result<(Vec<Flag>, &'a str), ParseError> {
    let mut out = Vec::new();
    let mut s = rest.trim_start();
    while let Some(body) = s.strip_prefix("--") {
        // A flag ends at a blank outside quotes.
        let mut end = body.len();
        let mut quote = None;
        let mut esc = false;
        for (p, c) in body.char_indices() {
            if esc {
                esc = false;
                continue;
            }
            if c == ctx.escape && quote != Some('\'') {
                esc = true;
                continue;
            }
            match quote {
                Some(q) if c == q => quote = None,
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c.is_whitespace() => {
                    end = p;
                    break;
                }
                _ => {}
            }
        }
        let word = &body[..end];
        if word.is_empty() {
            // A bare `--` ends the flags.
            s = body[end..].trim_start();
            break;
        }
        match word.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
            None => out.push((word.to_string(), None)),
        }
        s = body[end..].trim_start();
    }
    let _ = ctx;
    Ok((out, s))
}

fn bool_flag(ctx: &Ctx, name: &str, v: &Option<String>) -> Result<bool, ParseError> {
    match v.as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(o) => Err(ctx.err(format!("--{name}={o}: expecting true or false"))),
    }
}

fn value_flag(ctx: &Ctx, name: &str, v: Option<String>) -> Result<String, ParseError> {
    v.ok_or_else(|| ctx.err(format!("missing a value on flag: --{name}")))
}

/// A JSON array of strings, if `s` is one.
fn json_list(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

fn command(s: &str) -> Command {
    match json_list(s) {
        Some(v) => Command::Exec(v),
        None => Command::Shell(s.to_string()),
    }
}

fn instruction(ctx: &mut Ctx, rest: &str, heredocs: Vec<Heredoc>) -> Result<Kind, ParseError> {
    let keyword = ctx.keyword.clone();
    let needs_args = |ctx: &Ctx| -> Result<(), ParseError> {
        if rest.is_empty() {
            Err(ctx.err(format!("{keyword} requires at least one argument")))
        } else {
            Ok(())
        }
    };
    Ok(match keyword.as_str() {
        "FROM" => {
            let (f, rest) = flags(ctx, rest)?;
            let mut platform = None;
            for (k, v) in f {
                match k.as_str() {
                    "platform" => platform = Some(value_flag(ctx, &k, v)?),
                    _ => return Err(ctx.err(format!("unknown flag: --{k}"))),
                }
            }
            let w = split_blanks(rest);
            match w.as_slice() {
                [image] => Kind::From {
                    image: image.clone(),
                    name: None,
                    platform,
                },
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let name = name.to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(ctx.err(format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        )));
                    }
                    Kind::From {
                        image: image.clone(),
                        name: Some(name),
                        platform,
                    }
                }
                _ => {
                    return Err(ctx.err(
                        "FROM requires either one or three arguments: FROM [--platform=P] IMAGE [AS NAME]",
                    ))
                }
            }
        }
        "RUN" => {
            let (f, rest) = flags(ctx, rest)?;
            let mut rf = RunFlags::default();
            for (k, v) in f {
                match k.as_str() {
                    "mount" => rf.mounts.push(mount(ctx, &value_flag(ctx, &k, v)?)?),
                    "network" => {
                        let v = value_flag(ctx, &k, v)?;
                        if !matches!(v.as_str(), "default" | "none" | "host") {
                            return Err(
                                ctx.err(format!("--network={v}: expecting default, none or host"))
                            );
                        }
                        rf.network = Some(v);
                    }
                    "security" => {
                        let v = value_flag(ctx, &k, v)?;
                        if !matches!(v.as_str(), "sandbox" | "insecure") {
                            return Err(
                                ctx.err(format!("--security={v}: expecting sandbox or insecure"))
                            );
                        }
                        rf.security = Some(v);
                    }
                    _ => return Err(ctx.err(format!("unknown flag: --{k}"))),
                }
            }
            if rest.is_empty() {
                return Err(ctx.err("RUN requires at least one argument"));
            }
            Kind::Run {
                flags: rf,
                command: command(rest),
                heredocs,
            }
        }
        "CMD" | "ENTRYPOINT" => {
            needs_args(ctx)?;
            let c = command(rest);
            if keyword == "CMD" {
                Kind::Cmd(c)
            } else {
                Kind::Entrypoint(c)
            }
        }
        "ENV" | "LABEL" => {
            needs_args(ctx)?;
            Kind::from_pairs(&keyword, name_values(ctx, rest)?)
        }
        "ARG" => {
            needs_args(ctx)?;
            let mut out = Vec::new();
            for w in split_quoted(rest, ctx.escape) {
                match w.split_once('=') {
                    Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                    None => out.push((w.clone(), None)),
                }
            }
            for (k, _) in &out {
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(ctx.err(format!("invalid ARG name {k:?}")));
                }
            }
            Kind::Arg(out)
        }
        "EXPOSE" => {
            needs_args(ctx)?;
            Kind::Expose(split_blanks(rest))
        }
        "VOLUME" => {
            needs_args(ctx)?;
            let v = json_list(rest).unwrap_or_else(|| split_blanks(rest));
            if v.iter().any(|p| p.trim().is_empty()) {
                return Err(ctx.err("VOLUME specified can not be an empty string"));
            }
            Kind::Volume(v)
        }
        "USER" | "WORKDIR" | "STOPSIGNAL" => {
            needs_args(ctx)?;
            let w = if keyword == "WORKDIR" {
                // A path may hold blanks: WORKDIR takes the whole rest.
                vec![rest.to_string()]
            } else {
                split_blanks(rest)
            };
            if w.len() != 1 {
                return Err(ctx.err(format!("{keyword} requires exactly one argument")));
            }
            let v = w.into_iter().next().unwrap_or_default();
            match keyword.as_str() {
                "USER" => Kind::User(v),
                "WORKDIR" => Kind::Workdir(v),
                _ => Kind::Stopsignal(v),
            }
        }
        "COPY" | "ADD" => copy(ctx, rest, heredocs)?,
        "SHELL" => {
            let v = json_list(rest)
                .ok_or_else(|| ctx.err("SHELL requires the arguments to be in JSON form"))?;
            if v.is_empty() {
                return Err(ctx.err("SHELL requires at least one argument"));
            }
            Kind::Shell(v)
        }
        "HEALTHCHECK" => {
            let (f, rest) = flags(ctx, rest)?;
            let mut words = rest.splitn(2, char::is_whitespace);
            let first = words.next().unwrap_or("").to_ascii_uppercase();
            let after = words.next().unwrap_or("").trim();
            match first.as_str() {
                "NONE" => {
                    if !after.is_empty() || !f.is_empty() {
                        return Err(ctx.err("HEALTHCHECK NONE takes no other arguments"));
                    }
                    Kind::Healthcheck(None)
                }
                "CMD" => {
                    if after.is_empty() {
                        return Err(ctx.err("HEALTHCHECK CMD requires a command"));
                    }
                    let mut h = Health {
                        command: Some(command(after)),
                        ..Health::default()
                    };
                    for (k, v) in f {
                        let v = Some(value_flag(ctx, &k, v)?);
                        match k.as_str() {
                            "interval" => h.interval = v,
                            "timeout" => h.timeout = v,
                            "start-period" => h.start_period = v,
                            "start-interval" => h.start_interval = v,
                            "retries" => h.retries = v,
                            _ => return Err(ctx.err(format!("unknown flag: --{k}"))),
                        }
                    }
                    Kind::Healthcheck(Some(h))
                }
                _ => return Err(ctx.err("HEALTHCHECK requires NONE or CMD followed by a command")),
            }
        }
        "ONBUILD" => {
            needs_args(ctx)?;
            let (w, r) = match rest.find(char::is_whitespace) {
                Some(p) => (&rest[..p], rest[p..].trim()),
                None => (rest, ""),
            };
            let inner = w.to_ascii_uppercase();
            match inner.as_str() {
                "ONBUILD" => {
                    return Err(ctx.err("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(ctx.err(format!("{inner} isn't allowed as an ONBUILD trigger")))
                }
                _ if !KEYWORDS.contains(&inner.as_str()) => {
                    return Err(ctx.err(format!("unknown instruction: {w}")))
                }
                _ => {}
            }
            let mut inner_ctx = Ctx {
                file: ctx.file,
                line: ctx.line,
                keyword: inner.clone(),
                escape: ctx.escape,
            };
            let kind = instruction(&mut inner_ctx, r, heredocs)?;
            Kind::Onbuild(Box::new(Instruction {
                line: ctx.line,
                keyword: inner,
                args: r.to_string(),
                kind,
            }))
        }
        "MAINTAINER" => {
            needs_args(ctx)?;
            Kind::Maintainer(rest.to_string())
        }
        _ => return Err(ctx.err(format!("unknown instruction: {keyword}"))),
    })
}

impl Kind {
    fn from_pairs(keyword: &str, pairs: Vec<(String, String)>) -> Kind {
        if keyword == "ENV" {
            Kind::Env(pairs)
        } else {
            Kind::Label(pairs)
        }
    }
}

/// ENV and LABEL: `K=V K2="v 2" ...`, or the old `K the rest of the line`.
fn name_values(ctx: &Ctx, rest: &str) -> Result<Vec<(String, String)>, ParseError> {
    let words = split_quoted(rest, ctx.escape);
    let first = words.first().cloned().unwrap_or_default();
    if !first.contains('=') {
        let mut parts = rest.splitn(2, char::is_whitespace);
        let k = parts.next().unwrap_or("").to_string();
        let v = parts.next().unwrap_or("").trim_start().to_string();
        if v.is_empty() {
            return Err(ctx.err(format!(
                "{} must have two arguments: {} NAME VALUE, or NAME=VALUE ...",
                ctx.keyword, ctx.keyword
            )));
        }
        return Ok(vec![(k, v)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(ctx.err(format!(
                "syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )));
        };
        if k.is_empty() {
            return Err(ctx.err(format!("{w:?}: the name is empty")));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn copy(ctx: &Ctx, rest: &str, heredocs: Vec<Heredoc>) -> Result<Kind, ParseError> {
    let add = ctx.keyword == "ADD";
    let (f, rest) = flags(ctx, rest)?;
    let mut c = Copy {
        add,
        ..Copy::default()
    };
    for (k, v) in f {
        match k.as_str() {
            "from" if !add => c.from = Some(value_flag(ctx, &k, v)?),
            "chown" => c.chown = Some(value_flag(ctx, &k, v)?),
            "chmod" => c.chmod = Some(value_flag(ctx, &k, v)?),
            "link" => c.link = bool_flag(ctx, &k, &v)?,
            "parents" => c.parents = bool_flag(ctx, &k, &v)?,
            "exclude" => c.exclude.push(value_flag(ctx, &k, v)?),
            "checksum" if add => c.checksum = Some(value_flag(ctx, &k, v)?),
            "keep-git-dir" if add => c.keep_git_dir = bool_flag(ctx, &k, &v)?,
            "unpack" if add => c.unpack = Some(bool_flag(ctx, &k, &v)?),
            _ => return Err(ctx.err(format!("unknown flag: --{k}"))),
        }
    }
    let mut words = json_list(rest).unwrap_or_else(|| split_blanks(rest));
    if words.len() < 2 {
        return Err(ctx.err(format!(
            "{} requires at least two arguments, but only {} provided",
            ctx.keyword,
            words.len()
        )));
    }
    c.dest = words.pop().unwrap_or_default();
    // Heredoc sources are named by their marker word.
    let marked: Vec<String> = heredoc_markers(&words.join(" "), ctx.escape)
        .into_iter()
        .map(|h| h.name)
        .collect();
    c.heredocs = heredocs
        .into_iter()
        .filter(|h| marked.contains(&h.name))
        .collect();
    c.sources = words;
    Ok(Kind::Copy(c))
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// `type=cache,target=/root/.cache,sharing=locked,...`
fn mount(ctx: &Ctx, spec: &str) -> Result<Mount, ParseError> {
    let mut m = Mount::default();
    let mut kind_set = false;
    let mut ro_given = false;
    for field in spec.split(',') {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let bad = |what: &str| ctx.err(format!("--mount={spec}: {what}"));
        let val = |v: Option<String>| v.ok_or_else(|| bad(&format!("{k} needs a value")));
        match k.as_str() {
            "type" => {
                m.kind = match val(v)?.as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    "tmpfs" => MountKind::Tmpfs,
                    o => return Err(bad(&format!("unknown mount type {o:?}"))),
                };
                kind_set = true;
            }
            "target" | "dst" | "destination" => m.target = Some(val(v)?),
            "source" | "src" => m.source = Some(val(v)?),
            "from" => m.from = Some(val(v)?),
            "id" => m.id = Some(val(v)?),
            "sharing" => {
                let s = val(v)?;
                if !matches!(s.as_str(), "shared" | "private" | "locked") {
                    return Err(bad("sharing must be shared, private or locked"));
                }
                m.sharing = Some(s);
            }
            "mode" => m.mode = Some(val(v)?),
            "uid" => m.uid = Some(val(v)?),
            "gid" => m.gid = Some(val(v)?),
            "size" => m.size = Some(val(v)?),
            "env" => m.env = Some(val(v)?),
            "ro" | "readonly" => {
                ro_given = true;
                m.read_only = bool_flag(ctx, &k, &v).map_err(|_| bad("ro takes true or false"))?
            }
            "rw" | "readwrite" => {
                ro_given = true;
                m.read_only = !bool_flag(ctx, &k, &v).map_err(|_| bad("rw takes true or false"))?
            }
            "required" => {
                m.required =
                    bool_flag(ctx, &k, &v).map_err(|_| bad("required takes true or false"))?
            }
            _ => return Err(bad(&format!("unknown option {k:?}"))),
        }
    }
    if !kind_set {
        m.kind = MountKind::Bind;
    }
    // A bind mount is read-only unless `rw` says otherwise.
    if m.kind == MountKind::Bind && !ro_given {
        m.read_only = true;
    }
    match m.kind {
        MountKind::Secret | MountKind::Ssh => {
            if m.target.is_none()
                && m.id.is_none()
                && m.env.is_none()
                && m.kind == MountKind::Secret
            {
                return Err(ctx.err(format!(
                    "--mount={spec}: a secret mount needs an id or a target"
                )));
            }
        }
        _ => {
            if m.target.is_none() {
                return Err(ctx.err(format!("--mount={spec}: target is required")));
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Containerfile {
        parse("Containerfile", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn kinds(text: &str) -> Vec<Kind> {
        p(text).instructions.into_iter().map(|i| i.kind).collect()
    }

    fn err(text: &str) -> String {
        parse("Containerfile", text).unwrap_err().to_string()
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            kinds("FROM busybox\nfrom --platform=linux/amd64 alpine:3 AS Build\nFROM scratch"),
            vec![
                Kind::From {
                    image: "busybox".into(),
                    name: None,
                    platform: None
                },
                Kind::From {
                    image: "alpine:3".into(),
                    name: Some("build".into()),
                    platform: Some("linux/amd64".into())
                },
                Kind::From {
                    image: "scratch".into(),
                    name: None,
                    platform: None
                },
            ]
        );
        assert!(
            err("FROM a b").contains("Containerfile:1: FROM: FROM requires either one or three")
        );
        assert!(err("FROM a AS 1x").contains("invalid name for build stage"));
        assert!(err("FROM --plat=x a").contains("unknown flag: --plat"));
    }

    #[test]
    fn run_cmd_entrypoint_exec_and_shell_forms() {
        assert_eq!(
            kinds("RUN [\"echo\", \"a b\"]\nCMD echo $HOME\nENTRYPOINT [\"sh\"]\nCMD [not json"),
            vec![
                Kind::Run {
                    flags: RunFlags::default(),
                    command: Command::Exec(vec!["echo".into(), "a b".into()]),
                    heredocs: vec![]
                },
                Kind::Cmd(Command::Shell("echo $HOME".into())),
                Kind::Entrypoint(Command::Exec(vec!["sh".into()])),
                Kind::Cmd(Command::Shell("[not json".into())),
            ]
        );
    }

    #[test]
    fn run_flags_and_mounts() {
        let k = kinds(
            "RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,uid=1000,mode=0755 \\\n    --mount=type=secret,id=tok,required --network=none --security=sandbox pip install x",
        );
        let Kind::Run { flags, command, .. } = &k[0] else {
            panic!("{k:?}")
        };
        assert_eq!(command, &Command::Shell("pip install x".into()));
        assert_eq!(flags.network.as_deref(), Some("none"));
        assert_eq!(flags.mounts.len(), 2);
        assert_eq!(flags.mounts[0].kind, MountKind::Cache);
        assert_eq!(flags.mounts[0].target.as_deref(), Some("/root/.cache"));
        assert_eq!(flags.mounts[0].sharing.as_deref(), Some("locked"));
        assert_eq!(flags.mounts[0].uid.as_deref(), Some("1000"));
        assert_eq!(flags.mounts[1].kind, MountKind::Secret);
        assert!(flags.mounts[1].required);
        let k = kinds("RUN --mount=target=/src,from=build,source=/out,ro ls /src\nRUN --mount=type=tmpfs,dst=/t,size=64m true");
        let Kind::Run { flags, .. } = &k[0] else {
            panic!()
        };
        assert_eq!(flags.mounts[0].kind, MountKind::Bind);
        assert_eq!(flags.mounts[0].from.as_deref(), Some("build"));
        assert!(flags.mounts[0].read_only);
        assert!(err("RUN --mount=type=cache true").contains("target is required"));
        assert!(err("RUN --mount=type=nfs,target=/x true").contains("unknown mount type"));
        assert!(err("RUN --mount=type=cache,target=/x,sharing=maybe true").contains("sharing"));
        assert!(err("RUN --network=bridge true").contains("--network=bridge"));
        assert!(err("RUN --frobnicate true")
            .contains("Containerfile:1: RUN: unknown flag: --frobnicate"));
        assert!(err("RUN").contains("RUN requires at least one argument"));
    }

    #[test]
    fn env_and_label_both_forms() {
        assert_eq!(
            kinds("ENV A 1 2  3\nENV B=x C=\"y z\" D=w\\ v\nLABEL a=b \"c d\"=e\nLABEL old form value"),
            vec![
                Kind::Env(vec![("A".into(), "1 2  3".into())]),
                Kind::Env(vec![
                    ("B".into(), "x".into()),
                    ("C".into(), "\"y z\"".into()),
                    ("D".into(), "w\\ v".into())
                ]),
                Kind::Label(vec![("a".into(), "b".into()), ("\"c d\"".into(), "e".into())]),
                Kind::Label(vec![("old".into(), "form value".into())]),
            ]
        );
        assert!(err("ENV A").contains("ENV must have two arguments"));
        assert!(err("ENV A=1 B").contains("can't find = in \"B\""));
    }

    #[test]
    fn arg_expose_volume_user_workdir_stopsignal_shell_maintainer() {
        assert_eq!(
            kinds(
                "ARG V=1 W\nEXPOSE 80 443/udp\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\nUSER app:app\nWORKDIR /my dir\nSTOPSIGNAL SIGQUIT\nSHELL [\"/bin/bash\", \"-c\"]\nMAINTAINER Jo <jo@example.org>"
            ),
            vec![
                Kind::Arg(vec![("V".into(), Some("1".into())), ("W".into(), None)]),
                Kind::Expose(vec!["80".into(), "443/udp".into()]),
                Kind::Volume(vec!["/a".into(), "/b".into()]),
                Kind::Volume(vec!["/c".into(), "/d".into()]),
                Kind::User("app:app".into()),
                Kind::Workdir("/my dir".into()),
                Kind::Stopsignal("SIGQUIT".into()),
                Kind::Shell(vec!["/bin/bash".into(), "-c".into()]),
                Kind::Maintainer("Jo <jo@example.org>".into()),
            ]
        );
        assert!(err("SHELL /bin/bash -c").contains("JSON form"));
        assert!(err("USER a b").contains("exactly one argument"));
    }

    #[test]
    fn copy_and_add_flags() {
        let k = kinds("COPY --from=build --chown=1:2 --chmod=0755 --link --exclude=*.md --exclude=x --parents a b /dst/\nADD --checksum=sha256:abc --keep-git-dir=false https://x/y.tar /z\nCOPY [\"a b\", \"/c d\"]");
        let Kind::Copy(c) = &k[0] else { panic!() };
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!(c.chown.as_deref(), Some("1:2"));
        assert_eq!(c.chmod.as_deref(), Some("0755"));
        assert!(c.link && c.parents && !c.add);
        assert_eq!(c.exclude, vec!["*.md", "x"]);
        assert_eq!(c.sources, vec!["a", "b"]);
        assert_eq!(c.dest, "/dst/");
        let Kind::Copy(a) = &k[1] else { panic!() };
        assert!(a.add && !a.keep_git_dir);
        assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
        let Kind::Copy(j) = &k[2] else { panic!() };
        assert_eq!(j.sources, vec!["a b"]);
        assert_eq!(j.dest, "/c d");
        assert!(err("COPY a").contains("COPY requires at least two arguments"));
        assert!(err("ADD --from=x a b").contains("unknown flag: --from"));
        assert!(err("COPY --checksum=x a b").contains("unknown flag: --checksum"));
        assert!(err("COPY --from a b").contains("missing a value on flag: --from"));
    }

    #[test]
    fn healthcheck_and_onbuild() {
        let k = kinds("HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\nHEALTHCHECK NONE\nONBUILD RUN echo hi\nONBUILD COPY . /app");
        assert_eq!(
            k[0],
            Kind::Healthcheck(Some(Health {
                command: Some(Command::Shell("curl -f http://localhost/".into())),
                interval: Some("5s".into()),
                retries: Some("3".into()),
                ..Health::default()
            }))
        );
        assert_eq!(k[1], Kind::Healthcheck(None));
        let Kind::Onbuild(i) = &k[2] else { panic!() };
        assert_eq!(i.keyword, "RUN");
        assert_eq!(i.text(), "RUN echo hi");
        assert!(err("ONBUILD ONBUILD RUN x").contains("chaining ONBUILD"));
        assert!(err("ONBUILD FROM x").contains("isn't allowed as an ONBUILD trigger"));
        assert!(err("HEALTHCHECK --bogus=1 CMD x").contains("unknown flag: --bogus"));
        assert!(err("HEALTHCHECK whatever").contains("NONE or CMD"));
    }

    #[test]
    fn continuations_comments_and_line_numbers() {
        let f = p("# a comment\n\nFROM busybox\n\nRUN echo a \\\n  # inside\n\n    b \\  \n  c\n  # trailing\nCMD x\n");
        let lines: Vec<usize> = f.instructions.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![3, 5, 11]);
        assert_eq!(f.instructions[1].args, "echo a     b   c");
        let e = parse("Dockerfile", "FROM a\n\nCOPY\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().starts_with("Dockerfile:3: COPY: "), "{e}");
        assert!(err("FROM a\nFOO bar").starts_with("Containerfile:2: unknown instruction: FOO"));
    }

    #[test]
    fn directives_escape_and_syntax() {
        let f = p("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n");
        assert_eq!(f.escape, '`');
        assert_eq!(f.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(f.instructions[1].args, "dir c:\\   && echo");
        // Not a directive once an instruction or comment came first.
        let f = p("FROM a\n# escape=`\nRUN x \\\n y");
        assert_eq!(f.escape, '\\');
        let f = p("# comment\n# escape=`\nFROM a");
        assert_eq!(f.escape, '\\');
        assert!(err("# escape=x\nFROM a").contains("invalid escape token"));
        assert!(err("# escape=`\n# escape=\\\nFROM a").contains("only one escape"));
    }

    #[test]
    fn heredocs() {
        let f = p("FROM a\nRUN <<EOF\necho one\necho $X\nEOF\nRUN <<-\"END\" cat > /f && <<TWO cat\n\tliteral $X\n\tEND\nsecond\nTWO\nCOPY <<A <<B /dst/\na\nA\nb\nB\nCMD done\n");
        let k: Vec<&Kind> = f.instructions.iter().map(|i| &i.kind).collect();
        let Kind::Run {
            heredocs, command, ..
        } = k[1]
        else {
            panic!()
        };
        assert_eq!(command, &Command::Shell("<<EOF".into()));
        assert_eq!(
            heredocs,
            &vec![Heredoc {
                name: "EOF".into(),
                content: "echo one\necho $X\n".into(),
                expand: true,
                strip_tabs: false
            }]
        );
        let Kind::Run { heredocs, .. } = k[2] else {
            panic!()
        };
        assert_eq!(heredocs.len(), 2);
        assert_eq!(heredocs[0].content, "literal $X\n");
        assert!(!heredocs[0].expand && heredocs[0].strip_tabs);
        assert_eq!(heredocs[1].content, "second\n");
        let Kind::Copy(c) = k[3] else { panic!() };
        assert_eq!(c.sources, vec!["<<A", "<<B"]);
        assert_eq!(
            c.heredocs
                .iter()
                .map(|h| h.content.as_str())
                .collect::<Vec<_>>(),
            vec!["a\n", "b\n"]
        );
        assert_eq!(f.instructions[4].line, 16);
        assert!(err("FROM a\nRUN <<EOF\nnever closed\n")
            .contains("Containerfile:2: RUN: heredoc <<EOF is not closed"));
        // Not a heredoc outside RUN, COPY and ADD.
        let f = p("FROM a\nCMD cat <<EOF\n");
        assert_eq!(f.instructions.len(), 2);
    }
}
