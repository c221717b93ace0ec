//! Who may do what: the one rule for acting in a namespace (its owners, and admins
//! whose token reaches it), the rule for acting on a user's tokens, the rule for what
//! concerns the whole registry, and who may read.
//!
//! Every path that changes a namespace (publishes through the JSON API and OCI
//! pushes, yanks, owner changes, the publish transaction itself, registering and
//! revoking signing keys with the `owners` scope, attaching signatures with the
//! `publish` scope) asks
//! [`AppState::authorize`] or [`may_act`]; nothing else decides who owns what. This
//! module asks the repositories for facts (is the namespace claimed, does the user own
//! it) and never touches HTTP.

use crate::AppState;
use crate::service::ServiceError;
pub use crate::views::Scope;

/// Who is calling, and what their token allows.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user the token belongs to.
    pub user: String,
    /// What the token may do.
    pub scopes: Vec<Scope>,
    /// None: every namespace.
    pub namespaces: Option<Vec<String>>,
    /// The API token it is (None: the configured admin token).
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

    /// [`Principal::allows`], or the refusal naming what is missing.
    pub fn require(&self, scope: Scope, namespace: &str) -> Result<(), ServiceError> {
        if self.allows(scope, namespace) {
            Ok(())
        } else {
            Err(ServiceError::denied(format!(
                "the token of `{}` lacks the `{}` scope for namespace `{namespace}`",
                self.user,
                scope.as_str()
            )))
        }
    }
}

/// What [`AppState::authorize`] does when nobody has claimed the namespace yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclaimed {
    /// Let the caller through: the write claims the namespace in the transaction that
    /// records it, and asks [`may_act`] again there, so a race is decided once.
    ClaimOnWrite,
    /// Claim it for the caller now (an OCI push: every repository has an owner from
    /// its first push, so nothing lands where a later owner would find a stranger's
    /// tags).
    ClaimNow,
    /// Answer `404 NAMESPACE_UNKNOWN`: there is nothing to own yet (owner changes).
    NotFound,
    /// Refuse, as for a namespace the caller does not own (yanks).
    Refuse,
}

/// The rule: an owner of `namespace`, or an admin whose token reaches it, may act in
/// it. `is_owner` is what the database says of the caller.
pub fn may_act(principal: &Principal, namespace: &str, is_owner: bool) -> bool {
    is_owner || principal.is_admin_of(namespace)
}

/// The refusal for a caller who may not act in `namespace`.
pub fn not_owner(principal: &Principal, namespace: &str) -> ServiceError {
    ServiceError::denied(format!(
        "`{}` is not an owner of namespace `{namespace}`",
        principal.user
    ))
}

/// Whether `principal` may see, make or revoke the tokens of `owner`: their own, or
/// any for an admin of the whole registry.
pub fn may_manage_tokens_of(principal: &Principal, owner: &str) -> bool {
    principal.user == owner || principal.is_admin()
}

/// Refuses all but an admin of the whole registry (garbage collection, fsck), saying
/// `refusal`.
pub fn require_admin(principal: &Principal, refusal: &str) -> Result<(), ServiceError> {
    if principal.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::denied(refusal))
    }
}

impl AppState {
    /// Whether a caller (None: anonymous) may read: anyone when anonymous reads are on,
    /// else any valid token.
    pub fn may_read(&self, caller: Option<&Principal>) -> bool {
        caller.is_some() || self.config.anonymous_read
    }

    /// Whether `principal` may use `scope` in `namespace`: the token must carry the
    /// scope for the namespace, and the caller must [`may_act`] in it; `unclaimed`
    /// says what happens when nobody owns the namespace yet.
    pub async fn authorize(
        &self,
        principal: &Principal,
        scope: Scope,
        namespace: &str,
        unclaimed: Unclaimed,
    ) -> Result<(), ServiceError> {
        principal.require(scope, namespace)?;
        let is_owner = match unclaimed {
            Unclaimed::ClaimNow => {
                self.db
                    .claim_namespace(namespace, &principal.user, crate::now_ms())
                    .await?
            }
            Unclaimed::NotFound if !self.db.namespace_exists(namespace).await? => {
                return Err(ServiceError::not_found(
                    "NAMESPACE_UNKNOWN",
                    format!("there is no namespace `{namespace}`"),
                ));
            }
            // An admin needs no ownership: spare the look-up.
            _ if may_act(principal, namespace, false) => return Ok(()),
            Unclaimed::ClaimOnWrite if !self.db.namespace_exists(namespace).await? => {
                return Ok(());
            }
            _ => self.db.is_owner(namespace, &principal.user).await?,
        };
        if may_act(principal, namespace, is_owner) {
            Ok(())
        } else {
            Err(not_owner(principal, namespace))
        }
    }
}
