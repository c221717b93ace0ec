//! Tokens: API tokens (random, shown once, stored as their sha256; scoped to actions
//! and to namespaces), the short-lived bearers `/v2/token` hands out, the admin token
//! from the configuration, and what a secret a client sends stands for. Creating a
//! token follows the rule that a token never gets more than its creator has.
//!
//! Calls the repositories and the keys; never HTTP.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::keys::BearerKeys;
use crate::service::ServiceError;
use crate::service::access;
use crate::service::access::{Principal, Scope};
use crate::views;

/// What a secret a client sent stands for.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A user's token (or the admin token), or a bearer standing for one.
    User(Principal),
    /// A bearer `/v2/token` handed an anonymous caller: valid, but nobody's. It reads
    /// what anyone may read and is no user: it lists, makes and revokes no tokens.
    Anonymous,
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

/// The sha256 of a token's secret, as stored.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
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
) -> Result<Option<Credential>, ServiceError> {
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
pub async fn principal_for(
    state: &AppState,
    secret: &str,
) -> Result<Option<Credential>, ServiceError> {
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

impl AppState {
    /// A bearer for `principal` (None: anonymous) that expires at `expires` (seconds
    /// since the Unix epoch), signed with this registry's keys ([`sign_bearer`]).
    pub fn bearer_for(&self, principal: Option<&Principal>, expires: i64) -> String {
        sign_bearer(&self.bearer_keys, principal, expires)
    }

    /// The tokens of `owner` (None: the caller's own), never their secrets; only an
    /// admin of the whole registry lists another user's.
    pub async fn list_tokens(
        &self,
        principal: &Principal,
        owner: Option<&str>,
    ) -> Result<Vec<views::Token>, ServiceError> {
        let owner = owner.unwrap_or(&principal.user);
        if !access::may_manage_tokens_of(principal, owner) {
            return Err(ServiceError::denied("only admins list other users' tokens"));
        }
        Ok(self
            .db
            .tokens_of(owner)
            .await?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// Revokes token `id`: its owner may, or an admin of the whole registry.
    pub async fn revoke_token(&self, principal: &Principal, id: &str) -> Result<(), ServiceError> {
        let token = self.db.token(id).await?.ok_or_else(|| {
            ServiceError::not_found("TOKEN_UNKNOWN", format!("there is no token `{id}`"))
        })?;
        if !access::may_manage_tokens_of(principal, &token.owner) {
            return Err(ServiceError::denied(
                "only the token's owner or an admin may revoke it",
            ));
        }
        self.db.revoke_token(id, crate::now_ms()).await?;
        Ok(())
    }

    /// Creates a token for the caller, or (admins) for another user. A token never
    /// gets more than its creator has: no scope or namespace beyond the caller's own,
    /// and no life beyond the caller's (without `expires_in_days` it expires with the
    /// caller's token). Only an admin of the whole registry is exempt.
    pub async fn create_token(
        &self,
        principal: &Principal,
        request: views::CreateToken,
    ) -> Result<views::NewToken, ServiceError> {
        if request.name.trim().is_empty() || request.name.len() > 64 {
            return Err(ServiceError::bad_request(
                "TOKEN_NAME_INVALID",
                "a token needs a name of 1 to 64 characters",
            ));
        }
        if request.scopes.is_empty() {
            return Err(ServiceError::bad_request(
                "SCOPES_INVALID",
                "a token needs at least one scope",
            ));
        }
        let owner = match request.owner {
            Some(owner) if owner != principal.user => {
                if !access::may_manage_tokens_of(principal, &owner) {
                    return Err(ServiceError::denied(
                        "only admins create tokens for other users",
                    ));
                }
                crate::service::check_user(&owner)?;
                owner
            }
            _ => principal.user.clone(),
        };
        if !principal.is_admin()
            && let Some(extra) = request.scopes.iter().find(|s| !principal.has(**s))
        {
            return Err(ServiceError::denied(format!(
                "the new token cannot have `{}`: the caller's token lacks it",
                extra.as_str()
            )));
        }
        let namespaces = match (&request.namespaces, &principal.namespaces) {
            (Some(wanted), _) if wanted.is_empty() => {
                return Err(ServiceError::bad_request(
                    "NAMESPACES_INVALID",
                    "give at least one namespace, or none for all",
                ));
            }
            (Some(wanted), Some(own)) if !principal.is_admin() => {
                if let Some(extra) = wanted.iter().find(|n| !own.contains(n)) {
                    return Err(ServiceError::denied(format!(
                        "the new token cannot reach namespace `{extra}`: the caller's token cannot"
                    )));
                }
                Some(wanted.clone())
            }
            (Some(wanted), _) => Some(wanted.clone()),
            (None, own) if !principal.is_admin() => own.clone(),
            (None, _) => None,
        };
        for namespace in namespaces.iter().flatten() {
            wharf_types::check_part(namespace).map_err(|reason| {
                ServiceError::bad_request("NAMESPACES_INVALID", format!("`{namespace}`: {reason}"))
            })?;
        }
        let now = crate::now_ms();
        let wanted = request.expires_in_days.map(|d| now + i64::from(d) * DAY_MS);
        let expires_at = match (principal.expires_at, wanted) {
            (Some(own), None) if !principal.is_admin() => Some(own),
            (Some(own), Some(wanted)) if !principal.is_admin() && wanted > own => {
                let left = match (own - now).max(0) / DAY_MS {
                    0 => "in less than a day:".to_owned(),
                    days => format!("in {days} days: ask for at most {days}, or"),
                };
                return Err(ServiceError::denied(format!(
                    "`expires_in_days`: the new token cannot outlive the caller's, which expires \
                     {left} leave `expires_in_days` out to expire with it"
                )));
            }
            (_, wanted) => wanted,
        };
        let secret = crate::keys::new_secret();
        let row = crate::repo::TokenRow {
            id: uuid::Uuid::new_v4().to_string(),
            owner,
            name: request.name,
            scopes: request
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
            namespaces: namespaces.as_ref().map_or("*".to_owned(), |n| n.join(",")),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        self.db.insert_token(&row, &hash(&secret)).await?;
        Ok(views::NewToken {
            token: (&row).into(),
            token_secret: secret,
        })
    }
}

const DAY_MS: i64 = 86_400_000;
