//! The `gateway` socket composed with the real plug components (jwt-auth, json-schema,
//! json-transform and flate or brotli) by `wharf_compose::plug`, served through
//! wasmtime-wasi-http with a fresh instance per request, answering real HTTP requests.

mod common;

use std::io::Read;
use std::sync::OnceLock;

use bytes::Bytes;
use common::http::Reply;
use hyper::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

const SECRET: &str = "gateway-test-secret";

const SCHEMA: &str = r#"{
    "type": "object",
    "required": ["event", "user"],
    "properties": {
        "event": {"type": "string"},
        "user": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "integer"}, "email": {"type": "string"}}
        }
    }
}"#;

const STEPS: &str = r#"[
    {"op": "normalize-whitespace"},
    {"op": "redact", "pointers": ["/user/email"], "replacement": "[redacted]"},
    {"op": "drop", "pointers": ["/debug"]},
    {"op": "canonicalize"}
]"#;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GATEWAY_JWT_SECRET", SECRET),
        ("GATEWAY_JWT_AUDIENCE", "ingest"),
        ("GATEWAY_REQUIRED_SCOPES", "ingest:write"),
        ("GATEWAY_SCHEMA", SCHEMA),
        ("GATEWAY_TRANSFORM", STEPS),
        ("GATEWAY_MAX_BODY_BYTES", "4096"),
    ]
}

/// The gateway with its four plugs, `compressor` being `flate` or `brotli`.
fn composed(compressor: &str) -> Vec<u8> {
    let bytes = |name: &str| wharf_bundled::component(name).unwrap().bytes;
    let plugs = [
        bytes("jwt-auth"),
        bytes("json-schema"),
        bytes("json-transform"),
        bytes(compressor),
    ];
    wharf_compose::plug(bytes("gateway"), &plugs).expect("compose the gateway")
}

fn proxy(compressor: &'static str) -> &'static ProxyPre<common::Host> {
    static FLATE: OnceLock<ProxyPre<common::Host>> = OnceLock::new();
    static BROTLI: OnceLock<ProxyPre<common::Host>> = OnceLock::new();
    let cell = if compressor == "flate" {
        &FLATE
    } else {
        &BROTLI
    };
    cell.get_or_init(|| {
        common::http::proxy(&common::compile(
            &format!("gateway+{compressor}"),
            &composed(compressor),
        ))
    })
}

async fn send_to(compressor: &'static str, env: &[(&str, &str)], request: Request<Bytes>) -> Reply {
    common::http::send(proxy(compressor), env, request).await
}

async fn send(request: Request<Bytes>) -> Reply {
    send_to("flate", &env(), request).await
}

fn token(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn good_token() -> String {
    token(json!({"sub": "ann", "aud": "ingest", "scope": "ingest:write", "exp": now() + 300}))
}

const BODY: &str = r#"{"user": {"email": "ann@example.com", "id": 7}, "event": "  signed   up ", "debug": {"x": 1}, "at": 1.50}"#;
const TRANSFORMED: &str = r#"{"at":1.5,"event":"signed up","user":{"email":"[redacted]","id":7}}"#;

fn ingest(token: Option<&str>, body: &str) -> hyper::http::request::Builder {
    let builder =
        Request::post("http://gateway.test/v1/ingest").header("content-type", "application/json");
    let builder = builder.header("content-length", body.len());
    match token {
        Some(token) => builder.header("authorization", format!("Bearer {token}")),
        None => builder,
    }
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn the_composed_gateway_imports_only_wasi() {
    for compressor in ["flate", "brotli"] {
        let imports = wharf_compose::imports(&composed(compressor)).unwrap();
        let foreign: Vec<_> = imports.iter().filter(|i| !i.starts_with("wasi:")).collect();
        assert!(
            foreign.is_empty(),
            "{compressor}: unexpected imports {foreign:?}"
        );
        let mut exports = wharf_compose::exports(&composed(compressor)).unwrap();
        exports.sort();
        // `plug`, like `wac plug`, exports everything the socket does: its handler
        // and its initializer (`wharf compose` leaves the initializer out).
        assert_eq!(
            exports,
            ["wasi:http/incoming-handler@0.2.12", "wizer-initialize"]
        );
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let reply = send(
        Request::get("http://gateway.test/healthz")
            .body(Bytes::new())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn a_valid_request_is_verified_validated_transformed_and_gzipped() {
    let request = ingest(Some(&good_token()), BODY)
        .header("accept-encoding", "br;q=1.0, gzip;q=0.8")
        .body(Bytes::from(BODY))
        .unwrap();
    let reply = send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // flate has no brotli, so the next choice the client accepts wins.
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert_eq!(reply.header("vary"), Some("accept-encoding"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(gunzip(&reply.body), TRANSFORMED);
}

#[tokio::test]
async fn without_accept_encoding_the_answer_is_plain() {
    let reply = send(
        ingest(Some(&good_token()), BODY)
            .body(Bytes::from(BODY))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), None);
    assert_eq!(reply.body, TRANSFORMED.as_bytes());
}

#[tokio::test]
async fn swapping_flate_for_brotli_answers_in_brotli() {
    let request = ingest(Some(&good_token()), BODY)
        .header("accept-encoding", "gzip, br")
        .body(Bytes::from(BODY))
        .unwrap();
    let reply = send_to("brotli", &env(), request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), Some("br"));
    let mut out = String::new();
    brotli::Decompressor::new(&reply.body[..], 4096)
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, TRANSFORMED);
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let reply = send(ingest(None, BODY).body(Bytes::from(BODY)).unwrap()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["error"], "missing-token");
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );

    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"aud": "ingest", "scope": "ingest:write", "exp": now() + 300}),
        &EncodingKey::from_secret(b"not the secret"),
    )
    .unwrap();
    let reply = send(ingest(Some(&forged), BODY).body(Bytes::from(BODY)).unwrap()).await;
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid-signature"))
    );

    let expired = token(json!({"aud": "ingest", "scope": "ingest:write", "exp": now() - 3600}));
    let reply = send(
        ingest(Some(&expired), BODY)
            .body(Bytes::from(BODY))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token-expired"))
    );

    let wrong_audience =
        token(json!({"aud": "billing", "scope": "ingest:write", "exp": now() + 300}));
    let reply = send(
        ingest(Some(&wrong_audience), BODY)
            .body(Bytes::from(BODY))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid-audience"))
    );
}

#[tokio::test]
async fn a_token_without_the_scope_is_forbidden() {
    let reader = token(json!({"aud": "ingest", "scope": "ingest:read", "exp": now() + 300}));
    let reply = send(ingest(Some(&reader), BODY).body(Bytes::from(BODY)).unwrap()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["error"], "insufficient-scope");
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[tokio::test]
async fn bodies_that_are_not_json_or_too_large_are_refused() {
    let text = Request::post("http://gateway.test/v1/ingest")
        .header("authorization", format!("Bearer {}", good_token()))
        .header("content-type", "text/plain")
        .body(Bytes::from("hello"))
        .unwrap();
    assert_eq!(send(text).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let big = format!(
        r#"{{"event": "x", "user": {{"id": 1}}, "pad": "{}"}}"#,
        "x".repeat(5000)
    );
    let reply = send(
        ingest(Some(&good_token()), &big)
            .body(Bytes::from(big.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("body-too-large"))
    );

    let broken = r#"{"event": "x", "user": "#;
    let reply = send(
        ingest(Some(&good_token()), broken)
            .body(Bytes::from(broken))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-json"))
    );
}

#[tokio::test]
async fn schema_violations_are_listed_with_their_paths() {
    let body = r#"{"user": {"id": "seven"}}"#;
    let reply = send(
        ingest(Some(&good_token()), body)
            .body(Bytes::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let json = reply.json();
    assert_eq!(json["error"], "schema-violation");
    let mut paths: Vec<(String, String)> = json["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["instancePath"].as_str().unwrap().into(),
                v["schemaPath"].as_str().unwrap().into(),
            )
        })
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            ("".into(), "/required".into()),
            (
                "/user/id".into(),
                "/properties/user/properties/id/type".into()
            )
        ]
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_404_and_405() {
    let reply = send(
        Request::get("http://gateway.test/nope")
            .body(Bytes::new())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = send(
        Request::get("http://gateway.test/v1/ingest")
            .body(Bytes::new())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[tokio::test]
async fn missing_configuration_is_a_500_naming_the_variables() {
    let reply = send_to(
        "flate",
        &[],
        ingest(Some(&good_token()), BODY)
            .body(Bytes::from(BODY))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("GATEWAY_JWT_SECRET"), "{message}");

    let mut bad_steps = env();
    bad_steps.retain(|(k, _)| *k != "GATEWAY_TRANSFORM");
    bad_steps.push(("GATEWAY_TRANSFORM", r#"[{"op": "shuffle"}]"#));
    let reply = send_to(
        "flate",
        &bad_steps,
        ingest(Some(&good_token()), BODY)
            .body(Bytes::from(BODY))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("GATEWAY_TRANSFORM")
    );
}
