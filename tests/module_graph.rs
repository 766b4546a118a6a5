//! burrow's modules depend one way: `cli` → (`build`, `doctor`) →
//! `container` → (`image`, `sandbox`, `cgroup`, `net`) → `config`, and no
//! two files of one module import each other. This test reads `src/` (no
//! build of burrow, no kernel), collects the `crate::` and `super::` paths
//! each file names outside its tests, and fails on a cycle between
//! top-level modules, on a cycle between the files of any module, and on
//! an import the layering forbids.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;
/// Import edges, `(from, to)`.
type Edges = BTreeSet<(String, String)>;

/// Every module of the library with its source, keyed by its path
/// (`net::ports`); `lib.rs`, `main.rs` and `bin/` are not modules.
fn modules() -> BTreeMap<Module, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut todo = vec![root.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|l| l == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] || module[0] == "bin" {
                continue;
            }
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The text without line comments and without the test module (tests may
/// reach anywhere).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The `crate::` and `super::` paths in `code`, a `use` group
/// (`super::{a, b::c}`) giving one path per member.
fn paths(code: &str) -> Vec<Vec<String>> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = [&b"crate::"[..], b"super::"]
            .iter()
            .any(|s| b[i..].starts_with(s))
            && (i == 0 || !ident(b[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut path = Vec::new();
        let mut j = i;
        loop {
            let s = j;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            path.push(code[s..j].to_string());
            if !b[j..].starts_with(b"::") {
                break;
            }
            j += 2;
            if b.get(j) == Some(&b'{') {
                let mut depth = 0;
                let mut member = String::new();
                let mut members = Vec::new();
                for &c in &b[j + 1..] {
                    match c {
                        b'{' => depth += 1,
                        b'}' if depth == 0 => break,
                        b'}' => depth -= 1,
                        b',' if depth == 0 => {
                            members.push(std::mem::take(&mut member));
                            continue;
                        }
                        _ => {}
                    }
                    member.push(c as char);
                }
                members.push(member);
                for m in members {
                    let first: String = m
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !first.is_empty() {
                        let mut p = path.clone();
                        p.push(first);
                        out.push(p);
                    }
                }
                path.clear();
                break;
            }
        }
        if !path.is_empty() {
            out.push(path);
        }
        i = j.max(i + 1);
    }
    out
}

/// The module a path names from `from`: the longest known module it
/// starts with (`crate::Error` is `error`'s, re-exported by lib.rs).
fn target(from: &Module, path: &[String], known: &BTreeSet<Module>) -> Option<Module> {
    let mut at: Module = Vec::new();
    let mut rest = path;
    if path[0] == "crate" {
        rest = &path[1..];
        if matches!(rest.first().map(String::as_str), Some("Error" | "Result")) {
            // Re-exported by lib.rs from `error`, which re-exports
            // `container::error`'s.
            return Some(vec!["error".into()]);
        }
    } else {
        at = from.clone();
        while rest.first().is_some_and(|s| s == "super") {
            at.pop();
            rest = &rest[1..];
        }
    }
    at.extend(rest.iter().filter(|s| *s != "self").cloned());
    while !at.is_empty() && !known.contains(&at) {
        at.pop();
    }
    (!at.is_empty()).then_some(at)
}

/// Edges between top-level modules, and between sibling modules (the two
/// children of their deepest common module that lead to each end).
fn edges() -> (Edges, Edges) {
    let modules = modules();
    let known: BTreeSet<Module> = modules.keys().cloned().collect();
    let mut top = BTreeSet::new();
    let mut siblings = BTreeSet::new();
    for (from, text) in &modules {
        for path in paths(&code(text)) {
            let Some(to) = target(from, &path, &known) else {
                continue;
            };
            if to[0] != from[0] {
                top.insert((from[0].clone(), to[0].clone()));
            }
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < from.len() && common < to.len() {
                siblings.insert((from[..=common].join("::"), to[..=common].join("::")));
            }
        }
    }
    (top, siblings)
}

/// The cycles (strongly connected components of more than one node).
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for (a, b) in edges {
                if *a == n && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for n in &nodes {
        let mut comp: Vec<String> = nodes
            .iter()
            .filter(|m| reach[*n].contains(**m) && reach[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        comp.sort();
        if comp.len() > 1 && !out.contains(&comp) {
            out.push(comp);
        }
    }
    out
}

#[test]
fn modules_and_files_import_each_other_one_way_only() {
    let (top, siblings) = edges();
    let mut found = cycles(&top);
    found.extend(cycles(&siblings));
    assert!(found.is_empty(), "import cycles: {found:?}");
}

#[test]
fn lower_modules_import_nothing_above_them() {
    let (top, _) = edges();
    // What each module must never import (DESIGN.md's layering).
    let forbidden: &[(&str, &[&str])] = &[
        ("container", &["cli", "build", "doctor", "error"]),
        (
            "image",
            &[
                "cli",
                "build",
                "container",
                "sandbox",
                "cgroup",
                "net",
                "error",
            ],
        ),
        (
            "sandbox",
            &[
                "cli",
                "build",
                "container",
                "image",
                "cgroup",
                "net",
                "error",
            ],
        ),
        (
            "cgroup",
            &[
                "cli",
                "build",
                "container",
                "image",
                "sandbox",
                "net",
                "error",
            ],
        ),
        (
            "net",
            &[
                "cli",
                "build",
                "container",
                "image",
                "sandbox",
                "cgroup",
                "error",
            ],
        ),
        (
            "notify",
            &[
                "cli",
                "build",
                "container",
                "image",
                "sandbox",
                "cgroup",
                "net",
                "doctor",
                "config",
            ],
        ),
        (
            "lockfile",
            &[
                "cli",
                "build",
                "container",
                "image",
                "sandbox",
                "cgroup",
                "net",
                "doctor",
                "config",
                "notify",
                "owners",
                "error",
            ],
        ),
        (
            "setns",
            &[
                "cli",
                "build",
                "container",
                "image",
                "sandbox",
                "cgroup",
                "net",
                "doctor",
                "config",
                "error",
            ],
        ),
        (
            "owners",
            &[
                "cli",
                "build",
                "container",
                "image",
                "sandbox",
                "cgroup",
                "net",
                "doctor",
                "config",
                "notify",
                "error",
            ],
        ),
        (
            "config",
            &[
                "cli",
                "build",
                "container",
                "image",
                "sandbox",
                "cgroup",
                "net",
                "doctor",
                "error",
            ],
        ),
    ];
    let bad: Vec<&(String, String)> = top
        .iter()
        .filter(|(from, to)| {
            forbidden
                .iter()
                .any(|(f, never)| f == from && never.contains(&to.as_str()))
        })
        .collect();
    assert!(bad.is_empty(), "imports against the layering: {bad:?}");
}

#[test]
fn the_reader_sees_groups_super_and_reexports() {
    let p =
        paths("use super::{direct::DirectPorts, NetError};\nlet x = crate::net::ports::parse(y);");
    assert_eq!(
        p,
        vec![
            vec!["super".to_string(), "direct".into()],
            vec!["super".to_string(), "NetError".into()],
            vec![
                "crate".to_string(),
                "net".into(),
                "ports".into(),
                "parse".into()
            ],
        ]
    );
    let known: BTreeSet<Module> = [
        vec!["net".into()],
        vec!["net".into(), "direct".into()],
        vec!["error".into()],
    ]
    .into_iter()
    .collect();
    let from: Module = vec!["net".into(), "ports".into()];
    assert_eq!(
        target(&from, &p[0], &known),
        Some(vec!["net".into(), "direct".into()])
    );
    assert_eq!(target(&from, &p[1], &known), Some(vec!["net".into()]));
    assert_eq!(
        target(&from, &["crate".into(), "Error".into()], &known),
        Some(vec!["error".into()])
    );
    let a: BTreeSet<(String, String)> = [("a", "b"), ("b", "a"), ("b", "c")]
        .iter()
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect();
    assert_eq!(cycles(&a), vec![vec!["a".to_string(), "b".into()]]);
}
