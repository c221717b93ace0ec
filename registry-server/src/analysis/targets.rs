//! Which targets can run a component: each of the composer's targets
//! ([`wharf_compose::target::TARGETS`], the world each host offers, described once as
//! data) decides from the component's import and export names, as the registry stores
//! them, so the registry and `wharf compose --target` never disagree. Who brought an
//! import in the way is read from the bytes: a deployable's provenance names its
//! constituents.

use std::collections::BTreeMap;

pub use wharf_compose::target::{Refusal, TARGETS, Target};

/// Every target with its refusal of a component importing and exporting these names
/// (`None`: it runs there), in [`TARGETS`] order.
pub fn refusals(imports: &[String], exports: &[String]) -> Vec<(&'static Target, Option<Refusal>)> {
    TARGETS
        .iter()
        .map(|t| (t, t.refusal(imports, exports)))
        .collect()
}

/// The target called `name`, or the message naming the known ones.
pub fn target(name: &str) -> Result<&'static Target, String> {
    wharf_compose::target::target(name).ok_or_else(|| {
        format!(
            "unknown target `{name}`: the targets are {}",
            wharf_compose::target::names()
        )
    })
}

/// For each of `refused` (imports of the component `bytes`), the manifest keys of the
/// constituents that import it; every list is empty when the component carries no
/// provenance (it was not made by `wharf compose`) or does not decode.
pub fn brought_in_by(bytes: &[u8], refused: Vec<String>) -> BTreeMap<String, Vec<String>> {
    match wharf_compose::target::brought_in_by(bytes, refused.clone()) {
        Ok((denied, _)) => denied
            .into_iter()
            .map(|d| {
                let keys = d.brought_in_by.iter().map(ToString::to_string).collect();
                (d.import, keys)
            })
            .collect(),
        Err(_) => refused.into_iter().map(|i| (i, Vec::new())).collect(),
    }
}
