//! `wharf compose`: resolve a deploy manifest, write `wharf.lock`, and link the chosen
//! components into one deployable.

use std::path::{Path, PathBuf};

use anyhow::Context;
use wharf_compose::{
    Cache, FsResolver, Lock, LockMode, LogVerifier, Manifest, OciResolver, RegistryConfig,
    Resolver, Verified,
};

use crate::registry::RegistryArgs;
use crate::{output, progress};

/// Compose a deployable from a deploy manifest.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf compose\n  wharf compose -m examples/gateway/wharf.toml -o gateway.wasm --locked\n  wharf compose --registry https://registry.example.com --json\n  wharf compose --fs ./registry-dir   # <dir>/<namespace>/<name>/<version>.wasm\n  wharf compose --target workers      # and refuse what Cloudflare Workers cannot serve\n\nWith a [trust] table in wharf.toml, every constituent the policy names must carry a\nsignature by a trusted key, registered for its namespace and not revoked, verified\nhere before linking (docs/trust.md)."
)]
pub struct Args {
    /// The deploy manifest.
    #[arg(short, long, default_value = "wharf.toml")]
    manifest: PathBuf,
    /// Where to write the deployable (default: `<deployable name>.wasm` beside the manifest).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Fail if wharf.lock does not already pin every package the manifest names.
    #[arg(long)]
    locked: bool,
    #[command(flatten)]
    source: SourceArgs,
    /// Also refuse what this target cannot run (`proxy`: wasi:http/proxy hosts,
    /// `command`: wasi:cli/command runners, `workers`: Cloudflare Workers, `jco`: jco
    /// serve), naming each import and the plug that brought it, as the registry's
    /// `targets` do; `wharf bundle` makes a Workers bundle.
    #[arg(long, value_parser = super::bundle::target_name)]
    target: Option<&'static wharf_compose::Target>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

/// Where packages come from: a registry (over OCI) or a directory.
#[derive(clap::Args)]
pub struct SourceArgs {
    /// The registry packages resolve against, and the token `wharf login` stored for it.
    #[command(flatten)]
    registry: RegistryArgs,
    /// A directory laid out `<namespace>/<name>/<version>.wasm` instead of a registry.
    #[arg(long, conflicts_with = "registry")]
    fs: Option<PathBuf>,
    /// The content-addressed download cache (default: the user's cache directory).
    #[arg(long, env = "WHARF_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    log: crate::trust::LogArgs,
}

impl SourceArgs {
    pub fn resolver(&self) -> anyhow::Result<Box<dyn Resolver>> {
        if let Some(dir) = &self.fs {
            return Ok(Box::new(FsResolver::new(dir)));
        }
        let registry = &self.registry.registry;
        let config = RegistryConfig {
            registry: registry.authority().to_owned(),
            insecure_http: registry.plain_http(),
            token: self.registry.token(),
        };
        Ok(Box::new(OciResolver::new(&config)?))
    }

    /// Checks every digest `lock` takes from the registry against the registry's
    /// transparency log, under a checkpoint that extends the lock's `[log]` (or the
    /// user's last seen), as the manifest's `[trust] log` asks (on by default); None
    /// for a directory, or when the manifest turns the log off.
    pub async fn verify_log(
        &self,
        manifest: &Manifest,
        lock: &Lock,
        lock_path: &Path,
    ) -> anyhow::Result<Option<(LogVerifier, Verified)>> {
        if self.fs.is_some() {
            return Ok(None);
        }
        let registry = &self.registry.registry;
        if !manifest.trust.log {
            crate::output::warn(&format!(
                "[trust] log = false: the digests from {} are checked, but not against its transparency log",
                registry.authority()
            ));
            return Ok(None);
        }
        let from_lock = lock.log.as_ref().map(|record| (record, lock_path));
        let Some(verifier) =
            crate::trust::open(registry, self.registry.token(), &self.log, from_lock, true).await?
        else {
            return Ok(None);
        };
        let wanted: Vec<_> = lock
            .packages
            .iter()
            .filter(|p| {
                p.registry
                    .as_deref()
                    .is_none_or(|r| r == registry.authority())
            })
            .flat_map(|p| p.versions.iter().map(move |v| (&p.name, v)))
            .collect();
        let proofs = futures_util::future::try_join_all(wanted.iter().map(|(name, v)| {
            let verifier = &verifier;
            async move {
                let proof = verifier
                    .verify(name, &v.version.to_string(), &v.digest)
                    .await?;
                Ok::<_, wharf_compose::LogVerifyError>((format!("{name}@{}", v.version), proof))
            }
        }))
        .await?;
        let verified = Verified {
            checkpoint: verifier.checkpoint_note().to_owned(),
            proofs: proofs.into_iter().collect(),
        };
        crate::trust::remember(registry, &verifier)?;
        Ok(Some((verifier, verified)))
    }

    pub fn cache(&self) -> Cache {
        let dir = self.cache_dir.clone().unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            base.join("wharf")
        });
        Cache::new(dir)
    }
}

/// The manifest at `path`, the folder it is in, and that folder's `wharf.lock` with
/// what it holds (None when there is none yet).
fn read_manifest(path: &Path) -> anyhow::Result<(Manifest, PathBuf, PathBuf, Option<Lock>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: Manifest = text
        .parse()
        .with_context(|| format!("in {}", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let lock_path = dir.join("wharf.lock");
    let lock = match std::fs::read_to_string(&lock_path) {
        Ok(text) => Some(
            text.parse()
                .with_context(|| format!("in {}", lock_path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", lock_path.display())),
    };
    Ok((manifest, dir, lock_path, lock))
}

impl Args {
    pub async fn run(self) -> anyhow::Result<()> {
        let (manifest, dir, lock_path, existing) = read_manifest(&self.manifest)?;
        let mode = if self.locked {
            LockMode::Locked
        } else {
            LockMode::Reuse
        };
        let resolver = self.source.resolver()?;
        let bar = progress::steps("Composing");
        bar.set_message(format!("resolving {} plugs", manifest.plugs.len()));
        let mut lock =
            wharf_compose::resolve(&manifest, existing.as_ref(), resolver.as_ref(), mode).await?;
        bar.set_message("verifying against the transparency log");
        let checked = self.source.verify_log(&manifest, &lock, &lock_path).await?;
        if let Some((verifier, _)) = &checked
            && !self.locked
        {
            lock.log = Some(verifier.record());
        }
        let lock_text = lock.to_string();
        if existing.as_ref().map(Lock::to_string) != Some(lock_text.clone()) {
            std::fs::write(&lock_path, &lock_text)
                .with_context(|| format!("writing {}", lock_path.display()))?;
        }
        let cache = self.source.cache();
        bar.set_message("fetching (digest-checked)");
        let mut constituents =
            wharf_compose::load(&manifest, &dir, &lock, resolver.as_ref(), &cache).await?;
        if manifest.trust.requires_any() {
            bar.set_message("verifying signatures ([trust])");
            let registry = self.source.fs.is_none().then_some(&self.source.registry);
            super::verify::check_constituents(&manifest, &dir, &mut constituents, registry).await?;
        }
        bar.set_message(format!("linking {} components", constituents.len()));
        let bytes = match &checked {
            Some((_, verified)) => {
                wharf_compose::compose_verified(&manifest, &constituents, verified)?
            }
            None => wharf_compose::compose(&manifest, &constituents)?,
        };
        if let Some(target) = self.target {
            target.check(&bytes)?;
        }
        bar.finish_and_clear();
        let output = self
            .output
            .unwrap_or_else(|| dir.join(format!("{}.wasm", manifest.deployable.name.name())));
        std::fs::write(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;

        if self.json {
            let summary = serde_json::json!({
                "deployable": format!("{}@{}", manifest.deployable.name, manifest.deployable.version),
                "output": output.display().to_string(),
                "size": bytes.len(),
                "digest": wharf_types::Digest::of(&bytes).to_string(),
                "constituents": constituents.iter().map(|c| serde_json::json!({
                    "key": c.key.to_string(),
                    "version": c.version.as_ref().map(ToString::to_string),
                    "digest": c.digest.to_string(),
                    "signatures": c.signatures,
                })).collect::<Vec<_>>(),
                "log": checked.as_ref().map(|(verifier, verified)| serde_json::json!({
                    "size": verifier.size(),
                    "indexes": verified.proofs.iter().map(|(k, p)| (k.clone(), p.index)).collect::<std::collections::BTreeMap<_, _>>(),
                })),
                "imports": wharf_compose::imports(&bytes)?,
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            for c in &constituents {
                let version = c
                    .version
                    .as_ref()
                    .map(|v| format!("@{v}"))
                    .unwrap_or_default();
                crate::status!("Resolved", "{}{version} ({})", c.key, c.digest);
                if !c.signatures.is_empty() {
                    crate::status!(
                        "Verified",
                        "{} signed by {}",
                        c.key,
                        c.signatures.join(", ")
                    );
                }
            }
            let name = format!(
                "{}@{}",
                manifest.deployable.name, manifest.deployable.version
            );
            crate::status!(
                "Composed",
                "{name} ({}) -> {}",
                output::size(bytes.len() as u64),
                output.display()
            );
        }
        Ok(())
    }
}

/// Re-resolve every requirement of a deploy manifest to the highest matching version
/// and rewrite wharf.lock (the next `wharf compose` uses it).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  wharf update\n  wharf update -m deploy/wharf.toml --json")]
pub struct UpdateArgs {
    /// The deploy manifest.
    #[arg(short, long, default_value = "wharf.toml")]
    manifest: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
    /// Print the changes as JSON.
    #[arg(long)]
    json: bool,
}

/// `(package, requirement) -> version` of every entry of a lock.
fn pinned(lock: &Lock) -> std::collections::BTreeMap<(String, String), String> {
    lock.packages
        .iter()
        .flat_map(|p| {
            p.versions.iter().map(move |v| {
                (
                    (p.name.to_string(), v.requirement.to_string()),
                    v.version.to_string(),
                )
            })
        })
        .collect()
}

/// A requirement whose locked version `wharf update` changed.
#[derive(serde::Serialize)]
struct LockChange {
    package: String,
    requirement: String,
    /// None: newly locked.
    from: Option<String>,
    to: String,
}

impl UpdateArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let (manifest, _, lock_path, before) = read_manifest(&self.manifest)?;
        let resolver = self.source.resolver()?;
        let mut after = wharf_compose::resolve(
            &manifest,
            before.as_ref(),
            resolver.as_ref(),
            LockMode::Update,
        )
        .await?;
        if let Some((verifier, _)) = self
            .source
            .verify_log(&manifest, &after, &lock_path)
            .await?
        {
            after.log = Some(verifier.record());
        }
        std::fs::write(&lock_path, after.to_string())
            .with_context(|| format!("writing {}", lock_path.display()))?;
        let old = before.as_ref().map(pinned).unwrap_or_default();
        let changes: Vec<LockChange> = pinned(&after)
            .into_iter()
            .filter(|(key, version)| old.get(key) != Some(version))
            .map(|((package, requirement), to)| LockChange {
                from: old.get(&(package.clone(), requirement.clone())).cloned(),
                package,
                requirement,
                to,
            })
            .collect();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&changes)?);
        } else if changes.is_empty() {
            crate::status!(
                "Locking",
                "nothing new: every requirement is at its highest version"
            );
        } else {
            for c in &changes {
                let from = c
                    .from
                    .as_ref()
                    .map(|f| format!("v{f} -> "))
                    .unwrap_or_default();
                crate::status!(
                    "Updating",
                    "{} {} {from}v{}",
                    c.package,
                    c.requirement,
                    c.to
                );
            }
        }
        Ok(())
    }
}
