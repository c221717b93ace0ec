//! `wharf log`: audit a registry's transparency log (`verify`), and make the key a
//! registry signs its checkpoints with (`keygen`). See docs/trust.md.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use wharf_types::log::{self, Action, Entry, Tree};
use wharf_types::views::LogEntries;

use crate::client::Client;
use crate::registry::RegistryArgs;
use crate::trust::LogArgs;

/// The transparency log of a registry.
#[derive(clap::Subcommand)]
pub enum LogCommand {
    Verify(VerifyArgs),
    Keygen(KeygenArgs),
}

impl LogCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            LogCommand::Verify(args) => args.run().await,
            LogCommand::Keygen(args) => args.run(),
        }
    }
}

/// Audit a registry's whole transparency log, as a third-party monitor: fetch every
/// entry, recompute the tree, check the signed checkpoint's root, that it extends a
/// checkpoint saved before (`--from`), and that no version was published twice or
/// yanked under another digest.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf log verify --registry https://registry.example.com --save seen.checkpoint\n  wharf log verify --from seen.checkpoint --save seen.checkpoint\n  WHARF_LOG_KEY='registry.example.com/log+1a2b3c4d+AQ...' wharf log verify"
)]
pub struct VerifyArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    log: LogArgs,
    /// A checkpoint saved before (a signed note, as `--save` writes it): the log must
    /// be an extension of it.
    #[arg(long, value_name = "CHECKPOINT_FILE")]
    from: Option<PathBuf>,
    /// Where to write the checkpoint verified, for the next `--from`.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

impl VerifyArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let registry = &self.registry.registry;
        let token = self.registry.token();
        let Some((key, _)) = crate::trust::key_for(registry, token.as_deref(), &self.log).await?
        else {
            anyhow::bail!(
                "{} serves no transparency log (404 at /api/v1/log/key)",
                registry.authority()
            );
        };
        let previous = match &self.from {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            ),
            None => None,
        };
        let seen_in = self
            .from
            .as_ref()
            .map_or(String::new(), |p| p.display().to_string());
        let verifier = wharf_compose::LogVerifier::open(
            &registry.url(),
            registry.authority(),
            token,
            key.clone(),
            previous.as_deref(),
            &seen_in,
        )
        .await?;
        let size = verifier.size();

        // Every entry, in order, hashed here: the tree is the auditor's own.
        let client = Client::new(&self.registry);
        let mut tree = Tree::default();
        let mut published: HashMap<String, (u64, String)> = HashMap::new();
        let mut problems: Vec<String> = Vec::new();
        while tree.size() < size {
            let page: LogEntries = client
                .get(&format!("/api/v1/log/entries?start={}", tree.size()))
                .await?;
            anyhow::ensure!(
                !page.entries.is_empty(),
                "the registry answered no entries from {} though its checkpoint has {size}",
                tree.size()
            );
            for found in page.entries {
                if tree.size() == size {
                    break;
                }
                anyhow::ensure!(
                    found.index == tree.size(),
                    "the registry answered entry {} where entry {} belongs",
                    found.index,
                    tree.size()
                );
                tree.push(log::leaf_hash(found.entry.as_bytes()));
                let entry = match Entry::parse(found.entry.as_bytes()) {
                    Ok(entry) => entry,
                    Err(e) => {
                        problems.push(format!("log entry {}: {e}", found.index));
                        continue;
                    }
                };
                match entry.action {
                    Action::Publish => {
                        if let Some((first, _)) = published.get(&entry.subject) {
                            problems.push(format!(
                                "{}: published twice, in log entries {first} and {}",
                                entry.subject, found.index
                            ));
                        } else {
                            published
                                .insert(entry.subject.clone(), (found.index, entry.object.clone()));
                        }
                    }
                    Action::Yank | Action::Unyank => match published.get(&entry.subject) {
                        Some((first, digest)) if *digest != entry.object => problems.push(format!(
                            "{}: log entry {} ({}) names digest {}, but its publish (log entry {first}) bound {digest}",
                            entry.subject, found.index, entry.action, entry.object
                        )),
                        None => problems.push(format!(
                            "{}: log entry {} ({}) comes before any publish of it",
                            entry.subject, found.index, entry.action
                        )),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        let root = tree.root();
        anyhow::ensure!(
            root == verifier.root(),
            "the entries hash to the root {root}, but the checkpoint signed by {} says {} for size {size}: the registry serves entries other than the ones it signed",
            key.id(),
            verifier.root()
        );
        if let Some(previous) = &previous {
            let old = key.open(previous.as_bytes())?;
            let recomputed = tree.root_at(old.size())?;
            anyhow::ensure!(
                recomputed == *old.hash(),
                "the first {} entries hash to {recomputed}, not the root {} of the checkpoint in {seen_in}: the log was rewritten",
                old.size(),
                old.hash()
            );
        }
        anyhow::ensure!(
            problems.is_empty(),
            "the log's entries contradict each other:\n{}",
            problems.join("\n")
        );
        if let Some(path) = &self.save {
            std::fs::write(path, verifier.checkpoint_note())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "registry": registry.authority(),
                    "key": key.as_str(),
                    "size": size,
                    "root_hash": root.to_string(),
                    "versions": published.len(),
                }))?
            );
        } else {
            crate::status!(
                "Verified",
                "{size} entries of {}'s log ({} versions): root {root}, signed by {}{}",
                registry.authority(),
                published.len(),
                key.id(),
                if previous.is_some() {
                    format!(", extending {seen_in}")
                } else {
                    String::new()
                }
            );
        }
        Ok(())
    }
}

/// Make a transparency-log signing key for a registry (for `--log-key-file`, which
/// replicas on one PostgreSQL database must share); prints the verifier key clients
/// pin.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf log keygen --origin registry.example.com/log --output /run/secrets/wharf-log-key"
)]
pub struct KeygenArgs {
    /// The log's name, the first line of every checkpoint: the registry's public host
    /// and `/log`, e.g. `registry.example.com/log`.
    #[arg(long)]
    origin: String,
    /// Where to write the key (created mode 0600; never overwritten).
    #[arg(short, long)]
    output: PathBuf,
}

impl KeygenArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let secret =
            wharf_registry::keys::generate_log_key(&self.origin).map_err(anyhow::Error::msg)?;
        let keys = wharf_registry::keys::LogKeys::parse(&secret).map_err(anyhow::Error::msg)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        use std::io::Write as _;
        options
            .open(&self.output)
            .and_then(|mut file| file.write_all(format!("{secret}\n").as_bytes()))
            .with_context(|| format!("creating {}", self.output.display()))?;
        crate::status!("Created", "{}", self.output.display());
        println!("{}", keys.verifier_key());
        Ok(())
    }
}
