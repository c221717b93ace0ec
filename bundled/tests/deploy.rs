//! End to end: the bundled components published to a running Wharf registry, a deploy
//! manifest resolved against it over OCI (wasm-pkg-client), locked, composed with wac,
//! and the deployable answering real requests in wasmtime-wasi-http. Swapping flate
//! for brotli is a one-line change to the manifest.

mod common;

use std::io::{Read, Write};

use bytes::Bytes;
use hyper::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use wharf_compose::{Cache, Lock, LockMode, Manifest, OciResolver, RegistryConfig};

const MANIFEST: &str = r#"
[deployable]
name = "acme:edge"
version = "1.0.0"
root = { package = "wharf:edge-gateway", version = "^1" }

[plugs]
"wharf:auth" = { package = "wharf:jwt-auth", version = "^1" }
"wharf:schema" = { package = "wharf:json-schema", version = "^1" }
"wharf:transform" = { package = "wharf:json-transform", version = "^1" }
"wharf:compression" = { package = "wharf:flate", version = "^1" }

[host]
allow = ["wasi:cli/*", "wasi:io/*", "wasi:clocks/*", "wasi:random/*", "wasi:filesystem/*", "wasi:http/types"]
"#;

const SECRET: &str = "deploy-test-secret";
const ADMIN: &str = "deploy-test-admin-token";

async fn start_registry() -> (
    String,
    String,
    tempfile::TempDir,
    tokio::sync::oneshot::Sender<()>,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = wharf_registry::Config::new(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_token = Some(ADMIN.into());
    let server = wharf_registry::Server::bind(config).await.unwrap();
    let host = server.local_addr().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for c in wharf_bundled::COMPONENTS {
        let (ns, name) = c.package.split_once(':').unwrap();
        client
            .put(format!(
                "http://{host}/api/v1/packages/{ns}/{name}/versions/{}",
                c.version
            ))
            .bearer_auth(ADMIN)
            .body(c.bytes)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
    (host, ADMIN.into(), dir, stop)
}

/// Resolves, locks, fetches through the cache and composes.
async fn deploy(
    manifest_text: &str,
    lock: Option<&Lock>,
    mode: LockMode,
    resolver: &OciResolver,
    work: &std::path::Path,
) -> (Vec<u8>, Lock) {
    let manifest: Manifest = manifest_text.parse().unwrap();
    let lock = wharf_compose::resolve(&manifest, lock, resolver, mode)
        .await
        .unwrap();
    let cache = Cache::new(work.join("cache"));
    let constituents = wharf_compose::load(&manifest, work, &lock, resolver, &cache)
        .await
        .unwrap();
    (
        wharf_compose::compose(&manifest, &constituents).unwrap(),
        lock,
    )
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GATEWAY_JWT_SECRET", SECRET),
        (
            "GATEWAY_SCHEMA",
            r#"{"type": "object", "required": ["event"], "properties": {"event": {"type": "string"}, "n": {"type": "integer"}}}"#,
        ),
        (
            "GATEWAY_TRANSFORM",
            r#"[{"op": "normalize-whitespace"}, {"op": "canonicalize"}]"#,
        ),
    ]
}

fn token(key: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "ann", "exp": exp}),
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

fn ingest(token: &str, body: &'static str, accept: &str) -> Request<Bytes> {
    Request::post("http://edge.test/v1/ingest")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept-encoding", accept)
        .body(Bytes::from(body))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_resolved_against_wharf_composes_a_working_gateway() {
    let (host, admin, _registry_dir, _stop) = start_registry().await;
    let resolver = OciResolver::new(&RegistryConfig {
        registry: host.clone(),
        insecure_http: true,
        token: Some(admin),
    })
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let (deployable, lock) = deploy(MANIFEST, None, LockMode::Reuse, &resolver, work.path()).await;

    // The lock pins what the registry holds.
    let flate = wharf_bundled::component("flate").unwrap();
    let text = lock.to_string();
    assert!(
        text.contains("wharf:flate")
            && text.contains(&wharf_types::Digest::of(flate.bytes).to_string()),
        "{text}"
    );
    // Only allowed WASI imports remain, and it fits the size budget.
    let imports = wharf_compose::imports(&deployable).unwrap();
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:")),
        "{imports:?}"
    );
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&deployable).unwrap();
    let compressed = gzip.finish().unwrap().len();
    assert!(compressed < 1 << 20, "{compressed} bytes gzip-compressed");
    // Provenance names every constituent with the digest the registry serves.
    let provenance = wharf_compose::provenance(&deployable).expect("provenance");
    assert_eq!(provenance.constituents.len(), 5);
    let flate_entry = provenance
        .constituents
        .iter()
        .find(|c| c.package.as_deref() == Some("wharf:flate"))
        .unwrap();
    assert_eq!(
        flate_entry.digest,
        wharf_types::Digest::of(flate.bytes).to_string()
    );

    // The same lock gives the same bytes.
    let (again, _) = deploy(
        MANIFEST,
        Some(&lock),
        LockMode::Locked,
        &resolver,
        work.path(),
    )
    .await;
    assert_eq!(again, deployable);

    let pre = common::http::proxy(&common::compile("deployed+flate", &deployable));
    let env = env();
    let ok = common::http::send(
        &pre,
        &env,
        ingest(
            &token(SECRET),
            r#"{"n": 2, "event": "  hello   world "}"#,
            "gzip",
        ),
    )
    .await;
    assert_eq!(
        (ok.status, ok.header("content-encoding")),
        (StatusCode::OK, Some("gzip"))
    );
    let mut body = String::new();
    flate2::read::GzDecoder::new(&ok.body[..])
        .read_to_string(&mut body)
        .unwrap();
    assert_eq!(body, r#"{"event":"hello world","n":2}"#);
    let forged = common::http::send(
        &pre,
        &env,
        ingest(&token("not the secret"), r#"{"event": "x"}"#, "gzip"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    let invalid = common::http::send(
        &pre,
        &env,
        ingest(&token(SECRET), r#"{"n": "two"}"#, "gzip"),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<String> = invalid.json()["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["instancePath"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        paths.contains(&"".to_owned()) && paths.contains(&"/n".to_owned()),
        "{paths:?}"
    );

    // One line changed: brotli instead of flate.
    let swapped = MANIFEST.replace(r#"package = "wharf:flate""#, r#"package = "wharf:brotli""#);
    let (with_brotli, _) = deploy(
        &swapped,
        Some(&lock),
        LockMode::Reuse,
        &resolver,
        work.path(),
    )
    .await;
    let pre = common::http::proxy(&common::compile("deployed+brotli", &with_brotli));
    let br = common::http::send(
        &pre,
        &env,
        ingest(&token(SECRET), r#"{"event": "x"}"#, "gzip, br"),
    )
    .await;
    assert_eq!(
        (br.status, br.header("content-encoding")),
        (StatusCode::OK, Some("br"))
    );
}
