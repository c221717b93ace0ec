//! Signed publishes (docs/trust.md, "Signatures"): the keys a namespace's owners
//! register to sign for it, and the signatures attached to versions, stored as OCI
//! referrers of the version's manifest so that any OCI client finds them through the
//! referrers API.
//!
//! Who may register or revoke a key (an owner, or an admin whose token reaches the
//! namespace, with the `owners` scope) and who may attach a signature (a publisher of
//! the namespace: an owner with the `publish` scope) is [`access`](super::access)'s one
//! rule. An envelope is verified before it is stored: one signature, by a key
//! registered for the namespace and not revoked, over a statement naming this version
//! and its digest; anything else is `400 SIGNATURE_INVALID` with the reason. A
//! signature referrer pushed over the OCI API directly is stored as any OCI content
//! is; the version detail lists it with the registry's verdict, and clients check
//! every envelope themselves anyway. Calls the repositories and storage; never HTTP.

use bytes::Bytes;
use serde_json::json;
use wharf_types::signing::{self, Envelope, SignatureError};
use wharf_types::{Digest, PackageName};

use super::access::{Principal, Scope, Unclaimed};
use super::{ServiceError, namespace_name};
use crate::AppState;
use crate::artifact::OCI_MANIFEST;
use crate::repo::{DbError, KeyRow, ManifestRow, NewManifest, VersionRow};
use crate::views;

/// The OCI 1.1 empty descriptor's content, the config of an artifact with none.
const EMPTY_CONFIG: &[u8] = b"{}";
/// Its media type.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Longest key label.
const MAX_KEY_NAME: usize = 64;

fn invalid(reason: impl std::fmt::Display) -> ServiceError {
    ServiceError::bad_request("SIGNATURE_INVALID", format!("invalid signature: {reason}"))
}

impl AppState {
    /// The keys registered for `namespace`, revoked ones too; `404 NAMESPACE_UNKNOWN`
    /// when nobody claimed it.
    pub async fn namespace_keys(
        &self,
        namespace: &str,
    ) -> Result<Vec<views::NamespaceKey>, ServiceError> {
        namespace_name(namespace)?;
        if !self.db.namespace_exists(namespace).await? {
            return Err(ServiceError::not_found(
                "NAMESPACE_UNKNOWN",
                format!("there is no namespace `{namespace}`"),
            ));
        }
        Ok(self
            .db
            .keys(namespace)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Registers `key` to sign for `namespace`, when `principal` may change who acts
    /// there: `400 KEY_INVALID` naming `public_key` for what is not an Ed25519 SPKI
    /// PEM key, `409 KEY_EXISTS` for a key the namespace has (revoked keys stay).
    pub async fn add_key(
        &self,
        principal: &Principal,
        namespace: &str,
        key: views::AddKey,
    ) -> Result<views::NamespaceKey, ServiceError> {
        namespace_name(namespace)?;
        self.authorize(principal, Scope::Owners, namespace, Unclaimed::NotFound)
            .await?;
        let public = signing::public_key_from_pem(&key.public_key)
            .map_err(|e| ServiceError::bad_request("KEY_INVALID", format!("`public_key`: {e}")))?;
        if let Some(name) = &key.name
            && (name.is_empty() || name.len() > MAX_KEY_NAME || name.chars().any(char::is_control))
        {
            return Err(ServiceError::bad_request(
                "KEY_INVALID",
                format!("`name`: 1 to {MAX_KEY_NAME} printable characters"),
            ));
        }
        let row = KeyRow {
            namespace: namespace.to_owned(),
            keyid: signing::key_id(&public),
            public_key: signing::public_key_to_pem(&public),
            name: key.name,
            added_by: principal.user.clone(),
            added_at: crate::now_ms(),
            revoked_at: None,
            revoked_by: None,
        };
        match self.db.add_key(&row).await {
            Ok(()) => Ok(row.into()),
            Err(DbError::Conflict) => Err(ServiceError::conflict(
                "KEY_EXISTS",
                format!(
                    "key {} is already registered for `{namespace}` (revoked keys stay revoked)",
                    row.keyid
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes the key `keyid` of `namespace`: its signatures stop counting. `404
    /// KEY_UNKNOWN` when the namespace has no such key, `409 KEY_REVOKED` when it was
    /// revoked already.
    pub async fn revoke_key(
        &self,
        principal: &Principal,
        namespace: &str,
        keyid: &str,
    ) -> Result<views::NamespaceKey, ServiceError> {
        namespace_name(namespace)?;
        self.authorize(principal, Scope::Owners, namespace, Unclaimed::NotFound)
            .await?;
        let unknown = || {
            ServiceError::not_found(
                "KEY_UNKNOWN",
                format!("namespace `{namespace}` has no key {keyid}"),
            )
        };
        let key = self.db.key(namespace, keyid).await?.ok_or_else(unknown)?;
        if key.revoked_at.is_some()
            || !self
                .db
                .revoke_key(namespace, keyid, &principal.user, crate::now_ms())
                .await?
        {
            return Err(ServiceError::conflict(
                "KEY_REVOKED",
                format!("key {keyid} of `{namespace}` is revoked already"),
            ));
        }
        let key = self.db.key(namespace, keyid).await?.ok_or_else(unknown)?;
        Ok(key.into())
    }

    /// Verifies the DSSE envelope `body` for `name@version` and stores it as an OCI
    /// referrer of the version's manifest, for `principal`, a publisher of the
    /// namespace. Storing the same envelope twice stores it once.
    pub async fn attach_signature(
        &self,
        principal: &Principal,
        name: &PackageName,
        version: &str,
        body: Bytes,
    ) -> Result<views::SignatureInfo, ServiceError> {
        self.authorize(
            principal,
            Scope::Publish,
            name.namespace(),
            Unclaimed::Refuse,
        )
        .await?;
        let row = self.existing_version(name, version).await?;
        let digest: Digest = row.digest.parse().map_err(ServiceError::internal)?;
        let envelope = Envelope::from_json(&body).map_err(invalid)?;
        let keyid = envelope.keyid().unwrap_or_default().to_owned();
        let key = self
            .db
            .key(name.namespace(), &keyid)
            .await?
            .ok_or_else(|| {
                invalid(format!(
                    "key {keyid} is not registered for namespace `{}`",
                    name.namespace()
                ))
            })?;
        if key.revoked_at.is_some() {
            return Err(invalid(format!(
                "key {keyid} of namespace `{}` is revoked",
                name.namespace()
            )));
        }
        let public =
            signing::public_key_from_pem(&key.public_key).map_err(ServiceError::internal)?;
        envelope
            .verify(&public, &format!("{name}@{}", row.version), &digest)
            .map_err(invalid)?;

        let subject = self.version_manifest(name, &row).await?;
        let repository = subject.repository.clone();
        let layer = Bytes::from(envelope.to_json());
        let layer_digest = self.store_blob(layer.clone(), None).await?;
        let config_digest = self
            .store_blob(Bytes::from_static(EMPTY_CONFIG), None)
            .await?;
        let annotations = json!({ (signing::KEYID_ANNOTATION): keyid });
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": signing::SIGNATURE_ARTIFACT_TYPE,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config_digest.to_string(), "size": EMPTY_CONFIG.len()},
            "layers": [{"mediaType": signing::ENVELOPE_MEDIA_TYPE, "digest": layer_digest.to_string(), "size": layer.len()}],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
            "annotations": annotations,
        });
        let manifest = Bytes::from(manifest.to_string());
        let manifest_digest = self.store_blob(manifest.clone(), None).await?;
        let blobs = vec![config_digest.to_string(), layer_digest.to_string()];
        self.db
            .put_manifest(
                &NewManifest {
                    row: ManifestRow {
                        repository,
                        digest: manifest_digest.to_string(),
                        media_type: OCI_MANIFEST.into(),
                        artifact_type: Some(signing::SIGNATURE_ARTIFACT_TYPE.into()),
                        subject: Some(subject.digest.clone()),
                        annotations: Some(annotations.to_string()),
                        size: manifest.len() as i64,
                    },
                    references: blobs.clone(),
                    links: blobs,
                    tag: None,
                },
                crate::now_ms(),
            )
            .await?;
        Ok(views::SignatureInfo {
            keyid,
            verified: true,
            reason: None,
            revoked: false,
            manifest: manifest_digest.to_string(),
        })
    }

    /// The signatures attached to `name@version`, envelopes included, each with the
    /// registry's verdict.
    pub async fn signatures(
        &self,
        name: &PackageName,
        version: &str,
    ) -> Result<Vec<views::SignatureEnvelope>, ServiceError> {
        let row = self.existing_version(name, version).await?;
        let (signatures, _) = self.version_signatures(name, &row).await?;
        Ok(signatures)
    }

    /// The signatures of a version, each checked, and every referrer of its manifest.
    pub(crate) async fn version_signatures(
        &self,
        name: &PackageName,
        row: &VersionRow,
    ) -> Result<(Vec<views::SignatureEnvelope>, Vec<views::Referrer>), ServiceError> {
        let Some(manifest) = &row.manifest_digest else {
            return Ok((vec![], vec![]));
        };
        let repository = format!("{}/{}", name.namespace(), name.name());
        let referrers = self.db.referrers(&repository, manifest).await?;
        let digest: Digest = row.digest.parse().map_err(ServiceError::internal)?;
        let subject = format!("{name}@{}", row.version);
        let keys = self.db.keys(name.namespace()).await?;
        let mut signatures = vec![];
        for referrer in &referrers {
            if referrer.artifact_type.as_deref() != Some(signing::SIGNATURE_ARTIFACT_TYPE) {
                continue;
            }
            let (envelope, check) = match self.envelope_of(referrer).await? {
                Ok(envelope) => {
                    let check = check_with(&envelope, &keys, &subject, &digest);
                    (serde_json::to_value(&envelope).unwrap_or_default(), check)
                }
                Err(e) => (serde_json::Value::Null, (String::new(), Err(e), false)),
            };
            let (keyid, verdict, revoked) = check;
            signatures.push(views::SignatureEnvelope {
                info: views::SignatureInfo {
                    keyid,
                    verified: verdict.is_ok(),
                    reason: verdict.err(),
                    revoked,
                    manifest: referrer.digest.clone(),
                },
                envelope,
            });
        }
        let referrers = referrers
            .into_iter()
            .map(|m| views::Referrer {
                digest: m.digest,
                artifact_type: m.artifact_type,
                size: m.size,
            })
            .collect();
        Ok((signatures, referrers))
    }

    /// The envelope a signature referrer carries, or why it carries none.
    async fn envelope_of(
        &self,
        referrer: &ManifestRow,
    ) -> Result<Result<Envelope, String>, ServiceError> {
        let bytes = self.manifest_bytes(referrer).await?;
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let layer = manifest["layers"]
            .as_array()
            .and_then(|layers| layers.first())
            .filter(|l| l["mediaType"] == signing::ENVELOPE_MEDIA_TYPE);
        let Some(digest) = layer
            .and_then(|l| l["digest"].as_str())
            .and_then(|d| d.parse::<Digest>().ok())
        else {
            return Ok(Err(format!(
                "the referrer's first layer is not a `{}`",
                signing::ENVELOPE_MEDIA_TYPE
            )));
        };
        match self.blobs.size(&digest).await? {
            Some(size) if size as usize <= signing::MAX_ENVELOPE_BYTES => {}
            Some(size) => return Ok(Err(format!("the envelope is {size} bytes, over the limit"))),
            None => return Ok(Err(format!("the envelope blob {digest} is missing"))),
        }
        let Some(bytes) = self.blob_bytes(&digest).await? else {
            return Ok(Err(format!("the envelope blob {digest} is missing")));
        };
        Ok(Envelope::from_json(&bytes).map_err(|e| e.to_string()))
    }

    /// The OCI manifest of a version, the subject its signatures refer to.
    async fn version_manifest(
        &self,
        name: &PackageName,
        row: &VersionRow,
    ) -> Result<ManifestRow, ServiceError> {
        let repository = format!("{}/{}", name.namespace(), name.name());
        let missing = || {
            ServiceError::internal(format!(
                "{name}@{} has no OCI manifest to attach a signature to",
                row.version
            ))
        };
        let digest = row.manifest_digest.as_ref().ok_or_else(missing)?;
        self.db
            .manifest(&repository, digest)
            .await?
            .ok_or_else(missing)
    }
}

/// Checks `envelope` against the namespace's `keys`: its key id, whether it verifies
/// (or why not), and whether its key is revoked.
fn check_with(
    envelope: &Envelope,
    keys: &[KeyRow],
    subject: &str,
    digest: &Digest,
) -> (String, Result<(), String>, bool) {
    let keyid = envelope.keyid().unwrap_or_default().to_owned();
    let Some(key) = keys.iter().find(|k| k.keyid == keyid) else {
        let reason = format!("key {keyid} is not registered for the namespace");
        return (keyid, Err(reason), false);
    };
    let verdict = signing::public_key_from_pem(&key.public_key)
        .and_then(|public| envelope.verify(&public, subject, digest))
        .map(drop)
        .map_err(|e: SignatureError| e.to_string());
    (keyid, verdict, key.revoked_at.is_some())
}
