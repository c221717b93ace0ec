//! The bearer-signing key and the registry's files (issue #16, finding 4): the key lives
//! in a file, never in the database; admin bearers die with the admin token; the data
//! directory, the database and the blobs are private to the server's user.

mod common;

use axum::http::{Method, StatusCode};
use common::{ADMIN, Backend, TestApp};
use serde_json::json;
use wharf_registry::{AppState, Config};

on_both_databases!(
    the_bearer_key_lives_in_a_file_that_every_replica_is_given,
    admin_bearers_die_with_the_admin_token,
    bearers_minted_before_the_upgrade_are_refused_and_the_stored_key_is_erased,
);

/// The header every bearer starts with: `{"alg":"HS256","typ":"JWT"}`, base64url.
const BEARER_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// The bearer `/v2/token` hands whoever sends `token`.
async fn bearer_for(app: &TestApp, token: &str) -> String {
    let reply = app.request(Method::GET, "/v2/token", Some(token), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["token"].as_str().unwrap().to_owned()
}

/// What listing tokens with `bearer` answers: 200 for a user, 401 for a bearer the
/// registry does not accept.
async fn list_tokens(app: &TestApp, bearer: &str) -> StatusCode {
    app.request(Method::GET, "/api/v1/tokens", Some(bearer), "")
        .await
        .status
}

/// A bearer with `claims`, signed with `key` as every release signs them.
fn bearer_signed_with(key: &[u8], claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let base64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!("{BEARER_HEADER}.{}", base64.encode(claims.to_string()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(signed.as_bytes());
    format!("{signed}.{}", base64.encode(mac.finalize().into_bytes()))
}

/// The claims of `bearer`.
fn claims_of(bearer: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = bearer.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The key file the registry uses: the configured one, else `<data_dir>/token-key`.
fn key_file(app: &TestApp) -> std::path::PathBuf {
    let config = &app.state.config;
    config
        .token_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("token-key"))
}

async fn the_bearer_key_lives_in_a_file_that_every_replica_is_given(backend: Backend) {
    let app = TestApp::new(backend).await;
    let alice = app.token("alice", &["publish"], None).await;
    let bearer = bearer_for(&app, &alice).await;
    assert_eq!(list_tokens(&app, &bearer).await, StatusCode::OK);

    // The database holds no key: the table that held it is gone.
    let table = sqlx::query("SELECT value FROM server_secrets")
        .fetch_all(app.state.db.pool())
        .await;
    assert!(table.is_err(), "server_secrets is still there");

    // The file does, mode 0600, and its key is the one that signed the bearer.
    let file = key_file(&app);
    let key = std::fs::read_to_string(&file).unwrap();
    assert!(key.trim().len() >= 32, "{key:?}");
    if let Backend::Sqlite = backend {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }
    assert_eq!(
        bearer_signed_with(key.trim().as_bytes(), &claims_of(&bearer)),
        bearer
    );

    // A restart, or another replica given the same file, accepts the bearer...
    let replica = app.reopen(|_| {}).await;
    assert_eq!(list_tokens(&replica, &bearer).await, StatusCode::OK);
    // ...and one given another key refuses it, which is why replicas share one file.
    let other = app.state.config.data_dir.join("another-key");
    std::fs::write(&other, wharf_registry::keys::new_secret()).unwrap();
    let stranger = app
        .reopen(|config| config.token_key_file = Some(other))
        .await;
    assert_eq!(
        list_tokens(&stranger, &bearer).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn admin_bearers_die_with_the_admin_token(backend: Backend) {
    let app = TestApp::new(backend).await;
    let admin_bearer = bearer_for(&app, ADMIN).await;
    assert_eq!(claims_of(&admin_bearer)["adm"], true);
    let alice = app.token("alice", &["publish"], None).await;
    let alice_bearer = bearer_for(&app, &alice).await;
    assert_eq!(list_tokens(&app, &admin_bearer).await, StatusCode::OK);

    // The admin token is changed (a restart with another one): every admin bearer
    // minted under the old one is refused at once, not after it expires...
    const NEW_ADMIN: &str = "the-new-admin-token-for-tests";
    let restarted = app
        .reopen(|config| config.admin_token = Some(NEW_ADMIN.into()))
        .await;
    assert_eq!(
        list_tokens(&restarted, &admin_bearer).await,
        StatusCode::UNAUTHORIZED
    );
    let create = restarted
        .request(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin_bearer),
            json!({"name": "x", "owner": "mallory", "scopes": ["admin"]}).to_string(),
        )
        .await;
    assert_eq!(create.status, StatusCode::UNAUTHORIZED, "{:?}", create.body);
    // ...while users' bearers, which die with their own tokens, live on; and the new
    // admin token's bearers work.
    assert_eq!(list_tokens(&restarted, &alice_bearer).await, StatusCode::OK);
    let new_bearer = bearer_for(&restarted, NEW_ADMIN).await;
    assert_eq!(list_tokens(&restarted, &new_bearer).await, StatusCode::OK);

    // With no admin token at all, no admin bearer is accepted.
    let without = app.reopen(|config| config.admin_token = None).await;
    for bearer in [&admin_bearer, &new_bearer] {
        assert_eq!(
            list_tokens(&without, bearer).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

/// What an older release stored in `server_secrets`.
const OLD_KEY: &str = "wharf_0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0";

/// Migrates the database at `url` as the release before #16's finding 4 did (up to
/// migration 0005), and stores its bearer key as that release did.
async fn migrate_as_the_release_before(backend: Backend, url: String) {
    let dir = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(dir);
    let mut migrator = sqlx::migrate::Migrator::new(path).await.unwrap();
    let before: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= 5)
        .cloned()
        .collect();
    migrator.migrations = before.into();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    migrator.run(&pool).await.unwrap();
    sqlx::query("INSERT INTO server_secrets (name, value) VALUES ('oci-token-key', $1)")
        .bind(OLD_KEY)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn bearers_minted_before_the_upgrade_are_refused_and_the_stored_key_is_erased(
    backend: Backend,
) {
    let app = TestApp::upgraded(
        backend,
        |_| {},
        async |url| migrate_as_the_release_before(backend, url).await,
    )
    .await;
    let alice = app.token("alice", &["publish"], None).await;
    let id = app
        .request(Method::GET, "/api/v1/tokens", Some(&alice), "")
        .await
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let exp = wharf_registry::now_ms() / 1000 + 300;

    // Bearers as the release before minted them, with the key it kept in the
    // database: alice's and the admin's. Both are refused; OCI clients fetch new ones.
    let old_alice = json!({"sub": "alice", "tid": id, "adm": false, "exp": exp});
    let old_admin = json!({"sub": "admin", "tid": null, "adm": true, "exp": exp});
    for claims in [&old_alice, &old_admin] {
        let old = bearer_signed_with(OLD_KEY.as_bytes(), claims);
        assert_eq!(
            list_tokens(&app, &old).await,
            StatusCode::UNAUTHORIZED,
            "{claims}"
        );
    }
    // The same claims signed with the key file are accepted: only the key changed.
    let key = std::fs::read_to_string(key_file(&app)).unwrap();
    let new_alice = bearer_signed_with(key.trim().as_bytes(), &old_alice);
    assert_eq!(list_tokens(&app, &new_alice).await, StatusCode::OK);
    let admin = bearer_for(&app, ADMIN).await;
    assert_eq!(list_tokens(&app, &admin).await, StatusCode::OK);

    // The migration dropped the table; on SQLite the key's bytes are gone from the
    // files too, not left behind in a free page or the write-ahead log, while the
    // registry still runs.
    let table = sqlx::query("SELECT value FROM server_secrets")
        .fetch_all(app.state.db.pool())
        .await;
    assert!(table.is_err(), "server_secrets is still there");
    if let Backend::Sqlite = backend {
        let data_dir = &app.state.config.data_dir;
        for name in ["wharf.db", "wharf.db-wal"] {
            let Ok(bytes) = std::fs::read(data_dir.join(name)) else {
                continue;
            };
            assert!(
                !bytes
                    .windows(OLD_KEY.len())
                    .any(|w| w == OLD_KEY.as_bytes()),
                "the old key is still in {name}"
            );
        }
    }
}

/// Why the registry refuses to open with `config`.
async fn refused(config: Config) -> String {
    match AppState::open(config).await {
        Ok(_) => panic!("the registry opened"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_short_key_file_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();

    // PostgreSQL without a key file: replicas would each make their own.
    let mut config = Config::new(dir.path());
    config.database_url = Some("postgres://postgres@127.0.0.1:5432/never_created".into());
    let error = refused(config).await;
    assert!(
        error.contains("`token_key_file`") && error.contains("--token-key-file"),
        "{error}"
    );

    // A key file that is not there, or too short.
    let short = dir.path().join("short-key");
    std::fs::write(&short, "0123456789abcdef0123456789abcde\n").unwrap();
    let missing = dir.path().join("no-such-key");
    for (file, why) in [(&short, "at least 32"), (&missing, "No such file")] {
        let mut config = Config::new(dir.path());
        config.token_key_file = Some(file.clone());
        let error = refused(config).await;
        assert!(
            error.contains("`token_key_file`")
                && error.contains(&file.display().to_string())
                && error.contains(why),
            "{error}"
        );
    }
    // 32 characters are enough.
    let enough = dir.path().join("key");
    std::fs::write(&enough, "0123456789abcdef0123456789abcdef\n").unwrap();
    let mut config = Config::new(dir.path());
    config.token_key_file = Some(enough);
    AppState::open(config).await.expect("a 32-character key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_on_postgresql_needs_no_key_file_and_makes_none() {
    let app = TestApp::new(Backend::Postgres).await;
    let mut config = (*app.state.config).clone();
    config.token_key_file = None;
    let data_dir = config.data_dir.clone();
    let offline = AppState::open_offline(config).await.expect("open for fsck");
    let report = offline.fsck().await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(!data_dir.join("token-key").exists());
}

/// Every directory under `root` (itself included) is mode 0700 and every file 0600.
#[cfg(unix)]
fn assert_private(root: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| {
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        format!("{:o}", mode & 0o777)
    };
    assert_eq!(mode(root), "700", "{}", root.display());
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_private(&path);
        } else {
            assert_eq!(mode(&path), "600", "{}", path.display());
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_database_and_blobs_are_private() {
    // A data directory that does not exist yet, two levels down.
    let app = TestApp::with(Backend::Sqlite, |config| {
        config.data_dir = config.data_dir.join("srv/wharf");
    })
    .await;
    let flate = wharf_bundled::component("flate").unwrap();
    let published = app
        .publish(ADMIN, "wharf:flate", "1.0.0", flate.bytes)
        .await;
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{:?}",
        published.body
    );
    // An upload in progress, and a blob pushed whole.
    let started = app
        .request(Method::POST, "/v2/acme/zip/blobs/uploads/", Some(ADMIN), "")
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let bytes = b"a layer";
    let digest = wharf_types::Digest::of(bytes).to_string();
    let pushed = app
        .request(
            Method::POST,
            &format!("/v2/acme/zip/blobs/uploads/?digest={digest}"),
            Some(ADMIN),
            bytes.to_vec(),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{:?}", pushed.body);

    let data_dir = app.state.config.data_dir.clone();
    for file in ["wharf.db", "wharf.db-wal", "token-key", "storage/uploads"] {
        assert!(data_dir.join(file).exists(), "no {file}");
    }
    assert_private(data_dir.parent().unwrap());
}
