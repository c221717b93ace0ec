//! What the registry says about packages: a version's detail, a package's versions,
//! resolving a semver requirement, and which components implement or depend on an
//! interface. Read-only; the pages people browse are in [`browse`](super::browse).

use std::collections::BTreeMap;

use semver::{Version, VersionReq};
use serde_json::json;
use wharf_types::{Digest, PackageName};

use super::{ServiceError, unknown_package};
use crate::AppState;
use crate::repo::{ItemRow, VersionRow};
use crate::views;

/// A semver requirement, or `400 REQUIREMENT_INVALID`.
pub fn requirement(text: &str) -> Result<VersionReq, ServiceError> {
    VersionReq::parse(text).map_err(|e| {
        ServiceError::bad_request(
            "REQUIREMENT_INVALID",
            format!("`{text}` is not a semver requirement: {e}"),
        )
    })
}

impl AppState {
    /// The error for a missing version: the package may be missing too.
    pub async fn missing_version(&self, name: &PackageName, version: &str) -> ServiceError {
        match self.db.package(name.namespace(), name.name()).await {
            Ok(Some(_)) => ServiceError::not_found(
                "VERSION_UNKNOWN",
                format!("{name} has no version {version}"),
            ),
            Ok(None) => unknown_package(name),
            Err(e) => e.into(),
        }
    }

    /// One version, as the API shows it: WIT, imports, exports, dependencies.
    pub async fn version_detail(
        &self,
        name: &PackageName,
        version: &str,
    ) -> Result<views::VersionDetail, ServiceError> {
        let row = self.existing_version(name, version).await?;
        let package = self
            .db
            .package(name.namespace(), name.name())
            .await?
            .ok_or_else(|| unknown_package(name))?;
        let items = self
            .db
            .items(name.namespace(), name.name(), version)
            .await?;
        let dependencies = self
            .db
            .dependencies(name.namespace(), name.name(), version)
            .await?;
        let targets = self.targets(&package.kind, &row.digest, &items).await?;
        let log = self.version_log(row.log_index).await?;
        let (signatures, referrers) = self.version_signatures(name, &row).await?;
        Ok(views::VersionDetail {
            name: name.to_string(),
            kind: package.kind,
            version: row.version,
            digest: row.digest,
            size: row.size,
            yanked: row.yanked,
            published_by: row.published_by,
            published_at: row.published_at,
            description: row.description,
            license: row.license,
            source: row.source,
            producers: serde_json::from_str(&row.producers).unwrap_or_default(),
            wit: row.wit,
            imports: items
                .iter()
                .filter(|i| i.direction == "import")
                .map(item_view)
                .collect(),
            exports: items
                .iter()
                .filter(|i| i.direction == "export")
                .map(item_view)
                .collect(),
            dependencies: dependencies
                .into_iter()
                .map(|(n, v)| views::Dependency {
                    name: n,
                    version: (!v.is_empty()).then_some(v),
                })
                .collect(),
            targets,
            log,
            signatures: signatures.into_iter().map(|s| s.info).collect(),
            referrers,
        })
    }

    /// The versions of a package that exists, as the API lists them, highest first;
    /// yanked ones only when asked. `404 PACKAGE_UNKNOWN` when there is no such
    /// package.
    pub async fn package_versions(
        &self,
        name: &PackageName,
        include_yanked: bool,
    ) -> Result<Vec<views::VersionSummary>, ServiceError> {
        self.db
            .package(name.namespace(), name.name())
            .await?
            .ok_or_else(|| unknown_package(name))?;
        let versions = self.sorted_versions(name, include_yanked).await?;
        Ok(versions.iter().map(Into::into).collect())
    }

    /// The digest of a version's bytes (yanked versions too); `404 VERSION_UNKNOWN`
    /// or `PACKAGE_UNKNOWN` when there is none.
    pub async fn version_digest(
        &self,
        name: &PackageName,
        version: &str,
    ) -> Result<Digest, ServiceError> {
        let row = self.existing_version(name, version).await?;
        row.digest.parse().map_err(ServiceError::internal)
    }

    /// A version's row, or why there is none ([`AppState::missing_version`]).
    pub(super) async fn existing_version(
        &self,
        name: &PackageName,
        version: &str,
    ) -> Result<VersionRow, ServiceError> {
        match self
            .db
            .version(name.namespace(), name.name(), version)
            .await?
        {
            Some(row) => Ok(row),
            None => Err(self.missing_version(name, version).await),
        }
    }

    /// Versions of a package, highest first; yanked ones only when asked.
    pub async fn sorted_versions(
        &self,
        name: &PackageName,
        include_yanked: bool,
    ) -> Result<Vec<VersionRow>, ServiceError> {
        let mut versions: Vec<(Version, VersionRow)> = self
            .db
            .versions(name.namespace(), name.name())
            .await?
            .into_iter()
            .filter(|v| include_yanked || !v.yanked)
            .filter_map(|v| Version::parse(&v.version).ok().map(|p| (p, v)))
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(versions.into_iter().map(|(_, v)| v).collect())
    }

    /// The highest non-yanked version matching `req`; prereleases only when the
    /// requirement names one (Cargo's rule, as the semver crate implements it).
    pub async fn resolve(
        &self,
        name: &PackageName,
        req_text: &str,
    ) -> Result<views::Resolved, ServiceError> {
        let req = requirement(req_text)?;
        let package = self
            .db
            .package(name.namespace(), name.name())
            .await?
            .ok_or_else(|| unknown_package(name))?;
        let versions = self.sorted_versions(name, false).await?;
        let chosen = versions
            .iter()
            .find(|v| Version::parse(&v.version).is_ok_and(|p| req.matches(&p)));
        match chosen {
            Some(v) => Ok(views::Resolved {
                name: name.to_string(),
                requirement: req_text.to_owned(),
                version: v.version.clone(),
                digest: v.digest.clone(),
                size: v.size,
                kind: package.kind,
            }),
            None => {
                let available: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
                Err(ServiceError::not_found(
                    "NO_MATCHING_VERSION",
                    format!(
                        "no version of {name} matches `{req_text}`; available: {}",
                        if available.is_empty() {
                            "none".to_owned()
                        } else {
                            available.join(", ")
                        }
                    ),
                )
                .with_detail(json!({ "requirement": req_text, "available": available })))
            }
        }
    }

    /// Components that export `interface` (`ns:pkg/iface`, optionally `@range`, or a
    /// whole package `ns:pkg[@range]`) at a version the range accepts, each at its
    /// highest such non-yanked version.
    pub async fn implementors(
        &self,
        interface: &str,
    ) -> Result<Vec<views::PackageUse>, ServiceError> {
        let (item, req) = interface_query(interface)?;
        let by_package = !item.contains('/');
        let uses = self.db.item_uses("export", &item, by_package).await?;
        Ok(group_uses(
            uses.into_iter().filter(|u| u.kind == "component"),
            &req,
        ))
    }

    /// Packages whose versions import `target` (an interface or package, as for
    /// implementors) or declare a dependency on the package.
    pub async fn dependents(&self, target: &str) -> Result<Vec<views::PackageUse>, ServiceError> {
        let (item, req) = interface_query(target)?;
        let by_package = !item.contains('/');
        let mut uses = self.db.item_uses("import", &item, by_package).await?;
        if by_package {
            let declared = self.db.dependents_by_declaration(&item).await?;
            uses.extend(
                declared
                    .into_iter()
                    .filter(|u| format!("{}:{}", u.namespace, u.name) != item),
            );
        }
        Ok(group_uses(uses.into_iter(), &req))
    }
}

/// Splits `ns:pkg/iface@range` into the unversioned item and the range (any when absent).
fn interface_query(text: &str) -> Result<(String, VersionReq), ServiceError> {
    let (item, range) = match text.split_once('@') {
        Some((i, r)) => (i, requirement(r)?),
        None => (text, VersionReq::STAR),
    };
    let (package, iface) = match item.split_once('/') {
        Some((p, i)) => (p, Some(i)),
        None => (item, None),
    };
    let valid = package.parse::<PackageName>().is_ok()
        && iface.is_none_or(|i| wharf_types::check_part(i).is_ok());
    if !valid {
        return Err(ServiceError::bad_request(
            "INTERFACE_INVALID",
            format!(
                "`{text}` is not an interface such as `wharf:compression/codec@1` or a package such as `wharf:compression`"
            ),
        ));
    }
    Ok((item.to_owned(), range))
}

/// One entry per package, at its highest non-yanked version with a matching item.
fn group_uses(
    uses: impl Iterator<Item = crate::repo::ItemUse>,
    req: &VersionReq,
) -> Vec<views::PackageUse> {
    let mut best: BTreeMap<String, (Version, views::PackageUse)> = BTreeMap::new();
    for u in uses {
        if u.yanked {
            continue;
        }
        let item_ok = u.item_version.is_empty() && *req == VersionReq::STAR
            || Version::parse(&u.item_version).is_ok_and(|v| req.matches(&v));
        let Ok(version) = Version::parse(&u.version) else {
            continue;
        };
        if !item_ok {
            continue;
        }
        let key = format!("{}:{}", u.namespace, u.name);
        let label = if u.item_version.is_empty() {
            u.item.clone()
        } else {
            format!("{}@{}", u.item, u.item_version)
        };
        match best.get_mut(&key) {
            Some((v, entry)) if *v == version => {
                if !entry.items.contains(&label) {
                    entry.items.push(label);
                }
            }
            Some((v, _)) if *v > version => {}
            _ => {
                let entry = views::PackageUse {
                    name: key.clone(),
                    kind: u.kind.clone(),
                    version: u.version.clone(),
                    items: vec![label],
                };
                best.insert(key, (version, entry));
            }
        }
    }
    best.into_values().map(|(_, e)| e).collect()
}

/// An import or export as the views show it: `item@version`, its package and version.
pub fn item_view(i: &ItemRow) -> views::Item {
    views::Item {
        name: if i.item_version.is_empty() {
            i.item.clone()
        } else {
            format!("{}@{}", i.item, i.item_version)
        },
        package: (!i.item_package.is_empty()).then(|| i.item_package.clone()),
        version: (!i.item_version.is_empty()).then(|| i.item_version.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_queries_take_an_optional_range() {
        let (item, req) = interface_query("wharf:compression/codec@1").unwrap();
        assert_eq!(item, "wharf:compression/codec");
        assert!(req.matches(&Version::new(1, 1, 0)) && !req.matches(&Version::new(2, 0, 0)));
        assert!(interface_query("wharf:compression").is_ok());
        assert!(interface_query("codec").is_err());
        assert!(interface_query("wharf:compression/codec@one").is_err());
    }
}
