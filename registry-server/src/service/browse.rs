//! Services for reading the registry as a person browses it (the web pages and the
//! read side of the JSON API): search, the home page's overview, a package with its
//! versions, a namespace, the API diff of two versions and a deployable's composition.
//! Like `service`, these call repositories and storage, never the reverse.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use wharf_types::{Digest, PackageName};

use crate::AppState;
use crate::analysis::compat::{self, Change};
use crate::analysis::provenance::{self, Constituent, Provenance};
use crate::service::ServiceError;
use crate::service::{package_name, same_track, unknown_package};
use crate::views;

/// What the home page shows.
#[derive(Debug)]
pub struct Overview {
    /// How many packages there are.
    pub packages: i64,
    /// How many versions there are.
    pub versions: i64,
    /// Most recently published first.
    pub recent: Vec<views::PackageSummary>,
}

/// The API difference between two versions of a package.
#[derive(Debug)]
pub struct VersionDiff {
    /// The package.
    pub name: PackageName,
    /// `wit` or `component`.
    pub kind: String,
    /// The older version.
    pub from: views::VersionDetail,
    /// The newer version.
    pub to: views::VersionDetail,
    /// Removed or changed items: a consumer of `from` may break on `to`.
    pub breaking: Vec<Change>,
    /// New items: compatible.
    pub added: Vec<Change>,
    /// Whether the two are on one compatibility track (so breaking changes are a
    /// semver violation rather than a new major version).
    pub same_track: bool,
}

/// One component of a deployable, with what the registry knows of it.
#[derive(Debug)]
pub struct Part {
    /// The part, as the provenance lists it.
    pub constituent: Constituent,
    /// Whether the registry holds this exact version.
    pub known: bool,
    /// The description of its version, when the registry has it.
    pub description: Option<String>,
    /// The exports with which it fills its parent's import, e.g.
    /// `wharf:compression/codec@1.1.0`; empty for the root or when unknown.
    pub fills: Vec<String>,
}

/// A composed deployable: its provenance and each part.
#[derive(Debug)]
pub struct Deployable {
    /// The provenance the deployable carries.
    pub provenance: Provenance,
    /// In provenance order: root first.
    pub parts: Vec<Part>,
}

impl AppState {
    /// Packages matching `q` in name or description, optionally of one `kind`, (for
    /// `implements`) exporting an interface and (for `runs_on`, a target's name) whose
    /// latest version runs on a target; a page of them and the total.
    pub async fn search(
        &self,
        q: &str,
        kind: Option<&str>,
        implements: Option<&str>,
        runs_on: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> Result<views::SearchResults, ServiceError> {
        if page < 1 || !(1..=100).contains(&per_page) {
            return Err(ServiceError::bad_request(
                "PAGINATION_INVALID",
                "`page` starts at 1 and `per_page` is 1 to 100",
            ));
        }
        // How many results come before the page; a page past any possible result
        // count would overflow it.
        let skip = (page - 1).checked_mul(per_page).ok_or_else(|| {
            ServiceError::bad_request(
                "PAGINATION_INVALID",
                format!("`page` {page} is too large for `per_page` {per_page}"),
            )
        })?;
        let kind = match kind {
            None | Some("") => None,
            Some(k @ ("wit" | "component")) => Some(k),
            Some(other) => {
                return Err(ServiceError::bad_request(
                    "KIND_INVALID",
                    format!("kind `{other}` is neither `wit` nor `component`"),
                ));
            }
        };
        let target = match runs_on.filter(|s| !s.is_empty()) {
            Some(name) => Some(crate::service::runs_on(name)?),
            None => None,
        };
        // Each filter beside the text is the set of packages it lets through.
        let mut only: Option<BTreeSet<String>> = None;
        if let Some(interface) = implements.filter(|s| !s.is_empty()) {
            let implementors = self.implementors(interface).await?;
            only = Some(implementors.into_iter().map(|u| u.name).collect());
        }
        if let Some(target) = target {
            let running = self.running_on(target).await?;
            only = Some(match only {
                Some(only) => only.intersection(&running).cloned().collect(),
                None => running,
            });
        }
        let (packages, total) = match only {
            None => self.db.search(q, kind, per_page, skip).await?,
            Some(only) => {
                let (all, _) = self.db.search(q, kind, i64::MAX / 4, 0).await?;
                let matching: Vec<_> = all
                    .into_iter()
                    .filter(|p| only.contains(&format!("{}:{}", p.namespace, p.name)))
                    .collect();
                let total = matching.len() as i64;
                let page = matching
                    .into_iter()
                    .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                    .take(per_page as usize)
                    .collect();
                (page, total)
            }
        };
        Ok(views::SearchResults {
            packages: packages.iter().map(Into::into).collect(),
            total,
            page,
            per_page,
        })
    }

    /// Counts and the most recently published packages.
    pub async fn overview(&self, recent: i64) -> Result<Overview, ServiceError> {
        let (packages, versions) = self.db.counts().await?;
        let (rows, _) = self.db.search("", None, recent, 0).await?;
        Ok(Overview {
            packages,
            versions,
            recent: rows.iter().map(Into::into).collect(),
        })
    }

    /// A package and its versions, highest first (yanked ones when asked).
    pub async fn package_detail(
        &self,
        name: &PackageName,
        include_yanked: bool,
    ) -> Result<views::PackageDetail, ServiceError> {
        let row = self
            .db
            .package(name.namespace(), name.name())
            .await?
            .ok_or_else(|| unknown_package(name))?;
        let versions = self.sorted_versions(name, include_yanked).await?;
        Ok(views::PackageDetail {
            package: (&row).into(),
            created_at: row.created_at,
            versions: versions.iter().map(Into::into).collect(),
        })
    }

    /// A namespace's owners and packages; `NAMESPACE_UNKNOWN` when nobody published there.
    pub async fn namespace(&self, namespace: &str) -> Result<views::Namespace, ServiceError> {
        super::namespace_name(namespace)?;
        if !self.db.namespace_exists(namespace).await? {
            return Err(ServiceError::not_found(
                "NAMESPACE_UNKNOWN",
                format!("there is no namespace `{namespace}`"),
            ));
        }
        let owners = self.db.owners(namespace).await?;
        let packages = self.db.packages_in(namespace).await?;
        Ok(views::Namespace {
            name: namespace.to_owned(),
            owners,
            packages: packages.iter().map(Into::into).collect(),
        })
    }

    /// Which of `names` (`ns:name`) the registry holds.
    pub async fn existing_packages(
        &self,
        names: impl IntoIterator<Item = String>,
    ) -> Result<BTreeSet<String>, ServiceError> {
        let mut found = BTreeSet::new();
        for name in names.into_iter().collect::<BTreeSet<_>>() {
            let Some((ns, n)) = name.split_once(':') else {
                continue;
            };
            if package_name(ns, n).is_ok() && self.db.package(ns, n).await?.is_some() {
                found.insert(name);
            }
        }
        Ok(found)
    }

    /// What changed from `from` to `to`: for WIT packages every interface, function,
    /// type and world item (as the publish-time semver check compares them); for
    /// components their imports and exports.
    pub async fn diff(
        &self,
        name: &PackageName,
        from: &str,
        to: &str,
    ) -> Result<VersionDiff, ServiceError> {
        let (old, new) = (
            self.version_detail(name, from).await?,
            self.version_detail(name, to).await?,
        );
        let (breaking, added) = if old.kind == "wit" {
            let decode = |detail: &views::VersionDetail| {
                let digest = detail.digest.clone();
                async move {
                    let digest: Digest = digest.parse().map_err(ServiceError::internal)?;
                    let bytes = self.blob_bytes(&digest).await?.ok_or_else(|| {
                        ServiceError::internal(format!("blob {digest} is missing"))
                    })?;
                    Ok::<_, ServiceError>(bytes)
                }
            };
            let (old_bytes, new_bytes) = (decode(&old).await?, decode(&new).await?);
            crate::cpu(move || {
                let decode = |bytes: &[u8]| {
                    compat::decode_wit(bytes).ok_or_else(|| {
                        ServiceError::internal("a stored WIT package does not decode")
                    })
                };
                let (old_resolve, old_pkg) = decode(&old_bytes)?;
                let (new_resolve, new_pkg) = decode(&new_bytes)?;
                Ok::<_, ServiceError>((
                    compat::breaking_changes(&old_resolve, old_pkg, &new_resolve, new_pkg),
                    compat::added_items(&old_resolve, old_pkg, &new_resolve, new_pkg),
                ))
            })
            .await?
        } else {
            component_changes(&old, &new)
        };
        let parse = |v: &str| Version::parse(v).map_err(ServiceError::internal);
        Ok(VersionDiff {
            name: name.clone(),
            kind: old.kind.clone(),
            same_track: same_track(&parse(&old.version)?, &parse(&new.version)?),
            from: old,
            to: new,
            breaking,
            added,
        })
    }

    /// The composition of a deployable (a component with a provenance section); None
    /// for anything else.
    pub async fn deployable(
        &self,
        name: &PackageName,
        version: &str,
    ) -> Result<Option<Deployable>, ServiceError> {
        let detail = self.version_detail(name, version).await?;
        if detail.kind != "component" {
            return Ok(None);
        }
        let digest: Digest = detail.digest.parse().map_err(ServiceError::internal)?;
        let bytes = self
            .blob_bytes(&digest)
            .await?
            .ok_or_else(|| ServiceError::internal(format!("blob {digest} is missing")))?;
        let Some(provenance) = crate::cpu(move || provenance::read(&bytes)).await else {
            return Ok(None);
        };
        // Every constituent's version, looked up together: a query per
        // MAX_CONSTITUENTS (the publish cap, so one for anything published since),
        // never one per part.
        let wanted: Vec<(String, String, String)> = provenance
            .constituents
            .iter()
            .filter_map(registry_version)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut found = crate::repo::VersionExports::new();
        for batch in wanted.chunks(provenance::MAX_CONSTITUENTS) {
            found.extend(self.db.versions_with_exports(batch).await?);
        }
        let mut parts = Vec::new();
        for c in &provenance.constituents {
            let version = registry_version(c).and_then(|k| found.get(&k));
            let fills = match (version, c.plugs_into()) {
                (Some((_, exports)), Some(key)) => exports
                    .iter()
                    .map(crate::service::item_view)
                    .filter(|e| {
                        let unversioned = e.name.split('@').next().unwrap_or_default();
                        unversioned == key || e.package.as_deref() == Some(key.as_str())
                    })
                    .map(|e| e.name)
                    .collect(),
                _ => Vec::new(),
            };
            parts.push(Part {
                constituent: c.clone(),
                known: version.is_some(),
                description: version.and_then(|(description, _)| description.clone()),
                fills,
            });
        }
        Ok(Some(Deployable { provenance, parts }))
    }
}

/// The registry version a constituent came from, as `(namespace, name, version)`;
/// None for path and URL sources.
fn registry_version(c: &Constituent) -> Option<(String, String, String)> {
    let package = c.package.as_deref()?.parse::<PackageName>().ok()?;
    Some((
        package.namespace().to_owned(),
        package.name().to_owned(),
        c.version.clone()?,
    ))
}

/// A component's interface changes: losing an export, or needing a new import, breaks
/// whoever composed the older version; a new export or a dropped import does not.
/// Interfaces are compared by name; a version that moves to another compatibility
/// track is a change.
fn component_changes(
    old: &views::VersionDetail,
    new: &views::VersionDetail,
) -> (Vec<Change>, Vec<Change>) {
    let (mut breaking, mut added) = (Vec::new(), Vec::new());
    let by_name = |items: &[views::Item]| -> BTreeMap<String, String> {
        items
            .iter()
            .map(|i| {
                let (name, version) = i.name.split_once('@').unwrap_or((&i.name, ""));
                (name.to_owned(), version.to_owned())
            })
            .collect()
    };
    let compatible = |a: &str, b: &str| match (Version::parse(a), Version::parse(b)) {
        (Ok(a), Ok(b)) => same_track(&a, &b),
        _ => a == b,
    };
    let change = |item: String, change: &str, before: &str, after: Option<&str>| Change {
        item,
        change: change.into(),
        before: before.to_owned(),
        after: after.map(str::to_owned),
    };
    for (direction, old_items, new_items, lost_breaks) in [
        ("export", by_name(&old.exports), by_name(&new.exports), true),
        (
            "import",
            by_name(&old.imports),
            by_name(&new.imports),
            false,
        ),
    ] {
        for (name, before) in &old_items {
            let item = format!("{direction} {name}");
            match new_items.get(name) {
                None if lost_breaks => breaking.push(change(item, "removed", before, None)),
                None => {}
                Some(after) if !compatible(before, after) => {
                    breaking.push(change(item, "changed", before, Some(after)))
                }
                Some(_) => {}
            }
        }
        for (name, after) in &new_items {
            if !old_items.contains_key(name) {
                let item = format!("{direction} {name}");
                let entry = change(item, "added", "", Some(after));
                if lost_breaks {
                    added.push(entry);
                } else {
                    breaking.push(entry);
                }
            }
        }
    }
    (breaking, added)
}
