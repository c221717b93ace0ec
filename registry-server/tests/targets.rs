//! Which targets can run a component, as the JSON API answers it, on SQLite and on
//! PostgreSQL, with real components: the example gateway composed as `wharf compose`
//! composes it (provenance and all), a plug alone, the gateway's socket unplugged, and
//! the host-probe guest (filesystem, sockets, outbound HTTP); and `runs_on` in search.

mod common;

use axum::http::StatusCode;
use common::{Backend, TestApp};
use serde_json::Value;
use wharf_compose::target::WORKERS;
use wharf_compose::{Cache, FsResolver, LockMode, Manifest};

on_both_databases!(
    the_composed_gateway_runs_on_every_http_target,
    a_plug_alone_runs_on_none_of_the_http_targets,
    workers_refuse_the_host_probe_naming_its_imports_and_the_plug,
    an_unplugged_socket_is_refused_for_its_contracts_without_names,
    search_finds_what_runs_on_a_target_and_refuses_an_unknown_one,
);

/// Composes the deploy manifest `toml` as `wharf compose --fs` does (resolve, lock,
/// load, link), provenance and all, against a directory registry of the bundled
/// guests.
async fn compose(toml: &str) -> Vec<u8> {
    let manifest: Manifest = toml.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let guests = [
        "gateway",
        "jwt-auth",
        "json-schema",
        "json-transform",
        "flate",
        "host-probe",
    ];
    for guest in guests.map(|g| wharf_bundled::component(g).unwrap()) {
        let folder = dir.path().join(guest.package.replace(':', "/"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("{}.wasm", guest.version)), guest.bytes).unwrap();
    }
    let resolver = FsResolver::new(dir.path());
    let lock = wharf_compose::resolve(&manifest, None, &resolver, LockMode::Reuse)
        .await
        .unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let constituents = wharf_compose::load(&manifest, dir.path(), &lock, &resolver, &cache)
        .await
        .unwrap();
    wharf_compose::compose(&manifest, &constituents).unwrap()
}

/// The example gateway with its four plugs: `examples/gateway/wharf.toml`.
async fn edge() -> Vec<u8> {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/gateway/wharf.toml"
    );
    compose(&std::fs::read_to_string(example).unwrap()).await
}

/// A deployable whose root is the host-probe guest, which imports sockets, the
/// filesystem and outbound HTTP.
async fn probe() -> Vec<u8> {
    compose(
        r#"
        [deployable]
        name = "acme:probe"
        version = "1.0.0"
        root = { package = "wharf:host-probe", version = "*" }
        [host]
        allow = ["wasi:cli", "wasi:io", "wasi:clocks", "wasi:random", "wasi:filesystem", "wasi:sockets", "wasi:http"]
        "#,
    )
    .await
}

async fn publish(app: &TestApp, token: &str, name: &str, bytes: &[u8]) {
    let reply = app.publish(token, name, "1.0.0", bytes).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{name}: {:?}",
        reply.body
    );
}

/// `targets` of `name@1.0.0`, by target name.
async fn targets(app: &TestApp, name: &str) -> serde_json::Map<String, Value> {
    let (ns, n) = name.split_once(':').unwrap();
    let reply = app
        .get(&format!("/api/v1/packages/{ns}/{n}/versions/1.0.0"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let targets = reply.json()["targets"].as_array().unwrap().clone();
    let by_name: serde_json::Map<String, Value> = targets
        .into_iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t))
        .collect();
    let names: Vec<&str> = by_name.keys().map(String::as_str).collect();
    assert_eq!(
        names.len(),
        wharf_compose::target::TARGETS.len(),
        "{names:?}"
    );
    by_name
}

async fn the_composed_gateway_runs_on_every_http_target(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    publish(&app, &token, "acme:edge", &edge().await).await;
    let targets = targets(&app, "acme:edge").await;
    for http in ["proxy", "workers", "jco"] {
        let t = &targets[http];
        assert_eq!(t["runs"], true, "{t}");
        assert_eq!(t["missing_export"], Value::Null, "{t}");
        assert_eq!(t["imports_in_the_way"], serde_json::json!({}), "{t}");
        assert!(!t["hosts"].as_array().unwrap().is_empty(), "{t}");
    }
    assert_eq!(targets["workers"]["title"], "Cloudflare Workers");
    // A deployable serves HTTP; it is no command, and a command runner has no
    // wasi:http for the gateway (the root, as its provenance says) to import.
    let command = &targets["command"];
    assert_eq!(command["runs"], false, "{command}");
    assert_eq!(command["missing_export"], "wasi:cli/run@0.2.x", "{command}");
    assert_eq!(
        command["imports_in_the_way"],
        serde_json::json!({"wasi:http/types@0.2.12": ["deployable.root"]})
    );
}

async fn a_plug_alone_runs_on_none_of_the_http_targets(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let schema = wharf_bundled::component("json-schema").unwrap().bytes;
    publish(&app, &token, "acme:json-schema", schema).await;
    let targets = targets(&app, "acme:json-schema").await;
    for (name, t) in &targets {
        assert_eq!(t["runs"], false, "{t}");
        let calls = if name == "command" {
            "wasi:cli/run@0.2.x"
        } else {
            "wasi:http/incoming-handler@0.2.x"
        };
        assert_eq!(t["missing_export"], calls, "{t}");
        // Its imports (WASI's clocks, randomness, environment) are served everywhere.
        assert_eq!(t["imports_in_the_way"], serde_json::json!({}), "{t}");
    }
}

async fn workers_refuse_the_host_probe_naming_its_imports_and_the_plug(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    publish(&app, &token, "acme:probe", &probe().await).await;
    let targets = targets(&app, "acme:probe").await;
    // Hosts that link all of WASI run it (whether a call is granted is theirs to say).
    for runs in ["proxy", "jco"] {
        assert_eq!(targets[runs]["runs"], true, "{}", targets[runs]);
    }
    let workers = &targets["workers"];
    assert_eq!(workers["runs"], false, "{workers}");
    assert_eq!(workers["missing_export"], Value::Null, "{workers}");
    let in_the_way = workers["imports_in_the_way"].as_object().unwrap();
    // Exactly what the composer refuses in the probe's own bytes, each brought by the
    // deployable's root, which is the probe.
    let bytes = wharf_bundled::component("host-probe").unwrap().bytes;
    let (imports, exports) = (
        wharf_compose::imports(bytes).unwrap(),
        wharf_compose::exports(bytes).unwrap(),
    );
    let refusal = WORKERS.refusal(&imports[..], &exports[..]).unwrap();
    let mut refused = refusal.unserved.clone();
    refused.sort();
    assert_eq!(
        in_the_way.keys().collect::<Vec<_>>(),
        refused.iter().collect::<Vec<_>>()
    );
    for by in in_the_way.values() {
        assert_eq!(by, &serde_json::json!(["deployable.root"]), "{workers}");
    }
    for import in [
        "wasi:sockets/tcp@0.2.6",
        "wasi:filesystem/preopens@0.2.6",
        "wasi:http/outgoing-handler@0.2.12",
    ] {
        assert!(in_the_way.contains_key(import), "{import}: {workers}");
    }
    // What a Worker serves is not in the way.
    assert!(
        !in_the_way.keys().any(|i| i.starts_with("wasi:cli/")
            || i.starts_with("wasi:io/")
            || i.starts_with("wasi:http/types")),
        "{workers}"
    );
    // A command runner has no wasi:http: the probe's outbound HTTP is in its way too.
    let command = &targets["command"];
    assert_eq!(command["missing_export"], "wasi:cli/run@0.2.x");
    assert!(
        command["imports_in_the_way"]
            .as_object()
            .unwrap()
            .contains_key("wasi:http/outgoing-handler@0.2.12"),
        "{command}"
    );
}

async fn an_unplugged_socket_is_refused_for_its_contracts_without_names(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let gateway = wharf_bundled::component("gateway").unwrap().bytes;
    publish(&app, &token, "acme:gateway", gateway).await;
    let targets = targets(&app, "acme:gateway").await;
    for t in targets.values() {
        assert_eq!(t["runs"], false, "{t}");
        let in_the_way = t["imports_in_the_way"].as_object().unwrap();
        // No provenance: nobody to name, and every contract still in the way.
        for contract in [
            "wharf:auth/",
            "wharf:schema/",
            "wharf:transform/",
            "wharf:compression/",
        ] {
            let (_, by) = in_the_way
                .iter()
                .find(|(i, _)| i.starts_with(contract))
                .unwrap_or_else(|| panic!("{contract}: {t}"));
            assert_eq!(by, &serde_json::json!([]), "{t}");
        }
    }
}

async fn search_finds_what_runs_on_a_target_and_refuses_an_unknown_one(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    publish(&app, &token, "acme:edge", &edge().await).await;
    publish(&app, &token, "acme:probe", &probe().await).await;
    let schema = wharf_bundled::component("json-schema").unwrap().bytes;
    publish(&app, &token, "acme:json-schema", schema).await;
    // A WIT package runs nowhere, and has no targets.
    let contract = wharf_bundled::wit_package("wharf:schema", "1.0.0")
        .unwrap()
        .bytes;
    publish(&app, &token, "wharf:schema", contract).await;
    let wit = app
        .get("/api/v1/packages/wharf/schema/versions/1.0.0")
        .await;
    assert_eq!(wit.json()["targets"], serde_json::json!([]));

    // The names found, sorted (search lists the most recently published first).
    let found = async |query: &str| -> Vec<String> {
        let reply = app.get(&format!("/api/v1/packages?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
        let json = reply.json();
        let mut names: Vec<String> = (json["packages"].as_array().unwrap().iter())
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        assert_eq!(json["total"], names.len(), "{json}");
        names
    };
    assert_eq!(found("runs_on=workers").await, ["acme:edge"]);
    assert_eq!(found("runs_on=proxy").await, ["acme:edge", "acme:probe"]);
    assert_eq!(found("runs_on=command").await, Vec::<String>::new());
    assert_eq!(found("runs_on=jco&q=probe").await, ["acme:probe"]);
    assert_eq!(found("runs_on=").await.len(), 4);
    // With `implements`: only what both let through.
    assert_eq!(
        found("runs_on=proxy&implements=wasi:http/incoming-handler").await,
        ["acme:edge", "acme:probe"]
    );
    assert_eq!(
        found("runs_on=proxy&implements=wharf:schema/validator").await,
        Vec::<String>::new()
    );

    // The OpenAPI document says so too.
    let openapi = app.get("/api/v1/openapi.json").await.json();
    let params = &openapi["paths"]["/api/v1/packages"]["get"]["parameters"];
    assert!(
        params
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "runs_on"),
        "{params}"
    );
    let fit = &openapi["components"]["schemas"]["TargetFit"]["properties"];
    for field in [
        "name",
        "title",
        "hosts",
        "runs",
        "missing_export",
        "imports_in_the_way",
    ] {
        assert!(fit.get(field).is_some(), "{field}: {fit}");
    }

    let unknown = app.get("/api/v1/packages?runs_on=lambda").await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::BAD_REQUEST, "TARGET_UNKNOWN".into())
    );
    let message = unknown.message();
    assert!(message.contains("`lambda`"), "{message}");
    for name in ["proxy", "command", "workers", "jco"] {
        assert!(message.contains(name), "{message}");
    }
}
