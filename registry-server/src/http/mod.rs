//! HTTP: every route, and nothing but routes. Handlers parse a request, ask a service
//! (never the repositories or storage: nothing here holds the database or the blob
//! store), and answer: JSON under
//! `/api/v1` ([`api`]), the OCI distribution API under `/v2/` ([`oci`]), and pages
//! ([`web`]). Bodies are read in [`body`], blobs served in [`blob`], errors answered
//! in [`error`], callers identified in [`auth`]. Nothing below this layer imports it.

pub mod api;
pub mod auth;
pub mod blob;
pub mod body;
pub mod error;
mod metrics;
pub mod oci;
pub mod web;

use axum::Router;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::AppState;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api::router(state.config.transparency_log))
        .merge(oci::router())
        .merge(web::router())
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route("/metrics", get(metrics::render))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), metrics::record))
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::map_response(security_headers))
}

/// What every page may load: its own stylesheet and images, nothing else, no scripts;
/// and no other site may frame it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Headers on every answer (pages, downloads, errors): a browser never sniffs a
/// download into HTML or script, never runs anything but what the policy allows, and
/// never shows the registry in another site's frame.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}
