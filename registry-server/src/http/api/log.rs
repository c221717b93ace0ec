//! The transparency log: its signed checkpoint, its key, proofs, entries and tiles.
//! Routes only: the log is `service::log`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ErrorBody;
use crate::AppState;
use crate::http::auth::Reader;
use crate::http::error::ApiError;
use crate::service::log::log_param;
use crate::views;

fn text(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The log's origin, verifier key, size, root hash and latest checkpoint.
#[utoipa::path(get, path = "/api/v1/log",
    responses((status = 200, body = views::LogInfo)))]
pub(super) async fn log_info(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<views::LogInfo>, ApiError> {
    Ok(Json(state.log_info().await?))
}

/// The latest checkpoint: a C2SP `tlog-checkpoint` in a `signed-note`, text/plain.
#[utoipa::path(get, path = "/api/v1/log/checkpoint",
    responses((status = 200, description = "the signed note", content_type = "text/plain")))]
pub(super) async fn log_checkpoint(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Response, ApiError> {
    Ok(text(state.log_checkpoint().await?))
}

/// The log's verifier key (`origin+id+base64`), text/plain: what clients pin.
#[utoipa::path(get, path = "/api/v1/log/key",
    responses((status = 200, description = "the verifier key", content_type = "text/plain")))]
pub(super) async fn log_key(State(state): State<AppState>, _: Reader) -> Response {
    text(format!("{}\n", state.log_keys.verifier_key()).into_bytes())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry (from 0).
    index: Option<String>,
    /// The tree size to prove against; default the current one.
    size: Option<String>,
}

/// The inclusion proof of an entry in a tree.
#[utoipa::path(get, path = "/api/v1/log/proof/inclusion", params(InclusionQuery),
    responses((status = 200, body = views::InclusionProof), (status = 400, body = ErrorBody)))]
pub(super) async fn log_inclusion(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<InclusionQuery>,
) -> Result<Json<views::InclusionProof>, ApiError> {
    let index = log_param("index", query.index.as_deref())?;
    let size = log_param("size", query.size.as_deref())?;
    Ok(Json(state.inclusion_proof(index, size).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older tree's size.
    from: Option<String>,
    /// The newer tree's size; default the current one.
    to: Option<String>,
}

/// The proof that a tree is a prefix of a larger one.
#[utoipa::path(get, path = "/api/v1/log/proof/consistency", params(ConsistencyQuery),
    responses((status = 200, body = views::ConsistencyProof), (status = 400, body = ErrorBody)))]
pub(super) async fn log_consistency(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<ConsistencyQuery>,
) -> Result<Json<views::ConsistencyProof>, ApiError> {
    let from = log_param("from", query.from.as_deref())?;
    let to = log_param("to", query.to.as_deref())?;
    Ok(Json(state.consistency_proof(from, to).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// The first entry (default 0).
    start: Option<String>,
    /// How many, 1 to 1000 (default 1000).
    limit: Option<String>,
}

/// Entries in order, for auditors.
#[utoipa::path(get, path = "/api/v1/log/entries", params(EntriesQuery),
    responses((status = 200, body = views::LogEntries), (status = 400, body = ErrorBody)))]
pub(super) async fn log_entries(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<EntriesQuery>,
) -> Result<Json<views::LogEntries>, ApiError> {
    let start = log_param("start", query.start.as_deref())?.unwrap_or(0);
    let limit = log_param("limit", query.limit.as_deref())?;
    Ok(Json(state.log_entries(start, limit).await?))
}

/// A tile of C2SP tlog-tiles: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
#[utoipa::path(get, path = "/api/v1/log/tile/{path}",
    responses((status = 200, description = "the tile", content_type = "application/octet-stream"),
              (status = 404, body = ErrorBody)))]
pub(super) async fn log_tile(
    State(state): State<AppState>,
    _: Reader,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let tile = state.log_tile(&path).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], tile).into_response())
}
