//! Manifests built to cost the server or to slip past its checks.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::wire::{bearer, exchange, expect, sha256};
use crate::{Acknowledged, MANIFEST_CAP, Problems};

/// The descriptor of a blob.
fn descriptor(media_type: &str, digest: &str, size: usize) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// An image manifest of `config` and `layers`.
fn image(config: serde_json::Value, layers: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    }))
    .unwrap()
}

/// Manifests built to cost the server or to slip past its checks, each refused with
/// the OCI code that names its flaw and none of them tagged; a good manifest pushed
/// among them is accepted and read back (so the refusals are the flaws' doing).
pub fn manifests(addr: &str, token: &str) -> (Problems, Acknowledged) {
    let mut problems = Problems::new();
    let auth = [bearer(token)];
    let push = |bytes: &[u8]| {
        let answer = exchange(
            addr,
            "POST",
            &format!("/v2/evil/m/blobs/uploads/?digest={}", sha256(bytes)),
            &auth,
            bytes,
        );
        assert_eq!(answer.as_ref().map(|a| a.status), Ok(201), "pushing a blob");
        descriptor("application/octet-stream", &sha256(bytes), bytes.len())
    };
    let config = push(br#"{"architecture":"wasm","os":"wasip2"}"#);
    let layer = push(&wharf_bundled::unique_component("flate", "evil-layer"));
    let put = |reference: &str, content_type: &str, body: &[u8]| {
        let headers = [auth[0].clone(), format!("content-type: {content_type}")];
        exchange(
            addr,
            "PUT",
            &format!("/v2/evil/m/manifests/{reference}"),
            &headers,
            body,
        )
    };
    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    let fake = |i: usize| descriptor("application/octet-stream", &sha256(&i.to_le_bytes()), 1);
    let good = image(config.clone(), vec![layer.clone()]);
    let depth = 100_000;
    let mut misplaced = good.clone();
    misplaced.push(b' ');
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "a manifest with 50,000 layers",
            OCI,
            image(config.clone(), (0..50_000).map(fake).collect()),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "an index of 50,000 manifests",
            "application/vnd.oci.image.index.v1+json",
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": (0..50_000).map(fake).collect::<Vec<_>>(),
            }))
            .unwrap(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "arrays nested 100,000 deep",
            OCI,
            format!(
                r#"{{"schemaVersion":2,"config":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "objects nested 100,000 deep",
            OCI,
            format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth)).into_bytes(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "a manifest cut short",
            OCI,
            good[..good.len() / 2].to_vec(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "bytes that are not UTF-8",
            OCI,
            b"\xff\xfe\x00{not json".to_vec(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "a manifest of an unknown media type",
            "text/html",
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "text/html",
                "config": config, "layers": [layer]}))
            .unwrap(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "a manifest with no media type, sent as text/plain",
            "text/plain",
            serde_json::to_vec(&json!({"schemaVersion": 2, "config": config, "layers": [layer]}))
                .unwrap(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "a manifest of schema version 1",
            OCI,
            serde_json::to_vec(&json!({"schemaVersion": 1, "mediaType": OCI,
                "config": config, "layers": [layer]}))
            .unwrap(),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "a manifest naming a blob that is not there",
            OCI,
            image(config.clone(), vec![fake(7)]),
            400,
            "MANIFEST_BLOB_UNKNOWN",
        ),
        (
            "a manifest whose config is a string",
            OCI,
            image(json!("sha256:00"), vec![layer.clone()]),
            400,
            "MANIFEST_INVALID",
        ),
        (
            "a manifest larger than the manifest cap",
            OCI,
            image(
                config.clone(),
                vec![json!({"annotations": {"x": "y".repeat(MANIFEST_CAP)}})],
            ),
            413,
            "",
        ),
    ];
    for (what, content_type, body, status, code) in cases {
        let sent = Instant::now();
        expect(
            &mut problems,
            what,
            put("hostile", content_type, &body),
            status,
            code,
        );
        if sent.elapsed() > Duration::from_secs(10) {
            problems.push(format!("{what}: took {:?} to refuse", sent.elapsed()));
        }
    }
    let good_digest = sha256(&good);
    expect(
        &mut problems,
        "a manifest pushed under another's digest",
        put(&sha256(&misplaced), OCI, &good),
        400,
        "DIGEST_INVALID",
    );
    expect(
        &mut problems,
        "a manifest pushed under a tag that is a path",
        put("..%2F..%2Fetc", OCI, &good),
        400,
        "",
    );
    let wrong = b"these bytes are not what the digest says";
    expect(
        &mut problems,
        "a blob pushed under another's digest",
        exchange(
            addr,
            "POST",
            &format!("/v2/evil/m/blobs/uploads/?digest={}", sha256(b"other")),
            &auth,
            wrong,
        ),
        400,
        "DIGEST_INVALID",
    );
    for digest in [sha256(b"other"), sha256(wrong)] {
        expect(
            &mut problems,
            "a blob pushed under another's digest, afterwards",
            exchange(
                addr,
                "HEAD",
                &format!("/v2/evil/m/blobs/{digest}"),
                &auth,
                b"",
            ),
            404,
            "",
        );
    }
    expect(
        &mut problems,
        "the good manifest among the hostile ones",
        put("good", OCI, &good),
        201,
        "",
    );
    expect(
        &mut problems,
        "the repository's tags after the hostile manifests",
        exchange(addr, "GET", "/v2/evil/m/tags/list", &auth, b""),
        200,
        r#""tags":["good"]"#,
    );
    let acknowledged = vec![
        ("/v2/evil/m/manifests/good".to_owned(), good.clone()),
        (format!("/v2/evil/m/manifests/{good_digest}"), good),
    ];
    (problems, acknowledged)
}
