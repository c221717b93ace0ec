//! OCI repositories' manifests. Recording one an OCI client pushed: everything it
//! references must be in its repository already (leased first, see [`gc`](super::gc));
//! a Wasm artifact pushed under `namespace/name:version` is a publish, through the same
//! rules as the JSON API; other content is stored as it is, but a tag of a published
//! version never moves. Finding them by digest or tag, deleting what is not a package
//! version, and the listings (repositories, tags, referrers). Calls the repositories
//! and storage; never HTTP.

use bytes::Bytes;
use wharf_types::Digest;

use super::access::Principal;
use super::{ErrorKind, ServiceError};
use crate::AppState;
use crate::artifact::{ParsedManifest, package_of};
pub use crate::repo::ManifestRow;
use crate::repo::NewManifest;

impl AppState {
    /// Records the manifest `bytes` (read as `parsed`, whose digest is `digest`) in
    /// `repository`, under `tag` if any, for `principal`, who may push there.
    pub async fn push_manifest(
        &self,
        principal: &Principal,
        repository: &str,
        tag: Option<&str>,
        digest: &Digest,
        bytes: Bytes,
        parsed: &ParsedManifest,
    ) -> Result<(), ServiceError> {
        // Everything a manifest references must already be here.
        for blob in &parsed.blobs {
            let d: Digest = blob.parse().map_err(|_| {
                ServiceError::bad_request("MANIFEST_INVALID", format!("`{blob}` is not a digest"))
            })?;
            // The lease comes before the check: see the collector's argument in gc.rs.
            self.lease(&d, 0).await?;
            if !self.db.blob_linked(repository, &d.to_string()).await?
                || self.blobs.size(&d).await?.is_none()
            {
                return Err(ServiceError::bad_request(
                    "MANIFEST_BLOB_UNKNOWN",
                    format!("blob {d} is not in {repository}"),
                ));
            }
        }
        for child in &parsed.manifests {
            if let Ok(d) = child.parse::<Digest>() {
                self.lease(&d, 0).await?;
            }
            if self.db.manifest(repository, child).await?.is_none() {
                return Err(ServiceError::bad_request(
                    "MANIFEST_BLOB_UNKNOWN",
                    format!("manifest {child} is not in {repository}"),
                ));
            }
        }

        let row = ManifestRow {
            repository: repository.to_owned(),
            digest: digest.to_string(),
            media_type: parsed.media_type.clone(),
            artifact_type: parsed.artifact_type.clone(),
            subject: parsed.subject.clone(),
            annotations: parsed.annotations.clone(),
            size: bytes.len() as i64,
        };
        let mut references = parsed.blobs.clone();
        references.extend(parsed.manifests.iter().cloned());
        let manifest = NewManifest {
            row,
            references,
            links: parsed.blobs.clone(),
            tag: tag.map(str::to_owned),
        };

        match (parsed.wasm_layer.as_ref(), package_of(repository), tag) {
            (Some(layer), Some(package), Some(version)) => {
                // A Wasm artifact pushed under `namespace/name:version` is a publish.
                if let Some(existing) = self
                    .db
                    .version(package.namespace(), package.name(), version)
                    .await?
                    && existing.manifest_digest.as_deref() == Some(&manifest.row.digest)
                {
                    return Ok(());
                }
                let layer: Digest = layer.parse().map_err(|e: wharf_types::ParseError| {
                    ServiceError::bad_request("DIGEST_INVALID", e.to_string())
                })?;
                let wasm = self
                    .blobs
                    .read(&layer, 0, None)
                    .await?
                    .ok_or_else(|| ServiceError::internal("a linked layer is missing"))?;
                self.store_blob(bytes.clone(), Some(digest)).await?;
                self.publish(principal, &package, version, wasm, Some(manifest))
                    .await
                    .map_err(as_oci_error)?;
            }
            _ => {
                if let Some(tag) = &tag
                    && let Some(current) = self.db.tag(repository, tag).await?
                    && current != manifest.row.digest
                    && self
                        .db
                        .version_of_manifest(repository, &current)
                        .await?
                        .is_some()
                {
                    return Err(ServiceError::conflict(
                        "DENIED",
                        format!(
                            "{repository}:{tag} is a published package version; versions are immutable"
                        ),
                    ));
                }
                self.store_blob(bytes.clone(), Some(digest)).await?;
                self.db.put_manifest(&manifest, crate::now_ms()).await?;
            }
        }
        Ok(())
    }
}

/// The OCI envelope's codes for a refused publish: what was wrong with the package is
/// wrong with the manifest.
fn as_oci_error(mut e: ServiceError) -> ServiceError {
    e.code = match e.code {
        "PACKAGE_INVALID"
        | "NAME_MISMATCH"
        | "VERSION_MISMATCH"
        | "VERSION_INVALID"
        | "SEMVER_INCOMPATIBLE"
        | "KIND_MISMATCH" => "MANIFEST_INVALID",
        "VERSION_EXISTS" => "DENIED",
        other => other,
    };
    e
}

/// What names a manifest in a repository: its digest, or a tag.
#[derive(Debug, Clone, Copy)]
pub enum Reference<'a> {
    /// The manifest's digest.
    Digest(&'a Digest),
    /// A tag pointing at it.
    Tag(&'a str),
}

/// Reading an OCI repository: its manifests, tags and referrers, and the listing of
/// repositories; deleting what is not a package version.
impl AppState {
    /// The manifest `reference` names in `repository`, if any.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: Reference<'_>,
    ) -> Result<Option<ManifestRow>, ServiceError> {
        Ok(match reference {
            Reference::Digest(digest) => self.db.manifest(repository, &digest.to_string()).await?,
            Reference::Tag(tag) => self.db.manifest_by_tag(repository, tag).await?,
        })
    }

    /// The bytes of `manifest` (from the memory cache when recently served).
    pub async fn manifest_bytes(&self, manifest: &ManifestRow) -> Result<Bytes, ServiceError> {
        let missing =
            || ServiceError::internal(format!("manifest blob {} is missing", manifest.digest));
        let digest: Digest = manifest.digest.parse().map_err(|_| missing())?;
        self.blob_bytes(&digest).await?.ok_or_else(missing)
    }

    /// Deletes `manifest` (found by `reference`) from `repository`: by digest, the
    /// manifest and its tags; by tag, only the tag. A package version's manifest is
    /// never deleted (`405 UNSUPPORTED`: versions are immutable, yank them instead).
    pub async fn delete_manifest(
        &self,
        repository: &str,
        reference: Reference<'_>,
        manifest: &ManifestRow,
    ) -> Result<(), ServiceError> {
        if self
            .db
            .version_of_manifest(repository, &manifest.digest)
            .await?
            .is_some()
        {
            return Err(ServiceError::new(
                ErrorKind::Unsupported,
                "UNSUPPORTED",
                "package versions are immutable; yank them instead",
            ));
        }
        match reference {
            Reference::Digest(_) => {
                self.db
                    .delete_manifest(repository, &manifest.digest)
                    .await?
            }
            Reference::Tag(tag) => self.db.delete_tag(repository, tag).await?,
        };
        Ok(())
    }

    /// The manifests of `repository` whose subject is `subject`.
    pub async fn referrers(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<Vec<ManifestRow>, ServiceError> {
        Ok(self.db.referrers(repository, &subject.to_string()).await?)
    }

    /// Every OCI repository's name.
    pub async fn repositories(&self) -> Result<Vec<String>, ServiceError> {
        Ok(self.db.repositories().await?)
    }

    /// The tags of `repository`; `404 NAME_UNKNOWN` when there is no such repository.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, ServiceError> {
        if !self.db.repository_exists(repository).await? {
            return Err(ServiceError::not_found(
                "NAME_UNKNOWN",
                format!("there is no repository `{repository}`"),
            ));
        }
        Ok(self.db.tags(repository).await?)
    }
}
