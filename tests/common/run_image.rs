//! Images for `burrow run` tests, made from `/bin/busybox`: every applet
//! linked in /bin, accounts for root and `app` (uid 1000, in two extra
//! groups), and an image config that sets Env, Entrypoint, Cmd, WorkingDir
//! and User. Loaded into a test's store with `load_run_images`.

use super::fixtures::{self, ImageSpec, Layer, LayerBuilder};
use super::TestEnv;
use serde_json::json;
use std::process::Command;

/// No entrypoint, Cmd `sh`, runs as root in /.
pub const PLAIN: &str = "run/plain:latest";
/// The configured image: see `CONFIG_*`.
pub const CONFIG: &str = "run/config:latest";

pub const CONFIG_ENTRYPOINT: &[&str] = &["/bin/entry", "ep-arg"];
pub const CONFIG_CMD: &[&str] = &["cmd-arg"];
pub const CONFIG_WORKDIR: &str = "/srv/app";
pub const CONFIG_USER: &str = "app";

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    app:x:1000:1000:app:/home/app:/bin/sh\n\
    nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:2000:app\nmore:x:3000:root,app\n\
    nogroup:x:65534:\n";

/// `id` of `app` as busybox prints it.
pub const APP_ID: &str = "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra),3000(more)";

/// Every applet this busybox has, as `busybox --list` names them.
pub fn applets() -> Vec<String> {
    let out = Command::new(fixtures::BUSYBOX)
        .arg("--list")
        .output()
        .expect("run busybox --list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(String::from)
        .collect()
}

/// The base layer: busybox and all its applets in /bin, the accounts,
/// `/home/app` owned by app, and a file that is not executable.
pub fn base_layer() -> Layer {
    let busybox = std::fs::read(fixtures::BUSYBOX).expect("read /bin/busybox");
    let mut b = LayerBuilder::new()
        .dir("bin")
        .dir("etc")
        .dir("home")
        .entry(fixtures::Entry::new("home/app", fixtures::Kind::Dir).owner(1000, 1000))
        .entry(
            fixtures::Entry::new("home/app/.profile", fixtures::Kind::File)
                .owner(1000, 1000)
                .data("# app\n"),
        )
        .dir_mode("root", 0o700)
        .dir_mode("tmp", 0o1777)
        .dir("srv")
        .dir("usr")
        .dir("usr/bin")
        .dir("var")
        .file("bin/busybox", 0o755, busybox);
    for applet in applets() {
        b = b.symlink(&format!("bin/{applet}"), "busybox");
    }
    b.file("etc/passwd", 0o644, PASSWD)
        .file("etc/group", 0o644, GROUP)
        .file("etc/image-file", 0o644, "from the image\n")
        .file("etc/not-executable", 0o644, "#!/bin/sh\necho never\n")
        .finish()
}

/// The configured image's own layer: the entrypoint script and its
/// working directory.
pub fn config_layer() -> Layer {
    LayerBuilder::new()
        .dir("bin")
        .file(
            "bin/entry",
            0o755,
            "#!/bin/sh\necho \"entry $*\"\necho \"pwd $(pwd) user $(id -un) fixture $FIXTURE\"\n",
        )
        .dir("srv")
        .dir("srv/app")
        .finish()
}

pub fn plain_spec(base: &Layer) -> ImageSpec {
    let mut spec = ImageSpec::new(&[PLAIN], vec![base.clone()]);
    spec.run_config = json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    });
    spec
}

pub fn config_spec(base: &Layer) -> ImageSpec {
    let mut spec = ImageSpec::new(&[CONFIG], vec![base.clone(), config_layer()]);
    spec.run_config = json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FIXTURE=yes"],
        "Entrypoint": CONFIG_ENTRYPOINT,
        "Cmd": CONFIG_CMD,
        "WorkingDir": CONFIG_WORKDIR,
        "User": CONFIG_USER,
    });
    spec
}

/// What `load_run_images` put in the store.
pub struct RunImages {
    /// The base layer's diff id (hex): its tree is `env.layer_diff(..)`.
    pub base_diff_id: String,
    pub plain_id: String,
    pub config_id: String,
}

/// Loads `PLAIN` and `CONFIG` into `env`'s store.
pub fn load_run_images(env: &TestEnv) -> RunImages {
    let base = base_layer();
    let plain = plain_spec(&base);
    let config = config_spec(&base);
    let images = RunImages {
        base_diff_id: base.diff_id(),
        plain_id: plain.image_id(),
        config_id: config.image_id(),
    };
    let (archive, _) = env.docker_archive("run-images.tar", &[plain, config]);
    env.load(&archive);
    images
}
