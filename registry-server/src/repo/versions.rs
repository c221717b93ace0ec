//! SQL of versions: a version's row, the insert that records it with everything found
//! in it (and its OCI manifest, [`Db::put_manifest_in`], in the same transaction),
//! yanking, and reading versions back.

use sqlx::Row;
use sqlx::any::AnyRow;

use wharf_types::log::{Action, Entry};

use super::{Db, DbError, ItemRow, NewManifest, conflict_or};

/// A version row.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// The namespace: `wharf` in `wharf:flate`.
    pub namespace: String,
    /// The package name: `flate` in `wharf:flate`.
    pub name: String,
    /// The version.
    pub version: String,
    /// The content digest, `sha256:<hex>`.
    pub digest: String,
    /// The size in bytes.
    pub size: i64,
    /// The WIT text.
    pub wit: String,
    /// The description the package carries, if any.
    pub description: Option<String>,
    /// The SPDX license expression, if any.
    pub license: Option<String>,
    /// The source repository URL, if any.
    pub source: Option<String>,
    /// The `producers` section: tools and languages that made it, as JSON.
    pub producers: String,
    /// Whether the version is yanked (hidden from resolution and listings).
    pub yanked: bool,
    /// The user who published it.
    pub published_by: String,
    /// When it was published, in milliseconds since the Unix epoch.
    pub published_at: i64,
    /// The digest of the OCI manifest that serves the version.
    pub manifest_digest: Option<String>,
    /// The index of its publish entry in the transparency log.
    pub log_index: Option<i64>,
}

impl VersionRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            namespace: row.try_get("namespace")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            digest: row.try_get("digest")?,
            size: row.try_get("size")?,
            wit: row.try_get("wit")?,
            description: row.try_get("description")?,
            license: row.try_get("license")?,
            source: row.try_get("source")?,
            producers: row.try_get("producers")?,
            yanked: row.try_get::<i64, _>("yanked")? != 0,
            published_by: row.try_get("published_by")?,
            published_at: row.try_get("published_at")?,
            manifest_digest: row.try_get("manifest_digest")?,
            log_index: row.try_get("log_index")?,
        })
    }
}

const VERSION_COLUMNS: &str = "namespace, name, version, digest, size, wit, description, license, source, \
                               producers, yanked, published_by, published_at";

/// A version to insert, with everything found in it.
pub struct NewVersion<'a> {
    /// The namespace: `wharf` in `wharf:flate`.
    pub namespace: &'a str,
    /// The package name.
    pub name: &'a str,
    /// `wit` or `component`, as found in the bytes.
    pub kind: &'a str,
    /// The version.
    pub version: &'a str,
    /// The digest of the package's bytes, leased and stored before the insert.
    pub digest: &'a str,
    /// The size in bytes.
    pub size: i64,
    /// The WIT text.
    pub wit: &'a str,
    /// The description found in the bytes.
    pub description: Option<&'a str>,
    /// The SPDX license expression, if any.
    pub license: Option<&'a str>,
    /// The source repository URL, if any.
    pub source: Option<&'a str>,
    /// The `producers` section as JSON text.
    pub producers: &'a str,
    /// The user who published it.
    pub published_by: &'a str,
    /// The time of the publish, in milliseconds since the Unix epoch.
    pub now: i64,
    /// Its imports and exports.
    pub items: Vec<ItemRow>,
    /// Declared dependencies: package and version (empty when none).
    pub dependencies: Vec<(String, String)>,
    /// The OCI manifest that serves this version, recorded in the same transaction.
    pub manifest: NewManifest,
}

/// How the insert of a version went.
pub enum Inserted {
    /// The version is stored; `claimed` is true when this publish created the namespace.
    Done {
        /// Whether this publish claimed the namespace.
        claimed: bool,
    },
    /// The namespace belongs to others.
    NotOwner,
    /// The package exists with another kind.
    KindMismatch {
        /// The kind the package has.
        existing: String,
    },
}

impl Db {
    /// Inserts a version in one transaction: claims the namespace on its first
    /// publish, creates the package on its first version, refuses an existing version
    /// with `Conflict`, and records items and dependencies. `may_act` (the access rule,
    /// told whether the publisher owns the namespace, which they do when this claimed
    /// it) decides whether the publish goes on.
    pub async fn insert_version(
        &self,
        v: &NewVersion<'_>,
        may_act: &(dyn Fn(bool) -> bool + Sync),
    ) -> Result<Inserted, DbError> {
        let mut tx = self.pool.begin().await?;
        let (claimed, owns) = Self::claim_in(&mut tx, v.namespace, v.published_by, v.now).await?;
        if !may_act(owns) {
            return Ok(Inserted::NotOwner);
        }
        sqlx::query(
            "INSERT INTO packages (namespace, name, kind, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(v.namespace)
        .bind(v.name)
        .bind(v.kind)
        .bind(v.now)
        .execute(&mut *tx)
        .await?;
        // Touching the package row first serialises concurrent publishes of one package
        // (a row lock on PostgreSQL, the write lock on SQLite), so `latest` is computed
        // from committed versions.
        let row = sqlx::query(
            "UPDATE packages SET updated_at = $3 WHERE namespace = $1 AND name = $2 RETURNING kind",
        )
        .bind(v.namespace)
        .bind(v.name)
        .bind(v.now)
        .fetch_one(&mut *tx)
        .await?;
        let existing: String = row.try_get("kind")?;
        if existing != v.kind {
            return Ok(Inserted::KindMismatch { existing });
        }
        Self::touch_blob_in(&mut tx, v.digest, v.now).await?;
        sqlx::query(&format!(
            "INSERT INTO versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12)"
        ))
        .bind(v.namespace)
        .bind(v.name)
        .bind(v.version)
        .bind(v.digest)
        .bind(v.size)
        .bind(v.wit)
        .bind(v.description)
        .bind(v.license)
        .bind(v.source)
        .bind(v.producers)
        .bind(v.published_by)
        .bind(v.now)
        .execute(&mut *tx)
        .await
        .map_err(conflict_or)?;
        for item in &v.items {
            sqlx::query(
                "INSERT INTO version_items (namespace, name, version, direction, item, item_package, item_version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(v.namespace)
            .bind(v.name)
            .bind(v.version)
            .bind(&item.direction)
            .bind(&item.item)
            .bind(&item.item_package)
            .bind(&item.item_version)
            .execute(&mut *tx)
            .await?;
        }
        for (dependency, version) in &v.dependencies {
            sqlx::query(
                "INSERT INTO version_dependencies (namespace, name, version, dependency, dependency_version) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(v.namespace)
            .bind(v.name)
            .bind(v.version)
            .bind(dependency)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        Self::put_manifest_in(&mut tx, &v.manifest, v.now).await?;
        sqlx::query("UPDATE versions SET manifest_digest = $4 WHERE namespace = $1 AND name = $2 AND version = $3")
            .bind(v.namespace)
            .bind(v.name)
            .bind(v.version)
            .bind(&v.manifest.row.digest)
            .execute(&mut *tx)
            .await?;
        let versions = Self::version_flags(&mut tx, v.namespace, v.name).await?;
        Self::write_latest(&mut tx, v.namespace, v.name, &versions).await?;
        // The log last: its head is the last lock every writer takes.
        if claimed {
            let claim = Entry::namespace(
                Action::Claim,
                v.namespace,
                v.published_by,
                v.published_by,
                v.now,
            );
            self.append_log_in(&mut tx, &claim, v.now).await?;
        }
        let publish = Entry::version(
            Action::Publish,
            &format!("{}:{}@{}", v.namespace, v.name, v.version),
            v.digest,
            v.published_by,
            v.now,
        );
        if let Some(index) = self.append_log_in(&mut tx, &publish, v.now).await? {
            Self::set_log_index_in(&mut tx, v.namespace, v.name, v.version, index).await?;
        }
        tx.commit().await?;
        Ok(Inserted::Done { claimed })
    }

    /// (version, yanked, description) of every version of a package.
    async fn version_flags(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<(String, bool, Option<String>)>, DbError> {
        let rows = sqlx::query(
            "SELECT version, yanked, description FROM versions WHERE namespace = $1 AND name = $2",
        )
        .bind(namespace)
        .bind(name)
        .fetch_all(&mut **tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("version")?,
                    r.try_get::<i64, _>("yanked")? != 0,
                    r.try_get("description")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Sets a version's yanked flag, and logs it as done by `actor`; false when there
    /// is no such version.
    pub async fn set_yanked(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
        yanked: bool,
        actor: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let digest: Option<String> = sqlx::query(
            "UPDATE versions SET yanked = $4 WHERE namespace = $1 AND name = $2 AND version = $3 \
             RETURNING digest",
        )
        .bind(namespace)
        .bind(name)
        .bind(version)
        .bind(i64::from(yanked))
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get("digest"))
        .transpose()?;
        let Some(digest) = digest else {
            tx.rollback().await?;
            return Ok(false);
        };
        let versions = Self::version_flags(&mut tx, namespace, name).await?;
        Self::write_latest(&mut tx, namespace, name, &versions).await?;
        let action = if yanked { Action::Yank } else { Action::Unyank };
        let entry = Entry::version(
            action,
            &format!("{namespace}:{name}@{version}"),
            &digest,
            actor,
            now,
        );
        self.append_log_in(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every version of a package, yanked ones too, unsorted.
    pub async fn versions(&self, namespace: &str, name: &str) -> Result<Vec<VersionRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS}, manifest_digest, log_index FROM versions WHERE namespace = $1 AND name = $2"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(VersionRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// One version of a package.
    pub async fn version(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<VersionRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS}, manifest_digest, log_index FROM versions WHERE namespace = $1 AND name = $2 AND version = $3"
        ))
        .bind(namespace)
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(VersionRow::from_row).transpose()?)
    }
}
