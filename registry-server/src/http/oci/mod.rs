//! The OCI Distribution API (v1.1) under `/v2/`, and the token endpoint real clients
//! use. One store, two views: a manifest in the CNCF "Wasm OCI Artifact" layout (config
//! `application/vnd.wasm.config.v0+json`, one `application/wasm` layer) pushed to
//! `namespace/name:version` is published as a package version through the same rules as
//! the JSON API; every version published through the JSON API is served here as such an
//! artifact. Other OCI content is stored and served, but is not a package.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use wharf_types::Digest;

use crate::AppState;
use crate::artifact::{OCI_INDEX, package_of, parse_manifest, valid_repository, valid_tag};
use crate::http::auth::{Caller, secret_from_header};
use crate::http::blob::serve_blob;
use crate::http::body::{incoming, read_body};
use crate::http::error::ApiError;
use crate::repo::{ManifestRow, NewManifest};
use crate::service::ServiceError;
use crate::service::access::{Principal, Scope, Unclaimed};
use crate::service::tokens::{Credential, principal_for, sign_bearer};

/// Manifests larger than this are refused (the spec asks for at least 4 MiB).
const MAX_MANIFEST: u64 = 8 << 20;
/// How long a bearer token from `/v2/token` lives.
const TOKEN_SECONDS: i64 = 300;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/", get(base))
        .route("/v2", get(base))
        .route("/v2/token", get(token))
        .route("/v2/{*rest}", any(dispatch))
        .route("/.well-known/wasm-pkg/registry.json", get(well_known))
}

fn oci(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

/// The `WWW-Authenticate` challenge that sends clients to the token endpoint at the
/// configured public URL; never at the request's `Host`, which would let whoever forges
/// it collect the credentials clients send to the realm.
fn challenge(config: &crate::Config, scope: Option<&str>) -> HeaderValue {
    let mut value = format!(
        "Bearer realm=\"{}/v2/token\",service=\"wharf\"",
        config.public_url()
    );
    if let Some(scope) = scope {
        value.push_str(&format!(",scope=\"{scope}\""));
    }
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer realm=\"wharf\""))
}

fn unauthorized(config: &crate::Config, scope: Option<&str>, message: &str) -> Response {
    let mut response = oci(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge(config, scope));
    response
}

/// `GET /v2/`: 200 with credentials, else the challenge. Anonymous callers are
/// challenged even when reads are public: OCI clients probe `/v2/` once to learn how to
/// authenticate and would otherwise never send their credentials when pushing; for
/// pulls the token endpoint hands anonymous callers a read-only token, which is valid
/// here (200) though it stands for nobody.
async fn base(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
) -> Response {
    let credentials = headers.contains_key(header::AUTHORIZATION);
    match caller {
        Ok(Caller(Some(_))) => StatusCode::OK.into_response(),
        // Sent, not refused, yet nobody: an anonymous bearer.
        Ok(Caller(None)) if credentials => StatusCode::OK.into_response(),
        _ => unauthorized(
            &state.config,
            None,
            "send credentials, or get an anonymous token from the realm",
        ),
    }
    .map_headers()
}

trait WithApiVersion {
    fn map_headers(self) -> Response;
}

impl WithApiVersion for Response {
    fn map_headers(mut self) -> Response {
        self.headers_mut().insert(
            "docker-distribution-api-version",
            HeaderValue::from_static("registry/2.0"),
        );
        self
    }
}

/// `GET /.well-known/wasm-pkg/registry.json`: tells `wkg` to use OCI here, at the
/// configured public URL's host (never the request's `Host`).
async fn well_known(State(state): State<AppState>) -> axum::Json<Value> {
    let mut oci = json!({ "registry": state.config.public_authority() });
    if let Some(prefix) = &state.config.namespace_prefix {
        oci["namespacePrefix"] = json!(prefix);
    }
    axum::Json(json!({ "preferredProtocol": "oci", "oci": oci }))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    #[serde(default)]
    scope: Option<String>,
}

/// `GET /v2/token`: Basic `user:<api token>` (or an API token as Bearer) for a
/// short-lived bearer token; anonymous callers get a read-only one when reads are public.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(secret_from_header);
    let principal = match secret {
        Some(secret) => match principal_for(&state, &secret).await {
            Ok(Some(Credential::User(p))) => Some(p),
            Ok(Some(Credential::Anonymous)) if state.may_read(None) => None,
            Ok(Some(Credential::Anonymous)) => {
                return unauthorized(
                    &state.config,
                    query.scope.as_deref(),
                    "this registry is private: send Basic credentials with an API token",
                );
            }
            Ok(None) => {
                return unauthorized(
                    &state.config,
                    query.scope.as_deref(),
                    "the token is unknown, expired or revoked",
                );
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
        None if state.may_read(None) => None,
        None => {
            return unauthorized(
                &state.config,
                query.scope.as_deref(),
                "send Basic credentials: any user, an API token as password",
            );
        }
    };
    let expires = crate::now_ms() / 1000 + TOKEN_SECONDS;
    let bearer = sign_bearer(&state.bearer_keys, principal.as_ref(), expires);
    axum::Json(json!({"token": bearer, "access_token": bearer, "expires_in": TOKEN_SECONDS}))
        .into_response()
}

/// What a `/v2/<name>/...` path asks for.
enum Target {
    Catalog,
    Tags(String),
    Manifest(String, String),
    Uploads(String, Option<String>),
    Blob(String, String),
    Referrers(String, String),
}

fn parse_target(rest: &str) -> Option<Target> {
    if rest == "_catalog" {
        return Some(Target::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Target::Tags(name.to_owned()));
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        return Some(Target::Manifest(name.to_owned(), reference.to_owned()));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Target::Uploads(name.to_owned(), None));
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        return Some(Target::Uploads(name.to_owned(), Some(id.to_owned())));
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        return Some(Target::Blob(name.to_owned(), digest.to_owned()));
    }
    if let Some((name, digest)) = rest.rsplit_once("/referrers/") {
        return Some(Target::Referrers(name.to_owned(), digest.to_owned()));
    }
    None
}

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    text.parse().map_err(|e: wharf_types::ParseError| {
        oci(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string())
    })
}

async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let rest = parts.uri.path().trim_start_matches("/v2/").to_owned();
    let query: BTreeMap<String, String> = parts
        .uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let method = parts.method.clone();
    let headers = parts.headers.clone();
    let mut parts = parts;
    let caller = match <Caller as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await
    {
        Ok(Caller(p)) => p,
        Err(_) => {
            return unauthorized(
                &state.config,
                None,
                "the credentials are unknown, expired or revoked",
            );
        }
    };
    let Some(target) = parse_target(&rest) else {
        return oci(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            format!("no OCI endpoint at /v2/{rest}"),
        )
        .into_response();
    };
    let config = state.config.clone();
    let ctx = Ctx {
        state,
        headers,
        query,
        caller,
    };
    let result = match (&method, target) {
        (&Method::GET, Target::Catalog) => ctx.catalog().await,
        (_, Target::Catalog) => Err(method_not_allowed()),
        (m, Target::Tags(name)) if *m == Method::GET => ctx.tags(&name).await,
        (m, Target::Manifest(name, reference)) if *m == Method::GET || *m == Method::HEAD => {
            ctx.get_manifest(&name, &reference, *m == Method::HEAD)
                .await
        }
        (&Method::PUT, Target::Manifest(name, reference)) => {
            ctx.put_manifest(&name, &reference, body).await
        }
        (&Method::DELETE, Target::Manifest(name, reference)) => {
            ctx.delete_manifest(&name, &reference).await
        }
        (m, Target::Blob(name, digest)) if *m == Method::GET || *m == Method::HEAD => {
            ctx.get_blob(&name, &digest, *m == Method::HEAD).await
        }
        (&Method::DELETE, Target::Blob(name, digest)) => ctx.delete_blob(&name, &digest).await,
        (&Method::POST, Target::Uploads(name, None)) => ctx.start_upload(&name, body).await,
        (&Method::PATCH, Target::Uploads(name, Some(id))) => {
            ctx.patch_upload(&name, &id, body).await
        }
        (&Method::PUT, Target::Uploads(name, Some(id))) => {
            ctx.finish_upload(&name, &id, body).await
        }
        (&Method::GET, Target::Uploads(name, Some(id))) => ctx.upload_status(&name, &id).await,
        (&Method::DELETE, Target::Uploads(name, Some(id))) => ctx.cancel_upload(&name, &id).await,
        (&Method::GET, Target::Referrers(name, digest)) => ctx.referrers(&name, &digest).await,
        _ => Err(method_not_allowed()),
    };
    match result {
        Ok(response) => response,
        Err(Denied::Challenge(scope, message)) => unauthorized(&config, Some(&scope), &message),
        Err(Denied::Error(e)) => e.into_response(),
    }
    .map_headers()
}

fn method_not_allowed() -> Denied {
    Denied::Error(oci(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        "this method is not supported here",
    ))
}

/// Why a request failed: an error, or missing credentials (answered with a challenge).
enum Denied {
    Challenge(String, String),
    Error(ApiError),
}

impl From<ApiError> for Denied {
    fn from(e: ApiError) -> Self {
        Denied::Error(e)
    }
}

impl From<ServiceError> for Denied {
    fn from(e: ServiceError) -> Self {
        Denied::Error(e.into())
    }
}

impl From<crate::repo::DbError> for Denied {
    fn from(e: crate::repo::DbError) -> Self {
        Denied::Error(e.into())
    }
}

impl From<crate::storage::StorageError> for Denied {
    fn from(e: crate::storage::StorageError) -> Self {
        Denied::Error(e.into())
    }
}

type Answer = Result<Response, Denied>;

struct Ctx {
    state: AppState,
    headers: HeaderMap,
    query: BTreeMap<String, String>,
    caller: Option<Principal>,
}

impl Ctx {
    fn name(&self, name: &str) -> Result<(), Denied> {
        if valid_repository(name) {
            Ok(())
        } else {
            Err(oci(
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                format!("`{name}` is not a valid repository name"),
            )
            .into())
        }
    }

    fn pull(&self, name: &str) -> Result<(), Denied> {
        self.name(name)?;
        if !self.state.may_read(self.caller.as_ref()) {
            return Err(Denied::Challenge(
                format!("repository:{name}:pull"),
                "this registry is private".into(),
            ));
        }
        Ok(())
    }

    async fn push(&self, name: &str) -> Result<Principal, Denied> {
        self.name(name)?;
        let Some(principal) = self.caller.clone() else {
            return Err(Denied::Challenge(
                format!("repository:{name}:pull,push"),
                "pushing needs credentials".into(),
            ));
        };
        // Every repository belongs to the namespace of its first segment, and every
        // namespace pushed to has an owner: the first pusher claims it, as a publish
        // does.
        let namespace = name.split('/').next().unwrap_or(name);
        self.state
            .authorize(&principal, Scope::Publish, namespace, Unclaimed::ClaimNow)
            .await?;
        Ok(principal)
    }

    fn page(&self) -> Result<(Option<usize>, Option<String>), Denied> {
        let n = match self.query.get("n") {
            Some(n) => Some(n.parse::<usize>().map_err(|_| {
                oci(
                    StatusCode::BAD_REQUEST,
                    "PAGINATION_NUMBER_INVALID",
                    "`n` is not a number",
                )
            })?),
            None => None,
        };
        Ok((n, self.query.get("last").cloned()))
    }

    /// Sorts, applies `last` and `n`, and says whether there is more.
    fn paginate(
        mut items: Vec<String>,
        n: Option<usize>,
        last: Option<&str>,
    ) -> (Vec<String>, bool) {
        items.sort();
        items.dedup();
        let start = last.map_or(0, |last| items.partition_point(|i| i.as_str() <= last));
        let rest = items.split_off(start.min(items.len()));
        match n {
            Some(n) if rest.len() > n => (rest.into_iter().take(n).collect(), true),
            _ => (rest, false),
        }
    }

    async fn catalog(&self) -> Answer {
        if !self.state.may_read(self.caller.as_ref()) {
            return Err(Denied::Challenge(
                "registry:catalog:*".into(),
                "this registry is private".into(),
            ));
        }
        let (n, last) = self.page()?;
        let (repositories, more) =
            Self::paginate(self.state.db.repositories().await?, n, last.as_deref());
        let mut response = axum::Json(json!({ "repositories": repositories })).into_response();
        if more {
            let link = format!(
                "</v2/_catalog?n={}&last={}>; rel=\"next\"",
                n.unwrap_or(0),
                repositories.last().unwrap()
            );
            response
                .headers_mut()
                .insert(header::LINK, HeaderValue::from_str(&link).unwrap());
        }
        Ok(response)
    }

    async fn tags(&self, name: &str) -> Answer {
        self.pull(name)?;
        if !self.state.db.repository_exists(name).await? {
            return Err(oci(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("there is no repository `{name}`"),
            )
            .into());
        }
        let (n, last) = self.page()?;
        let (tags, more) = Self::paginate(self.state.db.tags(name).await?, n, last.as_deref());
        let mut response = axum::Json(json!({ "name": name, "tags": tags })).into_response();
        if more {
            let link = format!(
                "</v2/{name}/tags/list?n={}&last={}>; rel=\"next\"",
                n.unwrap_or(0),
                tags.last().unwrap()
            );
            response
                .headers_mut()
                .insert(header::LINK, HeaderValue::from_str(&link).unwrap());
        }
        Ok(response)
    }

    /// The manifest a tag or digest names in a repository.
    /// The manifest `reference` (a digest or a tag) names in `name`: 404
    /// MANIFEST_UNKNOWN when there is none. A reference that cannot name one (a
    /// malformed digest, an invalid tag) is 400 when `reading` is false; reads get
    /// 404 MANIFEST_UNKNOWN for it too, as distribution answers a GET or HEAD: what
    /// names nothing here is unknown, whatever its shape.
    async fn find_manifest(
        &self,
        name: &str,
        reference: &str,
        reading: bool,
    ) -> Result<ManifestRow, Denied> {
        let found = if reference.contains(':') {
            match parse_digest(reference) {
                Ok(digest) => self.state.db.manifest(name, &digest.to_string()).await?,
                Err(_) if reading => None,
                Err(e) => return Err(e.into()),
            }
        } else if valid_tag(reference) {
            self.state.db.manifest_by_tag(name, reference).await?
        } else if reading {
            None
        } else {
            return Err(oci(
                StatusCode::BAD_REQUEST,
                "TAG_INVALID",
                format!("`{reference}` is not a valid tag"),
            )
            .into());
        };
        Ok(found.ok_or_else(|| {
            oci(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!("{name} has no manifest `{reference}`"),
            )
        })?)
    }

    async fn get_manifest(&self, name: &str, reference: &str, head: bool) -> Answer {
        self.pull(name)?;
        let row = self.find_manifest(name, reference, true).await?;
        let digest = parse_digest(&row.digest)?;
        let mut response = if head {
            let mut r = StatusCode::OK.into_response();
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(row.size as u64));
            r
        } else {
            let bytes =
                self.state.blob_bytes(&digest).await?.ok_or_else(|| {
                    ApiError::internal(format!("manifest blob {digest} is missing"))
                })?;
            (StatusCode::OK, bytes).into_response()
        };
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&row.media_type).map_err(ApiError::internal)?,
        );
        h.insert(
            "docker-content-digest",
            HeaderValue::from_str(&row.digest).unwrap(),
        );
        h.insert(
            header::ETAG,
            HeaderValue::from_str(&format!("\"{}\"", row.digest)).unwrap(),
        );
        Ok(response)
    }

    async fn put_manifest(&self, name: &str, reference: &str, body: Body) -> Answer {
        let principal = self.push(name).await?;
        // Held through the publish, which reads the Wasm layer whole.
        let _slot = self.state.uploads.take()?;
        let bytes = read_body(body, &self.headers, MAX_MANIFEST)
            .await
            .map_err(size_error)?;
        let (tag, digest) = if reference.contains(':') {
            let expected = parse_digest(reference)?;
            if !expected.matches(&bytes) {
                return Err(oci(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    format!("the manifest's digest is not {expected}"),
                )
                .into());
            }
            (None, expected)
        } else if valid_tag(reference) {
            (Some(reference.to_owned()), Digest::of(&bytes))
        } else {
            return Err(oci(
                StatusCode::BAD_REQUEST,
                "TAG_INVALID",
                format!("`{reference}` is not a valid tag"),
            )
            .into());
        };
        let parsed = parse_manifest(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            &bytes,
        )
        .map_err(ServiceError::from)?;

        // Everything a manifest references must already be here.
        for blob in &parsed.blobs {
            let d = parse_digest(blob).map_err(|_| {
                ApiError::bad_request("MANIFEST_INVALID", format!("`{blob}` is not a digest"))
            })?;
            // The lease comes before the check: see the collector's argument in gc.rs.
            self.state.lease(&d, 0).await?;
            if !self.state.db.blob_linked(name, &d.to_string()).await?
                || self.state.blobs.size(&d).await?.is_none()
            {
                return Err(oci(
                    StatusCode::BAD_REQUEST,
                    "MANIFEST_BLOB_UNKNOWN",
                    format!("blob {d} is not in {name}"),
                )
                .into());
            }
        }
        for child in &parsed.manifests {
            if let Ok(d) = child.parse::<Digest>() {
                self.state.lease(&d, 0).await?;
            }
            if self.state.db.manifest(name, child).await?.is_none() {
                return Err(oci(
                    StatusCode::BAD_REQUEST,
                    "MANIFEST_BLOB_UNKNOWN",
                    format!("manifest {child} is not in {name}"),
                )
                .into());
            }
        }

        let row = ManifestRow {
            repository: name.to_owned(),
            digest: digest.to_string(),
            media_type: parsed.media_type.clone(),
            artifact_type: parsed.artifact_type.clone(),
            subject: parsed.subject.clone(),
            annotations: parsed.annotations.clone(),
            size: bytes.len() as i64,
        };
        let mut references = parsed.blobs.clone();
        references.extend(parsed.manifests.iter().cloned());
        let manifest = NewManifest {
            row,
            references,
            links: parsed.blobs.clone(),
            tag: tag.clone(),
        };

        match (parsed.wasm_layer.as_ref(), package_of(name), tag.as_deref()) {
            (Some(layer), Some(package), Some(version)) => {
                // A Wasm artifact pushed under `namespace/name:version` is a publish.
                if let Some(existing) = self
                    .state
                    .db
                    .version(package.namespace(), package.name(), version)
                    .await?
                    && existing.manifest_digest.as_deref() == Some(&manifest.row.digest)
                {
                    return Ok(created_manifest(name, &digest, parsed.subject.as_deref()));
                }
                let layer = parse_digest(layer)?;
                let wasm = self
                    .state
                    .blobs
                    .read(&layer, 0, None)
                    .await?
                    .ok_or_else(|| ApiError::internal("a linked layer is missing"))?;
                self.state.store_blob(bytes.clone(), Some(&digest)).await?;
                self.state
                    .publish(&principal, &package, version, wasm, Some(manifest))
                    .await
                    .map_err(|e| as_oci_error(e.into()))?;
            }
            _ => {
                if let Some(tag) = &tag
                    && let Some(current) = self.state.db.tag(name, tag).await?
                    && current != manifest.row.digest
                    && self
                        .state
                        .db
                        .version_of_manifest(name, &current)
                        .await?
                        .is_some()
                {
                    return Err(oci(
                        StatusCode::CONFLICT,
                        "DENIED",
                        format!(
                            "{name}:{tag} is a published package version; versions are immutable"
                        ),
                    )
                    .into());
                }
                self.state.store_blob(bytes.clone(), Some(&digest)).await?;
                self.state
                    .db
                    .put_manifest(&manifest, crate::now_ms())
                    .await?;
            }
        }
        Ok(created_manifest(name, &digest, parsed.subject.as_deref()))
    }

    async fn delete_manifest(&self, name: &str, reference: &str) -> Answer {
        self.push(name).await?;
        let row = self.find_manifest(name, reference, false).await?;
        if self
            .state
            .db
            .version_of_manifest(name, &row.digest)
            .await?
            .is_some()
        {
            return Err(oci(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "package versions are immutable; yank them instead",
            )
            .into());
        }
        if reference.contains(':') {
            self.state.db.delete_manifest(name, &row.digest).await?;
        } else {
            self.state.db.delete_tag(name, reference).await?;
        }
        Ok(StatusCode::ACCEPTED.into_response())
    }

    async fn get_blob(&self, name: &str, digest: &str, head: bool) -> Answer {
        self.pull(name)?;
        let digest = parse_digest(digest)?;
        let unknown = || {
            oci(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                format!("{name} has no blob {digest}"),
            )
        };
        if !self.state.db.blob_linked(name, &digest.to_string()).await? {
            return Err(unknown().into());
        }
        if head {
            let size = self.state.blobs.size(&digest).await?.ok_or_else(unknown)?;
            let mut r = StatusCode::OK.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(
                "docker-content-digest",
                HeaderValue::from_str(&digest.to_string()).unwrap(),
            );
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return Ok(r);
        }
        let mut response = serve_blob(&self.state, &digest, &self.headers).await?;
        if response.status().is_success() {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        Ok(response)
    }

    async fn delete_blob(&self, name: &str, digest: &str) -> Answer {
        self.push(name).await?;
        let digest = parse_digest(digest)?;
        if !self.state.db.unlink_blob(name, &digest.to_string()).await? {
            return Err(oci(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                format!("{name} has no blob {digest}"),
            )
            .into());
        }
        Ok(StatusCode::ACCEPTED.into_response())
    }

    async fn start_upload(&self, name: &str, body: Body) -> Answer {
        self.push(name).await?;
        if let (Some(mount), Some(from)) = (self.query.get("mount"), self.query.get("from")) {
            let digest = parse_digest(mount)?;
            self.state.lease(&digest, 0).await?;
            if valid_repository(from)
                && self.state.db.blob_linked(from, &digest.to_string()).await?
                && self.state.blobs.size(&digest).await?.is_some()
                && self.state.may_read(self.caller.as_ref())
            {
                self.state
                    .db
                    .link_blob(name, &digest.to_string(), crate::now_ms())
                    .await?;
                return Ok(created_blob(name, &digest));
            }
        }
        if let Some(digest) = self.query.get("digest") {
            let digest = parse_digest(digest)?;
            let _slot = self.state.uploads.take()?;
            let bytes = incoming(body, &self.headers, self.state.config.max_upload_bytes)
                .map_err(size_error)?;
            self.state
                .store_stream(bytes, &digest)
                .await
                .map_err(|e| size_error(e.into()))?;
            self.state
                .db
                .link_blob(name, &digest.to_string(), crate::now_ms())
                .await?;
            return Ok(created_blob(name, &digest));
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.state.blobs.upload_start(&id).await?;
        self.state
            .db
            .create_upload(&id, name, crate::now_ms())
            .await?;
        Ok(upload_answer(StatusCode::ACCEPTED, name, &id, 0))
    }

    /// Checks that the upload exists and belongs to this repository.
    async fn upload(&self, name: &str, id: &str) -> Result<u64, Denied> {
        let unknown = || {
            oci(
                StatusCode::NOT_FOUND,
                "BLOB_UPLOAD_UNKNOWN",
                format!("there is no upload `{id}` in {name}"),
            )
        };
        match self.state.db.upload(id).await? {
            Some(repository) if repository == name => {}
            _ => return Err(unknown().into()),
        }
        Ok(self
            .state
            .blobs
            .upload_size(id)
            .await?
            .ok_or_else(unknown)?)
    }

    async fn append(&self, id: &str, body: Body, size: u64) -> Result<u64, Denied> {
        // In-order chunks only: a Content-Range must start where the upload ends.
        if let Some(range) = self
            .headers
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            && content_range_start(range) != Some(size)
        {
            let mut e = oci(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                format!("the upload has {size} bytes; a chunk must start there, not at `{range}`"),
            );
            e.detail = json!({ "size": size });
            return Err(e.into());
        }
        let bytes = incoming(
            body,
            &self.headers,
            self.state.config.max_upload_bytes.saturating_sub(size),
        )
        .map_err(size_error)?;
        let size = self
            .state
            .blobs
            .upload_append(id, bytes)
            .await
            .map_err(|e| size_error(e.into()))?
            .ok_or_else(|| {
                oci(
                    StatusCode::NOT_FOUND,
                    "BLOB_UPLOAD_UNKNOWN",
                    "the upload is gone",
                )
            })?;
        self.state.db.touch_upload(id, crate::now_ms()).await?;
        Ok(size)
    }

    async fn patch_upload(&self, name: &str, id: &str, body: Body) -> Answer {
        self.push(name).await?;
        let size = self.upload(name, id).await?;
        let _slot = self.state.uploads.take()?;
        match self.append(id, body, size).await {
            Ok(size) => Ok(upload_answer(StatusCode::ACCEPTED, name, id, size)),
            Err(Denied::Error(e)) if e.status == StatusCode::RANGE_NOT_SATISFIABLE => {
                let mut response = e.into_response();
                response
                    .headers_mut()
                    .insert(header::RANGE, range_header(size));
                response.headers_mut().insert(
                    header::LOCATION,
                    HeaderValue::from_str(&format!("/v2/{name}/blobs/uploads/{id}")).unwrap(),
                );
                Ok(response)
            }
            Err(e) => Err(e),
        }
    }

    async fn finish_upload(&self, name: &str, id: &str, body: Body) -> Answer {
        self.push(name).await?;
        let size = self.upload(name, id).await?;
        // Held through the last chunk and the hashing of the whole.
        let _slot = self.state.uploads.take()?;
        let digest = parse_digest(self.query.get("digest").ok_or_else(|| {
            oci(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "finishing an upload needs `?digest=`",
            )
        })?)?;
        self.append(id, body, size).await?;
        self.state.lease(&digest, 0).await?;
        let result = self.state.blobs.upload_finish(id, &digest).await;
        self.state.db.delete_upload(id).await?;
        result?.ok_or_else(|| {
            oci(
                StatusCode::NOT_FOUND,
                "BLOB_UPLOAD_UNKNOWN",
                "the upload is gone",
            )
        })?;
        self.state
            .db
            .link_blob(name, &digest.to_string(), crate::now_ms())
            .await?;
        Ok(created_blob(name, &digest))
    }

    async fn upload_status(&self, name: &str, id: &str) -> Answer {
        self.push(name).await?;
        let size = self.upload(name, id).await?;
        Ok(upload_answer(StatusCode::NO_CONTENT, name, id, size))
    }

    async fn cancel_upload(&self, name: &str, id: &str) -> Answer {
        self.push(name).await?;
        self.upload(name, id).await?;
        self.state.blobs.upload_cancel(id).await?;
        self.state.db.delete_upload(id).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    async fn referrers(&self, name: &str, digest: &str) -> Answer {
        self.pull(name)?;
        let digest = parse_digest(digest)?;
        let filter = self.query.get("artifactType");
        let manifests: Vec<Value> = self
            .state
            .db
            .referrers(name, &digest.to_string())
            .await?
            .into_iter()
            .filter(|m| filter.is_none_or(|f| m.artifact_type.as_deref() == Some(f.as_str())))
            .map(|m| {
                let mut descriptor =
                    json!({"mediaType": m.media_type, "digest": m.digest, "size": m.size});
                if let Some(t) = m.artifact_type {
                    descriptor["artifactType"] = json!(t);
                }
                if let Some(a) = m
                    .annotations
                    .and_then(|a| serde_json::from_str::<Value>(&a).ok())
                {
                    descriptor["annotations"] = a;
                }
                descriptor
            })
            .collect();
        let body = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let mut response = (StatusCode::OK, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
        if filter.is_some() {
            response.headers_mut().insert(
                "oci-filters-applied",
                HeaderValue::from_static("artifactType"),
            );
        }
        Ok(response)
    }
}

fn size_error(e: ApiError) -> ApiError {
    if e.status == StatusCode::PAYLOAD_TOO_LARGE {
        oci(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", e.message)
    } else {
        e
    }
}

/// The OCI envelope's codes for a refused publish: what was wrong with the package is
/// wrong with the manifest.
fn as_oci_error(mut e: ApiError) -> ApiError {
    e.code = match e.code {
        "PACKAGE_INVALID"
        | "NAME_MISMATCH"
        | "VERSION_MISMATCH"
        | "VERSION_INVALID"
        | "SEMVER_INCOMPATIBLE"
        | "KIND_MISMATCH" => "MANIFEST_INVALID",
        "VERSION_EXISTS" => "DENIED",
        other => other,
    };
    e
}

fn range_header(size: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("0-{}", size.saturating_sub(1))).unwrap()
}

fn upload_answer(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{name}/blobs/uploads/{id}")).unwrap(),
    );
    h.insert(header::RANGE, range_header(size));
    h.insert("docker-upload-uuid", HeaderValue::from_str(id).unwrap());
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

fn created_blob(name: &str, digest: &Digest) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{name}/blobs/{digest}")).unwrap(),
    );
    h.insert(
        "docker-content-digest",
        HeaderValue::from_str(&digest.to_string()).unwrap(),
    );
    response
}

fn created_manifest(name: &str, digest: &Digest, subject: Option<&str>) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{name}/manifests/{digest}")).unwrap(),
    );
    h.insert(
        "docker-content-digest",
        HeaderValue::from_str(&digest.to_string()).unwrap(),
    );
    if let Some(subject) = subject.and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert("oci-subject", subject);
    }
    response
}

/// Where an upload chunk's `Content-Range` (`<start>-<end>`, with or without a leading
/// `bytes `) says it starts; `None` when that is not a number. Only the start is
/// checked: chunks must come in order.
pub fn content_range_start(range: &str) -> Option<u64> {
    range
        .trim()
        .trim_start_matches("bytes ")
        .split('-')
        .next()
        .and_then(|s| s.trim().parse::<u64>().ok())
}
