//! `wharf`: the command line of the Wharf registry and composer. Each command lives in
//! its own module under `commands/`; `main` only parses and dispatches.

mod client;
mod commands;
mod config;
mod host;
mod invoke;
mod output;
mod progress;
mod registry;
mod trust;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// A self-hosted registry and composer for WebAssembly components.
#[derive(Parser)]
#[command(name = "wharf", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Up(commands::up::Args),
    Serve(commands::serve::Args),
    Fsck(commands::serve::FsckArgs),
    Compose(commands::compose::Args),
    Bundle(commands::bundle::Args),
    Search(commands::packages::SearchArgs),
    Info(commands::packages::InfoArgs),
    Pull(commands::packages::PullArgs),
    Publish(commands::packages::PublishArgs),
    Yank(commands::packages::YankArgs),
    Unyank(commands::packages::UnyankArgs),
    Login(commands::account::LoginArgs),
    Logout(commands::account::LogoutArgs),
    Token(commands::account::TokenArgs),
    Owner(commands::account::OwnerArgs),
    Completions(commands::completions::Args),
    Init(commands::init::Args),
    Run(commands::run::Args),
    Update(commands::compose::UpdateArgs),
    Components(commands::components::Args),
    #[command(subcommand)]
    Log(commands::log::LogCommand),
    Key(commands::keys::KeyArgs),
    Sign(commands::keys::SignArgs),
    Verify(commands::verify::VerifyArgs),
}

impl Command {
    /// Whether the command serves connections (`up`, `serve`, `run --http`) rather than
    /// printing its answer and ending.
    fn serves(&self) -> bool {
        match self {
            Command::Up(_) | Command::Serve(_) => true,
            Command::Run(args) => args.serves(),
            _ => false,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A printing command ends quietly when the reader of its output goes away
    // (`wharf components --json | head`), like other command-line tools, instead of
    // panicking on a broken pipe. A serving command must not: hyper writes with
    // `writev`, so with SIGPIPE at its default a client closing its connection in the
    // middle of a response would kill the whole server. Those keep the signal ignored
    // (Rust's default) and see EPIPE on that one connection.
    #[cfg(unix)]
    if !cli.command.serves() {
        // SAFETY: restoring the default disposition of SIGPIPE before any thread starts
        // (parsing the command line starts none).
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // Logs go to stderr: human-readable by default, one JSON object per line with
    // WHARF_LOG_FORMAT=json; WHARF_LOG filters (`debug`, `wharf_registry=trace`, ...).
    let filter = EnvFilter::try_from_env("WHARF_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal (and never with NO_COLOR): a log redirected to a file
    // stays greppable (`grep -o 'instantiate_us=[0-9]*'`).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if std::env::var("WHARF_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let result = match cli.command {
        Command::Up(args) => runtime.block_on(args.run()),
        Command::Serve(args) => runtime.block_on(args.run()),
        Command::Fsck(args) => runtime.block_on(args.run()),
        Command::Compose(args) => runtime.block_on(args.run()),
        Command::Bundle(args) => args.run(),
        Command::Search(args) => runtime.block_on(args.run()),
        Command::Info(args) => runtime.block_on(args.run()),
        Command::Pull(args) => runtime.block_on(args.run()),
        Command::Publish(args) => runtime.block_on(args.run()),
        Command::Yank(args) => runtime.block_on(args.run()),
        Command::Unyank(args) => runtime.block_on(args.run()),
        Command::Login(args) => runtime.block_on(args.run()),
        Command::Logout(args) => runtime.block_on(args.run()),
        Command::Token(args) => runtime.block_on(args.run()),
        Command::Owner(args) => runtime.block_on(args.run()),
        Command::Completions(args) => args.run(),
        Command::Init(args) => args.run(),
        Command::Run(args) => runtime.block_on(args.run()),
        Command::Update(args) => runtime.block_on(args.run()),
        Command::Components(args) => args.run(),
        Command::Log(command) => runtime.block_on(command.run()),
        Command::Key(args) => runtime.block_on(args.run()),
        Command::Sign(args) => runtime.block_on(args.run()),
        Command::Verify(args) => runtime.block_on(args.run()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            output::error(&err);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
