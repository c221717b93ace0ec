//! Garbage collection on SQLite and PostgreSQL: idle uploads expire, blobs nothing uses
//! go after the grace period, everything in use stays, and collecting while publishing
//! and pushing never loses an acknowledged publish.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{Backend, TestApp, request};
use serde_json::json;
use wharf_types::Digest;

on_both_databases!(
    idle_uploads_expire,
    unused_blobs_go_after_the_grace_period,
    what_is_in_use_survives_collection,
    collecting_during_publishes_loses_nothing,
);

const HOUR: Duration = Duration::from_secs(3600);

async fn push_blob(app: &TestApp, token: &str, repo: &str, bytes: &[u8]) -> (StatusCode, Digest) {
    let reply = app.push_blob(token, repo, bytes).await;
    (reply.status, Digest::of(bytes))
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
            request(Method::POST, "/v2/acme/x/blobs/uploads/", Some(&token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let location = started.header("location").to_owned();
    app.send(
        request(Method::PATCH, &location, Some(&token))
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
            request(Method::GET, &location, Some(&token))
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
            request(Method::PUT, "/v2/acme/x/manifests/v1", Some(&token))
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
            request(Method::PUT, "/v2/acme/img/manifests/v1", Some(&token))
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

/// Publishes race a collector that runs in a loop with no grace period at all, the
/// harshest setting (docs/scale-out.md runs the same race between two replicas on
/// PostgreSQL + S3; this is one registry, on each database, blobs in files). A publish
/// whose blob is collected between its lease and its commit is refused (503,
/// `BLOB_COLLECTED`) and retried, never recorded with missing bytes: every
/// acknowledged publish reads back byte for byte. And the collector really collects:
/// the blobs the test pushed for no manifest, its garbage, are all gone, and the
/// collections removed at least that many.
async fn collecting_during_publishes_loses_nothing(backend: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    const PAUSES_MS: [u64; 8] = [0, 1, 2, 5, 10, 20, 50, 100];

    let app = Arc::new(TestApp::new(backend).await);
    let token = app.token("alice", &["publish"], None).await;
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut runs, mut removed) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let report = app
                    .state
                    .collect_garbage(Duration::ZERO, Duration::ZERO)
                    .await
                    .unwrap();
                removed += report.blobs_removed;
                // Pauses from none to 100 ms, so that collections land at every point
                // of a publish: the short ones race its lease, and the long ones let
                // each publish through in the end. (Back to back, with no grace, a
                // collection would land in every publish's lease-to-commit window.)
                let pause = PAUSES_MS[runs % PAUSES_MS.len()];
                tokio::time::sleep(Duration::from_millis(pause)).await;
                runs += 1;
            }
            (runs, removed)
        })
    };

    // Three publishers, each publishing versions of its own (a blob each) and pushing
    // one blob no manifest will use after each.
    let publishers: Vec<_> = (0..3)
        .map(|worker| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                let (mut acknowledged, mut garbage, mut retries) = (Vec::new(), Vec::new(), 0);
                for i in 0..8 {
                    let version = format!("{worker}.0.{i}");
                    let bytes = wharf_bundled::unique_component(
                        "json-transform",
                        &format!("gc {worker} {i}"),
                    );
                    for attempt in 1.. {
                        let reply = app.publish(&token, "acme:race", &version, &bytes).await;
                        match reply.status {
                            StatusCode::CREATED => break,
                            StatusCode::SERVICE_UNAVAILABLE => {
                                assert_eq!(reply.code(), "BLOB_COLLECTED", "{:?}", reply.body);
                                assert!(attempt < 1000, "{version}: refused {attempt} times");
                                retries += 1;
                            }
                            other => panic!("{version}: {other} {:?}", reply.body),
                        }
                    }
                    acknowledged.push((version, bytes));
                    let junk = format!("garbage {worker} {i}");
                    // A blob streams to storage and cannot be stored again from
                    // memory: one collected as it was stored is refused like a
                    // publish (503 BLOB_COLLECTED), and the client sends it again.
                    let digest = loop {
                        let (status, digest) =
                            push_blob(&app, &token, "acme/junk", junk.as_bytes()).await;
                        if status == StatusCode::CREATED {
                            break digest;
                        }
                        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
                        retries += 1;
                        assert!(retries < 1000, "{junk}: refused {retries} times");
                    };
                    garbage.push(digest);
                }
                (acknowledged, garbage, retries)
            })
        })
        .collect();
    let (mut acknowledged, mut garbage, mut retries) = (Vec::new(), Vec::new(), 0);
    for publisher in publishers {
        let (a, g, r) = publisher.await.unwrap();
        acknowledged.extend(a);
        garbage.extend(g);
        retries += r;
    }
    stop.store(true, Ordering::Relaxed);
    let (runs, mut removed) = collector.await.unwrap();
    // Garbage pushed after the loop's last run is taken by one more.
    removed += app
        .state
        .collect_garbage(Duration::ZERO, Duration::ZERO)
        .await
        .unwrap()
        .blobs_removed;
    eprintln!("{runs} collections removed {removed} blobs; {retries} publishes retried");
    assert!(runs > 1, "the collector ran {runs} times");
    assert!(
        removed >= garbage.len(),
        "{removed} blobs removed, {} pushed as garbage",
        garbage.len()
    );
    for digest in &garbage {
        let reply = app.get(&format!("/v2/acme/junk/blobs/{digest}")).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{digest} was not collected: {:?}",
            reply.body
        );
        assert_eq!(reply.code(), "BLOB_UNKNOWN");
    }
    for (version, bytes) in &acknowledged {
        let content = app
            .get(&format!(
                "/api/v1/packages/acme/race/versions/{version}/content"
            ))
            .await;
        assert_eq!(
            content.status,
            StatusCode::OK,
            "{version}: {}",
            String::from_utf8_lossy(&content.body)
        );
        assert!(content.body[..] == bytes[..], "{version} changed");
        assert_eq!(
            app.get(&format!("/v2/acme/race/manifests/{version}"))
                .await
                .status,
            StatusCode::OK,
            "{version}"
        );
    }
    // Nothing was lost on disk either: every blob a version or manifest uses is there;
    // and nothing was left where no collection looks: no bytes without their row.
    let report = app.state.fsck().await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.orphans.is_empty(), "{:?}", report.orphans);
}
