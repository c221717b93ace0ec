//! `TestApp`: a registry on a fresh database (a temporary SQLite file, or a database of
//! its own on the machine's PostgreSQL, dropped afterwards) driven in-process.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wharf_registry::{AppState, Config};

pub const ADMIN: &str = "admin-secret-for-tests";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(backend: Backend)` as two tests, on SQLite and on
/// PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::common::Backend::Postgres).await })*
        }
    };
}

/// The server PostgreSQL tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("WHARF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestApp {
    pub state: AppState,
    router: Router,
    /// Shared with the apps [`TestApp::reopen`] makes, like the database.
    dir: std::sync::Arc<tempfile::TempDir>,
    postgres_db: Option<std::sync::Arc<PostgresDb>>,
}

/// A test's own PostgreSQL database, dropped with the last app using it.
struct PostgresDb(String);

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no `{name}` header in {:?}", self.headers))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The code of the first error in the error envelope.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn message(&self) -> String {
        self.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with(backend, |_| {}).await
    }

    pub async fn with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        Self::upgraded(backend, configure, async |_| {}).await
    }

    /// Like [`TestApp::with`], but `prepare` gets the database's URL before the
    /// registry opens (and migrates) it: to leave it as an older release did.
    pub async fn upgraded(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
        prepare: impl AsyncFnOnce(String),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.admin_token = Some(ADMIN.into());
        let mut postgres_db = None;
        if let Backend::Postgres = backend {
            let name = format!("wharf_test_{}", uuid::Uuid::new_v4().simple());
            let admin = postgres_admin_url();
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let base = admin.rsplit_once('/').unwrap().0;
            config.database_url = Some(format!("{base}/{name}"));
            postgres_db = Some(std::sync::Arc::new(PostgresDb(name)));
            // Replicas on one database are given one key file.
            let key = dir.path().join("shared-token-key");
            std::fs::write(&key, wharf_registry::keys::new_secret()).unwrap();
            config.token_key_file = Some(key);
            // And one transparency-log key file.
            let log_key = dir.path().join("shared-log-key");
            std::fs::write(
                &log_key,
                wharf_registry::keys::generate_log_key("registry.test/log").unwrap(),
            )
            .unwrap();
            config.log_key_file = Some(log_key);
        }
        configure(&mut config);
        prepare(config.database_url()).await;
        let state = AppState::open(config).await.expect("open the registry");
        let router = wharf_registry::app(state.clone());
        Self {
            state,
            router,
            dir: std::sync::Arc::new(dir),
            postgres_db,
        }
    }

    /// Another registry on this one's database and data directory, its configuration
    /// changed by `configure`: a restart, or another replica.
    pub async fn reopen(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = (*self.state.config).clone();
        configure(&mut config);
        let state = AppState::open(config).await.expect("reopen the registry");
        let router = wharf_registry::app(state.clone());
        TestApp {
            state,
            router,
            dir: self.dir.clone(),
            postgres_db: self.postgres_db.clone(),
        }
    }

    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let json = method == Method::POST;
        let mut request = Request::builder().method(method).uri(uri);
        if json {
            request = request.header("content-type", "application/json");
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The in-process app, for a request a test drives itself (on a task of its own).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Sends a request built by the test, as is.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Pushes `bytes` as a blob into `repository` in one request (a monolithic upload,
    /// `POST .../blobs/uploads/?digest=`); the reply.
    pub async fn push_blob(&self, token: &str, repository: &str, bytes: &[u8]) -> Reply {
        let digest = wharf_types::Digest::of(bytes);
        self.send(
            request(
                Method::POST,
                &format!("/v2/{repository}/blobs/uploads/?digest={digest}"),
                Some(token),
            )
            .body(Body::from(bytes.to_vec()))
            .unwrap(),
        )
        .await
    }

    /// Puts `manifest` (of `media_type`) into `repository` as `reference`, a tag or a
    /// digest; the reply.
    pub async fn push_manifest(
        &self,
        token: &str,
        repository: &str,
        reference: &str,
        media_type: &str,
        manifest: &[u8],
    ) -> Reply {
        self.send(
            request(
                Method::PUT,
                &format!("/v2/{repository}/manifests/{reference}"),
                Some(token),
            )
            .header("content-type", media_type)
            .body(Body::from(manifest.to_vec()))
            .unwrap(),
        )
        .await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, None, Body::empty()).await
    }

    pub async fn publish(&self, token: &str, name: &str, version: &str, bytes: &[u8]) -> Reply {
        let (ns, n) = name.split_once(':').unwrap();
        let uri = format!("/api/v1/packages/{ns}/{n}/versions/{version}");
        self.request(Method::PUT, &uri, Some(token), bytes.to_vec())
            .await
    }

    /// `POST /api/v1/tokens` with `body`, authorized by `token`; the reply.
    pub async fn create_token(&self, token: &str, body: Value) -> Reply {
        self.request(
            Method::POST,
            "/api/v1/tokens",
            Some(token),
            body.to_string(),
        )
        .await
    }

    /// A token for `owner` with `scopes`, made by the admin.
    pub async fn token(&self, owner: &str, scopes: &[&str], namespaces: Option<&[&str]>) -> String {
        let body =
            json!({"name": "test", "owner": owner, "scopes": scopes, "namespaces": namespaces});
        let reply = self.create_token(ADMIN, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.json()["token_secret"].as_str().unwrap().to_owned()
    }

    /// Publishes every bundled WIT package (in version order) and component as `owner`.
    pub async fn publish_bundled(&self, token: &str) {
        let mut packages: Vec<_> = wharf_bundled::WIT_PACKAGES.iter().collect();
        packages.sort_by_key(|p| (p.package, semver::Version::parse(p.version).unwrap()));
        for p in packages {
            let reply = self.publish(token, p.package, p.version, p.bytes).await;
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "{}@{}: {:?}",
                p.package,
                p.version,
                reply.body
            );
        }
        for c in wharf_bundled::COMPONENTS {
            let reply = self.publish(token, c.package, c.version, c.bytes).await;
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "{}: {:?}",
                c.package,
                reply.body
            );
        }
    }
}

/// A request to `method uri`, with `Authorization: Bearer <token>` when a token is
/// given: for the requests a test builds itself (headers, bodies, streams).
pub fn request(method: Method, uri: &str, token: Option<&str>) -> axum::http::request::Builder {
    let builder = Request::builder().method(method).uri(uri);
    match token {
        Some(token) => builder.header("authorization", format!("Bearer {token}")),
        None => builder,
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.0);
        // Drop runs outside async; a thread with its own runtime removes the database.
        let admin = postgres_admin_url();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join()
        .unwrap();
    }
}

/// `bytes` (a component) with a `wharf:provenance` custom section holding
/// `provenance` (as given: it may be anything a publisher writes) appended.
pub fn with_provenance(bytes: &[u8], provenance: &serde_json::Value) -> Vec<u8> {
    wharf_types::with_custom_section(
        bytes.to_vec(),
        wharf_types::provenance::SECTION,
        provenance.to_string().as_bytes(),
    )
}
