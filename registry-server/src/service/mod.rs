//! Business rules: what may be published, who may do what, and how requirements
//! resolve. Services call repositories (SQL), storage (blobs) and analysis, never
//! the routes above them: they speak [`ServiceError`], which `http` turns into
//! answers.

pub mod access;
pub mod browse;
mod error;
pub mod fsck;
pub mod gc;
pub mod tokens;
pub mod uploads;

pub use error::{ErrorKind, ServiceError};

use std::collections::BTreeMap;

use bytes::Bytes;
use semver::{Version, VersionReq};
use serde_json::json;
use wharf_types::{Digest, PackageName};

use crate::AppState;
use crate::analysis::{self, Kind};
use crate::compat;
use crate::repo::{Inserted, ItemRow, ManifestRow, NewManifest, NewVersion, VersionRow};
use crate::views;
use access::{Principal, Scope, Unclaimed};

/// Owner and user names: what token owners are called.
pub fn check_user(user: &str) -> Result<(), ServiceError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && user.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "USER_INVALID",
            format!("`{user}` is not a user name: lowercase letters, digits, `-`, `_`, `.`"),
        ))
    }
}

pub fn package_name(namespace: &str, name: &str) -> Result<PackageName, ServiceError> {
    PackageName::new(namespace, name)
        .map_err(|e| ServiceError::bad_request("NAME_INVALID", e.to_string()))
}

/// The longest version: an OCI tag's limit, so that every version is reachable over OCI.
pub const MAX_VERSION_CHARS: usize = 128;

/// A version as the registry accepts it: strict semver without build metadata (which
/// would make two versions equal in precedence but different in name), at most
/// [`MAX_VERSION_CHARS`] long.
pub fn version(text: &str) -> Result<Version, ServiceError> {
    if text.len() > MAX_VERSION_CHARS {
        let start: String = text.chars().take(32).collect();
        return Err(ServiceError::bad_request(
            "VERSION_INVALID",
            format!(
                "`version` `{start}…` has {} characters; a version has at most {MAX_VERSION_CHARS} (the longest OCI tag)",
                text.len()
            ),
        ));
    }
    let v = Version::parse(text).map_err(|e| {
        ServiceError::bad_request(
            "VERSION_INVALID",
            format!("`{text}` is not a semver version: {e}"),
        )
    })?;
    if !v.build.is_empty() {
        return Err(ServiceError::bad_request(
            "VERSION_INVALID",
            format!("`{text}`: build metadata is not allowed in versions"),
        ));
    }
    Ok(v)
}

pub fn requirement(text: &str) -> Result<VersionReq, ServiceError> {
    VersionReq::parse(text).map_err(|e| {
        ServiceError::bad_request(
            "REQUIREMENT_INVALID",
            format!("`{text}` is not a semver requirement: {e}"),
        )
    })
}

/// Whether `a` and `b` are on the same compatibility track, as Cargo sees it: same
/// major from 1.0, same minor in 0.x, and only themselves in 0.0.x.
pub fn same_track(a: &Version, b: &Version) -> bool {
    match (a.major, b.major) {
        (0, 0) => a.minor == b.minor && (a.minor != 0 || a.patch == b.patch),
        (x, y) => x == y,
    }
}

impl AppState {
    /// Whether `principal` may publish `version_text` of `name`: a valid version, the
    /// `publish` scope, ownership of the namespace once someone claimed it (an admin
    /// of it needs none), and a version not taken yet. Routes ask before they read a
    /// byte of the body; [`AppState::publish`] asks again (and the insert decides
    /// races).
    pub async fn may_publish(
        &self,
        principal: &Principal,
        name: &PackageName,
        version_text: &str,
    ) -> Result<Version, ServiceError> {
        let version = version(version_text)?;
        self.authorize(
            principal,
            Scope::Publish,
            name.namespace(),
            Unclaimed::ClaimOnWrite,
        )
        .await?;
        if self
            .db
            .version(name.namespace(), name.name(), version_text)
            .await?
            .is_some()
        {
            return Err(exists(name, version_text));
        }
        Ok(version)
    }

    pub async fn publish(
        &self,
        principal: &Principal,
        name: &PackageName,
        version_text: &str,
        body: Bytes,
        pushed: Option<NewManifest>,
    ) -> Result<views::Published, ServiceError> {
        let version = self.may_publish(principal, name, version_text).await?;

        let analyzed = body.clone();
        let found = crate::cpu(move || analysis::analyze(&analyzed))
            .await
            .map_err(|e| ServiceError::bad_request("PACKAGE_INVALID", e.to_string()))?;
        if found.kind == Kind::Component {
            let read = body.clone();
            if let Some(provenance) = crate::cpu(move || crate::provenance::read(&read)).await {
                let parts = provenance.constituents.len();
                if parts > crate::provenance::MAX_CONSTITUENTS {
                    return Err(ServiceError::bad_request(
                        "PROVENANCE_INVALID",
                        format!(
                            "the `wharf:provenance` section lists {parts} `constituents`; \
                             at most {} are accepted",
                            crate::provenance::MAX_CONSTITUENTS
                        ),
                    ));
                }
            }
        }
        if found.kind == Kind::Wit {
            let embedded = found.embedded_name.as_deref().unwrap_or_default();
            if embedded != name.to_string() {
                return Err(ServiceError::bad_request(
                    "NAME_MISMATCH",
                    format!("the WIT package is `{embedded}` but was published as `{name}`"),
                ));
            }
            match &found.embedded_version {
                Some(v) if *v == version => {}
                other => {
                    let said = other
                        .as_ref()
                        .map_or("no version".into(), |v| v.to_string());
                    return Err(ServiceError::bad_request(
                        "VERSION_MISMATCH",
                        format!("the WIT package says {said} but was published as {version}"),
                    ));
                }
            }
            self.check_semver(name, &version, body.clone()).await?;
        }

        let digest = self.store_blob(body.clone(), None).await?;
        let now = crate::now_ms();
        // The OCI view: the manifest an OCI client pushed, or one made for this version.
        let manifest = match pushed {
            Some(manifest) => manifest,
            None => {
                let (config, manifest) = crate::artifact::synthesize(
                    name,
                    version_text,
                    &found,
                    &digest,
                    body.len(),
                    now,
                );
                let config_digest = self.store_blob(config, None).await?;
                let manifest_size = manifest.len() as i64;
                let manifest_digest = self.store_blob(manifest, None).await?;
                let blobs = vec![config_digest.to_string(), digest.to_string()];
                NewManifest {
                    row: ManifestRow {
                        repository: format!("{}/{}", name.namespace(), name.name()),
                        digest: manifest_digest.to_string(),
                        media_type: crate::artifact::OCI_MANIFEST.into(),
                        artifact_type: Some(crate::artifact::WASM_CONFIG.into()),
                        subject: None,
                        annotations: None,
                        size: manifest_size,
                    },
                    references: blobs.clone(),
                    links: blobs,
                    tag: Some(version_text.to_owned()),
                }
            }
        };
        let mut items: Vec<ItemRow> = Vec::new();
        for (direction, list) in [("import", &found.imports), ("export", &found.exports)] {
            for item in list {
                items.push(ItemRow {
                    direction: direction.into(),
                    item: item.item.clone(),
                    item_package: item.package.clone(),
                    item_version: item
                        .version
                        .as_ref()
                        .map(Version::to_string)
                        .unwrap_or_default(),
                });
            }
        }
        let producers = serde_json::to_string(&producers_json(&found.producers)).expect("JSON");
        let new = NewVersion {
            namespace: name.namespace(),
            name: name.name(),
            kind: found.kind.as_str(),
            version: version_text,
            digest: &digest.to_string(),
            size: body.len() as i64,
            wit: &found.wit,
            description: found.description.as_deref(),
            license: found.license.as_deref(),
            source: found.source.as_deref(),
            producers: &producers,
            published_by: &principal.user,
            now,
            items,
            dependencies: found
                .dependencies
                .iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        v.as_ref().map(Version::to_string).unwrap_or_default(),
                    )
                })
                .collect(),
            manifest,
        };
        match self
            .db
            .insert_version(&new, &|is_owner| {
                access::may_act(principal, name.namespace(), is_owner)
            })
            .await
        {
            Ok(Inserted::Done { .. }) => {}
            Ok(Inserted::NotOwner) => return Err(access::not_owner(principal, name.namespace())),
            Ok(Inserted::KindMismatch { existing }) => {
                return Err(ServiceError::conflict(
                    "KIND_MISMATCH",
                    format!(
                        "`{name}` is a {existing} package; this is a {}",
                        found.kind.as_str()
                    ),
                ));
            }
            Err(crate::repo::DbError::Conflict) => return Err(exists(name, version_text)),
            Err(crate::repo::DbError::BlobGone(digest)) => {
                // Collected between lease and commit: only if the writer outlived the
                // grace period. The client may simply retry.
                return Err(ServiceError::new(
                    ErrorKind::Unavailable,
                    "BLOB_COLLECTED",
                    format!("blob {digest} was garbage-collected during the publish; retry"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.metrics
            .publishes
            .with_label_values(&[found.kind.as_str()])
            .inc();
        Ok(views::Published {
            name: name.to_string(),
            version: version_text.to_owned(),
            kind: found.kind.as_str().into(),
            digest: digest.to_string(),
            size: body.len() as i64,
        })
    }

    /// Refuses a WIT package that breaks the API of the highest lower version on its
    /// compatibility track.
    async fn check_semver(
        &self,
        name: &PackageName,
        version: &Version,
        bytes: Bytes,
    ) -> Result<(), ServiceError> {
        let versions = self.db.versions(name.namespace(), name.name()).await?;
        let previous = versions
            .iter()
            .filter_map(|v| Version::parse(&v.version).ok().map(|p| (p, v)))
            .filter(|(p, _)| p < version && same_track(p, version))
            .max_by(|a, b| a.0.cmp(&b.0));
        let Some((previous, row)) = previous else {
            return Ok(());
        };
        let digest: Digest = row.digest.parse().map_err(ServiceError::internal)?;
        let old = self
            .blobs
            .read(&digest, 0, None)
            .await?
            .ok_or_else(|| ServiceError::internal(format!("blob {digest} is missing")))?;
        let changes = crate::cpu(move || {
            let (old_resolve, old_pkg) = compat::decode_wit(&old)
                .ok_or_else(|| ServiceError::internal("a stored WIT package does not decode"))?;
            let (new_resolve, new_pkg) = compat::decode_wit(&bytes)
                .ok_or_else(|| ServiceError::internal("the WIT package does not decode"))?;
            Ok::<_, ServiceError>(compat::breaking_changes(
                &old_resolve,
                old_pkg,
                &new_resolve,
                new_pkg,
            ))
        })
        .await?;
        if changes.is_empty() {
            return Ok(());
        }
        let summary: Vec<String> = changes
            .iter()
            .map(|c| format!("{} {}", c.item, c.change))
            .collect();
        Err(ServiceError::new(
            ErrorKind::Unprocessable,
            "SEMVER_INCOMPATIBLE",
            format!(
                "{name}@{version} is not backward compatible with {previous}: {}; publish it as a new major version",
                summary.join("; ")
            ),
        )
        .with_detail(serde_json::to_value(views::Incompatible { previous: previous.to_string(), changes }).expect("JSON")))
    }

    pub async fn yank(
        &self,
        principal: &Principal,
        name: &PackageName,
        version: &str,
        yanked: bool,
    ) -> Result<(), ServiceError> {
        self.authorize(principal, Scope::Yank, name.namespace(), Unclaimed::Refuse)
            .await?;
        if !self
            .db
            .set_yanked(name.namespace(), name.name(), version, yanked)
            .await?
        {
            return Err(self.missing_version(name, version).await);
        }
        Ok(())
    }

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

    pub async fn version_detail(
        &self,
        name: &PackageName,
        version: &str,
    ) -> Result<views::VersionDetail, ServiceError> {
        let Some(row) = self
            .db
            .version(name.namespace(), name.name(), version)
            .await?
        else {
            return Err(self.missing_version(name, version).await);
        };
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
        })
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

fn producers_json(producers: &[(String, Vec<(String, String)>)]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = producers
        .iter()
        .map(|(field, values)| {
            (
                field.clone(),
                json!(values.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>()),
            )
        })
        .collect();
    serde_json::Value::Object(map)
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

pub fn unknown_package(name: &PackageName) -> ServiceError {
    ServiceError::not_found("PACKAGE_UNKNOWN", format!("there is no package {name}"))
}

fn exists(name: &PackageName, version: &str) -> ServiceError {
    ServiceError::conflict(
        "VERSION_EXISTS",
        format!("{name}@{version} is already published; versions are immutable"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_tracks_follow_cargo() {
        let v = |s| Version::parse(s).unwrap();
        assert!(same_track(&v("1.0.0"), &v("1.9.3")));
        assert!(!same_track(&v("1.0.0"), &v("2.0.0")));
        assert!(same_track(&v("0.3.1"), &v("0.3.9")));
        assert!(!same_track(&v("0.3.1"), &v("0.4.0")));
        assert!(!same_track(&v("0.0.1"), &v("0.0.2")));
    }

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
