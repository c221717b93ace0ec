//! The JSON API under `/api/v1`: thin handlers that parse, call a service and answer.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use wharf_types::Digest;

use crate::AppState;
use crate::auth::{Caller, Reader, Scope};
use crate::body::read_body;
use crate::error::ApiError;
use crate::service::access::{self, Unclaimed};
use crate::service::{package_name, unknown_package};
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
        crate::auth::Scope,
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
        return Err(state.missing_version(&name, &version).await);
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

/// Parses a single `bytes=` range against `size`: Some(Ok((start, len))), Some(Err) when
/// unsatisfiable, None when absent or not a single byte range (then the whole is sent).
fn parse_range(value: Option<&HeaderValue>, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value?.to_str().ok()?.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 || size == 0 {
                return Some(Err(()));
            }
            let n = n.min(size);
            (size - n, n)
        }
        (start, end) => {
            let start: u64 = start.parse().ok()?;
            let end: u64 = if end.is_empty() {
                size.saturating_sub(1)
            } else {
                end.parse::<u64>().ok()?.min(size.saturating_sub(1))
            };
            if start >= size || end < start {
                return Some(Err(()));
            }
            (start, end - start + 1)
        }
    };
    Some(Ok(range))
}

pub(crate) async fn serve_blob(
    state: &AppState,
    digest: &Digest,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::not_found("BLOB_UNKNOWN", format!("no blob {digest}"));
    let etag = format!("\"{digest}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    // Small blobs come whole from the memory cache.
    let cached = match state.blobs.size(digest).await?.ok_or_else(unknown)? {
        size if size as usize <= crate::CACHED_BLOB_MAX => {
            Some(state.blob_bytes(digest).await?.ok_or_else(unknown)?)
        }
        _ => None,
    };
    let size = match &cached {
        Some(bytes) => bytes.len() as u64,
        None => state.blobs.size(digest).await?.ok_or_else(unknown)?,
    };
    let (status, offset, len) = match parse_range(headers.get(header::RANGE), size) {
        None => (StatusCode::OK, 0, size),
        Some(Ok((start, len))) => (StatusCode::PARTIAL_CONTENT, start, len),
        Some(Err(())) => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_INVALID",
                format!("the blob has {size} bytes"),
            )
            .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).unwrap(),
            );
            return Ok(response);
        }
    };
    // Large ones stream from storage as the client reads: a stalled client holds a
    // chunk, never the blob.
    let body = match cached {
        Some(bytes) => Body::from(bytes.slice(offset as usize..(offset + len) as usize)),
        None => Body::from_stream(
            state
                .blobs
                .stream(digest, offset, Some(len))
                .await?
                .ok_or_else(unknown)?,
        ),
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/wasm"),
    );
    h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        "docker-content-digest",
        HeaderValue::from_str(&digest.to_string()).unwrap(),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {offset}-{}/{size}", offset + len - 1);
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&range).unwrap(),
        );
    }
    Ok(response)
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

/// Owner and user names: what token owners are called.
pub fn check_user(user: &str) -> Result<(), ApiError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && user.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "USER_INVALID",
            format!("`{user}` is not a user name: lowercase letters, digits, `-`, `_`, `.`"),
        ))
    }
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
        .await
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
) -> Result<Json<crate::gc::GcReport>, ApiError> {
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
) -> Result<Json<crate::fsck::FsckReport>, ApiError> {
    access::require_admin(&caller.required()?, "only admins run fsck")?;
    Ok(Json(state.fsck().await?))
}
