//! Distinct real components for load and crash tests.

/// The flate component with a custom section that makes its bytes (and digest) unique.
pub fn unique_component(tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                return;
            }
        }
    }
    let mut payload = Vec::new();
    let name = b"wharf-test";
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut bytes = wharf_bundled::component("flate").unwrap().bytes.to_vec();
    bytes.push(0); // a custom section, allowed anywhere in a component
    leb(payload.len(), &mut bytes);
    bytes.extend_from_slice(&payload);
    bytes
}
