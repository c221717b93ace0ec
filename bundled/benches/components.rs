//! Per-call time of one operation of each component, inside wasmtime, against the same
//! Rust crate called natively, in one run: `cargo bench -p wharf-bundled`.
//!
//! Each operation runs in batches; the figure is the median per-call time over the
//! batches (medians resist the noise of a shared machine), and the ratio is wasm time
//! over native time, measured side by side.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use common::bindings;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};

const BATCHES: usize = 31;
const TARGET_BATCH: Duration = Duration::from_millis(20);

/// Median per-call time of `f`, in nanoseconds.
fn measure(mut f: impl FnMut()) -> f64 {
    // Warm up and size the batch so that one batch takes about TARGET_BATCH.
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < TARGET_BATCH {
        f();
        calls += 1;
    }
    let batch = calls.max(1);
    let mut per_call: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(batch)
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[BATCHES / 2]
}

fn payload() -> String {
    let items: Vec<Value> = (0..12)
        .map(|i| json!({"sku": format!("SKU-{i:04}"), "qty": i % 5 + 1, "price": 9.99 + f64::from(i), "note": "  fragile,   keep upright "}))
        .collect();
    let doc = json!({"order": 1042, "customer": {"id": 7, "email": "ann@example.com", "name": "Ann Lee"}, "items": items});
    let text = doc.to_string();
    assert!(
        (900..1400).contains(&text.len()),
        "payload is {} bytes",
        text.len()
    );
    text
}

struct Result {
    operation: &'static str,
    wasm_ns: f64,
    native_ns: f64,
}

fn main() {
    let doc = payload();
    let mut results = Vec::new();

    // jwt-auth: verify an HS256 token.
    {
        let claims = json!({"sub": "ann", "aud": "ingest", "scope": "ingest:write", "exp": 4_000_000_000u64});
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"bench-secret"),
        )
        .unwrap();
        let (mut store, linker) = common::store_and_linker();
        let auth =
            bindings::auth::JwtAuth::instantiate(&mut store, &common::bundled("jwt-auth"), &linker)
                .unwrap();
        let keys = auth
            .wharf_auth_keys()
            .key_set()
            .call_from_secret(&mut store, b"bench-secret")
            .unwrap()
            .unwrap();
        let validation = bindings::auth::exports::wharf::auth::types::Validation {
            algorithms: Vec::new(),
            issuer: None,
            audience: Some("ingest".into()),
            required_scopes: vec!["ingest:write".into()],
            require_expiry: true,
            leeway_seconds: 60,
            now: None,
        };
        let wasm = measure(|| {
            black_box(
                auth.wharf_auth_verifier()
                    .call_verify(&mut store, keys, &token, &validation)
                    .unwrap()
                    .unwrap(),
            );
        });
        let key = DecodingKey::from_secret(b"bench-secret");
        let mut check = jsonwebtoken::Validation::new(Algorithm::HS256);
        check.set_audience(&["ingest"]);
        let native = measure(|| {
            black_box(jsonwebtoken::decode::<Value>(&token, &key, &check).unwrap());
        });
        results.push(Result {
            operation: "jwt-auth: verify an HS256 token",
            wasm_ns: wasm,
            native_ns: native,
        });
    }

    // flate: gzip 1 KiB of JSON at the default level.
    {
        use bindings::flate::exports::wharf::compression::types::Format;
        let (mut store, linker) = common::store_and_linker();
        let flate =
            bindings::flate::Flate::instantiate(&mut store, &common::bundled("flate"), &linker)
                .unwrap();
        let wasm = measure(|| {
            black_box(
                flate
                    .wharf_compression_codec()
                    .call_compress(&mut store, Format::Gzip, None, doc.as_bytes())
                    .unwrap()
                    .unwrap(),
            );
        });
        let native = measure(|| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(doc.as_bytes()).unwrap();
            black_box(e.finish().unwrap());
        });
        results.push(Result {
            operation: "flate: gzip 1 KiB of JSON",
            wasm_ns: wasm,
            native_ns: native,
        });
    }

    // brotli: compress 1 KiB of JSON at quality 5.
    {
        use bindings::brotli::exports::wharf::compression::types::Format;
        let (mut store, linker) = common::store_and_linker();
        let brotli =
            bindings::brotli::Brotli::instantiate(&mut store, &common::bundled("brotli"), &linker)
                .unwrap();
        let wasm = measure(|| {
            black_box(
                brotli
                    .wharf_compression_codec()
                    .call_compress(&mut store, Format::Brotli, Some(5), doc.as_bytes())
                    .unwrap()
                    .unwrap(),
            );
        });
        let native = measure(|| {
            let mut out = Vec::new();
            brotli::CompressorWriter::new(&mut out, 4096, 5, 22)
                .write_all(doc.as_bytes())
                .unwrap();
            black_box(out);
        });
        results.push(Result {
            operation: "brotli: compress 1 KiB of JSON",
            wasm_ns: wasm,
            native_ns: native,
        });
    }

    // json-schema: validate 1 KiB of JSON text against a compiled schema.
    {
        let schema = json!({
            "type": "object", "required": ["order", "customer", "items"],
            "properties": {
                "order": {"type": "integer", "minimum": 1},
                "customer": {"type": "object", "required": ["id", "email"],
                             "properties": {"id": {"type": "integer"}, "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"}}},
                "items": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["sku", "qty"],
                          "properties": {"sku": {"type": "string", "pattern": "^SKU-[0-9]{4}$"}, "qty": {"type": "integer", "minimum": 1}}}}
            }
        });
        let (mut store, linker) = common::store_and_linker();
        let validator = bindings::schema::JsonSchema::instantiate(
            &mut store,
            &common::bundled("json-schema"),
            &linker,
        )
        .unwrap();
        let options = bindings::schema::exports::wharf::schema::types::CompileOptions {
            default_draft: None,
            resources: Vec::new(),
            assert_format: false,
        };
        let schemas = validator.wharf_schema_validator().schema();
        let compiled = schemas
            .call_compile(&mut store, &schema.to_string(), &options)
            .unwrap()
            .unwrap();
        let wasm = measure(|| {
            let violations = schemas
                .call_validate(&mut store, compiled, &doc)
                .unwrap()
                .unwrap();
            assert!(violations.is_empty());
        });
        let mut native_schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.add_resource("urn:bench", schema).unwrap();
        let index = compiler.compile("urn:bench", &mut native_schemas).unwrap();
        let native = measure(|| {
            let value: Value = serde_json::from_str(&doc).unwrap();
            assert!(native_schemas.validate(&value, index).is_ok());
        });
        results.push(Result {
            operation: "json-schema: validate 1 KiB of JSON",
            wasm_ns: wasm,
            native_ns: native,
        });
    }

    // json-transform: RFC 8785 canonical form of 1 KiB of JSON.
    {
        let (mut store, linker) = common::store_and_linker();
        let transform = bindings::transform::JsonTransform::instantiate(
            &mut store,
            &common::bundled("json-transform"),
            &linker,
        )
        .unwrap();
        let wasm = measure(|| {
            black_box(
                transform
                    .wharf_transform_transformer()
                    .call_canonicalize(&mut store, &doc)
                    .unwrap()
                    .unwrap(),
            );
        });
        let native = measure(|| {
            let value: Value = serde_json::from_str(&doc).unwrap();
            black_box(serde_json_canonicalizer::to_string(&value).unwrap());
        });
        results.push(Result {
            operation: "json-transform: canonicalize 1 KiB of JSON",
            wasm_ns: wasm,
            native_ns: native,
        });
    }

    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "operation (median per call)", "wasm", "native", "ratio"
    );
    for r in &results {
        println!(
            "{:<44} {:>9.2} µs {:>9.2} µs {:>7.2}x",
            r.operation,
            r.wasm_ns / 1000.0,
            r.native_ns / 1000.0,
            r.wasm_ns / r.native_ns
        );
    }
}
