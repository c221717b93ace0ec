//! What a deployable is made of, embedded in it as a custom section so that
//! `wharf info deployable.wasm` and the registry can list its constituents without the
//! manifest. The format and its reader and writer live once in
//! [`wharf_types::provenance`]; here, the provenance of a composition.

use crate::load::Constituent;
use crate::manifest::{Manifest, Source};

pub use wharf_types::provenance::{
    Constituent as ConstituentInfo, Provenance, SECTION, embed, read as provenance,
};

/// The provenance of the deployable `manifest` describes, built from `constituents`
/// (listed in manifest order).
pub fn of(manifest: &Manifest, constituents: &[Constituent]) -> Provenance {
    let order: Vec<_> = manifest.components().into_iter().map(|(k, _)| k).collect();
    let mut constituents: Vec<&Constituent> = constituents
        .iter()
        .filter(|c| order.contains(&c.key))
        .collect();
    constituents.sort_by_key(|c| order.iter().position(|k| *k == c.key));
    Provenance {
        name: manifest.deployable.name.to_string(),
        version: manifest.deployable.version.to_string(),
        constituents: constituents
            .into_iter()
            .map(|c| ConstituentInfo {
                key: c.key.to_string(),
                source: match &c.source {
                    Source::Registry { .. } => None,
                    other => Some(other.to_string()),
                },
                package: match &c.source {
                    Source::Registry { package, .. } => Some(package.to_string()),
                    _ => None,
                },
                version: c.version.as_ref().map(ToString::to_string),
                digest: c.digest.to_string(),
                log_index: None,
                log_entry: None,
                log_proof: Vec::new(),
                signatures: c.signatures.clone(),
            })
            .collect(),
        log_checkpoint: None,
    }
}
