//! Signature checks on the client: `wharf compose` checking every constituent against
//! the manifest's `[trust]` policy before linking, and `wharf verify` re-checking the
//! signatures a deployable's provenance records. The registry is asked only for the
//! envelopes and the namespace's key list; every envelope is verified here
//! (`wharf_compose::trust`), never taken on the registry's word.

use std::collections::{BTreeMap, BTreeSet};
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

/// Re-verify what a composed deployable's provenance records: that it holds each
/// constituent's bytes; each registry constituent's publish entry and inclusion proof
/// under the recorded checkpoint, signed by the registry's log key; that the
/// registry's log still extends that checkpoint; and the signature of every key the
/// provenance lists, against the key registered for the namespace (or a key file
/// given), not revoked since.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf verify gateway.wasm
  wharf verify gateway.wasm --registry https://registry.example.com --json
  wharf verify gateway.wasm --key keys/release.pub     # pin the key instead of the registry's copy
  wharf verify gateway.wasm --offline --log-key \"$KEY\"  # the deployable and the log key alone

The log key is the one given (--log-key, WHARF_LOG_KEY), else the one pinned for the
registry on first use; without --offline the registry announces it if neither is.
--offline checks what the deployable carries (its bytes, the log proofs) and skips what
needs the registry (the log's consistency since, and the signatures).")]
pub struct VerifyArgs {
    /// The deployable (`wharf compose` wrote its provenance into it).
    deployable: PathBuf,
    /// Public key files (SPKI PEM) to verify with instead of the registry's copy of
    /// the key of the same id.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// Ask the registry nothing: check only what the deployable itself carries.
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    log: crate::trust::LogArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The recorded checkpoint, opened with the registry's log key.
struct RecordedLog {
    key: wharf_types::log::LogKey,
    checkpoint: wharf_types::log::Checkpoint,
}

impl VerifyArgs {
    /// Opens the checkpoint the provenance records, and (online) checks that the
    /// registry's log still extends it.
    async fn recorded_log(&self, note: &str) -> anyhow::Result<RecordedLog> {
        let registry = &self.registry.registry;
        let token = self.registry.token();
        let key = if self.offline {
            crate::trust::known_key(registry, &self.log)?
        } else {
            crate::trust::key_for(registry, token.as_deref(), &self.log)
                .await?
                .map(|(key, _)| key)
        };
        let key = key.with_context(|| {
            format!(
                "the provenance records a transparency-log checkpoint, but no log key is known for {}: pass --log-key (the registry's `GET /api/v1/log/key`)",
                registry.authority()
            )
        })?;
        let checkpoint = key.open(note.as_bytes()).with_context(|| {
            format!(
                "the recorded checkpoint is refused under {}'s log key {}",
                registry.authority(),
                key.id()
            )
        })?;
        if !self.offline {
            wharf_compose::LogVerifier::open(
                &registry.url(),
                registry.authority(),
                token,
                key.clone(),
                Some(note),
                "the deployable's provenance",
            )
            .await?;
        }
        Ok(RecordedLog { key, checkpoint })
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let bytes = std::fs::read(&self.deployable)
            .with_context(|| format!("reading {}", self.deployable.display()))?;
        let provenance = wharf_types::provenance::read(&bytes).with_context(|| {
            format!(
                "{} carries no Wharf provenance (`wharf compose` writes it)",
                self.deployable.display()
            )
        })?;
        let nested: BTreeSet<String> = wharf_compose::nested_components(&bytes)?
            .into_iter()
            .map(|c| Digest::of(c).to_string())
            .collect();
        let log = match &provenance.log_checkpoint {
            Some(note) => Some(self.recorded_log(note).await?),
            None => None,
        };
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
            let contained = nested.contains(&c.digest);
            if !contained {
                failures.push(format!(
                    "{}: the deployable holds no component of the recorded digest {}",
                    c.key, c.digest
                ));
            }
            let mut entry = json!({"key": c.key, "digest": c.digest, "contained": contained});
            let (Some(package), Some(version)) = (&c.package, &c.version) else {
                if !c.signatures.is_empty() || c.log_index.is_some() {
                    failures.push(format!(
                        "{}: records signatures or a log entry but no package and version",
                        c.key
                    ));
                }
                report.push(entry);
                continue;
            };
            entry["package"] = json!(package);
            entry["version"] = json!(version);
            let name: PackageName = package.parse()?;
            let version: semver::Version = version
                .parse()
                .with_context(|| format!("{}: version `{version}`", c.key))?;
            let digest: Digest = c.digest.parse()?;
            if let Some(index) = c.log_index {
                entry["log_index"] = json!(index);
                match (&log, &c.log_entry) {
                    (None, _) => failures.push(format!(
                        "{}: records log entry {index} but the provenance records no checkpoint",
                        c.key
                    )),
                    (Some(_), None) => failures.push(format!(
                        "{}: records log entry {index} without the entry and its proof (composed by an older wharf: compose it again)",
                        c.key
                    )),
                    (Some(log), Some(text)) => {
                        let proof = wharf_compose::LogProof {
                            index,
                            entry: text.clone(),
                            proof: c.log_proof.clone(),
                        };
                        if let Err(reason) = proof.check(
                            &log.checkpoint,
                            &log.key,
                            &name,
                            &version.to_string(),
                            &digest,
                        ) {
                            failures.push(format!(
                                "{}: {package}@{version} ({digest}): {reason}",
                                c.key
                            ));
                        }
                    }
                }
            }
            entry["signatures"] = json!(c.signatures);
            if c.signatures.is_empty() || self.offline {
                report.push(entry);
                continue;
            }
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
            report.push(entry);
        }
        let logged = provenance
            .constituents
            .iter()
            .filter(|c| c.log_index.is_some())
            .count();
        let signed = provenance
            .constituents
            .iter()
            .filter(|c| !c.signatures.is_empty())
            .count();
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "deployable": format!("{}@{}", provenance.name, provenance.version),
                    "constituents": report,
                    "log": log.as_ref().map(|log| json!({
                        "origin": log.checkpoint.origin(),
                        "size": log.checkpoint.size(),
                        "key": log.key.id(),
                        "consistency_checked": !self.offline,
                    })),
                    "signatures_checked": !self.offline,
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
            let total = provenance.constituents.len();
            let name = format!("{}@{}", provenance.name, provenance.version);
            crate::status!(
                "Verified",
                "{name}: the {total} constituents' bytes are the recorded ones"
            );
            if let Some(log) = &log {
                crate::status!(
                    "Verified",
                    "{logged} of {total} in the transparency log under checkpoint size {} ({}){}",
                    log.checkpoint.size(),
                    log.key.id(),
                    if self.offline {
                        ""
                    } else {
                        ", and the registry's log extends it"
                    }
                );
            }
            if self.offline {
                crate::status!(
                    "Skipped",
                    "{signed} signed constituents' signatures (--offline)"
                );
            } else {
                crate::status!(
                    "Verified",
                    "{signed} of {total} signed, every recorded signature verifies"
                );
            }
        }
        Ok(())
    }
}
