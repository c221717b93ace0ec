//! API tokens: list, create, revoke.
//! Routes only: the rules of tokens are `service::{tokens, access}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ErrorBody;
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::views;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TokensQuery {
    /// Admins only: whose tokens to list.
    owner: Option<String>,
}

/// The caller's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", params(TokensQuery),
    responses((status = 200, body = [views::Token]), (status = 401, body = ErrorBody)))]
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<TokensQuery>,
) -> Result<Json<Vec<views::Token>>, ApiError> {
    let principal = caller.required()?;
    Ok(Json(
        state
            .list_tokens(&principal, query.owner.as_deref())
            .await?,
    ))
}

/// Create a token; its secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = views::CreateToken,
    responses((status = 201, body = views::NewToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<views::CreateToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<views::NewToken>), ApiError> {
    let principal = caller.required()?;
    let Json(request) = body.map_err(|e| ApiError::bad_request("BODY_INVALID", e.body_text()))?;
    Ok((
        StatusCode::CREATED,
        Json(state.create_token(&principal, request).await?),
    ))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let principal = caller.required()?;
    state.revoke_token(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
