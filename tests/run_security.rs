//! What a hostile container tries against the host and against burrow
//! itself: the user's kernel keyrings, the burrow binary through
//! /proc/PID/exe, and the system calls the default seccomp profile refuses.
//! Probes are the host's python3, bound in read-only, calling the kernel
//! through ctypes.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::run_image::{self, PLAIN};
use common::{path_str, TestEnv, TestUser};
use std::path::Path;

/// The keyring probe, on both sides. `host [--wait=FILE] ARGS...`: a fresh
/// session keyring with a key `host-secret` in it, then ARGS run with
/// `{KEY}` replaced by the key's id, [then FILE's content once it exists,]
/// then which `planted-*` keys the session,
/// user and persistent keyrings hold. `inside KEY`: tries to read and find
/// the host's key, then plants keys in every keyring it can reach.
const KEYS_PY: &[u8] = br#"
import ctypes, os, platform, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {'x86_64': (248, 250), 'aarch64': (217, 219)}[platform.machine()]
SESSION, USER = ctypes.c_long(-3), ctypes.c_long(-4)
def keyctl(*a):
    r = libc.syscall(ctypes.c_long(NR[1]), *[ctypes.c_long(x) if isinstance(x, int) else x for x in a])
    return r, (ctypes.get_errno() if r < 0 else 0)
def add(desc, ring, payload=b'planted'):
    r = libc.syscall(ctypes.c_long(NR[0]), b'user', desc.encode(), payload, ctypes.c_long(len(payload)), ring)
    return r, (ctypes.get_errno() if r < 0 else 0)
def search(ring, desc):
    return keyctl(10, ring, b'user', desc.encode(), 0)
def persistent():
    return keyctl(22, -1, SESSION)
if sys.argv[1] == 'host':
    r, e = keyctl(1, b'burrow-keyring-test')
    assert r >= 0, e
    key, e = add('host-secret', SESSION, b'host payload')
    assert key >= 0, e
    wait = sys.argv[2][len('--wait='):] if sys.argv[2].startswith('--wait=') else None
    args = [a.replace('{KEY}', str(key)) for a in sys.argv[3 if wait else 2:]]
    p = subprocess.run(args, capture_output=True, text=True)
    print(p.stdout, end='')
    print('burrow-exit', p.returncode, p.stderr.strip().replace('\n', ' | '))
    while wait and not os.path.exists(wait):
        time.sleep(0.05)
    if wait:
        print(open(wait).read(), end='')
    p, _ = persistent()
    for desc in ('planted-s', 'planted-u', 'planted-p'):
        for name, ring in (('session', SESSION), ('user', USER), ('persistent', p)):
            if ring != -1 and search(ring, desc)[0] >= 0:
                print('host-sees', desc, 'in', name)
else:
    key = int(sys.argv[2])
    buf = ctypes.create_string_buffer(64)
    r, e = keyctl(11, key, buf, 64)
    print('read', buf.raw[:r].decode() if r >= 0 else 'errno %d' % e)
    r, e = search(SESSION, 'host-secret')
    print('search', 'found' if r >= 0 else 'errno %d' % e)
    print('add-session', add('planted-s', SESSION)[1])
    print('add-user', add('planted-u', USER)[1])
    p, e = persistent()
    print('add-persistent', add('planted-p', ctypes.c_long(p))[1] if p >= 0 else 'errno %d' % e)
"#;

/// `run` arguments binding the host's python3 (and `script` as /probe.py).
fn python_binds(script: &Path) -> Vec<String> {
    [
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
        "-v",
        &format!("{}:/probe.py:ro", path_str(script)),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn python_available() -> bool {
    Path::new("/usr/bin/python3").exists()
}

/// Runs `burrow ARGS` under the host side of the keyring probe and
/// returns its report.
fn keyring_probe(env: &TestEnv, script: &Path, args: &[String]) -> String {
    let mut all = vec![path_str(script).to_string(), "host".into()];
    let burrow = path_str(env.binary()).to_string();
    match args.first() {
        Some(w) if w.starts_with("--wait=") => {
            all.push(w.clone());
            all.push(burrow);
            all.extend(args[1..].iter().cloned());
        }
        _ => {
            all.push(burrow);
            all.extend(args.iter().cloned());
        }
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = env
        .command_of(Path::new("/usr/bin/python3"), &all)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the keyring probe");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

/// What the inside of the probe must report: the host's key neither
/// readable nor found, every plant either refused or kept from the host.
fn assert_keys_kept_apart(report: &str, what: &str) {
    assert!(
        report.contains("burrow-exit 0 "),
        "{what}: the container failed\n{report}"
    );
    assert!(
        !report.contains("read host payload"),
        "{what}: the container read the host's key\n{report}"
    );
    assert!(
        report.contains("search errno"),
        "{what}: the container found the host's key\n{report}"
    );
    assert!(
        !report.contains("host-sees"),
        "{what}: a key planted inside reached the host's keyrings\n{report}"
    );
}

#[test]
fn the_hosts_keyrings_are_out_of_reach_of_every_container_process() {
    let Some(env) = TestEnv::new(
        "the_hosts_keyrings_are_out_of_reach_of_every_container_process",
        TestUser::WithSubids,
    ) else {
        return;
    };
    if !python_available() {
        eprintln!("SKIP the_hosts_keyrings_are_out_of_reach: no /usr/bin/python3");
        return;
    }
    run_image::load_run_images(&env);
    let script = env.fixture("keys.py", KEYS_PY);
    let py = python_binds(&script);
    // The keyring alone: seccomp would refuse keyctl before it mattered.
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    let inside = ["python3", "/probe.py", "inside", "{KEY}"];
    for (what, extra) in [
        ("root", &[][..]),
        ("-u 1000", &["-u", "1000"][..]),
        ("keep-id", &["--userns", "keep-id"][..]),
    ] {
        let mut args: Vec<String> = ["run", "--rm", "--network", "none"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(unconfined.iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(py.iter().cloned());
        args.push(PLAIN.into());
        args.extend(inside.iter().map(|s| s.to_string()));
        let report = keyring_probe(&env, &script, &args);
        assert_keys_kept_apart(&report, what);
        assert!(report.contains("add-session 0"), "{what}: {report}");
    }

    // exec, foreground (as root and as 1000) and detached, into a
    // container started outside the probe's session.
    let mut run: Vec<String> = ["run", "-d", "--name", "keys", "--network", "none"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    run.extend(unconfined.iter().map(|s| s.to_string()));
    run.extend(py.iter().cloned());
    run.extend(["-v".into(), format!("{}:/out", path_str(&env.work))]);
    run.extend([PLAIN.to_string(), "sleep".into(), "600".into()]);
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    env.ok(&run);
    for (what, extra) in [("exec", &[][..]), ("exec -u 1000", &["-u", "1000"][..])] {
        let mut args = vec!["exec".to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("keys".into());
        args.extend(inside.iter().map(|s| s.to_string()));
        let report = keyring_probe(&env, &script, &args);
        assert_keys_kept_apart(&report, what);
    }
    let out = env.work.join("detached.txt");
    let _ = std::fs::remove_file(&out);
    let report = keyring_probe(
        &env,
        &script,
        &[
            format!("--wait={}", path_str(&out)),
            "exec".into(),
            "-d".into(),
            "keys".into(),
            "sh".into(),
            "-c".into(),
            "python3 /probe.py inside {KEY} > /out/detached.tmp; mv /out/detached.tmp /out/detached.txt"
                .into(),
        ],
    );
    assert_keys_kept_apart(&report, "exec -d");
    assert!(report.contains("add-session 0"), "exec -d: {report}");
    env.ok(&["rm", "-f", "keys"]);
}

/// The system-call probe: each call with harmless arguments, one line
/// `NAME ERRNO` (0 when it succeeded). Nothing here changes anything
/// outside the probe's own process: a new user namespace made by
/// `unshare` is the probe's alone.
const CALLS_PY: &[u8] = br#"
import ctypes, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
X86 = dict(keyctl=250, add_key=248, request_key=249, bpf=321, perf_event_open=298,
    userfaultfd=323, kexec_load=246, kexec_file_load=320, open_by_handle_at=304,
    init_module=175, finit_module=313, delete_module=176, clock_settime=227,
    adjtimex=159, settimeofday=164, swapon=167, swapoff=168, unshare=272, clone=56,
    clone3=435, ptrace=101, getppid=110)
ARM = dict(keyctl=219, add_key=217, request_key=218, bpf=280, perf_event_open=241,
    userfaultfd=282, kexec_load=104, kexec_file_load=294, open_by_handle_at=265,
    init_module=105, finit_module=273, delete_module=106, clock_settime=112,
    adjtimex=171, settimeofday=170, swapon=224, swapoff=225, unshare=97, clone=220,
    clone3=435, ptrace=117, getppid=173)
NR = {'x86_64': X86, 'aarch64': ARM}[platform.machine()]
L = ctypes.c_long
CALLS = [
    ('keyctl', [L(9999)]),
    ('add_key', [b'burrow-none', b'x', None, L(0), L(-3)]),
    ('request_key', [b'burrow-none', b'x', None, L(0)]),
    ('bpf', [L(9999), None, L(0)]),
    ('perf_event_open', [None, L(0), L(-1), L(-1), L(0)]),
    ('userfaultfd', [L(0)]),
    ('kexec_load', [L(0), L(0), None, L(0)]),
    ('kexec_file_load', [L(-1), L(-1), L(0), None, L(0)]),
    ('open_by_handle_at', [L(-1), None, L(0)]),
    ('init_module', [None, L(0), None]),
    ('finit_module', [L(-1), None, L(0)]),
    ('delete_module', [b'burrow-none', L(0)]),
    ('clock_settime', [L(0), None]),
    ('adjtimex', [None]),
    ('settimeofday', [None, None]),
    ('swapon', [None, L(0)]),
    ('swapoff', [None]),
    ('unshare-user', [L(0x10000000)]),
    ('clone-user', [L(0x10000000 | 17), None, None, None, None]),
    ('clone3', [None, L(0)]),
    ('ptrace', [L(2), L(999999), None, None]),
    ('getppid', []),
]
for name, args in CALLS:
    r = libc.syscall(L(NR[name.split('-')[0]]), *args)
    print(name, ctypes.get_errno() if r < 0 else 0, flush=True)
"#;

/// The probe's report: call -> errno.
fn calls(report: &str) -> std::collections::BTreeMap<String, i32> {
    report
        .lines()
        .filter_map(|l| {
            let (name, errno) = l.split_once(' ')?;
            Some((name.to_string(), errno.trim().parse().ok()?))
        })
        .collect()
}

/// Every call docker's profile refuses, refused with EPERM (clone3 with
/// ENOSYS, so that C libraries fall back to clone).
fn assert_default_profile(report: &str, what: &str) {
    let got = calls(report);
    for name in [
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "kexec_load",
        "kexec_file_load",
        "open_by_handle_at",
        "init_module",
        "finit_module",
        "delete_module",
        "clock_settime",
        "adjtimex",
        "settimeofday",
        "swapon",
        "swapoff",
        "unshare-user",
        "clone-user",
    ] {
        assert_eq!(
            got.get(name),
            Some(&libc::EPERM),
            "{what}: {name}\n{report}"
        );
    }
    assert_eq!(got.get("clone3"), Some(&libc::ENOSYS), "{what}\n{report}");
    // Allowed: ptrace (no such pid), getppid.
    assert_eq!(got.get("ptrace"), Some(&libc::ESRCH), "{what}\n{report}");
    assert_eq!(got.get("getppid"), Some(&0), "{what}\n{report}");
}

/// What the kernel answers without a filter, for the calls whose answer
/// tells a filter apart from the kernel's own refusal.
fn assert_unfiltered(report: &str, what: &str) {
    let got = calls(report);
    assert_eq!(
        got.get("keyctl"),
        Some(&libc::EOPNOTSUPP),
        "{what}\n{report}"
    );
    assert_eq!(got.get("add_key"), Some(&libc::ENODEV), "{what}\n{report}");
    assert_eq!(got.get("unshare-user"), Some(&0), "{what}\n{report}");
    assert_eq!(got.get("clone3"), Some(&libc::EINVAL), "{what}\n{report}");
}

#[test]
fn the_default_seccomp_profile_refuses_dockers_calls_in_run_and_exec() {
    let Some(env) = TestEnv::new(
        "the_default_seccomp_profile_refuses_dockers_calls_in_run_and_exec",
        TestUser::WithSubids,
    ) else {
        return;
    };
    if !python_available() {
        eprintln!("SKIP the_default_seccomp_profile: no /usr/bin/python3");
        return;
    }
    run_image::load_run_images(&env);
    let script = env.fixture("calls.py", CALLS_PY);
    let py = python_binds(&script);
    let run = |extra: &[&str], cmd: &[&str]| -> String {
        let mut args = vec!["run", "--rm"];
        if !extra.contains(&"--network") {
            args.extend(["--network", "none"]);
        }
        args.extend_from_slice(extra);
        args.extend(py.iter().map(String::as_str));
        args.push(PLAIN);
        args.extend_from_slice(cmd);
        env.ok(&args).stdout
    };
    let probe = ["python3", "/probe.py"];
    assert_default_profile(&run(&[], &probe), "run");
    assert_default_profile(&run(&["-u", "1000"], &probe), "run -u 1000");
    assert_default_profile(&run(&["--init"], &probe), "run --init");
    assert_default_profile(&run(&["--userns", "keep-id"], &probe), "keep-id");
    // A custom network: the socket notifier and the profile, one program.
    assert_default_profile(&run(&["--network", "user"], &probe), "network user");
    let unconfined = run(&["--security-opt", "seccomp=unconfined"], &probe);
    assert_unfiltered(&unconfined, "seccomp=unconfined");
    assert_unfiltered(&run(&["--privileged"], &probe), "--privileged");
    // Namespaces are what CAP_SYS_ADMIN asks for, as in docker.
    let admin = calls(&run(&["--cap-add", "SYS_ADMIN"], &probe));
    assert_eq!(admin.get("unshare-user"), Some(&0), "{admin:?}");
    assert_eq!(admin.get("keyctl"), Some(&libc::EPERM), "{admin:?}");

    // A docker JSON profile replaces the default.
    let profile = env.fixture(
        "profile.json",
        br#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
              {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    );
    let custom = calls(&run(
        &["--security-opt", &format!("seccomp={}", path_str(&profile))],
        &probe,
    ));
    assert_eq!(custom.get("getppid"), Some(&libc::EACCES), "{custom:?}");
    assert_eq!(custom.get("keyctl"), Some(&libc::EOPNOTSUPP), "{custom:?}");
    let bad = env.fixture("bad.json", br#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#);
    let out = env.run(&[
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp={}", path_str(&bad)),
        PLAIN,
        "true",
    ]);
    out.assert_error();
    assert!(out.error_line().contains("SCMP_ACT_SOMETIMES"), "{out}");

    // exec'd processes run under the container's profile too.
    let mut args = vec!["run", "-d", "--name", "filtered", "--network", "none"];
    args.extend(py.iter().map(String::as_str));
    args.extend([PLAIN, "sleep", "600"]);
    env.ok(&args);
    let mut args = vec!["run", "-d", "--name", "open", "--network", "none"];
    args.extend(["--security-opt", "seccomp=unconfined"]);
    args.extend(py.iter().map(String::as_str));
    args.extend([PLAIN, "sleep", "600"]);
    env.ok(&args);
    let exec = |extra: &[&str], name: &str| -> String {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.push(name);
        args.extend(probe);
        env.ok(&args).stdout
    };
    assert_default_profile(&exec(&[], "filtered"), "exec");
    assert_default_profile(&exec(&["-u", "1000"], "filtered"), "exec -u 1000");
    assert_unfiltered(&exec(&[], "open"), "exec into an unconfined container");
    // exec --privileged: that command alone runs without the profile.
    assert_unfiltered(&exec(&["--privileged"], "filtered"), "exec --privileged");
    assert_default_profile(&exec(&[], "filtered"), "exec after exec --privileged");
    env.ok(&["rm", "-f", "filtered", "open"]);
}

/// The attacker: records every process whose /proc/PID/exe names a burrow
/// binary (the file or a copy), keeps it open, tries to open it for
/// writing at once and, once the process is gone, again until it works or
/// /out/stop appears (appending `PWNED`), then reports in /out/attack.txt.
const ATTACK_PY: &[u8] = br#"
import os, time
held, seen, wrote = {}, set(), []
def try_write(path, why):
    fd = None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b'PWNED')
        wrote.append(why)
    except OSError as e:
        errors.add('%s: %s' % (why, e.strerror))
        return e.errno
    finally:
        if fd is not None:
            os.close(fd)
errors = set()
open('/out/ready', 'w').close()
while not os.path.exists('/out/stop'):
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or pid in seen:
            continue
        try:
            link = os.readlink('/proc/%s/exe' % pid)
        except OSError:
            continue
        if 'burrow' not in link:
            continue
        seen.add(pid)
        try:
            held[pid] = (link, os.open('/proc/%s/exe' % pid, os.O_PATH))
        except OSError as e:
            errors.add('hold %s: %s' % (link, e.strerror))
            continue
        try_write('/proc/%s/exe' % pid, 'live ' + link)
    for pid, (link, fd) in list(held.items()):
        if not os.path.exists('/proc/%s' % pid):
            if try_write('/proc/self/fd/%d' % fd, 'after ' + link) is None:
                del held[pid]
for pid, (link, fd) in list(held.items()):
    try_write('/proc/self/fd/%d' % fd, 'at the end ' + link)
with open('/out/attack.tmp', 'w') as f:
    f.write('seen %d\n' % len(seen))
    for w in wrote:
        f.write('wrote %s\n' % w)
    for e in sorted(errors):
        f.write('refused %s\n' % e)
os.rename('/out/attack.tmp', '/out/attack.txt')
"#;

#[test]
fn a_container_cannot_rewrite_the_users_burrow_through_proc_exe() {
    let Some(env) = TestEnv::new(
        "a_container_cannot_rewrite_the_users_burrow_through_proc_exe",
        TestUser::WithSubids,
    ) else {
        return;
    };
    if !python_available() {
        eprintln!("SKIP a_container_cannot_rewrite_the_users_burrow: no /usr/bin/python3");
        return;
    }
    run_image::load_run_images(&env);
    // The user's own burrow, as `cargo install` leaves it: theirs, not busy.
    let mine = env.work.join("burrow-mine");
    std::fs::copy(env.binary(), &mine).expect("copy burrow");
    env.give(&mine);
    let before = std::fs::read(&mine).expect("read the copy");
    let burrow = |args: &[&str]| {
        let out = env
            .command_of(&mine, args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the user's burrow");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // The sealed copy still runs commands, and says why when it cannot.
    let (code, text) = burrow(&["run", "--rm", "--network", "none", PLAIN, "true"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = burrow(&["run", "--rm", "--network", "none", PLAIN, "nope"]);
    assert_eq!(code, Some(127), "{text}");

    let script = env.fixture("attack.py", ATTACK_PY);
    let out = env.work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    env.give(&out);
    // The container outlives the burrow that starts it (its supervisor runs
    // that other binary: an upgrade, or a second copy), so the user's copy
    // is not busy once the execs below end.
    let mut args = vec![
        "run".to_string(),
        "-d".into(),
        "--name".into(),
        "attacker".into(),
        "--network".into(),
        "none".into(),
        // Its best chance: every capability the namespace has.
        "--privileged".into(),
        "-v".into(),
        format!("{}:/out", path_str(&out)),
    ];
    args.extend(python_binds(&script));
    args.extend([PLAIN.into(), "python3".into(), "/probe.py".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.ok(&args);
    common::wait_for(
        std::time::Duration::from_secs(30),
        "the attacker to start",
        || out.join("ready").exists(),
    );
    // The planted command: burrow's own binary, through /proc/self/exe.
    burrow(&[
        "exec",
        "attacker",
        "sh",
        "-c",
        "printf '#!/proc/self/exe\\n' > /bin/planted && chmod +x /bin/planted",
    ]);
    for _ in 0..5 {
        burrow(&["exec", "attacker", "/bin/planted"]);
        burrow(&["exec", "-u", "1000", "attacker", "/bin/planted"]);
        burrow(&["exec", "-d", "attacker", "/bin/planted"]);
    }
    // What else keeps the user's copy busy (the user namespace's holder
    // it started) ends as it would after an idle spell.
    let mine_real = std::fs::canonicalize(&mine).unwrap();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if std::fs::read_link(p.path().join("exe")).ok().as_deref() == Some(mine_real.as_path()) {
            if let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() {
                // SAFETY: kill(2) of a process running the test's own copy.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    std::fs::write(out.join("stop"), b"").unwrap();
    common::wait_for(
        std::time::Duration::from_secs(60),
        "the attacker to report",
        || {
            if out.join("attack.txt").exists() {
                Ok(())
            } else {
                Err(env.run(&["logs", "attacker"]).to_string())
            }
        },
    );
    let report = std::fs::read_to_string(out.join("attack.txt")).unwrap();
    eprintln!("the attacker's report:\n{report}");
    env.ok(&["rm", "-f", "attacker"]);
    let after = std::fs::read(&mine).expect("read the copy");
    assert!(
        after == before,
        "the container changed the user's burrow binary\n{report}"
    );
    assert!(!report.contains("wrote"), "{report}");
    // The attack ran: it caught burrow processes to aim at.
    assert!(!report.starts_with("seen 0"), "{report}");
}
