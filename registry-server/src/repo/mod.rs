//! Repositories: the only place SQL lives, one file per table family (packages,
//! versions, their items, namespaces and owners, tokens, the OCI view, blobs). Every
//! query runs unchanged on SQLite and PostgreSQL through sqlx's `Any` driver (`$n`
//! placeholders, TEXT and BIGINT columns, 0/1 flags, millisecond timestamps), and the
//! test suite runs each one on both. Repositories know nothing of the services and routes above
//! them: they answer facts and apply writes, and decide no rule.

mod blobs;
mod items;
mod keys;
mod log;
mod namespaces;
mod oci;
mod packages;
mod tokens;
mod versions;

pub use blobs::Reliance;
pub use items::{ItemRow, ItemUse, VersionExports};
pub use keys::KeyRow;
pub use oci::{ManifestRow, NewManifest};
pub use packages::PackageRow;
pub use tokens::TokenRow;
pub use versions::{Inserted, NewVersion, VersionRow};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// Why the database refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A row with this key exists already.
    #[error("already exists")]
    Conflict,
    /// The database failed.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A blob the write relies on was garbage-collected since it was leased.
    #[error("blob {0} was collected")]
    BlobGone(String),
    /// The transparency log's stored hashes are not what an append or a proof needs
    /// (a damaged database: `wharf fsck` says more).
    #[error("the transparency log: {0}")]
    Log(String),
}

fn conflict_or(e: sqlx::Error) -> DbError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => DbError::Conflict,
        _ => DbError::Sqlx(e),
    }
}

/// The metadata database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// PostgreSQL (several replicas may share it) rather than an embedded SQLite file.
    postgres: bool,
    /// Whether changes are appended to the transparency log (always, but in a benchmark).
    log: bool,
}

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The file of a SQLite URL that asks for it to be created (`sqlite://<path>?mode=rwc`).
fn sqlite_file_to_create(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?')?;
    let creates = query.split('&').any(|pair| pair == "mode=rwc");
    (creates && !path.is_empty() && path != ":memory:").then(|| path.into())
}

/// The migration that drops the table the bearer key was kept in
/// (`0006_token_key_out_of_database.sql`).
const KEY_LEFT_DATABASE: i64 = 6;

/// Whether migration `version` was applied to this database before; `None` for a
/// database never migrated (a new one).
async fn applied(pool: &AnyPool, version: i64) -> Option<bool> {
    sqlx::query("SELECT 1 FROM _sqlx_migrations WHERE version = $1")
        .bind(version)
        .fetch_optional(pool)
        .await
        .ok()
        .map(|row| row.is_some())
}

impl Db {
    /// Connects and applies the migrations of the URL's database (`sqlite:` or `postgres:`).
    /// A SQLite file the URL asks to create (`mode=rwc`) is created mode 0600 first;
    /// SQLite gives its `-wal` and `-shm` files the same mode.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        if let Some(file) = sqlite_file_to_create(url) {
            crate::private::create_file_if_missing(&file)
                .await
                .map_err(|e| {
                    let named = format!("creating {}: {e}", file.display());
                    sqlx::Error::Io(std::io::Error::new(e.kind(), named))
                })?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 8 } else { 16 })
            .connect(url)
            .await?;
        if sqlite {
            // WAL lets readers proceed during a write; it is a property of the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            let erases_old_key = applied(&pool, KEY_LEFT_DATABASE).await == Some(false);
            SQLITE.run(&pool).await?;
            if erases_old_key {
                // The migration zeroed the old key's pages, in the write-ahead log:
                // copy them over the database file and empty the log now, rather than
                // whenever the last connection closes.
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&pool)
                    .await?;
            }
        } else {
            POSTGRES.run(&pool).await?;
        }
        Ok(Self {
            pool,
            postgres: !sqlite,
            log: true,
        })
    }

    /// The connection pool, for maintenance tools and the seeding of benchmarks.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
