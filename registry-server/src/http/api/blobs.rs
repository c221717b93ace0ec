//! Blobs by digest, whatever uses them.
//! Routes only: which blobs are served is `service::blobs`; the bytes are answered by
//! [`crate::http::blob`].

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use wharf_types::Digest;

use super::ErrorBody;
use crate::AppState;
use crate::http::auth::Reader;
use crate::http::blob::serve_blob;
use crate::http::error::ApiError;
use crate::service::blobs::unknown_blob;

/// Download a blob by digest: what a version, a manifest or a repository uses; a blob
/// deleted from every repository is gone here too.
#[utoipa::path(get, path = "/api/v1/blobs/{digest}",
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub(super) async fn blob(
    State(state): State<AppState>,
    _: Reader,
    Path(digest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let digest: Digest = digest.parse().map_err(|e: wharf_types::ParseError| {
        ApiError::bad_request("DIGEST_INVALID", e.to_string())
    })?;
    if !state.blob_served(&digest).await? {
        return Err(unknown_blob(&digest, None).into());
    }
    serve_blob(&state, &digest, &headers).await
}
