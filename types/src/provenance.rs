//! The provenance format: what a composed deployable is made of, carried in the
//! deployable itself as a custom section named [`SECTION`] holding JSON, so that
//! `wharf info deployable.wasm` and the registry can list its constituents without
//! the manifest:
//!
//! ```json
//! {"name":"acme:edge","version":"1.0.0","constituents":[{"key":"deployable.root",
//!  "package":"wharf:edge-gateway","version":"1.0.0","digest":"sha256:..."}]}
//! ```
//!
//! Constituents are listed in manifest order, root first. A path or URL source is
//! recorded as `source` instead of `package` and `version`. The composer writes it
//! (`wharf-compose`); the registry and the CLI read it.
//!
//! The fields are plain strings, not [`crate::PackageName`] or [`crate::Digest`]: a
//! reader takes the section as any publisher wrote it (the registry caps and shows
//! it, and never trusts it), and unknown fields are ignored, so that writers may add
//! some. With the `wasm` feature, [`read`] and [`embed`] move it in and out of a
//! component's bytes.

use serde::{Deserialize, Serialize};

/// The name of the custom section that carries the provenance.
pub const SECTION: &str = "wharf:provenance";

/// A deployable's name and version and its constituents, root first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The deployable's package name, `namespace:name`.
    pub name: String,
    /// The deployable's version.
    pub version: String,
    /// Every component in it, root first, in manifest order.
    pub constituents: Vec<Constituent>,
    /// The registry's transparency-log checkpoint (a C2SP signed note) every registry
    /// constituent was verified against when it was composed; absent when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_checkpoint: Option<String>,
}

/// One component linked into a deployable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constituent {
    /// Its manifest key: `deployable.root`, `plugs."wharf:auth"`, or nested,
    /// `plugs."wharf:auth".plugs."wharf:compression"`.
    pub key: String,
    /// For path and URL sources, the source as the manifest gives it, e.g.
    /// `path ./json-schema.wasm` (registry sources are `package` and `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The registry package, for registry sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The version it was resolved to, for registry sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The digest of the component's bytes, `sha256:<hex>`.
    pub digest: String,
    /// For a registry constituent verified against the transparency log, the index of
    /// its publish entry (under [`Provenance::log_checkpoint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// That entry's canonical text ([`crate::log::Entry`]), which binds `package@version`
    /// to `digest`: its leaf hash is what the proof includes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_entry: Option<String>,
    /// The inclusion proof of that entry under [`Provenance::log_checkpoint`] (base64
    /// hashes, RFC 9162), so that `wharf verify` re-checks it with no registry at hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_proof: Vec<String>,
    /// The ids of the keys whose signatures `wharf compose` verified for it under the
    /// manifest's `[trust]` policy (docs/trust.md); absent when none was required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
}

impl Constituent {
    /// The key of the constituent this one plugs into; None for the root.
    pub fn parent_key(&self) -> Option<String> {
        let keys = self.plug_keys();
        match keys.len() {
            0 => None,
            1 => Some("deployable.root".into()),
            n => Some(
                keys[..n - 1]
                    .iter()
                    .map(|k| format!("plugs.\"{k}\""))
                    .collect::<Vec<_>>()
                    .join("."),
            ),
        }
    }

    /// The import this constituent fills (the last plug key: an interface such as
    /// `wharf:auth/verifier` or a package such as `wharf:auth`); None for the root.
    pub fn plugs_into(&self) -> Option<String> {
        self.plug_keys().pop()
    }

    /// `plugs."a:b".plugs."c:d/e"` as `["a:b", "c:d/e"]`.
    fn plug_keys(&self) -> Vec<String> {
        self.key
            .split("plugs.\"")
            .skip(1)
            .map(|part| part.trim_end_matches('.').trim_end_matches('"').to_owned())
            .collect()
    }
}

/// `component` with a [`SECTION`] custom section holding `provenance` appended (a
/// custom section may stand anywhere in a component).
#[cfg(feature = "wasm")]
pub fn embed(component: Vec<u8>, provenance: &Provenance) -> Vec<u8> {
    let data = serde_json::to_vec(provenance).expect("provenance serializes");
    crate::with_custom_section(component, SECTION, &data)
}

/// The provenance of a deployable, when `bytes` are a component carrying a well-formed
/// section (the last, if several). Only the outermost component's sections count:
/// nested components (the constituents) are skipped whole.
#[cfg(feature = "wasm")]
pub fn read(bytes: &[u8]) -> Option<Provenance> {
    use wasmparser::{Chunk, Parser, Payload};
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    let mut found = None;
    loop {
        let (consumed, payload) = match parser.parse(rest, true).ok()? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => return found,
        };
        rest = &rest[consumed..];
        match payload {
            Payload::CustomSection(reader) if reader.name() == SECTION => {
                found = serde_json::from_slice(reader.data()).ok();
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let len = usize::try_from(unchecked_range.end - unchecked_range.start).ok()?;
                // The nested bytes follow; the outer parser resumes after them.
                rest = rest.get(len..)?;
            }
            Payload::End(_) => return found,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constituent(key: &str) -> Constituent {
        Constituent {
            key: key.into(),
            source: None,
            package: None,
            version: None,
            digest: "sha256:00".into(),
            log_index: None,
            log_entry: None,
            log_proof: vec![],
            signatures: vec![],
        }
    }

    #[test]
    fn keys_name_the_import_and_the_parent() {
        let root = constituent("deployable.root");
        assert_eq!((root.parent_key(), root.plugs_into()), (None, None));
        let plug = constituent(r#"plugs."wharf:auth""#);
        assert_eq!(plug.parent_key().as_deref(), Some("deployable.root"));
        assert_eq!(plug.plugs_into().as_deref(), Some("wharf:auth"));
        let nested = constituent(r#"plugs."wharf:auth".plugs."wharf:compression/codec""#);
        assert_eq!(
            nested.parent_key().as_deref(),
            Some(r#"plugs."wharf:auth""#)
        );
        assert_eq!(
            nested.plugs_into().as_deref(),
            Some("wharf:compression/codec")
        );
    }

    #[test]
    fn absent_sources_are_left_out_and_unknown_fields_ignored() {
        let json = r#"{"name":"acme:edge","version":"1.0.0","constituents":[{"key":"deployable.root","package":"acme:gw","version":"1.0.0","digest":"sha256:ab"}]}"#;
        let provenance: Provenance = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&provenance).unwrap(), json);
        let extra = json.replace(r#""key""#, r#""later":1,"key""#);
        assert_eq!(
            serde_json::from_str::<Provenance>(&extra).unwrap(),
            provenance
        );
    }

    #[cfg(feature = "wasm")]
    #[test]
    fn the_section_round_trips_and_is_read_from_the_outermost_component_only() {
        use wasm_encoder::ComponentSection as _;
        let provenance = Provenance {
            name: "acme:edge".into(),
            version: "1.0.0".into(),
            constituents: vec![Constituent {
                source: Some("path r.wasm".into()),
                ..constituent("deployable.root")
            }],
            log_checkpoint: None,
        };
        // The smallest component: the header alone.
        let header = b"\0asm\x0d\x00\x01\x00".to_vec();
        assert_eq!(read(&header), None);
        assert_eq!(read(b"not wasm"), None);
        let with = embed(header.clone(), &provenance);
        assert_eq!(read(&with), Some(provenance.clone()));

        // A nested component's section is its own business: skipped whole, its
        // bytes are not read as the outer component's sections.
        let mut nesting = header;
        wasm_encoder::RawSection {
            id: wasm_encoder::ComponentSectionId::Component as u8,
            data: &with,
        }
        .append_to_component(&mut nesting);
        assert_eq!(read(&nesting), None);
        let outer = Provenance {
            name: "acme:outer".into(),
            ..provenance
        };
        assert_eq!(read(&embed(nesting, &outer)), Some(outer));
    }
}
