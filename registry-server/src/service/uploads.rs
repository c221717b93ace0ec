//! Receiving blobs: the slots that bound how many request bodies are received at
//! once, the lease-then-store protocol every writer of a blob follows (see
//! [`crate::service::gc`] for why it makes collection safe), and OCI blob uploads
//! (mounts, monolithic pushes, and upload sessions: which repository each belongs
//! to, their chunks, how they end).
//!
//! Routes check who may write before they take a slot, and take a slot before they
//! read a byte: a caller who may not publish (anonymous callers included) costs no
//! body, a flood of uploads costs at most `max_uploads` bodies in flight, and one user
//! holds at most `max_uploads_per_user` of them, so that their stalled or trickling
//! bodies cannot keep everyone else from publishing (how long a body may take to
//! arrive is bounded where it is read, `http::body`). Calls the repositories and
//! storage; never HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wharf_types::Digest;

use crate::AppState;
use crate::service::access::Principal;
use crate::service::{ErrorKind, ServiceError};
pub use crate::storage::{BodyError, Incoming};

/// Bodies received at once, by default: with the default `max_upload` of 64 MiB, the
/// bodies read whole (publishes) hold at most 512 MiB between them.
pub const DEFAULT_MAX_UPLOADS: usize = 8;

/// The slots bodies are received in; see [`UploadSlots::take`].
#[derive(Clone)]
pub struct UploadSlots {
    slots: Arc<Semaphore>,
    max: usize,
    per_user: usize,
    /// How many slots each user holds now; users holding none are absent.
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One body being received; the slot (and the user's share of it) frees when it is
/// dropped.
pub struct UploadSlot {
    _permit: OwnedSemaphorePermit,
    user: String,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = held.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.user);
            }
        }
    }
}

impl UploadSlots {
    /// `max` bodies at once (at least one), at most `per_user` of them one user's
    /// (None: half of `max`, rounded up; never more than `max`, at least one).
    pub fn new(max: usize, per_user: Option<usize>) -> Self {
        let max = max.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            per_user: per_user.unwrap_or(max.div_ceil(2)).clamp(1, max),
            held: Arc::default(),
        }
    }

    /// How many bodies are being received now.
    pub fn in_use(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// A free slot for a body `principal` sends, or `429 TOOMANYREQUESTS` (the OCI
    /// code, which clients retry on; `Retry-After: 1`) naming the limit met: the
    /// user's share (`max_uploads_per_user`) or the whole (`max_uploads`). A busy
    /// registry refuses at once rather than queueing bodies, and one user's slow or
    /// stalled bodies leave the other slots to everyone else.
    pub fn take(&self, principal: &Principal) -> Result<UploadSlot, ServiceError> {
        let permit = self.slots.clone().try_acquire_owned().map_err(|_| {
            busy(
                format!(
                    "the registry is receiving {} uploads at once, its limit \
                     (`max_uploads`, `wharf serve --max-uploads`); retry shortly",
                    self.max
                ),
                serde_json::json!({ "max_uploads": self.max }),
            )
        })?;
        let user = &principal.user;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mine = held.entry(user.clone()).or_default();
        if *mine >= self.per_user {
            // The permit goes back as it drops.
            return Err(busy(
                format!(
                    "`{user}` is sending {} uploads at once, the most one user may \
                     (`max_uploads_per_user`, `wharf serve --max-uploads-per-user`); \
                     retry when one is done",
                    self.per_user
                ),
                serde_json::json!({ "max_uploads_per_user": self.per_user }),
            ));
        }
        *mine += 1;
        Ok(UploadSlot {
            _permit: permit,
            user: user.clone(),
            held: self.held.clone(),
        })
    }
}

fn busy(message: String, detail: serde_json::Value) -> ServiceError {
    ServiceError::new(ErrorKind::Busy, "TOOMANYREQUESTS", message).with_detail(detail)
}

impl AppState {
    /// Takes the lease on a blob that every writer takes before relying on its bytes.
    pub async fn lease(&self, digest: &Digest, size: u64) -> Result<(), ServiceError> {
        Ok(self
            .db
            .lease_blob(&digest.to_string(), size as i64, crate::now_ms())
            .await?)
    }

    /// Leases and stores a blob; with `expected`, refuses content of another digest.
    /// Then leases again and checks, until a round finds the bytes already there
    /// (step 5 of the module docs).
    pub async fn store_blob(
        &self,
        data: Bytes,
        expected: Option<&Digest>,
    ) -> Result<Digest, ServiceError> {
        let digest = match expected {
            Some(d) => d.clone(),
            None => Digest::of(&data),
        };
        let size = data.len() as u64;
        self.lease(&digest, size).await?;
        let stored = self.blobs.put(data.clone(), Some(&digest)).await?;
        // Bytes written after the lease may have lost their row to a collector in
        // between. Within the grace period the first round ends this; the bound only
        // keeps a collector that takes every lease at once from holding a writer.
        for _ in 0..8 {
            self.lease(&stored, size).await?;
            if self.blobs.size(&stored).await?.is_some() {
                break;
            }
            self.blobs.put(data.clone(), Some(&stored)).await?;
        }
        Ok(stored)
    }

    /// Leases and stores a blob as its bytes arrive, refusing content whose digest is
    /// not `expected`; its size. Bytes that cannot be sent again are not stored
    /// again (step 5): when a collector took them between the store and the second
    /// lease, the client is told to retry, and the collector's next round finds the
    /// row without bytes.
    pub async fn store_stream(
        &self,
        data: Incoming,
        expected: &Digest,
    ) -> Result<u64, ServiceError> {
        self.lease(expected, 0).await?;
        let size = self.blobs.put_stream(data, expected).await?;
        self.lease(expected, size).await?;
        if self.blobs.size(expected).await?.is_none() {
            return Err(ServiceError::new(
                ErrorKind::Unavailable,
                "BLOB_COLLECTED",
                format!("blob {expected} was garbage-collected as it was stored; retry"),
            ));
        }
        Ok(size)
    }
}

/// `404 BLOB_UPLOAD_UNKNOWN` for upload `id` in `repository`.
fn unknown_upload(repository: &str, id: &str) -> ServiceError {
    ServiceError::not_found(
        "BLOB_UPLOAD_UNKNOWN",
        format!("there is no upload `{id}` in {repository}"),
    )
}

/// `404 BLOB_UPLOAD_UNKNOWN` for an upload that went while it was written to.
fn upload_gone() -> ServiceError {
    ServiceError::not_found("BLOB_UPLOAD_UNKNOWN", "the upload is gone")
}

/// OCI blob uploads into a repository, for callers who may push there (the route
/// asked [`AppState::authorize`] first).
impl AppState {
    /// Mounts `digest` from repository `from` into `repository` when `caller` may read
    /// it there and it is stored; whether it was (if not, the client uploads it).
    pub async fn mount_blob(
        &self,
        caller: Option<&Principal>,
        repository: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<bool, ServiceError> {
        self.lease(digest, 0).await?;
        let mountable = crate::artifact::valid_repository(from)
            && self.db.blob_linked(from, &digest.to_string()).await?
            && self.blobs.size(digest).await?.is_some()
            && self.may_read(caller);
        if mountable {
            self.link_blob(repository, digest).await?;
        }
        Ok(mountable)
    }

    /// Stores a blob pushed whole (`POST ?digest=`) as it arrives, and links it to
    /// `repository`.
    pub async fn push_blob(
        &self,
        repository: &str,
        data: Incoming,
        digest: &Digest,
    ) -> Result<(), ServiceError> {
        self.store_stream(data, digest).await?;
        self.link_blob(repository, digest).await
    }

    async fn link_blob(&self, repository: &str, digest: &Digest) -> Result<(), ServiceError> {
        Ok(self
            .db
            .link_blob(repository, &digest.to_string(), crate::now_ms())
            .await?)
    }

    /// Opens an upload session in `repository`; its id.
    pub async fn start_upload(&self, repository: &str) -> Result<String, ServiceError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs.upload_start(&id).await?;
        self.db
            .create_upload(&id, repository, crate::now_ms())
            .await?;
        Ok(id)
    }

    /// How many bytes upload `id` holds, when it is one of `repository`'s; else
    /// `404 BLOB_UPLOAD_UNKNOWN`.
    pub async fn upload_size(&self, repository: &str, id: &str) -> Result<u64, ServiceError> {
        match self.db.upload(id).await? {
            Some(owner) if owner == repository => {}
            _ => return Err(unknown_upload(repository, id)),
        }
        self.blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| unknown_upload(repository, id))
    }

    /// Appends a chunk to upload `id` as it arrives; the upload's size after it.
    pub async fn append_upload(&self, id: &str, data: Incoming) -> Result<u64, ServiceError> {
        let size = self
            .blobs
            .upload_append(id, data)
            .await?
            .ok_or_else(upload_gone)?;
        self.db.touch_upload(id, crate::now_ms()).await?;
        Ok(size)
    }

    /// Ends upload `id`: its bytes become blob `digest` (refused when they hash to
    /// another) of `repository`, and the session is gone either way.
    pub async fn finish_upload(
        &self,
        repository: &str,
        id: &str,
        digest: &Digest,
    ) -> Result<(), ServiceError> {
        self.lease(digest, 0).await?;
        let result = self.blobs.upload_finish(id, digest).await;
        self.db.delete_upload(id).await?;
        result?.ok_or_else(upload_gone)?;
        self.link_blob(repository, digest).await
    }

    /// Abandons upload `id` and what it holds.
    pub async fn cancel_upload(&self, id: &str) -> Result<(), ServiceError> {
        self.blobs.upload_cancel(id).await?;
        self.db.delete_upload(id).await?;
        Ok(())
    }
}
