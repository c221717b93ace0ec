//! What a security review of the registry found (issue #16), each hole as the behaviour
//! that closes it, driven in-process like the API tests.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{ADMIN, Backend, TestApp};
use serde_json::json;
use wharf_registry::{AppState, Config};

on_both_databases!(
    a_token_never_outlives_the_token_that_made_it,
    an_admin_tokens_namespace_list_binds_it,
    the_anonymous_bearer_is_nobody,
);

const DAY_MS: i64 = 86_400_000;

/// Creates a token with `token`; the reply.
async fn create_token(app: &TestApp, token: &str, body: serde_json::Value) -> common::Reply {
    app.request(
        Method::POST,
        "/api/v1/tokens",
        Some(token),
        body.to_string(),
    )
    .await
}

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
    let made = create_token(
        &app,
        ADMIN,
        json!({"name": "ci", "owner": "alice", "scopes": ["publish"], "expires_in_days": 2}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let parent = made.json()["token_secret"].as_str().unwrap().to_owned();
    let parent_expiry = made.json()["expires_at"].as_i64().unwrap();

    // Asked for no expiry, the child expires with its parent.
    let child = create_token(
        &app,
        &parent,
        json!({"name": "child", "scopes": ["publish"]}),
    )
    .await;
    assert_eq!(child.status, StatusCode::CREATED, "{:?}", child.body);
    assert_eq!(child.json()["expires_at"].as_i64(), Some(parent_expiry));

    // Asked for longer, it is refused, naming the field and what is possible.
    let longer = create_token(
        &app,
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
    let shorter = create_token(
        &app,
        &parent,
        json!({"name": "child", "scopes": ["publish"], "expires_in_days": 1}),
    )
    .await;
    assert_eq!(shorter.status, StatusCode::CREATED, "{:?}", shorter.body);
    let expiry = shorter.json()["expires_at"].as_i64().unwrap();
    assert!(expiry < parent_expiry && expiry > parent_expiry - 2 * DAY_MS);

    // The admin of the whole registry still makes tokens that never expire.
    let forever = create_token(
        &app,
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
    let wider = create_token(
        &app,
        &acme_admin,
        json!({"name": "wider", "scopes": ["publish"], "namespaces": ["globex"]}),
    )
    .await;
    assert_eq!(wider.status, StatusCode::FORBIDDEN);
    let unlisted = create_token(
        &app,
        &acme_admin,
        json!({"name": "all", "scopes": ["admin"]}),
    )
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
    let for_bob = create_token(
        &app,
        &acme_admin,
        json!({"name": "b", "owner": "bob", "scopes": ["publish"]}),
    )
    .await;
    assert_eq!(for_bob.status, StatusCode::FORBIDDEN);
}

async fn the_anonymous_bearer_is_nobody(backend: Backend) {
    let app = TestApp::new(backend).await;
    // A real user may be called `anonymous`.
    let theirs = create_token(
        &app,
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
    let create = create_token(&app, &bearer, json!({"name": "x", "scopes": ["publish"]})).await;
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
