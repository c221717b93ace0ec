//! What a composed deployable is made of, read from its `wharf:provenance` custom
//! section (written by `wharf-compose`). Part of the analysis layer: it only looks at
//! bytes. The format and its reader live once in [`wharf_types::provenance`], shared
//! with the composer and the CLI, so the registry need not depend on the composer
//! (and, through it, on wac and wasm-pkg-client); the cap on its size is the
//! registry's own.

pub use wharf_types::provenance::{Constituent, Provenance, SECTION, read};

/// The most constituents a published deployable's provenance may list: far more than
/// any composition has plugs, few enough that its page (a lookup and a box per part)
/// stays cheap.
pub const MAX_CONSTITUENTS: usize = 256;
