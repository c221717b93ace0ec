//! `wharf init`: a starting `wharf.toml` for the example gateway.

use std::path::PathBuf;

use anyhow::bail;

const TEMPLATE: &str = include_str!("../../../examples/gateway/wharf.toml");

/// Write a starting deploy manifest (the example gateway with its four plugs).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf init\n  wharf init --name acme:edge -m deploy/wharf.toml"
)]
pub struct Args {
    /// Where to write it.
    #[arg(short, long, default_value = "wharf.toml")]
    manifest: PathBuf,
    /// The deployable's package name.
    #[arg(long, default_value = "acme:edge")]
    name: String,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

impl Args {
    pub fn run(self) -> anyhow::Result<()> {
        let name: wharf_types::PackageName = self.name.parse()?;
        if self.manifest.exists() && !self.force {
            bail!("{} exists; --force replaces it", self.manifest.display());
        }
        let text = TEMPLATE.replace("name = \"wharf:edge\"", &format!("name = \"{name}\""));
        // The result must be a manifest the composer accepts.
        text.parse::<wharf_compose::Manifest>()?;
        if let Some(dir) = self.manifest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&self.manifest, text)?;
        crate::status!(
            "Created",
            "{} for {name}; `wharf compose` builds it",
            self.manifest.display()
        );
        Ok(())
    }
}
