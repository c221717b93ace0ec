//! Serving a blob's bytes over HTTP, shared by the JSON API's downloads and the OCI
//! API's blob pulls: conditional requests, byte ranges, and streaming from storage.
//! Reads blobs through `service::blobs`; decides nothing about who may read.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wharf_types::Digest;

use crate::AppState;
use crate::http::error::ApiError;
use crate::service::blobs::{BlobBytes, unknown_blob};

/// Parses a single `bytes=` range against `size`: Some(Ok((start, len))), Some(Err) when
/// unsatisfiable, None when absent or not a single byte range (then the whole is sent).
fn parse_range(value: Option<&HeaderValue>, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value?.to_str().ok()?.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 || size == 0 {
                return Some(Err(()));
            }
            let n = n.min(size);
            (size - n, n)
        }
        (start, end) => {
            let start: u64 = start.parse().ok()?;
            let end: u64 = if end.is_empty() {
                size.saturating_sub(1)
            } else {
                end.parse::<u64>().ok()?.min(size.saturating_sub(1))
            };
            if start >= size || end < start {
                return Some(Err(()));
            }
            (start, end - start + 1)
        }
    };
    Some(Ok(range))
}

/// Answers a blob's bytes: `If-None-Match` (304), a single `Range` (206, or 416 when
/// it cannot be satisfied), else the whole. Small blobs come from the memory cache,
/// larger ones stream from storage.
pub async fn serve_blob(
    state: &AppState,
    digest: &Digest,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::from(unknown_blob(digest, None));
    let etag = format!("\"{digest}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let blob = state.open_blob(digest).await?.ok_or_else(unknown)?;
    let size = blob.size();
    let (status, offset, len) = match parse_range(headers.get(header::RANGE), size) {
        None => (StatusCode::OK, 0, size),
        Some(Ok((start, len))) => (StatusCode::PARTIAL_CONTENT, start, len),
        Some(Err(())) => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_INVALID",
                format!("the blob has {size} bytes"),
            )
            .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).unwrap(),
            );
            return Ok(response);
        }
    };
    // Small blobs come whole from the memory cache; large ones stream from storage as
    // the client reads: a stalled client holds a chunk, never the blob.
    let body = match state
        .read_blob(blob, offset, len)
        .await?
        .ok_or_else(unknown)?
    {
        BlobBytes::Whole(bytes) => Body::from(bytes),
        BlobBytes::Streamed(stream) => Body::from_stream(stream),
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/wasm"),
    );
    h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        "docker-content-digest",
        HeaderValue::from_str(&digest.to_string()).unwrap(),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {offset}-{}/{size}", offset + len - 1);
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&range).unwrap(),
        );
    }
    Ok(response)
}
