//! The `burrow` binary: parse, run one command, map the outcome to an exit
//! status (docker's: 125 for burrow's own failure, 126/127 when the
//! command cannot be run or found, else the container's status).
#![deny(clippy::undocumented_unsafe_blocks)]
// burrow starts without the Rust runtime's start-up: see `main`.
#![cfg_attr(not(test), no_main)]
// Under `cargo test` the harness has the entry point and nothing calls these.
#![cfg_attr(test, allow(dead_code))]

use burrow::cli::Cli;
use burrow::container::images::Context;

/// The entry point the C library calls. Every command, and so every
/// `exec`, pays for what runs before it: the Rust runtime's start-up
/// installs a stack-overflow handler, which first reads and parses the
/// whole of /proc/self/maps to find the main thread's stack (about 100,000
/// instructions and 18 system calls of a `burrow exec`, counted), and
/// ignores SIGPIPE, which burrow puts back at once. What burrow needs of
/// that start-up is kept here: descriptors 0-2 open, and a panic's exit
/// status 101. A stack overflow still stops at the guard page, as a
/// SIGSEGV without the runtime's message. (Arguments and environment
/// reach `std::env` from the C library on Linux either way.)
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    open_standard_fds();
    let code = std::panic::catch_unwind(command).unwrap_or(101);
    // Flushes stdout, as returning from a Rust `main` does.
    std::process::exit(code)
}

/// Opens /dev/null on whichever of descriptors 0-2 is closed, as the Rust
/// runtime does: a command started with one closed must not have its
/// output land in the first file or socket it opens.
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three pollfd structs it is given.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } != -1;
    for p in fds {
        let closed = if polled {
            p.revents & libc::POLLNVAL != 0
        } else {
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let flags = unsafe { libc::fcntl(p.fd, libc::F_GETFD) };
            flags == -1
        };
        // SAFETY: open of a constant NUL-terminated path; the lowest free
        // number is the one found closed, as 0-2 are checked in order.
        if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != p.fd {
            std::process::abort();
        }
    }
}

/// The command: its exit status, or an exit of its own.
fn command() -> i32 {
    // `burrow ps | head` must end quietly, not panic on a closed pipe.
    // SAFETY: setting a signal disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The completion scripts call back with BURROW_COMPLETE set.
    burrow::cli::complete::answer_if_asked();
    // A command that starts or enters a container runs from a sealed copy
    // of this binary when the container's root could write the file (see
    // `sandbox::exec::sealed_copy`): the first word that is not a flag.
    let starts = ["run", "exec", "start", "restart", "__supervise"];
    let command = std::env::args_os()
        .skip(1)
        .find(|a| !a.as_encoded_bytes().starts_with(b"-"));
    if command.is_some_and(|c| starts.iter().any(|s| c == *s)) {
        if let Err(e) = burrow::sandbox::exec::seal_self() {
            eprintln!("Error: {e}");
            std::process::exit(125);
        }
    }
    // A detached container's supervisor: no CLI parsing, no config, as
    // little memory as it can.
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() == Some(std::ffi::OsStr::new("__supervise")) {
        let code = match args.next() {
            Some(dir) => {
                let hold = args.next().as_deref() == Some(std::ffi::OsStr::new("attach"));
                burrow::container::supervisor::main(std::path::Path::new(&dir), hold)
            }
            None => 125,
        };
        std::process::exit(code);
    }
    // The holder of the shared user namespace: nothing but a wait.
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() == Some(std::ffi::OsStr::new(burrow::sandbox::holder::HOLD_ARG)) {
        let record = args.next().unwrap_or_default();
        let secs = args
            .next()
            .and_then(|s| s.to_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        std::process::exit(burrow::sandbox::holder::hold(
            std::path::Path::new(&record),
            std::time::Duration::from_secs(secs),
        ));
    }
    // A bad flag is burrow's own failure: 125, as for any other (clap's
    // default is 2); --help and --version still exit 0.
    let cli = Cli::parse_args()
        .unwrap_or_else(|e| std::process::exit(burrow::cli::values::report_parse_error(&e)));
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            e.exit_code()
        }
    };
    code
}

fn run(cli: Cli) -> burrow::Result<i32> {
    if !cli.needs_context() {
        return cli.exec_without_context().map(|()| 0);
    }
    let (config, paths) = burrow::config::load()?;
    let ctx = Context::new(config, paths);
    cli.exec(&ctx)
}
