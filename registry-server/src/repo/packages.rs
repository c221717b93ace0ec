//! SQL of packages and their versions: a version's row, its imports and exports
//! (items) and declared dependencies, the package's `latest`, search, and who uses an
//! interface. The insert of a version records its OCI manifest in the same
//! transaction ([`Db::put_manifest_in`]).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError, NewManifest, conflict_or};

/// A package row.
#[derive(Debug, Clone)]
pub struct PackageRow {
    /// The namespace: `wharf` in `wharf:flate`.
    pub namespace: String,
    /// The package name: `flate` in `wharf:flate`.
    pub name: String,
    /// `wit` or `component`.
    pub kind: String,
    /// The description the package carries, if any.
    pub description: Option<String>,
    /// The highest non-yanked version (a release before a prerelease).
    pub latest: Option<String>,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at: i64,
}

impl PackageRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            namespace: row.try_get("namespace")?,
            name: row.try_get("name")?,
            kind: row.try_get("kind")?,
            description: row.try_get("description")?,
            latest: row.try_get("latest")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

const PACKAGE_COLUMNS: &str = "namespace, name, kind, description, latest, created_at, updated_at";

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
        })
    }
}

const VERSION_COLUMNS: &str = "namespace, name, version, digest, size, wit, description, license, source, \
                               producers, yanked, published_by, published_at";

/// An import or export row.
#[derive(Debug, Clone)]
pub struct ItemRow {
    /// `import` or `export`.
    pub direction: String,
    /// The item without its version: `wharf:compression/codec`.
    pub item: String,
    /// The package of the item: `wharf:compression`; empty when none.
    pub item_package: String,
    /// The version of the item's package; empty when unversioned.
    pub item_version: String,
}

/// Versions by `(namespace, name, version)`: description and exports.
pub type VersionExports =
    std::collections::HashMap<(String, String, String), (Option<String>, Vec<ItemRow>)>;

/// A version that imports or exports an item, with its package's kind.
#[derive(Debug, Clone)]
pub struct ItemUse {
    /// The namespace: `wharf` in `wharf:flate`.
    pub namespace: String,
    /// The package name.
    pub name: String,
    /// The version that uses the item.
    pub version: String,
    /// The package's kind: `wit` or `component`.
    pub kind: String,
    /// The item as recorded: an interface or (for declared dependencies) a package.
    pub item: String,
    /// The version of the item's package; empty when unversioned.
    pub item_version: String,
    /// Whether the version is yanked (hidden from resolution and listings).
    pub yanked: bool,
}

impl ItemUse {
    /// Reads the columns namespace, name, version, kind, item, item_version, yanked.
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            namespace: row.try_get("namespace")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            kind: row.try_get("kind")?,
            item: row.try_get("item")?,
            item_version: row.try_get("item_version")?,
            yanked: row.try_get::<i64, _>("yanked")? != 0,
        })
    }
}

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
    /// with `Conflict`, and records items and dependencies. In a namespace claimed
    /// before, `may_act` (the access rule, told whether the publisher owns it) decides
    /// whether the publish goes on.
    pub async fn insert_version(
        &self,
        v: &NewVersion<'_>,
        may_act: &(dyn Fn(bool) -> bool + Sync),
    ) -> Result<Inserted, DbError> {
        let mut tx = self.pool.begin().await?;
        let (claimed, owns) = Self::claim_in(&mut tx, v.namespace, v.published_by, v.now).await?;
        if !claimed && !may_act(owns) {
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

    /// Stores the package's latest version (highest non-yanked release, else highest
    /// non-yanked prerelease) and its description.
    async fn write_latest(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        namespace: &str,
        name: &str,
        versions: &[(String, bool, Option<String>)],
    ) -> Result<(), DbError> {
        let parsed = versions
            .iter()
            .filter(|(_, yanked, _)| !yanked)
            .filter_map(|(v, _, d)| semver::Version::parse(v).ok().map(|p| (p, v, d)));
        let latest =
            parsed.max_by(|a, b| (a.0.pre.is_empty(), &a.0).cmp(&(b.0.pre.is_empty(), &b.0)));
        let (latest, description) = match latest {
            Some((_, v, d)) => (Some(v.clone()), d.clone()),
            None => (None, None),
        };
        sqlx::query(
            "UPDATE packages SET latest = $3, description = COALESCE($4, description), \
             search_text = LOWER(namespace || ':' || name || ' ' || COALESCE($4, description, '')) \
             WHERE namespace = $1 AND name = $2",
        )
        .bind(namespace)
        .bind(name)
        .bind(latest)
        .bind(description)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Sets a version's yanked flag; false when there is no such version.
    pub async fn set_yanked(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
        yanked: bool,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE versions SET yanked = $4 WHERE namespace = $1 AND name = $2 AND version = $3",
        )
        .bind(namespace)
        .bind(name)
        .bind(version)
        .bind(i64::from(yanked))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if changed {
            let versions = Self::version_flags(&mut tx, namespace, name).await?;
            Self::write_latest(&mut tx, namespace, name, &versions).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// The package `namespace:name`.
    pub async fn package(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PackageRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM packages WHERE namespace = $1 AND name = $2"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(PackageRow::from_row).transpose()?)
    }

    /// Every version of a package, yanked ones too, unsorted.
    pub async fn versions(&self, namespace: &str, name: &str) -> Result<Vec<VersionRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS}, manifest_digest FROM versions WHERE namespace = $1 AND name = $2"
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
            "SELECT {VERSION_COLUMNS}, manifest_digest FROM versions WHERE namespace = $1 AND name = $2 AND version = $3"
        ))
        .bind(namespace)
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(VersionRow::from_row).transpose()?)
    }

    /// For each `(namespace, name, version)` of `wanted` that exists: its description
    /// and its exports, in one query. The caller bounds `wanted` (every `$n` is a bound
    /// parameter, and databases cap those in the tens of thousands).
    pub async fn versions_with_exports(
        &self,
        wanted: &[(String, String, String)],
    ) -> Result<VersionExports, DbError> {
        let mut found = VersionExports::new();
        if wanted.is_empty() {
            return Ok(found);
        }
        let matches: Vec<String> = (0..wanted.len())
            .map(|i| {
                format!(
                    "(v.namespace = ${} AND v.name = ${} AND v.version = ${})",
                    3 * i + 1,
                    3 * i + 2,
                    3 * i + 3
                )
            })
            .collect();
        let sql = format!(
            "SELECT v.namespace, v.name, v.version, v.description, \
                    i.item, i.item_package, i.item_version \
             FROM versions v LEFT JOIN version_items i \
               ON i.namespace = v.namespace AND i.name = v.name AND i.version = v.version \
              AND i.direction = 'export' \
             WHERE {} ORDER BY i.item",
            matches.join(" OR ")
        );
        let mut query = sqlx::query(&sql);
        for (namespace, name, version) in wanted {
            query = query.bind(namespace).bind(name).bind(version);
        }
        for row in query.fetch_all(&self.pool).await? {
            let key = (
                row.try_get("namespace")?,
                row.try_get("name")?,
                row.try_get("version")?,
            );
            let description: Option<String> = row.try_get("description")?;
            let entry = found
                .entry(key)
                .or_insert_with(|| (description, Vec::new()));
            if let Some(item) = row.try_get::<Option<String>, _>("item")? {
                entry.1.push(ItemRow {
                    direction: "export".into(),
                    item,
                    item_package: row.try_get("item_package")?,
                    item_version: row.try_get("item_version")?,
                });
            }
        }
        Ok(found)
    }

    /// The imports and exports of a version, by direction and name.
    pub async fn items(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<Vec<ItemRow>, DbError> {
        let rows = sqlx::query(
            "SELECT direction, item, item_package, item_version FROM version_items \
             WHERE namespace = $1 AND name = $2 AND version = $3 ORDER BY direction, item",
        )
        .bind(namespace)
        .bind(name)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ItemRow {
                    direction: r.try_get("direction")?,
                    item: r.try_get("item")?,
                    item_package: r.try_get("item_package")?,
                    item_version: r.try_get("item_version")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// The declared dependencies of a version: package and version (empty when none).
    pub async fn dependencies(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT dependency, dependency_version FROM version_dependencies \
             WHERE namespace = $1 AND name = $2 AND version = $3 ORDER BY dependency",
        )
        .bind(namespace)
        .bind(name)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("dependency")?, r.try_get("dependency_version")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Packages whose name or description contains `query` (case-insensitive),
    /// optionally of one kind, most recently updated first; with the total count.
    pub async fn search(
        &self,
        query: &str,
        kind: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<PackageRow>, i64), DbError> {
        let pattern = format!(
            "%{}%",
            query
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let filter =
            "search_text LIKE $1 ESCAPE '\\' AND ($2 = '' OR kind = $2) AND latest IS NOT NULL";
        // One scan: the window function counts every match while the page is cut.
        let rows = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS}, COUNT(*) OVER () AS total FROM packages WHERE {filter} \
             ORDER BY (LOWER(name) = $5) DESC, updated_at DESC, namespace, name LIMIT $3 OFFSET $4"
        ))
        .bind(&pattern)
        .bind(kind.unwrap_or(""))
        .bind(limit)
        .bind(offset)
        .bind(query.to_lowercase())
        .fetch_all(&self.pool)
        .await?;
        let total = match rows.first() {
            Some(row) => row.try_get("total")?,
            // A page past the end says nothing about the total; count it.
            None if offset > 0 => sqlx::query(&format!(
                "SELECT COUNT(*) AS n FROM packages WHERE {filter}"
            ))
            .bind(&pattern)
            .bind(kind.unwrap_or(""))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?,
            None => 0,
        };
        Ok((
            rows.iter()
                .map(PackageRow::from_row)
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Versions with an item in `direction` whose unversioned name is `item` (an
    /// interface such as `wharf:compression/codec`) or, with `by_package`, whose
    /// package is `item` (such as `wharf:compression`).
    pub async fn item_uses(
        &self,
        direction: &str,
        item: &str,
        by_package: bool,
    ) -> Result<Vec<ItemUse>, DbError> {
        let column = if by_package {
            "i.item_package"
        } else {
            "i.item"
        };
        let rows = sqlx::query(&format!(
            "SELECT i.namespace, i.name, i.version, p.kind, i.item, i.item_version, v.yanked \
             FROM version_items i \
             JOIN versions v ON v.namespace = i.namespace AND v.name = i.name AND v.version = i.version \
             JOIN packages p ON p.namespace = i.namespace AND p.name = i.name \
             WHERE i.direction = $1 AND {column} = $2 \
             ORDER BY i.namespace, i.name, i.version"
        ))
        .bind(direction)
        .bind(item)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(ItemUse::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Versions that declare a dependency on the package `dependency`, as item uses.
    pub async fn dependents_by_declaration(
        &self,
        dependency: &str,
    ) -> Result<Vec<ItemUse>, DbError> {
        let rows = sqlx::query(
            "SELECT d.namespace, d.name, d.version, p.kind, d.dependency AS item, d.dependency_version AS item_version, v.yanked \
             FROM version_dependencies d \
             JOIN versions v ON v.namespace = d.namespace AND v.name = d.name AND v.version = d.version \
             JOIN packages p ON p.namespace = d.namespace AND p.name = d.name \
             WHERE d.dependency = $1 ORDER BY d.namespace, d.name, d.version",
        )
        .bind(dependency)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(ItemUse::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The packages of a namespace, by name.
    pub async fn packages_in(&self, namespace: &str) -> Result<Vec<PackageRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM packages WHERE namespace = $1 ORDER BY name"
        ))
        .bind(namespace)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(PackageRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// How many packages and versions there are.
    pub async fn counts(&self) -> Result<(i64, i64), DbError> {
        let packages: i64 = sqlx::query("SELECT COUNT(*) AS n FROM packages")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let versions: i64 = sqlx::query("SELECT COUNT(*) AS n FROM versions")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok((packages, versions))
    }
}
