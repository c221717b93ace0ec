//! Who is calling, as handlers see it: the `Caller` and `Reader` extractors, which
//! read the `Authorization` header and ask the token service what it stands for.
//! Decides nothing about what the caller may do (that is `service::access`).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::AppState;
use crate::http::error::ApiError;
use crate::service::access::Principal;
use crate::service::tokens::{Credential, principal_for};

/// The caller, if they sent a user's token. A token that is sent but unknown, revoked
/// or expired is refused outright rather than treated as anonymous; an anonymous
/// bearer is no caller.
pub struct Caller(pub Option<Principal>);

impl Caller {
    /// The principal, or 401 when there is none.
    pub fn required(self) -> Result<Principal, ApiError> {
        self.0.ok_or_else(|| {
            ApiError::unauthorized("this needs a token: send `Authorization: Bearer <token>`")
        })
    }
}

/// The secret in `Authorization: Bearer <t>` or, for OCI clients, `Basic` with the
/// token as the password (any user name), or as the user name with no password.
pub fn secret_from_header(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        // Some clients send the token as the user name with no password.
        let (user, password) = text.split_once(':')?;
        return Some(if password.is_empty() { user } else { password }.to_owned());
    }
    None
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Caller(None));
        };
        let secret = value
            .to_str()
            .ok()
            .and_then(secret_from_header)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
            })?;
        match principal_for(state, &secret).await? {
            Some(Credential::User(principal)) => Ok(Caller(Some(principal))),
            Some(Credential::Anonymous) => Ok(Caller(None)),
            None => Err(ApiError::unauthorized(
                "the token is unknown, expired or revoked",
            )),
        }
    }
}

/// A caller allowed to read: anyone when anonymous reads are on, else any valid token.
pub struct Reader(pub Option<Principal>);

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if !state.may_read(principal.as_ref()) {
            return Err(ApiError::unauthorized(
                "this registry is private: send `Authorization: Bearer <token>`",
            ));
        }
        Ok(Reader(principal))
    }
}
