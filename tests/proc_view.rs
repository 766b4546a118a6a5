//! The container's own /proc view (`--proc-view`): /proc/meminfo,
//! cpuinfo, stat, uptime, loadavg, swaps, diskstats and
//! /sys/devices/system/cpu/online served by burrow's FUSE server in the
//! container's user namespace, as the unprivileged users. This host has no
//! delegated cgroup v2, so no limits: the view is asked for with
//! `--proc-view container` and shows the container's own uptime and the
//! host's numbers elsewhere; the numbers under `--memory` and `--cpus` are
//! checked in the VM (tests/vm/cgroup-checks.sh). What a container may try
//! against the server (writes, huge and odd reads, thousands of opens,
//! climbing out of a served file) is tried here.

mod common;

use common::run_image::{self, PLAIN};
use common::{Output, TestEnv, TestUser};
use std::io::Write;

fn setup(test: &str, user: TestUser) -> Option<TestEnv> {
    let env = TestEnv::new(test, user)?;
    if !fuse_usable() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP {test}: /dev/fuse cannot be opened by everyone here"
        );
        return None;
    }
    run_image::load_run_images(&env);
    Some(env)
}

/// /dev/fuse open to every user, as distributions ship it.
fn fuse_usable() -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata("/dev/fuse").is_ok_and(|m| m.permissions().mode() & 0o006 == 0o006)
}

/// `burrow run --rm ARGS... PLAIN sh -c SCRIPT`.
fn sh(env: &TestEnv, args: &[&str], script: &str) -> Output {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[PLAIN, "sh", "-c", script]);
    env.run(&all)
}

const SERVED: [&str; 8] = [
    "/proc/meminfo",
    "/proc/cpuinfo",
    "/proc/stat",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/swaps",
    "/proc/diskstats",
    "/sys/devices/system/cpu/online",
];

/// The seconds of the first field of a /proc/uptime text.
fn uptime_secs(text: &str) -> f64 {
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("not /proc/uptime: {text:?}"))
}

#[test]
fn proc_view_container_serves_every_file_and_the_containers_own_uptime() {
    let test = "proc_view_container_serves_every_file_and_the_containers_own_uptime";
    let Some(env) = setup(test, TestUser::WithSubids) else {
        return;
    };
    let host_up = uptime_secs(&std::fs::read_to_string("/proc/uptime").expect("host uptime"));
    assert!(host_up > 600.0, "the host must be up for 10 minutes");
    let out = sh(
        &env,
        &["--proc-view", "container"],
        "cat /proc/uptime; grep -c ' fuse ' /proc/self/mountinfo; \
         for f in /proc/meminfo /proc/cpuinfo /proc/stat /proc/loadavg /proc/swaps \
         /proc/diskstats /sys/devices/system/cpu/online; do \
         [ -r $f ] && cat $f >/dev/null || echo unreadable $f; done; \
         free | grep -c Mem:; nproc; top -bn1 | grep -c '^Load average'; \
         cat /proc/meminfo | grep -c MemTotal",
    );
    out.assert_ok();
    let lines = out.stdout_lines();
    let up = uptime_secs(lines[0]);
    assert!(
        up < 120.0 && up < host_up,
        "the container's uptime, not the host's ({host_up} s)\n{out}"
    );
    assert_eq!(lines[1], "8", "one FUSE mount per served file\n{out}");
    assert!(!out.stdout.contains("unreadable"), "{out}");
    assert_eq!(lines[2], "1", "free reads the served meminfo\n{out}");
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        lines[3],
        host_cpus.to_string(),
        "no limits: every CPU\n{out}"
    );
    assert_eq!(lines[4], "1", "top reads the served files\n{out}");
    assert_eq!(
        lines[5], "1",
        "busybox cat (sendfile) reads them whole\n{out}"
    );
    // The served CPU list matches the host's CPUs (no cpuset, no quota).
    let online = sh(
        &env,
        &["--proc-view", "container"],
        "cat /sys/devices/system/cpu/online; grep -c ^processor /proc/cpuinfo",
    );
    let lines = online.assert_ok().stdout_lines();
    let want = if host_cpus == 1 {
        "0".to_string()
    } else {
        format!("0-{}", host_cpus - 1)
    };
    assert_eq!(lines[0], want, "{online}");
    assert_eq!(lines[1], host_cpus.to_string(), "{online}");
}

#[test]
fn proc_view_host_and_auto_without_limits_leave_procs_own_files() {
    let test = "proc_view_host_and_auto_without_limits_leave_procs_own_files";
    let Some(env) = setup(test, TestUser::WithSubids) else {
        return;
    };
    for args in [&["--proc-view", "host"][..], &[][..]] {
        let out = sh(
            &env,
            args,
            "cat /proc/uptime; grep -c ' fuse ' /proc/self/mountinfo || true",
        );
        let lines = out.assert_ok().stdout_lines();
        assert!(uptime_secs(lines[0]) > 600.0, "the host's uptime\n{out}");
        assert_eq!(lines[1], "0", "nothing mounted over /proc\n{out}");
    }
    let bad = env.run(&["run", "--rm", "--proc-view", "mine", PLAIN, "true"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert!(bad.stderr.contains("auto, container or host"), "{bad}");
}

#[test]
fn a_container_cannot_write_the_served_files_even_privileged() {
    let test = "a_container_cannot_write_the_served_files_even_privileged";
    let Some(env) = setup(test, TestUser::WithSubids) else {
        return;
    };
    let mut script = String::new();
    for f in SERVED {
        script.push_str(&format!(
            "echo 1 > {f} && echo wrote {f}; echo 1 >> {f} && echo appended {f}; \
             touch {f} 2>/dev/null && echo touched {f}; chmod 666 {f} && echo chmod {f}; \
             rm -f {f} 2>/dev/null && [ ! -e {f} ] && echo removed {f}; "
        ));
    }
    script.push_str("true");
    let out = sh(&env, &["--proc-view", "container"], &script);
    out.assert_ok();
    for verb in ["wrote", "appended", "touched", "chmod", "removed"] {
        assert!(!out.stdout.contains(verb), "{verb}\n{out}");
    }
    // Privileged, root may remount the bind read-write: the server itself
    // refuses to open for writing.
    let out = sh(
        &env,
        &["--proc-view", "container", "--privileged"],
        "mount -o remount,bind,rw /proc/meminfo && echo remounted; \
         echo 1 > /proc/meminfo && echo wrote; head -1 /proc/meminfo",
    );
    out.assert_ok();
    assert!(
        out.stdout.contains("remounted"),
        "the remount itself works\n{out}"
    );
    assert!(!out.stdout.contains("wrote"), "{out}");
    assert!(out.stdout.contains("MemTotal:"), "still served\n{out}");
}

#[test]
fn huge_reads_odd_offsets_and_thousands_of_opens_leave_the_server_serving() {
    let test = "huge_reads_odd_offsets_and_thousands_of_opens_leave_the_server_serving";
    let Some(env) = setup(test, TestUser::WithSubids) else {
        return;
    };
    // 4200 descriptors on one served file: more than the server keeps
    // (4096); the opens past it fail, and once closed all is served again.
    let script = "whole=$(cat /proc/cpuinfo | wc -c); \
         echo huge $(dd if=/proc/cpuinfo bs=64M count=1 2>/dev/null | wc -c) $whole; \
         echo odd $(dd if=/proc/cpuinfo bs=1 skip=7 count=13 2>/dev/null | od -An -c | tr -d ' \\n') \
              $(head -c 20 /proc/cpuinfo | tail -c 13 | od -An -c | tr -d ' \\n'); \
         echo far $(dd if=/proc/meminfo bs=4096 skip=1000000 count=1 2>/dev/null | wc -c); \
         echo tiny $(dd if=/proc/meminfo bs=3 2>/dev/null | wc -c) $(cat /proc/meminfo | wc -c); \
         fd=10; while [ $fd -lt 4210 ]; do read -r line </proc/stat 2>/dev/null || break; \
         eval \"exec $fd</proc/stat\"; fd=$((fd+1)); done; echo opened $((fd-10)); \
         cat /proc/stat >/dev/null 2>&1 || echo refused while full; \
         while [ $fd -gt 10 ]; do fd=$((fd-1)); eval \"exec $fd<&-\"; done; \
         head -1 /proc/stat; head -1 /proc/meminfo";
    let out = sh(
        &env,
        &["--proc-view", "container", "--ulimit", "nofile=8192:8192"],
        script,
    );
    out.assert_ok();
    let line = |key: &str| -> Vec<String> {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} line\n{out}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let huge = line("huge");
    assert_eq!(
        huge[0], huge[1],
        "a 64 MiB read gives the whole file\n{out}"
    );
    let odd = line("odd");
    assert_eq!(odd.len(), 2, "{out}");
    assert_eq!(odd[0], odd[1], "bytes 7..20 as the file has them\n{out}");
    assert_eq!(line("far"), ["0"], "nothing past the end\n{out}");
    let tiny = line("tiny");
    // meminfo's free memory may move between two reads, not its length
    // by more than a few digits.
    let (a, b): (i64, i64) = (tiny[0].parse().unwrap(), tiny[1].parse().unwrap());
    assert!((a - b).abs() < 16, "3-byte reads give the file\n{out}");
    assert_eq!(line("opened"), ["4096"], "the server's bound\n{out}");
    assert!(out.stdout.contains("refused while full"), "{out}");
    assert!(
        out.stdout.contains("\ncpu "),
        "served again after the closes\n{out}"
    );
    assert!(out.stdout.contains("MemTotal:"), "{out}");
}

#[test]
fn a_served_file_leads_nowhere_else() {
    let test = "a_served_file_leads_nowhere_else";
    let Some(env) = setup(test, TestUser::WithSubids) else {
        return;
    };
    let mut script = String::new();
    for f in SERVED {
        script.push_str(&format!(
            "ls {f}/ 2>/dev/null && echo listed {f}; cat {f}/../self/status 2>/dev/null && echo climbed {f}; \
             cat {f}/meminfo 2>/dev/null && echo entered {f}; "
        ));
    }
    // The mounts' roots are the files alone, never the filesystem's
    // directory (the fourth field of mountinfo).
    script.push_str("grep ' fuse ' /proc/self/mountinfo | cut -d' ' -f4 | sort | tr '\\n' ' '");
    let out = sh(&env, &["--proc-view", "container"], &script);
    out.assert_ok();
    for verb in ["listed", "climbed", "entered"] {
        assert!(!out.stdout.contains(verb), "{verb}\n{out}");
    }
    assert_eq!(
        out.stdout.trim(),
        "/cpu_online /cpuinfo /diskstats /loadavg /meminfo /stat /swaps /uptime",
        "{out}"
    );
}

#[test]
fn a_detached_container_without_subids_has_its_view_for_exec_too() {
    let test = "a_detached_container_without_subids_has_its_view_for_exec_too";
    let Some(env) = setup(test, TestUser::NoSubids) else {
        return;
    };
    let id = env
        .ok(&[
            "run",
            "-d",
            "--proc-view",
            "container",
            PLAIN,
            "sleep",
            "60",
        ])
        .stdout
        .trim()
        .to_string();
    let out = env.run(&["exec", &id, "cat", "/proc/uptime"]);
    let _ = env.run(&["rm", "-f", &id]);
    out.assert_ok();
    assert!(
        uptime_secs(&out.stdout) < 120.0,
        "the container's uptime in an exec'd process\n{out}"
    );
}

/// busybox `uptime` and `free` take their numbers from sysinfo(2), which
/// the supervisor answers with the view's: the container's uptime (busybox
/// prints `up 0 min`, the host `up HH:MM` or days), free's total the served
/// MemTotal. With subordinate ids the container's seccomp listener carries
/// sysinfo alone; without them, root emulation's calls too (a chown to
/// another owner still succeeds).
#[test]
fn sysinfo_answers_with_the_containers_uptime_and_the_served_memory() {
    let test = "sysinfo_answers_with_the_containers_uptime_and_the_served_memory";
    for user in [TestUser::WithSubids, TestUser::NoSubids] {
        let Some(env) = setup(test, user) else {
            return;
        };
        let host_up = uptime_secs(&std::fs::read_to_string("/proc/uptime").expect("host uptime"));
        assert!(host_up > 600.0, "the host must be up for 10 minutes");
        let script = "uptime; free | awk '/^Mem:/ {print $2}'; \
                      awk '/^MemTotal:/ {print $2}' /proc/meminfo; \
                      chown 5:5 /tmp && echo chowned";
        let out = sh(&env, &["--proc-view", "container"], script);
        let lines = out.assert_ok().stdout_lines();
        assert!(
            lines[0].contains(" up 0 min,") || lines[0].contains(" up 1 min,"),
            "busybox uptime shows the container's uptime, not the host's ({host_up} s)\n{out}"
        );
        assert_eq!(
            lines[1], lines[2],
            "free's total is the served MemTotal\n{out}"
        );
        assert_eq!(lines[3], "chowned", "{out}");
        // Without the view, sysinfo is the kernel's: the host's uptime.
        let out = sh(&env, &["--proc-view", "host"], "uptime");
        assert!(
            !out.assert_ok().stdout.contains(" up 0 min,"),
            "the host's uptime\n{out}"
        );
    }
}

/// What a container may try against the supervisor's answer to sysinfo(2),
/// with the host's python3 (ctypes) bound in: addresses that are not its
/// memory fail with EFAULT as the kernel's own sysinfo would; a file it can
/// only read, mapped shared or private, is never written through the
/// mapping; a thread that swaps what the address maps while another calls
/// sysinfo on it in a loop, and a process that exits in the middle of its
/// calls, change nothing outside the caller; the supervisor keeps answering
/// afterwards.
#[test]
fn sysinfo_writes_only_into_the_callers_own_writable_memory() {
    let test = "sysinfo_writes_only_into_the_callers_own_writable_memory";
    let Some(env) = setup(test, TestUser::WithSubids) else {
        return;
    };
    if !std::path::Path::new("/usr/bin/python3").exists() {
        let _ = writeln!(std::io::stderr(), "SKIP {test}: no /usr/bin/python3");
        return;
    }
    let ro = env.fixture("readonly", &[b'r'; 8192]);
    let script = env.fixture(
        "attack.py",
        br#"
import ctypes, os, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
SYS_sysinfo = 99
PROT_READ, PROT_WRITE = 1, 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 1, 2, 0x10, 0x20

def sysinfo(addr):
    r = libc.syscall(SYS_sysinfo, ctypes.c_void_p(addr))
    return 0 if r == 0 else ctypes.get_errno()

# Not the caller's memory: EFAULT, as from the kernel.
for addr in [0, 1, 0x7fff_ffff_f000, 0xffff_8000_0000_0000, 2**64 - 8]:
    print("bad", hex(addr), os.strerror(sysinfo(addr)))

# A file the container can only read, mapped shared: refused.
fd = os.open("/ro", os.O_RDONLY)
shared = libc.mmap(None, 8192, PROT_READ, MAP_SHARED, fd, 0)
print("shared", os.strerror(sysinfo(shared)))
# Mapped private: whatever the answer, the file is not written.
private = libc.mmap(None, 8192, PROT_READ, MAP_PRIVATE, fd, 0)
sysinfo(private)

# A racing thread: the page under the address is the read-only file's,
# shared, then fresh anonymous memory, again and again.
page = libc.mmap(None, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
stop = False
def flip():
    while not stop:
        libc.mmap(page, 4096, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)
        libc.mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
t = threading.Thread(target=flip)
t.start()
answers = set()
for _ in range(3000):
    answers.add(os.strerror(sysinfo(page)))
stop = True
t.join()
print("raced", sorted(answers))

# Processes that exit while a thread of theirs is in sysinfo.
for _ in range(50):
    pid = os.fork()
    if pid == 0:
        def spin():
            while True:
                sysinfo(page)
        threading.Thread(target=spin, daemon=True).start()
        os._exit(0)
    os.waitpid(pid, 0)
buf = ctypes.create_string_buffer(256)
print("after", os.strerror(sysinfo(ctypes.addressof(buf))))
"#,
    );
    let out = env.run(&[
        "run",
        "--rm",
        "--proc-view",
        "container",
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
        "-v",
        &format!("{}:/attack.py:ro", common::path_str(&script)),
        "-v",
        &format!("{}:/ro:ro", common::path_str(&ro)),
        PLAIN,
        "sh",
        "-c",
        "python3 /attack.py && uptime",
    ]);
    let lines = out.assert_ok().stdout_lines();
    for (i, addr) in [
        "0x0",
        "0x1",
        "0x7ffffffff000",
        "0xffff800000000000",
        "0xfffffffffffffff8",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(lines[i], format!("bad {addr} Bad address"), "{out}");
    }
    assert_eq!(lines[5], "shared Bad address", "{out}");
    assert!(lines[6].starts_with("raced "), "{out}");
    assert_eq!(lines[7], "after Success", "{out}");
    assert!(
        lines[8].contains(" up 0 min,") || lines[8].contains(" up 1 min,"),
        "the supervisor still answers\n{out}"
    );
    assert_eq!(
        std::fs::read(&ro).unwrap(),
        vec![b'r'; 8192],
        "the read-only file is untouched"
    );
}
