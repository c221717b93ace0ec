//! Verifying what a Wharf registry serves against its transparency log (docs/trust.md):
//! the registry's checkpoint is signed by the log key the client trusts, it extends
//! the last checkpoint the client saw (a consistency proof), and every digest the
//! client uses is bound to its `package@version` by a publish entry included under
//! that checkpoint (an inclusion proof). Errors name the package, the proof and the
//! checkpoint.

use wharf_types::log::{self, Action, Checkpoint, Entry, LogError, LogKey};
use wharf_types::views::{ConsistencyProof, InclusionProof, VersionDetail};
use wharf_types::{Digest, PackageName};

/// The checkpoint a lock's digests were last verified against: `wharf.lock`'s `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRecord {
    /// The registry, `host[:port]`.
    pub registry: String,
    /// The signed checkpoint (a C2SP signed note), as the registry served it.
    pub checkpoint: String,
}

/// Why a registry's log does not vouch for what it serves.
#[derive(Debug, thiserror::Error)]
pub enum LogVerifyError {
    /// The log could not be read.
    #[error("cannot read the transparency log of {registry}: {reason}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// What failed.
        reason: String,
    },
    /// The registry serves no log, though its key is pinned or given.
    #[error(
        "{registry} serves no transparency log (404 at /api/v1/log/checkpoint), but its log key {key} is pinned or given: refusing to trust it unlogged"
    )]
    NoLog {
        /// The registry.
        registry: String,
        /// The key expected.
        key: String,
    },
    /// The checkpoint is not signed by the trusted key, or malformed.
    #[error("the checkpoint of {registry}'s transparency log is refused: {source}")]
    Checkpoint {
        /// The registry.
        registry: String,
        /// Why.
        #[source]
        source: LogError,
    },
    /// The last checkpoint seen could not be read back.
    #[error("the checkpoint last seen ({seen_in}) is refused: {source}")]
    Saved {
        /// Where it was kept.
        seen_in: String,
        /// Why.
        #[source]
        source: LogError,
    },
    /// The new checkpoint does not extend the last one seen: a rewritten or forked log.
    #[error(
        "{registry}'s transparency log was rewritten or forked: its checkpoint ({to}) is not an extension of the one last seen in {seen_in} ({from}): {reason}"
    )]
    Fork {
        /// The registry.
        registry: String,
        /// Where the older checkpoint was kept.
        seen_in: String,
        /// The older checkpoint: `size N, root R`.
        from: String,
        /// The newer checkpoint: `size N, root R`.
        to: String,
        /// The failed check.
        reason: String,
    },
    /// A version's digest is not vouched for by the log.
    #[error("{package}@{version} ({digest}): {reason}")]
    Version {
        /// The package.
        package: String,
        /// The version.
        version: String,
        /// The digest used.
        digest: String,
        /// What failed: which entry, which proof, which checkpoint.
        reason: String,
    },
}

/// A registry's log, its checkpoint verified: checks versions against it.
pub struct LogVerifier {
    http: reqwest::Client,
    base: String,
    registry: String,
    token: Option<String>,
    key: LogKey,
    note: String,
    checkpoint: Checkpoint,
}

impl std::fmt::Debug for LogVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogVerifier")
            .field("registry", &self.registry)
            .field("size", &self.checkpoint.size())
            .finish_non_exhaustive()
    }
}

/// `GET base+path`: the body, None for a 404, or why not.
async fn get(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    path: &str,
) -> Result<Option<bytes::Bytes>, String> {
    let mut request = http.get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(Some(body))
}

/// The log key a registry announces (`GET /api/v1/log/key`), for pinning on first use;
/// None when it serves no log.
pub async fn announced_key(
    base: &str,
    registry: &str,
    token: Option<&str>,
) -> Result<Option<LogKey>, LogVerifyError> {
    let http = reqwest::Client::new();
    let body = get(&http, base, token, "/api/v1/log/key")
        .await
        .map_err(|reason| LogVerifyError::Unreachable {
            registry: registry.to_owned(),
            reason,
        })?;
    body.map(|body| {
        LogKey::parse(&String::from_utf8_lossy(&body)).map_err(|source| {
            LogVerifyError::Checkpoint {
                registry: registry.to_owned(),
                source,
            }
        })
    })
    .transpose()
}

fn describe(checkpoint: &Checkpoint) -> String {
    format!(
        "checkpoint {} size {} root {}",
        checkpoint.origin(),
        checkpoint.size(),
        checkpoint.hash()
    )
}

impl LogVerifier {
    /// Reads the registry's checkpoint at `base` (`http(s)://host[:port]`), checks it
    /// is signed by `key`, and, given the checkpoint last seen (`previous`, kept in
    /// `seen_in`), that it extends it.
    pub async fn open(
        base: &str,
        registry: &str,
        token: Option<String>,
        key: LogKey,
        previous: Option<&str>,
        seen_in: &str,
    ) -> Result<Self, LogVerifyError> {
        let http = reqwest::Client::new();
        let unreachable = |reason| LogVerifyError::Unreachable {
            registry: registry.to_owned(),
            reason,
        };
        let note = get(&http, base, token.as_deref(), "/api/v1/log/checkpoint")
            .await
            .map_err(unreachable)?
            .ok_or_else(|| LogVerifyError::NoLog {
                registry: registry.to_owned(),
                key: key.id(),
            })?;
        let checkpoint = key
            .open(&note)
            .map_err(|source| LogVerifyError::Checkpoint {
                registry: registry.to_owned(),
                source,
            })?;
        let verifier = Self {
            http,
            base: base.to_owned(),
            registry: registry.to_owned(),
            token,
            note: String::from_utf8_lossy(&note).into_owned(),
            key,
            checkpoint,
        };
        if let Some(previous) = previous {
            verifier.check_extends(previous, seen_in).await?;
        }
        Ok(verifier)
    }

    /// Checks that this checkpoint extends `previous` (a signed note kept in `seen_in`).
    async fn check_extends(&self, previous: &str, seen_in: &str) -> Result<(), LogVerifyError> {
        let old = self
            .key
            .open(previous.as_bytes())
            .map_err(|source| LogVerifyError::Saved {
                seen_in: seen_in.to_owned(),
                source,
            })?;
        let new = &self.checkpoint;
        let fork = |reason: String| LogVerifyError::Fork {
            registry: self.registry.clone(),
            seen_in: seen_in.to_owned(),
            from: format!("size {}, root {}", old.size(), old.hash()),
            to: format!("size {}, root {}", new.size(), new.hash()),
            reason,
        };
        if old.size() > new.size() {
            return Err(fork("the log shrank".into()));
        }
        let proof = if old.size() == 0 || old.size() == new.size() {
            Vec::new()
        } else {
            let path = format!(
                "/api/v1/log/proof/consistency?from={}&to={}",
                old.size(),
                new.size()
            );
            let body: ConsistencyProof = self.json(&path).await.map_err(fork)?;
            parse_hashes(&body.proof).map_err(|e| fork(e.to_string()))?
        };
        log::check_consistency(&proof, old.size(), *old.hash(), new.size(), *new.hash())
            .map_err(|e| fork(e.to_string()))
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let body = get(&self.http, &self.base, self.token.as_deref(), path)
            .await?
            .ok_or_else(|| format!("GET {path}: 404"))?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))
    }

    /// The signed checkpoint verified (to keep, and to record in provenance).
    pub fn checkpoint_note(&self) -> &str {
        &self.note
    }

    /// The verified checkpoint's size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size()
    }

    /// The verified checkpoint's root hash.
    pub fn root(&self) -> log::Hash {
        *self.checkpoint.hash()
    }

    /// The key the checkpoint was verified with.
    pub fn key(&self) -> &LogKey {
        &self.key
    }

    /// The record to keep in `wharf.lock`.
    pub fn record(&self) -> LogRecord {
        LogRecord {
            registry: self.registry.clone(),
            checkpoint: self.note.clone(),
        }
    }

    /// Checks that the log binds `digest` to `package@version` under the verified
    /// checkpoint; answers the publish entry and its inclusion proof under it.
    pub async fn verify(
        &self,
        package: &PackageName,
        version: &str,
        digest: &Digest,
    ) -> Result<LogProof, LogVerifyError> {
        let fail = |reason: String| LogVerifyError::Version {
            package: package.to_string(),
            version: version.to_owned(),
            digest: digest.to_string(),
            reason,
        };
        let path = format!(
            "/api/v1/packages/{}/{}/versions/{}",
            package.namespace(),
            package.name(),
            version
        );
        let detail: VersionDetail = self.json(&path).await.map_err(&fail)?;
        let Some(found) = detail.log else {
            return Err(fail(
                "the registry shows no transparency-log entry for it: its digest is not in the log"
                    .into(),
            ));
        };
        let size = self.checkpoint.size();
        let proof = if found.size == size || found.index >= size {
            found.inclusion_proof
        } else {
            let path = format!(
                "/api/v1/log/proof/inclusion?index={}&size={size}",
                found.index
            );
            let proof: InclusionProof = self.json(&path).await.map_err(&fail)?;
            proof.proof
        };
        let proof = LogProof {
            index: found.index,
            entry: found.entry,
            proof,
        };
        proof
            .check(&self.checkpoint, &self.key, package, version, digest)
            .map_err(fail)?;
        Ok(proof)
    }
}

/// A version's publish entry and the proof that a checkpoint's tree includes it: what
/// a deployable's provenance records of each registry constituent, so that it can be
/// re-verified with the checkpoint and the log key alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogProof {
    /// The entry's index.
    pub index: u64,
    /// The entry's canonical text.
    pub entry: String,
    /// The inclusion proof under the checkpoint, base64 hashes.
    pub proof: Vec<String>,
}

impl LogProof {
    /// Checks that this is the publish entry binding `package@version` to `digest`,
    /// included in the tree of `checkpoint` (signed by `key`); the reason names the
    /// entry, the proof and the checkpoint.
    pub fn check(
        &self,
        checkpoint: &Checkpoint,
        key: &LogKey,
        package: &PackageName,
        version: &str,
        digest: &Digest,
    ) -> Result<(), String> {
        let subject = format!("{package}@{version}");
        let entry = Entry::parse(self.entry.as_bytes())
            .map_err(|e| format!("log entry {}: {e}", self.index))?;
        if entry.action != Action::Publish || entry.subject != subject {
            return Err(format!(
                "log entry {} is not its publish but: {entry}",
                self.index
            ));
        }
        if entry.object != digest.to_string() {
            return Err(format!(
                "the digest is not in the log: log entry {} binds {subject} to {}",
                self.index, entry.object
            ));
        }
        let size = checkpoint.size();
        if self.index >= size {
            return Err(format!(
                "log entry {} is past the verified {}",
                self.index,
                describe(checkpoint)
            ));
        }
        let proof = parse_hashes(&self.proof).map_err(|e| e.to_string())?;
        let leaf = log::leaf_hash(self.entry.as_bytes());
        log::check_inclusion(&proof, size, *checkpoint.hash(), self.index, leaf).map_err(|_| {
            format!(
                "the inclusion proof of log entry {} does not verify against {} signed by {}",
                self.index,
                describe(checkpoint),
                key.id()
            )
        })
    }
}

fn parse_hashes(texts: &[String]) -> Result<Vec<log::Hash>, LogError> {
    texts
        .iter()
        .map(|t| log::parse_hash(t, "a proof hash"))
        .collect()
}
