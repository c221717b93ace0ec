//! The shared state every handler and service holds: the configuration, the database,
//! the blob store, the caches and the limits; how a registry opens them. Routes hold
//! it only to call the services on it (`impl AppState` blocks in `service`): the
//! database and the blob store are the services' to use, never `http`'s.

use std::sync::Arc;

use anyhow::Context as _;

use crate::repo::Db;
use crate::storage::BlobStore;
use crate::{
    CACHED_BLOB_MAX, Config, cache, keys, metrics, parse_public_url, private, service, storage,
};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The configuration it was opened with.
    pub config: Arc<Config>,
    /// The metadata database.
    pub db: Db,
    /// Where blobs live.
    pub blobs: Arc<dyn BlobStore>,
    /// What is counted for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Recently served blobs and manifests, by digest.
    pub cache: Arc<cache::BlobCache>,
    /// What signs and verifies bearer tokens.
    pub bearer_keys: Arc<keys::BearerKeys>,
    /// The slots request bodies are received in (`max_uploads`).
    pub uploads: service::uploads::UploadSlots,
    /// What signs the transparency log's checkpoints.
    pub log_keys: Arc<keys::LogKeys>,
}

impl AppState {
    /// Opens the database (applying migrations), the blob store and the bearer-signing
    /// key ([`keys::BearerKeys::load`]). Refuses an empty or short admin token before
    /// touching anything, and a missing or short key before opening the database.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        Self::check(&config).await?;
        let bearer_keys = keys::BearerKeys::load(&config).map_err(anyhow::Error::msg)?;
        let log_keys = keys::LogKeys::load(&config).map_err(anyhow::Error::msg)?;
        let state = Self::open_with(config, bearer_keys, log_keys).await?;
        state
            .log_versions_published_before_the_log()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "logging the versions published before the log: {}",
                    e.message
                )
            })?;
        Ok(state)
    }

    /// Opens the registry for a tool that reads it and serves nothing (`wharf fsck`):
    /// like [`AppState::open`], but no bearer-signing key is read or made; bearers are
    /// signed with a key that lives in this process only.
    pub async fn open_offline(config: Config) -> anyhow::Result<Self> {
        Self::check(&config).await?;
        let bearer_keys = keys::BearerKeys::ephemeral(config.admin_token.as_deref());
        Self::open_with(config, bearer_keys, keys::LogKeys::ephemeral()).await
    }

    /// Refuses a bad admin token or public URL, then makes the data directory.
    async fn check(config: &Config) -> anyhow::Result<()> {
        if let Some(token) = &config.admin_token {
            service::tokens::check_admin_token(token, "the configuration")
                .map_err(anyhow::Error::msg)?;
        }
        if let Some(url) = &config.public_url {
            parse_public_url(url).map_err(anyhow::Error::msg)?;
        }
        // Private from the start: the key is made in here below, and the database and
        // blobs hold what a private registry serves to token holders only.
        private::create_dir_all(&config.data_dir)
            .await
            .with_context(|| {
                format!("creating the data directory {}", config.data_dir.display())
            })?;
        if private::shared_with_others(&config.data_dir) {
            tracing::warn!(
                data_dir = %config.data_dir.display(),
                "other users may enter the data directory: `chmod 700` it"
            );
        }
        Ok(())
    }

    async fn open_with(
        config: Config,
        bearer_keys: keys::BearerKeys,
        log_keys: keys::LogKeys,
    ) -> anyhow::Result<Self> {
        let mut db = Db::connect(&config.database_url()).await?;
        if !config.transparency_log {
            db = db.without_log();
        }
        let blobs = storage::open(&config.storage(), &config.s3).await?;
        let cache = Arc::new(cache::BlobCache::new(config.cache_bytes, CACHED_BLOB_MAX));
        let uploads =
            service::uploads::UploadSlots::new(config.max_uploads, config.max_uploads_per_user);
        Ok(Self {
            uploads,
            config: Arc::new(config),
            db,
            blobs,
            metrics: Arc::new(metrics::Metrics::new()),
            cache,
            bearer_keys: Arc::new(bearer_keys),
            log_keys: Arc::new(log_keys),
        })
    }

    /// A blob's bytes, from memory when recently served; None when it is not stored.
    /// Blobs over [`CACHED_BLOB_MAX`] are read from storage each time: this is for
    /// what is parsed whole; downloads stream (see `http::blob::serve_blob`).
    pub async fn blob_bytes(
        &self,
        digest: &wharf_types::Digest,
    ) -> Result<Option<bytes::Bytes>, storage::StorageError> {
        if let Some(bytes) = self.cache.get(digest) {
            return Ok(Some(bytes));
        }
        let bytes = self.blobs.read(digest, 0, None).await?;
        if let Some(bytes) = &bytes {
            self.cache.insert(digest, bytes);
        }
        Ok(bytes)
    }
}
