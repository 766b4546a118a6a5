//! Records as burrow wrote them before `Record.config` and `Record.id_map`
//! were typed (`record-*.json`, made by `run` of that version) load into
//! the typed record, and `inspect` shows them as it did.

use super::*;

/// Records as burrow wrote them before the record was typed (made by
/// `run` of that version: every setting given, and none).
const OLD_FULL: &str = include_str!("record-full.json");
const OLD_PLAIN: &str = include_str!("record-plain.json");

#[test]
fn records_written_before_the_typed_config_load_and_render_the_same() {
    let r: Record = serde_json::from_str(OLD_FULL).unwrap();
    let c = &r.config;
    assert_eq!(c.cmd, ["true"]);
    assert_eq!(
        c.env,
        ["PATH=/bin", "FROM_IMAGE=1", "A=b", "HOSTNAME=fixhost"]
    );
    assert_eq!((c.working_dir.as_str(), c.user.as_str()), ("/srv", "1:1"));
    assert_eq!(c.hostname, "fixhost");
    assert!(c.init && c.read_only && c.no_new_privileges);
    assert!(!c.tty && !c.open_stdin && !c.privileged);
    assert_eq!(c.userns_mode.as_deref(), Some("keep-id"));
    assert_eq!(c.network_mode, NetworkMode::User);
    assert_eq!(c.restart_policy, RestartPolicy::OnFailure(Some(3)));
    assert_eq!(c.stop_signal, libc::SIGTERM);
    assert_eq!(
        (c.cap_add.clone(), c.cap_drop.clone()),
        (vec!["NET_ADMIN".to_string()], vec!["CHOWN".to_string()])
    );
    assert_eq!(
        c.mounts[2],
        UserMount::Tmpfs {
            target: "/scratch".into(),
            size: Some(1 << 20),
            mode: Some(0o1777)
        }
    );
    assert!(
        matches!(&c.mounts[0], UserMount::Bind { target, read_only: true, .. } if target == "/data")
    );
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.ports[0].to_string(), "80/tcp -> 127.0.0.1:18089");
    assert_eq!(c.ports[1].proto, crate::net::PortProto::Udp);
    assert_eq!(r.id_map.host_uid(1001), Some(1001));
    assert_eq!(r.id_map.host_gid(0), Some(101000));

    let p: Record = serde_json::from_str(OLD_PLAIN).unwrap();
    assert_eq!(p.config.network_mode, NetworkMode::None);
    assert_eq!(p.config.restart_policy, RestartPolicy::No);
    assert_eq!(p.config.userns_mode, None);
    assert!(p.config.mounts.is_empty() && p.config.ports.is_empty());

    // What `inspect` shows (`Config`, `IdMap`) is what it showed from
    // the untyped record, key for key, with the keys added since (docker's
    // Attach*, the streams a foreground run had then: both outputs); and
    // a record written again reads back the same.
    for text in [OLD_FULL, OLD_PLAIN] {
        let old: serde_json::Value = serde_json::from_str(text).unwrap();
        let r: Record = serde_json::from_str(text).unwrap();
        let mut shown = serde_json::to_value(&r.config).unwrap();
        let added = ["AttachStdin", "AttachStdout", "AttachStderr"]
            .map(|k| shown.as_object_mut().unwrap().remove(k));
        let yes = |b| Some(serde_json::Value::Bool(b));
        assert_eq!(added, [yes(false), yes(true), yes(true)]);
        assert_eq!(shown, old["config"]);
        assert_eq!(serde_json::to_value(&r.id_map).unwrap(), old["id_map"]);
        let again: Record = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(again.config, r.config);
    }
}

#[test]
fn a_record_missing_settings_takes_their_defaults() {
    let text = r#"{"id":"x","name":"n","image_id":"sha256:116a729d0ee6f4c3fc04e3a6354f4fadd8a2ad45ec8dffca00122d92b3b2181b","image":"i","created":"2026-01-01T00:00:00Z","config":{"Cmd":["sh"]},"id_map":{"uids":[],"gids":[]}}"#;
    let r: Record = serde_json::from_str(text).unwrap();
    assert_eq!(r.config.cmd, ["sh"]);
    assert_eq!(r.config.stop_signal, libc::SIGTERM);
    assert_eq!(r.config.network_mode, NetworkMode::User);
    assert_eq!(r.config.working_dir, "/");
}
