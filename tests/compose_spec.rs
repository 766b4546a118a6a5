//! burrow's compose files against the compose specification's JSON schema
//! (Debian's `docker-compose` ships it; burrow commits no copy, so a
//! machine without the package prints SKIP): every compose file of the
//! fixtures and the docs that burrow takes is valid under the schema (the
//! inline files of tests/compose.rs are checked by its `compose` helper);
//! bad files are refused by both, burrow naming file, line and key; where
//! the two differ, the test says so row by row; and the keys of the
//! specification burrow does not read are exactly the ones
//! docs/compose.md lists.

mod common;
#[path = "common/compose_spec.rs"]
mod compose_spec;

use common::{path_str, TestEnv, TestUser};
use compose_spec::{LATER_SPEC, SCHEMA};
use std::path::{Path, PathBuf};

/// The schema's validator, or `None` after a SKIP line; prints what was
/// added to the schema of 2021.
fn validator(test: &str) -> Option<&'static jsonschema::Validator> {
    let Some(v) = compose_spec::validator() else {
        println!(
            "SKIP {test}: no compose specification schema at {SCHEMA} (Debian's docker-compose, in .ci/packages.txt)"
        );
        return None;
    };
    for k in LATER_SPEC {
        println!(
            "added to Debian's schema of 2021, as the specification has it now: {}/{} ({})",
            k.at, k.key, k.why
        );
    }
    Some(v)
}

/// `burrow compose -f FILE config` of `text`, written as `name` in a
/// directory of its own under the work dir.
fn config(env: &TestEnv, dir: &str, name: &str, text: &str) -> common::Output {
    let dir = env.work.join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    let file = dir.join(name);
    common::fixtures::write_file(&file, text.as_bytes());
    env.run_env(
        &["compose", "-f", path_str(&file), "config"],
        &[("WEB_PORT", Some("8000"))],
    )
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The compose files under tests/fixtures, by the names compose looks for.
fn fixture_files(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            fixture_files(&path, out);
        } else if path.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            (n.starts_with("compose") || n.starts_with("docker-compose"))
                && (n.ends_with(".yaml") || n.ends_with(".yml"))
        }) {
            let name = path.strip_prefix(repo()).unwrap().display().to_string();
            out.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The compose files the docs write with `cat > compose.yaml <<'EOF'`.
fn doc_files(out: &mut Vec<(String, String)>) {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.push(repo().join("README.md"));
    pages.sort();
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let mut lines = text.lines().enumerate();
        while let Some((i, line)) = lines.next() {
            let l = line.trim();
            let is_compose = l.starts_with("cat > ")
                && (l.contains("compose.yaml <<") || l.contains("compose.yml <<"));
            if !is_compose {
                continue;
            }
            let end = l
                .rsplit("<<")
                .next()
                .unwrap()
                .trim()
                .trim_matches(['\'', '"']);
            let body: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| l.trim() != end)
                .collect();
            let name = format!("{}:{}", page.strip_prefix(repo()).unwrap().display(), i + 1);
            out.push((name, body.join("\n") + "\n"));
        }
    }
}

#[test]
fn every_compose_file_of_the_fixtures_and_docs_is_valid_under_the_specification() {
    const TEST: &str =
        "every_compose_file_of_the_fixtures_and_docs_is_valid_under_the_specification";
    let Some(v) = validator(TEST) else { return };
    let Some(env) = TestEnv::new(TEST, TestUser::Any) else {
        return;
    };
    let mut files = Vec::new();
    fixture_files(&repo().join("tests/fixtures"), &mut files);
    let fixtures = files.len();
    doc_files(&mut files);
    assert!(fixtures >= 1, "no compose file under tests/fixtures");
    assert!(files.len() > fixtures, "no compose file in the docs");
    for (i, (name, text)) in files.iter().enumerate() {
        // As burrow reads it: interpolated, merge keys applied.
        let out = config(&env, &format!("f{i}"), "compose.yaml", text);
        assert!(out.status.success(), "{name}: burrow refuses it\n{out}");
        compose_spec::assert_conforms(v, Path::new(name), &out.stdout);
        // As written, where nothing is left to interpolate.
        if !text.contains('$') {
            compose_spec::assert_conforms(v, Path::new(name), text);
        }
        println!("valid under the specification: {name}");
    }
}

/// A compose file that is wrong: what burrow says of it (`None`: burrow
/// takes it), and whether the schema refuses it.
struct Bad {
    yaml: &'static str,
    burrow: Option<&'static str>,
    schema_refuses: bool,
    /// Where the two differ: why.
    note: &'static str,
}

const BAD: &[Bad] = &[
    Bad {
        yaml: "services:\n  web:\n    image: x\nservces: {}\n",
        burrow: Some("compose.yaml:4: top level: unknown key \"servces\" (did you mean \"services\"?)"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    enviroment:\n      A: \"1\"\n",
        burrow: Some("compose.yaml:4: services.web: unknown key \"enviroment\" (did you mean \"environment\"?)"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  db:\n    image: x\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: service_healty\n",
        burrow: Some("compose.yaml:8: services.web.depends_on.condition: unknown variant `service_healty`"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    ports: 80\n",
        burrow: Some("compose.yaml:4: services.web.ports: "),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    ports:\n      - target: 80\n        publishd: 8080\n",
        burrow: Some("compose.yaml:6: services.web.ports: unknown key \"publishd\" (did you mean \"published\"?)"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    build:\n      context: .\n      dockerfil: Containerfile\n",
        burrow: Some("compose.yaml:5: services.web.build: unknown key \"dockerfil\" (did you mean \"dockerfile\"?)"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    healthcheck:\n      test: [CMD, \"true\"]\n      intervl: 1s\n",
        burrow: Some("compose.yaml:6: services.web.healthcheck: unknown key \"intervl\" (did you mean \"interval\"?)"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    networks:\n      back:\n        alias: [api]\nnetworks:\n  back: {}\n",
        burrow: Some("compose.yaml:6: services.web.networks: unknown key \"alias\" (did you mean \"aliases\"?)"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    volumes:\n      - source: data\n        target: /data\nvolumes:\n  data: {}\n",
        burrow: Some("compose.yaml:4: services.web.volumes: missing field `type`"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    environment: 5\n",
        burrow: Some("compose.yaml:4: services.web.environment: "),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\nvolumes:\n  data:\n    drivr: local\n",
        burrow: Some("compose.yaml:6: volumes.data: unknown key \"drivr\" (did you mean \"driver\"?)"),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    deploy:\n      resources:\n        limits: {memroy: 64m}\n",
        burrow: Some("compose.yaml:6: services.web.deploy: unknown key \"memroy\""),
        schema_refuses: true,
        note: "",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    healthcheck:\n      test: [CMD, \"true\"]\n      retries: many\n",
        burrow: Some("compose.yaml:6: services.web.healthcheck.retries: "),
        schema_refuses: true,
        note: "",
    },
    // Where the two differ.
    Bad {
        yaml: "services:\n  web:\n    image: x\n    privileged: true\n",
        burrow: Some("compose.yaml:4: services.web: unknown key \"privileged\""),
        schema_refuses: false,
        note: "a key of the specification burrow does not read is refused, never passed over (docs/compose.md lists them)",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    ports:\n      - \"127.0.0.1:8080:80\"\n      - target: 81\n        published: 8080\n",
        burrow: Some("compose.yaml:4: services.web.ports: host port 8080/tcp is published twice (\"127.0.0.1:8080:80\" and \"8080:81\")"),
        schema_refuses: false,
        note: "the schema takes one host port published for two container ports; burrow refuses it, as the second bind of the port would fail",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    scale: \"2\"\n",
        burrow: None,
        schema_refuses: true,
        note: "burrow reads a number given as a string, as `${VAR}` interpolation makes one; the schema wants an integer",
    },
    Bad {
        yaml: "services:\n  web:\n    image: x\n    ports: [\"8080:80\", \"8080:80\"]\n",
        burrow: Some("compose.yaml:4: services.web.ports: host port 8080/tcp is published twice (\"8080:80\" and \"8080:80\")"),
        schema_refuses: true,
        note: "",
    },
];

#[test]
fn bad_compose_files_are_refused_by_burrow_with_file_line_and_key_and_by_the_schema() {
    const TEST: &str =
        "bad_compose_files_are_refused_by_burrow_with_file_line_and_key_and_by_the_schema";
    let Some(v) = validator(TEST) else { return };
    let Some(env) = TestEnv::new(TEST, TestUser::Any) else {
        return;
    };
    for (i, bad) in BAD.iter().enumerate() {
        let out = config(&env, &format!("bad{i}"), "compose.yaml", bad.yaml);
        match bad.burrow {
            Some(want) => {
                assert!(!out.status.success(), "burrow took\n{}\n{out}", bad.yaml);
                assert!(
                    out.stderr.contains(want),
                    "burrow's error does not say {want:?}\n{out}"
                );
            }
            None => assert!(out.status.success(), "burrow refused\n{}\n{out}", bad.yaml),
        }
        let errors = compose_spec::errors(v, bad.yaml);
        assert_eq!(
            !errors.is_empty(),
            bad.schema_refuses,
            "the schema {} \n{}\n{errors:?}",
            if bad.schema_refuses {
                "takes"
            } else {
                "refuses"
            },
            bad.yaml
        );
        let differ = bad.burrow.is_some() != bad.schema_refuses;
        assert_eq!(
            differ,
            !bad.note.is_empty(),
            "a row where burrow and the schema differ says why, and only such a row:\n{}",
            bad.yaml
        );
        if differ {
            println!(
                "burrow {} and the schema {}: {}\n{}",
                if bad.burrow.is_some() {
                    "refuses"
                } else {
                    "takes"
                },
                if bad.schema_refuses {
                    "refuses"
                } else {
                    "takes"
                },
                bad.note,
                bad.yaml
            );
        }
    }
}

/// Where a key of the specification goes, for asking burrow whether it
/// reads it: a section's name (as docs/compose.md names it), the JSON
/// pointer of its keys in the schema, and a file with the key in it.
struct Section {
    name: &'static str,
    at: &'static str,
    file: fn(&str) -> String,
}

const SECTIONS: &[Section] = &[
    Section {
        name: "top level",
        at: "/properties",
        file: |k| format!("{k}: null\n"),
    },
    Section {
        name: "services.NAME",
        at: "/definitions/service/properties",
        file: |k| format!("services:\n  s:\n    {k}: null\n"),
    },
    Section {
        name: "build",
        at: "/definitions/service/properties/build/oneOf/1/properties",
        file: |k| format!("services:\n  s:\n    build:\n      {k}: null\n"),
    },
    Section {
        name: "ports (long form)",
        at: "/definitions/service/properties/ports/items/oneOf/2/properties",
        file: |k| match k {
            "target" => String::new(),
            k => format!("services:\n  s:\n    ports:\n      - target: 80\n        {k}: null\n"),
        },
    },
    Section {
        name: "volumes (long form)",
        at: "/definitions/service/properties/volumes/items/oneOf/1/properties",
        file: |k| match k {
            "type" | "target" => String::new(),
            k => format!(
                "services:\n  s:\n    volumes:\n      - type: tmpfs\n        target: /t\n        {k}: null\n"
            ),
        },
    },
    Section {
        name: "depends_on (long form)",
        at: "/definitions/service/properties/depends_on/oneOf/1/patternProperties/^[a-zA-Z0-9._-]+$/properties",
        file: |k| format!("services:\n  a: {{}}\n  s:\n    depends_on:\n      a:\n        {k}: null\n"),
    },
    Section {
        name: "networks of a service (long form)",
        at: "/definitions/service/properties/networks/oneOf/1/patternProperties/^[a-zA-Z0-9._-]+$/oneOf/0/properties",
        file: |k| format!("services:\n  s:\n    networks:\n      n:\n        {k}: null\nnetworks:\n  n: {{}}\n"),
    },
    Section {
        name: "secrets and configs of a service (long form)",
        at: "/definitions/service/properties/secrets/items/oneOf/1/properties",
        file: |k| match k {
            "source" => String::new(),
            k => format!("services:\n  s:\n    secrets:\n      - source: x\n        {k}: null\n"),
        },
    },
    Section {
        name: "healthcheck",
        at: "/definitions/healthcheck/properties",
        file: |k| format!("services:\n  s:\n    healthcheck:\n      {k}: null\n"),
    },
    Section {
        name: "deploy",
        at: "/definitions/deployment/properties",
        file: |k| format!("services:\n  s:\n    deploy:\n      {k}: null\n"),
    },
    Section {
        name: "deploy.resources.limits",
        at: "/definitions/deployment/properties/resources/properties/limits/properties",
        file: |k| format!("services:\n  s:\n    deploy:\n      resources:\n        limits:\n          {k}: null\n"),
    },
    Section {
        name: "top-level volumes",
        at: "/definitions/volume/properties",
        file: |k| format!("volumes:\n  v:\n    {k}: null\n"),
    },
    Section {
        name: "top-level networks",
        at: "/definitions/network/properties",
        file: |k| format!("networks:\n  n:\n    {k}: null\n"),
    },
    Section {
        name: "top-level secrets",
        at: "/definitions/secret/properties",
        file: |k| format!("secrets:\n  x:\n    {k}: null\n"),
    },
    Section {
        name: "top-level configs",
        at: "/definitions/config/properties",
        file: |k| format!("configs:\n  x:\n    {k}: null\n"),
    },
];

/// Each key the schema has, put in a file alone (its value null), and
/// given to burrow: the keys it refuses as unknown are the ones it does
/// not read. docs/compose.md must list exactly these, section by section,
/// one line each: "- SECTION: `a`, `b`".
#[test]
fn the_keys_of_the_specification_burrow_does_not_read_are_the_ones_the_docs_list() {
    const TEST: &str =
        "the_keys_of_the_specification_burrow_does_not_read_are_the_ones_the_docs_list";
    if validator(TEST).is_none() {
        return;
    }
    let Some(env) = TestEnv::new(TEST, TestUser::Any) else {
        return;
    };
    let text = std::fs::read_to_string(SCHEMA).unwrap();
    let schema = compose_spec::amended(serde_json::from_str(&text).unwrap());
    let mut lines = Vec::new();
    for (i, section) in SECTIONS.iter().enumerate() {
        let keys = schema
            .pointer(section.at)
            .and_then(|v| v.as_object())
            .unwrap_or_else(|| panic!("{SCHEMA}: no {}", section.at));
        let mut unread = Vec::new();
        for key in keys.keys() {
            let file = (section.file)(key);
            if file.is_empty() {
                continue;
            }
            let out = config(&env, &format!("s{i}"), "compose.yaml", &file);
            if out.stderr.contains(&format!("unknown key \"{key}\"")) {
                unread.push(format!("`{key}`"));
            }
        }
        if !unread.is_empty() {
            lines.push(format!("- {}: {}", section.name, unread.join(", ")));
        }
    }
    let docs = std::fs::read_to_string(repo().join("docs/compose.md")).unwrap();
    let listed: Vec<&str> = docs
        .lines()
        .skip_while(|l| !l.starts_with("Keys of the specification burrow does not read"))
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with("- "))
        .collect();
    assert_eq!(
        listed,
        lines,
        "docs/compose.md's list of the keys burrow does not read differs from what burrow refuses; it should be:\n{}",
        lines.join("\n")
    );
    println!(
        "keys of the specification burrow does not read:\n{}",
        lines.join("\n")
    );
}
