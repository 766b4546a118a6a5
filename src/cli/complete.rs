//! Dynamic shell completion: the scripts in completions/ call burrow back
//! (`BURROW_COMPLETE=bash burrow -- WORDS`), which answers from clap's
//! definitions plus the names in this user's store: containers, images and
//! volumes. Completion never prints a warning and never fails loudly: an
//! unreadable store completes nothing.

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use std::ffi::OsStr;

/// The environment variable the completion scripts set.
pub const VAR: &str = "BURROW_COMPLETE";

/// Answers a completion request and exits, when the shell asked for one;
/// returns otherwise. Called first thing in `main`.
pub fn answer_if_asked() {
    // clap_complete asks for the working directory before it reads the
    // variable: a getcwd on every command that is no completion. An unset,
    // empty or "0" variable is no request there either.
    match std::env::var_os(VAR) {
        Some(v) if !v.is_empty() && v != "0" => {}
        _ => return,
    }
    clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .complete();
}

/// burrow's command with a name completer on each argument that takes a
/// container, an image or a volume.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    with_completers(super::Cli::command(), &[])
}

#[derive(Clone, Copy)]
enum Kind {
    Container,
    Image,
    /// `-v NAME:/path`: a volume name followed by its colon.
    VolumeMount,
    Volume,
}

/// Which names an argument takes, from its id and the command it is in.
fn kind_of(path: &[&str], arg: &clap::Arg) -> Option<Kind> {
    let id = arg.get_id().as_str();
    let command = path.last().copied().unwrap_or_default();
    let in_volume = path.contains(&"volume");
    if arg.is_positional() {
        return match id {
            _ if in_volume && command != "create" && command != "prune" => Some(Kind::Volume),
            "container" | "containers" => Some(Kind::Container),
            "image" | "images" => Some(Kind::Image),
            // tag SOURCE
            "source" if command == "tag" => Some(Kind::Image),
            // inspect takes both; the lists are joined.
            "names" if command == "inspect" => Some(Kind::Container),
            _ => None,
        };
    }
    (id == "volume" && matches!(command, "run" | "create")).then_some(Kind::VolumeMount)
}

fn with_completers(cmd: clap::Command, parents: &[&str]) -> clap::Command {
    let name = cmd.get_name().to_string();
    let mut path: Vec<&str> = parents.to_vec();
    path.push(&name);
    let kinds: Vec<(clap::Id, Kind)> = cmd
        .get_arguments()
        .filter_map(|a| kind_of(&path, a).map(|k| (a.get_id().clone(), k)))
        .collect();
    let both = path.last() == Some(&"inspect") && path.len() == 2;
    // In place: mut_arg would move the argument last, and a positional's
    // order is its meaning.
    let mut cmd = cmd.mut_args(|a| {
        let Some(kind) = kinds
            .iter()
            .find(|(id, _)| id == a.get_id())
            .map(|(_, k)| *k)
        else {
            return a;
        };
        a.add(ArgValueCompleter::new(move |current: &OsStr| {
            let mut names = candidates(kind);
            if both {
                names.extend(candidates(Kind::Image));
            }
            matching(names, current)
        }))
    });
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in subs {
        let path = path.clone();
        cmd = cmd.mut_subcommand(sub, move |s| with_completers(s, &path));
    }
    cmd
}

fn matching(names: Vec<String>, current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with(current.as_ref()))
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// The names of one kind in this user's store; nothing when it cannot be
/// read.
fn candidates(kind: Kind) -> Vec<String> {
    match kind {
        Kind::Container => containers(),
        Kind::Image => images(),
        Kind::Volume => volumes(),
        Kind::VolumeMount => volumes().into_iter().map(|v| v + ":").collect(),
    }
}

fn store_paths() -> Option<crate::config::Paths> {
    crate::config::load().ok().map(|(_, paths)| paths)
}

fn containers() -> Vec<String> {
    let Some(paths) = store_paths() else {
        return Vec::new();
    };
    crate::container::record::Containers::open(&paths.storage)
        .and_then(|c| c.list())
        .map(|list| list.into_iter().map(|(r, _)| r.name).collect())
        .unwrap_or_default()
}

fn images() -> Vec<String> {
    let Some(paths) = store_paths() else {
        return Vec::new();
    };
    crate::image::store::Store::open(&paths.storage)
        .and_then(|s| s.images())
        .map(|all| {
            all.into_iter()
                .flat_map(|e| e.names)
                .flat_map(forms)
                .collect()
        })
        .unwrap_or_default()
}

/// A stored name and the short forms that resolve to it as a user types
/// them: `localhost/app:1` is also `app:1`, `docker.io/library/debian:12`
/// also `debian:12`.
fn forms(name: String) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(short) = name.strip_prefix("localhost/") {
        out.push(short.to_string());
    } else if let Ok(r) = crate::image::Reference::parse(&name) {
        out.push(r.familiar());
    }
    out.push(name);
    out
}

/// Volume names from `burrow volume ls -q`, when this burrow has volumes.
fn volumes() -> Vec<String> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    std::process::Command::new(exe)
        .args(["volume", "ls", "-q"])
        .env_remove(VAR)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completer_on(cmd: &clap::Command, path: &[&str], arg: &str) -> bool {
        let mut c = cmd;
        for p in path {
            c = c.find_subcommand(p).unwrap_or_else(|| panic!("no {p}"));
        }
        let a = c
            .get_arguments()
            .find(|a| a.get_id() == arg)
            .unwrap_or_else(|| panic!("no {arg} in {path:?}"));
        a.get::<ArgValueCompleter>().is_some()
    }

    #[test]
    fn name_arguments_get_a_completer_and_others_do_not() {
        let cmd = command();
        assert!(completer_on(&cmd, &["start"], "containers"));
        assert!(completer_on(&cmd, &["exec"], "container"));
        assert!(completer_on(&cmd, &["container", "rm"], "containers"));
        assert!(completer_on(&cmd, &["run"], "image"));
        assert!(completer_on(&cmd, &["run"], "volume"));
        assert!(completer_on(&cmd, &["rmi"], "images"));
        assert!(completer_on(&cmd, &["tag"], "source"));
        assert!(completer_on(&cmd, &["inspect"], "names"));
        assert!(!completer_on(&cmd, &["run"], "name"));
        assert!(!completer_on(&cmd, &["tag"], "targets"));
        assert!(completer_on(&cmd, &["volume", "rm"], "names"));
        assert!(completer_on(&cmd, &["volume", "inspect"], "names"));
        assert!(!completer_on(&cmd, &["volume", "create"], "name"));
    }

    #[test]
    fn userns_modes_are_offered_and_every_one_parses() {
        let cmd = command();
        let userns = (cmd.find_subcommand("run").unwrap().get_arguments())
            .find(|a| a.get_id() == "userns")
            .unwrap();
        let offered: Vec<String> = (userns.get_possible_values().iter())
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        assert_eq!(offered, ["keep-id", "emulate"]);
        for v in userns.get_possible_values() {
            assert!(crate::cli::values::userns(v.get_name()).is_ok());
        }
    }

    #[test]
    fn image_names_complete_in_their_short_forms_too() {
        assert_eq!(
            forms("localhost/app:1".into()),
            ["app:1", "localhost/app:1"]
        );
        assert_eq!(
            forms("docker.io/library/debian:12".into()),
            ["debian:12", "docker.io/library/debian:12"]
        );
    }
}
