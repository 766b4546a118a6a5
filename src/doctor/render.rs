//! The text forms of `doctor` and `info`: the checks as an aligned table
//! with each fix under its problem, the facts as an indented outline.

use super::{Check, Status};

const NAME_WIDTH: usize = 16;

/// `ok    kernel          Linux ...`, a fix on the lines after a problem.
pub fn table(checks: &[Check]) -> String {
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
pub fn outline(v: &serde_json::Value, depth: usize, out: &mut String) {
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
