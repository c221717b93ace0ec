//! The JSON API under `/api/v1`: thin handlers that parse, call a service and answer.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use wharf_types::Digest;

use crate::AppState;
use crate::http::auth::{Caller, Reader};
use crate::http::blob::serve_blob;
use crate::http::body::read_body;
use crate::http::error::ApiError;
use crate::service::access::{self, Scope, Unclaimed};
use crate::service::{check_user, package_name, unknown_package};
use crate::views;

pub fn router() -> Router<AppState> {
    Router::new()
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
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/admin/gc", axum::routing::post(collect_garbage))
        .route("/api/v1/admin/fsck", get(fsck))
        .route("/api/v1/openapi.json", get(openapi))
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
        list_tokens,
        create_token,
        revoke_token,
        collect_garbage,
        fsck
    ),
    components(schemas(
        views::PackageSummary,
        views::SearchResults,
        views::VersionSummary,
        views::PackageDetail,
        views::Item,
        views::Dependency,
        views::VersionDetail,
        views::Published,
        views::Resolved,
        views::PackageUse,
        views::Incompatible,
        views::Namespace,
        views::Token,
        views::NewToken,
        views::CreateToken,
        crate::compat::Change,
        crate::service::access::Scope,
        ErrorBody
    ))
)]
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
    /// From 1.
    page: Option<i64>,
    /// 1 to 100, default 20.
    per_page: Option<i64>,
}

/// Search packages.
#[utoipa::path(get, path = "/api/v1/packages", params(SearchQuery),
    responses((status = 200, body = views::SearchResults), (status = 400, body = ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<SearchQuery>,
) -> Result<Json<views::SearchResults>, ApiError> {
    let results = state
        .search(
            &query.q,
            query.kind.as_deref(),
            query.implements.as_deref(),
            query.page.unwrap_or(1),
            query.per_page.unwrap_or(20),
        )
        .await?;
    Ok(Json(results))
}

/// A package and its versions (yanked ones left out).
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}",
    responses((status = 200, body = views::PackageDetail), (status = 404, body = ErrorBody)))]
async fn package(
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
async fn versions(
    State(state): State<AppState>,
    _: Reader,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<VersionsQuery>,
) -> Result<Json<Vec<views::VersionSummary>>, ApiError> {
    let name = package_name(&namespace, &name)?;
    state
        .db
        .package(name.namespace(), name.name())
        .await?
        .ok_or_else(|| unknown_package(&name))?;
    let versions = state.sorted_versions(&name, query.include_yanked).await?;
    Ok(Json(versions.iter().map(Into::into).collect()))
}

/// One version: WIT, imports, exports, dependencies, digest, size.
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}/versions/{version}",
    responses((status = 200, body = views::VersionDetail), (status = 404, body = ErrorBody)))]
async fn version(
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
async fn publish(
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
    let _slot = state.uploads.take()?;
    let body = read_body(body, &headers, state.config.max_upload_bytes).await?;
    let published = state
        .publish(&principal, &name, &version, body, None)
        .await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// Download a version's bytes (yanked versions too). Supports `Range` and `If-None-Match`.
#[utoipa::path(get, path = "/api/v1/packages/{namespace}/{name}/versions/{version}/content",
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>), (status = 206), (status = 304),
              (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    _: Reader,
    Path((namespace, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = package_name(&namespace, &name)?;
    let Some(row) = state
        .db
        .version(name.namespace(), name.name(), &version)
        .await?
    else {
        return Err(state.missing_version(&name, &version).await.into());
    };
    let digest: Digest = row.digest.parse().map_err(ApiError::internal)?;
    serve_blob(&state, &digest, &headers).await
}

/// Download a blob by digest: what a version, a manifest or a repository uses; a blob
/// deleted from every repository is gone here too.
#[utoipa::path(get, path = "/api/v1/blobs/{digest}",
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>), (status = 404, body = ErrorBody)))]
async fn blob(
    State(state): State<AppState>,
    _: Reader,
    Path(digest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let digest: Digest = digest.parse().map_err(|e: wharf_types::ParseError| {
        ApiError::bad_request("DIGEST_INVALID", e.to_string())
    })?;
    if !state.db.blob_served(&digest.to_string()).await? {
        return Err(ApiError::not_found(
            "BLOB_UNKNOWN",
            format!("no blob {digest}"),
        ));
    }
    serve_blob(&state, &digest, &headers).await
}

/// Yank a version: it leaves resolution and listings but stays downloadable.
#[utoipa::path(put, path = "/api/v1/packages/{namespace}/{name}/versions/{version}/yank",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn yank(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = package_name(&namespace, &name)?;
    state
        .yank(&caller.required()?, &name, &version, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unyank a version.
#[utoipa::path(delete, path = "/api/v1/packages/{namespace}/{name}/versions/{version}/yank",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unyank(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = package_name(&namespace, &name)?;
    state
        .yank(&caller.required()?, &name, &version, false)
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
async fn resolve(
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
async fn implementors(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<InterfaceQuery>,
) -> Result<Json<Vec<views::PackageUse>>, ApiError> {
    Ok(Json(state.implementors(&query.target()?).await?))
}

/// Packages that import an interface or depend on a package.
#[utoipa::path(get, path = "/api/v1/dependents", params(InterfaceQuery),
    responses((status = 200, body = [views::PackageUse]), (status = 400, body = ErrorBody)))]
async fn dependents(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<InterfaceQuery>,
) -> Result<Json<Vec<views::PackageUse>>, ApiError> {
    Ok(Json(state.dependents(&query.target()?).await?))
}

/// A namespace's owners and packages.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}",
    responses((status = 200, body = views::Namespace), (status = 404, body = ErrorBody)))]
async fn namespace(
    State(state): State<AppState>,
    _: Reader,
    Path(namespace): Path<String>,
) -> Result<Json<views::Namespace>, ApiError> {
    Ok(Json(state.namespace(&namespace).await?))
}

fn check_namespace(namespace: &str) -> Result<(), ApiError> {
    wharf_types::check_part(namespace).map_err(|reason| {
        ApiError::bad_request(
            "NAME_INVALID",
            format!("invalid namespace `{namespace}`: {reason}"),
        )
    })
}

async fn owner_change(
    state: &AppState,
    caller: Caller,
    namespace: &str,
    owner: &str,
) -> Result<(), ApiError> {
    check_namespace(namespace)?;
    check_user(owner)?;
    let principal = caller.required()?;
    state
        .authorize(&principal, Scope::Owners, namespace, Unclaimed::NotFound)
        .await?;
    Ok(())
}

/// Add an owner to a namespace.
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/owners/{owner}",
    responses((status = 201), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add_owner(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, owner)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    owner_change(&state, caller, &namespace, &owner).await?;
    match state
        .db
        .add_owner(&namespace, &owner, crate::now_ms())
        .await
    {
        Ok(()) => Ok(StatusCode::CREATED),
        Err(crate::repo::DbError::Conflict) => Err(ApiError::conflict(
            "OWNER_EXISTS",
            format!("`{owner}` already owns `{namespace}`"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Remove an owner from a namespace; the last owner stays.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/owners/{owner}",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove_owner(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, owner)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    owner_change(&state, caller, &namespace, &owner).await?;
    match state.db.remove_owner(&namespace, &owner).await? {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::not_found(
            "OWNER_UNKNOWN",
            format!("`{owner}` does not own `{namespace}`"),
        )),
        Err(()) => Err(ApiError::conflict(
            "LAST_OWNER",
            format!("`{owner}` is the last owner of `{namespace}`; add another first"),
        )),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TokensQuery {
    /// Admins only: whose tokens to list.
    owner: Option<String>,
}

/// The caller's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", params(TokensQuery),
    responses((status = 200, body = [views::Token]), (status = 401, body = ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<TokensQuery>,
) -> Result<Json<Vec<views::Token>>, ApiError> {
    let principal = caller.required()?;
    let owner = match query.owner {
        Some(owner) if !access::may_manage_tokens_of(&principal, &owner) => {
            return Err(ApiError::denied("only admins list other users' tokens"));
        }
        Some(owner) => owner,
        None => principal.user.clone(),
    };
    Ok(Json(
        state
            .db
            .tokens_of(&owner)
            .await?
            .iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Create a token; its secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = views::CreateToken,
    responses((status = 201, body = views::NewToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<views::CreateToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<views::NewToken>), ApiError> {
    let principal = caller.required()?;
    let Json(request) = body.map_err(|e| ApiError::bad_request("BODY_INVALID", e.body_text()))?;
    Ok((
        StatusCode::CREATED,
        Json(state.create_token(&principal, request).await?),
    ))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let principal = caller.required()?;
    let token =
        state.db.token(&id).await?.ok_or_else(|| {
            ApiError::not_found("TOKEN_UNKNOWN", format!("there is no token `{id}`"))
        })?;
    if !access::may_manage_tokens_of(&principal, &token.owner) {
        return Err(ApiError::denied(
            "only the token's owner or an admin may revoke it",
        ));
    }
    state.db.revoke_token(&id, crate::now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GcQuery {
    /// Keep unused blobs touched more recently than this (`30s`, `250ms`); default:
    /// the server's `--gc-grace`.
    grace: Option<String>,
    /// Expire uploads idle longer than this; default: the server's `--upload-ttl`.
    #[serde(rename = "upload-ttl")]
    upload_ttl: Option<String>,
}

fn duration_param(
    field: &str,
    value: Option<&str>,
    default: std::time::Duration,
) -> Result<std::time::Duration, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => wharf_types::units::parse_duration(text)
            .map_err(|e| ApiError::bad_request("INVALID_PARAMETER", format!("{field}: {e}"))),
    }
}

/// Admins: collect garbage now (expired uploads, unused blobs past the grace period),
/// as the server does every `--gc-interval`. Safe while other replicas publish.
#[utoipa::path(post, path = "/api/v1/admin/gc", params(GcQuery),
    responses((status = 200, description = "What was removed"), (status = 403, body = ErrorBody)))]
async fn collect_garbage(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<GcQuery>,
) -> Result<Json<crate::service::gc::GcReport>, ApiError> {
    access::require_admin(&caller.required()?, "only admins run the garbage collector")?;
    let grace = duration_param("grace", query.grace.as_deref(), state.config.gc_grace)?;
    let ttl = duration_param(
        "upload-ttl",
        query.upload_ttl.as_deref(),
        state.config.upload_ttl,
    )?;
    Ok(Json(state.collect_garbage(grace, ttl).await?))
}

/// Admins: check that every published blob is stored whole (`wharf fsck` from the
/// server's side); see `docs/scale-out.md`.
#[utoipa::path(get, path = "/api/v1/admin/fsck",
    responses((status = 200, description = "The report; `problems` is empty when all is whole"),
        (status = 403, body = ErrorBody)))]
async fn fsck(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<crate::service::fsck::FsckReport>, ApiError> {
    access::require_admin(&caller.required()?, "only admins run fsck")?;
    Ok(Json(state.fsck().await?))
}
