//! Signature checks on the client: `wharf compose` checking every constituent against
//! the manifest's `[trust]` policy before linking, and `wharf verify` re-checking the
//! signatures a deployable's provenance records. The registry is asked only for the
//! envelopes and the namespace's key list; every envelope is verified here
//! (`wharf_compose::trust`), never taken on the registry's word.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use wharf_compose::load::Constituent;
use wharf_compose::trust::{self, RegisteredKey, TrustError};
use wharf_compose::{Manifest, Source};
use wharf_types::signing::{Envelope, VerifyingKey};
use wharf_types::views::{NamespaceKey, SignatureEnvelope};
use wharf_types::{Digest, PackageName};

use crate::client::{Client, encode};
use crate::registry::RegistryArgs;

/// What the registry holds of signatures, fetched once per namespace and version.
struct SignatureSource<'a> {
    client: &'a Client,
    keys: BTreeMap<String, Vec<RegisteredKey>>,
}

impl SignatureSource<'_> {
    /// The keys registered for `namespace` (none when nobody claimed it).
    async fn keys(&mut self, namespace: &str) -> anyhow::Result<Vec<RegisteredKey>> {
        if let Some(keys) = self.keys.get(namespace) {
            return Ok(keys.clone());
        }
        let listed: Vec<NamespaceKey> = self
            .client
            .get(&format!("/api/v1/namespaces/{}/keys", encode(namespace)))
            .await
            .with_context(|| format!("fetching the signing keys of namespace `{namespace}`"))?;
        let keys: Vec<RegisteredKey> = listed
            .into_iter()
            .map(|k| RegisteredKey {
                keyid: k.keyid,
                public_key: k.public_key,
                revoked: k.revoked_at.is_some(),
            })
            .collect();
        self.keys.insert(namespace.to_owned(), keys.clone());
        Ok(keys)
    }

    /// The envelopes attached to `package@version`; the registry's verdicts are
    /// dropped, and an envelope that does not parse is left out (it cannot count).
    async fn envelopes(
        &self,
        package: &PackageName,
        version: &str,
    ) -> anyhow::Result<Vec<Envelope>> {
        let listed: Vec<SignatureEnvelope> = self
            .client
            .get(&format!(
                "/api/v1/packages/{}/{}/versions/{}/signatures",
                package.namespace(),
                package.name(),
                encode(version)
            ))
            .await
            .with_context(|| format!("fetching the signatures of {package}@{version}"))?;
        Ok(listed
            .into_iter()
            .filter_map(|s| serde_json::to_vec(&s.envelope).ok())
            .filter_map(|bytes| Envelope::from_json(&bytes).ok())
            .collect())
    }
}

/// Reads a public key file of the policy, relative to the manifest's folder `dir`.
fn key_file(dir: &Path, path: &Path) -> anyhow::Result<VerifyingKey> {
    let path = dir.join(path);
    super::keys::read_public_key(&path).context("a key of [trust] in wharf.toml")
}

/// Checks every constituent against `manifest.trust` before linking, and records in
/// each the ids of the keys whose signatures count. `registry` is None when packages
/// come from a directory (`--fs`): then nothing that needs a signature can have one.
pub async fn check_constituents(
    manifest: &Manifest,
    dir: &Path,
    constituents: &mut [Constituent],
    registry: Option<&RegistryArgs>,
) -> anyhow::Result<()> {
    let policy = &manifest.trust;
    if !policy.requires_any() {
        return Ok(());
    }
    let client = registry.map(Client::new);
    let mut registry = client.as_ref().map(|client| SignatureSource {
        client,
        keys: BTreeMap::new(),
    });
    for c in constituents.iter_mut() {
        if !policy.requires(&c.source) {
            continue;
        }
        let (Source::Registry { package, .. }, Some(version)) = (&c.source, &c.version) else {
            return Err(TrustError::NotFromRegistry {
                key: c.key.clone(),
                origin: c.source.to_string(),
            }
            .into());
        };
        let Some(registry) = registry.as_mut() else {
            anyhow::bail!(
                "{}: [trust] requires a signature of {package}@{version}, and signatures come from a registry, not --fs",
                c.key
            );
        };
        let pinned = trust::pin(&policy.keys_for(package.namespace()), |p| key_file(dir, p))?;
        let registered = registry.keys(package.namespace()).await?;
        let envelopes = registry.envelopes(package, &version.to_string()).await?;
        c.signatures = trust::verify(
            &c.key,
            package,
            version,
            &c.digest,
            &pinned,
            &registered,
            &envelopes,
        )?;
    }
    Ok(())
}

/// Re-verify the signatures a composed deployable records: for each constituent, the
/// signature of every key its provenance lists, checked here against the key the
/// registry has registered for the namespace (or a key file given), and the key not
/// revoked since.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf verify gateway.wasm
  wharf verify gateway.wasm --registry https://registry.example.com --json
  wharf verify gateway.wasm --key keys/release.pub     # pin the key instead of the registry's copy")]
pub struct VerifyArgs {
    /// The deployable (`wharf compose` wrote its provenance into it).
    deployable: PathBuf,
    /// Public key files (SPKI PEM) to verify with instead of the registry's copy of
    /// the key of the same id.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl VerifyArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let bytes = std::fs::read(&self.deployable)
            .with_context(|| format!("reading {}", self.deployable.display()))?;
        let provenance = wharf_types::provenance::read(&bytes).with_context(|| {
            format!(
                "{} carries no Wharf provenance (`wharf compose` writes it)",
                self.deployable.display()
            )
        })?;
        let mut files = BTreeMap::new();
        for path in &self.keys {
            let key = super::keys::read_public_key(path)?;
            files.insert(wharf_types::signing::key_id(&key), key);
        }
        let client = Client::new(&self.registry);
        let mut registry = SignatureSource {
            client: &client,
            keys: BTreeMap::new(),
        };
        let mut report = Vec::new();
        let mut failures = Vec::new();
        for c in &provenance.constituents {
            if c.signatures.is_empty() {
                report.push(json!({"key": c.key, "signatures": [], "verified": false}));
                continue;
            }
            let (Some(package), Some(version)) = (&c.package, &c.version) else {
                failures.push(format!(
                    "{}: records signatures but no package and version",
                    c.key
                ));
                continue;
            };
            let name: PackageName = package.parse()?;
            let version: semver::Version = version
                .parse()
                .with_context(|| format!("{}: version `{version}`", c.key))?;
            let digest: Digest = c.digest.parse()?;
            let registered = registry.keys(name.namespace()).await?;
            let envelopes = registry.envelopes(&name, &version.to_string()).await?;
            let key_path = c
                .key
                .parse()
                .unwrap_or_else(|_| wharf_compose::KeyPath::root());
            for keyid in &c.signatures {
                let pinned = vec![(keyid.clone(), files.get(keyid).copied())];
                if let Err(e) = trust::verify(
                    &key_path,
                    &name,
                    &version,
                    &digest,
                    &pinned,
                    &registered,
                    &envelopes,
                ) {
                    failures.push(e.to_string());
                }
            }
            report.push(json!({
                "key": c.key,
                "package": package,
                "version": version.to_string(),
                "digest": c.digest,
                "signatures": c.signatures,
            }));
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "deployable": format!("{}@{}", provenance.name, provenance.version),
                    "constituents": report,
                    "verified": failures.is_empty(),
                    "failures": failures,
                }))?
            );
        }
        if !failures.is_empty() {
            anyhow::bail!(
                "{} does not verify:\n{}",
                self.deployable.display(),
                failures.join("\n")
            );
        }
        if !self.json {
            let signed = provenance
                .constituents
                .iter()
                .filter(|c| !c.signatures.is_empty())
                .count();
            crate::status!(
                "Verified",
                "{}@{}: {signed} of {} constituents signed, every recorded signature verifies",
                provenance.name,
                provenance.version,
                provenance.constituents.len()
            );
        }
        Ok(())
    }
}
