//! The OCI Distribution API, driven in-process on SQLite and PostgreSQL: every upload
//! mode, manifests, tags, referrers, the catalog, token auth, error codes, and the two
//! views of one store (JSON publish → OCI pull, OCI push → package).

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{ADMIN, Backend, Reply, TestApp, request};
use serde_json::{Value, json};
use wharf_types::{Algorithm, Digest};

on_both_databases!(
    json_publishes_are_served_as_wasm_oci_artifacts,
    wasm_artifacts_pushed_over_oci_become_packages,
    every_upload_mode_works,
    chunks_must_arrive_in_order_and_uploads_can_be_cancelled,
    blobs_mount_across_repositories,
    manifests_are_checked_and_errors_use_oci_codes,
    tags_list_paginates_and_leaves_out_yanked_versions,
    referrers_and_catalog,
    clients_get_short_lived_tokens_for_basic_credentials,
    large_and_docker_manifests_and_deletes,
    a_manifest_reference_that_names_nothing_is_unknown_whatever_its_shape,
);

fn bundled(name: &str) -> &'static [u8] {
    wharf_bundled::component(name).unwrap().bytes
}

/// Monolithic upload: one POST with `?digest=`, which must succeed.
async fn push_blob(app: &TestApp, token: &str, repo: &str, bytes: &[u8]) -> Digest {
    let digest = Digest::of(bytes);
    let reply = app.push_blob(token, repo, bytes).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(
        reply.header("location"),
        format!("/v2/{repo}/blobs/{digest}")
    );
    digest
}

/// A Wasm OCI artifact manifest for `layer` with `config`.
fn wasm_manifest(config: (&Digest, usize), layer: (&Digest, usize)) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config.0.to_string(), "size": config.1},
        "layers": [{"mediaType": "application/wasm", "digest": layer.0.to_string(), "size": layer.1}],
    })
    .to_string()
    .into_bytes()
}

async fn push_wasm(app: &TestApp, token: &str, repo: &str, tag: &str, wasm: &[u8]) -> Reply {
    let config = br#"{"architecture":"wasm","os":"wasip2"}"#;
    let config_digest = push_blob(app, token, repo, config).await;
    let layer = push_blob(app, token, repo, wasm).await;
    let manifest = wasm_manifest((&config_digest, config.len()), (&layer, wasm.len()));
    app.push_manifest(
        token,
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await
}

async fn json_publishes_are_served_as_wasm_oci_artifacts(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let flate = wharf_bundled::component("flate").unwrap();
    assert_eq!(
        app.publish(&token, "wharf:flate", "1.1.0", flate.bytes)
            .await
            .status,
        StatusCode::CREATED
    );

    let base = app.get("/v2/").await;
    assert_eq!(
        base.status,
        StatusCode::UNAUTHORIZED,
        "anonymous callers learn where tokens come from"
    );
    assert!(base.header("www-authenticate").contains("/v2/token"));
    let anonymous = app
        .get("/v2/token?service=wharf&scope=repository:wharf/flate:pull")
        .await
        .json();
    let base = app
        .send(
            request(Method::GET, "/v2/", anonymous["token"].as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(base.status, StatusCode::OK);
    assert_eq!(
        base.header("docker-distribution-api-version"),
        "registry/2.0"
    );
    assert_eq!(
        app.get("/v2/wharf/flate/tags/list").await.json(),
        json!({"name": "wharf/flate", "tags": ["1.1.0"]})
    );

    let manifest = app.get("/v2/wharf/flate/manifests/1.1.0").await;
    assert_eq!(manifest.status, StatusCode::OK);
    assert_eq!(
        manifest.header("content-type"),
        "application/vnd.oci.image.manifest.v1+json"
    );
    let digest = Digest::of(&manifest.body);
    assert_eq!(manifest.header("docker-content-digest"), digest.to_string());
    let by_digest = app
        .get(&format!("/v2/wharf/flate/manifests/{digest}"))
        .await;
    assert_eq!(
        by_digest.body, manifest.body,
        "by tag and by digest, byte for byte"
    );
    let head = app
        .send(
            request(Method::HEAD, "/v2/wharf/flate/manifests/1.1.0", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (head.status, head.header("content-length")),
        (StatusCode::OK, manifest.body.len().to_string().as_str())
    );

    let manifest = manifest.json();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "1.1.0"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.description"],
        flate.description
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.licenses"],
        "Apache-2.0"
    );
    let layer = app
        .get(&format!(
            "/v2/wharf/flate/blobs/{}",
            manifest["layers"][0]["digest"].as_str().unwrap()
        ))
        .await;
    assert_eq!(&layer.body[..], flate.bytes);
    assert_eq!(
        layer.header("docker-content-digest"),
        Digest::of(flate.bytes).to_string()
    );
    let config = app
        .get(&format!(
            "/v2/wharf/flate/blobs/{}",
            manifest["config"]["digest"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(
        (config["os"].as_str(), config["architecture"].as_str()),
        (Some("wasip2"), Some("wasm"))
    );
    assert_eq!(
        config["layerDigests"],
        json!([Digest::of(flate.bytes).to_string()])
    );
    let exports = config["component"]["exports"].as_array().unwrap();
    assert!(
        exports.contains(&json!("wharf:compression/codec@1.1.0")),
        "{exports:?}"
    );

    let well_known = app.get("/.well-known/wasm-pkg/registry.json").await.json();
    assert_eq!(well_known["preferredProtocol"], "oci");
}

async fn wasm_artifacts_pushed_over_oci_become_packages(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let brotli = bundled("brotli");
    let pushed = push_wasm(&app, &token, "acme/squeeze", "1.0.0", brotli).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{:?}", pushed.body);
    let digest = pushed.header("docker-content-digest").to_owned();

    let version = app
        .get("/api/v1/packages/acme/squeeze/versions/1.0.0")
        .await;
    assert_eq!(
        version.status,
        StatusCode::OK,
        "the push is a package version"
    );
    let version = version.json();
    assert_eq!(version["digest"], Digest::of(brotli).to_string());
    assert!(
        version["exports"]
            .to_string()
            .contains("wharf:compression/codec@1.0.0")
    );
    assert_eq!(
        app.get("/api/v1/namespaces/acme").await.json()["owners"],
        json!(["alice"])
    );
    let content = app
        .get("/api/v1/packages/acme/squeeze/versions/1.0.0/content")
        .await;
    assert_eq!(&content.body[..], brotli);
    let served = app.get("/v2/acme/squeeze/manifests/1.0.0").await;
    assert_eq!(served.header("docker-content-digest"), digest);

    // Pushing the same manifest again is idempotent; different content is refused.
    assert_eq!(
        push_wasm(&app, &token, "acme/squeeze", "1.0.0", brotli)
            .await
            .status,
        StatusCode::CREATED
    );
    let other = push_wasm(&app, &token, "acme/squeeze", "1.0.0", bundled("flate")).await;
    assert_eq!(
        (other.status, other.code().as_str()),
        (StatusCode::CONFLICT, "DENIED")
    );

    // The same rules as a JSON publish: a core module is refused with the reason.
    let core = push_wasm(&app, &token, "acme/core", "1.0.0", b"\0asm\x01\0\0\0").await;
    assert_eq!(
        (core.status, core.code().as_str()),
        (StatusCode::BAD_REQUEST, "MANIFEST_INVALID")
    );
    assert!(
        core.message().contains("core WebAssembly module"),
        "{}",
        core.message()
    );
    assert_eq!(
        app.get("/api/v1/packages/acme/core").await.status,
        StatusCode::NOT_FOUND
    );
    // A Wasm artifact tagged with something that is not a version is refused too.
    let latest = push_wasm(&app, &token, "acme/squeeze", "latest", brotli).await;
    assert_eq!(latest.code(), "MANIFEST_INVALID");
    // Someone else's namespace.
    let bob = app.token("bob", &["publish"], None).await;
    let intruder = app
        .send(
            request(Method::POST, "/v2/acme/squeeze/blobs/uploads/", Some(&bob))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (intruder.status, intruder.code().as_str()),
        (StatusCode::FORBIDDEN, "DENIED")
    );
    let manifest = app.get("/v2/acme/squeeze/manifests/1.0.0").await.body;
    let intruder = app
        .push_manifest(
            &bob,
            "acme/squeeze",
            "2.0.0",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await;
    assert_eq!(
        (intruder.status, intruder.code().as_str()),
        (StatusCode::FORBIDDEN, "DENIED")
    );
}

async fn every_upload_mode_works(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::of(&data);

    // POST then PUT with the whole body.
    let started = app
        .send(
            request(Method::POST, "/v2/acme/blobs/blobs/uploads/", Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    let location = started.header("location").to_owned();
    let put = app
        .send(
            request(
                Method::PUT,
                &format!("{location}?digest={digest}"),
                Some(&token),
            )
            .body(Body::from(data.clone()))
            .unwrap(),
        )
        .await;
    assert_eq!(
        (put.status, put.header("docker-content-digest")),
        (StatusCode::CREATED, digest.to_string().as_str())
    );
    assert_eq!(
        &app.get(&format!("/v2/acme/blobs/blobs/{digest}"))
            .await
            .body[..],
        &data[..]
    );

    // Chunked PATCHes with Content-Range, the last chunk on the final PUT.
    let started = app
        .send(
            request(
                Method::POST,
                "/v2/acme/chunked/blobs/uploads/",
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    let location = started.header("location").to_owned();
    let mut offset = 0;
    for chunk in data[..90_000].chunks(30_000) {
        let reply = app
            .send(
                request(Method::PATCH, &location, Some(&token))
                    .header(
                        "content-range",
                        format!("{}-{}", offset, offset + chunk.len() - 1),
                    )
                    .header("content-type", "application/octet-stream")
                    .body(Body::from(chunk.to_vec()))
                    .unwrap(),
            )
            .await;
        offset += chunk.len();
        assert_eq!(
            (reply.status, reply.header("range")),
            (StatusCode::ACCEPTED, format!("0-{}", offset - 1).as_str())
        );
    }
    let status = app
        .send(
            request(Method::GET, &location, Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (status.status, status.header("range")),
        (StatusCode::NO_CONTENT, "0-89999")
    );
    let put = app
        .send(
            request(
                Method::PUT,
                &format!("{location}?digest={digest}"),
                Some(&token),
            )
            .header("content-range", "90000-99999")
            .body(Body::from(data[90_000..].to_vec()))
            .unwrap(),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
    assert_eq!(
        &app.get(&format!("/v2/acme/chunked/blobs/{digest}"))
            .await
            .body[..],
        &data[..]
    );

    // A streamed PATCH without Content-Range, then PUT without a body; sha512 digests.
    let sha512 = Digest::compute(Algorithm::Sha512, &data);
    let started = app
        .send(
            request(
                Method::POST,
                "/v2/acme/streamed/blobs/uploads/",
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    let location = started.header("location").to_owned();
    let patched = app
        .send(
            request(Method::PATCH, &location, Some(&token))
                .body(Body::from(data.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(patched.status, StatusCode::ACCEPTED);
    let put = app
        .send(
            request(
                Method::PUT,
                &format!("{location}?digest={sha512}"),
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(
        (put.status, put.header("docker-content-digest")),
        (StatusCode::CREATED, sha512.to_string().as_str())
    );
    let fetched = app.get(&format!("/v2/acme/streamed/blobs/{sha512}")).await;
    assert_eq!(&fetched.body[..], &data[..]);

    // Range requests and HEAD on blobs.
    let ranged = app
        .send(
            request(Method::GET, &format!("/v2/acme/blobs/blobs/{digest}"), None)
                .header("range", "bytes=10-19")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (ranged.status, &ranged.body[..]),
        (StatusCode::PARTIAL_CONTENT, &data[10..20])
    );
    let head = app
        .send(
            request(
                Method::HEAD,
                &format!("/v2/acme/blobs/blobs/{digest}"),
                None,
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(
        (head.status, head.header("content-length")),
        (StatusCode::OK, "100000")
    );
}

async fn chunks_must_arrive_in_order_and_uploads_can_be_cancelled(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let started = app
        .send(
            request(Method::POST, "/v2/acme/x/blobs/uploads/", Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let location = started.header("location").to_owned();
    let first = app
        .send(
            request(Method::PATCH, &location, Some(&token))
                .header("content-range", "0-9")
                .body(Body::from(vec![1u8; 10]))
                .unwrap(),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let gap = app
        .send(
            request(Method::PATCH, &location, Some(&token))
                .header("content-range", "20-29")
                .body(Body::from(vec![2u8; 10]))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (gap.status, gap.code().as_str(), gap.header("range")),
        (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_INVALID",
            "0-9"
        )
    );
    let wrong = app
        .send(
            request(
                Method::PUT,
                &format!("{location}?digest={}", Digest::of(b"other")),
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );

    let started = app
        .send(
            request(Method::POST, "/v2/acme/x/blobs/uploads/", Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let location = started.header("location").to_owned();
    let cancelled = app
        .send(
            request(Method::DELETE, &location, Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::NO_CONTENT);
    let gone = app
        .send(
            request(Method::GET, &location, Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (gone.status, gone.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN")
    );
    // An upload id from another repository is unknown here.
    let started = app
        .send(
            request(Method::POST, "/v2/acme/x/blobs/uploads/", Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let id = started.header("docker-upload-uuid").to_owned();
    let elsewhere = app
        .send(
            request(
                Method::GET,
                &format!("/v2/acme/y/blobs/uploads/{id}"),
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(elsewhere.code(), "BLOB_UPLOAD_UNKNOWN");
    let missing_digest = app
        .send(
            request(
                Method::PUT,
                &format!("/v2/acme/x/blobs/uploads/{id}"),
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(missing_digest.code(), "DIGEST_INVALID");
    let bad = app
        .send(
            request(
                Method::POST,
                &format!("/v2/acme/x/blobs/uploads/?digest={}", Digest::of(b"a")),
                Some(&token),
            )
            .body(Body::from("b"))
            .unwrap(),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
}

async fn blobs_mount_across_repositories(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let digest = push_blob(&app, &token, "acme/one", b"shared layer").await;
    let mounted = app
        .send(
            request(
                Method::POST,
                &format!("/v2/acme/two/blobs/uploads/?mount={digest}&from=acme/one"),
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(
        (mounted.status, mounted.header("location")),
        (
            StatusCode::CREATED,
            format!("/v2/acme/two/blobs/{digest}").as_str()
        )
    );
    assert_eq!(
        &app.get(&format!("/v2/acme/two/blobs/{digest}")).await.body[..],
        b"shared layer"
    );
    let absent = Digest::of(b"nowhere");
    let fallback = app
        .send(
            request(
                Method::POST,
                &format!("/v2/acme/three/blobs/uploads/?mount={absent}&from=acme/one"),
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(
        fallback.status,
        StatusCode::ACCEPTED,
        "falls back to an upload"
    );
    assert!(
        fallback
            .header("location")
            .starts_with("/v2/acme/three/blobs/uploads/")
    );
    // A blob is served only by repositories that hold it.
    assert_eq!(
        app.get(&format!("/v2/acme/three/blobs/{digest}"))
            .await
            .code(),
        "BLOB_UNKNOWN"
    );
}

async fn manifests_are_checked_and_errors_use_oci_codes(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let missing = wasm_manifest((&Digest::of(b"c"), 1), (&Digest::of(b"l"), 1));
    let reply = app
        .push_manifest(
            &token,
            "acme/m",
            "1.0.0",
            "application/vnd.oci.image.manifest.v1+json",
            &missing,
        )
        .await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN")
    );
    let reply = app
        .push_manifest(
            &token,
            "acme/m",
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            b"{not json",
        )
        .await;
    assert_eq!(reply.code(), "MANIFEST_INVALID");
    let config = push_blob(&app, &token, "acme/m", b"{}").await;
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2}, "layers": []}).to_string();
    let by_wrong_digest = app
        .push_manifest(
            &token,
            "acme/m",
            &Digest::of(b"x").to_string(),
            "application/vnd.oci.image.manifest.v1+json",
            manifest.as_bytes(),
        )
        .await;
    assert_eq!(by_wrong_digest.code(), "DIGEST_INVALID");
    let by_digest = app
        .push_manifest(
            &token,
            "acme/m",
            &Digest::of(manifest.as_bytes()).to_string(),
            "application/vnd.oci.image.manifest.v1+json",
            manifest.as_bytes(),
        )
        .await;
    assert_eq!(by_digest.status, StatusCode::CREATED);

    for (uri, code) in [
        ("/v2/acme/m/manifests/nope", "MANIFEST_UNKNOWN"),
        (
            "/v2/acme/m/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "BLOB_UNKNOWN",
        ),
        ("/v2/acme/m/blobs/sha256:xyz", "DIGEST_INVALID"),
        ("/v2/Acme/m/tags/list", "NAME_INVALID"),
        ("/v2/acme//m/tags/list", "NAME_INVALID"),
        ("/v2/acme/m..x/tags/list", "NAME_INVALID"),
        ("/v2/acme/nothing/tags/list", "NAME_UNKNOWN"),
    ] {
        let reply = app.get(uri).await;
        assert_eq!(reply.code(), code, "{uri}: {:?}", reply.body);
        assert!(reply.json()["errors"][0]["message"].is_string());
    }
    let anonymous = app
        .push_manifest(
            "",
            "acme/m",
            "v2",
            "application/vnd.oci.image.manifest.v1+json",
            manifest.as_bytes(),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn tags_list_paginates_and_leaves_out_yanked_versions(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish", "yank"], None).await;
    let bytes = bundled("json-transform");
    for v in ["1.0.0", "1.1.0", "1.2.0", "2.0.0"] {
        assert_eq!(
            app.publish(&token, "acme:shape", v, bytes).await.status,
            StatusCode::CREATED
        );
    }
    let page = app.get("/v2/acme/shape/tags/list?n=2").await;
    assert_eq!(page.json()["tags"], json!(["1.0.0", "1.1.0"]));
    assert_eq!(
        page.header("link"),
        "</v2/acme/shape/tags/list?n=2&last=1.1.0>; rel=\"next\""
    );
    let next = app.get("/v2/acme/shape/tags/list?n=2&last=1.1.0").await;
    assert_eq!(next.json()["tags"], json!(["1.2.0", "2.0.0"]));
    assert!(next.headers.get("link").is_none());
    app.request(
        Method::PUT,
        "/api/v1/packages/acme/shape/versions/1.1.0/yank",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(
        app.get("/v2/acme/shape/tags/list").await.json()["tags"],
        json!(["1.0.0", "1.2.0", "2.0.0"])
    );
    assert_eq!(
        app.get("/v2/acme/shape/manifests/1.1.0").await.status,
        StatusCode::OK,
        "yanked still resolves by tag"
    );
}

async fn referrers_and_catalog(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    assert_eq!(
        app.publish(&token, "acme:zip", "1.0.0", bundled("flate"))
            .await
            .status,
        StatusCode::CREATED
    );
    let subject = app.get("/v2/acme/zip/manifests/1.0.0").await;
    let subject_digest = subject.header("docker-content-digest").to_owned();
    let empty = push_blob(&app, &token, "acme/zip", b"{}").await;
    let signature = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
        "layers": [],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject_digest, "size": subject.body.len()},
        "annotations": {"signed-by": "alice"},
    })
    .to_string();
    let pushed = app
        .push_manifest(
            &token,
            "acme/zip",
            &Digest::of(signature.as_bytes()).to_string(),
            "application/vnd.oci.image.manifest.v1+json",
            signature.as_bytes(),
        )
        .await;
    assert_eq!(
        (pushed.status, pushed.header("oci-subject")),
        (StatusCode::CREATED, subject_digest.as_str())
    );

    let referrers = app
        .get(&format!("/v2/acme/zip/referrers/{subject_digest}"))
        .await;
    assert_eq!(
        referrers.header("content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    let index = referrers.json();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.example.signature"
    );
    assert_eq!(index["manifests"][0]["annotations"]["signed-by"], "alice");
    let filtered = app
        .get(&format!(
            "/v2/acme/zip/referrers/{subject_digest}?artifactType=application/vnd.other"
        ))
        .await;
    assert_eq!(
        (
            filtered.header("oci-filters-applied"),
            filtered.json()["manifests"].as_array().unwrap().len()
        ),
        ("artifactType", 0)
    );
    let unknown = app
        .get(&format!("/v2/acme/zip/referrers/{}", Digest::of(b"none")))
        .await;
    assert_eq!(
        (unknown.status, unknown.json()["manifests"].clone()),
        (StatusCode::OK, json!([]))
    );

    for name in ["acme:alpha", "acme:beta"] {
        app.publish(&token, name, "1.0.0", bundled("brotli")).await;
    }
    let catalog = app.get("/v2/_catalog?n=2").await;
    assert_eq!(
        catalog.json()["repositories"],
        json!(["acme/alpha", "acme/beta"])
    );
    assert!(catalog.header("link").contains("last=acme/beta"));
    assert_eq!(
        app.get("/v2/_catalog?n=2&last=acme/beta").await.json()["repositories"],
        json!(["acme/zip"])
    );
}

async fn clients_get_short_lived_tokens_for_basic_credentials(backend: Backend) {
    use base64::Engine as _;
    let app = TestApp::with(backend, |c| c.anonymous_read = false).await;
    let api_token = app.token("alice", &["publish"], None).await;
    let base = app.get("/v2/").await;
    assert_eq!(base.status, StatusCode::UNAUTHORIZED);
    assert!(
        base.header("www-authenticate")
            .starts_with("Bearer realm=\"http://"),
        "{}",
        base.header("www-authenticate")
    );
    let push = app
        .send(
            request(Method::POST, "/v2/acme/zip/blobs/uploads/", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(
        push.header("www-authenticate")
            .contains("scope=\"repository:acme/zip:pull,push\"")
    );

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{api_token}"));
    let issued = app
        .send(
            request(
                Method::GET,
                "/v2/token?service=wharf&scope=repository:acme/zip:pull,push",
                None,
            )
            .header("authorization", format!("Basic {basic}"))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK);
    let issued = issued.json();
    assert_eq!(issued["token"], issued["access_token"]);
    assert!(issued["expires_in"].as_i64().unwrap() <= 300);
    let bearer = issued["token"].as_str().unwrap();
    assert_eq!(
        app.send(
            request(Method::GET, "/v2/", Some(bearer))
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        push_wasm(&app, bearer, "acme/zip", "1.0.0", bundled("flate"))
            .await
            .status,
        StatusCode::CREATED
    );
    // API tokens work as bearer tokens directly too (wkg's AUTH_BEARER).
    assert_eq!(
        app.send(
            request(Method::GET, "/v2/acme/zip/tags/list", Some(&api_token))
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status,
        StatusCode::OK
    );

    let wrong = base64::engine::general_purpose::STANDARD.encode("alice:wharf_wrong");
    let refused = app
        .send(
            request(Method::GET, "/v2/token", None)
                .header("authorization", format!("Basic {wrong}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let anonymous = app
        .send(
            request(Method::GET, "/v2/token", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "a private registry gives no anonymous tokens"
    );
    let forged = format!("{}x", &bearer[..bearer.len() - 1]);
    assert_eq!(
        app.send(
            request(Method::GET, "/v2/acme/zip/tags/list", Some(&forged))
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );

    // Revoking the API token revokes the bearer tokens made from it.
    let id = app
        .request(Method::GET, "/api/v1/tokens", Some(&api_token), "")
        .await
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request(
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(ADMIN),
        "",
    )
    .await;
    assert_eq!(
        app.send(
            request(Method::GET, "/v2/acme/zip/tags/list", Some(bearer))
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

async fn large_and_docker_manifests_and_deletes(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let config = push_blob(&app, &token, "acme/big", b"{}").await;
    let padding = "x".repeat(4 << 20);
    let big = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
        "layers": [], "annotations": {"padding": padding}}).to_string();
    let pushed = app
        .push_manifest(
            &token,
            "acme/big",
            "large",
            "application/vnd.oci.image.manifest.v1+json",
            big.as_bytes(),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "a manifest over 4 MiB");
    assert_eq!(
        app.get("/v2/acme/big/manifests/large").await.body.len(),
        big.len()
    );

    let docker = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config.to_string(), "size": 2},
        "layers": []}).to_string();
    let pushed = app
        .push_manifest(
            &token,
            "acme/big",
            "docker",
            "application/vnd.docker.distribution.manifest.v2+json",
            docker.as_bytes(),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    assert_eq!(
        app.get("/v2/acme/big/manifests/docker")
            .await
            .header("content-type"),
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    // Deleting a tag leaves the manifest reachable by digest.
    let untagged = app
        .send(
            request(Method::DELETE, "/v2/acme/big/manifests/large", Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(untagged.status, StatusCode::ACCEPTED);
    assert_eq!(
        app.get("/v2/acme/big/manifests/large").await.code(),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(
        app.get(&format!(
            "/v2/acme/big/manifests/{}",
            Digest::of(big.as_bytes())
        ))
        .await
        .status,
        StatusCode::OK
    );

    let digest = Digest::of(docker.as_bytes());
    let deleted = app
        .send(
            request(
                Method::DELETE,
                &format!("/v2/acme/big/manifests/{digest}"),
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert_eq!(
        app.get("/v2/acme/big/manifests/docker").await.code(),
        "MANIFEST_UNKNOWN"
    );
    let blob_deleted = app
        .send(
            request(
                Method::DELETE,
                &format!("/v2/acme/big/blobs/{config}"),
                Some(&token),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(blob_deleted.status, StatusCode::ACCEPTED);
    assert_eq!(
        app.get(&format!("/v2/acme/big/blobs/{config}"))
            .await
            .code(),
        "BLOB_UNKNOWN"
    );

    assert_eq!(
        app.publish(&token, "acme:pkg", "1.0.0", bundled("flate"))
            .await
            .status,
        StatusCode::CREATED
    );
    let immutable = app
        .send(
            request(Method::DELETE, "/v2/acme/pkg/manifests/1.0.0", Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (immutable.status, immutable.code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED")
    );
    let _ = Value::Null;
}

async fn a_manifest_reference_that_names_nothing_is_unknown_whatever_its_shape(backend: Backend) {
    let app = TestApp::new(backend).await;
    let flate = wharf_bundled::component("flate").unwrap();
    let published = app
        .publish(ADMIN, flate.package, flate.version, flate.bytes)
        .await;
    assert_eq!(published.status, StatusCode::CREATED);
    let long_tag = "v".repeat(129);
    let zeros = format!("sha256:{}", "0".repeat(64));
    for repository in ["wharf/flate", "acme/nothing"] {
        for reference in [
            "9.9.9",
            zeros.as_str(),
            "sha256:xyz",
            "sha256:",
            "md5:0123456789abcdef",
            "-not-a-tag",
            long_tag.as_str(),
        ] {
            let uri = format!("/v2/{repository}/manifests/{reference}");
            let got = app.get(&uri).await;
            assert_eq!(
                (got.status, got.code()),
                (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN".into()),
                "GET {uri}: {:?}",
                got.body
            );
            let head = app
                .send(
                    request(Method::HEAD, &uri, None)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            assert_eq!(head.status, StatusCode::NOT_FOUND, "HEAD {uri}");
        }
    }
    // Changes still say what is wrong with the reference.
    let delete = app
        .send(
            request(
                Method::DELETE,
                "/v2/wharf/flate/manifests/sha256:xyz",
                Some(ADMIN),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(
        (delete.status, delete.code()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID".into())
    );
}
