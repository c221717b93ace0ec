//! `fsck`: checks that everything the database says is published is stored whole, and
//! finds what is stored that nothing needs.
//!
//! For every version, manifest and manifest reference (config, layers, child
//! manifests) it reads the blob back from storage and hashes it: a blob that is
//! missing, of another size than recorded, or of other content is a **problem** (an
//! acknowledged publish that is not intact). Beside those it reports, without calling
//! them problems:
//! - **orphans**: stored blobs with no row in the database (what a crash between
//!   storing and recording, or a collection cut short, leaves); the collector ignores
//!   them, so `fsck --json` lists them for an operator to remove;
//! - **unreferenced**: blobs with a row that nothing uses (an upload whose manifest
//!   never came, a publish cut off before its commit); the collector removes them after
//!   the grace period;
//! - **leases without bytes**: rows whose blob was never stored (a writer cut off
//!   between its lease and its write); harmless, collected the same way.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use wharf_types::Digest;

use crate::AppState;
use crate::service::ServiceError;
use crate::storage::{StorageError, Verifier};

/// What `fsck` found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FsckReport {
    /// `s3://bucket/prefix` or the blob directory.
    pub storage: String,
    /// Versions, manifests and references checked.
    pub checked: usize,
    /// Distinct blobs read and hashed.
    pub blobs_verified: usize,
    /// Bytes read and hashed.
    pub bytes_verified: u64,
    /// Published content that is missing or damaged: must be empty.
    pub problems: Vec<FsckProblem>,
    /// Stored blobs the database does not know.
    pub orphans: Vec<Stored>,
    /// Blobs with a row that nothing uses (collected after the grace period).
    pub unreferenced: Vec<Stored>,
    /// Rows whose bytes were never stored.
    pub leases_without_bytes: usize,
}

impl FsckReport {
    /// Whether every published thing is whole.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A blob something relies on that is not whole.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FsckProblem {
    /// What relies on it: `ns:name@1.0.0`, `manifest ns/name@sha256:...`.
    pub owner: String,
    /// The digest relied on.
    pub digest: String,
    /// `missing`, `size 12 is not the recorded 10`, `content hashes to sha256:...`.
    pub problem: String,
}

/// A stored blob.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stored {
    /// The blob's digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Opens the registry `config` describes without serving it (no bearer-signing key is
/// read or made: see [`AppState::open_offline`]), checks it ([`AppState::fsck`]) and
/// closes it: what `wharf fsck` runs, safe while servers run on the same database and
/// storage.
pub async fn check(config: crate::Config) -> anyhow::Result<FsckReport> {
    let state = AppState::open_offline(config).await?;
    let report = state.fsck().await;
    state.db.close().await;
    report.map_err(|e| anyhow::anyhow!("fsck failed: {}", e.message))
}

/// How many blobs are read at once.
const PARALLEL_READS: usize = 8;

impl AppState {
    /// Checks every published blob against storage; see the module docs.
    pub async fn fsck(&self) -> Result<FsckReport, ServiceError> {
        let reliances = self.db.reliances().await?;
        let rows: HashMap<String, i64> = self.db.blob_rows().await?.into_iter().collect();
        let stored: HashMap<String, u64> = self
            .blobs
            .list()
            .await?
            .into_iter()
            .map(|(d, size)| (d.to_string(), size))
            .collect();
        let mut report = FsckReport {
            storage: self.blobs.describe(),
            checked: reliances.len(),
            ..Default::default()
        };

        // Each distinct digest is read and hashed once.
        let mut by_digest: BTreeMap<&str, Vec<&crate::repo::Reliance>> = BTreeMap::new();
        for reliance in &reliances {
            by_digest
                .entry(&reliance.digest)
                .or_default()
                .push(reliance);
        }
        let digests: Vec<String> = by_digest.keys().map(|d| d.to_string()).collect();
        let verdicts: Vec<(String, Result<u64, String>)> = futures::stream::iter(digests)
            .map(|digest: String| async move {
                let verdict = self.verify(&digest).await;
                (digest, verdict)
            })
            .buffer_unordered(PARALLEL_READS)
            .collect()
            .await;
        for (digest, verdict) in verdicts {
            let digest = digest.as_str();
            let owners = &by_digest[digest];
            match verdict {
                Ok(size) => {
                    report.blobs_verified += 1;
                    report.bytes_verified += size;
                    for owner in owners {
                        if let Some(recorded) = owner.size
                            && recorded as u64 != size
                        {
                            report.problems.push(FsckProblem {
                                owner: owner.owner.clone(),
                                digest: digest.to_owned(),
                                problem: format!("size {size} is not the recorded {recorded}"),
                            });
                        }
                    }
                }
                Err(problem) => {
                    for owner in owners {
                        report.problems.push(FsckProblem {
                            owner: owner.owner.clone(),
                            digest: digest.to_owned(),
                            problem: problem.clone(),
                        });
                    }
                }
            }
        }
        report.problems.sort_by(|a, b| a.owner.cmp(&b.owner));

        let relied: HashSet<&str> = by_digest.keys().copied().collect();
        for (digest, size) in &stored {
            if !rows.contains_key(digest) {
                report.orphans.push(Stored {
                    digest: digest.clone(),
                    size: *size,
                });
            } else if !relied.contains(digest.as_str()) {
                report.unreferenced.push(Stored {
                    digest: digest.clone(),
                    size: *size,
                });
            }
        }
        report.orphans.sort_by(|a, b| a.digest.cmp(&b.digest));
        report.unreferenced.sort_by(|a, b| a.digest.cmp(&b.digest));
        report.leases_without_bytes = rows
            .keys()
            .filter(|d| !stored.contains_key(*d) && !relied.contains(d.as_str()))
            .count();
        Ok(report)
    }

    /// Reads a blob and hashes it: its size, or what is wrong with it.
    async fn verify(&self, digest: &str) -> Result<u64, String> {
        let parsed: Digest = digest
            .parse()
            .map_err(|e| format!("`{digest}` is no digest: {e}"))?;
        let mut chunks = match self.blobs.stream(&parsed, 0, None).await {
            Ok(Some(chunks)) => chunks,
            Ok(None) => return Err("missing".into()),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        // Hashed as it streams: fsck holds a chunk, never a blob.
        let mut verifier = Verifier::new(&parsed);
        while let Some(chunk) = chunks.next().await {
            verifier.update(&chunk.map_err(|e| format!("unreadable: {e}"))?);
        }
        verifier.finish().map_err(|e| match e {
            StorageError::DigestMismatch { actual, .. } => format!("content hashes to {actual}"),
            other => other.to_string(),
        })
    }
}
