//! `burrow doctor` and `burrow info`: they load the config themselves, so
//! that a broken config or runtime dir is reported rather than fatal.

use super::Format;
use crate::container::doctor::{self, Check, Facts, Status};
use crate::{Error, Result};

/// Check this host for what rootless containers need; print each fix.
#[derive(clap::Args, Debug)]
pub struct Doctor {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Doctor {
    pub fn exec(self) -> Result<()> {
        let checks = doctor::evaluate(&Facts::gather());
        match self.format {
            Format::Json => println!("{}", json(&serde_json::json!({ "checks": checks }))?),
            Format::Table => print!("{}", table(&checks)),
        }
        let failed = doctor::failures(&checks);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Reported(format!(
                "{} check{} failed: {}",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                failed.join(", ")
            )))
        }
    }
}

/// Show what burrow found on this host: kernel, namespaces, id ranges,
/// storage, cgroups.
#[derive(clap::Args, Debug)]
pub struct Info {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Info {
    pub fn exec(self) -> Result<()> {
        let facts = serde_json::to_value(Facts::gather())
            .map_err(|e| Error::Reported(format!("cannot render the facts: {e}")))?;
        match self.format {
            Format::Json => println!("{}", json(&facts)?),
            Format::Table => {
                let mut out = String::new();
                outline(&facts, 0, &mut out);
                print!("{out}");
            }
        }
        Ok(())
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Reported(format!("cannot write JSON: {e}")))
}

const NAME_WIDTH: usize = 16;

/// `ok    kernel          Linux ...`, a fix on the lines after a problem.
fn table(checks: &[Check]) -> String {
    let indent = " ".repeat(6 + NAME_WIDTH);
    let mut out = String::new();
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!(
            "{status:<6}{:<NAME_WIDTH$}{}\n",
            c.name,
            c.fact.replace('\n', &format!("\n{indent}"))
        ));
        if let Some(fix) = &c.fix {
            let fix = fix.replace('\n', &format!("\n{indent}     "));
            out.push_str(&format!("{indent}fix: {}\n", fix.trim_end()));
        }
    }
    out
}

/// The facts as an indented outline, one `key: value` a line.
fn outline(v: &serde_json::Value, depth: usize, out: &mut String) {
    use serde_json::Value;
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        outline(v, depth + 1, out);
                    }
                    Value::Array(a) if a.iter().any(|i| i.is_object()) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        for item in a {
                            out.push_str(&format!("{pad}  -\n"));
                            outline(item, depth + 2, out);
                        }
                    }
                    _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(v))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn scalar(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.replace('\n', " "),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(" "),
        Value::Object(m) if m.is_empty() => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_indents_multi_line_fixes() {
        let checks = vec![
            Check {
                name: "kernel",
                status: Status::Ok,
                fact: "Linux 6.1".into(),
                fix: None,
            },
            Check {
                name: "user namespaces",
                status: Status::Fail,
                fact: "cannot create a user namespace: EACCES".into(),
                fix: Some("install this:\n\nprofile x {\n}\n".into()),
            },
        ];
        assert_eq!(
            table(&checks),
            "ok    kernel          Linux 6.1\n\
             FAIL  user namespaces cannot create a user namespace: EACCES\n\
             \x20                     fix: install this:\n\
             \x20                          \n\
             \x20                          profile x {\n\
             \x20                          }\n"
        );
    }

    #[test]
    fn outline_nests_objects_and_lists() {
        let v = serde_json::json!({
            "host": {"kernel": "6.1", "ids": ["debian"], "x": null},
            "helpers": [{"program": "newuidmap"}],
            "empty": {},
        });
        let mut out = String::new();
        outline(&v, 0, &mut out);
        assert_eq!(
            out,
            "empty: -\nhelpers:\n  -\n    program: newuidmap\nhost:\n  ids: debian\n  kernel: 6.1\n  x: -\n"
        );
    }
}
