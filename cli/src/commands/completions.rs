//! `wharf completions <shell>`: the shell completion script, on stdout.

use clap::CommandFactory;

/// Print a completion script for a shell.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf completions bash > ~/.local/share/bash-completion/completions/wharf\n  wharf completions zsh > ~/.zfunc/_wharf"
)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

impl Args {
    pub fn run(self) -> anyhow::Result<()> {
        clap_complete::generate(
            self.shell,
            &mut crate::Cli::command(),
            "wharf",
            &mut std::io::stdout(),
        );
        Ok(())
    }
}
