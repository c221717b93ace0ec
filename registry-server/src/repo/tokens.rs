//! SQL of API tokens: their rows (the secret only as its hash), look-up by hash
//! (marking use), listing and revocation.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError, conflict_or};

/// An API token row.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// The token's id (not its secret).
    pub id: String,
    /// The user the token belongs to.
    pub owner: String,
    /// What the owner called the token.
    pub name: String,
    /// What the token may do: `publish`, `yank`, `owners`, `admin`.
    pub scopes: String,
    /// The namespaces the token reaches, comma-separated; `*` for all.
    pub namespaces: String,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it expires, in milliseconds since the Unix epoch; none: never.
    pub expires_at: Option<i64>,
    /// When it was last used, to the minute; none: never.
    pub last_used_at: Option<i64>,
    /// When it was revoked; none: it was not.
    pub revoked_at: Option<i64>,
}

impl TokenRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            owner: row.try_get("owner")?,
            name: row.try_get("name")?,
            scopes: row.try_get("scopes")?,
            namespaces: row.try_get("namespaces")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

const TOKEN_COLUMNS: &str =
    "id, owner, name, scopes, namespaces, created_at, expires_at, last_used_at, revoked_at";

impl Db {
    /// Records a token with the hash of its secret; `Conflict` if its id exists.
    pub async fn insert_token(&self, row: &TokenRow, hash: &str) -> Result<(), DbError> {
        sqlx::query(&format!("INSERT INTO tokens ({TOKEN_COLUMNS}, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(&row.id)
            .bind(&row.owner)
            .bind(&row.name)
            .bind(&row.scopes)
            .bind(&row.namespaces)
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(row.last_used_at)
            .bind(row.revoked_at)
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(conflict_or)?;
        Ok(())
    }

    /// The live token with this hash, marking it used.
    pub async fn token_by_hash(&self, hash: &str, now: i64) -> Result<Option<TokenRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
        ))
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row.as_ref().map(TokenRow::from_row).transpose()? else {
            return Ok(None);
        };
        // Recording use is informative; a minute's precision is plenty and saves writes.
        if row.last_used_at.is_none_or(|t| now - t > 60_000) {
            sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
                .bind(&row.id)
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(row))
    }

    /// Every token of `owner`, oldest first.
    pub async fn tokens_of(&self, owner: &str) -> Result<Vec<TokenRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE owner = $1 ORDER BY created_at, id"
        ))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(TokenRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The token with this id, live or not.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, DbError> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(TokenRow::from_row).transpose()?)
    }

    /// Revokes a token; false when it was unknown or revoked already.
    pub async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, DbError> {
        Ok(
            sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }
}
