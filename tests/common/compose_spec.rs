//! The compose specification's JSON schema, as Debian ships it (package
//! `docker-compose`, the schema of 2021), with the keys the specification
//! gained since that burrow reads added here one by one, by name, never by
//! loosening the rest; and a check of a compose file against it. burrow
//! commits no copy of the schema: a machine without the package skips.
//! Included as a module of its own by the tests that use it (the crate
//! `jsonschema` is linked only into them).
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;

/// Where Debian's `docker-compose` (1.29.2) installs the schema.
pub const SCHEMA: &str = "/usr/lib/python3/dist-packages/compose/config/compose_spec.json";

/// A change to the 2021 schema: what the specification says now.
pub enum Change {
    /// A key the specification gained (it must be absent from the file).
    Add(Value),
    /// A key whose definition the specification widened.
    Replace(Value),
    /// A constraint the specification dropped.
    Remove,
}

/// One key the specification gained after 2021 that burrow reads: the
/// JSON pointer of the object it goes in, the key, the change and why.
pub struct LaterKey {
    pub at: &'static str,
    pub key: &'static str,
    pub change: fn() -> Change,
    pub why: &'static str,
}

const DEPENDENCY: &str =
    "/definitions/service/properties/depends_on/oneOf/1/patternProperties/^[a-zA-Z0-9._-]+$";
const DEPENDENCY_PROPERTIES: &str = "/definitions/service/properties/depends_on/oneOf/1/patternProperties/^[a-zA-Z0-9._-]+$/properties";
const PORT: &str = "/definitions/service/properties/ports/items/oneOf/2/properties";

/// Every change made to Debian's schema, printed by the tests that use it.
pub const LATER_SPEC: &[LaterKey] = &[
    LaterKey {
        at: "/properties",
        key: "name",
        change: || Change::Add(json!({"type": "string"})),
        why: "the top-level `name` (the project's name)",
    },
    LaterKey {
        at: "/definitions/secret/properties",
        key: "environment",
        change: || Change::Add(json!({"type": "string"})),
        why: "a secret's value from an environment variable",
    },
    LaterKey {
        at: "/definitions/config/properties",
        key: "environment",
        change: || Change::Add(json!({"type": "string"})),
        why: "a config's value from an environment variable",
    },
    LaterKey {
        at: "/definitions/config/properties",
        key: "content",
        change: || Change::Add(json!({"type": "string"})),
        why: "a config's content given inline",
    },
    LaterKey {
        at: "/definitions/healthcheck/properties",
        key: "start_interval",
        change: || Change::Add(json!({"type": "string", "format": "duration"})),
        why: "a health check's interval during its start period",
    },
    LaterKey {
        at: DEPENDENCY,
        key: "required",
        change: || Change::Remove,
        why: "a long-form depends_on entry without `condition` (service_started)",
    },
    LaterKey {
        at: DEPENDENCY_PROPERTIES,
        key: "restart",
        change: || Change::Add(json!({"type": ["boolean", "string"]})),
        why: "depends_on's `restart`",
    },
    LaterKey {
        at: DEPENDENCY_PROPERTIES,
        key: "required",
        change: || Change::Add(json!({"type": "boolean"})),
        why: "depends_on's `required`",
    },
    LaterKey {
        at: PORT,
        key: "host_ip",
        change: || Change::Add(json!({"type": "string"})),
        why: "a long-form port's host address",
    },
    LaterKey {
        at: PORT,
        key: "name",
        change: || Change::Add(json!({"type": "string"})),
        why: "a long-form port's name",
    },
    LaterKey {
        at: PORT,
        key: "target",
        change: || Change::Replace(json!({"type": ["integer", "string"]})),
        why: "a long-form port's target as a string too",
    },
    LaterKey {
        at: PORT,
        key: "published",
        change: || Change::Replace(json!({"type": ["string", "integer"]})),
        why: "a long-form port's published port as a string (a range) too",
    },
    LaterKey {
        at: "/definitions/service/properties/build/oneOf/1/properties",
        key: "additional_contexts",
        change: || Change::Add(json!({"$ref": "#/definitions/list_or_dict"})),
        why: "a build's named contexts (`build --build-context`)",
    },
    LaterKey {
        at: "/definitions/deployment/properties/resources/properties/limits/properties",
        key: "pids",
        change: || Change::Add(json!({"type": ["integer", "string"]})),
        why: "deploy.resources.limits.pids",
    },
];

/// The schema with `LATER_SPEC` applied. Panics when a change no longer
/// fits the file (a key added that is there already, or one removed or
/// replaced that is not): the list must then be looked at again.
pub fn amended(mut schema: Value) -> Value {
    for k in LATER_SPEC {
        let obj = schema
            .pointer_mut(k.at)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("{SCHEMA}: no object at {}", k.at));
        let had = obj.contains_key(k.key);
        match (k.change)() {
            Change::Add(v) => {
                assert!(
                    !had,
                    "{SCHEMA} has {}/{} already: drop it from LATER_SPEC",
                    k.at, k.key
                );
                obj.insert(k.key.into(), v);
            }
            Change::Replace(v) => {
                assert!(had, "{SCHEMA} has no {}/{} to replace", k.at, k.key);
                obj.insert(k.key.into(), v);
            }
            Change::Remove => {
                assert!(had, "{SCHEMA} has no {}/{} to remove", k.at, k.key);
                obj.remove(k.key);
            }
        }
    }
    schema
}

/// The validator of the amended schema, or `None` when Debian's schema is
/// not installed.
pub fn validator() -> Option<&'static jsonschema::Validator> {
    static V: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(SCHEMA).ok()?;
        let schema: Value = serde_json::from_str(&text).expect("Debian's compose schema is JSON");
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft201909)
            .build(&amended(schema))
            .expect("the compose schema compiles");
        Some(v)
    })
    .as_ref()
}

/// A compose file's YAML (merge keys applied) as JSON, as the schema reads it.
pub fn to_json(yaml: &str) -> Result<Value, String> {
    let mut v: serde_norway::Value = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
    v.apply_merge().map_err(|e| e.to_string())?;
    serde_json::to_value(&v).map_err(|e| e.to_string())
}

/// What the schema says of a compose file: each error with where it is.
pub fn errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let doc = match to_json(yaml) {
        Ok(d) => d,
        Err(e) => return vec![format!("not YAML the schema can read: {e}")],
    };
    validator
        .iter_errors(&doc)
        .map(|e| match e.instance_path().to_string() {
            at if at.is_empty() => format!("the top level: {e}"),
            at => format!("{at}: {e}"),
        })
        .collect()
}

/// The schema accepts `yaml` (burrow's `compose config` of `file`),
/// else a panic that lists why.
pub fn assert_conforms(validator: &jsonschema::Validator, file: &Path, yaml: &str) {
    let errs = errors(validator, yaml);
    assert!(
        errs.is_empty(),
        "{}: burrow took it, the compose specification's schema ({SCHEMA}, with the later keys of LATER_SPEC) refuses it:\n{}\n--- the file as burrow read it:\n{yaml}",
        file.display(),
        errs.join("\n")
    );
}
