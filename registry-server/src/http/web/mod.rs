//! The web view: server-rendered pages for people browsing the registry.
//!
//! Read-only, and plain HTML with one stylesheet: no JavaScript, so pages work in any
//! browser, load fast on a phone and are links anyone can share. Templates are maud,
//! which escapes every interpolated value, because names, descriptions and WIT come
//! from whoever published. Handlers are thin: they call the services in `service` and
//! `browse` (never the repositories) and hand the result to one module per page.

mod deployable;
mod diff;
mod graph;
mod home;
mod layout;
mod linediff;
mod log;
mod namespace;
mod package;
mod wit;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};

use crate::AppState;
use crate::http::auth::Reader;
use crate::http::error::ApiError;

/// The routes of the pages and their stylesheet.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/search", get(home::search))
        .route("/packages/{namespace}/{name}", get(package::latest))
        .route("/packages/{namespace}/{name}/diff", get(diff::page))
        .route(
            "/packages/{namespace}/{name}/{version}",
            get(package::version),
        )
        .route(
            "/packages/{namespace}/{name}/{version}/deployable",
            get(deployable::page),
        )
        .route(
            "/packages/{namespace}/{name}/{version}/graph.svg",
            get(deployable::svg),
        )
        .route("/namespaces/{namespace}", get(namespace::page))
        .route("/log", get(log::page))
        .route(STYLESHEET_PATH, get(stylesheet))
}

/// A page, rendered: HTML with the right content type.
pub struct Page(pub Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            self.0.into_string(),
        )
            .into_response()
    }
}

/// A failed page: the service's error, shown as a page with its status.
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<crate::service::ServiceError> for PageError {
    fn from(e: crate::service::ServiceError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ApiError {
            status,
            code,
            message,
            ..
        } = self.0;
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::UNAUTHORIZED => "Private registry",
            s if s.is_client_error() => "Bad request",
            _ => "Something went wrong",
        };
        let body = html! {
            section.error {
                h1 { (title) }
                p.message { (message) }
                p.muted { "Error code " code { (code) } " · status " (status.as_u16()) }
                @if status == StatusCode::UNAUTHORIZED {
                    p { "Reading this registry needs a token: browse it with "
                        code { "wharf search" } " and " code { "wharf info" } "." }
                }
                p { a href="/" { "Search the registry" } }
            }
        };
        let mut response = Page(layout::page(title, None, body)).into_response();
        *response.status_mut() = status;
        response
    }
}

/// What a page handler answers.
pub type PageResult = Result<Page, PageError>;

/// A reader allowed to see pages; a private registry answers with an HTML 401 page.
pub struct Viewer;

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Reader::from_request_parts(parts, state).await?;
        Ok(Viewer)
    }
}

/// The registry's public host, for copyable commands (`--registry <host>`); from the
/// configuration, never the request's `Host`.
pub fn registry_host(state: &AppState) -> String {
    state.config.public_authority()
}

const STYLESHEET: &str = include_str!("wharf.css");
const STYLESHEET_PATH: &str = "/static/wharf.css";

/// The stylesheet's URL with its content hash: the file can be cached for good, and a
/// new build's pages ask for the new one.
pub fn stylesheet_url() -> &'static str {
    static URL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let digest = wharf_types::Digest::of(STYLESHEET.as_bytes());
        format!("{STYLESHEET_PATH}?v={}", &digest.hex()[..12])
    });
    &URL
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
}

/// `ns:name` as the path of its package page.
pub fn package_href(name: &str) -> String {
    match name.split_once(':') {
        Some((ns, n)) => format!("/packages/{ns}/{n}"),
        None => "/".into(),
    }
}

/// `ns:name` at a version, as the path of that version's page.
pub fn version_href(name: &str, version: &str) -> String {
    format!("{}/{version}", package_href(name))
}

/// A link to the search page keeping only the filters given.
pub fn search_href(q: &str, kind: &str, implements: &str, runs_on: &str) -> String {
    let query = serde_urlencoded::to_string([
        ("q", q),
        ("kind", kind),
        ("implements", implements),
        ("runs_on", runs_on),
    ])
    .unwrap_or_default();
    format!("/search?{query}")
}
