//! The composed example gateway (gateway + jwt-auth + json-schema + json-transform +
//! flate, composed by `wharf_compose::plug`) served by the host: concurrent real
//! requests, each answered from a fresh instance, gzip-compressed; and the memory cap
//! counted over all the memories of such a composition.
//!
//! Both use `components/transform-probe`, a test plug composed between the gateway
//! and json-transform: it wraps each answer as `{"calls": N, "output": ...}`, N the
//! calls its instance has served, and can hold memory of its own during a call.

mod common;

use std::io::Read;

use serde_json::{Value, json};
use wharf_host::{Capabilities, Limits};

const SECRET: &str = "host-test-secret";
const STEPS: &str = r#"[{"op": "normalize-whitespace"}, {"op": "redact", "pointers": ["/user/email"], "replacement": "[redacted]"}, {"op": "canonicalize"}]"#;

fn capabilities(extra: &[(&str, &str)]) -> Capabilities {
    let mut env = vec![
        ("GATEWAY_JWT_SECRET".into(), SECRET.into()),
        ("GATEWAY_JWT_AUDIENCE".into(), "ingest".into()),
        ("GATEWAY_TRANSFORM".into(), STEPS.into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Capabilities {
        env,
        ..Capabilities::default()
    }
}

/// `limits` with time enough for a loaded machine: without a serving image every
/// fresh instance compiles the schema and its metaschemas (tens of millions of wasm
/// instructions), and these tests are about instances and memory, not time.
fn patient(limits: Limits) -> Limits {
    Limits {
        deadline: std::time::Duration::from_secs(30),
        queue_timeout: std::time::Duration::from_secs(30),
        ..limits
    }
}

/// POSTs event `i` to `url` (a `/v1/ingest`) asking for gzip; the status and, on a 200, the
/// decompressed answer.
async fn ingest(client: &reqwest::Client, url: &str, i: usize) -> (u16, Value) {
    let body = json!({"event": format!("  event   {i} "), "user": {"id": i, "email": "ann@example.com"}, "pad": "x".repeat(900)});
    let response = client
        .post(url)
        .bearer_auth(common::token(SECRET, "ingest"))
        .header("content-type", "application/json")
        .header("accept-encoding", "gzip")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return (status, Value::String(response.text().await.unwrap()));
    }
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&response.bytes().await.unwrap()[..])
        .read_to_string(&mut text)
        .unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

/// What json-transform made of event `i`, as the probe passed it on.
fn assert_transformed(answer: &Value, i: usize) {
    assert_eq!(answer["output"]["event"], format!("event {i}"), "{answer}");
    assert_eq!(answer["output"]["user"]["email"], "[redacted]", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composed_gateway_serves_concurrent_requests_from_fresh_instances() {
    let server = common::start(
        &common::gateway_with_transform_probes(1),
        capabilities(&[]),
        patient(common::limits()),
        false,
    )
    .await;
    // No gzip decoding in the client: the test checks the bytes the gateway sent.
    let client = reqwest::Client::builder().no_gzip().build().unwrap();

    // 32 at once, over 8 slots: with instances reused, most would be an instance's
    // second call or later.
    let requests: Vec<_> = (0..32)
        .map(|i| {
            let (client, url) = (client.clone(), server.url("/v1/ingest"));
            tokio::spawn(async move { ingest(&client, &url, i).await })
        })
        .collect();
    for (i, request) in requests.into_iter().enumerate() {
        let (status, answer) = request.await.unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_transformed(&answer, i);
        assert_eq!(
            answer["calls"], 1,
            "request {i} met a used instance: {answer}"
        );
    }
    // One after another, each request could take the instance the one before left.
    for i in 32..35 {
        let (status, answer) = ingest(&client, &server.url("/v1/ingest"), i).await;
        assert_eq!(status, 200, "{answer}");
        assert_transformed(&answer, i);
        assert_eq!(
            answer["calls"], 1,
            "request {i} met a used instance: {answer}"
        );
    }

    // A missing token is the gateway's own 401, not a host error.
    let denied = client
        .post(server.url("/v1/ingest"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    // Two instances wait, made ahead of the next requests (`prewarming`'s default).
    common::wait_for_metric(&server, "wharf_host_instances_ready", 2.0).await;
    let metrics = server.metrics();
    assert_eq!(
        common::metric(&metrics, "wharf_host_requests_total{status=\"200\"}"),
        35.0
    );
    assert_eq!(
        common::metric(&metrics, "wharf_host_instantiation_seconds_count"),
        36.0 + 2.0,
        "one instantiation per request, and the two waiting"
    );
    assert_eq!(common::metric(&metrics, "wharf_host_traps_total"), 0.0);
}

/// docs/host.md: "The memory cap is per instance, over all memories". Each probe
/// holds 64 MiB of its own memory during a call, under a cap of 112 MiB. No single
/// memory comes near the cap (a probe's is 64 MiB and change; the gateway's other
/// plugs hold a few MiB each), so a per-memory limit would let both compositions
/// through. Summed, one probe (64 MiB, plus under 48 MiB for everything else) fits,
/// and two (128 MiB) cannot; with room for the sum, two answer too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_cap_counts_every_memory_of_a_composed_deployable() {
    let hold = capabilities(&[("TRANSFORM_PROBE_HOLD_MIB", "64")]);
    let capped = patient(Limits {
        max_memory: 112 << 20,
        ..common::limits()
    });
    let client = reqwest::Client::builder().no_gzip().build().unwrap();

    let one = common::start(
        &common::gateway_with_transform_probes(1),
        hold.clone(),
        capped.clone(),
        false,
    )
    .await;
    let (status, answer) = ingest(&client, &one.url("/v1/ingest"), 1).await;
    assert_eq!(status, 200, "one probe fits: {answer}");
    assert_transformed(&answer, 1);

    let two = common::start(
        &common::gateway_with_transform_probes(2),
        hold.clone(),
        capped,
        false,
    )
    .await;
    let (status, answer) = ingest(&client, &two.url("/v1/ingest"), 2).await;
    assert_eq!(
        status, 500,
        "two probes' memories together pass the cap: {answer}"
    );
    let metrics = two.metrics();
    assert_eq!(
        common::metric(&metrics, "wharf_host_limit_hits_total{limit=\"memory\"}"),
        1.0
    );
    assert_eq!(common::metric(&metrics, "wharf_host_traps_total"), 1.0);

    let roomy = common::start(
        &common::gateway_with_transform_probes(2),
        hold,
        patient(Limits {
            max_memory: 256 << 20,
            ..common::limits()
        }),
        false,
    )
    .await;
    let (status, answer) = ingest(&client, &roomy.url("/v1/ingest"), 3).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["calls"], 1, "{answer}");
    assert_transformed(&answer["output"], 3);
}
