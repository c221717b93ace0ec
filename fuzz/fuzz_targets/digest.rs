//! `wharf_types::Digest`: parsing, display, serde, and hashing.
//!
//! Any text (as an upload's `?digest=` or a manifest reference): never panics; a digest
//! that parses displays as exactly that text, re-parses to itself, has the algorithm its
//! prefix names and that many hex digits; serde agrees with `FromStr`. Any bytes: the
//! sha256 and sha512 digests parse back to themselves, match those bytes and not others,
//! and equal an incremental hash of the same bytes fed in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_types::{Algorithm, Digest};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = text.parse::<Digest>();
    let via_serde = serde_json::from_value::<Digest>(serde_json::Value::String(text.to_string()));
    assert_eq!(parsed.is_ok(), via_serde.is_ok());
    if let Ok(d) = &parsed {
        assert_eq!(d.to_string(), text);
        assert_eq!(d.to_string().parse::<Digest>().as_ref(), Ok(d));
        assert_eq!(via_serde.as_ref().ok(), Some(d));
        let json = serde_json::to_string(d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).ok().as_ref(), Some(d));
        let (prefix, hex) = text.split_once(':').unwrap();
        assert_eq!(d.algorithm().name(), prefix);
        assert_eq!(d.hex(), hex);
        let want = match d.algorithm() {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        };
        assert_eq!(hex.len(), want);
    }

    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let d = Digest::compute(algorithm, data);
        assert_eq!(d.algorithm(), algorithm);
        assert_eq!(d.to_string().parse::<Digest>().as_ref(), Ok(&d));
        assert!(d.matches(data));
        let mut longer = data.to_vec();
        longer.push(0);
        assert!(!d.matches(&longer));
        let mut hasher = algorithm.hasher();
        hasher.update(&data[..split]);
        hasher.update(&data[split..]);
        assert_eq!(hasher.finish(), d);
    }
    let d = Digest::of(data);
    assert_eq!(d, Digest::compute(Algorithm::Sha256, data));
    let raw: [u8; 32] = hex::decode(d.hex()).unwrap().try_into().unwrap();
    assert_eq!(Digest::from_sha256(raw), d);
});
