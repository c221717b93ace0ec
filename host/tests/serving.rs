//! The serving image (docs/host.md, "Serving image"): the composed gateway with its
//! gateway and json-schema plugs pre-initialized answers exactly what the deployable
//! as published answers, is derived once per deployable and environment and then read
//! back from the cache, and a fresh instance of it skips the work initialization did.

mod common;

use std::io::Read;
use std::sync::Arc;

use wharf_host::{Capabilities, CodeCache, ServingOutcome};

const SECRET: &str = "serving-test-secret";
const STEPS: &str = r#"[{"op": "normalize-whitespace"}, {"op": "redact", "pointers": ["/user/email"]}, {"op": "canonicalize"}]"#;

fn capabilities(audience: &str) -> Capabilities {
    let schema = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gateway/schema.json"),
    )
    .unwrap();
    Capabilities {
        env: vec![
            ("GATEWAY_JWT_SECRET".into(), SECRET.into()),
            ("GATEWAY_JWT_AUDIENCE".into(), audience.into()),
            ("GATEWAY_SCHEMA".into(), schema),
            ("GATEWAY_TRANSFORM".into(), STEPS.into()),
        ],
        ..Capabilities::default()
    }
}

/// A method, a path, headers and a body.
type Request = (
    &'static str,
    &'static str,
    Vec<(&'static str, String)>,
    Vec<u8>,
);

/// What the interop check sends (scripts/interop-host): health, ingest with and
/// without gzip, no token, the wrong media type, a schema violation, a bad token,
/// the wrong method, an unknown path.
fn requests() -> Vec<Request> {
    let good = format!("Bearer {}", common::token(SECRET, "ingest"));
    let body = serde_json::json!({"event": "  signed   up ", "user": {"id": 7, "email": "ann@example.com"}, "pad": "x".repeat(900)}).to_string().into_bytes();
    let json = ("content-type", "application/json".to_owned());
    vec![
        ("GET", "/healthz", vec![], vec![]),
        (
            "POST",
            "/v1/ingest",
            vec![
                ("authorization", good.clone()),
                json.clone(),
                ("accept-encoding", "gzip".into()),
            ],
            body.clone(),
        ),
        (
            "POST",
            "/v1/ingest",
            vec![("authorization", good.clone()), json.clone()],
            body.clone(),
        ),
        ("POST", "/v1/ingest", vec![json.clone()], body.clone()),
        (
            "POST",
            "/v1/ingest",
            vec![
                ("authorization", good.clone()),
                ("content-type", "text/plain".into()),
            ],
            body.clone(),
        ),
        (
            "POST",
            "/v1/ingest",
            vec![("authorization", good.clone()), json.clone()],
            br#"{"event": 1}"#.to_vec(),
        ),
        (
            "POST",
            "/v1/ingest",
            vec![("authorization", "Bearer not.a.token".into()), json.clone()],
            body,
        ),
        ("GET", "/v1/ingest", vec![], vec![]),
        ("GET", "/nowhere", vec![], vec![]),
    ]
}

/// Each answer's status, content type, content encoding and decoded body.
async fn answers(server: &common::Server) -> Vec<(u16, String, String, String)> {
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut answers = Vec::new();
    for (method, path, headers, body) in requests() {
        let mut request = client.request(method.parse().unwrap(), server.url(path));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (status, content_type, encoding) = (
            response.status().as_u16(),
            header("content-type"),
            header("content-encoding"),
        );
        let bytes = response.bytes().await.unwrap();
        let mut text = String::new();
        if encoding == "gzip" {
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text = String::from_utf8(bytes.to_vec()).unwrap();
        }
        answers.push((status, content_type, encoding, text));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serving_image_answers_exactly_what_the_deployable_answers() {
    let deployable = common::composed_gateway();
    let limits = common::limits();
    let cache = common::temp_dir();
    let runtime = common::runtime(&limits, Some(CodeCache::new(&cache)));
    let granted = Arc::new(capabilities("ingest"));

    let (image, outcome) = runtime
        .serving_image(&deployable, &granted, &limits)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ServingOutcome::Derived(3),
        "the gateway, json-schema and flate export initializers"
    );
    assert_ne!(image, deployable);
    // The image holds the gateway's secret: only this user may read it.
    #[cfg(unix)]
    for entry in std::fs::read_dir(&cache).unwrap() {
        use std::os::unix::fs::PermissionsExt;
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }

    // Derived once: the same deployable and environment read it back.
    let (again, outcome) = runtime
        .serving_image(&deployable, &granted, &limits)
        .await
        .unwrap();
    assert_eq!(outcome, ServingOutcome::Loaded);
    assert_eq!(again, image);
    // The initializers read the environment: another one is another image.
    let (other, outcome) = runtime
        .serving_image(&deployable, &Arc::new(capabilities("elsewhere")), &limits)
        .await
        .unwrap();
    assert_eq!(outcome, ServingOutcome::Derived(3));
    assert_ne!(other, image);

    let plain = common::start(&deployable, granted.clone(), limits.clone(), false).await;
    let served = common::start(&image, granted, limits, false).await;
    let expected = answers(&plain).await;
    assert_eq!(answers(&served).await, expected);
    // And the answers are the gateway's, not two hosts failing alike.
    let statuses: Vec<u16> = expected.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 200, 401, 415, 422, 401, 405, 404]);
    assert_eq!(
        expected[1].3,
        format!(
            r#"{{"event":"signed up","pad":"{}","user":{{"email":"[redacted]","id":7}}}}"#,
            "x".repeat(900)
        )
    );
    assert_eq!(expected[1].2, "gzip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_without_initializers_is_served_as_it_is() {
    let limits = common::limits();
    let runtime = common::runtime(&limits, Some(CodeCache::new(common::temp_dir())));
    let transform = wharf_bundled::component("json-transform").unwrap().bytes;
    let (image, outcome) = runtime
        .serving_image(transform, &Arc::new(Capabilities::default()), &limits)
        .await
        .unwrap();
    assert_eq!(outcome, ServingOutcome::AsIs);
    assert_eq!(image, transform);
}

/// The probe's initializer makes a hash map, which draws std's hash keys, as the
/// json-schema plug's does. Every fresh instance of the image starts initialized,
/// yet draws hash keys of its own for the maps it makes, and random numbers of its
/// own: nothing random is shared through the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_instances_of_a_serving_image_never_share_hash_keys_or_random_numbers() {
    let limits = common::limits();
    let runtime = common::runtime(&limits, Some(CodeCache::new(common::temp_dir())));
    let (image, outcome) = runtime
        .serving_image(common::probe(), &Arc::new(Capabilities::default()), &limits)
        .await
        .unwrap();
    assert_eq!(outcome, ServingOutcome::Derived(1));
    let server = common::start(&image, Capabilities::default(), limits, false).await;
    let client = reqwest::Client::new();
    assert_eq!(
        common::get(&client, &server.url("/initialized")).await,
        (200, "true".to_owned()),
        "an instance of the image starts where the initializer left off"
    );
    let mut hashes = std::collections::HashSet::new();
    let mut randoms = std::collections::HashSet::new();
    for _ in 0..8 {
        let (status, hash) = common::get(&client, &server.url("/hash")).await;
        assert_eq!(status, 200);
        hashes.insert(hash);
        let (status, random) = common::get(&client, &server.url("/random")).await;
        assert_eq!((status, random.len()), (200, 32));
        randoms.insert(random);
    }
    assert_eq!(hashes.len(), 8, "instances shared hash keys: {hashes:?}");
    assert_eq!(
        randoms.len(),
        8,
        "instances shared random output: {randoms:?}"
    );
}

/// A fresh instance of the serving image has the heap its requests need: none of
/// the nine interop requests (gzip included: a compressor's state is more than a
/// plug's initial heap) grows a linear memory, where the deployable as published
/// grows them on every `/v1/ingest` (compiling the metaschemas).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_instance_of_the_serving_image_never_grows_its_memory() {
    let deployable = common::composed_gateway();
    let limits = common::limits();
    let runtime = common::runtime(&limits, Some(common::shared_cache()));
    let granted = Arc::new(capabilities("ingest"));
    let (image, _) = runtime
        .serving_image(&deployable, &granted, &limits)
        .await
        .unwrap();

    let mut growths = Vec::new();
    for bytes in [&deployable, &image] {
        let server = common::start(bytes, granted.clone(), limits.clone(), false).await;
        answers(&server).await;
        // Growths are counted when the guest has returned, after its answer.
        common::wait_for_metric(&server, "wharf_host_requests_in_flight", 0.0).await;
        growths.push(common::metric(
            &server.metrics(),
            "wharf_host_memory_growths_total",
        ));
    }
    assert!(
        growths[0] > 0.0,
        "the deployable as published grows memory to compile the metaschemas: {growths:?}"
    );
    assert_eq!(
        growths[1], 0.0,
        "a request grew memory in a fresh instance of the serving image"
    );
}

/// Wasm instructions (fuel: deterministic, unlike time) a fresh instance runs for one
/// `/v1/ingest`: from the deployable as published, it compiles boon's metaschemas and
/// the gateway's schema first; from the serving image it starts past both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_instance_of_the_serving_image_skips_initialization() {
    let deployable = common::composed_gateway();
    let limits = common::limits();
    let granted = Arc::new(capabilities("ingest"));
    let counted = || {
        let mut options = wharf_host::RuntimeOptions::for_limits(&limits);
        options.cache = Some(common::shared_cache());
        options.count_instructions = true;
        wharf_host::Runtime::new(&options).unwrap()
    };
    let image = counted()
        .serving_image(&deployable, &granted, &limits)
        .await
        .unwrap()
        .0;

    let mut used = Vec::new();
    for bytes in [&deployable, &image] {
        let runtime = counted();
        let (component, _) = runtime.load(bytes).unwrap();
        let served = Arc::new(
            wharf_host::Served::new(&runtime, &component, granted.clone(), limits.clone()).unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/ingest", listener.local_addr().unwrap());
        tokio::spawn(wharf_host::serve(
            listener,
            served.clone(),
            std::future::pending(),
        ));
        let answer = reqwest::Client::new()
            .post(url)
            .bearer_auth(common::token(SECRET, "ingest"))
            .header("content-type", "application/json")
            .body(r#"{"event": "e", "user": {"id": 1}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
        // The guest's task counts once the guest has returned.
        let mut instructions = 0.0;
        for _ in 0..200 {
            instructions = common::metric(
                &served.metrics().render(),
                "wharf_host_guest_instructions_total",
            );
            if instructions > 0.0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            instructions > 0.0,
            "the request's instructions were counted"
        );
        used.push(instructions);
    }
    println!(
        "one /v1/ingest in a fresh instance: {} instructions from the deployable, {} from the serving image",
        used[0], used[1]
    );
    assert!(
        used[1] * 10.0 < used[0],
        "the serving image's instance ran {} instructions, the deployable's {}",
        used[1],
        used[0]
    );
}

/// Every core module of the deployable and of its serving image maps its memory
/// from a copy-on-write image; a module that would copy its data segments into every
/// instance (here: a segment at an offset read from a global) is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_plug_gets_a_copy_on_write_memory_image() {
    let deployable = common::composed_gateway();
    let limits = common::limits();
    let runtime = common::runtime(&limits, Some(common::shared_cache()));
    let image = runtime
        .serving_image(&deployable, &Arc::new(capabilities("ingest")), &limits)
        .await
        .unwrap()
        .0;
    for (what, bytes) in [("deployable", &deployable), ("serving image", &image)] {
        let fallbacks = wharf_host::copy_on_write_fallbacks(bytes).unwrap();
        assert!(fallbacks.is_empty(), "{what}: {fallbacks:?}");
    }

    let mut module = wasm_encoder::Module::new();
    let mut globals = wasm_encoder::ImportSection::new();
    globals.import(
        "env",
        "base",
        wasm_encoder::GlobalType {
            val_type: wasm_encoder::ValType::I32,
            mutable: false,
            shared: false,
        },
    );
    module.section(&globals);
    let mut memories = wasm_encoder::MemorySection::new();
    memories.memory(wasm_encoder::MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    let mut data = wasm_encoder::DataSection::new();
    data.active(
        0,
        &wasm_encoder::ConstExpr::global_get(0),
        b"state".to_vec(),
    );
    module.section(&data);
    let fallbacks = wharf_host::copy_on_write_fallbacks(&module.finish()).unwrap();
    assert_eq!(
        fallbacks,
        ["core module 0: data segment 0 has an offset that is not a constant"]
    );
}

/// A restart finds the compiled serving image by the digest recorded beside the
/// image, and reads neither the image nor, for that, anything but the deployable and
/// the compiled artifact (the image was a fifth of a cached start's hashing). What it
/// finds is checked as every cache entry is: a corrupt artifact is not used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_finds_the_compiled_image_without_reading_the_image() {
    let limits = common::limits();
    let cache = common::temp_dir();
    let runtime = common::runtime(&limits, Some(CodeCache::new(&cache)));
    let probe = common::probe();
    let none = Capabilities::default();
    assert!(runtime.cached_serving_component(probe, &none).is_none());

    let (image, _) = runtime
        .serving_image(probe, &Arc::new(none.clone()), &limits)
        .await
        .unwrap();
    // Derived but not compiled yet: nothing to find.
    assert!(runtime.cached_serving_component(probe, &none).is_none());
    runtime.load(&image).unwrap();
    let found = runtime.cached_serving_component(probe, &none);
    assert!(found.is_some(), "the compiled image was not found");

    // The image itself is never read: garbage in its place changes nothing.
    let entry = |suffix: &str| {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("no *{suffix} in the cache"))
    };
    std::fs::write(entry(".serving.wasm"), b"not a component").unwrap();
    let component = runtime.cached_serving_component(probe, &none).unwrap();
    assert!(component.component_type().exports(runtime.engine()).count() > 0);
    // Another environment is another image, not compiled yet.
    let other = Capabilities {
        env: vec![("ELSEWHERE".into(), "1".into())],
        ..Capabilities::default()
    };
    assert!(runtime.cached_serving_component(probe, &other).is_none());

    // A compiled artifact that no longer matches its recorded digest is not used.
    let artifact = entry(".cwasm");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();
    assert!(runtime.cached_serving_component(probe, &none).is_none());
}
