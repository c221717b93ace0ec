//! The Wharf WIT contracts and components, built and embedded.
//!
//! The build script compiles every guest crate in `components/` for wasm32-wasip2 and
//! encodes every WIT package in `wit-packages/`; this crate hands out their bytes, so
//! that the CLI can publish them and tests can run them without knowing where they
//! were built.
#![deny(missing_docs)]

/// A component built from a guest crate in `components/`.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// The guest crate's name, e.g. `flate`.
    pub crate_name: &'static str,
    /// The registry package it is published as, e.g. `wharf:flate`.
    pub package: &'static str,
    /// The crate's version, which is the component's version.
    pub version: &'static str,
    /// The crate's description.
    pub description: &'static str,
    /// The component's bytes.
    pub bytes: &'static [u8],
}

/// A binary-encoded WIT package from `wit-packages/`.
#[derive(Debug, Clone, Copy)]
pub struct WitPackage {
    /// The package name without version, e.g. `wharf:compression`.
    pub package: &'static str,
    /// The version from the package line.
    pub version: &'static str,
    /// The package encoded as a WebAssembly component (the `wkg` / wit-component form).
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The component built from the guest crate `crate_name`, a test-only guest such as
/// `host-probe` included.
///
/// ```
/// let flate = wharf_bundled::component("flate").unwrap();
/// assert_eq!(flate.package, "wharf:flate");
/// assert!(flate.bytes.starts_with(b"\0asm"));
/// ```
pub fn component(crate_name: &str) -> Option<&'static Component> {
    COMPONENTS
        .iter()
        .chain(TEST_COMPONENTS)
        .find(|c| c.crate_name == crate_name)
}

/// The WIT package `package` (e.g. `wharf:compression`) at `version`.
pub fn wit_package(package: &str, version: &str) -> Option<&'static WitPackage> {
    WIT_PACKAGES
        .iter()
        .find(|p| p.package == package && p.version == version)
}

/// The bundled component `crate_name` with a custom section holding `tag` appended: a
/// real component whose bytes (and digest) are its own, for tests that need many
/// distinct versions or blobs.
#[cfg(feature = "test-support")]
pub fn unique_component(crate_name: &str, tag: &str) -> Vec<u8> {
    let bundled =
        component(crate_name).unwrap_or_else(|| panic!("no bundled component `{crate_name}`"));
    wharf_types::with_custom_section(bundled.bytes.to_vec(), "wharf-test", tag.as_bytes())
}
