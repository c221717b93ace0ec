//! Packages and versions: search, detail, publish, download, yank, resolve, and who
//! implements or depends on an interface.
//! Routes only: the rules are `service::{publish, packages, browse}`; a publish is
//! authorized before a byte of its body is read.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ErrorBody;
use crate::AppState;
use crate::http::auth::{Caller, Reader};
use crate::http::blob::serve_blob;
use crate::http::body::{Pace, read_body};
use crate::http::error::ApiError;
use crate::service::package_name;
use crate::views;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Text to find in names and descriptions; empty for all.
    #[serde(default)]
    q: String,
    /// `wit` or `component`.
    kind: Option<String>,
    /// Only components exporting this interface: `wharf:compression/codec@1`.
    implements: Option<String>,
    /// Only components whose latest version runs on this target: `proxy`, `command`,
    /// `workers` or `jco` (another name: 400 `TARGET_UNKNOWN`).
    runs_on: Option<String>,
    /// From 1.
    page: Option<i64>,
    /// 1 to 100, default 20.
    per_page: Option<i64>,
}

/// Search packages.
#[utoipa::path(get, path = "/api/v1/packages", params(SearchQuery),
    responses((status = 200, body = views::SearchResults), (status = 400, body = ErrorBody)))]
pub(super) async fn search(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<SearchQuery>,
) -> Result<Json<views::SearchResults>, ApiError> {
    let results = state
        .search(
            &query.q,
            query.kind.as_deref(),
            query.implements.as_deref(),
            query.runs_on.as_deref(),
            query.page.unwrap_or(1),
            query.per_page.unwrap_or(20),
        )
        .await?;
    Ok(Json(results))
}

/// A package and its versions (yanked ones left out).
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}",
    responses((status = 200, body = views::PackageDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn package(
    State(state): State<AppState>,
    _: Reader,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<views::PackageDetail>, ApiError> {
    let name = package_name(&namespace, &name)?;
    Ok(Json(state.package_detail(&name, false).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionsQuery {
    /// Include yanked versions (default false).
    #[serde(default)]
    include_yanked: bool,
}

/// A package's versions, highest first.
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}/versions", params(VersionsQuery),
    responses((status = 200, body = [views::VersionSummary]), (status = 404, body = ErrorBody)))]
pub(super) async fn versions(
    State(state): State<AppState>,
    _: Reader,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<VersionsQuery>,
) -> Result<Json<Vec<views::VersionSummary>>, ApiError> {
    let name = package_name(&namespace, &name)?;
    Ok(Json(
        state.package_versions(&name, query.include_yanked).await?,
    ))
}

/// One version: WIT, imports, exports, dependencies, digest, size.
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}/versions/{version}",
    responses((status = 200, body = views::VersionDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn version(
    State(state): State<AppState>,
    _: Reader,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<Json<views::VersionDetail>, ApiError> {
    let name = package_name(&namespace, &name)?;
    Ok(Json(state.version_detail(&name, &version).await?))
}

/// Publish a version: the body is the component or binary WIT package.
#[utoipa::path(put, path = "/api/v1/packages/{namespace}/{name}/versions/{version}",
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = views::Published), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, description = "the WIT breaks semver against the previous version", body = ErrorBody)))]
pub(super) async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<views::Published>), ApiError> {
    let name = package_name(&namespace, &name)?;
    let principal = caller.required()?;
    // Who may publish is settled before a byte of the body is read.
    state.may_publish(&principal, &name, &version).await?;
    let _slot = state.uploads.take(&principal)?;
    let body = read_body(
        body,
        &headers,
        state.config.max_upload_bytes,
        Pace::of(&state.config),
    )
    .await?;
    let published = state
        .publish(&principal, &name, &version, body, None)
        .await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// Download a version's bytes (yanked versions too). Supports `Range` and `If-None-Match`.
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}/versions/{version}/content",
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>), (status = 206), (status = 304),
              (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub(super) async fn download(
    State(state): State<AppState>,
    _: Reader,
    Path((namespace, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = package_name(&namespace, &name)?;
    let digest = state.version_digest(&name, &version).await?;
    serve_blob(&state, &digest, &headers).await
}

/// Yank a version: it leaves resolution and listings but stays downloadable.
#[utoipa::path(put, path = "/api/v1/packages/{namespace}/{name}/versions/{version}/yank",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn yank(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    set_yanked(&state, caller, &namespace, &name, &version, true).await
}

/// Unyank a version.
#[utoipa::path(delete, path = "/api/v1/packages/{namespace}/{name}/versions/{version}/yank",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn unyank(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    set_yanked(&state, caller, &namespace, &name, &version, false).await
}

/// What [`yank`] and [`unyank`] share: the caller, the name, the service call.
async fn set_yanked(
    state: &AppState,
    caller: Caller,
    namespace: &str,
    name: &str,
    version: &str,
    yanked: bool,
) -> Result<StatusCode, ApiError> {
    let name = package_name(namespace, name)?;
    state
        .yank(&caller.required()?, &name, version, yanked)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResolveQuery {
    /// A semver requirement, e.g. `^1.2`, `=1.0.0`, `*`.
    requirement: String,
}

/// Resolve a requirement to the highest non-yanked matching version.
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}/resolve", params(ResolveQuery),
    responses((status = 200, body = views::Resolved), (status = 400, body = ErrorBody),
              (status = 404, description = "nothing matches; the detail lists the versions there are", body = ErrorBody)))]
pub(super) async fn resolve(
    State(state): State<AppState>,
    _: Reader,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<ResolveQuery>,
) -> Result<Json<views::Resolved>, ApiError> {
    let name = package_name(&namespace, &name)?;
    Ok(Json(state.resolve(&name, &query.requirement).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InterfaceQuery {
    /// `wharf:compression/codec@1`, or a package `wharf:compression`.
    interface: Option<String>,
    /// For dependents: a package, `wharf:compression`.
    package: Option<String>,
}

impl InterfaceQuery {
    fn target(self) -> Result<String, ApiError> {
        self.interface.or(self.package).ok_or_else(|| {
            ApiError::bad_request(
                "INTERFACE_INVALID",
                "give `interface=ns:pkg/iface[@range]` or `package=ns:pkg`",
            )
        })
    }
}

/// Components that export an interface at a compatible version: what can plug in here?
#[utoipa::path(get, path = "/api/v1/implementors", params(InterfaceQuery),
    responses((status = 200, body = [views::PackageUse]), (status = 400, body = ErrorBody)))]
pub(super) async fn implementors(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<InterfaceQuery>,
) -> Result<Json<Vec<views::PackageUse>>, ApiError> {
    Ok(Json(state.implementors(&query.target()?).await?))
}

/// Packages that import an interface or depend on a package.
#[utoipa::path(get, path = "/api/v1/dependents", params(InterfaceQuery),
    responses((status = 200, body = [views::PackageUse]), (status = 400, body = ErrorBody)))]
pub(super) async fn dependents(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<InterfaceQuery>,
) -> Result<Json<Vec<views::PackageUse>>, ApiError> {
    Ok(Json(state.dependents(&query.target()?).await?))
}
