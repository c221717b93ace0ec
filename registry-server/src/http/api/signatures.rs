//! Signed publishes: the keys registered to sign for a namespace, and the signatures
//! attached to a version (stored as OCI referrers of its manifest).
//! Routes only: the rules are `service::signatures` (who may, `service::access`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::ErrorBody;
use crate::AppState;
use crate::http::auth::{Caller, Reader};
use crate::http::body::{Pace, read_body};
use crate::http::error::ApiError;
use crate::service::package_name;
use crate::views;

/// The keys registered to sign for a namespace, revoked ones too.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/keys",
    responses((status = 200, body = [views::NamespaceKey]), (status = 404, body = ErrorBody)))]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    _: Reader,
    Path(namespace): Path<String>,
) -> Result<Json<Vec<views::NamespaceKey>>, ApiError> {
    Ok(Json(state.namespace_keys(&namespace).await?))
}

/// Register a public key to sign for a namespace (owners and admins).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/keys", request_body = views::AddKey,
    responses((status = 201, body = views::NamespaceKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn add_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(namespace): Path<String>,
    body: Result<Json<views::AddKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<views::NamespaceKey>), ApiError> {
    let principal = caller.required()?;
    let Json(request) = body.map_err(|e| ApiError::bad_request("BODY_INVALID", e.body_text()))?;
    let key = state.add_key(&principal, &namespace, request).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// Revoke a namespace's key: signatures made with it stop counting.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/keys/{keyid}",
    responses((status = 200, body = views::NamespaceKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(super) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, keyid)): Path<(String, String)>,
) -> Result<Json<views::NamespaceKey>, ApiError> {
    let principal = caller.required()?;
    Ok(Json(
        state.revoke_key(&principal, &namespace, &keyid).await?,
    ))
}

/// A version's signatures: each DSSE envelope with the registry's verdict.
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}/versions/{version}/signatures",
    responses((status = 200, body = [views::SignatureEnvelope]), (status = 404, body = ErrorBody)))]
pub(super) async fn list_signatures(
    State(state): State<AppState>,
    _: Reader,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<Json<Vec<views::SignatureEnvelope>>, ApiError> {
    let name = package_name(&namespace, &name)?;
    Ok(Json(state.signatures(&name, &version).await?))
}

/// Attach a signature to a version (publishers of the namespace): the body is a DSSE
/// envelope, verified before it is stored as an OCI referrer of the version.
#[utoipa::path(post, path = "/api/v1/packages/{namespace}/{name}/versions/{version}/signatures",
    request_body(content = Vec<u8>, content_type = "application/vnd.dsse.envelope.v1+json"),
    responses((status = 201, body = views::SignatureInfo),
              (status = 400, description = "SIGNATURE_INVALID, with the reason", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub(super) async fn attach_signature(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<views::SignatureInfo>), ApiError> {
    let name = package_name(&namespace, &name)?;
    let principal = caller.required()?;
    let body = read_body(
        body,
        &headers,
        wharf_types::signing::MAX_ENVELOPE_BYTES as u64,
        Pace::of(&state.config),
    )
    .await?;
    let info = state
        .attach_signature(&principal, &name, &version, body)
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}
