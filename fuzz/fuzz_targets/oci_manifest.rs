//! A pushed OCI manifest through `wharf_registry::artifact::parse_manifest`, as `PUT
//! /v2/<name>/manifests/<reference>` reads it. The input's first line is the request's
//! `Content-Type` (empty for none), the rest the body.
//!
//! Never panics; what it accepts is an image manifest (its config digest first among
//! the blobs, no child manifests) or an index (child manifests, no blobs); a Wasm layer
//! is one of the blobs; annotations are a JSON object; and the same JSON written out
//! again by serde_json parses to the same result (so nothing depends on formatting).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wharf_registry::artifact::{OCI_INDEX, OCI_MANIFEST, ParsedManifest, parse_manifest};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let content_type = std::str::from_utf8(content_type)
        .ok()
        .filter(|c| !c.is_empty());

    let parsed = parse_manifest(content_type, body);
    if let Ok(p) = &parsed {
        check(p);
    }

    // Formatting does not matter: the same JSON, written out again, reads the same.
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        assert!(parsed.is_err(), "accepted a body that is not JSON");
        return;
    };
    let again = parse_manifest(content_type, &serde_json::to_vec(&value).unwrap());
    match (&parsed, &again) {
        (Ok(a), Ok(b)) => {
            // Annotations are compared as present or not: serde_json may move a float
            // by one ulp on a second trip (no `float_roundtrip` feature).
            let strip = |p: &ParsedManifest| ParsedManifest {
                annotations: p.annotations.as_ref().map(|_| String::new()),
                ..p.clone()
            };
            assert_eq!(strip(a), strip(b));
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!(
            "rewritten JSON changed the verdict: {:?} then {:?}",
            parsed.as_ref().map(|_| ()).map_err(|e| &e.message),
            again.as_ref().map(|_| ()).map_err(|e| &e.message),
        ),
    }
});

fn check(p: &ParsedManifest) {
    assert_eq!(p.media_type.trim(), p.media_type);
    assert!(!p.media_type.contains(';'));
    match p.media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            assert!(!p.blobs.is_empty(), "an image manifest without its config");
            assert!(p.manifests.is_empty());
        }
        OCI_INDEX | DOCKER_LIST => {
            assert!(p.blobs.is_empty());
            assert!(p.wasm_layer.is_none());
        }
        other => panic!("accepted the media type `{other}`"),
    }
    if let Some(layer) = &p.wasm_layer {
        assert!(
            p.blobs.contains(layer),
            "the Wasm layer is not among the blobs"
        );
        assert!(p.blobs.len() <= 2);
    }
    for pair in p.blobs.windows(2) {
        assert_ne!(pair[0], pair[1], "adjacent duplicate blobs survived");
    }
    if let Some(annotations) = &p.annotations {
        let value: Value = serde_json::from_str(annotations).expect("annotations are JSON");
        assert!(value.is_object());
    }
}
