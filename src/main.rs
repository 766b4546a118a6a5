//! The `burrow` binary: parse, run one command, map the outcome to an exit
//! status (docker's: 125 for burrow's own failure, 126/127 when the
//! command cannot be run or found, else the container's status).
#![deny(clippy::undocumented_unsafe_blocks)]

use burrow::cli::Cli;
use burrow::container::images::Context;

fn main() {
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
    std::process::exit(code);
}

fn run(cli: Cli) -> burrow::Result<i32> {
    if !cli.needs_context() {
        return cli.exec_without_context().map(|()| 0);
    }
    let (config, paths) = burrow::config::load()?;
    let ctx = Context::new(config, paths);
    cli.exec(&ctx)
}
