//! `hangarctl`: command-line control of Hangar virtual machines, on the same core as the app.
//!
//! Exit codes: 0 success, 1 failure, 2 usage error (clap's own).

mod cli;
mod clipboard;
mod commands;
mod console;
mod output;
mod usb;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = std::env::var("HANGAR_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hangarctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hangarctl: {e}");
            ExitCode::FAILURE
        }
    }
}
