//! `burrow compose`, end to end, as the unprivileged test user with
//! subordinate ids: a project's services on its own network, reaching
//! each other by service name, started after a dependency's health check
//! passes, a named volume that outlives `down` (and not `down -v`), a
//! port published on 127.0.0.1 and read from the host, two projects that
//! cannot reach each other, and the errors a project's files can hold.
//! The Debian project (PostgreSQL, Redis and a Python app, from Debian's
//! packages) is `a_debian_web_app_reaches_postgres_and_redis_by_name`.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

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

/// `burrow compose ARGS` in `dir`, with `vars` set.
fn compose(env: &TestEnv, dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> common::Output {
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
            .contains("compose.yaml:4: unknown key \"enviroment\" (did you mean \"environment\"?)"),
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

/// The web app: each GET adds a row in PostgreSQL and counts in Redis,
/// both reached by service name, and answers with both counts.
const APP: &str = r#"
import http.server, psycopg2, redis

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        db = psycopg2.connect(host="db", user="postgres", dbname="postgres")
        with db, db.cursor() as c:
            c.execute("CREATE TABLE IF NOT EXISTS hits (at timestamptz DEFAULT now())")
            c.execute("INSERT INTO hits DEFAULT VALUES")
            c.execute("SELECT count(*) FROM hits")
            rows = c.fetchone()[0]
        db.close()
        seen = redis.Redis(host="cache").incr("hits")
        body = f"postgres={rows} redis={seen}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"#;

/// PostgreSQL keeps its data in the named volume (initialised on the
/// first start, trusted from the project's network); Redis keeps
/// nothing; the app is built on the image at `up --build`.
const STACK_PROJECT: &str = r#"
services:
  db:
    image: localhost/compose-stack:bookworm
    volumes: ["pgdata:/var/lib/postgresql/data"]
    environment:
      PGDATA: /var/lib/postgresql/data/pg
    command:
      - sh
      - -c
      - |
        mkdir -p "$$PGDATA" && chown postgres "$$PGDATA" && chmod 700 "$$PGDATA"
        if [ ! -s "$$PGDATA/PG_VERSION" ]; then
          runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$$PGDATA" --auth=trust >/dev/null
          echo "host all all all trust" >> "$$PGDATA/pg_hba.conf"
        fi
        exec runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres -D "$$PGDATA" -c listen_addresses='*' -k /tmp
    healthcheck:
      test: ["CMD", "/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 1s
      retries: 60
  cache:
    image: localhost/compose-stack:bookworm
    command: ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", ""]
  web:
    build:
      context: ./app
      args: {BASE: "localhost/compose-stack:bookworm"}
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
    ports: ["127.0.0.1:${WEB_PORT}:8000"]
    working_dir: /app
    command: ["python3", "-u", "app.py"]
volumes:
  pgdata: {}
"#;

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
    let dir = project(&env, "stack", &[("compose.yaml", STACK_PROJECT)]);
    let app = dir.join("app");
    std::fs::create_dir(&app).unwrap();
    env.give(&app);
    for (name, text) in [
        ("app.py", APP),
        (
            "Containerfile",
            "ARG BASE\nFROM $BASE\nCOPY app.py /app/app.py\n",
        ),
    ] {
        std::fs::write(app.join(name), text).unwrap();
        env.give(&app.join(name));
    }
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
