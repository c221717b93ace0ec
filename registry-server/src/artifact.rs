//! The artifact format: OCI media types, repository and tag names, what the registry
//! reads from a pushed manifest, and the Wasm OCI artifact it makes for a version
//! published through the JSON API (the CNCF "Wasm OCI Artifact" layout: config
//! `application/vnd.wasm.config.v0+json`, one `application/wasm` layer).
//!
//! Pure functions of bytes and names: no HTTP, no SQL, no storage.

use bytes::Bytes;
use serde_json::{Value, json};
use wharf_types::{Digest, PackageName};

/// Why a pushed manifest is refused (`MANIFEST_INVALID`).
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidManifest {
    /// What is wrong with it.
    pub message: String,
    /// Structured detail (limits), or null.
    pub detail: Value,
}

/// The config media type of a Wasm OCI artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a Wasm OCI artifact.
pub const WASM_LAYER: &str = "application/wasm";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index (also the referrers answer).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The most descriptors (config and layers, or an index's manifests) a manifest may
/// reference: each costs a lease and a look-up when it is pushed. Images have at most
/// 127 layers (Docker's limit) and indexes a few dozen platforms.
pub const MAX_MANIFEST_REFERENCES: usize = 1024;
/// Repository names per the distribution spec:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255.
pub fn valid_repository(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(|component| {
        let bytes = component.as_bytes();
        if bytes.is_empty()
            || !bytes[0].is_ascii_alphanumeric()
            || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii_lowercase() || b.is_ascii_digit() {
                i += 1;
                continue;
            }
            // A separator: `.`, `_`, `__` or a run of `-`, between alphanumerics.
            let start = i;
            match b {
                b'.' => i += 1,
                b'_' => {
                    i += 1;
                    if i < bytes.len() && bytes[i] == b'_' {
                        i += 1;
                    }
                }
                b'-' => {
                    while i < bytes.len() && bytes[i] == b'-' {
                        i += 1;
                    }
                }
                _ => return false,
            }
            if i == start || i >= bytes.len() || !bytes[i].is_ascii_alphanumeric() {
                return false;
            }
        }
        true
    })
}

/// Tags per the distribution spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
}

/// What the registry reads from a pushed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    /// The manifest's `mediaType`, else the request's `Content-Type` without parameters.
    pub media_type: String,
    /// `artifactType`, else (for an image manifest) the config's media type.
    pub artifact_type: Option<String>,
    /// The subject's digest, as written.
    pub subject: Option<String>,
    /// The `annotations` object as JSON text.
    pub annotations: Option<String>,
    /// Config and layer digests, as written (not yet validated).
    pub blobs: Vec<String>,
    /// Child manifests of an index, as written (not yet validated).
    pub manifests: Vec<String>,
    /// The layer of a Wasm artifact.
    pub wasm_layer: Option<String>,
}

fn manifest_invalid(message: String) -> InvalidManifest {
    InvalidManifest {
        message,
        detail: Value::Null,
    }
}

/// The package a repository is the OCI view of: `namespace/name`.
pub fn package_of(repository: &str) -> Option<PackageName> {
    let (namespace, name) = repository.split_once('/')?;
    PackageName::new(namespace, name).ok()
}

/// Refuses a manifest whose `fields` hold more than [`MAX_MANIFEST_REFERENCES`]
/// descriptors, before any of them is looked at.
fn too_many_references(count: usize, fields: &str) -> Result<(), InvalidManifest> {
    if count <= MAX_MANIFEST_REFERENCES {
        return Ok(());
    }
    Err(InvalidManifest {
        message: format!(
            "the manifest's {fields} hold {count} descriptors; at most \
             {MAX_MANIFEST_REFERENCES} are accepted"
        ),
        detail: json!({ "references": count, "limit": MAX_MANIFEST_REFERENCES }),
    })
}

/// Reads a pushed manifest (image manifest or index, OCI or Docker): its media type
/// from the JSON, else from `content_type`, and the digests it references. The
/// digests are checked by the caller, against the store.
pub fn parse_manifest(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<ParsedManifest, InvalidManifest> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| manifest_invalid(format!("the manifest is not JSON: {e}")))?;
    let media_type = value["mediaType"]
        .as_str()
        .or(content_type)
        .map(|m| m.split(';').next().unwrap_or(m).trim().to_owned())
        .ok_or_else(|| manifest_invalid("the manifest has no media type".into()))?;
    if value["schemaVersion"].as_i64() != Some(2) {
        return Err(manifest_invalid("`schemaVersion` must be 2".into()));
    }
    let digest_of = |d: &Value, what: &str| -> Result<String, InvalidManifest> {
        d["digest"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| manifest_invalid(format!("a {what} descriptor has no digest")))
    };
    let mut parsed = ParsedManifest {
        artifact_type: value["artifactType"].as_str().map(str::to_owned),
        subject: value["subject"]["digest"].as_str().map(str::to_owned),
        annotations: value
            .get("annotations")
            .filter(|a| a.is_object())
            .map(|a| a.to_string()),
        blobs: Vec::new(),
        manifests: Vec::new(),
        wasm_layer: None,
        media_type,
    };
    match parsed.media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = &value["config"];
            if !config.is_object() {
                return Err(manifest_invalid("the manifest has no config".into()));
            }
            parsed.blobs.push(digest_of(config, "config")?);
            let layers = value["layers"]
                .as_array()
                .ok_or_else(|| manifest_invalid("`layers` must be an array".into()))?;
            too_many_references(1 + layers.len(), "`config` and `layers`")?;
            for layer in layers {
                parsed.blobs.push(digest_of(layer, "layer")?);
            }
            if parsed.artifact_type.is_none() {
                parsed.artifact_type = config["mediaType"].as_str().map(str::to_owned);
            }
            if config["mediaType"] == WASM_CONFIG
                && layers.len() == 1
                && layers[0]["mediaType"] == WASM_LAYER
            {
                parsed.wasm_layer = Some(digest_of(&layers[0], "layer")?);
            }
        }
        OCI_INDEX | DOCKER_LIST => {
            let manifests = value["manifests"]
                .as_array()
                .ok_or_else(|| manifest_invalid("`manifests` must be an array".into()))?;
            too_many_references(manifests.len(), "`manifests`")?;
            for m in manifests {
                parsed.manifests.push(digest_of(m, "manifest")?);
            }
        }
        other => {
            return Err(manifest_invalid(format!(
                "unsupported manifest media type `{other}`"
            )));
        }
    }
    parsed.blobs.dedup();
    Ok(parsed)
}

/// The Wasm OCI artifact for a version published through the JSON API: a config whose
/// `component` lists the real imports and exports, and a manifest with the standard
/// annotations. Deterministic for the same inputs.
pub fn synthesize(
    package: &PackageName,
    version: &str,
    found: &crate::analysis::Analysis,
    layer: &Digest,
    layer_size: usize,
    published_at: i64,
) -> (Bytes, Bytes) {
    let created = crate::time::rfc3339(published_at);
    let names =
        |items: &[crate::analysis::Item]| items.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    let config = json!({
        "created": created,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer.to_string()],
        "component": {
            "exports": names(&found.exports),
            "imports": names(&found.imports),
        },
    });
    let config = Bytes::from(config.to_string());
    let mut annotations = json!({
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.title": package.to_string(),
        "org.opencontainers.image.version": version,
    });
    if let Some(d) = &found.description {
        annotations["org.opencontainers.image.description"] = json!(d);
    }
    if let Some(l) = &found.license {
        annotations["org.opencontainers.image.licenses"] = json!(l);
    }
    if let Some(s) = &found.source {
        annotations["org.opencontainers.image.source"] = json!(s);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": WASM_CONFIG,
        "config": {"mediaType": WASM_CONFIG, "digest": Digest::of(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": WASM_LAYER, "digest": layer.to_string(), "size": layer_size}],
        "annotations": annotations,
    });
    (config, Bytes::from(manifest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_the_distribution_spec() {
        for good in [
            "a",
            "wharf/flate",
            "a/b/c",
            "a.b",
            "a_b",
            "a__b",
            "a--b",
            "a-b/c.d_e",
        ] {
            assert!(valid_repository(good), "{good}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a...b", "a___b", "a/../b", "a b", "a:b",
            "a.", "_a",
        ] {
            assert!(!valid_repository(bad), "{bad}");
        }
        assert!(!valid_repository(&"a".repeat(256)));
    }
}
