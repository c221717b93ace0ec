//! The composed example gateway (gateway + jwt-auth + json-schema + json-transform +
//! flate, composed by `wharf_compose::plug`) served by the host: concurrent real
//! requests, each answered from a fresh instance, gzip-compressed.

mod common;

use std::io::Read;

use serde_json::json;
use wharf_host::Capabilities;

const SECRET: &str = "host-test-secret";
const STEPS: &str = r#"[{"op": "normalize-whitespace"}, {"op": "redact", "pointers": ["/user/email"], "replacement": "[redacted]"}, {"op": "canonicalize"}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composed_gateway_serves_concurrent_requests_from_fresh_instances() {
    let capabilities = Capabilities {
        env: vec![
            ("GATEWAY_JWT_SECRET".into(), SECRET.into()),
            ("GATEWAY_JWT_AUDIENCE".into(), "ingest".into()),
            ("GATEWAY_TRANSFORM".into(), STEPS.into()),
        ],
        ..Capabilities::default()
    };
    let server = common::start(
        &common::composed_gateway(),
        capabilities,
        common::limits(),
        false,
    )
    .await;
    // No gzip decoding in the client: the test checks the bytes the gateway sent.
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let token = common::token(SECRET, "ingest");

    let requests: Vec<_> = (0..32)
        .map(|i| {
            let client = client.clone();
            let url = server.url("/v1/ingest");
            let token = token.clone();
            tokio::spawn(async move {
                let body = json!({"event": format!("  event   {i} "), "user": {"id": i, "email": "ann@example.com"}, "pad": "x".repeat(900)});
                let response = client
                    .post(url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .header("accept-encoding", "gzip")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                assert_eq!(response.headers()["content-encoding"], "gzip");
                let mut text = String::new();
                flate2::read::GzDecoder::new(&response.bytes().await.unwrap()[..])
                    .read_to_string(&mut text)
                    .unwrap();
                let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(answer["event"], format!("event {i}"));
                assert_eq!(answer["user"]["email"], "[redacted]");
            })
        })
        .collect();
    for request in requests {
        request.await.unwrap();
    }

    // A missing token is the gateway's own 401, not a host error.
    let denied = client
        .post(server.url("/v1/ingest"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let metrics = server.metrics();
    assert_eq!(
        common::metric(&metrics, "wharf_host_requests_total{status=\"200\"}"),
        32.0
    );
    assert_eq!(common::metric(&metrics, "wharf_host_traps_total"), 0.0);
}
