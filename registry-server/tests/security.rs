//! What a security review of the registry found (issue #16), each hole as the behaviour
//! that closes it, driven in-process like the API tests.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{ADMIN, Backend, TestApp};
use serde_json::json;
use wharf_registry::{AppState, Config};

on_both_databases!(
    a_token_never_outlives_the_token_that_made_it,
    an_admin_tokens_namespace_list_binds_it,
    the_anonymous_bearer_is_nobody,
    a_blob_deleted_from_every_repository_is_no_longer_served,
    versions_over_128_characters_are_refused_at_publish,
    a_private_registry_keeps_its_metrics_private,
    pages_downloads_and_errors_carry_the_browser_protections,
    a_page_past_any_result_count_is_refused_not_overflowed,
    the_first_oci_pusher_owns_the_namespace,
    namespaces_pushed_to_before_upgrading_are_left_to_the_admin,
);

const DAY_MS: i64 = 86_400_000;

#[tokio::test]
async fn an_empty_or_short_admin_token_stops_the_start() {
    for token in ["", "   ", "fifteen-chars!!"] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.admin_token = Some(token.into());
        let Err(error) = AppState::open(config).await else {
            panic!("{token:?} was accepted as an admin token");
        };
        let error = error.to_string();
        assert!(
            error.contains("admin token") && error.contains("at least 16 characters"),
            "{token:?}: {error}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.admin_token = Some("sixteen-chars!!!".into());
    AppState::open(config)
        .await
        .expect("16 characters are enough");
}

#[tokio::test]
async fn an_empty_secret_is_never_the_admin() {
    // A configuration that slipped past the start-up check (built by hand, as an
    // embedding program might) still lets no empty password in.
    let app = TestApp::new(Backend::Sqlite).await;
    let mut config = (*app.state.config).clone();
    config.admin_token = Some(String::new());
    let state = AppState {
        config: Arc::new(config),
        ..app.state.clone()
    };
    let router = wharf_registry::app(state);
    for authorization in ["Basic Og==", "Basic Og", "Bearer ", "Bearer"] {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/tokens")
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"name":"x","scopes":["admin"]}"#))
            .unwrap();
        let response = tower::ServiceExt::oneshot(router.clone(), request)
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
    }
}

async fn a_token_never_outlives_the_token_that_made_it(backend: Backend) {
    let app = TestApp::new(backend).await;
    let made = app
        .create_token(
            ADMIN,
            json!({"name": "ci", "owner": "alice", "scopes": ["publish"], "expires_in_days": 2}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let parent = made.json()["token_secret"].as_str().unwrap().to_owned();
    let parent_expiry = made.json()["expires_at"].as_i64().unwrap();

    // Asked for no expiry, the child expires with its parent.
    let child = app
        .create_token(&parent, json!({"name": "child", "scopes": ["publish"]}))
        .await;
    assert_eq!(child.status, StatusCode::CREATED, "{:?}", child.body);
    assert_eq!(child.json()["expires_at"].as_i64(), Some(parent_expiry));

    // Asked for longer, it is refused, naming the field and what is possible.
    let longer = app
        .create_token(
            &parent,
            json!({"name": "child", "scopes": ["publish"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(
        (longer.status, longer.code()),
        (StatusCode::FORBIDDEN, "DENIED".into())
    );
    assert!(
        longer.message().contains("`expires_in_days`") && longer.message().contains("at most 1"),
        "{}",
        longer.message()
    );

    // Shorter is fine.
    let shorter = app
        .create_token(
            &parent,
            json!({"name": "child", "scopes": ["publish"], "expires_in_days": 1}),
        )
        .await;
    assert_eq!(shorter.status, StatusCode::CREATED, "{:?}", shorter.body);
    let expiry = shorter.json()["expires_at"].as_i64().unwrap();
    assert!(expiry < parent_expiry && expiry > parent_expiry - 2 * DAY_MS);

    // The admin of the whole registry still makes tokens that never expire.
    let forever = app
        .create_token(
            ADMIN,
            json!({"name": "forever", "owner": "alice", "scopes": ["publish"]}),
        )
        .await;
    assert_eq!(forever.status, StatusCode::CREATED);
    assert!(forever.json()["expires_at"].is_null());
}

async fn an_admin_tokens_namespace_list_binds_it(backend: Backend) {
    let app = TestApp::new(backend).await;
    let bytes = wharf_bundled::component("flate").unwrap().bytes;
    let acme_admin = app.token("ops", &["admin"], Some(&["acme"])).await;
    let alice = app.token("alice", &["publish", "yank"], None).await;
    for name in ["acme:zip", "globex:zip"] {
        let reply = app.publish(&alice, name, "1.0.0", bytes).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{name}");
    }

    // In its namespace it is an admin: alice owns acme, yet it publishes and yanks.
    assert_eq!(
        app.publish(&acme_admin, "acme:zip", "1.0.1", bytes)
            .await
            .status,
        StatusCode::CREATED
    );
    let yank = app
        .request(
            Method::PUT,
            "/api/v1/packages/acme/zip/versions/1.0.0/yank",
            Some(&acme_admin),
            "",
        )
        .await;
    assert_eq!(yank.status, StatusCode::NO_CONTENT);

    // Elsewhere it is nothing: not over the JSON API...
    let publish = app.publish(&acme_admin, "globex:zip", "2.0.0", bytes).await;
    assert_eq!(
        (publish.status, publish.code()),
        (StatusCode::FORBIDDEN, "DENIED".into())
    );
    assert!(
        publish.message().contains("`globex`"),
        "{}",
        publish.message()
    );
    let yank = app
        .request(
            Method::PUT,
            "/api/v1/packages/globex/zip/versions/1.0.0/yank",
            Some(&acme_admin),
            "",
        )
        .await;
    assert_eq!(yank.status, StatusCode::FORBIDDEN);
    let owners = app
        .request(
            Method::PUT,
            "/api/v1/namespaces/globex/owners/ops",
            Some(&acme_admin),
            "",
        )
        .await;
    assert_eq!(owners.status, StatusCode::FORBIDDEN);
    // ...nor over OCI...
    let upload = app
        .request(
            Method::POST,
            "/v2/globex/zip/blobs/uploads/",
            Some(&acme_admin),
            "",
        )
        .await;
    assert_eq!(upload.status, StatusCode::FORBIDDEN);
    // ...nor through a token it makes...
    let wider = app
        .create_token(
            &acme_admin,
            json!({"name": "wider", "scopes": ["publish"], "namespaces": ["globex"]}),
        )
        .await;
    assert_eq!(wider.status, StatusCode::FORBIDDEN);
    let unlisted = app
        .create_token(&acme_admin, json!({"name": "all", "scopes": ["admin"]}))
        .await;
    assert_eq!(unlisted.status, StatusCode::CREATED);
    assert_eq!(unlisted.json()["namespaces"], json!(["acme"]));
    // ...and nothing that concerns the whole registry.
    for (method, uri) in [
        (Method::GET, "/api/v1/tokens?owner=alice"),
        (Method::POST, "/api/v1/admin/gc"),
        (Method::GET, "/api/v1/admin/fsck"),
    ] {
        let reply = app.request(method, uri, Some(&acme_admin), "").await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{uri}");
    }
    let for_bob = app
        .create_token(
            &acme_admin,
            json!({"name": "b", "owner": "bob", "scopes": ["publish"]}),
        )
        .await;
    assert_eq!(for_bob.status, StatusCode::FORBIDDEN);
}

async fn the_anonymous_bearer_is_nobody(backend: Backend) {
    let app = TestApp::new(backend).await;
    // A real user may be called `anonymous`.
    let theirs = app
        .create_token(
            ADMIN,
            json!({"name": "theirs", "owner": "anonymous", "scopes": ["publish"]}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let id = theirs.json()["id"].as_str().unwrap().to_owned();
    let secret = theirs.json()["token_secret"].as_str().unwrap().to_owned();

    let issued = app.get("/v2/token?scope=repository:acme/zip:pull").await;
    assert_eq!(issued.status, StatusCode::OK);
    let bearer = issued.json()["token"].as_str().unwrap().to_owned();

    // Valid for OCI clients, and for reads...
    assert_eq!(
        app.request(Method::GET, "/v2/", Some(&bearer), "")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.request(Method::GET, "/api/v1/packages", Some(&bearer), "")
            .await
            .status,
        StatusCode::OK
    );
    // ...but no user: it lists, makes and revokes no tokens.
    let list = app
        .request(Method::GET, "/api/v1/tokens", Some(&bearer), "")
        .await;
    assert_eq!(list.status, StatusCode::UNAUTHORIZED, "{:?}", list.body);
    let revoke = app
        .request(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&bearer),
            "",
        )
        .await;
    assert_eq!(revoke.status, StatusCode::UNAUTHORIZED);
    let create = app
        .create_token(&bearer, json!({"name": "x", "scopes": ["publish"]}))
        .await;
    assert_eq!(create.status, StatusCode::UNAUTHORIZED);
    let mine = app
        .request(Method::GET, "/api/v1/tokens", Some(&secret), "")
        .await;
    assert_eq!(
        mine.json()[0]["revoked"],
        false,
        "the user's token lives on"
    );
}

/// Pushes `bytes` to `repository` over OCI in one request, as the admin; its digest.
async fn push_blob(app: &TestApp, repository: &str, bytes: &[u8]) -> String {
    let reply = app.push_blob(ADMIN, repository, bytes).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    wharf_types::Digest::of(bytes).to_string()
}

async fn a_blob_deleted_from_every_repository_is_no_longer_served(backend: Backend) {
    let app = TestApp::new(backend).await;
    let bytes = b"a layer two repositories share";
    let digest = push_blob(&app, "acme/one", bytes).await;
    push_blob(&app, "acme/two", bytes).await;
    let download = format!("/api/v1/blobs/{digest}");
    assert_eq!(app.get(&download).await.body.as_ref(), bytes);

    let app = &app;
    let delete = |repository: &str| {
        let uri = format!("/v2/{repository}/blobs/{digest}");
        async move { app.request(Method::DELETE, &uri, Some(ADMIN), "").await }
    };
    assert_eq!(delete("acme/one").await.status, StatusCode::ACCEPTED);
    assert_eq!(
        app.get(&download).await.status,
        StatusCode::OK,
        "acme/two still serves it"
    );
    assert_eq!(delete("acme/two").await.status, StatusCode::ACCEPTED);
    let gone = app.get(&download).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN".into()),
        "deleted everywhere, though the bytes wait for the collector"
    );

    // A published version's bytes stay served by digest, yanked or not.
    let flate = wharf_bundled::component("flate").unwrap();
    let published = app
        .publish(ADMIN, flate.package, flate.version, flate.bytes)
        .await;
    let digest = published.json()["digest"].as_str().unwrap().to_owned();
    let yank = format!(
        "/api/v1/packages/wharf/flate/versions/{}/yank",
        flate.version
    );
    app.request(Method::PUT, &yank, Some(ADMIN), "").await;
    assert_eq!(
        app.get(&format!("/api/v1/blobs/{digest}"))
            .await
            .body
            .as_ref(),
        flate.bytes
    );
}

async fn versions_over_128_characters_are_refused_at_publish(backend: Backend) {
    let app = TestApp::new(backend).await;
    let flate = wharf_bundled::component("flate").unwrap();
    let longest = format!("1.0.0-{}", "a".repeat(128 - 6));
    assert_eq!(longest.len(), 128);
    let too_long = format!("{longest}b");

    let refused = app
        .publish(ADMIN, flate.package, &too_long, flate.bytes)
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "VERSION_INVALID".into())
    );
    assert!(
        refused.message().contains("`version`")
            && refused.message().contains("129 characters")
            && refused.message().contains("at most 128"),
        "{}",
        refused.message()
    );
    let versions = app.get("/api/v1/packages/wharf/flate").await;
    assert_eq!(versions.status, StatusCode::NOT_FOUND, "nothing was kept");

    // The longest accepted version is reachable over OCI as a tag.
    let accepted = app
        .publish(ADMIN, flate.package, &longest, flate.bytes)
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{:?}", accepted.body);
    let manifest = app
        .get(&format!("/v2/wharf/flate/manifests/{longest}"))
        .await;
    assert_eq!(manifest.status, StatusCode::OK);
}

async fn a_private_registry_keeps_its_metrics_private(backend: Backend) {
    let app = TestApp::with(backend, |c| c.anonymous_read = false).await;
    let anonymous = app.get("/metrics").await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".into())
    );
    let token = app.token("prometheus", &["publish"], Some(&["none"])).await;
    let scraped = app.request(Method::GET, "/metrics", Some(&token), "").await;
    assert_eq!(scraped.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&scraped.body).contains("wharf_http_requests_total"));

    let public = TestApp::new(backend).await;
    assert_eq!(public.get("/metrics").await.status, StatusCode::OK);
}

async fn pages_downloads_and_errors_carry_the_browser_protections(backend: Backend) {
    let app = TestApp::new(backend).await;
    let flate = wharf_bundled::component("flate").unwrap();
    let published = app
        .publish(ADMIN, flate.package, flate.version, flate.bytes)
        .await;
    let digest = published.json()["digest"].as_str().unwrap().to_owned();
    for uri in [
        "/".to_owned(),
        format!("/packages/wharf/flate/{}", flate.version),
        format!(
            "/api/v1/packages/wharf/flate/versions/{}/content",
            flate.version
        ),
        format!("/api/v1/blobs/{digest}"),
        format!("/v2/wharf/flate/blobs/{digest}"),
        "/api/v1/packages/wharf/nothing".to_owned(),
        "/no/such/page".to_owned(),
    ] {
        let reply = app.get(&uri).await;
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{uri}");
        assert_eq!(reply.header("x-frame-options"), "DENY", "{uri}");
        let policy = reply.header("content-security-policy");
        assert!(
            policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"),
            "{uri}: {policy}"
        );
    }
}

async fn a_page_past_any_result_count_is_refused_not_overflowed(backend: Backend) {
    let app = TestApp::new(backend).await;
    for uri in [
        format!("/api/v1/packages?page={}&per_page=100", i64::MAX),
        format!("/api/v1/packages?page={}&per_page=2", i64::MAX / 2 + 2),
        format!("/search?q=&page={}", i64::MAX),
    ] {
        let reply = app.get(&uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        let text = String::from_utf8_lossy(&reply.body);
        assert!(
            text.contains("PAGINATION_INVALID") && text.contains("`page`"),
            "{uri}: {text}"
        );
    }
    // The last page that can be asked for is fine, and empty.
    let far = app
        .get(&format!("/api/v1/packages?page={}&per_page=1", i64::MAX))
        .await;
    assert_eq!(far.status, StatusCode::OK, "{:?}", far.body);
    assert_eq!(far.json()["packages"], json!([]));
}

/// A request to the in-process app with a `Host` header of the client's choosing.
async fn with_host(app: &TestApp, uri: &str, host: &str) -> common::Reply {
    app.send(
        Request::builder()
            .uri(uri)
            .header("host", host)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn the_token_realm_and_well_known_document_name_the_public_url_not_the_host() {
    let app = TestApp::with(Backend::Sqlite, |c| {
        c.public_url = Some("https://wasm.example.test:8443/".into())
    })
    .await;
    let forged = "attacker.example.test";
    let probe = with_host(&app, "/v2/", forged).await;
    assert_eq!(probe.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        probe.header("www-authenticate"),
        r#"Bearer realm="https://wasm.example.test:8443/v2/token",service="wharf""#
    );
    let well_known = with_host(&app, "/.well-known/wasm-pkg/registry.json", forged).await;
    assert_eq!(
        well_known.json()["oci"]["registry"],
        "wasm.example.test:8443"
    );

    // Private: a pull is challenged, and the challenge names the public URL too.
    let private = TestApp::with(Backend::Sqlite, |c| {
        c.anonymous_read = false;
        c.public_url = Some("https://wasm.example.test".into());
    })
    .await;
    let pull = with_host(&private, "/v2/acme/zip/manifests/1.0.0", forged).await;
    assert_eq!(pull.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        pull.header("www-authenticate"),
        r#"Bearer realm="https://wasm.example.test/v2/token",service="wharf",scope="repository:acme/zip:pull""#
    );
    let flate = wharf_bundled::component("flate").unwrap();
    private
        .publish(ADMIN, flate.package, flate.version, flate.bytes)
        .await;
    let page = private
        .send(
            Request::builder()
                .uri("/packages/wharf/flate")
                .header("host", forged)
                .header("authorization", format!("Bearer {ADMIN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let page = String::from_utf8_lossy(&page.body);
    assert!(
        page.contains("--registry wasm.example.test") && !page.contains(forged),
        "{page}"
    );
}

#[tokio::test]
async fn the_public_url_defaults_to_the_address_the_server_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = wharf_registry::Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let app = TestApp::with(Backend::Sqlite, |c| {
        *c = (*server.state().config).clone();
        c.admin_token = Some(ADMIN.into());
    })
    .await;
    let probe = with_host(&app, "/v2/", "attacker.example.test").await;
    assert_eq!(
        probe.header("www-authenticate"),
        format!(r#"Bearer realm="http://{addr}/v2/token",service="wharf""#)
    );
    let well_known = with_host(
        &app,
        "/.well-known/wasm-pkg/registry.json",
        "attacker.example.test",
    )
    .await;
    assert_eq!(well_known.json()["oci"]["registry"], addr.to_string());
}

#[tokio::test]
async fn a_public_url_that_is_not_an_http_origin_stops_the_start() {
    for (url, why) in [
        ("wasm.example.test", "no scheme"),
        ("ftp://wasm.example.test", "neither http nor https"),
        ("https://wasm.example.test/registry", "path"),
        ("https://wasm.example.test?x=1", "query"),
        ("https://", "no valid host"),
        ("https://user@wasm.example.test", "no valid host"),
    ] {
        let error = wharf_registry::parse_public_url(url).unwrap_err();
        assert!(
            error.contains("`public_url`") && error.contains(why),
            "{url}: {error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.public_url = Some(url.into());
        let Err(error) = AppState::open(config).await else {
            panic!("{url} was accepted");
        };
        assert!(error.to_string().contains("`public_url`"), "{url}: {error}");
    }
    assert_eq!(
        wharf_registry::parse_public_url("http://127.0.0.1:7878/").unwrap(),
        "http://127.0.0.1:7878"
    );
}

/// Tags, in `repository`, an image manifest whose config is `config` (pushed already).
async fn tag_as(
    app: &TestApp,
    token: &str,
    repository: &str,
    tag: &str,
    config: &[u8],
) -> common::Reply {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": wharf_types::Digest::of(config).to_string(),
            "size": config.len(),
        },
        "layers": [],
    });
    app.push_manifest(
        token,
        repository,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    )
    .await
}

/// A 403 `DENIED` that names `namespace`.
fn assert_denied(reply: &common::Reply, namespace: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::FORBIDDEN, "DENIED".into()),
        "{what}: {:?}",
        reply.body
    );
    assert!(
        reply.message().contains(&format!("`{namespace}`")),
        "{what}: {}",
        reply.message()
    );
}

async fn the_first_oci_pusher_owns_the_namespace(backend: Backend) {
    let app = TestApp::new(backend).await;
    let alice = app.token("alice", &["publish", "owners"], None).await;
    let bob = app.token("bob", &["publish", "yank"], None).await;
    let config = br#"{"architecture":"wasm","os":"wasip2"}"#;

    // Alice pushes into `acme/zip` before anyone published to `acme`: she claims it.
    assert_eq!(
        app.push_blob(&alice, "acme/zip", config).await.status,
        StatusCode::CREATED
    );
    let tagged = tag_as(&app, &alice, "acme/zip", "stable", config).await;
    assert_eq!(tagged.status, StatusCode::CREATED, "{:?}", tagged.body);
    let namespace = app.get("/api/v1/namespaces/acme").await;
    assert_eq!(namespace.json()["owners"], json!(["alice"]));

    // Bob can neither publish into it (and so claim it, with her tag beside his
    // versions), nor push, move or delete anything in it.
    let flate = wharf_bundled::component("flate").unwrap();
    assert_denied(
        &app.publish(&bob, "acme:zip", "1.0.0", flate.bytes).await,
        "acme",
        "publish",
    );
    assert_denied(
        &app.push_blob(&bob, "acme/zip", b"bob's layer").await,
        "acme",
        "blob push",
    );
    assert_denied(
        &tag_as(&app, &bob, "acme/zip", "stable", config).await,
        "acme",
        "moving a tag",
    );
    assert_denied(
        &tag_as(&app, &bob, "acme/other", "latest", config).await,
        "acme",
        "a new repository in the namespace",
    );
    let delete = app
        .request(
            Method::DELETE,
            "/v2/acme/zip/manifests/stable",
            Some(&bob),
            "",
        )
        .await;
    assert_denied(&delete, "acme", "deleting a tag");
    let tags = app.get("/v2/acme/zip/tags/list").await;
    assert_eq!(tags.json()["tags"], json!(["stable"]));

    // Repositories that are no package name have an owner too: the first segment is
    // the namespace, whatever its shape.
    for repository in ["my.org/tools/lint", "busybox"] {
        let namespace = repository.split('/').next().unwrap();
        assert_eq!(
            app.push_blob(&alice, repository, config).await.status,
            StatusCode::CREATED
        );
        assert_eq!(
            tag_as(&app, &alice, repository, "v1", config).await.status,
            StatusCode::CREATED
        );
        assert_denied(
            &tag_as(&app, &bob, repository, "v1", config).await,
            namespace,
            repository,
        );
        let delete = app
            .request(
                Method::DELETE,
                &format!("/v2/{repository}/manifests/v1"),
                Some(&bob),
                "",
            )
            .await;
        assert_denied(&delete, namespace, repository);
    }

    // An owner she adds may push; the admin always may.
    let added = app
        .request(
            Method::PUT,
            "/api/v1/namespaces/acme/owners/bob",
            Some(&alice),
            "",
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(
        tag_as(&app, &bob, "acme/zip", "bobs", config).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        tag_as(&app, ADMIN, "busybox", "admins", config)
            .await
            .status,
        StatusCode::CREATED
    );
}

async fn namespaces_pushed_to_before_upgrading_are_left_to_the_admin(backend: Backend) {
    let app = TestApp::new(backend).await;
    // A repository pushed before pushes claimed namespaces: a tag and its manifest in
    // `legacy/zip`, and nobody owns `legacy`.
    let pool = app.state.db.pool();
    sqlx::query(
        "INSERT INTO oci_manifests (repository, digest, media_type, size, created_at) \
         VALUES ('legacy/zip', 'sha256:00', 'application/vnd.oci.image.manifest.v1+json', 2, 0)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO oci_tags (repository, tag, digest, updated_at) \
         VALUES ('legacy/zip', 'stable', 'sha256:00', 0)",
    )
    .execute(pool)
    .await
    .unwrap();
    let migration = match backend {
        Backend::Sqlite => include_str!("../../migrations/sqlite/0005_oci_owners.sql"),
        Backend::Postgres => include_str!("../../migrations/postgres/0005_oci_owners.sql"),
    };
    sqlx::raw_sql(migration).execute(pool).await.unwrap();

    // The migration claimed `legacy` for nobody: no user may push, delete or publish
    // there (nor claim it by publishing first)...
    let bob = app.token("bob", &["publish"], None).await;
    let config = br#"{"architecture":"wasm","os":"wasip2"}"#;
    assert_denied(
        &app.push_blob(&bob, "legacy/zip", config).await,
        "legacy",
        "push",
    );
    let delete = app
        .request(
            Method::DELETE,
            "/v2/legacy/zip/manifests/stable",
            Some(&bob),
            "",
        )
        .await;
    assert_denied(&delete, "legacy", "delete");
    let flate = wharf_bundled::component("flate").unwrap();
    assert_denied(
        &app.publish(&bob, "legacy:zip", "1.0.0", flate.bytes).await,
        "legacy",
        "publish",
    );
    // ...until the admin, who still may, hands it to someone.
    assert_eq!(
        app.push_blob(ADMIN, "legacy/zip", config).await.status,
        StatusCode::CREATED
    );
    let added = app
        .request(
            Method::PUT,
            "/api/v1/namespaces/legacy/owners/bob",
            Some(ADMIN),
            "",
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(
        app.push_blob(&bob, "legacy/zip", config).await.status,
        StatusCode::CREATED
    );
}

/// A registry serving on a free loopback port as `wharf serve` runs it, on a runtime
/// of its own with two workers (so a test's client is never starved by the server it
/// tests); stopped, without waiting for what it is still doing, when dropped.
struct Running {
    addr: std::net::SocketAddr,
    _stop: std::sync::mpsc::SyncSender<()>,
    _dir: tempfile::TempDir,
}

async fn running(configure: impl FnOnce(&mut Config)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_token = Some(ADMIN.into());
    configure(&mut config);
    let (stop, stopped) = std::sync::mpsc::sync_channel::<()>(0);
    let (bound, addr) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.spawn(async move {
            let server = wharf_registry::Server::bind(config).await.unwrap();
            let _ = bound.send(server.local_addr());
            server.run(std::future::pending()).await
        });
        let _ = stopped.recv();
        runtime.shutdown_background();
    });
    Running {
        addr: addr.await.expect("the registry starts"),
        _stop: stop,
        _dir: dir,
    }
}

/// Opens a connection and sends the start of a request head, never its end.
async fn stall(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
        .await
        .unwrap();
    stream
}

/// Everything the server sends until it closes the connection; panics if it is still
/// open after `within`.
async fn until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("the connection is still open after {within:?}"))
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// One whole `GET path` on a connection of its own; the answer.
async fn get_once(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    until_closed(&mut stream, Duration::from_secs(30)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalled_in_its_request_head_is_cut_off_while_others_are_served() {
    let timeout = Duration::from_secs(1);
    let server = running(|c| c.header_read_timeout = timeout).await;
    let started = Instant::now();
    let mut stalled = stall(server.addr).await;

    // Others are answered meanwhile...
    let answer = get_once(server.addr, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // ...and the stalled client is disconnected once its time is up, never answered.
    let answer = until_closed(&mut stalled, Duration::from_secs(10)).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(
        started.elapsed() >= timeout,
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    let answer = get_once(server.addr, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let timeout = Duration::from_secs(1);
    let server = running(|c| {
        c.header_read_timeout = timeout;
        c.max_connections = 2;
    })
    .await;
    let started = Instant::now();
    // Two stalled clients hold both slots...
    let _first = stall(server.addr).await;
    let _second = stall(server.addr).await;
    // ...so a third is served only once the header timeout frees one of them.
    let answer = get_once(server.addr, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= timeout,
        "served past the cap after {:?}",
        started.elapsed()
    );
}

/// A provenance whose every plug key appears twice, `levels` deep: each copy of a
/// level is the parent of both copies of the next.
fn repeated_keys(levels: usize) -> serde_json::Value {
    let mut constituents = vec![json!({"key": "deployable.root", "digest": "sha256:00"})];
    for level in 1..=levels {
        let key = vec![r#"plugs."acme:deep""#; level].join(".");
        for _ in 0..2 {
            constituents.push(json!({"key": key, "digest": "sha256:00"}));
        }
    }
    json!({"name": "acme:edge", "version": "1.0.0", "constituents": constituents})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provenance_with_repeated_keys_renders_quickly_and_healthz_answers_meanwhile() {
    use tokio::io::AsyncWriteExt;
    let server = running(|_| {}).await;
    // 1 + 2 * 42 = 85 parts: the old layout walked 2^42 paths (days); 48 took 1 s.
    let flate = wharf_bundled::component("flate").unwrap();
    let bytes = common::with_provenance(flate.bytes, &repeated_keys(42));
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "PUT /api/v1/packages/acme/edge/versions/1.0.0 HTTP/1.1\r\nhost: 127.0.0.1\r\n\
                 authorization: Bearer {ADMIN}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                bytes.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream.write_all(&bytes).await.unwrap();
    let published = until_closed(&mut stream, Duration::from_secs(30)).await;
    assert!(published.starts_with("HTTP/1.1 201"), "{published}");

    // Two renders at once (as many as the server has workers).
    let started = Instant::now();
    let addr = server.addr;
    let renders: Vec<_> = [
        "/packages/acme/edge/1.0.0/deployable",
        "/packages/acme/edge/1.0.0/graph.svg",
    ]
    .into_iter()
    .map(|path| tokio::spawn(async move { get_once(addr, path).await }))
    .collect();
    // Until both are drawn (at most 5 s), the server answers health checks within 2 s.
    loop {
        let health = tokio::time::timeout(Duration::from_secs(2), get_once(addr, "/healthz"))
            .await
            .expect("/healthz answers within 2 s while graphs are drawn");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        if renders.iter().all(|r| r.is_finished()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "graphs of 85 parts take more than 5 s"
        );
    }
    for render in renders {
        let answer = render.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains("Composition of acme:edge@1.0.0"),
            "{answer}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_provenance_over_the_cap_is_refused_at_publish_naming_the_field() {
    let app = TestApp::new(Backend::Sqlite).await;
    // acme:edge 1.0.0, its provenance listing `parts` constituents.
    let publish = async |parts: usize| {
        let flate = wharf_bundled::component("flate").unwrap();
        let constituents: Vec<_> = (0..parts)
            .map(|i| json!({"key": format!(r#"plugs."acme:p{i}""#), "digest": "sha256:00"}))
            .collect();
        let provenance =
            json!({"name": "acme:edge", "version": "1.0.0", "constituents": constituents});
        let bytes = common::with_provenance(flate.bytes, &provenance);
        app.publish(ADMIN, "acme:edge", "1.0.0", &bytes).await
    };
    let refused = publish(257).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::BAD_REQUEST, "PROVENANCE_INVALID".into())
    );
    assert!(
        refused.message().contains("`constituents`")
            && refused.message().contains("257")
            && refused.message().contains("at most 256"),
        "{}",
        refused.message()
    );
    // The largest accepted provenance publishes.
    let accepted = publish(256).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{:?}", accepted.body);
}
