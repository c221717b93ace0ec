//! The OCI Distribution API (v1.1) under `/v2/`, and the token endpoint real clients
//! use. One store, two views: a manifest in the CNCF "Wasm OCI Artifact" layout (config
//! `application/vnd.wasm.config.v0+json`, one `application/wasm` layer) pushed to
//! `namespace/name:version` is published as a package version through the same rules as
//! the JSON API; every version published through the JSON API is served here as such an
//! artifact. Other OCI content is stored and served, but is not a package.
//!
//! This module authenticates, parses the path and dispatches; one module per
//! resource answers: `manifests`, `blobs`, `uploads`, `tags`, `referrers`,
//! and `token` for the token endpoint.

mod blobs;
mod manifests;
mod referrers;
mod tags;
mod token;
mod uploads;

pub use uploads::content_range_start;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use wharf_types::Digest;

use crate::AppState;
use crate::artifact::valid_repository;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::service::ServiceError;
use crate::service::access::{Principal, Scope, Unclaimed};

/// The routes of `/v2/`, `/v2/token` and the well-known document.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/", get(base))
        .route("/v2", get(base))
        .route("/v2/token", get(token::token))
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

type Answer = Result<Response, Denied>;

struct Ctx {
    state: AppState,
    headers: HeaderMap,
    query: BTreeMap<String, String>,
    caller: Option<Principal>,
}

fn size_error(e: ApiError) -> ApiError {
    if e.status == StatusCode::PAYLOAD_TOO_LARGE {
        oci(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", e.message)
    } else {
        e
    }
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
}
