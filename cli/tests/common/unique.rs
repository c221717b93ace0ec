//! Distinct real components for load and crash tests.

/// The flate component with a custom section that makes its bytes (and digest) unique.
pub fn unique_component(tag: &str) -> Vec<u8> {
    use wasm_encoder::ComponentSection as _;
    let mut bytes = wharf_bundled::component("flate").unwrap().bytes.to_vec();
    // A custom section is allowed anywhere in a component.
    wasm_encoder::CustomSection {
        name: "wharf-test".into(),
        data: tag.as_bytes().into(),
    }
    .append_to_component(&mut bytes);
    bytes
}
