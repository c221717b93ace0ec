//! What admins of the whole registry run: garbage collection and fsck.
//! Routes only: who may run them is `service::access`, what they do `service::{gc, fsck}`.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ErrorBody;
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::service::access;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GcQuery {
    /// Keep unused blobs touched more recently than this (`30s`, `250ms`); default:
    /// the server's `--gc-grace`.
    grace: Option<String>,
    /// Expire uploads idle longer than this; default: the server's `--upload-ttl`.
    #[serde(rename = "upload-ttl")]
    upload_ttl: Option<String>,
}

fn duration_param(
    field: &str,
    value: Option<&str>,
    default: std::time::Duration,
) -> Result<std::time::Duration, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => wharf_types::units::parse_duration(text)
            .map_err(|e| ApiError::bad_request("INVALID_PARAMETER", format!("{field}: {e}"))),
    }
}

/// Admins: collect garbage now (expired uploads, unused blobs past the grace period),
/// as the server does every `--gc-interval`. Safe while other replicas publish.
#[utoipa::path(post, path = "/api/v1/admin/gc", params(GcQuery),
    responses((status = 200, description = "What was removed"), (status = 403, body = ErrorBody)))]
pub(super) async fn collect_garbage(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<GcQuery>,
) -> Result<Json<crate::service::gc::GcReport>, ApiError> {
    access::require_admin(&caller.required()?, "only admins run the garbage collector")?;
    let grace = duration_param("grace", query.grace.as_deref(), state.config.gc_grace)?;
    let ttl = duration_param(
        "upload-ttl",
        query.upload_ttl.as_deref(),
        state.config.upload_ttl,
    )?;
    Ok(Json(state.collect_garbage(grace, ttl).await?))
}

/// Admins: check that every published blob is stored whole (`wharf fsck` from the
/// server's side); see `docs/scale-out.md`.
#[utoipa::path(get, path = "/api/v1/admin/fsck",
    responses((status = 200, description = "The report; `problems` is empty when all is whole"),
        (status = 403, body = ErrorBody)))]
pub(super) async fn fsck(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<crate::service::fsck::FsckReport>, ApiError> {
    access::require_admin(&caller.required()?, "only admins run fsck")?;
    Ok(Json(state.fsck().await?))
}
