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

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, None, Body::empty()).await
    }

    pub async fn publish(&self, token: &str, name: &str, version: &str, bytes: &[u8]) -> Reply {
        let (ns, n) = name.split_once(':').unwrap();
        let uri = format!("/api/v1/packages/{ns}/{n}/versions/{version}");
        self.request(Method::PUT, &uri, Some(token), bytes.to_vec())
            .await
    }

    /// A token for `owner` with `scopes`, made by the admin.
    pub async fn token(&self, owner: &str, scopes: &[&str], namespaces: Option<&[&str]>) -> String {
        let body =
            json!({"name": "test", "owner": owner, "scopes": scopes, "namespaces": namespaces});
        let reply = self
            .request(
                Method::POST,
                "/api/v1/tokens",
                Some(ADMIN),
                body.to_string(),
            )
            .await;
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

/// `bytes` (a component) with a custom section `name` holding `data` appended: allowed
/// anywhere in a component, and ignored by everything but its reader.
pub fn with_custom_section(bytes: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    use wasm_encoder::ComponentSection as _;
    let mut out = bytes.to_vec();
    wasm_encoder::CustomSection {
        name: name.into(),
        data: data.into(),
    }
    .append_to_component(&mut out);
    out
}

/// The json-transform component with a custom section that makes its bytes (and
/// digest) unique: a real component per version, each a blob of its own.
pub fn unique_component(tag: &str) -> Vec<u8> {
    let transform = wharf_bundled::component("json-transform").unwrap();
    with_custom_section(transform.bytes, "wharf-test", tag.as_bytes())
}

/// `bytes` (a component) with a `wharf:provenance` custom section appended.
pub fn with_provenance(bytes: &[u8], provenance: &serde_json::Value) -> Vec<u8> {
    with_custom_section(bytes, "wharf:provenance", provenance.to_string().as_bytes())
}
