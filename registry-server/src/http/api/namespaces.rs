//! Namespaces and their owners.
//! Routes only: who may change owners is `service::access`; never SQL of its own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::ErrorBody;
use crate::AppState;
use crate::http::auth::{Caller, Reader};
use crate::http::error::ApiError;
use crate::service::access::{Scope, Unclaimed};
use crate::service::check_user;
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

fn check_namespace(namespace: &str) -> Result<(), ApiError> {
    wharf_types::check_part(namespace).map_err(|reason| {
        ApiError::bad_request(
            "NAME_INVALID",
            format!("invalid namespace `{namespace}`: {reason}"),
        )
    })
}

async fn owner_change(
    state: &AppState,
    caller: Caller,
    namespace: &str,
    owner: &str,
) -> Result<(), ApiError> {
    check_namespace(namespace)?;
    check_user(owner)?;
    let principal = caller.required()?;
    state
        .authorize(&principal, Scope::Owners, namespace, Unclaimed::NotFound)
        .await?;
    Ok(())
}

/// Add an owner to a namespace.
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/owners/{owner}",
    responses((status = 201), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn add_owner(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, owner)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    owner_change(&state, caller, &namespace, &owner).await?;
    match state
        .db
        .add_owner(&namespace, &owner, crate::now_ms())
        .await
    {
        Ok(()) => Ok(StatusCode::CREATED),
        Err(crate::repo::DbError::Conflict) => Err(ApiError::conflict(
            "OWNER_EXISTS",
            format!("`{owner}` already owns `{namespace}`"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Remove an owner from a namespace; the last owner stays.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/owners/{owner}",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn remove_owner(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, owner)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    owner_change(&state, caller, &namespace, &owner).await?;
    match state.db.remove_owner(&namespace, &owner).await? {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::not_found(
            "OWNER_UNKNOWN",
            format!("`{owner}` does not own `{namespace}`"),
        )),
        Err(()) => Err(ApiError::conflict(
            "LAST_OWNER",
            format!("`{owner}` is the last owner of `{namespace}`; add another first"),
        )),
    }
}
