//! The JSON API under `/api/v1`: thin handlers that parse, call a service and answer,
//! one module per resource (`packages`, `blobs`, `namespaces`, `signatures`, `tokens`,
//! `admin`, `log`); this one routes and holds the OpenAPI document.

mod admin;
mod blobs;
mod log;
mod namespaces;
mod packages;
mod signatures;
mod tokens;

// The handlers are named bare in `paths(...)` below: a module path there would tag
// each operation with the module's name, and change the document.
use admin::*;
use blobs::*;
use log::*;
use namespaces::*;
use packages::*;
use signatures::*;
use tokens::*;

use axum::routing::{get, put};
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::AppState;
use crate::views;

/// The routes of `/api/v1`; those of the transparency log only when the registry
/// keeps one (`log`: without it, clients see a registry that serves no log, 404).
pub fn router(log: bool) -> Router<AppState> {
    let api = Router::new()
        .route("/api/v1/packages", get(search))
        .route("/api/v1/packages/{namespace}/{name}", get(package))
        .route(
            "/api/v1/packages/{namespace}/{name}/versions",
            get(versions),
        )
        .route(
            "/api/v1/packages/{namespace}/{name}/versions/{version}",
            get(version).put(publish),
        )
        .route(
            "/api/v1/packages/{namespace}/{name}/versions/{version}/signatures",
            get(list_signatures).post(attach_signature),
        )
        .route(
            "/api/v1/packages/{namespace}/{name}/versions/{version}/content",
            get(download),
        )
        .route(
            "/api/v1/packages/{namespace}/{name}/versions/{version}/yank",
            put(yank).delete(unyank),
        )
        .route("/api/v1/packages/{namespace}/{name}/resolve", get(resolve))
        .route("/api/v1/blobs/{digest}", get(blob))
        .route("/api/v1/implementors", get(implementors))
        .route("/api/v1/dependents", get(dependents))
        .route("/api/v1/namespaces/{namespace}", get(namespace))
        .route(
            "/api/v1/namespaces/{namespace}/owners/{owner}",
            put(add_owner).delete(remove_owner),
        )
        .route(
            "/api/v1/namespaces/{namespace}/keys",
            get(list_keys).post(add_key),
        )
        .route(
            "/api/v1/namespaces/{namespace}/keys/{keyid}",
            axum::routing::delete(revoke_key),
        )
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/admin/gc", axum::routing::post(collect_garbage))
        .route("/api/v1/admin/fsck", get(fsck))
        .route("/api/v1/openapi.json", get(openapi));
    if !log {
        return api;
    }
    api.route("/api/v1/log", get(log_info))
        .route("/api/v1/log/checkpoint", get(log_checkpoint))
        .route("/api/v1/log/key", get(log_key))
        .route("/api/v1/log/proof/inclusion", get(log_inclusion))
        .route("/api/v1/log/proof/consistency", get(log_consistency))
        .route("/api/v1/log/entries", get(log_entries))
        .route("/api/v1/log/tile/{*path}", get(log_tile))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wharf registry API",
        description = "Publish, find and resolve WIT packages and WebAssembly components."
    ),
    paths(
        search,
        package,
        versions,
        version,
        publish,
        download,
        yank,
        unyank,
        resolve,
        blob,
        implementors,
        dependents,
        namespace,
        add_owner,
        remove_owner,
        list_keys,
        add_key,
        revoke_key,
        list_signatures,
        attach_signature,
        list_tokens,
        create_token,
        revoke_token,
        collect_garbage,
        fsck,
        log_info,
        log_checkpoint,
        log_key,
        log_inclusion,
        log_consistency,
        log_entries,
        log_tile
    ),
    components(schemas(
        views::PackageSummary,
        views::SearchResults,
        views::VersionSummary,
        views::PackageDetail,
        views::Item,
        views::Dependency,
        views::VersionDetail,
        views::TargetFit,
        views::Published,
        views::Resolved,
        views::PackageUse,
        views::Incompatible,
        views::Namespace,
        views::Token,
        views::NewToken,
        views::CreateToken,
        views::Change,
        views::VersionLog,
        views::LogEntry,
        views::LogEntries,
        views::InclusionProof,
        views::ConsistencyProof,
        views::LogInfo,
        views::SignatureInfo,
        views::SignatureEnvelope,
        views::Referrer,
        views::NamespaceKey,
        views::AddKey,
        crate::service::access::Scope,
        ErrorBody
    ))
)]
/// The OpenAPI document of the JSON API, served at `/api/v1/openapi.json`.
pub struct ApiDoc;

/// The error envelope every failure answers with.
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct ErrorBody {
    /// `[{"code": "VERSION_EXISTS", "message": "...", "detail": ...}]`
    pub errors: Vec<serde_json::Value>,
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
