//! The `resnet` command: train, evaluate and run residual networks described
//! by TOML specs, and summarize the specs.
//!
//! Every failure ends as one line on stderr, `error: ...`, and exit status 1;
//! clap's own usage errors keep clap's format and exit status 2.

mod cli;
mod commands;
mod config;
mod data;
mod defaults;
mod device;
mod logging;
mod metrics;
mod out_dir;
mod plot;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    logging::init();
    install_panic_hook();
    resnet::core::alloc::keep_freed_memory();

    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Summary(args) => commands::summary::run(args),
        Command::Import(args) => commands::interop::run_import(args),
        Command::Export(args) => commands::interop::run_export(args),
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` puts anyhow's whole context chain on one line.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A closed pipe (`resnet summary resnet50 | head`) ends the command
/// quietly, as it ends other Unix tools, instead of failing a print that
/// would then be reported as a bug.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default action of SIGPIPE at start-up, before
    // any thread exists, is what C programs get without asking.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A bug must still read as one line, not a backtrace dump: the message and
/// where it happened, with a hint to report it.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{place}: {message} (this is a bug; please report it)");
    }));
}
