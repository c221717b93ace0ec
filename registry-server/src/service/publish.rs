//! Publishing: what a version may be, who may publish it (through
//! [`access`](super::access)), what its bytes must say (a valid package, the name and
//! version it is published as, a compatible API on its semver track, a bounded
//! provenance), and the one transaction that records it with its OCI view. Yanking.

use bytes::Bytes;
use semver::Version;
use serde_json::json;
use wharf_types::{Digest, PackageName};

use super::access::{self, Principal, Scope, Unclaimed};
use super::{ErrorKind, ServiceError};
use crate::AppState;
use crate::analysis::compat;
use crate::analysis::{self, Kind};
use crate::repo::{Inserted, ItemRow, ManifestRow, NewManifest, NewVersion};
use crate::views;

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

    /// Publishes `body` as `version_text` of `name` (see [`AppState::may_publish`] for who may); `pushed` is the OCI manifest a client pushed, else one is made.
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
            if let Some(provenance) =
                crate::cpu(move || crate::analysis::provenance::read(&read)).await
            {
                let parts = provenance.constituents.len();
                if parts > crate::analysis::provenance::MAX_CONSTITUENTS {
                    return Err(ServiceError::bad_request(
                        "PROVENANCE_INVALID",
                        format!(
                            "the `wharf:provenance` section lists {parts} `constituents`; \
                             at most {} are accepted",
                            crate::analysis::provenance::MAX_CONSTITUENTS
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

    /// Yanks or unyanks a version: for owners of its namespace (and admins of it) with the `yank` scope.
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
            .set_yanked(
                name.namespace(),
                name.name(),
                version,
                yanked,
                &principal.user,
                crate::now_ms(),
            )
            .await?
        {
            return Err(self.missing_version(name, version).await);
        }
        Ok(())
    }
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
}
