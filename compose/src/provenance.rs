//! What a deployable is made of, embedded in it as a custom section so that
//! `wharf info deployable.wasm` can list its constituents without the manifest.
//!
//! The section is named [`SECTION`] and holds JSON:
//! `{"name":"acme:edge","version":"1.0.0","constituents":[{"key":"deployable.root",
//! "package":"wharf:edge-gateway","version":"1.0.0","digest":"sha256:..."}]}`,
//! constituents in manifest order. A path or URL source is recorded as `source`
//! instead of `package` and `version`; every byte here is carried by the deployable.

use semver::Version;
use serde::{Deserialize, Serialize};
use wharf_types::{Digest, PackageName};

use crate::load::Constituent;
use crate::manifest::{Manifest, Source};

/// The name of the custom section that carries the provenance.
pub const SECTION: &str = "wharf:provenance";

/// The deployable's name and version and its constituents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The deployable's package name.
    pub name: PackageName,
    /// The deployable's version.
    pub version: Version,
    /// Every component in it, root first, in manifest order.
    pub constituents: Vec<ConstituentInfo>,
}

/// One component of a deployable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstituentInfo {
    /// Its manifest key, e.g. `plugs."wharf:compression"`.
    pub key: String,
    /// For path and URL sources, the source as the manifest gives it, e.g.
    /// `path ./json-schema.wasm` (registry sources are `package` and `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The registry package, for registry sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageName>,
    /// The version, for registry sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The digest of the component's bytes.
    pub digest: Digest,
}

impl Provenance {
    /// The provenance of the deployable `manifest` describes, built from
    /// `constituents` (listed in manifest order).
    pub fn of(manifest: &Manifest, constituents: &[Constituent]) -> Self {
        let order: Vec<_> = manifest.components().into_iter().map(|(k, _)| k).collect();
        let mut constituents: Vec<&Constituent> = constituents
            .iter()
            .filter(|c| order.contains(&c.key))
            .collect();
        constituents.sort_by_key(|c| order.iter().position(|k| *k == c.key));
        Self {
            name: manifest.deployable.name.clone(),
            version: manifest.deployable.version.clone(),
            constituents: constituents
                .into_iter()
                .map(|c| ConstituentInfo {
                    key: c.key.to_string(),
                    source: match &c.source {
                        Source::Registry { .. } => None,
                        other => Some(other.to_string()),
                    },
                    package: match &c.source {
                        Source::Registry { package, .. } => Some(package.clone()),
                        _ => None,
                    },
                    version: c.version.clone(),
                    digest: c.digest.clone(),
                })
                .collect(),
        }
    }
}

/// `component` with a [`SECTION`] custom section holding `provenance` appended.
pub fn embed(mut component: Vec<u8>, provenance: &Provenance) -> Vec<u8> {
    let data = serde_json::to_vec(provenance).expect("provenance serializes");
    let mut payload = Vec::new();
    leb128(&mut payload, SECTION.len());
    payload.extend_from_slice(SECTION.as_bytes());
    payload.extend_from_slice(&data);
    component.push(0); // custom section id
    leb128(&mut component, payload.len());
    component.extend_from_slice(&payload);
    component
}

/// The provenance embedded in a deployable, if it has a well-formed one. Only the
/// outermost component's sections are read: nested components have their own.
pub fn provenance(component: &[u8]) -> Option<Provenance> {
    let mut rest = component.strip_prefix(b"\0asm")?.get(4..)?;
    let mut found = None;
    while let Some((&id, after)) = rest.split_first() {
        let (size, after) = read_leb128(after)?;
        let (section, after) = (after.get(..size)?, after.get(size..)?);
        if id == 0 {
            let (name_len, body) = read_leb128(section)?;
            if body.get(..name_len)? == SECTION.as_bytes() {
                found = serde_json::from_slice(body.get(name_len..)?).ok();
            }
        }
        rest = after;
    }
    found
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut value = 0usize;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_custom_section() {
        let provenance = Provenance {
            name: "acme:edge".parse().unwrap(),
            version: Version::new(1, 0, 0),
            constituents: vec![ConstituentInfo {
                key: "deployable.root".into(),
                source: Some("path r.wasm".into()),
                package: None,
                version: None,
                digest: Digest::of(b"x"),
            }],
        };
        // The smallest component: the header alone.
        let empty = b"\0asm\x0d\x00\x01\x00".to_vec();
        assert_eq!(super::provenance(&empty), None);
        let with = embed(empty, &provenance);
        assert_eq!(super::provenance(&with), Some(provenance));
        assert_eq!(super::provenance(b"not wasm"), None);
    }
}
