//! `burrow compose`, end to end, as the unprivileged test user with
//! subordinate ids: a project's services on its own network, reaching
//! each other by service name, started after a dependency's health check
//! passes, a named volume that outlives `down` (and not `down -v`), a
//! port published on 127.0.0.1 and read from the host, two projects that
//! cannot reach each other, and the errors a project's files can hold;
//! the verbs on a running project (`logs` with its prefixes, `run`,
//! `stop`/`start`/`restart`, `pull` from a registry on 127.0.0.1), network
//! aliases, `deploy.resources.limits`, attached `up` and its Ctrl-C sent
//! as a real signal, `network_mode`, `scale`, `secrets` and `configs`.
//! The Debian project (PostgreSQL, Redis and a Python app, from Debian's
//! packages; tests/fixtures/compose-app, which bench/compose.sh runs too)
//! is `a_debian_web_app_reaches_postgres_and_redis_by_name`.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
#[path = "common/compose_spec.rs"]
mod compose_spec;

use common::fixtures::busybox_rootfs;
use common::{path_str, TestEnv, TestUser};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const NET_APPLETS: &[&str] = &["nc", "grep", "cat", "sleep", "false", "true"];

/// A test environment (burrow-test, with subordinate ids) with a busybox
/// image `netbox` that has the network applets.
fn env_with_image(test: &str) -> Option<TestEnv> {
    let env = TestEnv::new(test, TestUser::WithSubids)?;
    let mut b = busybox_rootfs();
    for a in NET_APPLETS {
        b = b.symlink(&format!("bin/{a}"), "busybox");
    }
    let tarball = env.fixture("netbox.tar", &b.finish().tar);
    env.ok(&["import", path_str(&tarball), "netbox"]);
    Some(env)
}

/// A project directory under the test's work dir, owned by the user.
fn project(env: &TestEnv, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.work.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    env.give(&dir);
    for (f, text) in files {
        let p = dir.join(f);
        std::fs::write(&p, text).unwrap();
        env.give(&p);
    }
    dir
}

/// `burrow compose ARGS` in `dir`, with `vars` set; a project it took is
/// checked against the compose specification's schema (`conforms`).
fn compose(env: &TestEnv, dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> common::Output {
    let out = compose_unchecked(env, dir, args, vars);
    if out.status.success() {
        conforms(env, dir, args, vars);
    }
    out
}

fn compose_unchecked(
    env: &TestEnv,
    dir: &Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> common::Output {
    let mut all = vec!["compose"];
    all.extend_from_slice(args);
    let mut cmd = env.command(&all);
    cmd.current_dir(dir);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn burrow");
    common::wait_output(child, &all, None)
}

/// A project burrow took is valid under the compose specification's
/// schema too (tests/compose_spec.rs), as `compose config` prints it:
/// checked once for each directory and set of files.
fn conforms(env: &TestEnv, dir: &Path, args: &[&str], vars: &[(&str, &str)]) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Some(v) = compose_spec::validator() else {
        return;
    };
    // The flags before the command (-f, -p, --profile, --env-file) each
    // take a value.
    let mut globals: Vec<&str> = args
        .chunks(2)
        .take_while(|c| c[0].starts_with('-') && c.len() == 2)
        .flatten()
        .copied()
        .collect();
    let key = format!("{}{globals:?}", dir.display());
    {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(&key) {
            return;
        }
        seen.push(key);
    }
    globals.push("config");
    let out = compose_unchecked(env, dir, &globals, vars);
    out.assert_ok();
    compose_spec::assert_conforms(v, dir, &out.stdout);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a connection to 127.0.0.1:`port` reads, retried until it reads
/// something (the server may not listen yet) or 30 s have passed.
fn read_port(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut got = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = s.read_to_string(&mut got);
        }
        if !got.is_empty() || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The database answers every connection with its boot log (one line per
/// start, kept in the named volume); its health check is that it
/// answers. The web service, published on the host, answers with what the
/// database said, reached by its service name.
const PROJECT: &str = "\
services:
  db:
    image: netbox
    command: [\"sh\", \"-c\", \"echo boot >> /data/boots; exec nc -ll -p 5432 -e cat /data/boots\"]
    volumes: [\"data:/data\"]
    healthcheck:
      test: [\"CMD-SHELL\", \"nc -w 1 127.0.0.1 5432 </dev/null | grep -q boot\"]
      interval: 1s
      retries: 30
  web:
    image: netbox
    depends_on:
      db: {condition: service_healthy}
    ports: [\"127.0.0.1:${WEB_PORT:?set WEB_PORT}:8080\"]
    command: [\"nc\", \"-ll\", \"-p\", \"8080\", \"-e\", \"nc\", \"-w\", \"5\", \"db\", \"5432\"]
volumes:
  data: {}
";

#[test]
fn compose_up_ps_down_keeps_the_named_volume_and_isolates_projects() {
    let test = "compose_up_ps_down_keeps_the_named_volume_and_isolates_projects";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let dir = project(&env, "shop", &[("compose.yaml", PROJECT)]);
    let port = free_port().to_string();
    let vars = [("WEB_PORT", port.as_str())];

    let config = compose(&env, &dir, &["config"], &vars);
    config.assert_ok();
    assert!(
        config.stdout.contains(&format!("127.0.0.1:{port}:8080"))
            && config.stdout.contains("name: shop"),
        "config prints the interpolated project\n{config}"
    );

    let up = compose(&env, &dir, &["up", "-d"], &vars);
    up.assert_ok();
    let ps = compose(&env, &dir, &["ps", "--format", "json"], &vars);
    ps.assert_ok();
    for name in ["shop-db-1", "shop-web-1"] {
        assert!(ps.stdout.contains(&format!("\"Name\":\"{name}\"")), "{ps}");
    }
    // docker compose's fields: ps's strings, the service's, Publishers.
    for line in ps.stdout.lines() {
        let c: serde_json::Value = serde_json::from_str(line).expect("one object a line");
        assert_eq!(c["Project"], "shop", "{line}");
        assert_eq!(c["Names"], c["Name"], "{line}");
        assert_eq!(c["State"], "running", "{line}");
        assert!(
            c["ExitCode"].is_i64() && c["Publishers"].is_array(),
            "{line}"
        );
        assert!(
            ["db", "web"].contains(&c["Service"].as_str().unwrap_or_default()),
            "{line}"
        );
    }
    let svc = compose(&env, &dir, &["ps", "--format", "{{.Service}}"], &vars);
    let mut svc: Vec<&str> = svc.stdout.lines().collect();
    svc.sort_unstable();
    assert_eq!(svc, ["db", "web"]);
    // web started only once db was healthy.
    let inspect = env.ok(&[
        "inspect",
        "--format",
        "{{.State.Health.Status}}",
        "shop-db-1",
    ]);
    assert_eq!(inspect.stdout.trim(), "healthy", "{inspect}");
    assert_eq!(read_port(port.parse().unwrap()), "boot\n", "{up}");
    let nets = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(nets.stdout.contains("shop_default"), "{nets}");

    // A second project from the same files: its own network and volume,
    // and no way to the first one's containers.
    let other_port = free_port().to_string();
    let other_vars = [("WEB_PORT", other_port.as_str())];
    compose(&env, &dir, &["-p", "other", "up", "-d"], &other_vars).assert_ok();
    assert_eq!(read_port(other_port.parse().unwrap()), "boot\n");
    let across = compose(
        &env,
        &dir,
        &[
            "-p",
            "other",
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            "nc -w 2 shop-db-1 5432 </dev/null || echo unreachable",
        ],
        &other_vars,
    );
    assert!(
        across.stdout.contains("unreachable") && !across.stdout.contains("boot"),
        "a project reaches another's container\n{across}"
    );
    let within = compose(
        &env,
        &dir,
        &[
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            "nc -w 2 shop-db-1 5432 </dev/null",
        ],
        &vars,
    );
    assert!(within.stdout.contains("boot"), "{within}");
    compose(&env, &dir, &["-p", "other", "down", "-v"], &other_vars).assert_ok();

    // down keeps the named volume: the second boot is logged beside the first.
    compose(&env, &dir, &["down"], &vars).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    let nets = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.stdout.contains("shop_default"), "{nets}");
    compose(&env, &dir, &["up", "-d"], &vars).assert_ok();
    assert_eq!(read_port(port.parse().unwrap()), "boot\nboot\n");
    // down -v removes it.
    compose(&env, &dir, &["down", "-v"], &vars).assert_ok();
    let vols = env.ok(&["volume", "ls", "-q"]);
    assert!(!vols.stdout.contains("shop_data"), "{vols}");
}

/// As docker compose: `up SERVICE` makes the volumes that service (and
/// what it depends on) mounts, not every top-level volume; a later `up`
/// of the other service makes its own.
#[test]
fn up_of_one_service_makes_only_the_volumes_it_uses() {
    let test = "up_of_one_service_makes_only_the_volumes_it_uses";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = "services:
  base:
    image: netbox
    command: [sleep, '600']
    volumes: [data:/data]
  other:
    image: netbox
    command: [sleep, '600']
    volumes: [spare:/spare]
volumes:
  data: {}
  spare: {}
  unused: {}
";
    let dir = project(&env, "vols", &[("compose.yaml", file)]);
    let vols = |env: &TestEnv| -> Vec<String> {
        let out = env.ok(&["volume", "ls", "-q"]).stdout;
        let mut names: Vec<String> = out.lines().map(str::to_string).collect();
        names.sort();
        names
    };
    compose(&env, &dir, &["up", "-d", "base"], &[]).assert_ok();
    assert_eq!(vols(&env), ["vols_data"]);
    compose(&env, &dir, &["up", "-d"], &[]).assert_ok();
    assert_eq!(vols(&env), ["vols_data", "vols_spare"]);
    compose(&env, &dir, &["down", "-v"], &[]).assert_ok();
    assert!(vols(&env).is_empty(), "{:?}", vols(&env));
}

#[test]
fn a_dependency_that_never_becomes_healthy_is_an_error_and_down_cleans_up() {
    let test = "a_dependency_that_never_becomes_healthy_is_an_error_and_down_cleans_up";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let dir = project(
        &env,
        "sick",
        &[(
            "compose.yaml",
            "services:\n  db:\n    image: netbox\n    command: [sleep, \"300\"]\n    healthcheck: {test: [CMD, \"false\"], interval: 1s, retries: 2}\n  web:\n    image: netbox\n    command: [sleep, \"300\"]\n    depends_on: {db: {condition: service_healthy}}\n",
        )],
    );
    let up = compose(&env, &dir, &["up", "-d"], &[]);
    assert_ne!(up.code(), Some(0), "{up}");
    assert!(
        up.error_line()
            .contains("service web cannot start: db (sick-db-1) is unhealthy"),
        "{up}"
    );
    compose(&env, &dir, &["down"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    let nets = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.stdout.contains("sick_default"), "{nets}");
}

#[test]
fn a_misspelled_key_and_a_cycle_are_errors_naming_file_line_and_services() {
    let test = "a_misspelled_key_and_a_cycle_are_errors_naming_file_line_and_services";
    let Some(env) = TestEnv::new(test, TestUser::Any) else {
        return;
    };
    let dir = project(
        &env,
        "typo",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: x\n    enviroment:\n      A: 1\n",
        )],
    );
    let out = compose(&env, &dir, &["up", "-d"], &[]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.error_line()
            .contains("compose.yaml:4: services.web: unknown key \"enviroment\" (did you mean \"environment\"?)"),
        "{out}"
    );
    let dir = project(
        &env,
        "loop",
        &[(
            "compose.yaml",
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: {a: {condition: service_healthy}}}\n",
        )],
    );
    let out = compose(&env, &dir, &["config"], &[]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.error_line()
            .contains("dependency cycle between services: a -> b -> a"),
        "{out}"
    );
    // Nothing was made.
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

/// A Debian bookworm image (mmdebstrap, cached under
/// /var/cache/burrow-test like the other Debian fixtures) with PostgreSQL,
/// Redis and Python's clients for both, from Debian's packages.
const STACK: common::debian::Recipe = common::debian::Recipe {
    name: "debian-compose",
    include: "postgresql,redis-server,python3,python3-psycopg2,python3-redis",
    repo: false,
};
const STACK_IMAGE: &str = "localhost/compose-stack:bookworm";

/// The project of tests/fixtures/compose-app (bench/compose.sh runs the
/// same files): a web app built on the image, each GET adding a row in
/// PostgreSQL and counting in Redis, both reached by service name; the
/// database's data in a named volume.
fn fixture_project(env: &TestEnv, name: &str) -> PathBuf {
    fn copy(env: &TestEnv, from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        env.give(to);
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dst = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(env, &e.path(), &dst);
            } else {
                std::fs::copy(e.path(), &dst).unwrap();
                env.give(&dst);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose-app");
    let dir = env.work.join(name);
    copy(env, &src, &dir);
    dir
}

/// What a GET of 127.0.0.1:`port` answers (the body), retried until it
/// answers 200 or 60 s have passed.
fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut got = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let _ = s.read_to_string(&mut got);
        }
        if got.starts_with("HTTP/1.0 200") || Instant::now() > deadline {
            return got.split("\r\n\r\n").nth(1).unwrap_or(&got).to_string();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_debian_web_app_reaches_postgres_and_redis_by_name() {
    let test = "a_debian_web_app_reaches_postgres_and_redis_by_name";
    let Some(env) = TestEnv::new(test, TestUser::WithSubids) else {
        return;
    };
    let Some(fx) = common::debian::fixture_of(test, &STACK) else {
        return;
    };
    env.ok(&["import", path_str(&fx.rootfs), STACK_IMAGE]);
    let dir = fixture_project(&env, "stack");
    let port = free_port();
    let port_text = port.to_string();
    let vars = [("WEB_PORT", port_text.as_str())];

    let up = compose(&env, &dir, &["up", "-d", "--build"], &vars);
    up.assert_ok();
    assert_eq!(http_get(port), "postgres=1 redis=1\n", "{up}");
    assert_eq!(http_get(port), "postgres=2 redis=2\n");
    let ps = compose(&env, &dir, &["ps", "--services"], &vars);
    assert_eq!(ps.stdout_lines().len(), 3, "{ps}");

    // down keeps the database's volume (Redis keeps nothing).
    compose(&env, &dir, &["down"], &vars).assert_ok();
    compose(&env, &dir, &["up", "-d"], &vars).assert_ok();
    assert_eq!(http_get(port), "postgres=3 redis=1\n");
    compose(&env, &dir, &["down", "-v"], &vars).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

/// A command that notes each start in /starts, then runs until SIGTERM
/// and exits 0 (sh as pid 1 has no default action for it: it traps it).
const LOOP: &str = "echo started >> /starts; trap 'exit 0' TERM; while :; do sleep 0.2; done";

/// A `burrow compose ARGS` left running, its stdout and stderr lines
/// sent as they come.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<(bool, String)>,
    seen: Vec<(bool, String)>,
}

impl Running {
    fn start(env: &TestEnv, dir: &Path, args: &[&str]) -> Running {
        use std::io::BufRead;
        let mut all = vec!["compose"];
        all.extend_from_slice(args);
        let mut cmd = env.command(&all);
        cmd.current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn burrow");
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((false, l));
            }
        });
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send((true, l));
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line (stderr's when `stderr`) equal to `want`; panics
    /// with all seen after 60 s (a hang, not a measure).
    fn wait_line(&mut self, stderr: bool, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.seen.iter().any(|(e, l)| *e == stderr && l == want) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "no line {want:?} (stderr: {stderr}); seen:\n{:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Ctrl-C, as a terminal sends it to the foreground process.
    fn interrupt(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("SIGINT to burrow compose");
    }

    /// Waits for the process to exit (60 s before it is called hung);
    /// its status and every line it printed.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<(bool, String)>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("burrow compose did not exit; seen:\n{:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (status, self.seen)
    }
}

/// `{{.State.Status}} {{.State.ExitCode}}` of a container (`<no value>`
/// for the code of one that runs).
fn state(env: &TestEnv, name: &str) -> String {
    env.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        name,
    ])
    .stdout
    .trim()
    .to_string()
}

/// What `compose exec -T SERVICE sh -c SCRIPT` prints, retried until it
/// prints something (a server may not listen yet) or 30 s have passed.
fn exec_until(env: &TestEnv, dir: &Path, service: &str, script: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = compose(env, dir, &["exec", "-T", service, "sh", "-c", script], &[]);
        if !out.stdout.is_empty() || Instant::now() > deadline {
            return out.stdout;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn compose_logs_prefix_each_line_with_its_container_and_follow_new_output() {
    let test = "compose_logs_prefix_each_line_with_its_container_and_follow_new_output";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let dir = project(
        &env,
        "logs",
        &[(
            "compose.yaml",
            "services:\n  alpha:\n    image: netbox\n    command: [\"sh\", \"-c\", \"echo alpha says hi; echo alpha warns >&2; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo alpha goes\"]\n  be:\n    image: netbox\n    command: [\"echo\", \"be says hi\"]\n",
        )],
    );
    compose(&env, &dir, &["up", "-d"], &[]).assert_ok();
    // be's one line, once it has printed it: prefixed with its name,
    // padded as compose pads the longest name of those shown.
    let deadline = Instant::now() + Duration::from_secs(30);
    let be = loop {
        let out = compose(&env, &dir, &["logs", "be"], &[]);
        out.assert_ok();
        if !out.stdout.is_empty() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(be.stdout, "be-1  | be says hi\n", "{be}");
    let bare = compose(&env, &dir, &["logs", "--no-log-prefix", "be"], &[]);
    assert_eq!(bare.stdout, "be says hi\n", "{bare}");

    // -f: what is there, each stream to its own, then what comes, until
    // the container exits.
    let mut follow = Running::start(&env, &dir, &["logs", "-f"]);
    follow.wait_line(false, "alpha-1  | alpha says hi");
    follow.wait_line(true, "alpha-1  | alpha warns");
    follow.wait_line(false, "be-1     | be says hi");
    compose(
        &env,
        &dir,
        &["exec", "-T", "alpha", "touch", "/tmp/go"],
        &[],
    )
    .assert_ok();
    follow.wait_line(false, "alpha-1  | alpha goes");
    let (status, seen) = follow.finish();
    assert!(
        status.success(),
        "logs -f ends with its containers: {seen:#?}"
    );
    compose(&env, &dir, &["down"], &[]).assert_ok();
}

#[test]
fn compose_run_makes_a_one_off_container_with_the_services_settings() {
    let test = "compose_run_makes_a_one_off_container_with_the_services_settings";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "services:\n  db:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n  tool:\n    image: netbox\n    command: [\"echo\", \"from the service\"]\n    environment: {{GREETING: hello}}\n    depends_on: [db]\n"
    );
    let dir = project(&env, "oneoff", &[("compose.yaml", &file)]);
    // The service's command, after its dependency was started.
    let out = compose(&env, &dir, &["run", "--rm", "tool"], &[]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().last(), Some("from the service"), "{out}");
    assert_eq!(state(&env, "oneoff-db-1"), "running <no value>");
    // A command given replaces it; the environment is the service's; the
    // status is the command's.
    let out = compose(
        &env,
        &dir,
        &[
            "run",
            "--rm",
            "tool",
            "sh",
            "-c",
            "echo $GREETING there; exit 3",
        ],
        &[],
    );
    assert_eq!(out.code(), Some(3), "{out}");
    assert_eq!(out.stdout.lines().last(), Some("hello there"), "{out}");
    let names = env.ok(&["ps", "-a", "--format", "json"]);
    assert!(
        !names.stdout.contains("oneoff-tool-run-"),
        "--rm removed the one-off containers\n{names}"
    );
    // Without --rm it stays, named as compose names one-off containers,
    // and is not the service's container for exec.
    compose(&env, &dir, &["run", "tool", "true"], &[]).assert_ok();
    let names = env.ok(&["ps", "-a", "--format", "json"]);
    assert!(names.stdout.contains("\"oneoff-tool-run-"), "{names}");
    let exec = compose(&env, &dir, &["exec", "-T", "tool", "true"], &[]);
    assert_ne!(exec.code(), Some(0), "{exec}");
    compose(&env, &dir, &["down"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

#[test]
fn compose_exec_and_run_take_docker_composes_flags() {
    let test = "compose_exec_and_run_take_docker_composes_flags";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let service_port = free_port();
    let file = format!(
        "services:\n  db:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n  tool:\n    image: netbox\n    command: [\"echo\", \"from the service\"]\n    depends_on: [db]\n    ports: [\"127.0.0.1:{service_port}:8080\"]\n    labels: {{tier: tool}}\n"
    );
    let dir = project(&env, "flags", &[("compose.yaml", &file)]);
    let host = env.work.join("flags-host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "from the host\n").unwrap();
    env.give(&host);
    env.give(&host.join("f"));

    // run --no-deps: the dependency is neither started nor waited for.
    let out = compose(
        &env,
        &dir,
        &[
            "run",
            "--rm",
            "--no-deps",
            "-v",
            &format!("{}:/mnt:ro", path_str(&host)),
            "tool",
            "cat",
            "/mnt/f",
        ],
        &[],
    );
    out.assert_ok();
    assert_eq!(out.stdout.lines().last(), Some("from the host"), "{out}");
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout;
    assert!(
        !names.contains("flags-db-1"),
        "--no-deps started db: {names}"
    );

    // -p in place of the service's ports; -l over the service's labels.
    let port = free_port();
    let published = format!("127.0.0.1:{port}:8080");
    compose(
        &env,
        &dir,
        &[
            "run",
            "-d",
            "--name",
            "pub",
            "-p",
            &published,
            "-l",
            "tier=over",
            "-l",
            "extra=1",
            "tool",
            "nc",
            "-ll",
            "-p",
            "8080",
            "-e",
            "echo",
            "published",
        ],
        &[],
    )
    .assert_ok();
    assert_eq!(read_port(port), "published\n");
    let ports = env.ok(&["port", "pub"]).stdout;
    assert_eq!(
        ports,
        format!("8080/tcp -> 127.0.0.1:{port}\n"),
        "only -p's port"
    );
    let labels = env.ok(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"tier\"}} {{index .Config.Labels \"extra\"}}",
        "pub",
    ]);
    assert_eq!(labels.stdout.trim(), "over 1");
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout;
    assert!(
        names.contains("flags-db-1"),
        "without --no-deps db starts: {names}"
    );

    // exec: -e, -u, -w, --index, and --privileged as `burrow exec`'s.
    let out = compose(
        &env,
        &dir,
        &[
            "exec",
            "-T",
            "-e",
            "X=set",
            "-u",
            "1000",
            "-w",
            "/tmp",
            "--index",
            "1",
            "db",
            "sh",
            "-c",
            "echo $X $(id -u) $PWD",
        ],
        &[],
    );
    out.assert_ok();
    assert_eq!(out.stdout, "set 1000 /tmp\n", "{out}");
    let status = |extra: &[&str]| {
        let mut args = vec!["exec", "-T"];
        args.extend_from_slice(extra);
        args.extend([
            "db",
            "grep",
            "-E",
            "^(CapEff|Seccomp):",
            "/proc/self/status",
        ]);
        let out = compose(&env, &dir, &args, &[]);
        out.assert_ok();
        out.stdout
    };
    let plain = status(&[]);
    let privileged = status(&["--privileged"]);
    assert!(plain.contains("Seccomp:\t2"), "{plain}");
    assert!(privileged.contains("Seccomp:\t0"), "{privileged}");
    let caps = |s: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(|c| u64::from_str_radix(c.trim(), 16).expect("hex"))
            .expect("CapEff")
    };
    assert!(
        caps(&privileged) & !caps(&plain) != 0,
        "--privileged adds capabilities: {plain} / {privileged}"
    );
    assert_eq!(status(&[]), plain, "the next exec is the container's again");
    compose(&env, &dir, &["down"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

#[test]
fn compose_stop_start_and_restart_act_on_the_services_named() {
    let test = "compose_stop_start_and_restart_act_on_the_services_named";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "services:\n  a:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n  b:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n"
    );
    let dir = project(&env, "cycle", &[("compose.yaml", &file)]);
    compose(&env, &dir, &["up", "-d"], &[]).assert_ok();
    let starts = |service: &str| {
        exec_until(&env, &dir, service, "cat /starts")
            .lines()
            .count()
    };
    assert_eq!((starts("a"), starts("b")), (1, 1));

    // stop: each got its stop signal and exited by itself.
    compose(&env, &dir, &["stop"], &[]).assert_ok();
    assert_eq!(state(&env, "cycle-a-1"), "exited 0");
    assert_eq!(state(&env, "cycle-b-1"), "exited 0");
    // start: the same containers (their files kept) run again.
    compose(&env, &dir, &["start"], &[]).assert_ok();
    assert_eq!(state(&env, "cycle-a-1"), "running <no value>");
    assert_eq!((starts("a"), starts("b")), (2, 2));
    // restart and stop of one service leave the other alone.
    compose(&env, &dir, &["restart", "a"], &[]).assert_ok();
    assert_eq!((starts("a"), starts("b")), (3, 2));
    compose(&env, &dir, &["stop", "b"], &[]).assert_ok();
    assert_eq!(state(&env, "cycle-a-1"), "running <no value>");
    assert_eq!(state(&env, "cycle-b-1"), "exited 0");
    compose(&env, &dir, &["down"], &[]).assert_ok();
}

/// The image the pull tests put in a registry: busybox with a stamp file,
/// for this machine's architecture.
fn app_image() -> common::registry::RegImage {
    let layer = busybox_rootfs().file("stamp", 0o644, b"pulled\n".as_slice());
    let mut spec = common::fixtures::ImageSpec::new(&["app:1"], vec![layer.finish()]);
    spec.run_config = common::plain_config();
    common::registry::RegImage::from_spec(&spec, common::fixtures::oci_arch())
}

#[test]
fn compose_pull_fetches_the_services_images_from_a_registry() {
    use common::registry::{Registry, Security, Uploader};
    let test = "compose_pull_fetches_the_services_images_from_a_registry";
    let Some(env) = TestEnv::new(test, TestUser::Any) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let image = app_image();
    Uploader::new(&reg).image("compose/app", "1", &image);
    let name = format!("{}/compose/app:1", reg.addr());
    // A service with a build section is built, not pulled: its missing
    // context is no error here.
    let file = format!("services:\n  app:\n    image: {name}\n  made:\n    build: ./nowhere\n");
    let dir = project(&env, "fetch", &[("compose.yaml", &file)]);
    let before = env.run(&["image", "inspect", &name]);
    assert_ne!(before.code(), Some(0), "not here before the pull\n{before}");
    compose(&env, &dir, &["pull"], &[]).assert_ok();
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", &name]);
    assert_eq!(id.stdout.trim(), format!("sha256:{}", image.id()), "{id}");
    // Pulled, not built: the build service made no image.
    let images = env.ok(&["images", "--format", "{{.Repository}}"]);
    assert!(!images.stdout.contains("fetch-made"), "{images}");
    // up pulls what is missing before it makes anything of the project.
    env.ok(&["rmi", &name]);
    let up = compose(&env, &dir, &["up", "--no-start", "app"], &[]);
    up.assert_ok();
    let pulled = up.stdout.find(&format!(" Image {name}  Pulling"));
    let network = up.stdout.find(" Network fetch_default  Creating");
    assert!(pulled.is_some() && pulled < network, "{up}");
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", &name]);
    assert_eq!(id.stdout.trim(), format!("sha256:{}", image.id()), "{id}");
    compose(&env, &dir, &["down"], &[]).assert_ok();
}

/// A service's `platform:` is this machine's (its image is pulled for it)
/// or an error naming the service, for `pull` and for `up`, before
/// anything of the project is made.
#[test]
fn a_service_platform_is_pulled_for_when_it_is_this_machines_and_refused_otherwise() {
    use common::registry::{Registry, Security, Uploader};
    let test = "a_service_platform_is_pulled_for_when_it_is_this_machines_and_refused_otherwise";
    let Some(env) = TestEnv::new(test, TestUser::Any) else {
        return;
    };
    let reg = Registry::start(Security::Plain);
    let arch = common::fixtures::oci_arch();
    let image = app_image();
    Uploader::new(&reg).index("compose/app", "1", &[(&image, "linux", arch)]);
    let name = format!("{}/compose/app:1", reg.addr());

    let file = format!("services:\n  app:\n    image: {name}\n    platform: linux/{arch}\n");
    let dir = project(&env, "here", &[("compose.yaml", &file)]);
    compose(&env, &dir, &["pull"], &[]).assert_ok();
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", &name]);
    assert_eq!(id.stdout.trim(), format!("sha256:{}", image.id()), "{id}");
    env.ok(&["rmi", &name]);

    let other = if arch == "amd64" { "arm64" } else { "amd64" };
    let file = format!("services:\n  app:\n    image: {name}\n    platform: linux/{other}\n");
    let dir = project(&env, "there", &[("compose.yaml", &file)]);
    let want = format!(
        "service app: platform: linux/{other}: burrow runs images for this machine's platform only (linux/{arch})"
    );
    for args in [&["pull"][..], &["up", "--no-start"][..]] {
        let out = compose_unchecked(&env, &dir, args, &[]);
        assert!(
            !out.status.success() && out.stderr.contains(&want),
            "{args:?} should say {want:?}\n{out}"
        );
    }
    let gone = env.run(&["image", "inspect", &name]);
    assert_ne!(gone.code(), Some(0), "pulled for another platform\n{gone}");
    let made = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!made.stdout.contains("there_default"), "{made}");
}

#[test]
fn a_service_is_reached_by_each_of_its_network_aliases() {
    let test = "a_service_is_reached_by_each_of_its_network_aliases";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "services:\n  db:\n    image: netbox\n    command: [\"nc\", \"-ll\", \"-p\", \"5432\", \"-e\", \"echo\", \"pong\"]\n    networks:\n      back:\n        aliases: [database, store]\n  web:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    networks: [back]\nnetworks:\n  back: {{}}\n"
    );
    let dir = project(&env, "alias", &[("compose.yaml", &file)]);
    compose(&env, &dir, &["up", "-d"], &[]).assert_ok();
    for name in ["database", "store", "db"] {
        let got = exec_until(
            &env,
            &dir,
            "web",
            &format!("nc -w 2 {name} 5432 </dev/null"),
        );
        assert_eq!(got, "pong\n", "reached as {name}");
    }
    let other = compose(
        &env,
        &dir,
        &[
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            "nc -w 2 elsewhere 5432 </dev/null || echo unknown",
        ],
        &[],
    );
    assert_eq!(other.stdout, "unknown\n", "{other}");
    compose(&env, &dir, &["down"], &[]).assert_ok();
}

#[test]
fn deploy_resource_limits_are_the_containers_limits() {
    let test = "deploy_resource_limits_are_the_containers_limits";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "services:\n  capped:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    deploy:\n      resources:\n        limits: {{memory: 64m, cpus: \"0.5\", pids: 50}}\n"
    );
    let dir = project(&env, "limits", &[("compose.yaml", &file)]);
    let up = compose(&env, &dir, &["up", "-d"], &[]);
    // Made with the limits, whether or not this machine can apply them.
    let shown = env.ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
        "limits-capped-1",
    ]);
    assert_eq!(
        shown.stdout.trim(),
        "67108864 500000000 50",
        "{up}\n{shown}"
    );
    if up.code() == Some(0) {
        // Applied: the container's own cgroup says so.
        let got = exec_until(
            &env,
            &dir,
            "capped",
            "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max",
        );
        assert_eq!(got, "67108864\n50000 100000\n50\n");
    } else {
        // Not applied where there is no cgroup v2 to delegate: an error,
        // never a container without its limits.
        assert!(up.stderr.contains("needs cgroup v2"), "{up}");
        assert_ne!(state(&env, "limits-capped-1"), "running <no value>");
    }
    compose(&env, &dir, &["down"], &[]).assert_ok();
}

#[test]
fn attached_up_prefixes_every_services_output_and_ctrl_c_stops_them() {
    let test = "attached_up_prefixes_every_services_output_and_ctrl_c_stops_them";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = "services:\n  web:\n    image: netbox\n    command: [\"sh\", \"-c\", \"echo web ready; trap 'echo web stopping; exit 0' TERM; while :; do sleep 0.2; done\"]\n  db:\n    image: netbox\n    command: [\"sh\", \"-c\", \"echo db ready >&2; trap 'exit 0' TERM; while :; do sleep 0.2; done\"]\n";
    let dir = project(&env, "fg", &[("compose.yaml", file)]);
    let mut up = Running::start(&env, &dir, &["up"]);
    up.wait_line(false, "web-1  | web ready");
    up.wait_line(true, "db-1   | db ready");
    up.interrupt();
    let (status, seen) = up.finish();
    assert_eq!(status.code(), Some(0), "{seen:#?}");
    let said = |line: &str| seen.iter().any(|(_, l)| l == line);
    assert!(
        said("Gracefully stopping... (press Ctrl+C again to force)")
            && said("web-1  | web stopping")
            && said("web-1 exited with code 0"),
        "{seen:#?}"
    );
    // Stopped, not removed.
    assert_eq!(state(&env, "fg-web-1"), "exited 0");
    assert_eq!(state(&env, "fg-db-1"), "exited 0");
    compose(&env, &dir, &["down"], &[]).assert_ok();
}

#[test]
fn a_second_ctrl_c_kills_services_that_do_not_stop() {
    let test = "a_second_ctrl_c_kills_services_that_do_not_stop";
    let Some(env) = env_with_image(test) else {
        return;
    };
    // It ignores its stop signal, and may take an hour to stop: only the
    // kill the second Ctrl-C asks for ends it within the test's patience.
    let file = "services:\n  stubborn:\n    image: netbox\n    stop_grace_period: 1h\n    command: [\"sh\", \"-c\", \"trap '' TERM; echo holding; while :; do sleep 0.2; done\"]\n";
    let dir = project(&env, "stub", &[("compose.yaml", file)]);
    let mut up = Running::start(&env, &dir, &["up"]);
    up.wait_line(false, "stubborn-1  | holding");
    up.interrupt();
    up.wait_line(
        false,
        "Gracefully stopping... (press Ctrl+C again to force)",
    );
    up.interrupt();
    let (status, seen) = up.finish();
    assert_eq!(status.code(), Some(130), "{seen:#?}");
    assert_eq!(state(&env, "stub-stubborn-1"), "exited 137");
    compose(&env, &dir, &["down"], &[]).assert_ok();
}

#[test]
fn network_mode_shares_another_services_network_or_none_or_the_hosts() {
    let test = "network_mode_shares_another_services_network_or_none_or_the_hosts";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let port = free_port().to_string();
    let file = format!(
        "services:\n  server:\n    image: netbox\n    command: [\"nc\", \"-ll\", \"-p\", \"7000\", \"-e\", \"echo\", \"shared\"]\n  sidecar:\n    image: netbox\n    network_mode: \"service:server\"\n    command: [\"sh\", \"-c\", {LOOP:?}]\n  joined:\n    image: netbox\n    network_mode: \"container:nm-server-1\"\n    depends_on: [server]\n    command: [\"sh\", \"-c\", {LOOP:?}]\n  alone:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n  onhost:\n    image: netbox\n    network_mode: host\n    command: [\"nc\", \"-ll\", \"-p\", \"${{HOST_PORT}}\", \"-e\", \"echo\", \"on the host\"]\n"
    );
    let dir = project(&env, "nm", &[("compose.yaml", &file)]);
    compose(&env, &dir, &["up", "-d"], &[("HOST_PORT", &port)]).assert_ok();
    // Sharing the server's network: its port on their loopback.
    for service in ["sidecar", "joined"] {
        let got = exec_until(&env, &dir, service, "nc -w 2 127.0.0.1 7000 </dev/null");
        assert_eq!(got, "shared\n", "{service}");
    }
    // none: loopback only, the server out of reach.
    let alone = compose(
        &env,
        &dir,
        &[
            "exec",
            "-T",
            "alone",
            "sh",
            "-c",
            "cat /proc/net/dev | grep -c : ; nc -w 2 server 7000 </dev/null || echo unreachable",
        ],
        &[],
    );
    assert_eq!(alone.stdout, "1\nunreachable\n", "{alone}");
    // host: its listener is the host's.
    assert_eq!(read_port(port.parse().unwrap()), "on the host\n");
    compose(&env, &dir, &["down"], &[("HOST_PORT", &port)]).assert_ok();
}

#[test]
fn scale_and_replicas_name_containers_one_to_n_and_up_scale_changes_them() {
    let test = "scale_and_replicas_name_containers_one_to_n_and_up_scale_changes_them";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "services:\n  worker:\n    image: netbox\n    network_mode: none\n    scale: 2\n    command: [\"sh\", \"-c\", {LOOP:?}]\n  other:\n    image: netbox\n    network_mode: none\n    deploy: {{replicas: 3}}\n    command: [\"sh\", \"-c\", {LOOP:?}]\n"
    );
    let dir = project(&env, "sc", &[("compose.yaml", &file)]);
    let names = |env: &TestEnv| {
        let mut n: Vec<String> = compose(env, &dir, &["ps", "--format", "json"], &[])
            .stdout
            .split("\"Name\":\"")
            .skip(1)
            .filter_map(|s| s.split('"').next().map(str::to_string))
            .collect();
        n.sort();
        n
    };
    compose(&env, &dir, &["up", "-d"], &[]).assert_ok();
    assert_eq!(
        names(&env),
        [
            "sc-other-1",
            "sc-other-2",
            "sc-other-3",
            "sc-worker-1",
            "sc-worker-2"
        ]
    );
    compose(
        &env,
        &dir,
        &["up", "-d", "--scale", "worker=1", "--scale", "other=4"],
        &[],
    )
    .assert_ok();
    assert_eq!(
        names(&env),
        [
            "sc-other-1",
            "sc-other-2",
            "sc-other-3",
            "sc-other-4",
            "sc-worker-1"
        ]
    );
    let two = compose(
        &env,
        &dir,
        &["exec", "-T", "--index", "4", "other", "cat", "/starts"],
        &[],
    );
    assert_eq!(two.stdout, "started\n", "{two}");
    compose(&env, &dir, &["down"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

#[test]
fn secrets_and_configs_are_mounted_read_only_from_their_files() {
    let test = "secrets_and_configs_are_mounted_read_only_from_their_files";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "services:\n  app:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    secrets: [token, {{source: token, target: renamed}}]\n    configs: [settings, {{source: settings, target: /etc/app.conf}}]\nsecrets:\n  token: {{file: ./token.txt}}\nconfigs:\n  settings: {{file: ./settings.ini}}\n"
    );
    let dir = project(
        &env,
        "sec",
        &[
            ("compose.yaml", &file),
            ("token.txt", "s3cret\n"),
            ("settings.ini", "level=3\n"),
        ],
    );
    compose(&env, &dir, &["up", "-d"], &[]).assert_ok();
    let got = exec_until(
        &env,
        &dir,
        "app",
        "cat /run/secrets/token /run/secrets/renamed /settings /etc/app.conf",
    );
    assert_eq!(got, "s3cret\ns3cret\nlevel=3\nlevel=3\n");
    // The container cannot change them, nor the host's files through them.
    for path in [
        "/run/secrets/token",
        "/run/secrets/renamed",
        "/settings",
        "/etc/app.conf",
    ] {
        let out = compose(
            &env,
            &dir,
            &[
                "exec",
                "-T",
                "app",
                "sh",
                "-c",
                &format!("echo evil > {path} || echo refused; rm -f {path} || echo kept"),
            ],
            &[],
        );
        assert_eq!(out.stdout, "refused\nkept\n", "{path}\n{out}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("token.txt")).unwrap(),
        "s3cret\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("settings.ini")).unwrap(),
        "level=3\n"
    );
    compose(&env, &dir, &["down"], &[]).assert_ok();

    // One not declared, or not from a file: errors naming service and key.
    let bad = project(
        &env,
        "badsec",
        &[(
            "compose.yaml",
            "services:\n  app:\n    image: netbox\n    secrets: [nope, env]\nsecrets:\n  env: {environment: HOME}\n",
        )],
    );
    let out = compose(&env, &bad, &["up", "-d"], &[]);
    assert!(
        out.error_line()
            .contains("service app: secrets: \"nope\" is not declared under the top-level secrets"),
        "{out}"
    );
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

#[test]
fn secrets_and_configs_from_environment_and_content_are_read_only_files_of_burrows() {
    let test = "secrets_and_configs_from_environment_and_content_are_read_only_files_of_burrows";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "services:\n  app:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    secrets: [token]\n    configs: [inline, {{source: inline, target: /etc/app.conf}}]\nsecrets:\n  token: {{environment: TOKEN}}\nconfigs:\n  inline: {{content: \"level=$${{LEVEL}}\\n\"}}\n"
    );
    let dir = project(&env, "gen", &[("compose.yaml", &file)]);
    let vars = [("TOKEN", "s3cret")];
    compose(&env, &dir, &["up", "-d"], &vars).assert_ok();
    let got = exec_until(
        &env,
        &dir,
        "app",
        "cat /run/secrets/token; echo; cat /inline /etc/app.conf",
    );
    assert_eq!(got, "s3cret\nlevel=${LEVEL}\nlevel=${LEVEL}\n");
    // The files burrow wrote: in the project's directory under the
    // storage root, which only the user can enter.
    let state = env.storage().join("compose/gen");
    let token = state.join("secrets/token");
    assert_eq!(std::fs::read_to_string(&token).unwrap(), "s3cret");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&token), 0o444);
    // The container can change neither them nor the files behind them,
    // and sees nothing else of that directory.
    for path in ["/run/secrets/token", "/inline", "/etc/app.conf"] {
        let out = compose(
            &env,
            &dir,
            &[
                "exec",
                "-T",
                "app",
                "sh",
                "-c",
                &format!(
                    "echo evil > {path} || echo refused; rm -f {path} || echo kept; chmod 666 {path} || echo same"
                ),
            ],
            &vars,
        );
        assert_eq!(out.stdout, "refused\nkept\nsame\n", "{path}\n{out}");
    }
    let listed = compose(
        &env,
        &dir,
        &["exec", "-T", "app", "sh", "-c", "ls -a /run/secrets"],
        &vars,
    );
    assert_eq!(
        listed.stdout.split_whitespace().collect::<Vec<_>>(),
        [".", "..", "token"]
    );
    assert_eq!(std::fs::read_to_string(&token).unwrap(), "s3cret");
    assert_eq!(
        std::fs::read_to_string(state.join("configs/inline")).unwrap(),
        "level=${LEVEL}\n"
    );
    // A new value: up makes the container again, with it.
    let up = compose(&env, &dir, &["up", "-d"], &[("TOKEN", "rotated")]);
    up.assert_ok();
    assert!(up.stdout.contains("Recreating"), "{up}");
    let got = exec_until(&env, &dir, "app", "cat /run/secrets/token");
    assert_eq!(got, "rotated");
    // down removes them.
    compose(&env, &dir, &["down"], &[("TOKEN", "rotated")]).assert_ok();
    assert!(!state.exists());

    // Unset, the variable is an error naming secret and variable.
    let out = compose(&env, &dir, &["up", "-d"], &[]);
    assert!(
        out.error_line()
            .contains("service app: secrets: \"token\": the environment variable TOKEN is not set"),
        "{out}"
    );
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

/// A service that says it is waiting, then exits with status 3 once
/// /tmp/go exists; another that runs until its stop signal and then
/// exits 5.
const ABORT_PROJECT: &str = "services:\n  quick:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", \"echo waiting; while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 3\"]\n  stay:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", \"trap 'echo stay stopping; exit 5' TERM; echo staying; while :; do sleep 0.2; done\"]\n";

/// `compose up ARGS` attached on ABORT_PROJECT, quick told to exit once
/// both run: `up`'s status and what it printed.
fn abort_run(env: &TestEnv, dir: &Path, args: &[&str]) -> (Option<i32>, Vec<(bool, String)>) {
    let mut all = vec!["up"];
    all.extend_from_slice(args);
    let mut up = Running::start(env, dir, &all);
    up.wait_line(false, "quick-1  | waiting");
    up.wait_line(false, "stay-1   | staying");
    compose(env, dir, &["exec", "-T", "quick", "touch", "/tmp/go"], &[]).assert_ok();
    let (status, seen) = up.finish();
    (status.code(), seen)
}

#[test]
fn up_abort_on_container_exit_stops_the_others_and_exit_code_from_picks_the_status() {
    let test = "up_abort_on_container_exit_stops_the_others_and_exit_code_from_picks_the_status";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let dir = project(&env, "ab", &[("compose.yaml", ABORT_PROJECT)]);
    // The first to exit stops the others; its status is up's.
    let (code, seen) = abort_run(&env, &dir, &["--abort-on-container-exit"]);
    let said = |seen: &[(bool, String)], line: &str| seen.iter().any(|(_, l)| l == line);
    assert_eq!(code, Some(3), "{seen:#?}");
    assert!(
        said(&seen, "quick-1 exited with code 3")
            && said(&seen, "Aborting on container exit...")
            && said(&seen, "stay-1   | stay stopping")
            && said(&seen, "stay-1 exited with code 5"),
        "{seen:#?}"
    );
    assert_eq!(state(&env, "ab-stay-1"), "exited 5");
    compose(&env, &dir, &["down"], &[]).assert_ok();

    // --exit-code-from: that service's status, though another exited first.
    let (code, seen) = abort_run(&env, &dir, &["--exit-code-from", "stay"]);
    assert_eq!(code, Some(5), "{seen:#?}");
    assert!(said(&seen, "Aborting on container exit..."), "{seen:#?}");
    assert_eq!(state(&env, "ab-quick-1"), "exited 3");
    compose(&env, &dir, &["down"], &[]).assert_ok();

    // Not a service of the project, or with -d: refused, nothing made.
    let out = compose(&env, &dir, &["up", "--exit-code-from", "nope"], &[]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.error_line().contains("no such service: nope"), "{out}");
    let out = compose(&env, &dir, &["up", "-d", "--abort-on-container-exit"], &[]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(out.stderr.contains("cannot be used with"), "{out}");
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

/// `--abort-on-container-failure`: a container that exits with 0 stops
/// nothing; the first to exit with another status stops the others, and
/// its status is up's. It cannot go with `--abort-on-container-exit` or
/// `-d`.
#[test]
fn up_abort_on_container_failure_stops_the_others_only_on_a_failure() {
    let test = "up_abort_on_container_failure_stops_the_others_only_on_a_failure";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "{ABORT_PROJECT}  zero:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", \"echo zeroing; while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 0\"]\n"
    );
    let dir = project(&env, "af", &[("compose.yaml", &file)]);
    let mut up = Running::start(&env, &dir, &["up", "--abort-on-container-failure"]);
    up.wait_line(false, "quick-1  | waiting");
    up.wait_line(false, "stay-1   | staying");
    up.wait_line(false, "zero-1   | zeroing");
    compose(&env, &dir, &["exec", "-T", "zero", "touch", "/tmp/go"], &[]).assert_ok();
    up.wait_line(false, "zero-1 exited with code 0");
    compose(
        &env,
        &dir,
        &["exec", "-T", "quick", "touch", "/tmp/go"],
        &[],
    )
    .assert_ok();
    let (status, seen) = up.finish();
    let at = |line: &str| seen.iter().position(|(_, l)| l == line);
    assert_eq!(status.code(), Some(3), "{seen:#?}");
    let (Some(zero), Some(quick), Some(aborting)) = (
        at("zero-1 exited with code 0"),
        at("quick-1 exited with code 3"),
        at("Aborting on container exit..."),
    ) else {
        panic!("{seen:#?}");
    };
    assert!(
        zero < quick && quick < aborting,
        "aborted on an exit with 0: {seen:#?}"
    );
    assert!(at("stay-1 exited with code 5").is_some(), "{seen:#?}");
    assert_eq!(state(&env, "af-stay-1"), "exited 5");
    compose(&env, &dir, &["down"], &[]).assert_ok();

    for with in ["--abort-on-container-exit", "-d"] {
        let out = compose(
            &env,
            &dir,
            &["up", with, "--abort-on-container-failure"],
            &[],
        );
        assert_ne!(out.code(), Some(0), "{out}");
        assert!(out.stderr.contains("cannot be used with"), "{out}");
    }
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

/// `--attach SERVICE` follows only that service's containers and
/// `--no-attach SERVICE` all but its: the other service's output is not
/// printed though it ran, and Ctrl-C still stops every container `up`
/// started. An `--attach` of a service `up` does not run, or flags that
/// leave nothing to follow, are refused before anything is made.
#[test]
fn up_attach_and_no_attach_choose_whose_output_is_followed() {
    let test = "up_attach_and_no_attach_choose_whose_output_is_followed";
    let Some(env) = env_with_image(test) else {
        return;
    };
    // quick ignores SIGTERM (sh as pid 1 without a trap): a short grace.
    let file = ABORT_PROJECT.replacen(
        "  quick:\n    image: netbox\n",
        "  quick:\n    image: netbox\n    stop_grace_period: 1s\n",
        1,
    );
    assert_ne!(file, ABORT_PROJECT);
    let dir = project(&env, "at", &[("compose.yaml", &file)]);
    for flags in [["--attach", "stay"], ["--no-attach", "quick"]] {
        let mut all = vec!["up"];
        all.extend_from_slice(&flags);
        let mut up = Running::start(&env, &dir, &all);
        up.wait_line(false, "Attaching to stay-1");
        up.wait_line(false, "stay-1  | staying");
        // quick runs and has said its line, which up would have printed.
        common::wait_for(Duration::from_secs(60), "quick's line in its log", || {
            compose(&env, &dir, &["logs", "quick"], &[])
                .stdout
                .contains("waiting")
        });
        up.interrupt();
        let (status, seen) = up.finish();
        assert_eq!(status.code(), Some(0), "{flags:?}: {seen:#?}");
        assert!(
            !seen.iter().any(|(_, l)| l.starts_with("quick-1")),
            "{flags:?}: quick's output was followed: {seen:#?}"
        );
        assert!(
            state(&env, "at-quick-1").starts_with("exited"),
            "{flags:?}: Ctrl-C left quick running: {seen:#?}"
        );
        compose(&env, &dir, &["down"], &[]).assert_ok();
    }

    let out = compose(&env, &dir, &["up", "--attach", "nope"], &[]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.error_line().contains("no such service: nope"), "{out}");
    let out = compose(
        &env,
        &dir,
        &["up", "--attach", "stay", "--no-attach", "stay"],
        &[],
    );
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.error_line().contains("leave no service to follow"),
        "{out}"
    );
    let out = compose(&env, &dir, &["up", "-d", "--attach", "stay"], &[]);
    assert!(out.stderr.contains("cannot be used with"), "{out}");
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

/// `start --wait`, as docker compose's: it returns once the started
/// services run, healthy when they have a health check (without it,
/// `start` returns before the first check); an unhealthy one, or one not
/// decided within `--wait-timeout`, is an error naming the container.
#[test]
fn start_wait_returns_once_services_are_healthy_and_fails_on_unhealthy_or_timeout() {
    let test = "start_wait_returns_once_services_are_healthy_and_fails_on_unhealthy_or_timeout";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = format!(
        "services:\n  db:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    healthcheck: {{test: [CMD, \"true\"], interval: 1s}}\n  app:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n"
    );
    let dir = project(&env, "sw", &[("compose.yaml", &file)]);
    compose(&env, &dir, &["up", "--no-start"], &[]).assert_ok();
    let start = compose(&env, &dir, &["start", "--wait"], &[]);
    start.assert_ok();
    let health = env.ok(&["inspect", "--format", "{{.State.Health.Status}}", "sw-db-1"]);
    assert_eq!(health.stdout.trim(), "healthy", "{start}");
    assert_eq!(state(&env, "sw-app-1"), "running <no value>");
    assert!(
        start.stdout.contains(" Container sw-db-1  Healthy"),
        "{start}"
    );
    compose(&env, &dir, &["down"], &[]).assert_ok();

    let file = format!(
        "services:\n  sick:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    healthcheck: {{test: [CMD, \"false\"], interval: 1s, retries: 1}}\n  slow:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    healthcheck: {{test: [CMD, \"true\"], interval: 1h}}\n"
    );
    let dir = project(&env, "ss", &[("compose.yaml", &file)]);
    compose(&env, &dir, &["up", "--no-start"], &[]).assert_ok();
    let start = compose(&env, &dir, &["start", "--wait", "sick"], &[]);
    assert_eq!(start.code(), Some(1), "{start}");
    assert!(
        start
            .error_line()
            .contains("container ss-sick-1 is unhealthy"),
        "{start}"
    );
    let start = compose(
        &env,
        &dir,
        &["start", "--wait", "--wait-timeout", "2", "slow"],
        &[],
    );
    assert_eq!(start.code(), Some(1), "{start}");
    assert!(
        start.error_line().contains(
            "container ss-slow-1 was not running (and healthy, having a health check) within 2s"
        ),
        "{start}"
    );
    compose(&env, &dir, &["down"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

#[test]
fn up_wait_returns_once_services_are_healthy_and_fails_on_unhealthy_or_timeout() {
    let test = "up_wait_returns_once_services_are_healthy_and_fails_on_unhealthy_or_timeout";
    let Some(env) = env_with_image(test) else {
        return;
    };
    // Healthy only at the first check, a second after it starts: up -d
    // alone returns before that.
    let file = format!(
        "services:\n  db:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    healthcheck: {{test: [CMD, \"true\"], interval: 1s}}\n  app:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n"
    );
    let dir = project(&env, "wt", &[("compose.yaml", &file)]);
    let up = compose(&env, &dir, &["up", "--wait"], &[]);
    up.assert_ok();
    let health = env.ok(&["inspect", "--format", "{{.State.Health.Status}}", "wt-db-1"]);
    assert_eq!(health.stdout.trim(), "healthy", "{up}");
    assert_eq!(state(&env, "wt-app-1"), "running <no value>");
    assert!(up.stdout.contains(" Container wt-db-1  Healthy"), "{up}");
    compose(&env, &dir, &["down"], &[]).assert_ok();

    // Unhealthy: an error naming the container, the containers left for
    // down (as compose leaves them).
    let file = format!(
        "services:\n  sick:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    healthcheck: {{test: [CMD, \"false\"], interval: 1s, retries: 1}}\n"
    );
    let dir = project(&env, "ws", &[("compose.yaml", &file)]);
    let up = compose(&env, &dir, &["up", "--wait"], &[]);
    assert_eq!(up.code(), Some(1), "{up}");
    assert!(
        up.error_line().contains("container ws-sick-1 is unhealthy"),
        "{up}"
    );
    compose(&env, &dir, &["down"], &[]).assert_ok();

    // Not decided within --wait-timeout: its first check is an hour away.
    let file = format!(
        "services:\n  slow:\n    image: netbox\n    network_mode: none\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    healthcheck: {{test: [CMD, \"true\"], interval: 1h}}\n"
    );
    let dir = project(&env, "wl", &[("compose.yaml", &file)]);
    let up = compose(&env, &dir, &["up", "--wait", "--wait-timeout", "2"], &[]);
    assert_eq!(up.code(), Some(1), "{up}");
    assert!(
        up.error_line().contains(
            "container wl-slow-1 was not running (and healthy, having a health check) within 2s"
        ),
        "{up}"
    );
    compose(&env, &dir, &["down"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

/// Attached `compose up` in `dir`, interrupted by a SIGINT (a Ctrl-C)
/// once it waits for int-db-1: its status and what it printed.
fn up_interrupted_while_waiting(env: &TestEnv, dir: &Path) -> (Option<i32>, Vec<(bool, String)>) {
    let mut up = Running::start(env, dir, &["up"]);
    up.wait_line(false, " Container int-db-1  Waiting");
    up.interrupt();
    let (status, seen) = up.finish();
    (status.code(), seen)
}

#[test]
fn ctrl_c_while_up_makes_containers_removes_what_it_made_and_keeps_the_rest() {
    let test = "ctrl_c_while_up_makes_containers_removes_what_it_made_and_keeps_the_rest";
    let Some(env) = env_with_image(test) else {
        return;
    };
    // db's first check is an hour away: web waits for it until the Ctrl-C.
    // base mounts the volume too, so that `up base` makes it (an up makes
    // only the volumes its services mount).
    let file = format!(
        "services:\n  base:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    volumes: [\"data:/data\"]\n  db:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    volumes: [\"data:/data\"]\n    networks: [default, back]\n    healthcheck: {{test: [CMD, \"true\"], interval: 1h}}\n  web:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    depends_on: {{db: {{condition: service_healthy}}}}\nvolumes:\n  data: {{}}\nnetworks:\n  back: {{}}\n"
    );
    let dir = project(&env, "int", &[("compose.yaml", &file)]);
    let nets = |env: &TestEnv| env.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout;
    let vols = |env: &TestEnv| env.ok(&["volume", "ls", "-q"]).stdout;

    // Nothing there before: nothing there after.
    let (code, seen) = up_interrupted_while_waiting(&env, &dir);
    assert_eq!(code, Some(130), "{seen:#?}");
    let said = |seen: &[(bool, String)], line: &str| seen.iter().any(|(_, l)| l == line);
    for line in [
        " Container int-db-1  Stopped",
        " Container int-web-1  Removing",
        " Container int-base-1  Removing",
        " Network int_back  Removing",
        " Network int_default  Removing",
        " Volume int_data  Removing",
    ] {
        assert!(said(&seen, line), "{line}: {seen:#?}");
    }
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    assert!(!nets(&env).contains("int_"), "{}", nets(&env));
    assert!(!vols(&env).contains("int_data"), "{}", vols(&env));

    // What an earlier up made (base, running, its network and the
    // volume) stays as it was; what this one made goes.
    compose(&env, &dir, &["up", "-d", "base"], &[]).assert_ok();
    let (code, seen) = up_interrupted_while_waiting(&env, &dir);
    assert_eq!(code, Some(130), "{seen:#?}");
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names.stdout.trim(), "int-base-1", "{names}\n{seen:#?}");
    assert_eq!(state(&env, "int-base-1"), "running <no value>");
    let now = nets(&env);
    assert!(
        now.contains("int_default") && !now.contains("int_back"),
        "{now}"
    );
    assert!(vols(&env).contains("int_data"));
    compose(&env, &dir, &["down", "-v"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

/// Files under `dir`'s subdirectories, owned by the user.
fn files_under(env: &TestEnv, dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        let parent = p.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        env.give(parent);
        std::fs::write(&p, text).unwrap();
        env.give(&p);
    }
}

#[test]
fn build_additional_contexts_name_a_directory_an_image_and_another_services_image() {
    let test = "build_additional_contexts_name_a_directory_an_image_and_another_services_image";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let file = "services:\n  web:\n    build:\n      context: ./web\n      additional_contexts:\n        base: service:base\n        docs: ./docs\n        tools: docker-image://netbox\n    command: [\"sh\", \"-c\", \"cat /base.txt /note.txt; test -x /tools-busybox && echo tools\"]\n  base:\n    build: ./base\n";
    let dir = project(&env, "ctxs", &[("compose.yaml", file)]);
    files_under(
        &env,
        &dir,
        &[
            ("base/Containerfile", "FROM netbox\nCOPY base.txt /base.txt\n"),
            ("base/base.txt", "from the base service\n"),
            (
                "web/Containerfile",
                "FROM netbox\nCOPY --from=base /base.txt /base.txt\nCOPY --from=docs note.txt /note.txt\nCOPY --from=tools /bin/busybox /tools-busybox\n",
            ),
            ("docs/note.txt", "from the docs context\n"),
        ],
    );
    // From the directory above: `./docs` is the project directory's.
    let f = ["-f", "ctxs/compose.yaml"];
    let run = |args: &[&str]| {
        let mut all = f.to_vec();
        all.extend_from_slice(args);
        compose(&env, &env.work, &all, &[])
    };
    // run builds what is missing: base's image first, as web's build
    // copies from it.
    let out = run(&["run", "--rm", "--no-deps", "web"]);
    out.assert_ok();
    let base = out.stdout.find(" Service base  Building");
    let web = out.stdout.find(" Service web  Building");
    assert!(base.is_some() && base < web, "{out}");
    assert!(
        out.stdout
            .ends_with("from the base service\nfrom the docs context\ntools\n"),
        "{out}"
    );
    // build of web builds base again first: web copies its new file.
    std::fs::write(dir.join("base/base.txt"), "the base, changed\n").unwrap();
    let out = run(&["build", "web"]);
    out.assert_ok();
    let base = out.stdout.find(" Service base  Building");
    let web = out.stdout.find(" Service web  Building");
    assert!(base.is_some() && base < web, "{out}");
    let out = run(&["run", "--rm", "--no-deps", "web"]);
    out.assert_ok();
    assert!(
        out.stdout
            .ends_with("the base, changed\nfrom the docs context\ntools\n"),
        "{out}"
    );
    // A directory that is not there is named with its context.
    std::fs::remove_file(dir.join("docs/note.txt")).unwrap();
    std::fs::remove_dir(dir.join("docs")).unwrap();
    let out = run(&["build", "web"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(
        out.stderr.contains("docs=./docs: no such directory"),
        "{out}"
    );
    run(&["down"]).assert_ok();
}

#[test]
fn dockers_predefined_networks_named_in_a_file_are_burrows_network_modes() {
    let test = "dockers_predefined_networks_named_in_a_file_are_burrows_network_modes";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let service = |networks: &str| {
        format!("    image: netbox\n{networks}    command: [\"sh\", \"-c\", {LOOP:?}]\n")
    };
    let file = format!(
        "services:\n  a:\n{}  b:\n{}  c:\n{}  d:\n{}  e:\n{}networks:\n  default: {{external: true, name: bridge}}\n  outside: {{external: true, name: host}}\n  none: {{external: true}}\n  bridge: {{external: true}}\n",
        service(""),
        service("    networks: [outside]\n"),
        service("    networks: [none]\n"),
        service("    networks: [bridge]\n"),
        service("    network_mode: host\n"),
    );
    let dir = project(&env, "pre", &[("compose.yaml", &file)]);
    let up = compose(&env, &dir, &["up", "-d"], &[]);
    up.assert_ok();
    assert!(!up.stdout.contains("Network"), "no network is made\n{up}");
    let on = |network: &str| {
        let out = env.ok(&[
            "ps",
            "--filter",
            &format!("network={network}"),
            "--format",
            "{{.Names}}",
        ]);
        let mut names: Vec<String> = out.stdout.lines().map(str::to_string).collect();
        names.sort();
        names
    };
    assert_eq!(on("bridge"), ["pre-a-1", "pre-d-1"]);
    assert_eq!(on("host"), ["pre-b-1", "pre-e-1"]);
    assert_eq!(on("none"), ["pre-c-1"]);
    // none: loopback alone; host: the host's interfaces.
    let interfaces = |service: &str| {
        let out = compose(
            &env,
            &dir,
            &["exec", "-T", service, "grep", "-c", ":", "/proc/net/dev"],
            &[],
        );
        out.assert_ok();
        out.stdout.trim().to_string()
    };
    let host = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .filter(|l| l.contains(':'))
        .count()
        .to_string();
    assert_eq!(interfaces("c"), "1");
    assert_eq!(interfaces("b"), host);
    let nets = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(nets.stdout, "bridge\nhost\nnone\n", "{nets}");
    compose(&env, &dir, &["down"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    // A predefined network joins no other, as docker's.
    let two = "services:\n  a:\n    image: netbox\n    networks: [default, back]\nnetworks:\n  default: {external: true, name: bridge}\n  back: {}\n";
    let dir = project(&env, "pretwo", &[("compose.yaml", two)]);
    let out = compose(&env, &dir, &["up", "-d"], &[]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr.contains(
            "service a: networks: network \"default\" is bridge, docker's predefined network"
        ),
        "{out}"
    );
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

#[test]
fn compose_run_takes_cap_add_cap_drop_and_use_aliases() {
    let test = "compose_run_takes_cap_add_cap_drop_and_use_aliases";
    let Some(env) = env_with_image(test) else {
        return;
    };
    let serve = "[\"nc\", \"-ll\", \"-p\", \"5432\", \"-e\", \"echo\", \"pong\"]";
    let file = format!(
        "services:\n  server:\n    image: netbox\n    command: {serve}\n    networks:\n      back: {{aliases: [api]}}\n      front: {{aliases: [edge]}}\n  web:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    networks: [front]\n  peer:\n    image: netbox\n    command: [\"sh\", \"-c\", {LOOP:?}]\n    networks: [back]\n  tool:\n    image: netbox\n    network_mode: none\n    cap_drop: [NET_RAW]\n    cap_add: [SYS_NICE]\n    command: [\"grep\", \"^CapEff:\", \"/proc/self/status\"]\nnetworks:\n  back: {{}}\n  front: {{}}\n"
    );
    let dir = project(&env, "runflags", &[("compose.yaml", &file)]);
    // Capabilities: the service's, and the flags over them.
    const NET_RAW: u64 = 1 << 13;
    const SYS_NICE: u64 = 1 << 23;
    let caps = |flags: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.push("tool");
        let out = compose(&env, &dir, &args, &[]);
        out.assert_ok();
        let hex = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap_or_else(|| panic!("no CapEff\n{out}"));
        u64::from_str_radix(hex.trim(), 16).unwrap()
    };
    let service = caps(&[]);
    assert_eq!(service & (NET_RAW | SYS_NICE), SYS_NICE, "{service:x}");
    let flipped = caps(&["--cap-add", "net_raw", "--cap-drop", "SYS_NICE"]);
    assert_eq!(flipped & (NET_RAW | SYS_NICE), NET_RAW, "{flipped:x}");
    let bad = compose(
        &env,
        &dir,
        &["run", "--rm", "--cap-add", "NOPE", "tool"],
        &[],
    );
    assert_ne!(bad.code(), Some(0), "{bad}");
    assert!(bad.stderr.contains("--cap-add"), "{bad}");

    // Aliases: without --use-aliases a one-off container is known by its
    // own name alone, on each of the service's networks.
    compose(&env, &dir, &["up", "-d", "web", "peer"], &[]).assert_ok();
    compose(&env, &dir, &["run", "-d", "--name", "plain", "server"], &[]).assert_ok();
    assert_eq!(
        exec_until(&env, &dir, "web", "nc -w 2 plain 5432 </dev/null"),
        "pong\n"
    );
    assert_eq!(
        exec_until(&env, &dir, "peer", "nc -w 2 plain 5432 </dev/null"),
        "pong\n"
    );
    let unknown = |service: &str, name: &str| {
        let out = compose(
            &env,
            &dir,
            &[
                "exec",
                "-T",
                service,
                "sh",
                "-c",
                &format!("nc -w 2 {name} 5432 </dev/null || echo unknown"),
            ],
            &[],
        );
        assert_eq!(out.stdout, "unknown\n", "{name} from {service}\n{out}");
    };
    unknown("web", "edge");
    unknown("web", "server");
    unknown("peer", "api");
    // With it, the service's name and each network's aliases (plain
    // stays: a new container on its addresses would meet the members'
    // neighbour caches of plain's).
    compose(
        &env,
        &dir,
        &["run", "-d", "--name", "aliased", "--use-aliases", "server"],
        &[],
    )
    .assert_ok();
    for (service, name) in [
        ("web", "edge"),
        ("web", "server"),
        ("peer", "api"),
        ("peer", "server"),
    ] {
        let got = exec_until(
            &env,
            &dir,
            service,
            &format!("nc -w 2 {name} 5432 </dev/null"),
        );
        assert_eq!(got, "pong\n", "{name} from {service}");
    }
    unknown("web", "api");
    compose(&env, &dir, &["down"], &[]).assert_ok();
    assert!(env.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}
