//! `wharf`: the command line of the Wharf registry and composer. Each command lives in
//! its own module under `commands/`; `main` only parses and dispatches.

mod commands;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A self-hosted registry and composer for WebAssembly components.
#[derive(Parser)]
#[command(name = "wharf", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Components(commands::components::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Components(args) => args.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            output::error(&err);
            ExitCode::FAILURE
        }
    }
}
