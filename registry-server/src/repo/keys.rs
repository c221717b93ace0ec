//! SQL of the keys registered to sign for a namespace: adding, listing, revoking.
//! Who may is `service::access`'s to say; whether a signature is good, `service::signatures`'.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError, conflict_or};

/// A registered key.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// The namespace it signs for.
    pub namespace: String,
    /// Its id: the hex sha256 of the raw public key.
    pub keyid: String,
    /// The public key, SPKI PEM.
    pub public_key: String,
    /// The label its owner gave it.
    pub name: Option<String>,
    /// Who added it.
    pub added_by: String,
    /// When, in milliseconds since the Unix epoch.
    pub added_at: i64,
    /// When it was revoked; None: it is not.
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

impl KeyRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            namespace: row.try_get("namespace")?,
            keyid: row.try_get("keyid")?,
            public_key: row.try_get("public_key")?,
            name: row.try_get("name")?,
            added_by: row.try_get("added_by")?,
            added_at: row.try_get("added_at")?,
            revoked_at: row.try_get("revoked_at")?,
            revoked_by: row.try_get("revoked_by")?,
        })
    }
}

const KEY_COLUMNS: &str =
    "namespace, keyid, public_key, name, added_by, added_at, revoked_at, revoked_by";

impl Db {
    /// Registers a key; `Conflict` when the namespace has it already (revoked or not).
    pub async fn add_key(&self, key: &KeyRow) -> Result<(), DbError> {
        sqlx::query(&format!(
            "INSERT INTO namespace_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&key.namespace)
        .bind(&key.keyid)
        .bind(&key.public_key)
        .bind(&key.name)
        .bind(&key.added_by)
        .bind(key.added_at)
        .bind(key.revoked_at)
        .bind(&key.revoked_by)
        .execute(&self.pool)
        .await
        .map_err(conflict_or)?;
        Ok(())
    }

    /// The keys of `namespace`, revoked ones too, in the order they were added.
    pub async fn keys(&self, namespace: &str) -> Result<Vec<KeyRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM namespace_keys WHERE namespace = $1 ORDER BY added_at, keyid"
        ))
        .bind(namespace)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(KeyRow::from_row)
            .collect::<Result<_, _>>()
            .map_err(DbError::from)
    }

    /// The key `keyid` of `namespace`, if registered.
    pub async fn key(&self, namespace: &str, keyid: &str) -> Result<Option<KeyRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM namespace_keys WHERE namespace = $1 AND keyid = $2"
        ))
        .bind(namespace)
        .bind(keyid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(KeyRow::from_row).transpose()?)
    }

    /// Revokes the key; answers whether a key not yet revoked was.
    pub async fn revoke_key(
        &self,
        namespace: &str,
        keyid: &str,
        by: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        Ok(sqlx::query(
            "UPDATE namespace_keys SET revoked_at = $3, revoked_by = $4 \
             WHERE namespace = $1 AND keyid = $2 AND revoked_at IS NULL",
        )
        .bind(namespace)
        .bind(keyid)
        .bind(now)
        .bind(by)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }
}
