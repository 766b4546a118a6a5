//! The packages: the .deb that packaging/deb/build.sh makes is installed
//! with dpkg into a fresh directory tree and its contents checked (the
//! binary runs, completions, man pages, AppArmor profile and config are
//! where distributions look for them); the RPM spec, PKGBUILD and Nix
//! derivation install through the same packaging/install.sh and carry the
//! same version.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIP {program} is not installed");
    }
    found
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    out
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{} is missing: {e}", path.display()))
}

/// A fresh dpkg database under `root`, as an empty system has it.
fn fresh_root(root: &Path) {
    for d in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        fs::write(root.join(f), "").unwrap();
    }
}

fn dpkg(root: &Path) -> Command {
    let mut cmd = Command::new("dpkg");
    // dpkg checks that ldconfig and start-stop-daemon are on PATH, and an
    // ordinary user's PATH on Debian has no sbin directories.
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{path}:/usr/local/sbin:/usr/sbin:/sbin"));
    cmd.arg(format!("--root={}", root.display())).args([
        "--force-not-root",
        "--force-script-chrootless",
        "--log=/dev/null",
    ]);
    cmd
}

#[test]
fn deb_installs_binary_completions_man_pages_profile_and_config() {
    if !have("dpkg-deb") || !have("dpkg") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = run(Command::new(repo().join("packaging/deb/build.sh"))
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_burrow"),
            "--compress",
            "gzip",
            "--out",
        ])
        .arg(tmp.path()));
    let deb = PathBuf::from(stdout(&out).trim());
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        deb.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("burrow_{version}_")),
        "{}",
        deb.display()
    );

    let field = |name: &str| {
        stdout(&run(Command::new("dpkg-deb")
            .arg("--field")
            .arg(&deb)
            .arg(name)))
        .trim()
        .to_string()
    };
    assert_eq!(field("Package"), "burrow");
    assert_eq!(field("Version"), version);
    assert!(
        field("Depends").split(", ").any(|d| d == "uidmap"),
        "{}",
        field("Depends")
    );
    assert_eq!(field("Recommends"), "fuse-overlayfs");
    // A binary with packed relative relocations needs glibc 2.36's loader,
    // which no GLIBC_2.x symbol version says.
    let binary = read(Path::new(env!("CARGO_BIN_EXE_burrow")));
    if binary.windows(17).any(|w| w == b"GLIBC_ABI_DT_RELR") {
        assert!(
            field("Depends").split(", ").any(|d| d == "libc6 (>= 2.36)"),
            "{}",
            field("Depends")
        );
    }
    // Packed as root's, whoever built it.
    let listing = stdout(&run(Command::new("dpkg-deb").arg("--contents").arg(&deb)));
    assert!(
        listing.lines().all(|l| l.contains(" root/root ")),
        "{listing}"
    );

    // Installed by dpkg into an empty system: only libc6 and uidmap are
    // missing there, which is what the package depends on.
    let root = tmp.path().join("root");
    fresh_root(&root);
    let out = dpkg(&root)
        .arg("--force-depends")
        .arg("-i")
        .arg(&deb)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dpkg -i: {said}");
    assert!(said.contains("depends on uidmap"), "{said}");
    let status = stdout(&run(dpkg(&root).args(["-s", "burrow"])));
    assert!(status.contains("Status: install ok installed"), "{status}");
    assert!(
        status.contains("Conffiles:\n /etc/apparmor.d/burrow "),
        "the profile is a conffile: {status}"
    );

    let bin = root.join("usr/bin/burrow");
    let v = run(Command::new(&bin).arg("--version"));
    assert_eq!(stdout(&v).trim(), format!("burrow {version}"));

    for (src, dst) in [
        (
            "completions/burrow.bash",
            "usr/share/bash-completion/completions/burrow",
        ),
        (
            "completions/_burrow",
            "usr/share/zsh/vendor-completions/_burrow",
        ),
        (
            "completions/burrow.fish",
            "usr/share/fish/vendor_completions.d/burrow.fish",
        ),
        ("packaging/apparmor/burrow", "etc/apparmor.d/burrow"),
        ("packaging/config.toml", "usr/share/burrow/config.toml"),
        (
            "docs/shared-servers.md",
            "usr/share/doc/burrow/shared-servers.md",
        ),
    ] {
        assert_eq!(read(&root.join(dst)), read(&repo().join(src)), "{dst}");
    }
    assert!(root.join("usr/share/doc/burrow/copyright").is_file());
    let mut pages = 0;
    for entry in fs::read_dir(repo().join("man")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let section = name.rsplit('.').next().unwrap();
        let installed = root.join(format!("usr/share/man/man{section}/{name}.gz"));
        assert_eq!(
            gunzip(&installed),
            read(&repo().join("man").join(&name)),
            "{name}"
        );
        pages += 1;
    }
    assert!(
        pages > 10,
        "burrow(1), one page per command, burrow-config(5)"
    );
    if have("man") {
        let page = root.join("usr/share/man/man5/burrow-config.5.gz");
        let out = run(Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat"));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
        assert!(stdout(&out).contains("allow_network_fs"));
    }
    // The installed bash completion loads.
    let comp = root.join("usr/share/bash-completion/completions/burrow");
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}' && complete -p burrow", comp.display())));
    assert!(stdout(&out).contains("-F _clap_complete_burrow burrow"));

    // Removed, the conffile stays; purged, nothing of burrow is left.
    run(dpkg(&root).args(["-r", "burrow"]));
    assert!(!bin.exists());
    assert!(root.join("etc/apparmor.d/burrow").exists());
    run(dpkg(&root).args(["-P", "burrow"]));
    assert!(!root.join("etc/apparmor.d/burrow").exists());
    assert!(!root.join("usr/share/burrow").exists());
}

#[test]
fn every_package_recipe_installs_through_install_sh_with_this_version() {
    let version = env!("CARGO_PKG_VERSION");
    let spec = fs::read_to_string(repo().join("packaging/rpm/burrow.spec")).unwrap();
    assert!(spec
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Version:", version]));
    assert!(spec.contains("Requires:       shadow-utils"));
    assert!(spec.contains("Recommends:     fuse-overlayfs"));
    let nix = fs::read_to_string(repo().join("packaging/nix/default.nix")).unwrap();
    assert!(
        nix.contains("importTOML ../../Cargo.toml"),
        "the version comes from Cargo.toml"
    );
    for (recipe, text) in [("rpm", &spec), ("nix", &nix)] {
        assert!(text.contains("packaging/install.sh"), "{recipe}");
    }

    // The PKGBUILD is bash: source it and read its variables.
    if have("bash") {
        let out = run(Command::new("bash")
            .arg("-c")
            .arg(
                "set -eu; source packaging/arch/PKGBUILD; \
             echo \"$pkgname $pkgver\"; echo \"${depends[*]}\"; echo \"${optdepends[*]}\"; \
             declare -f package",
            )
            .current_dir(repo()));
        let text = stdout(&out);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(format!("burrow {version}").as_str()));
        assert!(lines.next().unwrap().split(' ').any(|d| d == "shadow"));
        assert!(lines.next().unwrap().starts_with("fuse-overlayfs:"));
        assert!(text.contains("packaging/install.sh"));
    }
    if have("rpmspec") {
        let out = run(Command::new("rpmspec")
            .args(["-q", "--qf", "%{name} %{version}\\n"])
            .arg(repo().join("packaging/rpm/burrow.spec")));
        assert_eq!(stdout(&out).trim(), format!("burrow {version}"));
    }
    if have("nix-instantiate") {
        run(Command::new("nix-instantiate")
            .arg("--parse")
            .arg(repo().join("packaging/nix/default.nix")));
    }
}

#[test]
fn rpm_spec_packs_every_file_install_sh_lays_out() {
    if !have("rpmbuild") {
        return;
    }
    // The spec's %install and %files, with the test binary instead of a
    // release build; rpmbuild fails on a listed file that is missing and
    // on an installed file that is not listed.
    let top = tempfile::tempdir().unwrap();
    let define = |k: &str, v: &str| ["--define".to_string(), format!("{k} {v}")];
    let mut cmd = Command::new("rpmbuild");
    cmd.args(["-bb", "--build-in-place", "--nodeps"])
        .args(define("_topdir", &top.path().display().to_string()))
        .args(define("burrow_binary", env!("CARGO_BIN_EXE_burrow")))
        .args(define("debug_package", "%{nil}"))
        .args(define("__strip", "/bin/true"))
        .arg("packaging/rpm/burrow.spec")
        .current_dir(repo());
    run(&mut cmd);
    let rpm = top
        .path()
        .join(format!("RPMS/{}", std::env::consts::ARCH))
        .join(format!(
            "burrow-{}-1.{}.rpm",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH
        ));
    let query = |args: &[&str]| stdout(&run(Command::new("rpm").args(args).arg(&rpm)));
    let files = query(&["-qlp"]);
    for f in [
        "/usr/bin/burrow",
        "/usr/share/bash-completion/completions/burrow",
        "/usr/share/zsh/site-functions/_burrow",
        "/usr/share/fish/vendor_completions.d/burrow.fish",
        "/usr/share/man/man1/burrow-doctor.1",
        "/usr/share/man/man5/burrow-config.5",
        "/usr/share/burrow/config.toml",
        "/etc/apparmor.d/burrow",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} not in\n{files}");
    }
    assert_eq!(
        query(&["-qp", "--configfiles"]).trim(),
        "/etc/apparmor.d/burrow"
    );
    assert!(query(&["-qp", "--requires"])
        .lines()
        .any(|l| l == "shadow-utils"));
}

#[test]
fn install_sh_lays_out_a_prefix_as_the_recipes_ask() {
    let tmp = tempfile::tempdir().unwrap();
    run(Command::new(repo().join("packaging/install.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_burrow"), "--destdir"])
        .arg(tmp.path())
        .args(["--prefix", "/opt/b", "--sysconfdir", "/opt/etc"]));
    for p in [
        "opt/b/bin/burrow",
        "opt/b/share/zsh/site-functions/_burrow",
        "opt/b/share/man/man1/burrow.1",
        "opt/b/share/man/man5/burrow-config.5",
        "opt/etc/apparmor.d/burrow",
    ] {
        assert!(tmp.path().join(p).is_file(), "{p}");
    }
    let out = Command::new(repo().join("packaging/install.sh"))
        .args(["--binary", "/nonexistent/burrow", "--destdir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cargo build --release first"));
}

/// The user's own install: `packaging/install.sh --user`, run as the
/// unprivileged test user with its HOME, lays burrow out under ~/.local
/// where bash-completion, fish, man and the PATH find it, needing no root.
#[test]
fn user_install_puts_burrow_man_pages_and_completions_under_home() {
    let Some(env) = common::TestEnv::new(
        "user_install_puts_burrow_man_pages_and_completions_under_home",
        common::TestUser::Any,
    ) else {
        return;
    };
    // A copy of what install.sh reads, so the user can read it wherever the
    // checkout lives.
    let src = env.work.join("src");
    fs::create_dir_all(&src).unwrap();
    for dir in ["packaging", "completions", "man", "docs"] {
        run(Command::new("cp")
            .arg("-r")
            .arg(repo().join(dir))
            .arg(src.join(dir)));
    }
    run(Command::new("cp")
        .arg(repo().join("README.md"))
        .arg(src.join("README.md")));
    run(Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_burrow"))
        .arg(env.work.join("burrow")));
    run(Command::new("chmod").args(["-R", "a+rX"]).arg(&env.work));
    let as_user = |script: &str| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script])
            .env_clear()
            .env("HOME", &env.home)
            .env("PATH", "/usr/bin:/bin")
            .env("XDG_DATA_HOME", &env.data_home)
            .current_dir(&env.work);
        if common::running_as_root() {
            use std::os::unix::process::CommandExt;
            cmd.uid(env.account.uid).gid(env.account.gid);
        }
        cmd.output().unwrap()
    };
    let out = as_user("src/packaging/install.sh --user --binary ./burrow");
    assert!(
        out.status.success(),
        "install.sh --user: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("is not on your PATH"),
        "{}",
        stdout(&out)
    );
    let local = env.home.join(".local");
    for p in [
        "bin/burrow",
        "share/man/man1/burrow.1",
        "share/man/man1/burrow-run.1",
        "share/man/man5/burrow-config.5",
        "share/bash-completion/completions/burrow",
        "share/fish/vendor_completions.d/burrow.fish",
        "share/zsh/site-functions/_burrow",
    ] {
        let meta = fs::metadata(local.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.uid(), env.account.uid, "{p} is not the user's");
    }
    // Each finds it the way it finds a user's files.
    let found = as_user(
        "PATH=$HOME/.local/bin:$PATH; burrow --version && man -w burrow-run \
         && bash -c '. $XDG_DATA_HOME/bash-completion/completions/burrow && complete -p burrow'",
    );
    let said = stdout(&found);
    assert!(
        found.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(said.contains("burrow "), "{said}");
    assert!(
        said.contains(".local/share/man/man1/burrow-run.1"),
        "{said}"
    );
    assert!(said.contains("-F _clap_complete_burrow burrow"), "{said}");
    if Command::new("fish").arg("--version").output().is_ok() {
        let fish = as_user("PATH=$HOME/.local/bin:$PATH fish -c 'complete -C \"burrow ru\"'");
        assert!(stdout(&fish).contains("run"), "fish: {}", stdout(&fish));
    }
}

/// Each shared library the binary needs is found, mapped and relocated at
/// every start of every command, `run` included: burrow needs libc and
/// libgcc_s (the unwinder) and nothing more. (A libm for one `exp` cost
/// every command a library load; the pure Rust `libm` crate serves.)
#[test]
fn the_binary_needs_no_shared_library_but_libc_and_libgcc() {
    if !have("ldd") {
        return;
    }
    let out = run(Command::new("ldd").arg(env!("CARGO_BIN_EXE_burrow")));
    let needed: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with("lib"))
        .map(String::from)
        .collect();
    assert!(!needed.is_empty(), "ldd listed nothing:\n{}", stdout(&out));
    for name in &needed {
        assert!(
            name.starts_with("libc.so") || name.starts_with("libgcc_s.so"),
            "burrow needs {name} (all: {needed:?})"
        );
    }
}
