//! `GET /v2/token`: the bearer tokens OCI clients trade their credentials for.
//! Routes only: what a credential stands for, and the bearer, are `service::tokens`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::unauthorized;
use crate::AppState;
use crate::http::auth::secret_from_header;
use crate::http::error::ApiError;
use crate::service::tokens::{Credential, principal_for};

/// How long a bearer token from `/v2/token` lives.
const TOKEN_SECONDS: i64 = 300;

#[derive(serde::Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    scope: Option<String>,
}

/// `GET /v2/token`: Basic `user:<api token>` (or an API token as Bearer) for a
/// short-lived bearer token; anonymous callers get a read-only one when reads are public.
pub(super) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(secret_from_header);
    let principal = match secret {
        Some(secret) => match principal_for(&state, &secret).await {
            Ok(Some(Credential::User(p))) => Some(p),
            Ok(Some(Credential::Anonymous)) if state.may_read(None) => None,
            Ok(Some(Credential::Anonymous)) => {
                return unauthorized(
                    &state.config,
                    query.scope.as_deref(),
                    "this registry is private: send Basic credentials with an API token",
                );
            }
            Ok(None) => {
                return unauthorized(
                    &state.config,
                    query.scope.as_deref(),
                    "the token is unknown, expired or revoked",
                );
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
        None if state.may_read(None) => None,
        None => {
            return unauthorized(
                &state.config,
                query.scope.as_deref(),
                "send Basic credentials: any user, an API token as password",
            );
        }
    };
    let expires = crate::now_ms() / 1000 + TOKEN_SECONDS;
    let bearer = state.bearer_for(principal.as_ref(), expires);
    axum::Json(json!({"token": bearer, "access_token": bearer, "expires_in": TOKEN_SECONDS}))
        .into_response()
}
