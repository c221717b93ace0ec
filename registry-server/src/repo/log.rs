//! SQL of the transparency log: appending an entry (in the transaction of the change it
//! records), and reading entries and stored hashes back. The hashing is
//! `wharf_types::log`'s; what the log means is `service::log`'s.
//!
//! Every append first updates the one `log_head` row: on PostgreSQL a row lock held to
//! the commit, on SQLite the database's write lock, which the transaction already holds.
//! Appends of all replicas sharing a database are so one sequence: the next index is
//! read under the lock, and the hashes it combines with were committed before it. The
//! head is the last lock every writing transaction takes, so no two wait on each other.

use std::collections::HashMap;

use sqlx::Row;
use wharf_types::log::{self, Entry, Hash};

use super::{Db, DbError};

impl Db {
    /// In an open transaction: appends `entry`, answering its index (None when the
    /// log is off, [`Db::without_log`]).
    pub(super) async fn append_log_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        entry: &Entry,
        now: i64,
    ) -> Result<Option<u64>, DbError> {
        if !self.log {
            return Ok(None);
        }
        let size: i64 =
            sqlx::query("UPDATE log_head SET size = size + 1 WHERE id = 1 RETURNING size")
                .fetch_one(&mut **tx)
                .await?
                .try_get("size")?;
        let n = (size - 1) as u64;
        let reads = log::append_reads(n);
        let old = read_hashes(tx, &reads).await?;
        let bytes = entry.to_bytes();
        let new = log::append_hashes(n, log::leaf_hash(&bytes), &old)
            .map_err(|e| DbError::Log(e.to_string()))?;
        let start = log::stored_index(n);
        for (k, hash) in new.iter().enumerate() {
            sqlx::query("INSERT INTO log_hashes (idx, hash) VALUES ($1, $2)")
                .bind((start + k as u64) as i64)
                .bind(log::hash_text(hash))
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO log_entries (idx, subject, action, entry, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(n as i64)
        .bind(&entry.subject)
        .bind(entry.action.as_str())
        .bind(String::from_utf8(bytes).expect("entries are text"))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(Some(n))
    }

    /// This database with appends to the transparency log switched off: for the
    /// benchmark that measures what the log costs a publish (`Config::transparency_log`),
    /// never for serving.
    pub fn without_log(mut self) -> Self {
        self.log = false;
        self
    }

    /// Records a version's publish entry: in an open transaction.
    pub(super) async fn set_log_index_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        namespace: &str,
        name: &str,
        version: &str,
        index: u64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE versions SET log_index = $4 WHERE namespace = $1 AND name = $2 AND version = $3",
        )
        .bind(namespace)
        .bind(name)
        .bind(version)
        .bind(index as i64)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Appends the publish entry of a version published before the log existed, and
    /// records its index, in one transaction; false when someone else did meanwhile.
    pub async fn backfill_publish(
        &self,
        entry: &Entry,
        namespace: &str,
        name: &str,
        version: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        // The head first (the write lock), then whether a replica did it already.
        let Some(index) = self.append_log_in(&mut tx, entry, now).await? else {
            return Ok(false);
        };
        let missing = sqlx::query(
            "SELECT 1 FROM versions WHERE namespace = $1 AND name = $2 AND version = $3 AND log_index IS NULL",
        )
        .bind(namespace)
        .bind(name)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !missing {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::set_log_index_in(&mut tx, namespace, name, version, index).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// (namespace, name, version, digest, published_by, published_at) of the versions
    /// that have no publish entry (published before the log existed), oldest first.
    pub async fn versions_outside_log(
        &self,
    ) -> Result<Vec<(String, String, String, String, String, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT namespace, name, version, digest, published_by, published_at FROM versions \
             WHERE log_index IS NULL ORDER BY published_at, namespace, name, version",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The number of entries.
    pub async fn log_size(&self) -> Result<u64, DbError> {
        let size: i64 = sqlx::query("SELECT size FROM log_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get("size")?;
        Ok(size as u64)
    }

    /// The stored hashes at `indexes`; one missing is `DbError::Log`.
    pub async fn log_hashes(&self, indexes: &[u64]) -> Result<HashMap<u64, Hash>, DbError> {
        let mut conn = self.pool.acquire().await?;
        read_hashes(&mut conn, indexes).await
    }

    /// Every stored hash below `count`, in order (for fsck).
    pub async fn log_hashes_below(&self, count: u64) -> Result<Vec<(u64, String)>, DbError> {
        let rows = sqlx::query("SELECT idx, hash FROM log_hashes WHERE idx < $1 ORDER BY idx")
            .bind(count as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>("idx")? as u64, r.try_get("hash")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Up to `limit` entries from `start`: (index, text).
    pub async fn log_entries(&self, start: u64, limit: u64) -> Result<Vec<(u64, String)>, DbError> {
        let rows =
            sqlx::query("SELECT idx, entry FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2")
                .bind(start as i64)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>("idx")? as u64, r.try_get("entry")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// The newest `limit` entries, newest first: (index, text, recorded at).
    pub async fn recent_log_entries(&self, limit: u64) -> Result<Vec<(u64, String, i64)>, DbError> {
        let rows = sqlx::query(
            "SELECT idx, entry, created_at FROM log_entries ORDER BY idx DESC LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("idx")? as u64,
                    r.try_get("entry")?,
                    r.try_get("created_at")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// (namespace, name, version, digest, log index) of every version, for fsck.
    pub async fn version_log_indexes(
        &self,
    ) -> Result<Vec<(String, String, String, String, Option<i64>)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT namespace, name, version, digest, log_index FROM versions ORDER BY namespace, name, version",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// The stored hashes at `indexes`, asked of `db` (a pooled connection, or an open
/// transaction's).
async fn read_hashes(
    db: &mut sqlx::AnyConnection,
    indexes: &[u64],
) -> Result<HashMap<u64, Hash>, DbError> {
    if indexes.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=indexes.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT idx, hash FROM log_hashes WHERE idx IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for index in indexes {
        query = query.bind(*index as i64);
    }
    let rows = query.fetch_all(db).await?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in &rows {
        let index = row.try_get::<i64, _>("idx")? as u64;
        let text: String = row.try_get("hash")?;
        let hash = log::parse_hash(&text, &format!("stored hash {index}"))
            .map_err(|e| DbError::Log(e.to_string()))?;
        found.insert(index, hash);
    }
    if let Some(missing) = indexes.iter().find(|i| !found.contains_key(i)) {
        return Err(DbError::Log(format!("stored hash {missing} is missing")));
    }
    Ok(found)
}
