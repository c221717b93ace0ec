//! Request bodies within bounds: the one place a route turns a body into bytes (for
//! what is parsed whole: a package, a manifest) or into a stream for storage (a blob,
//! written as it arrives), and the slots that bound how many are received at once.
//!
//! Routes check who may write before they take a slot, and take a slot before they
//! read a byte: a caller who may not publish costs no body, and a flood of uploads
//! costs at most `max_uploads` bodies in flight.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::storage::{BodyError, Incoming};

/// Bodies received at once, by default: with the default `max_upload` of 64 MiB, the
/// bodies read whole (publishes) hold at most 512 MiB between them.
pub const DEFAULT_MAX_UPLOADS: usize = 8;

/// The slots bodies are received in; see [`UploadSlots::take`].
#[derive(Clone)]
pub struct UploadSlots {
    slots: Arc<Semaphore>,
    max: usize,
}

/// One body being received; the slot frees when it is dropped.
pub struct UploadSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl UploadSlots {
    /// `max` bodies at once (at least one).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// How many bodies are being received now.
    pub fn in_use(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// A free slot, or `429 TOOMANYREQUESTS` (the OCI code, which clients retry on;
    /// `Retry-After: 1`) naming the limit: a busy registry refuses at once rather than
    /// queueing bodies.
    pub fn take(&self) -> Result<UploadSlot, ApiError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map(UploadSlot)
            .map_err(|_| {
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOOMANYREQUESTS",
                    format!(
                        "the registry is receiving {} uploads at once, its limit \
                         (`max_uploads`, `wharf serve --max-uploads`); retry shortly",
                        self.max
                    ),
                )
                .with_detail(serde_json::json!({ "max_uploads": self.max }))
            })
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(limit) => ApiError::too_large(limit),
            e @ BodyError::Unreadable(_) => ApiError::bad_request("BODY_UNREADABLE", e.to_string()),
        }
    }
}

/// The body as it arrives, for storage: refused at once when its `Content-Length`
/// says it is larger than `limit`, and failing with [`BodyError::TooLarge`] as soon as
/// more than `limit` bytes arrive.
pub fn incoming(body: Body, headers: &HeaderMap, limit: u64) -> Result<Incoming, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let mut received = 0u64;
    Ok(body
        .into_data_stream()
        .map_err(|e| BodyError::Unreadable(e.to_string()))
        .and_then(move |chunk| {
            received += chunk.len() as u64;
            let result = if received > limit {
                Err(BodyError::TooLarge(limit))
            } else {
                Ok(chunk)
            };
            std::future::ready(result)
        })
        .boxed())
}

/// The whole body, for what is parsed whole; more than `limit` bytes is `413`.
pub async fn read_body(body: Body, headers: &HeaderMap, limit: u64) -> Result<Bytes, ApiError> {
    let mut chunks = incoming(body, headers, limit)?;
    let mut whole = BytesMut::new();
    while let Some(chunk) = chunks.next().await {
        whole.extend_from_slice(&chunk?);
    }
    Ok(whole.freeze())
}
