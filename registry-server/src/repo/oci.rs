//! SQL of the OCI view: manifests, tags, blob links, referrers, and uploads.
//! SQL only: which manifest may be pushed where is for the services to say.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError, conflict_or};

/// A stored manifest.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    /// The OCI repository: `namespace/name`.
    pub repository: String,
    /// The manifest's digest.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The artifact type: `artifactType`, else the config's media type.
    pub artifact_type: Option<String>,
    /// The digest of the manifest it refers to (`subject`), if any.
    pub subject: Option<String>,
    /// JSON object text, when the manifest has annotations.
    pub annotations: Option<String>,
    /// The manifest's size in bytes.
    pub size: i64,
}

impl ManifestRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            repository: row.try_get("repository")?,
            digest: row.try_get("digest")?,
            media_type: row.try_get("media_type")?,
            artifact_type: row.try_get("artifact_type")?,
            subject: row.try_get("subject")?,
            annotations: row.try_get("annotations")?,
            size: row.try_get("size")?,
        })
    }
}

const MANIFEST_COLUMNS: &str =
    "repository, digest, media_type, artifact_type, subject, annotations, size";

/// A manifest to record, with what it references and the tag it goes under.
#[derive(Debug, Clone)]
pub struct NewManifest {
    /// The manifest's row.
    pub row: ManifestRow,
    /// Digests of the config, layers or child manifests.
    pub references: Vec<String>,
    /// Blobs the repository may serve from now on (config and layers).
    pub links: Vec<String>,
    /// The tag it goes under, if any.
    pub tag: Option<String>,
}

impl Db {
    /// Records a manifest in an open transaction (used by publishes too, so that a
    /// package version and its OCI view appear together or not at all).
    pub(crate) async fn put_manifest_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        m: &NewManifest,
        now: i64,
    ) -> Result<(), DbError> {
        let r = &m.row;
        sqlx::query(&format!(
            "INSERT INTO oci_manifests ({MANIFEST_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT DO NOTHING"
        ))
        .bind(&r.repository)
        .bind(&r.digest)
        .bind(&r.media_type)
        .bind(&r.artifact_type)
        .bind(&r.subject)
        .bind(&r.annotations)
        .bind(r.size)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        for reference in &m.references {
            sqlx::query("INSERT INTO oci_manifest_refs (repository, manifest, reference) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(&r.repository)
                .bind(&r.digest)
                .bind(reference)
                .execute(&mut **tx)
                .await?;
        }
        for digest in m.links.iter().chain(std::iter::once(&r.digest)) {
            Self::touch_blob_in(tx, digest, now).await?;
        }
        for digest in &m.links {
            sqlx::query("INSERT INTO oci_blob_links (repository, digest, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(&r.repository)
                .bind(digest)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(tag) = &m.tag {
            sqlx::query(
                "INSERT INTO oci_tags (repository, tag, digest, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repository, tag) DO UPDATE SET digest = $3, updated_at = $4",
            )
            .bind(&r.repository)
            .bind(tag)
            .bind(&r.digest)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Records a manifest in a transaction of its own.
    pub async fn put_manifest(&self, m: &NewManifest, now: i64) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        Self::put_manifest_in(&mut tx, m, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The manifest `digest` in `repository`.
    pub async fn manifest(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<ManifestRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM oci_manifests WHERE repository = $1 AND digest = $2"
        ))
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(ManifestRow::from_row).transpose()?)
    }

    /// The manifest a tag points at, in one query.
    pub async fn manifest_by_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<ManifestRow>, DbError> {
        let columns = MANIFEST_COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(&format!(
            "SELECT {columns} FROM oci_tags t JOIN oci_manifests m ON m.repository = t.repository AND m.digest = t.digest \
             WHERE t.repository = $1 AND t.tag = $2"
        ))
        .bind(repository)
        .bind(tag)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(ManifestRow::from_row).transpose()?)
    }

    /// The digest a tag points at.
    pub async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT digest FROM oci_tags WHERE repository = $1 AND tag = $2")
            .bind(repository)
            .bind(tag)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("digest")).transpose()?)
    }

    /// Tags of a repository, leaving out those of yanked package versions, unsorted.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT t.tag FROM oci_tags t WHERE t.repository = $1 AND NOT EXISTS ( \
                SELECT 1 FROM versions v WHERE v.namespace || '/' || v.name = t.repository \
                AND v.version = t.tag AND v.yanked = 1)",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("tag"))
            .collect::<Result<_, _>>()
            .map_err(DbError::from)
    }

    /// Whether the repository holds anything: a manifest, a tag or a blob.
    pub async fn repository_exists(&self, repository: &str) -> Result<bool, DbError> {
        let row = sqlx::query(
            "SELECT 1 FROM oci_manifests WHERE repository = $1 \
             UNION ALL SELECT 1 FROM oci_blob_links WHERE repository = $1 LIMIT 1",
        )
        .bind(repository)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Every repository with a manifest, unsorted.
    pub async fn repositories(&self) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query("SELECT DISTINCT repository FROM oci_manifests")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("repository"))
            .collect::<Result<_, _>>()
            .map_err(DbError::from)
    }

    /// Lets `repository` serve a blob.
    pub async fn link_blob(&self, repository: &str, digest: &str, now: i64) -> Result<(), DbError> {
        sqlx::query("INSERT INTO oci_blob_links (repository, digest, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(repository)
            .bind(digest)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether `repository` may serve a blob.
    pub async fn blob_linked(&self, repository: &str, digest: &str) -> Result<bool, DbError> {
        Ok(
            sqlx::query("SELECT 1 FROM oci_blob_links WHERE repository = $1 AND digest = $2")
                .bind(repository)
                .bind(digest)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Whether anything still serves a blob: a version, a manifest, or a repository it
    /// is linked to. A blob deleted everywhere is not, though its bytes wait in
    /// storage for the collector.
    pub async fn blob_served(&self, digest: &str) -> Result<bool, DbError> {
        Ok(sqlx::query(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM oci_blob_links WHERE digest = $1) \
             OR EXISTS (SELECT 1 FROM versions WHERE digest = $2) \
             OR EXISTS (SELECT 1 FROM oci_manifests WHERE digest = $3)",
        )
        .bind(digest)
        .bind(digest)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// Stops `repository` serving a blob; false when it did not.
    pub async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<bool, DbError> {
        Ok(
            sqlx::query("DELETE FROM oci_blob_links WHERE repository = $1 AND digest = $2")
                .bind(repository)
                .bind(digest)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Manifests of the repository whose subject is `subject`.
    pub async fn referrers(
        &self,
        repository: &str,
        subject: &str,
    ) -> Result<Vec<ManifestRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM oci_manifests WHERE repository = $1 AND subject = $2 ORDER BY created_at, digest"
        ))
        .bind(repository)
        .bind(subject)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(ManifestRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The package version a manifest serves, if any: (namespace, name, version).
    pub async fn version_of_manifest(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<(String, String, String)>, DbError> {
        let row = sqlx::query(
            "SELECT namespace, name, version FROM versions WHERE namespace || '/' || name = $1 AND manifest_digest = $2",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| {
                Ok::<_, sqlx::Error>((
                    r.try_get("namespace")?,
                    r.try_get("name")?,
                    r.try_get("version")?,
                ))
            })
            .transpose()?)
    }

    /// Removes a manifest and the tags that point at it; false when there was none.
    pub async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let removed =
            sqlx::query("DELETE FROM oci_manifests WHERE repository = $1 AND digest = $2")
                .bind(repository)
                .bind(digest)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        for table in [
            "oci_tags WHERE repository = $1 AND digest = $2",
            "oci_manifest_refs WHERE repository = $1 AND manifest = $2",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .bind(repository)
                .bind(digest)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Removes a tag; false when there was none.
    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool, DbError> {
        Ok(
            sqlx::query("DELETE FROM oci_tags WHERE repository = $1 AND tag = $2")
                .bind(repository)
                .bind(tag)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Records a new upload into `repository`.
    pub async fn create_upload(&self, id: &str, repository: &str, now: i64) -> Result<(), DbError> {
        sqlx::query("INSERT INTO oci_uploads (id, repository, created_at, updated_at) VALUES ($1, $2, $3, $3)")
            .bind(id)
            .bind(repository)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(conflict_or)?;
        Ok(())
    }

    /// The repository an upload belongs to.
    pub async fn upload(&self, id: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT repository FROM oci_uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("repository")).transpose()?)
    }

    /// Marks an upload as written to now.
    pub async fn touch_upload(&self, id: &str, now: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE oci_uploads SET updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets an upload; false when there was none.
    pub async fn delete_upload(&self, id: &str) -> Result<bool, DbError> {
        Ok(sqlx::query("DELETE FROM oci_uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }
}
