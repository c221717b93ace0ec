//! The transparency log (docs/trust.md): what it says, signed and proven.
//!
//! Appends happen in the repositories, in the transaction of each publish, yank,
//! unyank and ownership change. Here: the signed checkpoint of the current tree
//! (C2SP `tlog-checkpoint` in a `signed-note`, signed with [`crate::keys::LogKeys`]),
//! inclusion and consistency proofs, entries for auditors, and each version's entry
//! with its proof. Every root and proof reads only the `O(log n)` stored hashes it
//! needs ([`wharf_types::log::reads_of`]).

use wharf_types::log::{self, DynReader, Entry, Hash, LogError, MapReader};

use super::ServiceError;
use crate::AppState;
use crate::views;

/// The most entries one `GET /api/v1/log/entries` answers.
pub const MAX_ENTRIES_PER_PAGE: u64 = 1000;

/// `400 LOG_RANGE` naming the parameter.
fn range(message: String) -> ServiceError {
    ServiceError::bad_request("LOG_RANGE", message)
}

/// A query parameter that must be a number; `400 LOG_RANGE` naming it otherwise.
pub fn log_param(name: &str, value: Option<&str>) -> Result<Option<u64>, ServiceError> {
    value
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                range(format!(
                    "`{name}` must be a whole number from 0, not `{text}`"
                ))
            })
        })
        .transpose()
}

fn hashes_text(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(log::hash_text).collect()
}

impl AppState {
    /// Runs `work` (a root or a proof) on exactly the stored hashes it reads.
    async fn over_stored<T>(
        &self,
        work: impl Fn(&dyn DynReader) -> Result<T, LogError>,
    ) -> Result<T, ServiceError> {
        let indexes = log::reads_of(&work);
        let hashes = self.db.log_hashes(&indexes).await?;
        work(&MapReader(&hashes)).map_err(ServiceError::internal)
    }

    /// The log's size and root hash now.
    pub async fn log_tree(&self) -> Result<(u64, Hash), ServiceError> {
        let size = self.db.log_size().await?;
        Ok((size, self.log_root(size).await?))
    }

    async fn log_root(&self, size: u64) -> Result<Hash, ServiceError> {
        self.over_stored(|r| log::tree_root(size, r)).await
    }

    /// The signed checkpoint of the current tree: a C2SP signed note.
    pub async fn log_checkpoint(&self) -> Result<Vec<u8>, ServiceError> {
        let (size, root) = self.log_tree().await?;
        self.log_keys
            .sign_checkpoint(size, root)
            .map_err(ServiceError::internal)
    }

    /// The log's origin, key, size, root and checkpoint.
    pub async fn log_info(&self) -> Result<views::LogInfo, ServiceError> {
        let (size, root) = self.log_tree().await?;
        let checkpoint = self
            .log_keys
            .sign_checkpoint(size, root)
            .map_err(ServiceError::internal)?;
        Ok(views::LogInfo {
            origin: self.log_keys.origin().to_owned(),
            key: self.log_keys.verifier_key().to_owned(),
            size,
            root_hash: log::hash_text(&root),
            checkpoint: String::from_utf8(checkpoint).map_err(ServiceError::internal)?,
        })
    }

    /// A size a proof may be against: at most the log's; the current one when None.
    async fn proof_size(&self, name: &str, size: Option<u64>) -> Result<u64, ServiceError> {
        let current = self.db.log_size().await?;
        match size {
            None => Ok(current),
            Some(size) if size > current => Err(range(format!(
                "`{name}` {size} is beyond the log, which has {current} entries"
            ))),
            Some(size) => Ok(size),
        }
    }

    /// The entry at `index` (its text and leaf hash); `400 LOG_RANGE` past the end.
    async fn log_entry(&self, index: u64) -> Result<views::LogEntry, ServiceError> {
        let found = self.db.log_entries(index, 1).await?;
        match found.into_iter().next() {
            Some((i, entry)) if i == index => Ok(views::LogEntry {
                index,
                leaf_hash: log::hash_text(&log::leaf_hash(entry.as_bytes())),
                entry,
            }),
            _ => Err(ServiceError::internal(format!(
                "log entry {index} is missing below the log's size"
            ))),
        }
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries (the current
    /// one when None).
    pub async fn inclusion_proof(
        &self,
        index: Option<u64>,
        size: Option<u64>,
    ) -> Result<views::InclusionProof, ServiceError> {
        let index = index.ok_or_else(|| range("`index` is required".into()))?;
        let size = self.proof_size("size", size).await?;
        if index >= size {
            return Err(range(format!(
                "`index` {index} is not in a tree of `size` {size} (indexes run from 0 to size - 1)"
            )));
        }
        let entry = self.log_entry(index).await?;
        let proof = self
            .over_stored(|r| log::prove_inclusion(size, index, r))
            .await?;
        let root = self.log_root(size).await?;
        Ok(views::InclusionProof {
            index,
            size,
            leaf_hash: entry.leaf_hash,
            root_hash: log::hash_text(&root),
            proof: hashes_text(&proof),
        })
    }

    /// The proof that the tree of `from` entries is a prefix of the tree of `to` (the
    /// current one when None).
    pub async fn consistency_proof(
        &self,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<views::ConsistencyProof, ServiceError> {
        let from = from.ok_or_else(|| range("`from` is required".into()))?;
        let to = self.proof_size("to", to).await?;
        if from > to {
            return Err(range(format!(
                "`from` {from} is past `to` {to}: a tree is consistent only with larger ones"
            )));
        }
        let proof = if from == 0 || from == to {
            Vec::new()
        } else {
            self.over_stored(|r| log::prove_consistency(to, from, r))
                .await?
        };
        Ok(views::ConsistencyProof {
            from,
            to,
            from_root: log::hash_text(&self.log_root(from).await?),
            to_root: log::hash_text(&self.log_root(to).await?),
            proof: hashes_text(&proof),
        })
    }

    /// Up to `limit` entries (at most [`MAX_ENTRIES_PER_PAGE`]) from `start`.
    pub async fn log_entries(
        &self,
        start: u64,
        limit: Option<u64>,
    ) -> Result<views::LogEntries, ServiceError> {
        let limit = limit.unwrap_or(MAX_ENTRIES_PER_PAGE);
        if limit == 0 || limit > MAX_ENTRIES_PER_PAGE {
            return Err(range(format!(
                "`limit` must be from 1 to {MAX_ENTRIES_PER_PAGE}, not {limit}"
            )));
        }
        let size = self.db.log_size().await?;
        if start > size {
            return Err(range(format!(
                "`start` {start} is beyond the log, which has {size} entries"
            )));
        }
        let rows = self.db.log_entries(start, limit.min(size - start)).await?;
        Ok(views::LogEntries {
            size,
            entries: rows
                .into_iter()
                .filter(|(i, _)| *i < size)
                .map(|(index, entry)| views::LogEntry {
                    index,
                    leaf_hash: log::hash_text(&log::leaf_hash(entry.as_bytes())),
                    entry,
                })
                .collect(),
        })
    }

    /// The newest `limit` entries, newest first, parsed: for the `/log` page.
    pub async fn recent_log_entries(
        &self,
        limit: u64,
    ) -> Result<Vec<(u64, Option<Entry>)>, ServiceError> {
        Ok(self
            .db
            .recent_log_entries(limit)
            .await?
            .into_iter()
            .map(|(index, text, _)| (index, Entry::parse(text.as_bytes()).ok()))
            .collect())
    }

    /// A version's publish entry with its inclusion proof against the current tree;
    /// None for a version not in the log, or whose entry is damaged (which `fsck`
    /// reports, and clients refuse): the version's page and detail still answer.
    pub async fn version_log(
        &self,
        log_index: Option<i64>,
    ) -> Result<Option<views::VersionLog>, ServiceError> {
        let Some(index) = log_index.map(|i| i as u64) else {
            return Ok(None);
        };
        let found = async {
            let proof = self.inclusion_proof(Some(index), None).await?;
            let entry = self.log_entry(index).await?;
            Ok::<_, ServiceError>((proof, entry))
        };
        let (proof, entry) = match found.await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(index, error = %e.message, "a version's log entry cannot be shown: run `wharf fsck`");
                return Ok(None);
            }
        };
        Ok(Some(views::VersionLog {
            index,
            entry: entry.entry,
            leaf_hash: entry.leaf_hash,
            size: proof.size,
            root_hash: proof.root_hash,
            inclusion_proof: proof.proof,
        }))
    }

    /// Appends the publish entries of versions published before the log existed (a
    /// registry upgraded to this one), oldest first, each with its publisher and time:
    /// from then on every version has its entry. Replicas starting at once each append
    /// only what nobody did.
    pub async fn log_versions_published_before_the_log(&self) -> Result<(), ServiceError> {
        if !self.config.transparency_log {
            return Ok(());
        }
        let missing = self.db.versions_outside_log().await?;
        for (namespace, name, version, digest, published_by, published_at) in missing {
            let entry = Entry::version(
                log::Action::Publish,
                &format!("{namespace}:{name}@{version}"),
                &digest,
                &published_by,
                published_at,
            );
            self.db
                .backfill_publish(&entry, &namespace, &name, &version, crate::now_ms())
                .await?;
        }
        Ok(())
    }
}

/// The height of the tiles served (C2SP tlog-tiles fixes it at 8: 256 hashes a tile).
pub const TILE_HEIGHT: u8 = 8;

impl AppState {
    /// A tile of C2SP tlog-tiles, by its path under `tile/`: `<L>/<N>[.p/<W>]` (hashes)
    /// or `entries/<N>[.p/<W>]` (the entry bundle: each entry's length as a big-endian
    /// u16, then its bytes). `404 LOG_TILE_UNKNOWN` for a tile the tree does not have
    /// yet (or a malformed path).
    pub async fn log_tile(&self, path: &str) -> Result<Vec<u8>, ServiceError> {
        let unknown = || {
            ServiceError::not_found(
                "LOG_TILE_UNKNOWN",
                format!("the log has no tile `tile/{path}`"),
            )
        };
        let (entries, go_path) = match path.strip_prefix("entries/") {
            Some(rest) => (true, format!("tile/{TILE_HEIGHT}/data/{rest}")),
            None => (false, format!("tile/{TILE_HEIGHT}/{path}")),
        };
        let tile = tlog_tiles::Tile::from_path(&go_path).map_err(|_| unknown())?;
        let size = self.db.log_size().await?;
        let level_size = size >> (u32::from(tile.level()) * u32::from(TILE_HEIGHT));
        let end = (tile.level_index() << TILE_HEIGHT) + u64::from(tile.width());
        if end > level_size {
            return Err(unknown());
        }
        if entries {
            let start = tile.level_index() << TILE_HEIGHT;
            let rows = self.db.log_entries(start, u64::from(tile.width())).await?;
            let mut bundle = Vec::new();
            for (_, entry) in rows {
                bundle.extend_from_slice(&(entry.len() as u16).to_be_bytes());
                bundle.extend_from_slice(entry.as_bytes());
            }
            return Ok(bundle);
        }
        self.over_stored(|r| {
            tile.read_data(&Reader(r))
                .map_err(|e| LogError::Malformed(e.to_string()))
        })
        .await
    }
}

/// A [`DynReader`] as a `tlog_tiles::HashReader`.
struct Reader<'a>(&'a dyn DynReader);

impl log::HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.read(indexes)
    }
}
