//! Request bodies within bounds: the one place a route turns a body into bytes (for
//! what is parsed whole: a package, a manifest) or into a stream for storage (a blob,
//! written as it arrives). How many are received at once is bounded by the slots of
//! [`crate::service::uploads`], which routes take before they read a byte.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};

use crate::http::error::ApiError;
use crate::storage::{BodyError, Incoming};

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
