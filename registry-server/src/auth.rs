//! API tokens: random, shown once, stored as their sha256; scoped to actions and to
//! namespaces. The admin token from the configuration bootstraps the first users.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use crate::keys::BearerKeys;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Publish new versions.
    Publish,
    /// Yank and unyank versions.
    Yank,
    /// Add and remove namespace owners.
    Owners,
    /// Every scope in the token's namespaces, owner or not; with no namespace list,
    /// also what concerns the whole registry: other users' tokens, gc, fsck.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Publish => "publish",
            Scope::Yank => "yank",
            Scope::Owners => "owners",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "publish" => Scope::Publish,
            "yank" => Scope::Yank,
            "owners" => Scope::Owners,
            "admin" => Scope::Admin,
            _ => return None,
        })
    }
}

/// Who is calling, and what their token allows.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: String,
    pub scopes: Vec<Scope>,
    /// None: every namespace.
    pub namespaces: Option<Vec<String>>,
    pub token_id: Option<String>,
    /// When the token stops working, in milliseconds since the Unix epoch; None: never.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// The configured admin token's principal: every right, everywhere, for ever.
    pub fn admin() -> Self {
        Principal {
            user: "admin".into(),
            scopes: vec![Scope::Admin],
            namespaces: None,
            token_id: None,
            expires_at: None,
        }
    }

    /// An admin of the whole registry: the `admin` scope and no namespace list. Only
    /// such a one acts on other users' tokens, collects garbage or runs fsck.
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin) && self.namespaces.is_none()
    }

    /// Whether the token is an admin's in `namespace`: there it needs no ownership.
    pub fn is_admin_of(&self, namespace: &str) -> bool {
        self.scopes.contains(&Scope::Admin) && self.reaches(namespace)
    }

    /// Whether the token carries `scope` (`admin` carries them all), in some namespace.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Whether `namespace` is in the token's namespace list (no list: every one).
    pub fn reaches(&self, namespace: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == namespace))
    }

    /// Whether the token carries `scope` for `namespace`. An admin token's namespace
    /// list binds it like any other's.
    pub fn allows(&self, scope: Scope, namespace: &str) -> bool {
        self.has(scope) && self.reaches(namespace)
    }

    pub fn require(&self, scope: Scope, namespace: &str) -> Result<(), ApiError> {
        if self.allows(scope, namespace) {
            Ok(())
        } else {
            Err(ApiError::denied(format!(
                "the token of `{}` lacks the `{}` scope for namespace `{namespace}`",
                self.user,
                scope.as_str()
            )))
        }
    }
}

/// What a secret a client sent stands for.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A user's token (or the admin token), or a bearer standing for one.
    User(Principal),
    /// A bearer `/v2/token` handed an anonymous caller: valid, but nobody's. It reads
    /// what anyone may read and is no user: it lists, makes and revokes no tokens.
    Anonymous,
}

/// A new token's secret: `wharf_` and 64 hex digits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("wharf_{}", hex::encode(bytes))
}

/// The fewest characters an admin token may have. An empty or short one would make
/// `Authorization: Basic Og==` (an empty password) or a guess an admin.
pub const ADMIN_TOKEN_MIN_CHARS: usize = 16;

/// Refuses an admin token that is empty or shorter than [`ADMIN_TOKEN_MIN_CHARS`];
/// `origin` says where it came from (a flag, a file), for the error.
pub fn check_admin_token(token: &str, origin: &str) -> Result<(), String> {
    let chars = token.trim().chars().count();
    if chars < ADMIN_TOKEN_MIN_CHARS {
        return Err(format!(
            "the admin token from {origin} is {}: it needs at least {ADMIN_TOKEN_MIN_CHARS} characters \
             (make one with `openssl rand -hex 32`), or leave the admin token out",
            if chars == 0 {
                "empty".to_owned()
            } else {
                format!("{chars} characters long")
            }
        ));
    }
    Ok(())
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

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

/// The header of the short-lived bearer tokens `/v2/token` hands out, base64url:
/// `{"alg":"HS256","typ":"JWT"}`.
const BEARER_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// A short-lived bearer token: an HS256 JWT (so that OCI clients can read its expiry
/// and cache it), whose claims name the API token it stands for (so that revoking that
/// token revokes this one). One standing for the configured admin token (`adm`) is
/// signed with the admin key instead, so that changing the admin token revokes it.
pub fn sign_bearer(keys: &BearerKeys, principal: Option<&Principal>, expires: i64) -> String {
    use base64::Engine as _;
    let admin_key = principal
        .filter(|p| p.is_admin() && p.token_id.is_none())
        .and(keys.admin());
    let (key, payload) = match admin_key {
        Some(key) => (
            key,
            serde_json::json!({"sub": "admin", "tid": null, "adm": true, "exp": expires}),
        ),
        None => (
            keys.user(),
            serde_json::json!({
                "sub": principal.map(|p| p.user.clone()),
                "tid": principal.and_then(|p| p.token_id.clone()),
                "adm": false,
                "exp": expires,
            }),
        ),
    };
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    let signed = format!("{BEARER_HEADER}.{payload}");
    let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(key, &signed));
    format!("{signed}.{mac}")
}

fn mac(key: &[u8], payload: &str) -> Vec<u8> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// What a bearer token from `/v2/token` stands for: Ok(None) when it is forged or
/// expired.
async fn principal_for_bearer(
    state: &AppState,
    token: &str,
) -> Result<Option<Credential>, ApiError> {
    use base64::Engine as _;
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return Ok(None);
    };
    let Some(payload) = signed
        .strip_prefix(BEARER_HEADER)
        .and_then(|p| p.strip_prefix('.'))
    else {
        return Ok(None);
    };
    let Some(claims) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return Ok(None);
    };
    // An admin bearer verifies only with the key of the admin token configured now.
    let admin = claims["adm"] == true;
    let key = if admin {
        match state.bearer_keys.admin() {
            Some(key) => key,
            None => return Ok(None),
        }
    } else {
        state.bearer_keys.user()
    };
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(key, signed));
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return Ok(None);
    }
    if claims["exp"]
        .as_i64()
        .is_none_or(|exp| exp < crate::now_ms() / 1000)
    {
        return Ok(None);
    }
    if admin {
        return Ok(Some(Credential::User(Principal::admin())));
    }
    let Some(id) = claims["tid"].as_str() else {
        return Ok(Some(Credential::Anonymous));
    };
    let Some(row) = state.db.token(id).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= crate::now_ms()) {
        return Ok(None);
    }
    Ok(Some(Credential::User(principal_of(row))))
}

fn principal_of(row: crate::repo::TokenRow) -> Principal {
    Principal {
        user: row.owner,
        scopes: row.scopes.split(',').filter_map(Scope::parse).collect(),
        namespaces: (row.namespaces != "*")
            .then(|| row.namespaces.split(',').map(str::to_owned).collect()),
        token_id: Some(row.id),
        expires_at: row.expires_at,
    }
}

/// What `secret` stands for: Ok(None) when it is nobody's (unknown, revoked, expired,
/// forged or empty).
pub async fn principal_for(state: &AppState, secret: &str) -> Result<Option<Credential>, ApiError> {
    // An empty secret is nobody's, whatever the configuration says.
    if secret.is_empty() {
        return Ok(None);
    }
    if secret.starts_with(BEARER_HEADER) {
        return principal_for_bearer(state, secret).await;
    }
    if let Some(admin) = &state.config.admin_token
        && !admin.is_empty()
        && bool::from(admin.as_bytes().ct_eq(secret.as_bytes()))
    {
        return Ok(Some(Credential::User(Principal::admin())));
    }
    let Some(row) = state
        .db
        .token_by_hash(&hash(secret), crate::now_ms())
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Credential::User(principal_of(row))))
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
