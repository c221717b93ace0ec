//! Namespace owners: adding and removing them. Who may is the one rule of
//! [`access`](super::access) (an owner, or an admin whose token reaches the namespace,
//! with the `owners` scope); a namespace keeps at least one owner. Calls the
//! repositories; never HTTP.

use super::access::{Principal, Scope, Unclaimed};
use super::{ServiceError, check_user, namespace_name};
use crate::AppState;
use crate::repo::DbError;

/// What an owner change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerChange {
    /// Makes the user an owner: `409 OWNER_EXISTS` when they are one.
    Add,
    /// Removes the user: `404 OWNER_UNKNOWN` when they are not an owner, `409
    /// LAST_OWNER` when they are the last.
    Remove,
}

impl AppState {
    /// Adds `owner` to `namespace` or removes them, as `change` says, when `principal`
    /// may change its owners (`404 NAMESPACE_UNKNOWN` when nobody owns it yet).
    pub async fn change_owner(
        &self,
        principal: &Principal,
        namespace: &str,
        owner: &str,
        change: OwnerChange,
    ) -> Result<(), ServiceError> {
        namespace_name(namespace)?;
        check_user(owner)?;
        self.authorize(principal, Scope::Owners, namespace, Unclaimed::NotFound)
            .await?;
        match change {
            OwnerChange::Add => match self
                .db
                .add_owner(namespace, owner, &principal.user, crate::now_ms())
                .await
            {
                Ok(()) => Ok(()),
                Err(DbError::Conflict) => Err(ServiceError::conflict(
                    "OWNER_EXISTS",
                    format!("`{owner}` already owns `{namespace}`"),
                )),
                Err(e) => Err(e.into()),
            },
            OwnerChange::Remove => match self
                .db
                .remove_owner(namespace, owner, &principal.user, crate::now_ms())
                .await?
            {
                Ok(true) => Ok(()),
                Ok(false) => Err(ServiceError::not_found(
                    "OWNER_UNKNOWN",
                    format!("`{owner}` does not own `{namespace}`"),
                )),
                Err(()) => Err(ServiceError::conflict(
                    "LAST_OWNER",
                    format!("`{owner}` is the last owner of `{namespace}`; add another first"),
                )),
            },
        }
    }
}
