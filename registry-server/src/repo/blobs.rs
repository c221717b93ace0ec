//! SQL of blobs: the leases writers take, what the collector may remove (and the
//! condition for it, [`UNUSED`]), and what `fsck` checks against storage. See
//! `service::gc` for why the lease protocol makes collection safe.

use sqlx::Row;

use super::{Db, DbError};

/// A digest something relies on, for `fsck`.
#[derive(Debug, Clone)]
pub struct Reliance {
    /// What relies on it: `ns:name@1.0.0` or `manifest ns/name@sha256:...`.
    pub owner: String,
    /// The digest relied on.
    pub digest: String,
    /// The size recorded for it, where one is.
    pub size: Option<i64>,
}

impl Db {
    /// Refreshes a leased blob's row inside a transaction that is about to rely on it;
    /// `BlobGone` when the collector removed it since the lease.
    pub(crate) async fn touch_blob_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        digest: &str,
        now: i64,
    ) -> Result<(), DbError> {
        let touched = sqlx::query("UPDATE blobs SET touched_at = $2 WHERE digest = $1")
            .bind(digest)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if touched == 0 {
            return Err(DbError::BlobGone(digest.to_owned()));
        }
        Ok(())
    }

    /// Takes a lease on a blob: creates its row or refreshes `touched_at`. Writers call
    /// this *before* making sure the bytes are stored, which is what makes collection safe.
    pub async fn lease_blob(&self, digest: &str, size: i64, now: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO blobs (digest, size, created_at, touched_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (digest) DO UPDATE SET touched_at = $3",
        )
        .bind(digest)
        .bind(size)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Blobs untouched since `cutoff` that no version, manifest or manifest reference uses.
    pub async fn garbage_candidates(&self, cutoff: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT digest FROM blobs b WHERE {UNUSED} ORDER BY digest"
        ))
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("digest"))
            .collect::<Result<_, _>>()
            .map_err(DbError::from)
    }

    /// Removes a blob's row and repository links if it is still unused and untouched
    /// since `cutoff`; true when it was removed (its bytes may then go).
    pub async fn forget_blob(&self, digest: &str, cutoff: i64) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        if self.postgres {
            // Wait for any writer holding the row (a publish touching it in its
            // transaction) to finish: the DELETE below then runs on a snapshot taken
            // after that commit, so it sees the version or manifest that now uses the
            // blob. Without the lock, READ COMMITTED would re-check only the target row
            // and judge the NOT EXISTS conditions on the older snapshot. (SQLite runs
            // one writer at a time, so its DELETE always sees the latest commit.)
            sqlx::query("SELECT digest FROM blobs WHERE digest = $1 FOR UPDATE")
                .bind(digest)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let removed = sqlx::query(&format!("DELETE FROM blobs WHERE digest = $2 AND digest IN (SELECT b.digest FROM blobs b WHERE {UNUSED})"))
            .bind(cutoff)
            .bind(digest)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if removed {
            sqlx::query("DELETE FROM oci_blob_links WHERE digest = $1")
                .bind(digest)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Whether a blob has a row (someone leased it).
    pub async fn blob_known(&self, digest: &str) -> Result<bool, DbError> {
        Ok(sqlx::query("SELECT 1 FROM blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Uploads not written to since `cutoff`.
    pub async fn stale_uploads(&self, cutoff: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query("SELECT id FROM oci_uploads WHERE updated_at < $1")
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()
            .map_err(DbError::from)
    }

    /// Removes an upload if it is still stale; true when removed.
    pub async fn expire_upload(&self, id: &str, cutoff: i64) -> Result<bool, DbError> {
        Ok(
            sqlx::query("DELETE FROM oci_uploads WHERE id = $1 AND updated_at < $2")
                .bind(id)
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Every digest a version, a manifest or a manifest's reference relies on.
    pub async fn reliances(&self) -> Result<Vec<Reliance>, DbError> {
        let mut found = Vec::new();
        let queries = [
            "SELECT namespace || ':' || name || '@' || version AS owner, digest, size FROM versions",
            "SELECT namespace || ':' || name || '@' || version AS owner, manifest_digest AS digest, \
             CAST(NULL AS BIGINT) AS size FROM versions WHERE manifest_digest IS NOT NULL",
            "SELECT 'manifest ' || repository || '@' || digest AS owner, digest, size FROM oci_manifests",
            "SELECT 'manifest ' || repository || '@' || manifest AS owner, reference AS digest, \
             CAST(NULL AS BIGINT) AS size FROM oci_manifest_refs",
        ];
        for query in queries {
            for row in sqlx::query(query).fetch_all(&self.pool).await? {
                found.push(Reliance {
                    owner: row.try_get("owner")?,
                    digest: row.try_get("digest")?,
                    size: row.try_get("size")?,
                });
            }
        }
        Ok(found)
    }

    /// Every blob row: digest and size.
    pub async fn blob_rows(&self) -> Result<Vec<(String, i64)>, DbError> {
        let rows = sqlx::query("SELECT digest, size FROM blobs")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("digest")?, r.try_get("size")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }
}

/// The condition for a blob (aliased `b`, cutoff bound as `$1`) to be garbage.
const UNUSED: &str = "b.touched_at < $1 \
    AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.digest = b.digest) \
    AND NOT EXISTS (SELECT 1 FROM oci_manifests m WHERE m.digest = b.digest) \
    AND NOT EXISTS (SELECT 1 FROM oci_manifest_refs r WHERE r.reference = b.digest)";
