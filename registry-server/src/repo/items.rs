//! SQL of what versions import, export and depend on (`version_items`,
//! `version_dependencies`): a version's items, the latest components' items, and
//! which versions use an interface or a package.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError};

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

impl ItemRow {
    /// Reads the columns direction, item, item_package, item_version.
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            direction: row.try_get("direction")?,
            item: row.try_get("item")?,
            item_package: row.try_get("item_package")?,
            item_version: row.try_get("item_version")?,
        })
    }
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

impl Db {
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
            .map(ItemRow::from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// The imports and exports of every component package's latest version, as
    /// `(namespace:name, item)`, in one query.
    pub async fn latest_component_items(&self) -> Result<Vec<(String, ItemRow)>, DbError> {
        let rows = sqlx::query(
            "SELECT i.namespace, i.name, i.direction, i.item, i.item_package, i.item_version \
             FROM packages p JOIN version_items i \
               ON i.namespace = p.namespace AND i.name = p.name AND i.version = p.latest \
             WHERE p.kind = 'component' ORDER BY i.namespace, i.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let (namespace, name): (String, String) =
                    (r.try_get("namespace")?, r.try_get("name")?);
                Ok((format!("{namespace}:{name}"), ItemRow::from_row(r)?))
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
}
