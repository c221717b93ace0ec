//! SQL of the `packages` table: a package's row, its `latest` version (written
//! whenever its versions change), search, and counts.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError};

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

impl Db {
    /// Stores the package's latest version (highest non-yanked release, else highest
    /// non-yanked prerelease) and its description.
    pub(super) async fn write_latest(
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
