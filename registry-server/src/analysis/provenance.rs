//! What a composed deployable is made of, read from its `wharf:provenance` custom
//! section (written by `wharf-compose`; see `compose/src/provenance.rs` for the format).
//! Part of the analysis layer: it only looks at bytes.
//!
//! The registry reads the section with wasmparser and keeps its own copy of the small
//! JSON shape, so that it does not depend on the composer (and, through it, on wac and
//! wasm-pkg-client). Unknown fields are ignored, so the composer may add some.

use serde::Deserialize;
use wasmparser::{Parser, Payload};

/// The name of the custom section the composer writes.
pub const SECTION: &str = "wharf:provenance";

/// The most constituents a published deployable's provenance may list: far more than
/// any composition has plugs, few enough that its page (a lookup and a box per part)
/// stays cheap.
pub const MAX_CONSTITUENTS: usize = 256;

/// A deployable's name and version and its constituents, root first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Provenance {
    /// The deployable's package name.
    pub name: String,
    /// The deployable's version.
    pub version: String,
    /// The parts it was composed of.
    pub constituents: Vec<Constituent>,
}

/// One component linked into a deployable.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Constituent {
    /// Its manifest key: `deployable.root`, `plugs."wharf:auth"`, or nested,
    /// `plugs."wharf:auth".plugs."wharf:compression"`.
    pub key: String,
    /// For path and URL sources, as the manifest gives it.
    #[serde(default)]
    pub source: Option<String>,
    /// For registry sources.
    #[serde(default)]
    pub package: Option<String>,
    /// The version it was resolved to, if it came from a registry.
    #[serde(default)]
    pub version: Option<String>,
    /// The digest of the bytes used.
    pub digest: String,
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

/// The provenance of a deployable, when `bytes` are a component carrying a well-formed
/// section. Only the outermost component's sections count: nested components (the
/// constituents) are skipped whole.
pub fn read(bytes: &[u8]) -> Option<Provenance> {
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    let mut found = None;
    loop {
        let (consumed, payload) = match parser.parse(rest, true).ok()? {
            wasmparser::Chunk::Parsed { consumed, payload } => (consumed, payload),
            wasmparser::Chunk::NeedMoreData(_) => return found,
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
                let len = (unchecked_range.end - unchecked_range.start) as usize;
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
    fn the_section_is_read_from_the_outermost_component_only() {
        let json = br#"{"name":"acme:edge","version":"1.0.0","constituents":[{"key":"deployable.root","package":"acme:gw","version":"1.0.0","digest":"sha256:ab"}]}"#;
        fn leb(out: &mut Vec<u8>, mut v: usize) {
            loop {
                let byte = (v & 0x7f) as u8;
                v >>= 7;
                out.push(if v == 0 { byte } else { byte | 0x80 });
                if v == 0 {
                    return;
                }
            }
        }
        let section = |id: u8, data: &[u8]| {
            let mut out = vec![id];
            leb(&mut out, data.len());
            out.extend_from_slice(data);
            out
        };
        let custom = |data: &[u8]| {
            let mut payload = vec![SECTION.len() as u8];
            payload.extend_from_slice(SECTION.as_bytes());
            payload.extend_from_slice(data);
            section(0, &payload)
        };
        let header = b"\0asm\x0d\x00\x01\x00".to_vec();
        let mut outer = header.clone();
        outer.extend(custom(json));
        let found = read(&outer).expect("provenance");
        assert_eq!(found.name, "acme:edge");
        assert_eq!(found.constituents[0].package.as_deref(), Some("acme:gw"));
        assert_eq!(read(&header), None);
        assert_eq!(read(b"not wasm"), None);

        // A nested component's section is its own business.
        let mut inner = header.clone();
        inner.extend(custom(json));
        let mut nesting = header;
        nesting.extend(section(4, &inner)); // a nested component
        assert_eq!(read(&nesting), None);
    }
}
