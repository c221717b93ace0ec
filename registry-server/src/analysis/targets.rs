//! Which targets can run a component: each of the composer's targets
//! ([`wharf_compose::target::TARGETS`], the world each host offers, described once as
//! data) decides from the component's import and export names, as the registry stores
//! them, so the registry and `wharf compose --target` never disagree. Who brought an
//! import in the way is read from the bytes: a deployable's provenance names its
//! constituents.

pub use wharf_compose::target::{TARGETS, Target, brought_in_by_keys, fits, refused_anywhere};

/// The target called `name`, or the message naming the known ones.
pub fn target(name: &str) -> Result<&'static Target, String> {
    wharf_compose::target::target(name).ok_or_else(|| {
        format!(
            "unknown target `{name}`: the targets are {}",
            wharf_compose::target::names()
        )
    })
}
