//! What a hostile client may cost the registry (issue #16, findings 6 and 8): no body is
//! read before the caller is known to be allowed, a bounded number of bodies is
//! received at once, a manifest references a bounded number of descriptors, and a body
//! that fails half-way leaves nothing behind; one user's bodies hold at most their
//! share of the slots, and a body that stops or trickles gives its slot back. (What large blobs cost in memory is
//! measured on the real process, in `cli/tests/memory.rs`.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use bytes::Bytes;
use common::{ADMIN, Backend, TestApp};
use serde_json::json;
use wharf_types::Digest;

on_both_databases!(
    a_publish_is_refused_before_a_byte_of_its_body_is_read,
    bodies_past_the_upload_limit_are_refused_with_429_naming_it,
    one_users_bodies_hold_at_most_their_share_of_the_slots,
    a_body_behind_its_pace_is_refused_with_408_and_frees_its_slot,
    a_manifest_referencing_more_than_the_cap_is_refused_naming_it,
    a_body_that_fails_half_way_leaves_nothing_behind,
    a_deployables_constituents_are_looked_up_together,
);

/// A body that records whether the server ever asked for its bytes.
fn probe(bytes: &[u8]) -> (Body, Arc<AtomicBool>) {
    let read = Arc::new(AtomicBool::new(false));
    let flag = read.clone();
    let bytes = Bytes::copy_from_slice(bytes);
    let stream = futures::stream::once(async move {
        flag.store(true, Ordering::SeqCst);
        Ok::<_, std::io::Error>(bytes)
    });
    (Body::from_stream(stream), read)
}

/// Checks that `reply` is `429 TOOMANYREQUESTS` (retry after a second) naming the
/// limit `limit` of `value` in its message and detail.
fn busy(reply: &common::Reply, limit: &str, value: u64) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.code(), "TOOMANYREQUESTS");
    let named = format!("`{limit}`");
    assert!(reply.message().contains(&named), "{}", reply.message());
    assert_eq!(reply.header("retry-after"), "1");
    assert_eq!(reply.json()["errors"][0]["detail"][limit], value);
}

/// `method uri` with `token` and `body`, as is.
fn request(method: Method, uri: &str, token: &str, body: Body) -> Request<Body> {
    common::request(method, uri, Some(token))
        .body(body)
        .unwrap()
}

async fn a_publish_is_refused_before_a_byte_of_its_body_is_read(backend: Backend) {
    let app = TestApp::new(backend).await;
    let alice = app.token("alice", &["publish"], None).await;
    let bob = app.token("bob", &["publish"], None).await;
    let reader = app.token("carol", &["yank"], None).await;
    let component = wharf_bundled::unique_component("json-transform", "first");
    let first = app.publish(&alice, "acme:edge", "1.0.0", &component).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);

    let refusals = [
        (
            "a stranger to the namespace",
            &bob,
            "acme/edge/versions/1.1.0",
            StatusCode::FORBIDDEN,
            "DENIED",
        ),
        (
            "a token without `publish`",
            &reader,
            "carol/edge/versions/1.0.0",
            StatusCode::FORBIDDEN,
            "DENIED",
        ),
        (
            "a version taken",
            &alice,
            "acme/edge/versions/1.0.0",
            StatusCode::CONFLICT,
            "VERSION_EXISTS",
        ),
        (
            "no version",
            &alice,
            "acme/edge/versions/one",
            StatusCode::BAD_REQUEST,
            "VERSION_INVALID",
        ),
    ];
    for (what, token, path, status, code) in refusals {
        let (body, read) = probe(&component);
        let uri = format!("/api/v1/packages/{path}");
        let reply = app.send(request(Method::PUT, &uri, token, body)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code.into()),
            "{what}"
        );
        assert!(!read.load(Ordering::SeqCst), "{what}: the body was read");
    }
    // Over OCI too: a blob pushed into someone else's namespace.
    let (body, read) = probe(b"layer");
    let uri = format!(
        "/v2/acme/edge/blobs/uploads/?digest={}",
        Digest::of(b"layer")
    );
    let reply = app.send(request(Method::POST, &uri, &bob, body)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(!read.load(Ordering::SeqCst), "OCI: the body was read");

    // The probe does see a body that is read: the owner's next version.
    let (body, read) = probe(&wharf_bundled::unique_component("json-transform", "second"));
    let uri = "/api/v1/packages/acme/edge/versions/1.1.0";
    let reply = app.send(request(Method::PUT, uri, &alice, body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert!(read.load(Ordering::SeqCst));
}

async fn bodies_past_the_upload_limit_are_refused_with_429_naming_it(backend: Backend) {
    let app = TestApp::with(backend, |c| c.max_uploads = 1).await;
    let blob = vec![7u8; 64 << 10];
    let digest = Digest::of(&blob);
    let uri = format!("/v2/acme/slow/blobs/uploads/?digest={digest}");

    // A client that sends half its blob and then waits holds the only slot...
    let (more, rest) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    more.send(Ok(Bytes::copy_from_slice(&blob[..1024])))
        .await
        .unwrap();
    let stream = futures::stream::unfold(rest, |mut rest| async move {
        rest.recv().await.map(|chunk| (chunk, rest))
    });
    let slow = {
        let request = request(Method::POST, &uri, ADMIN, Body::from_stream(stream));
        let app = app.router();
        tokio::spawn(async move { tower::ServiceExt::oneshot(app, request).await.unwrap() })
    };

    // ...once it holds it (the test waits for that: a body sent before could take the
    // slot first and have the slow one refused)...
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.state.uploads.in_use() == 0 {
        assert!(
            !slow.is_finished() && Instant::now() < deadline,
            "the slow upload never took the slot"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...so every other body is refused at once, naming the limit, until it is done.
    let small = b"small";
    let small_uri = format!("/v2/acme/other/blobs/uploads/?digest={}", Digest::of(small));
    let refused = app
        .send(request(
            Method::POST,
            &small_uri,
            ADMIN,
            Body::from(&small[..]),
        ))
        .await;
    busy(&refused, "max_uploads", 1);
    let publish = app
        .publish(
            ADMIN,
            "acme:edge",
            "1.0.0",
            &wharf_bundled::unique_component("json-transform", "busy"),
        )
        .await;
    assert_eq!(
        (publish.status, publish.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS".into())
    );

    more.send(Ok(Bytes::copy_from_slice(&blob[1024..])))
        .await
        .unwrap();
    drop(more);
    assert_eq!(slow.await.unwrap().status(), StatusCode::CREATED);
    let publish = app
        .publish(
            ADMIN,
            "acme:edge",
            "1.0.0",
            &wharf_bundled::unique_component("json-transform", "busy"),
        )
        .await;
    assert_eq!(publish.status, StatusCode::CREATED, "{:?}", publish.body);
}

/// A descriptor of a blob that is not stored.
fn descriptor(i: usize) -> serde_json::Value {
    json!({
        "mediaType": "application/octet-stream",
        "digest": Digest::of(format!("layer {i}").as_bytes()).to_string(),
        "size": 1,
    })
}

async fn a_manifest_referencing_more_than_the_cap_is_refused_naming_it(backend: Backend) {
    let app = TestApp::new(backend).await;
    let cap = wharf_registry::artifact::MAX_MANIFEST_REFERENCES;
    let image = |layers: usize| {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor(0),
            "layers": (1..=layers).map(descriptor).collect::<Vec<_>>(),
        })
    };
    let index = |manifests: usize| {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": (0..manifests).map(descriptor).collect::<Vec<_>>(),
        })
    };
    let put = async |manifest: &serde_json::Value| {
        let media_type = manifest["mediaType"].as_str().unwrap();
        let manifest = manifest.to_string();
        app.push_manifest(
            ADMIN,
            "acme/many",
            "latest",
            media_type,
            manifest.as_bytes(),
        )
        .await
    };
    for (what, manifest, fields, count) in [
        ("an image", image(cap), "`config` and `layers`", cap + 1),
        ("an index", index(cap + 1), "`manifests`", cap + 1),
        (
            "50,000 layers",
            image(50_000),
            "`config` and `layers`",
            50_001,
        ),
    ] {
        let reply = put(&manifest).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "MANIFEST_INVALID".into()),
            "{what}"
        );
        let message = reply.message();
        assert!(
            message.contains(fields)
                && message.contains(&count.to_string())
                && message.contains(&format!("at most {cap}")),
            "{what}: {message}"
        );
    }
    // At the cap, the references are looked at (and these are not stored).
    for manifest in [image(cap - 1), index(cap)] {
        let reply = put(&manifest).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN".into())
        );
    }
}

async fn a_body_that_fails_half_way_leaves_nothing_behind(backend: Backend) {
    let limit = 256 << 10;
    let app = TestApp::with(backend, |c| c.max_upload_bytes = limit).await;
    let too_big = vec![1u8; limit as usize + 1];
    // A monolithic push with no Content-Length that turns out too large: 413, and
    // nothing stored.
    let digest = Digest::of(&too_big);
    let chunks = futures::stream::iter(
        too_big
            .chunks(16 << 10)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let uri = format!("/v2/acme/big/blobs/uploads/?digest={digest}");
    let reply = app
        .send(request(
            Method::POST,
            &uri,
            ADMIN,
            Body::from_stream(chunks),
        ))
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID".into()),
        "{:?}",
        reply.body
    );
    assert_eq!(app.state.blobs.size(&digest).await.unwrap(), None);

    // A chunk that fails part-way leaves the upload as it was, ready for the next.
    let start = app
        .request(Method::POST, "/v2/acme/big/blobs/uploads/", Some(ADMIN), "")
        .await;
    let location = start.header("location").to_owned();
    let half = vec![2u8; (limit / 2) as usize];
    let patch = app
        .request(Method::PATCH, &location, Some(ADMIN), half.clone())
        .await;
    assert_eq!(patch.status, StatusCode::ACCEPTED);
    let chunks = futures::stream::iter(vec![
        Ok(Bytes::from(vec![3u8; 1024])),
        Err(std::io::Error::other("the client went away")),
    ]);
    let reply = app
        .send(request(
            Method::PATCH,
            &location,
            ADMIN,
            Body::from_stream(chunks),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.code(), "BODY_UNREADABLE");
    let status = app.request(Method::GET, &location, Some(ADMIN), "").await;
    assert_eq!(status.header("range"), format!("0-{}", half.len() - 1));
    let finish = format!("{location}?digest={}", Digest::of(&half));
    let reply = app.request(Method::PUT, &finish, Some(ADMIN), "").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let got = app
        .get(&format!("/v2/acme/big/blobs/{}", Digest::of(&half)))
        .await;
    assert_eq!(got.body, half);
}

async fn a_deployables_constituents_are_looked_up_together(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.publish_bundled(ADMIN).await;
    // The largest provenance a publish accepts: the bundled components, then parts
    // the registry does not have.
    let known: Vec<_> = wharf_bundled::COMPONENTS
        .iter()
        .map(|c| (c.package, c.version))
        .collect();
    let mut constituents = vec![json!({
        "key": "deployable.root",
        "package": known[0].0,
        "version": known[0].1,
        "digest": "sha256:00",
    })];
    for (i, (package, version)) in known.iter().enumerate().skip(1) {
        constituents.push(json!({
            "key": format!(r#"plugs."acme:p{i}""#),
            "package": package,
            "version": version,
            "digest": "sha256:00",
        }));
    }
    while constituents.len() < wharf_registry::analysis::provenance::MAX_CONSTITUENTS {
        let i = constituents.len();
        constituents.push(json!({
            "key": format!(r#"plugs."acme:p{i}""#),
            "package": format!("acme:missing-{i}"),
            "version": "1.0.0",
            "digest": "sha256:00",
        }));
    }
    let provenance = json!({"name": "acme:edge", "version": "1.0.0", "constituents": constituents});
    let flate = wharf_bundled::component("flate").unwrap();
    let reply = app
        .publish(
            ADMIN,
            "acme:edge",
            "1.0.0",
            &common::with_provenance(flate.bytes, &provenance),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);

    let name = "acme:edge".parse().unwrap();
    let deployable = app.state.deployable(&name, "1.0.0").await.unwrap().unwrap();
    assert_eq!(
        deployable.parts.len(),
        wharf_registry::analysis::provenance::MAX_CONSTITUENTS
    );
    for (i, part) in deployable.parts.iter().enumerate() {
        assert_eq!(
            part.known,
            i < known.len(),
            "part {i}: {:?}",
            part.constituent
        );
    }
    let page = app.get("/packages/acme/edge/1.0.0").await;
    assert_eq!(page.status, StatusCode::OK);
}

/// A body that sends a byte every `every`, for ever (`None`: nothing, ever).
fn trickle(every: Option<Duration>) -> Body {
    let stream = futures::stream::unfold((), move |()| async move {
        match every {
            Some(every) => tokio::time::sleep(every).await,
            None => std::future::pending::<()>().await,
        }
        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
    });
    Body::from_stream(stream)
}

/// Waits until `n` upload slots are taken.
async fn until_in_use(app: &TestApp, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.state.uploads.in_use() < n {
        assert!(Instant::now() < deadline, "the bodies never took {n} slots");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn one_users_bodies_hold_at_most_their_share_of_the_slots(backend: Backend) {
    // Four slots, two a user (half, by default).
    let app = TestApp::with(backend, |c| c.max_uploads = 4).await;
    let alice = app.token("alice", &["publish"], None).await;
    let bob = app.token("bob", &["publish"], None).await;
    let push = |token: &str, i: usize, body: Body| {
        let uri = format!(
            "/v2/alice/slow/blobs/uploads/?digest={}",
            Digest::of(format!("{token} {i}").as_bytes())
        );
        request(Method::POST, &uri, token, body)
    };
    // Alice's two stalled bodies hold her share...
    let stalled: Vec<_> = (0..2)
        .map(|i| {
            let (router, request) = (app.router(), push(&alice, i, trickle(None)));
            tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await })
        })
        .collect();
    until_in_use(&app, 2).await;
    // ...so her third is refused, naming the share, with slots still free...
    let third = app.send(push(&alice, 2, Body::from("third"))).await;
    busy(&third, "max_uploads_per_user", 2);
    assert_eq!(
        app.state.uploads.in_use(),
        2,
        "the refused body kept a slot"
    );
    // ...and another user publishes.
    publishes(&app, &bob, "bob:app").await;
    for task in stalled {
        task.abort();
    }
}

async fn a_body_behind_its_pace_is_refused_with_408_and_frees_its_slot(backend: Backend) {
    const TIMEOUT: Duration = Duration::from_millis(500);
    let app = TestApp::with(backend, |c| {
        c.max_uploads = 1;
        c.body_timeout = TIMEOUT;
        c.min_body_rate = 1024;
    })
    .await;
    // A byte every 100 ms is never silent for the timeout, but far below 1 KiB/s; a
    // body that sends nothing is silent. Each holds the only slot until refused.
    for (every, limit) in [
        (Some(Duration::from_millis(100)), "`min_body_rate`"),
        (None, "`body_timeout`"),
    ] {
        for (what, method, uri) in [
            (
                "a blob push",
                Method::POST,
                format!(
                    "/v2/acme/slow/blobs/uploads/?digest={}",
                    Digest::of(b"slow")
                ),
            ),
            (
                "a publish",
                Method::PUT,
                "/api/v1/packages/acme/slow/versions/1.0.0".to_owned(),
            ),
        ] {
            let started = Instant::now();
            let reply = tokio::time::timeout(
                TIMEOUT * 10,
                app.send(request(method, &uri, ADMIN, trickle(every))),
            )
            .await
            .unwrap_or_else(|_| panic!("{what} sent {limit} still holds its slot"));
            let took = started.elapsed();
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::REQUEST_TIMEOUT, "BODY_TIMEOUT".into()),
                "{what} sent {limit}: {:?}",
                reply.body
            );
            assert!(
                reply.message().contains(limit),
                "{what}: {}",
                reply.message()
            );
            assert_eq!(reply.header("connection"), "close");
            assert!(
                took >= TIMEOUT && took < TIMEOUT * 10,
                "{what} was refused after {took:?}"
            );
            assert_eq!(app.state.uploads.in_use(), 0, "{what} kept its slot");
        }
    }
    // Nothing of them is stored, and the slot serves the next body.
    let blob = app
        .get(&format!("/v2/acme/slow/blobs/{}", Digest::of(b"slow")))
        .await;
    assert_eq!(blob.status, StatusCode::NOT_FOUND);
    publishes(&app, ADMIN, "acme:slow").await;
}

/// Checks that `token` publishes a first version of `name` at once.
async fn publishes(app: &TestApp, token: &str, name: &str) {
    let component = wharf_bundled::unique_component("json-transform", name);
    let reply = app.publish(token, name, "1.0.0", &component).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{name}: {:?}",
        reply.body
    );
}
