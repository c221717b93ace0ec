//! Blobs as clients read them: which are served where (linked to an OCI repository,
//! or used by anything at all), opening one to be read (whole from the memory cache
//! when small, streamed from storage when large), and unlinking one from a
//! repository. Who may read or push is [`access`](super::access)'s; the HTTP of a
//! download (ranges, conditional requests) is `http::blob`'s. Calls the repositories
//! and storage; never HTTP.

use bytes::Bytes;
use wharf_types::Digest;

use super::ServiceError;
use crate::AppState;
use crate::storage::BlobStream;

/// A stored blob, opened to be read: its size, and its bytes when they are small
/// enough for the memory cache ([`crate::CACHED_BLOB_MAX`]).
pub struct OpenBlob {
    digest: Digest,
    size: u64,
    cached: Option<Bytes>,
}

/// Some of a blob's bytes: in memory, or a stream read from storage as the client
/// takes it (so a stalled client holds a chunk, never the blob).
pub enum BlobBytes {
    /// Bytes from the memory cache.
    Whole(Bytes),
    /// Bytes read from storage as they are asked for.
    Streamed(BlobStream),
}

impl OpenBlob {
    /// How many bytes the blob has.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// `404 BLOB_UNKNOWN` for `digest`, in `place` when there is one.
pub fn unknown_blob(digest: &Digest, place: Option<&str>) -> ServiceError {
    let message = match place {
        Some(place) => format!("{place} has no blob {digest}"),
        None => format!("no blob {digest}"),
    };
    ServiceError::not_found("BLOB_UNKNOWN", message)
}

impl AppState {
    /// Whether anything (a version, a manifest, a repository) serves `digest`: a blob
    /// deleted from every repository is gone from `/api/v1/blobs/` too.
    pub async fn blob_served(&self, digest: &Digest) -> Result<bool, ServiceError> {
        Ok(self.db.blob_served(&digest.to_string()).await?)
    }

    /// Whether `digest` is linked to OCI repository `repository`.
    pub async fn blob_linked(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, ServiceError> {
        Ok(self.db.blob_linked(repository, &digest.to_string()).await?)
    }

    /// Unlinks `digest` from `repository` (the collector removes it once nothing uses
    /// it); `404 BLOB_UNKNOWN` when it was not linked there.
    pub async fn unlink_blob(&self, repository: &str, digest: &Digest) -> Result<(), ServiceError> {
        if self.db.unlink_blob(repository, &digest.to_string()).await? {
            Ok(())
        } else {
            Err(unknown_blob(digest, Some(repository)))
        }
    }

    /// How many bytes stored blob `digest` has; None when it is not stored.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, ServiceError> {
        Ok(self.blobs.size(digest).await?)
    }

    /// Opens stored blob `digest` to be read; None when it is not stored. Small blobs
    /// come whole from the memory cache (and go into it).
    pub async fn open_blob(&self, digest: &Digest) -> Result<Option<OpenBlob>, ServiceError> {
        // A cached blob needs no trip to storage (a `stat` on the blocking pool and two
        // thread hand-offs per download): whether a blob may still be served is the
        // database's to say, and callers asked it before opening the blob.
        if let Some(bytes) = self.cache.get(digest) {
            return Ok(Some(OpenBlob {
                digest: digest.clone(),
                size: bytes.len() as u64,
                cached: Some(bytes),
            }));
        }
        let Some(size) = self.blobs.size(digest).await? else {
            return Ok(None);
        };
        if size as usize > crate::CACHED_BLOB_MAX {
            return Ok(Some(OpenBlob {
                digest: digest.clone(),
                size,
                cached: None,
            }));
        }
        Ok(self.blob_bytes(digest).await?.map(|bytes| OpenBlob {
            digest: digest.clone(),
            size: bytes.len() as u64,
            cached: Some(bytes),
        }))
    }

    /// `len` bytes of `blob` from `offset` (within its size); None when it went from
    /// storage since it was opened.
    pub async fn read_blob(
        &self,
        blob: OpenBlob,
        offset: u64,
        len: u64,
    ) -> Result<Option<BlobBytes>, ServiceError> {
        Ok(match blob.cached {
            Some(bytes) => Some(BlobBytes::Whole(
                bytes.slice(offset as usize..(offset + len) as usize),
            )),
            None => self
                .blobs
                .stream(&blob.digest, offset, Some(len))
                .await?
                .map(BlobBytes::Streamed),
        })
    }
}
