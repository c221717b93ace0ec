//! Namespaces and their owners.
//! Routes only: changing owners is `service::owners` (who may, `service::access`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::ErrorBody;
use crate::AppState;
use crate::http::auth::{Caller, Reader};
use crate::http::error::ApiError;
use crate::service::owners::OwnerChange;
use crate::views;

/// A namespace's owners and packages.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}",
    responses((status = 200, body = views::Namespace), (status = 404, body = ErrorBody)))]
pub(super) async fn namespace(
    State(state): State<AppState>,
    _: Reader,
    Path(namespace): Path<String>,
) -> Result<Json<views::Namespace>, ApiError> {
    Ok(Json(state.namespace(&namespace).await?))
}

/// Add an owner to a namespace.
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/owners/{owner}",
    responses((status = 201), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn add_owner(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, owner)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let principal = caller.required()?;
    state
        .change_owner(&principal, &namespace, &owner, OwnerChange::Add)
        .await?;
    Ok(StatusCode::CREATED)
}

/// Remove an owner from a namespace; the last owner stays.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/owners/{owner}",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn remove_owner(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, owner)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let principal = caller.required()?;
    state
        .change_owner(&principal, &namespace, &owner, OwnerChange::Remove)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
