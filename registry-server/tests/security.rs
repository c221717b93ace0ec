//! What a security review of the registry found (issue #16), each hole as the behaviour
//! that closes it, driven in-process like the API tests.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Backend, TestApp};
use wharf_registry::{AppState, Config};

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
