//! `--format`: the default table, `json`, or a Go template over docker's
//! field names (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`,
//! `{{json .Config}}`). Templates run on the `gotmpl` crate, a port of Go's
//! text/template (Go's printing of lists and maps, sorted map ranges);
//! this file adds only docker's extra functions and its `table` layout.

use crate::{Error, Result};
use gotmpl::Value;
use std::sync::Arc;

/// What `--format` asked for.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Template(Template),
}

/// A Go template, checked when the command line is parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The template with docker's `\t` and `\n` escapes already applied.
    source: String,
    /// `table ...`: a header line, then columns aligned at tabs.
    table: bool,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Format, String> {
        match s.trim() {
            "" | "table" => return Ok(Format::Table),
            "json" => return Ok(Format::Json),
            _ => {}
        }
        let (table, body) = match s.strip_prefix("table") {
            Some(rest) if rest.starts_with(char::is_whitespace) => (true, rest.trim()),
            _ => (false, s),
        };
        // As docker's CLI does: a literal backslash-t or -n typed in
        // single quotes is a tab or a newline.
        let source = body.replace("\\t", "\t").replace("\\n", "\n");
        let source = label_calls(&source);
        compile(&source).map_err(|e| format!("template parsing error: {e}"))?;
        Ok(Format::Template(Template { source, table }))
    }
}

/// docker's `{{.Label "KEY"}}` (a method on its ps and events rows): a
/// field cannot take arguments here, so it becomes `label .Labels "KEY"`.
fn label_calls(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(i) = rest.find(".Label") {
        let (before, after) = rest.split_at(i);
        let tail = &after[".Label".len()..];
        let ident_before = before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let arg = tail.trim_start();
        out.push_str(before);
        if !ident_before && tail.starts_with(char::is_whitespace) && arg.starts_with('"') {
            out.push_str("label .Labels ");
            rest = arg;
        } else {
            out.push_str(".Label");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

impl Format {
    /// clap's parser for `--format`.
    pub fn parse(s: &str) -> std::result::Result<Format, String> {
        s.parse()
    }
}

impl Template {
    /// Renders `items`, one line each; with `table`, a header line first
    /// (the template run over `headers`, field name → column title, as
    /// docker does) and the columns aligned.
    pub fn render(&self, items: &[serde_json::Value], headers: &[(&str, &str)]) -> Result<String> {
        let t = compile(&self.source).map_err(|e| Error::Usage(format!("template: {e}")))?;
        let mut lines = Vec::new();
        if self.table {
            let header: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect();
            lines.push(run(&t, &serde_json::Value::Object(header))?);
        }
        for item in items {
            lines.push(run(&t, item)?);
        }
        Ok(if self.table {
            align(&lines)
        } else {
            lines.iter().map(|l| format!("{l}\n")).collect()
        })
    }

    /// Whether the template names this field (`.Size`).
    pub fn mentions(&self, field: &str) -> bool {
        self.source.contains(field)
    }

    /// Prints `items` rendered.
    pub fn print(&self, items: &[serde_json::Value], headers: &[(&str, &str)]) -> Result<()> {
        print!("{}", self.render(items, headers)?);
        Ok(())
    }
}

fn run(t: &gotmpl::Template, data: &serde_json::Value) -> Result<String> {
    let v = gotmpl::to_value(data).map_err(|e| Error::Reported(format!("template: {e}")))?;
    t.execute_to_string(&v)
        .map_err(|e| Error::Reported(format!("template: {e}")))
}

fn compile(source: &str) -> std::result::Result<gotmpl::Template, gotmpl::TemplateError> {
    gotmpl::Template::new("")
        .func("json", |a| {
            Ok(Value::String(to_json(arg(a, 0)?).to_string().into()))
        })
        .func("split", |a| {
            let (s, sep) = (text(a, 0)?, text(a, 1)?);
            let parts: Vec<Value> = s
                .split(sep.as_str())
                .map(|p| Value::String(p.into()))
                .collect();
            Ok(Value::List(Arc::from(parts)))
        })
        .func("join", |a| {
            let sep = text(a, 1)?;
            let parts: Vec<String> = match arg(a, 0)? {
                Value::List(l) => l.iter().map(ToString::to_string).collect(),
                v => vec![v.to_string()],
            };
            Ok(Value::String(parts.join(&sep).into()))
        })
        .func("label", |a| {
            // `.Labels` as ps shows it (`k=v,k2=v2`), or a map.
            let key = text(a, 1)?;
            let found = match arg(a, 0)? {
                Value::Map(m) => m
                    .iter()
                    .find(|(k, _)| k.to_string() == key)
                    .map(|(_, v)| v.to_string()),
                v => v.to_string().split(',').find_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k == key).then(|| v.to_string())
                }),
            };
            Ok(Value::String(found.unwrap_or_default().into()))
        })
        .func("lower", |a| {
            Ok(Value::String(text(a, 0)?.to_lowercase().into()))
        })
        .func("upper", |a| {
            Ok(Value::String(text(a, 0)?.to_uppercase().into()))
        })
        .func("title", |a| Ok(Value::String(title(&text(a, 0)?).into())))
        .func("pad", |a| {
            let n = |i| arg(a, i).ok().and_then(Value::as_int).unwrap_or(0).max(0) as usize;
            Ok(Value::String(
                format!("{}{}{}", " ".repeat(n(1)), text(a, 0)?, " ".repeat(n(2))).into(),
            ))
        })
        .func("truncate", |a| {
            let n = arg(a, 1)?.as_int().unwrap_or(0).max(0) as usize;
            Ok(Value::String(
                text(a, 0)?.chars().take(n).collect::<String>().into(),
            ))
        })
        .parse(source)
}

fn arg(a: &[Value], i: usize) -> gotmpl::Result<&Value> {
    a.get(i).ok_or_else(|| {
        gotmpl::TemplateError::Exec(format!("wrong number of arguments: want {}", i + 1))
    })
}

/// An argument as Go's `%v` prints it (a string as itself).
fn text(a: &[Value], i: usize) -> gotmpl::Result<String> {
    arg(a, i).map(ToString::to_string)
}

/// Go's strings.Title: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '_' && c != '\'';
    }
    out
}

fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Nil | Value::Function(_) => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(n) => J::from(*n),
        Value::Uint(n) => J::from(*n),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.to_string()),
        Value::List(l) => J::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
    }
}

/// Columns at tabs, as docker's `table` output (Go's tabwriter with a
/// minimum cell width of 20 and a padding of 3); the last cell of a line
/// is not padded.
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| l.split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for r in &rows {
        for (i, cell) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = (cell.chars().count() + 3).max(20);
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    let mut out = String::new();
    for r in &rows {
        if r.len() == 1 && r[0].is_empty() {
            continue;
        }
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 < r.len() {
                line.push_str(&format!("{cell:<w$}", w = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Prints rows in columns separated by at least three spaces.
pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
}

/// Sizes as docker prints them: decimal units, three significant digits
/// and no space (`0B`, `999B`, `4.3MB`, `21.5MB`, `123MB`), the shape of
/// Go's `%.3g` that docker's size fields use.
pub fn human_size(bytes: u64) -> String {
    // Decimal units up to exabytes, as docker's: a u64 ends below 19 EB.
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", three_digits(v), UNITS[i])
}

/// Go's `%.3g` of a number below 1000: three significant digits, trailing
/// zeros dropped; what rounds up to 1000 is `1e+03`, as Go writes it.
fn three_digits(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // Counted, not `log10`: that would link libm into every command
    // (tests/packaging.rs keeps the binary to libc and libgcc_s).
    let mut whole_digits: i32 = 1;
    let mut t = v;
    while t >= 10.0 {
        t /= 10.0;
        whole_digits += 1;
    }
    let decimals = (3 - whole_digits).max(0) as usize;
    let mut n = format!("{v:.decimals$}");
    if n.parse::<f64>().is_ok_and(|r| r >= 1000.0) {
        return "1e+03".into();
    }
    // A rounding that gained a digit (9.996 -> 10.00) keeps three.
    let digits = n.chars().filter(char::is_ascii_digit).count();
    if n.contains('.') && digits > 3 {
        n.pop();
    }
    if n.contains('.') {
        n = n.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    n
}

/// `inspect` of objects by name, as docker does it: each one `find`
/// finds is shown (`print_inspected`); each one it does not is an
/// `Error: ...` line on stderr and makes the status 1, the others still
/// shown. A failure of burrow's own (any other status) stops at once.
pub fn inspect_each(
    names: &[String],
    format: &Format,
    mut find: impl FnMut(&str) -> Result<serde_json::Value>,
) -> Result<i32> {
    let mut found = Vec::new();
    let mut code = 0;
    for name in names {
        match find(name) {
            Ok(v) => found.push(v),
            Err(e) if e.exit_code() == 1 => {
                eprintln!("Error: {e}");
                code = 1;
            }
            Err(e) => return Err(e),
        }
    }
    print_inspected(&found, format)?;
    Ok(code)
}

/// A list command's `--format json`, as docker prints it: one compact
/// JSON object a line (JSON Lines), not one array; `inspect` alone
/// prints an array (`print_inspected`).
pub fn print_json_lines(items: &[serde_json::Value]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for item in items {
        // A closed pipe (`| head -1`) ends the listing, as it does for a table.
        if writeln!(out, "{item}").is_err() {
            break;
        }
    }
}

/// `inspect`'s output: a JSON array, or each object through a template.
pub fn print_inspected(objects: &[serde_json::Value], format: &Format) -> Result<()> {
    match format {
        Format::Template(t) => t.print(objects, &[]),
        _ => {
            println!("{}", serde_json::to_string_pretty(objects).expect("json"));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_have_three_significant_digits_as_gos_percent_3g() {
        for (bytes, want) in [
            (0, "0B"),
            (7, "7B"),
            (999, "999B"),
            (1000, "1kB"),
            (9_996, "10kB"),
            (4_261_000, "4.26MB"),
            (21_500_000, "21.5MB"),
            (123_000_000, "123MB"),
            (999_600, "1e+03kB"),
            (1_000_000_000_000_000, "1PB"),
            (2_500_000_000_000_000_000, "2.5EB"),
            (u64::MAX, "18.4EB"),
        ] {
            assert_eq!(human_size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn label_calls_become_the_label_function() {
        assert_eq!(
            label_calls(r#"{{.Label "a.b"}}"#),
            r#"{{label .Labels "a.b"}}"#
        );
        for same in ["{{.Labels}}", "{{.Label}}", r#"{{.MyLabel "x"}}"#] {
            assert_eq!(label_calls(same), same);
        }
        let t: Format = r#"{{.Label "tier"}}/{{.Label "gone"}}"#.parse().unwrap();
        let Format::Template(t) = t else { panic!() };
        let out = t.render(&[json!({"Labels": "tier=web,x=1"})], &[]).unwrap();
        assert_eq!(out, "web/\n");
    }

    fn render(f: &str, items: &[serde_json::Value]) -> String {
        match f.parse::<Format>().unwrap() {
            Format::Template(t) => t.render(items, &[("ID", "CONTAINER ID"), ("Names", "NAMES")]),
            other => panic!("not a template: {other:?}"),
        }
        .unwrap()
    }

    #[test]
    fn table_and_json_are_not_templates() {
        assert_eq!("table".parse::<Format>().unwrap(), Format::Table);
        assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
        assert!("{{.Names".parse::<Format>().is_err());
    }

    #[test]
    fn docker_functions_and_go_printing() {
        let c = json!({
            "Names": "web",
            "State": {"Status": "running"},
            "Config": {"Cmd": ["sh", "-c", "echo hi"], "Labels": {"b": "2", "a": "1"}, "Env": ["A=1"]},
        });
        let items = [c];
        assert_eq!(render("{{.Names}}", &items), "web\n");
        assert_eq!(render("{{.State.Status}}", &items), "running\n");
        assert_eq!(render("{{.Config.Cmd}}", &items), "[sh -c echo hi]\n");
        assert_eq!(
            render("{{json .Config.Cmd}}", &items),
            "[\"sh\",\"-c\",\"echo hi\"]\n"
        );
        assert_eq!(
            render("{{join .Config.Cmd \",\"}}", &items),
            "sh,-c,echo hi\n"
        );
        assert_eq!(render("{{index .Config.Labels \"b\"}}", &items), "2\n");
        assert_eq!(
            render(
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
                &items
            ),
            "a=1;b=2;\n"
        );
        assert_eq!(
            render("{{upper .Names}} {{title \"a b\"}}", &items),
            "WEB A B\n"
        );
        assert_eq!(render("{{lower \"AbC\"}}", &items), "abc\n");
        assert_eq!(render("{{index (split \"a:b\" \":\") 1}}", &items), "b\n");
        assert_eq!(render("{{printf \"%-5s|\" .Names}}", &items), "web  |\n");
        assert_eq!(render("{{.Config.Labels}}", &items), "map[a:1 b:2]\n");
    }

    #[test]
    fn table_prefix_prints_headers_and_aligns_at_tabs() {
        let items = [
            json!({"ID": "abc", "Names": "web"}),
            json!({"ID": "abcdef", "Names": "db"}),
        ];
        assert_eq!(
            render("table {{.ID}}\\t{{.Names}}", &items),
            format!(
                "{:<20}NAMES\n{:<20}web\n{:<20}db\n",
                "CONTAINER ID", "abc", "abcdef"
            )
        );
    }
}
