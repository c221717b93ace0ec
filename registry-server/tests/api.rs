//! The JSON API, driven in-process, every test on SQLite and on PostgreSQL: publishing
//! the real components and contracts, immutability and races, yank, semver refusal,
//! implementors and dependents, resolution, tokens and ownership, and bad input.

mod common;

use axum::http::{Method, StatusCode};
use common::{ADMIN, Backend, TestApp};
use serde_json::{Value, json};

on_both_databases!(
    every_bundled_package_publishes_and_downloads_byte_for_byte,
    versions_are_immutable,
    concurrent_publishes_of_one_version_have_one_winner,
    yanked_versions_leave_resolution_and_listings_but_stay_downloadable,
    a_breaking_minor_version_of_a_contract_is_refused_with_the_changes,
    implementors_and_dependents_answer_what_plugs_in_where,
    resolution_picks_the_highest_matching_version,
    search_finds_packages_by_name_and_description,
    tokens_scopes_and_ownership_are_enforced,
    private_registries_need_a_token_to_read,
    tokens_are_listed_without_secrets_and_can_be_revoked,
    bad_input_is_refused_and_leaves_nothing_behind,
    downloads_support_ranges_and_etags,
    health_metrics_request_ids_and_openapi,
    the_remaining_error_codes_name_what_is_wrong,
);

fn bundled(crate_name: &str) -> &'static wharf_bundled::Component {
    wharf_bundled::component(crate_name).unwrap()
}

fn wit(package: &str, version: &str) -> &'static [u8] {
    wharf_bundled::wit_package(package, version).unwrap().bytes
}

/// `wharf:compression` 1.1.0 turned into a 1.2.0 that removes `decompress` and changes
/// `compress`: a deliberately broken minor version.
fn broken_compression_1_2() -> Vec<u8> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wit-packages/compression/1.1.0/compression.wit"
    ))
    .unwrap();
    let source = source
        .replace("package wharf:compression@1.1.0;", "package wharf:compression@1.2.0;")
        .replace(
            "    decompress: func(format: format, data: list<u8>, max-output: u64) -> result<list<u8>, error>;\n",
            "",
        )
        .replace("compress: func(format: format, level: option<u32>, data: list<u8>)", "compress: func(format: format, data: list<u8>)");
    assert!(!source.contains("decompress: func"));
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("compression.wit", &source).unwrap();
    wit_component::encode(&resolve, pkg).unwrap()
}

async fn every_bundled_package_publishes_and_downloads_byte_for_byte(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    app.publish_bundled(&token).await;

    for c in wharf_bundled::COMPONENTS {
        let (ns, name) = c.package.split_once(':').unwrap();
        let detail = app
            .get(&format!(
                "/api/v1/packages/{ns}/{name}/versions/{}",
                c.version
            ))
            .await;
        assert_eq!(detail.status, StatusCode::OK);
        let detail = detail.json();
        assert_eq!(detail["kind"], "component");
        assert_eq!(
            detail["digest"],
            wharf_types::Digest::of(c.bytes).to_string()
        );
        assert_eq!(detail["size"], c.bytes.len());
        assert_eq!(detail["published_by"], "alice");
        assert_eq!(detail["description"], c.description, "{}", c.package);
        assert_eq!(detail["license"], "Apache-2.0");
        assert!(
            detail["wit"].as_str().unwrap().contains("world"),
            "{}",
            c.package
        );
        let content = app
            .get(&format!(
                "/api/v1/packages/{ns}/{name}/versions/{}/content",
                c.version
            ))
            .await;
        assert_eq!(content.status, StatusCode::OK);
        assert_eq!(
            &content.body[..],
            c.bytes,
            "{} downloads as published",
            c.package
        );
    }
    for p in wharf_bundled::WIT_PACKAGES {
        let (ns, name) = p.package.split_once(':').unwrap();
        let content = app
            .get(&format!(
                "/api/v1/packages/{ns}/{name}/versions/{}/content",
                p.version
            ))
            .await;
        assert_eq!(&content.body[..], p.bytes);
    }

    // What was extracted: flate exports the 1.1 codec, the gateway imports the contracts.
    let flate = app
        .get("/api/v1/packages/wharf/flate/versions/1.1.0")
        .await
        .json();
    let exports: Vec<&str> = flate["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        exports.contains(&"wharf:compression/codec@1.1.0"),
        "{exports:?}"
    );
    assert!(
        flate["producers"]["processed-by"]
            .to_string()
            .contains("wit-bindgen-rust"),
        "{}",
        flate["producers"]
    );
    let gateway = app
        .get("/api/v1/packages/wharf/edge-gateway/versions/1.0.0")
        .await
        .json();
    let imports: Vec<&str> = gateway["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for contract in [
        "wharf:auth/verifier@1.0.0",
        "wharf:schema/validator@1.0.0",
        "wharf:compression/codec@1.0.0",
    ] {
        assert!(imports.contains(&contract), "{imports:?}");
    }
    let contract = app
        .get("/api/v1/packages/wharf/compression/versions/1.1.0")
        .await
        .json();
    assert_eq!(contract["kind"], "wit");
    assert!(
        contract["wit"]
            .as_str()
            .unwrap()
            .contains("package wharf:compression@1.1.0;")
    );
    assert!(
        contract["wit"]
            .as_str()
            .unwrap()
            .contains("resource encoder")
    );
    let world = app
        .get("/api/v1/packages/wharf/gateway/versions/1.0.0")
        .await
        .json();
    let deps: Vec<&str> = world["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(
        deps.contains(&"wharf:auth") && deps.contains(&"wasi:http"),
        "{deps:?}"
    );

    let detail = app.get("/api/v1/packages/wharf/compression").await.json();
    assert_eq!(detail["latest"], "2.0.0");
    let versions: Vec<&str> = detail["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2.0.0", "1.1.0", "1.0.0"]);
}

async fn versions_are_immutable(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let flate = bundled("flate");
    assert_eq!(
        app.publish(&token, "acme:zip", "1.0.0", flate.bytes)
            .await
            .status,
        StatusCode::CREATED
    );
    for bytes in [flate.bytes, bundled("brotli").bytes] {
        let again = app.publish(&token, "acme:zip", "1.0.0", bytes).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.code(), "VERSION_EXISTS");
    }
    let content = app
        .get("/api/v1/packages/acme/zip/versions/1.0.0/content")
        .await;
    assert_eq!(&content.body[..], flate.bytes);
}

async fn concurrent_publishes_of_one_version_have_one_winner(backend: Backend) {
    // A slot for each of the twelve bodies, all one user's: the race is about the
    // version, not about how many bodies the registry receives at once.
    let app = std::sync::Arc::new(
        TestApp::with(backend, |c| {
            c.max_uploads = 12;
            c.max_uploads_per_user = Some(12);
        })
        .await,
    );
    let token = app.token("alice", &["publish"], None).await;
    // Claim the namespace first so that the race is only about the version.
    assert_eq!(
        app.publish(&token, "acme:first", "1.0.0", bundled("flate").bytes)
            .await
            .status,
        StatusCode::CREATED
    );
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (app, token) = (app.clone(), token.clone());
            let bytes = if i % 2 == 0 {
                bundled("flate").bytes
            } else {
                bundled("brotli").bytes
            };
            tokio::spawn(async move {
                app.publish(&token, "acme:race", "1.0.0", bytes)
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 11), "{statuses:?}");
    let versions = app.get("/api/v1/packages/acme/race/versions").await.json();
    assert_eq!(versions.as_array().unwrap().len(), 1);
}

async fn yanked_versions_leave_resolution_and_listings_but_stay_downloadable(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish", "yank"], None).await;
    let flate = bundled("flate");
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(
            app.publish(&token, "acme:zip", v, flate.bytes).await.status,
            StatusCode::CREATED
        );
    }
    let yank = app
        .request(
            Method::PUT,
            "/api/v1/packages/acme/zip/versions/1.1.0/yank",
            Some(&token),
            "",
        )
        .await;
    assert_eq!(yank.status, StatusCode::NO_CONTENT);

    let resolved = app
        .get("/api/v1/packages/acme/zip/resolve?requirement=%5E1")
        .await
        .json();
    assert_eq!(resolved["version"], "1.0.0");
    let listed = app.get("/api/v1/packages/acme/zip/versions").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let all = app
        .get("/api/v1/packages/acme/zip/versions?include_yanked=true")
        .await
        .json();
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .filter(|v| v["yanked"] == true)
            .count(),
        1
    );
    assert_eq!(
        app.get("/api/v1/packages/acme/zip").await.json()["latest"],
        "1.0.0"
    );
    let detail = app.get("/api/v1/packages/acme/zip/versions/1.1.0").await;
    assert_eq!(detail.json()["yanked"], true);
    let content = app
        .get("/api/v1/packages/acme/zip/versions/1.1.0/content")
        .await;
    assert_eq!(
        (content.status, &content.body[..]),
        (StatusCode::OK, flate.bytes)
    );
    let digest = wharf_types::Digest::of(flate.bytes);
    assert_eq!(
        app.get(&format!("/api/v1/blobs/{digest}")).await.status,
        StatusCode::OK
    );

    // Yanking every version takes the package out of search; unyank brings it back.
    app.request(
        Method::PUT,
        "/api/v1/packages/acme/zip/versions/1.0.0/yank",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(app.get("/api/v1/packages?q=zip").await.json()["total"], 0);
    let missing = app
        .get("/api/v1/packages/acme/zip/resolve?requirement=*")
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "NO_MATCHING_VERSION".into())
    );
    let unyank = app
        .request(
            Method::DELETE,
            "/api/v1/packages/acme/zip/versions/1.1.0/yank",
            Some(&token),
            "",
        )
        .await;
    assert_eq!(unyank.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/packages/acme/zip/resolve?requirement=%5E1")
            .await
            .json()["version"],
        "1.1.0"
    );
    let unknown = app
        .request(
            Method::PUT,
            "/api/v1/packages/acme/zip/versions/9.9.9/yank",
            Some(&token),
            "",
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "VERSION_UNKNOWN".into())
    );
}

async fn a_breaking_minor_version_of_a_contract_is_refused_with_the_changes(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let created = app
        .publish(
            &token,
            "wharf:compression",
            "1.0.0",
            wit("wharf:compression", "1.0.0"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);

    let broken = app
        .publish(
            &token,
            "wharf:compression",
            "1.2.0",
            &broken_compression_1_2(),
        )
        .await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        broken.body
    );
    assert_eq!(broken.code(), "SEMVER_INCOMPATIBLE");
    let detail = &broken.json()["errors"][0]["detail"];
    assert_eq!(detail["previous"], "1.0.0");
    let changes: Vec<(String, String)> = detail["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["item"].as_str().unwrap().to_owned(),
                c["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        changes.contains(&("function codec.decompress".into(), "removed".into())),
        "{changes:?}"
    );
    assert!(
        changes.contains(&("function codec.compress".into(), "changed".into())),
        "{changes:?}"
    );
    assert!(
        broken.message().contains("codec.decompress"),
        "{}",
        broken.message()
    );
    assert_eq!(
        app.get("/api/v1/packages/wharf/compression/versions/1.2.0")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // An additive minor version and a new major are accepted.
    let additive = app
        .publish(
            &token,
            "wharf:compression",
            "1.1.0",
            wit("wharf:compression", "1.1.0"),
        )
        .await;
    assert_eq!(additive.status, StatusCode::CREATED, "{:?}", additive.body);
    let major = app
        .publish(
            &token,
            "wharf:compression",
            "2.0.0",
            wit("wharf:compression", "2.0.0"),
        )
        .await;
    assert_eq!(major.status, StatusCode::CREATED, "{:?}", major.body);
    // 1.2.0 is now compared with 1.1.0 and is still refused.
    let again = app
        .publish(
            &token,
            "wharf:compression",
            "1.2.0",
            &broken_compression_1_2(),
        )
        .await;
    assert_eq!(again.json()["errors"][0]["detail"]["previous"], "1.1.0");
}

fn names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn implementors_and_dependents_answer_what_plugs_in_where(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    app.publish_bundled(&token).await;

    let codec = app
        .get("/api/v1/implementors?interface=wharf:compression/codec@1")
        .await;
    assert_eq!(codec.status, StatusCode::OK);
    assert_eq!(names(&codec.json()), ["wharf:brotli", "wharf:flate"]);
    let flate = codec
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wharf:flate")
        .cloned()
        .unwrap();
    assert_eq!(flate["items"], json!(["wharf:compression/codec@1.1.0"]));
    // 1.1 excludes brotli, which implements 1.0 only; nothing implements 2.x.
    assert_eq!(
        names(
            &app.get("/api/v1/implementors?interface=wharf:compression/codec@1.1")
                .await
                .json()
        ),
        ["wharf:flate"]
    );
    assert!(
        names(
            &app.get("/api/v1/implementors?interface=wharf:compression/codec@2")
                .await
                .json()
        )
        .is_empty()
    );
    assert_eq!(
        names(
            &app.get("/api/v1/implementors?interface=wharf:schema/validator")
                .await
                .json()
        ),
        ["wharf:json-schema"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/implementors?interface=wharf:auth")
                .await
                .json()
        ),
        ["wharf:jwt-auth"]
    );
    let search = app
        .get("/api/v1/packages?implements=wharf:compression/codec@1")
        .await
        .json();
    assert_eq!(search["total"], 2);

    let dependents = app
        .get("/api/v1/dependents?package=wharf:compression")
        .await
        .json();
    assert_eq!(names(&dependents), ["wharf:edge-gateway", "wharf:gateway"]);
    let by_interface = app
        .get("/api/v1/dependents?interface=wharf:auth/verifier@1")
        .await
        .json();
    assert_eq!(names(&by_interface), ["wharf:edge-gateway"]);

    let bad = app.get("/api/v1/implementors?interface=codec").await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "INTERFACE_INVALID".into())
    );
    assert_eq!(
        app.get("/api/v1/implementors").await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn resolution_picks_the_highest_matching_version(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let bytes = bundled("json-transform").bytes;
    for v in [
        "0.9.0",
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0-beta.1",
        "1.11.0-rc.1",
    ] {
        assert_eq!(
            app.publish(&token, "acme:shape", v, bytes).await.status,
            StatusCode::CREATED,
            "{v}"
        );
    }
    let resolve = |req: &str| {
        format!(
            "/api/v1/packages/acme/shape/resolve?requirement={}",
            percent_encode(req)
        )
    };
    for (req, want) in [
        ("^1", "1.10.0"),
        ("*", "1.10.0"),
        ("=1.0.0", "1.0.0"),
        ("~1.2", "1.2.0"),
        ("^0.9", "0.9.0"),
        (">=1.0.0, <1.5.0", "1.2.0"),
        ("^2.0.0-beta", "2.0.0-beta.1"),
        ("^1.11.0-rc", "1.11.0-rc.1"),
    ] {
        let reply = app.get(&resolve(req)).await;
        assert_eq!(reply.status, StatusCode::OK, "{req}: {:?}", reply.body);
        assert_eq!(reply.json()["version"], want, "{req}");
    }
    let resolved = app.get(&resolve("^1")).await.json();
    assert_eq!(
        resolved["digest"],
        wharf_types::Digest::of(bytes).to_string()
    );
    let none = app.get(&resolve("^3")).await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::NOT_FOUND, "NO_MATCHING_VERSION".into())
    );
    let available = &none.json()["errors"][0]["detail"]["available"];
    assert_eq!(available.as_array().unwrap().len(), 6);
    assert!(none.message().contains("1.10.0"));
    let bad = app.get(&resolve("one")).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "REQUIREMENT_INVALID".into())
    );
    let unknown = app
        .get("/api/v1/packages/acme/nothing/resolve?requirement=*")
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "PACKAGE_UNKNOWN".into())
    );
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn search_finds_packages_by_name_and_description(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    app.publish_bundled(&token).await;
    let gzip = app.get("/api/v1/packages?q=gzip").await.json();
    assert_eq!(names(&gzip["packages"]), ["wharf:flate"]);
    let schema = app.get("/api/v1/packages?q=SCHEMA").await.json();
    assert!(names(&schema["packages"]).contains(&"wharf:json-schema".to_owned()));
    let wit_only = app.get("/api/v1/packages?kind=wit").await.json();
    assert_eq!(wit_only["total"], 5);
    let components = app
        .get("/api/v1/packages?kind=component&per_page=4&page=2")
        .await
        .json();
    assert_eq!(
        (
            components["total"].as_i64(),
            components["packages"].as_array().unwrap().len()
        ),
        (Some(6), 2)
    );
    // LIKE wildcards in the query are literal.
    assert_eq!(app.get("/api/v1/packages?q=%25").await.json()["total"], 0);
    assert_eq!(
        app.get("/api/v1/packages?kind=module").await.code(),
        "KIND_INVALID"
    );
    assert_eq!(
        app.get("/api/v1/packages?per_page=1000").await.code(),
        "PAGINATION_INVALID"
    );
    assert_eq!(
        app.get("/api/v1/packages?sort=new").await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn tokens_scopes_and_ownership_are_enforced(backend: Backend) {
    let app = TestApp::new(backend).await;
    let bytes = bundled("flate").bytes;
    let alice = app
        .token("alice", &["publish", "yank", "owners"], None)
        .await;
    let bob = app.token("bob", &["publish", "yank", "owners"], None).await;
    let alice_acme_only = app.token("alice", &["publish"], Some(&["acme"])).await;
    let alice_yank_only = app.token("alice", &["yank"], None).await;

    let anonymous = app
        .request(
            Method::PUT,
            "/api/v1/packages/acme/zip/versions/1.0.0",
            None,
            bytes.to_vec(),
        )
        .await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".into())
    );
    assert!(anonymous.headers.get("www-authenticate").is_some());
    let unknown = app
        .publish("wharf_not-a-token", "acme:zip", "1.0.0", bytes)
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let no_scope = app
        .publish(&alice_yank_only, "acme:zip", "1.0.0", bytes)
        .await;
    assert_eq!(
        (no_scope.status, no_scope.code()),
        (StatusCode::FORBIDDEN, "DENIED".into())
    );
    let other_ns = app
        .publish(&alice_acme_only, "other:zip", "1.0.0", bytes)
        .await;
    assert_eq!(other_ns.status, StatusCode::FORBIDDEN);

    // The first publish into a namespace makes the publisher its owner.
    assert_eq!(
        app.publish(&alice_acme_only, "acme:zip", "1.0.0", bytes)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.get("/api/v1/namespaces/acme").await.json()["owners"],
        json!(["alice"])
    );
    let intruder = app.publish(&bob, "acme:other", "1.0.0", bytes).await;
    assert_eq!(intruder.status, StatusCode::FORBIDDEN);
    assert!(intruder.message().contains("bob"), "{}", intruder.message());
    let yank = app
        .request(
            Method::PUT,
            "/api/v1/packages/acme/zip/versions/1.0.0/yank",
            Some(&bob),
            "",
        )
        .await;
    assert_eq!(yank.status, StatusCode::FORBIDDEN);

    // Owners add owners; the last owner cannot leave.
    let by_bob = app
        .request(
            Method::PUT,
            "/api/v1/namespaces/acme/owners/bob",
            Some(&bob),
            "",
        )
        .await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.request(
            Method::PUT,
            "/api/v1/namespaces/acme/owners/bob",
            Some(&alice),
            ""
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let twice = app
        .request(
            Method::PUT,
            "/api/v1/namespaces/acme/owners/bob",
            Some(&alice),
            "",
        )
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "OWNER_EXISTS".into())
    );
    assert_eq!(
        app.publish(&bob, "acme:other", "1.0.0", bytes).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.request(
            Method::DELETE,
            "/api/v1/namespaces/acme/owners/alice",
            Some(&bob),
            ""
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let last = app
        .request(
            Method::DELETE,
            "/api/v1/namespaces/acme/owners/bob",
            Some(&bob),
            "",
        )
        .await;
    assert_eq!(
        (last.status, last.code()),
        (StatusCode::CONFLICT, "LAST_OWNER".into())
    );
    assert_eq!(
        app.get("/api/v1/namespaces/acme").await.json()["owners"],
        json!(["bob"])
    );
    let packages = names(&app.get("/api/v1/namespaces/acme").await.json()["packages"]);
    assert_eq!(packages, ["acme:other", "acme:zip"]);

    // The admin may publish anywhere; tokens never exceed their creator.
    assert_eq!(
        app.publish(ADMIN, "acme:admin-made", "1.0.0", bytes)
            .await
            .status,
        StatusCode::CREATED
    );
    let escalate = json!({"name": "more", "scopes": ["admin"]}).to_string();
    let denied = app
        .request(
            Method::POST,
            "/api/v1/tokens",
            Some(&alice_acme_only),
            escalate,
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let wider =
        json!({"name": "wider", "scopes": ["publish"], "namespaces": ["other"]}).to_string();
    assert_eq!(
        app.request(
            Method::POST,
            "/api/v1/tokens",
            Some(&alice_acme_only),
            wider
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let for_bob = json!({"name": "x", "scopes": ["publish"], "owner": "bob"}).to_string();
    assert_eq!(
        app.request(Method::POST, "/api/v1/tokens", Some(&alice), for_bob)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let narrower = json!({"name": "ci", "scopes": ["publish"]}).to_string();
    let made = app
        .request(
            Method::POST,
            "/api/v1/tokens",
            Some(&alice_acme_only),
            narrower,
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    assert_eq!(
        made.json()["namespaces"],
        json!(["acme"]),
        "inherits the creator's namespaces"
    );
    let unknown_field = json!({"name": "x", "scopes": ["publish"], "role": "root"}).to_string();
    assert_eq!(
        app.request(Method::POST, "/api/v1/tokens", Some(&alice), unknown_field)
            .await
            .code(),
        "BODY_INVALID"
    );
}

async fn private_registries_need_a_token_to_read(backend: Backend) {
    let app = TestApp::with(backend, |c| c.anonymous_read = false).await;
    let token = app.token("alice", &["publish"], None).await;
    assert_eq!(
        app.publish(&token, "acme:zip", "1.0.0", bundled("flate").bytes)
            .await
            .status,
        StatusCode::CREATED
    );
    for uri in [
        "/api/v1/packages",
        "/api/v1/packages/acme/zip",
        "/api/v1/packages/acme/zip/versions/1.0.0/content",
    ] {
        assert_eq!(app.get(uri).await.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            app.request(Method::GET, uri, Some(&token), "").await.status,
            StatusCode::OK,
            "{uri}"
        );
    }
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

async fn tokens_are_listed_without_secrets_and_can_be_revoked(backend: Backend) {
    let app = TestApp::new(backend).await;
    let alice = app.token("alice", &["publish"], None).await;
    let second = app.token("alice", &["publish"], None).await;
    let listed = app
        .request(Method::GET, "/api/v1/tokens", Some(&alice), "")
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains("wharf_"),
        "secrets are never listed"
    );
    let id = listed[1]["id"].as_str().unwrap().to_owned();
    let bob = app.token("bob", &["publish"], None).await;
    assert_eq!(
        app.request(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&bob),
            ""
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.request(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&alice),
            ""
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let after = app
        .request(Method::GET, "/api/v1/tokens", Some(&alice), "")
        .await
        .json();
    assert_eq!(after[1]["revoked"], true);
    // Exactly one of the two no longer works.
    let statuses = [
        app.request(Method::GET, "/api/v1/tokens", Some(&alice), "")
            .await
            .status,
        app.request(Method::GET, "/api/v1/tokens", Some(&second), "")
            .await
            .status,
    ];
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        1,
        "{statuses:?}"
    );
    let missing = app
        .request(Method::DELETE, "/api/v1/tokens/nope", Some(&alice), "")
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "TOKEN_UNKNOWN".into())
    );
    let others = app
        .request(Method::GET, "/api/v1/tokens?owner=alice", Some(&bob), "")
        .await;
    assert_eq!(others.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.request(Method::GET, "/api/v1/tokens?owner=alice", Some(ADMIN), "")
            .await
            .status,
        StatusCode::OK
    );
}

/// A core module, not a component: `(module)`.
const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

async fn bad_input_is_refused_and_leaves_nothing_behind(backend: Backend) {
    let app = TestApp::with(backend, |c| c.max_upload_bytes = 1 << 20).await;
    let token = app.token("alice", &["publish"], None).await;
    let flate = bundled("flate").bytes;
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "acme:zip",
            "1.0.0",
            flate[..flate.len() / 2].to_vec(),
            StatusCode::BAD_REQUEST,
            "PACKAGE_INVALID",
        ),
        (
            "acme:zip",
            "1.0.0",
            b"hello, not wasm".to_vec(),
            StatusCode::BAD_REQUEST,
            "PACKAGE_INVALID",
        ),
        (
            "acme:zip",
            "1.0.0",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "PACKAGE_INVALID",
        ),
        (
            "acme:zip",
            "1.0.0",
            CORE_MODULE.to_vec(),
            StatusCode::BAD_REQUEST,
            "PACKAGE_INVALID",
        ),
        (
            "acme:zip",
            "1.0.0",
            bundled("json-schema").bytes.to_vec(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "TOO_LARGE",
        ),
        (
            "acme:Zip",
            "1.0.0",
            flate.to_vec(),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            "acme:zip-",
            "1.0.0",
            flate.to_vec(),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            "acme:zip",
            "1.0",
            flate.to_vec(),
            StatusCode::BAD_REQUEST,
            "VERSION_INVALID",
        ),
        (
            "acme:zip",
            "1.0.0+build.5",
            flate.to_vec(),
            StatusCode::BAD_REQUEST,
            "VERSION_INVALID",
        ),
        (
            "acme:zip",
            "latest",
            flate.to_vec(),
            StatusCode::BAD_REQUEST,
            "VERSION_INVALID",
        ),
        (
            "acme:auth",
            "1.0.0",
            wit("wharf:auth", "1.0.0").to_vec(),
            StatusCode::BAD_REQUEST,
            "NAME_MISMATCH",
        ),
        (
            "wharf:auth",
            "1.0.1",
            wit("wharf:auth", "1.0.0").to_vec(),
            StatusCode::BAD_REQUEST,
            "VERSION_MISMATCH",
        ),
    ];
    for (name, version, body, status, code) in cases {
        let reply = app.publish(&token, name, version, &body).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (status, code),
            "{name}@{version}: {}",
            reply.message()
        );
    }
    let core = app.publish(&token, "acme:zip", "1.0.0", CORE_MODULE).await;
    assert!(
        core.message().contains("core WebAssembly module"),
        "{}",
        core.message()
    );

    // Path tricks never reach the store.
    for uri in [
        "/api/v1/packages/..%2F..%2Fetc/passwd/versions/1.0.0",
        "/api/v1/packages/acme/..%2Fzip/versions/1.0.0",
    ] {
        let reply = app
            .request(Method::PUT, uri, Some(&token), flate.to_vec())
            .await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::BAD_REQUEST, "NAME_INVALID"),
            "{uri}"
        );
    }

    // None of it left a package, a namespace or a blob.
    assert_eq!(app.get("/api/v1/packages").await.json()["total"], 0);
    assert_eq!(
        app.get("/api/v1/namespaces/acme").await.status,
        StatusCode::NOT_FOUND
    );
    let (packages, versions) = app.state.db.counts().await.unwrap();
    assert_eq!((packages, versions), (0, 0));
    let blobs = std::fs::read_dir(app.state.config.data_dir.join("storage/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);

    // A component published into a WIT package's name is a kind conflict.
    assert_eq!(
        app.publish(
            &token,
            "acme:contract",
            "1.0.0",
            &renamed_wit("acme:contract")
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let kind = app.publish(&token, "acme:contract", "2.0.0", flate).await;
    assert_eq!(
        (kind.status, kind.code().as_str()),
        (StatusCode::CONFLICT, "KIND_MISMATCH")
    );
}

/// `wharf:transform@1.0.0` renamed, to publish a WIT package under another name.
fn renamed_wit(name: &str) -> Vec<u8> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wit-packages/transform/1.0.0/transform.wit"
    ))
    .unwrap();
    let source = source.replace(
        "package wharf:transform@1.0.0;",
        &format!("package {name}@1.0.0;"),
    );
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("transform.wit", &source).unwrap();
    wit_component::encode(&resolve, pkg).unwrap()
}

async fn downloads_support_ranges_and_etags(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let bytes = bundled("flate").bytes;
    app.publish(&token, "acme:zip", "1.0.0", bytes).await;
    let uri = "/api/v1/packages/acme/zip/versions/1.0.0/content";
    let full = app.get(uri).await;
    let etag = full.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", wharf_types::Digest::of(bytes)));
    assert_eq!(full.headers["content-type"], "application/wasm");

    let ranged = |range: &'static str| {
        let request = axum::http::Request::get(uri)
            .header("range", range)
            .body(axum::body::Body::empty())
            .unwrap();
        (request, range)
    };
    let router = wharf_registry::app(app.state.clone());
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    for (request, range) in [
        ranged("bytes=0-3"),
        ranged("bytes=-4"),
        ranged("bytes=100-"),
    ] {
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let content_range = response.headers()["content-range"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let expected: &[u8] = match range {
            "bytes=0-3" => &bytes[..4],
            "bytes=-4" => &bytes[bytes.len() - 4..],
            _ => &bytes[100..],
        };
        assert_eq!(&body[..], expected, "{range}");
        assert!(
            content_range.ends_with(&format!("/{}", bytes.len())),
            "{content_range}"
        );
    }
    let (request, _) = ranged("bytes=999999999-");
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let request = axum::http::Request::get(uri)
        .header("if-none-match", &etag)
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        router.oneshot(request).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );
}

async fn health_metrics_request_ids_and_openapi(backend: Backend) {
    let app = TestApp::new(backend).await;
    let health = app.get("/healthz").await;
    assert_eq!(
        (health.status, health.json()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert!(health.headers.get("x-request-id").is_some());
    app.get("/api/v1/packages").await;
    let metrics = String::from_utf8(app.get("/metrics").await.body.to_vec()).unwrap();
    assert!(
        metrics.contains(
            "wharf_http_requests_total{method=\"GET\",route=\"/api/v1/packages\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    let openapi = app.get("/api/v1/openapi.json").await.json();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/packages",
        "/api/v1/packages/{namespace}/{name}/resolve",
        "/api/v1/implementors",
        "/api/v1/tokens",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} is not documented"
        );
    }
    let unknown = app.get("/api/v1/packages/acme/none").await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "PACKAGE_UNKNOWN".into())
    );
}

async fn the_remaining_error_codes_name_what_is_wrong(backend: Backend) {
    let app = TestApp::new(backend).await;
    let alice = app.token("alice", &["publish", "owners"], None).await;
    assert_eq!(
        app.publish(&alice, "acme:zip", "1.0.0", bundled("flate").bytes)
            .await
            .status,
        StatusCode::CREATED
    );
    let post = |body: Value| {
        app.request(
            Method::POST,
            "/api/v1/tokens",
            Some(ADMIN),
            body.to_string(),
        )
    };
    for (body, code) in [
        (
            json!({"name": "", "scopes": ["publish"]}),
            "TOKEN_NAME_INVALID",
        ),
        (json!({"name": "x", "scopes": []}), "SCOPES_INVALID"),
        (
            json!({"name": "x", "scopes": ["publish"], "namespaces": []}),
            "NAMESPACES_INVALID",
        ),
        (
            json!({"name": "x", "scopes": ["publish"], "namespaces": ["Bad_NS"]}),
            "NAMESPACES_INVALID",
        ),
        (
            json!({"name": "x", "scopes": ["publish"], "owner": "Not A User"}),
            "USER_INVALID",
        ),
        (
            json!({"name": "x", "scopes": ["superuser"]}),
            "BODY_INVALID",
        ),
    ] {
        let reply = post(body.clone()).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::BAD_REQUEST, code),
            "{body}"
        );
    }
    let not_json = app
        .request(Method::POST, "/api/v1/tokens", Some(ADMIN), "{")
        .await;
    assert_eq!(not_json.code(), "BODY_INVALID");
    let owner = |method: Method, uri: &'static str| app.request(method, uri, Some(&alice), "");
    let unknown_ns = owner(Method::PUT, "/api/v1/namespaces/nobody/owners/bob").await;
    assert_eq!(
        (unknown_ns.status, unknown_ns.code().as_str()),
        (StatusCode::NOT_FOUND, "NAMESPACE_UNKNOWN")
    );
    let not_owner = owner(Method::DELETE, "/api/v1/namespaces/acme/owners/carol").await;
    assert_eq!(
        (not_owner.status, not_owner.code().as_str()),
        (StatusCode::NOT_FOUND, "OWNER_UNKNOWN")
    );
    let bad_user = owner(Method::PUT, "/api/v1/namespaces/acme/owners/Bob!").await;
    assert_eq!(bad_user.code(), "USER_INVALID");
    let bad_ns = app.get("/api/v1/namespaces/ACME").await;
    assert_eq!(bad_ns.code(), "NAME_INVALID");
    let bad_digest = app.get("/api/v1/blobs/sha256:nothex").await;
    assert_eq!(
        (bad_digest.status, bad_digest.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    let no_blob = app
        .get(&format!(
            "/api/v1/blobs/{}",
            wharf_types::Digest::of(b"never stored")
        ))
        .await;
    assert_eq!(
        (no_blob.status, no_blob.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN")
    );
    let no_version = app.get("/api/v1/packages/acme/zip/versions/9.0.0").await;
    assert_eq!(no_version.code(), "VERSION_UNKNOWN");
    let no_package = app
        .get("/api/v1/packages/acme/none/versions/1.0.0/content")
        .await;
    assert_eq!(no_package.code(), "PACKAGE_UNKNOWN");
    let malformed_header = app
        .send(
            axum::http::Request::get("/api/v1/tokens")
                .header("authorization", "Token abc")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (malformed_header.status, malformed_header.code().as_str()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let bad_kind_dependents = app.get("/api/v1/dependents?interface=not-a-package").await;
    assert_eq!(bad_kind_dependents.code(), "INTERFACE_INVALID");
}
