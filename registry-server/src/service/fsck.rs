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
//!
//! It also checks the transparency log against the versions (docs/trust.md): every
//! entry is there, in order and well-formed; the stored tree hashes are what the
//! entries hash to (so the signed checkpoints are of these entries); every version has
//! a publish entry binding its current digest, and no version two. What disagrees is a
//! **log problem**, named by `package@version` or by entry.

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
    /// Entries in the transparency log.
    pub log_entries: u64,
    /// Where the log and the versions disagree, or the log is damaged: must be empty.
    pub log_problems: Vec<LogProblem>,
}

/// Where the transparency log and the versions disagree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogProblem {
    /// `ns:name@1.0.0`, or `log entry 12`.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
}

impl FsckReport {
    /// Whether every published thing is whole.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.log_problems.is_empty()
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
        self.fsck_log(&mut report).await?;
        Ok(report)
    }

    /// The log's part of fsck: see the module docs.
    async fn fsck_log(&self, report: &mut FsckReport) -> Result<(), ServiceError> {
        use wharf_types::log::{self, Action, Entry, Tree};
        let problem = |subject: String, problem: String| LogProblem { subject, problem };
        let size = self.db.log_size().await?;
        report.log_entries = size;
        // Every entry, in order: each index once, each parsed.
        let mut entries: Vec<Option<Entry>> = Vec::with_capacity(size as usize);
        let mut tree = Tree::default();
        let mut next = 0u64;
        loop {
            let page = self.db.log_entries(next, 1000).await?;
            if page.is_empty() {
                break;
            }
            for (index, text) in page {
                if index >= size {
                    report.log_problems.push(problem(
                        format!("log entry {index}"),
                        format!("is past the log's size {size}"),
                    ));
                    continue;
                }
                while next < index {
                    report.log_problems.push(problem(
                        format!("log entry {next}"),
                        "is missing (removed from the database)".into(),
                    ));
                    entries.push(None);
                    tree.push(log::Hash([0; log::HASH_SIZE]));
                    next += 1;
                }
                tree.push(log::leaf_hash(text.as_bytes()));
                match Entry::parse(text.as_bytes()) {
                    Ok(entry) => entries.push(Some(entry)),
                    Err(e) => {
                        report
                            .log_problems
                            .push(problem(format!("log entry {index}"), e.to_string()));
                        entries.push(None);
                    }
                }
                next = index + 1;
            }
        }
        while next < size {
            report.log_problems.push(problem(
                format!("log entry {next}"),
                "is missing (removed from the database)".into(),
            ));
            entries.push(None);
            tree.push(log::Hash([0; log::HASH_SIZE]));
            next += 1;
        }
        // The stored hashes are what the entries make.
        let stored = self.db.log_hashes_below(log::stored_count(size)).await?;
        let made = tree.stored();
        let mut seen = 0u64;
        for (index, text) in &stored {
            seen += 1;
            let Some(expected) = made.get(*index as usize) else {
                continue;
            };
            if log::hash_text(expected) != *text {
                let (level, n) = tlog_tiles::split_stored_hash_index(*index);
                let subject = if level == 0 {
                    format!("log entry {n}")
                } else {
                    format!("log entries {} to {}", n << level, ((n + 1) << level) - 1)
                };
                report.log_problems.push(problem(
                    subject,
                    format!(
                        "stored tree hash {index} (level {level}) is not what the entries hash to:                          an entry was changed, moved or removed after it was logged"
                    ),
                ));
            }
        }
        if seen != log::stored_count(size) {
            report.log_problems.push(problem(
                "log".into(),
                format!(
                    "{} stored tree hashes for {size} entries; expected {}",
                    seen,
                    log::stored_count(size)
                ),
            ));
        }
        // Every version has one publish entry, binding its digest.
        let mut publishes: std::collections::HashMap<&str, Vec<u64>> = Default::default();
        for (index, entry) in entries.iter().enumerate() {
            if let Some(entry) = entry
                && entry.action == Action::Publish
            {
                publishes
                    .entry(entry.subject.as_str())
                    .or_default()
                    .push(index as u64);
            }
        }
        for (subject, indexes) in &publishes {
            if indexes.len() > 1 {
                report.log_problems.push(problem(
                    subject.to_string(),
                    format!("published more than once, in log entries {indexes:?}"),
                ));
            }
        }
        for (namespace, name, version, digest, log_index) in self.db.version_log_indexes().await? {
            let subject = format!("{namespace}:{name}@{version}");
            let Some(index) = log_index else {
                report
                    .log_problems
                    .push(problem(subject, "is not in the transparency log".into()));
                continue;
            };
            match entries.get(index as usize).and_then(Option::as_ref) {
                Some(entry) if entry.action == Action::Publish && entry.subject == subject => {
                    if entry.object != digest {
                        report.log_problems.push(problem(
                            subject,
                            format!(
                                "its digest {digest} is not in the log: log entry {index} binds {}",
                                entry.object
                            ),
                        ));
                    }
                }
                Some(entry) => report.log_problems.push(problem(
                    subject,
                    format!("its log entry {index} records something else: {entry}"),
                )),
                None => report.log_problems.push(problem(
                    subject,
                    format!("its log entry {index} is missing or unreadable"),
                )),
            }
        }
        report
            .log_problems
            .sort_by(|a, b| a.subject.cmp(&b.subject));
        Ok(())
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
