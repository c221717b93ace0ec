//! Garbage collection on SQLite and PostgreSQL: idle uploads expire, blobs nothing uses
//! go after the grace period, everything in use stays, and collecting while publishing
//! and pushing never loses an acknowledged publish.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Backend, TestApp};
use serde_json::json;
use wharf_types::Digest;

on_both_databases!(
    idle_uploads_expire,
    unused_blobs_go_after_the_grace_period,
    what_is_in_use_survives_collection,
    collecting_during_publishes_loses_nothing,
);

const HOUR: Duration = Duration::from_secs(3600);

fn request(method: Method, uri: &str, token: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
}

async fn push_blob(app: &TestApp, token: &str, repo: &str, bytes: &[u8]) -> (StatusCode, Digest) {
    let digest = Digest::of(bytes);
    let reply = app
        .send(
            request(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                token,
            )
            .body(Body::from(bytes.to_vec()))
            .unwrap(),
        )
        .await;
    (reply.status, digest)
}

fn blob_files(app: &TestApp) -> usize {
    let root = app.state.config.data_dir.join("storage/blobs/sha256");
    std::fs::read_dir(root)
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum()
}

async fn idle_uploads_expire(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let started = app
        .send(
            request(Method::POST, "/v2/acme/x/blobs/uploads/", &token)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let location = started.header("location").to_owned();
    app.send(
        request(Method::PATCH, &location, &token)
            .body(Body::from(vec![7u8; 1000]))
            .unwrap(),
    )
    .await;
    let kept = app.state.collect_garbage(HOUR, HOUR).await.unwrap();
    assert_eq!(kept.uploads_expired, 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = app
        .state
        .collect_garbage(HOUR, Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(report.uploads_expired, 1);
    let gone = app
        .send(
            request(Method::GET, &location, &token)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (gone.status, gone.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN")
    );
    let uploads = std::fs::read_dir(app.state.config.data_dir.join("storage/uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 0);
}

async fn unused_blobs_go_after_the_grace_period(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let (status, digest) =
        push_blob(&app, &token, "acme/x", b"a layer no manifest ever used").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.state
            .collect_garbage(HOUR, HOUR)
            .await
            .unwrap()
            .blobs_removed,
        0,
        "within the grace period"
    );
    assert_eq!(
        app.get(&format!("/v2/acme/x/blobs/{digest}")).await.status,
        StatusCode::OK
    );

    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = app
        .state
        .collect_garbage(Duration::from_millis(10), HOUR)
        .await
        .unwrap();
    assert_eq!((report.blobs_removed, report.bytes_freed), (1, 29));
    assert_eq!(
        app.get(&format!("/v2/acme/x/blobs/{digest}")).await.code(),
        "BLOB_UNKNOWN"
    );
    assert_eq!(blob_files(&app), 0);
    // A manifest can no longer reference it; uploading it again works.
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.to_string(), "size": 29}, "layers": []}).to_string();
    let put = |body: String| {
        app.send(
            request(Method::PUT, "/v2/acme/x/manifests/v1", &token)
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(Body::from(body))
                .unwrap(),
        )
    };
    assert_eq!(put(manifest.clone()).await.code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        push_blob(&app, &token, "acme/x", b"a layer no manifest ever used")
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(put(manifest).await.status, StatusCode::CREATED);
}

async fn what_is_in_use_survives_collection(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let flate = wharf_bundled::component("flate").unwrap().bytes;
    assert_eq!(
        app.publish(&token, "acme:zip", "1.0.0", flate).await.status,
        StatusCode::CREATED
    );
    let (_, config) = push_blob(&app, &token, "acme/img", b"{}").await;
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2}, "layers": []}).to_string();
    let pushed = app
        .send(
            request(Method::PUT, "/v2/acme/img/manifests/v1", &token)
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(Body::from(manifest))
                .unwrap(),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    let before = blob_files(&app);

    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = app
        .state
        .collect_garbage(Duration::from_millis(10), HOUR)
        .await
        .unwrap();
    assert_eq!(report.blobs_removed, 0);
    assert_eq!(blob_files(&app), before);
    assert_eq!(
        &app.get("/api/v1/packages/acme/zip/versions/1.0.0/content")
            .await
            .body[..],
        flate
    );
    for uri in [
        "/v2/acme/zip/manifests/1.0.0",
        "/v2/acme/img/manifests/v1",
        &format!("/v2/acme/img/blobs/{config}"),
    ] {
        assert_eq!(app.get(uri).await.status, StatusCode::OK, "{uri}");
    }
}

/// Publishes (JSON and OCI) of the same bytes race a collector that runs without a
/// pause; every acknowledged publish must stay whole.
async fn collecting_during_publishes_loses_nothing(backend: Backend) {
    let app = Arc::new(TestApp::new(backend).await);
    let token = app.token("alice", &["publish"], None).await;
    let wasm = wharf_bundled::component("json-transform").unwrap().bytes;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                app.state
                    .collect_garbage(Duration::from_secs(2), Duration::from_secs(2))
                    .await
                    .unwrap();
                runs += 1;
            }
            runs
        })
    };
    let mut published = Vec::new();
    for i in 0..12 {
        let version = format!("1.0.{i}");
        let reply = app.publish(&token, "acme:race", &version, wasm).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        published.push(version);
        // An unused blob of its own each round, for the collector to take eventually.
        push_blob(
            &app,
            &token,
            "acme/scratch",
            format!("scratch {i}").as_bytes(),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = collector.await.unwrap();
    assert!(runs > 5, "the collector ran {runs} times");
    let report = app
        .state
        .collect_garbage(Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.blobs_removed <= 12);
    for version in published {
        let content = app
            .get(&format!(
                "/api/v1/packages/acme/race/versions/{version}/content"
            ))
            .await;
        assert_eq!(
            (content.status, &content.body[..]),
            (StatusCode::OK, wasm),
            "{version}"
        );
        assert_eq!(
            app.get(&format!("/v2/acme/race/manifests/{version}"))
                .await
                .status,
            StatusCode::OK
        );
    }
}
