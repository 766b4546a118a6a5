//! `burrow run`: turns what the user asked for (a `RunSpec`) and what the
//! image says (its config) into the plain data the sandbox runs, creates the
//! container record, runs it in the foreground and records how it ended.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything `burrow run` was asked, as typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunSpec {
    pub image: String,
    pub command: Vec<String>,
    pub name: Option<String>,
    pub remove: bool,
    pub interactive: bool,
    pub tty: bool,
    pub env: Vec<String>,
    pub env_files: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<String>,
    pub volumes: Vec<String>,
    pub mounts: Vec<String>,
    pub tmpfs: Vec<String>,
    pub hostname: Option<String>,
    pub read_only: bool,
    pub init: bool,
    pub userns: Option<String>,
    pub security_opt: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub network: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error(
        "no command specified: the image has no Entrypoint or Cmd; give one after the image name"
    )]
    NoCommand,
    #[error("invalid volume {spec:?}: {why}")]
    Volume { spec: String, why: String },
    #[error("invalid --mount {spec:?}: {why}")]
    Mount { spec: String, why: String },
    #[error("invalid --tmpfs {spec:?}: {why}")]
    Tmpfs { spec: String, why: String },
    #[error("reading --env-file {path}: {why}")]
    EnvFile { path: PathBuf, why: String },
    #[error("invalid environment variable {0:?}: the name is empty")]
    Env(String),
    #[error("unknown capability {0:?} (see capabilities(7); CAP_ prefix optional)")]
    Capability(String),
    #[error("unsupported --security-opt {0:?}: burrow knows no-new-privileges")]
    SecurityOpt(String),
    #[error("unsupported --userns {0:?}: burrow knows keep-id (and the default, a full id map)")]
    Userns(String),
    #[error("unsupported --network {0:?}: only none is available yet")]
    Network(String),
}

/// A mount the user asked for, checked and made absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserMount {
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
        mode: Option<u32>,
    },
}

/// The command a container runs: docker's rules for Entrypoint and Cmd.
pub fn argv(
    entrypoint_flag: Option<&str>,
    command: &[String],
    image_entrypoint: &[String],
    image_cmd: &[String],
) -> Result<Vec<String>, SpecError> {
    let out: Vec<String> = match entrypoint_flag {
        // --entrypoint replaces the image's and drops its Cmd as well.
        Some("") => command.to_vec(),
        Some(ep) => std::iter::once(ep.to_string())
            .chain(command.iter().cloned())
            .collect(),
        None => {
            let cmd = if command.is_empty() {
                image_cmd
            } else {
                command
            };
            image_entrypoint.iter().chain(cmd).cloned().collect()
        }
    };
    if out.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(out)
}

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment: the image's, then --env-file lines, then -e, later
/// ones winning; `NAME` alone passes the caller's value on (or nothing).
pub fn environment(
    image_env: &[String],
    env_files: &[PathBuf],
    env: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SpecError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |entry: &str, vars: &mut Vec<(String, String)>| -> Result<(), SpecError> {
        let (name, value) = match entry.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => match lookup(entry) {
                Some(v) => (entry.to_string(), v),
                None => return Ok(()),
            },
        };
        if name.is_empty() {
            return Err(SpecError::Env(entry.to_string()));
        }
        vars.retain(|(n, _)| n != &name);
        vars.push((name, value));
        Ok(())
    };
    for e in image_env {
        set(e, &mut vars)?;
    }
    for path in env_files {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError::EnvFile {
            path: path.clone(),
            why: e.to_string(),
        })?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            set(line, &mut vars)?;
        }
    }
    for e in env {
        set(e, &mut vars)?;
    }
    if !vars.iter().any(|(n, _)| n == "PATH") {
        vars.insert(0, ("PATH".into(), DEFAULT_PATH["PATH=".len()..].into()));
    }
    Ok(vars.into_iter().map(|(n, v)| format!("{n}={v}")).collect())
}

fn absolute_source(raw: &str, cwd: &Path) -> PathBuf {
    let p = Path::new(raw);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

fn check_target(target: &str) -> Result<(), String> {
    if !target.starts_with('/') {
        return Err(format!("the container path {target:?} must be absolute"));
    }
    if target.split('/').any(|c| c == "..") {
        return Err(format!("the container path {target:?} may not contain .."));
    }
    Ok(())
}

/// `-v HOST:CONTAINER[:ro|rw]`.
pub fn parse_volume(spec: &str, cwd: &Path) -> Result<UserMount, SpecError> {
    let err = |why: String| SpecError::Volume {
        spec: spec.to_string(),
        why,
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => return Err(err("expected HOST:CONTAINER[:ro]".into())),
    };
    if source.is_empty() {
        return Err(err("the host path is empty".into()));
    }
    if !source.starts_with('/') && !source.starts_with('.') && !source.starts_with('~') {
        return Err(err(
            "named volumes are not supported; give a host path (absolute, or starting with ./)"
                .into(),
        ));
    }
    check_target(target).map_err(err)?;
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" => {} // SELinux relabelling: nothing to do here
            other => return Err(err(format!("unknown option {other:?} (ro, rw)"))),
        }
    }
    let source = if let Some(rest) = source.strip_prefix('~') {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(rest.trim_start_matches('/'))
    } else {
        absolute_source(source, cwd)
    };
    if !source.exists() {
        return Err(err(format!(
            "the host path {} does not exist; create it first",
            source.display()
        )));
    }
    Ok(UserMount::Bind {
        source,
        target: target.to_string(),
        read_only,
    })
}

/// A size as tmpfs takes it: 64m, 1g, 4096.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        'b' => (&s[..s.len() - 1], 1),
        _ => (&s[..], 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// `--mount type=bind,source=...,target=...[,readonly]` or `type=tmpfs,...`.
pub fn parse_mount(spec: &str, cwd: &Path) -> Result<UserMount, SpecError> {
    let err = |why: String| SpecError::Mount {
        spec: spec.to_string(),
        why,
    };
    let (mut kind, mut source, mut target, mut ro, mut size, mut mode) =
        (None, None, None, false, None, None);
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match (k, v) {
            ("type", Some(v)) => kind = Some(v.to_string()),
            ("source" | "src", Some(v)) => source = Some(v.to_string()),
            ("target" | "dst" | "destination", Some(v)) => target = Some(v.to_string()),
            ("readonly" | "ro", None | Some("true" | "1")) => ro = true,
            ("readonly" | "ro", Some("false" | "0")) => ro = false,
            ("tmpfs-size", Some(v)) => {
                size = Some(parse_size(v).ok_or_else(|| err(format!("bad size {v:?}")))?)
            }
            ("tmpfs-mode", Some(v)) => {
                mode = Some(
                    u32::from_str_radix(v, 8).map_err(|_| err(format!("bad octal mode {v:?}")))?,
                )
            }
            ("bind-propagation" | "relabel" | "consistency", _) => {}
            _ => return Err(err(format!("unknown field {field:?}"))),
        }
    }
    let target = target.ok_or_else(|| err("target= is required".into()))?;
    check_target(&target).map_err(err)?;
    match kind.as_deref() {
        Some("bind") => {
            let raw = source.ok_or_else(|| err("source= is required for type=bind".into()))?;
            let source = absolute_source(&raw, cwd);
            if !source.exists() {
                return Err(err(format!(
                    "the host path {} does not exist; create it first",
                    source.display()
                )));
            }
            Ok(UserMount::Bind {
                source,
                target,
                read_only: ro,
            })
        }
        Some("tmpfs") => Ok(UserMount::Tmpfs { target, size, mode }),
        Some(other) => Err(err(format!("type={other} is not supported (bind, tmpfs)"))),
        None => Err(err("type= is required (bind, tmpfs)".into())),
    }
}

/// `--tmpfs PATH[:size=...,mode=...]`.
pub fn parse_tmpfs(spec: &str) -> Result<UserMount, SpecError> {
    let err = |why: String| SpecError::Tmpfs {
        spec: spec.to_string(),
        why,
    };
    let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
    check_target(target).map_err(err)?;
    let (mut size, mut mode) = (None, None);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", v)) => {
                size = Some(parse_size(v).ok_or_else(|| err(format!("bad size {v:?}")))?)
            }
            Some(("mode", v)) => {
                mode = Some(
                    u32::from_str_radix(v, 8).map_err(|_| err(format!("bad octal mode {v:?}")))?,
                )
            }
            _ if matches!(
                o,
                "rw" | "noexec" | "nosuid" | "nodev" | "exec" | "suid" | "dev"
            ) => {}
            _ => return Err(err(format!("unknown option {o:?} (size=, mode=)"))),
        }
    }
    Ok(UserMount::Tmpfs {
        target: target.to_string(),
        size,
        mode,
    })
}

/// docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability name the kernel knows, by number.
pub const ALL_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

fn cap_name(raw: &str) -> Result<String, SpecError> {
    let up = raw.to_ascii_uppercase();
    let name = up.strip_prefix("CAP_").unwrap_or(&up).to_string();
    if name == "ALL" || ALL_CAPS.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(SpecError::Capability(raw.to_string()))
    }
}

/// The capability numbers a container keeps: docker's default set, with
/// --cap-add and --cap-drop applied (drop first, as docker does, so
/// `--cap-drop ALL --cap-add X` keeps X).
pub fn capabilities(add: &[String], drop: &[String]) -> Result<Vec<u32>, SpecError> {
    let add = add
        .iter()
        .map(|c| cap_name(c))
        .collect::<Result<Vec<_>, _>>()?;
    let drop = drop
        .iter()
        .map(|c| cap_name(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut keep: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    if drop.iter().any(|d| d == "ALL") {
        keep.clear();
    }
    keep.retain(|c| !drop.contains(c));
    if add.iter().any(|a| a == "ALL") {
        keep = ALL_CAPS.iter().map(|s| s.to_string()).collect();
    }
    for a in add.into_iter().filter(|a| a != "ALL") {
        if !keep.contains(&a) {
            keep.push(a);
        }
    }
    let mut nums: Vec<u32> = keep
        .iter()
        .filter_map(|c| ALL_CAPS.iter().position(|k| k == c).map(|i| i as u32))
        .collect();
    nums.sort_unstable();
    Ok(nums)
}

/// Whether --security-opt asks for no_new_privs; refuses what burrow does
/// not implement rather than ignoring it.
pub fn no_new_privileges(opts: &[String]) -> Result<bool, SpecError> {
    let mut nnp = false;
    for o in opts {
        match o.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => nnp = true,
            "no-new-privileges:false" | "no-new-privileges=false" => nnp = false,
            other => return Err(SpecError::SecurityOpt(other.to_string())),
        }
    }
    Ok(nnp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_combine_as_docker_does() {
        let ep = v(&["/entry", "-x"]);
        let cmd = v(&["default"]);
        assert_eq!(
            argv(None, &[], &ep, &cmd).unwrap(),
            v(&["/entry", "-x", "default"])
        );
        assert_eq!(
            argv(None, &v(&["mine"]), &ep, &cmd).unwrap(),
            v(&["/entry", "-x", "mine"])
        );
        assert_eq!(argv(None, &v(&["sh"]), &[], &cmd).unwrap(), v(&["sh"]));
        assert_eq!(
            argv(Some("/other"), &[], &ep, &cmd).unwrap(),
            v(&["/other"])
        );
        assert_eq!(
            argv(Some("/other"), &v(&["a"]), &ep, &cmd).unwrap(),
            v(&["/other", "a"])
        );
        assert_eq!(argv(Some(""), &v(&["ls"]), &ep, &cmd).unwrap(), v(&["ls"]));
        assert_eq!(argv(None, &[], &[], &[]), Err(SpecError::NoCommand));
        assert_eq!(argv(Some(""), &[], &ep, &cmd), Err(SpecError::NoCommand));
    }

    #[test]
    fn environment_layers_image_files_and_flags() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("env");
        std::fs::write(&f, "# comment\nA=file\nB=file\n\nFROMHOST\n").unwrap();
        let host = |n: &str| (n == "FROMHOST" || n == "C").then(|| format!("host-{n}"));
        let env = environment(
            &v(&["PATH=/bin", "A=image"]),
            &[f],
            &v(&["B=flag", "C", "UNSET"]),
            host,
        )
        .unwrap();
        assert_eq!(
            env,
            v(&[
                "PATH=/bin",
                "A=file",
                "FROMHOST=host-FROMHOST",
                "B=flag",
                "C=host-C"
            ])
        );
        let env = environment(&[], &[], &[], |_| None).unwrap();
        assert_eq!(env, v(&[DEFAULT_PATH]));
        assert_eq!(
            environment(&[], &[], &v(&["=x"]), |_| None),
            Err(SpecError::Env("=x".into()))
        );
    }

    #[test]
    fn volumes_mounts_and_tmpfs_parse_with_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path().to_str().unwrap();
        assert_eq!(
            parse_volume(&format!("{host}:/data:ro"), d.path()).unwrap(),
            UserMount::Bind {
                source: d.path().into(),
                target: "/data".into(),
                read_only: true
            }
        );
        assert_eq!(
            parse_volume(".:/src", d.path()).unwrap(),
            UserMount::Bind {
                source: d.path().join("."),
                target: "/src".into(),
                read_only: false
            }
        );
        let missing = parse_volume("/no/such/dir:/x", d.path())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("does not exist"), "{missing}");
        assert!(parse_volume("named:/x", d.path())
            .unwrap_err()
            .to_string()
            .contains("named volumes"));
        assert!(parse_volume(&format!("{host}:relative"), d.path()).is_err());
        assert!(parse_volume(&format!("{host}:/x:bogus"), d.path()).is_err());
        assert_eq!(
            parse_mount(
                "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777",
                d.path()
            )
            .unwrap(),
            UserMount::Tmpfs {
                target: "/t".into(),
                size: Some(64 << 20),
                mode: Some(0o1777)
            }
        );
        assert_eq!(
            parse_mount(&format!("type=bind,src={host},dst=/d,readonly"), d.path()).unwrap(),
            UserMount::Bind {
                source: d.path().into(),
                target: "/d".into(),
                read_only: true
            }
        );
        assert!(parse_mount("type=volume,target=/x", d.path()).is_err());
        assert!(parse_mount("type=bind,target=/x", d.path()).is_err());
        assert_eq!(
            parse_tmpfs("/run:size=1g").unwrap(),
            UserMount::Tmpfs {
                target: "/run".into(),
                size: Some(1 << 30),
                mode: None
            }
        );
        assert!(parse_tmpfs("/run/../x").is_err());
    }

    #[test]
    fn capabilities_follow_docker_defaults_add_and_drop() {
        let default = capabilities(&[], &[]).unwrap();
        assert_eq!(default.len(), DEFAULT_CAPS.len());
        assert!(default.contains(&0)); // CHOWN
        assert!(!default.contains(&21)); // SYS_ADMIN
        let more = capabilities(&v(&["sys_admin"]), &v(&["CAP_NET_RAW"])).unwrap();
        assert!(more.contains(&21) && !more.contains(&13));
        assert_eq!(capabilities(&v(&["KILL"]), &v(&["ALL"])).unwrap(), vec![5]);
        assert_eq!(
            capabilities(&v(&["ALL"]), &[]).unwrap().len(),
            ALL_CAPS.len()
        );
        assert_eq!(
            capabilities(&v(&["NOPE"]), &[]),
            Err(SpecError::Capability("NOPE".into()))
        );
    }

    #[test]
    fn security_opts_are_checked() {
        assert!(no_new_privileges(&v(&["no-new-privileges"])).unwrap());
        assert!(!no_new_privileges(&[]).unwrap());
        assert!(no_new_privileges(&v(&["seccomp=unconfined"])).is_err());
    }
}
