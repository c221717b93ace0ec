//! The Wharf registry server.
//!
//! Layers, each importing only the ones below it
//! (`http` → `service` → `repo` / `storage` / `analysis`):
//! - **routes** ([`http`]): parse the request, call a service, answer JSON (`/api/v1`),
//!   the OCI distribution API (`/v2/`) or server-rendered HTML;
//! - **services** ([`service`]): the rules (validation, the one owner/admin rule in
//!   [`service::access`], semver, resolution, tokens, uploads, garbage collection,
//!   fsck) and the read side people browse; they speak [`service::ServiceError`];
//! - **repositories** ([`repo`], the only place SQL lives) and **storage**
//!   ([`storage`], the only place blob I/O lives);
//! - **analysis** ([`analysis`]: packages, semver compatibility, provenance) and the
//!   artifact format ([`artifact`]): what is inside a package's bytes and an OCI
//!   manifest.
//!
//! Beside them: this module (the configuration), [`Server`], [`AppState`] (what
//! every handler and service shares), [`keys`], [`cache`], [`metrics`], [`private`]
//! (file modes) and [`views`] (the JSON shapes).
//!
//! Programs that embed the registry use [`Server`] (and its [`Publisher`], which
//! publishes as the admin: `wharf up`) and [`service::fsck::check`] (`wharf fsck`),
//! never the state's database or blob store.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = wharf_registry::Config::new("./.wharf");
//! let server = wharf_registry::Server::bind(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(std::future::pending()).await?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod analysis;
pub mod artifact;
pub mod cache;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod private;
pub mod repo;
pub mod service;
pub mod storage;
pub mod time;
pub mod views;

mod server;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use http::app;
pub use server::{Publisher, Server};
pub use state::AppState;

/// How a registry runs. Every field has a zero-setup default under `data_dir`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The URL clients reach the registry at, `http(s)://host[:port]`: the OCI token
    /// realm, the well-known document and the pages' commands name it. Never taken
    /// from a request's `Host` header, which the client chooses. Default: `http://`
    /// and the listen address ([`Server::bind`] fills in the port it bound).
    pub public_url: Option<String>,
    /// The SQLite file, the blobs and the bearer-signing key live here unless
    /// configured elsewhere. Created mode 0700 (and the files in it 0600).
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default: `sqlite://<data_dir>/wharf.db`.
    pub database_url: Option<String>,
    /// The largest accepted upload.
    pub max_upload_bytes: u64,
    /// Request bodies (publishes, blob uploads, manifests) received at once; one more
    /// is refused with `429 TOOMANYREQUESTS`. See [`service::uploads`].
    pub max_uploads: usize,
    /// Of those slots, how many the uploads of one user (all their tokens, or the
    /// admin token) may hold at once; one more is refused with `429 TOOMANYREQUESTS`
    /// naming this limit. None: half of `max_uploads`, rounded up, so that one user's
    /// stalled or trickling bodies never take every slot.
    pub max_uploads_per_user: Option<usize>,
    /// How long a request body may go without a byte before it is refused with
    /// `408 BODY_TIMEOUT` and its upload slot freed; also the grace a body has before
    /// `min_body_rate` applies. See [`http::body`].
    pub body_timeout: std::time::Duration,
    /// Past `body_timeout`, the slowest a body may arrive on average, in bytes per
    /// second (each byte earns `1 / min_body_rate` s more); slower is refused with
    /// `408 BODY_TIMEOUT`, so that a trickle of a byte now and then cannot hold an
    /// upload slot for long. 0: no minimum (only `body_timeout`'s silence applies).
    pub min_body_rate: u64,
    /// A token with every right, to bootstrap users and tokens; at least
    /// [`service::tokens::ADMIN_TOKEN_MIN_CHARS`] characters ([`AppState::open`] refuses less).
    pub admin_token: Option<String>,
    /// The file holding the key that signs the bearer tokens `/v2/token` hands out (at
    /// least [`keys::TOKEN_KEY_MIN_CHARS`] characters). Required with PostgreSQL, where
    /// every replica must be given the same one; default (SQLite):
    /// `<data_dir>/token-key`, made on the first start. See [`keys`].
    pub token_key_file: Option<PathBuf>,
    /// The file holding the key that signs the transparency log's checkpoints (a
    /// signer key from `wharf log keygen`). Required with PostgreSQL, where every
    /// replica must be given the same one; default (SQLite): `<data_dir>/log-key`, made
    /// on the first start. See [`keys::LogKeys`] and docs/trust.md.
    pub log_key_file: Option<PathBuf>,
    /// Whether every change is appended to the transparency log: always true, but in
    /// `scripts/bench-log`, which measures what the log costs a publish, and in the
    /// tests of clients meeting a registry without a log (with it off, the log's
    /// endpoints answer 404, as a registry from before the log did). Not a flag of
    /// `wharf serve`; versions published with it off are logged at the next start with
    /// it on. See docs/trust.md.
    pub transparency_log: bool,
    /// Whether reads need no token.
    pub anonymous_read: bool,
    /// Told to `wkg` in `/.well-known/wasm-pkg/registry.json`: package `ns:name` lives
    /// in OCI repository `<prefix>ns/name`.
    pub namespace_prefix: Option<String>,
    /// Memory for recently served blobs (content-addressed, so never stale); 0 disables.
    pub cache_bytes: usize,
    /// How often the garbage collector runs; zero never.
    pub gc_interval: std::time::Duration,
    /// How long an unused blob is kept (for a manifest that is yet to come).
    pub gc_grace: std::time::Duration,
    /// How long an upload may sit idle before it expires.
    pub upload_ttl: std::time::Duration,
    /// Where blobs live: `s3://bucket[/prefix]`, or a directory; default
    /// `<data_dir>/storage`.
    pub storage: Option<String>,
    /// How to reach an `s3://` storage.
    pub s3: storage::s3::S3Options,
    /// How long a client may take to send a request's head (its line and headers);
    /// past it the connection is closed. Also bounds how long an idle keep-alive
    /// connection waits for its next request.
    pub header_read_timeout: std::time::Duration,
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Config {
    /// The defaults, with everything under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            public_url: None,
            data_dir: data_dir.into(),
            database_url: None,
            max_upload_bytes: 64 << 20,
            max_uploads: service::uploads::DEFAULT_MAX_UPLOADS,
            max_uploads_per_user: None,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            min_body_rate: DEFAULT_MIN_BODY_RATE,
            admin_token: None,
            token_key_file: None,
            log_key_file: None,
            transparency_log: true,
            anonymous_read: true,
            namespace_prefix: None,
            cache_bytes: 256 << 20,
            gc_interval: std::time::Duration::from_secs(3600),
            gc_grace: std::time::Duration::from_secs(3600),
            upload_ttl: std::time::Duration::from_secs(24 * 3600),
            storage: None,
            s3: storage::s3::S3Options::default(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// Where blobs live: the configured storage, else `<data_dir>/storage`.
    pub fn storage(&self) -> String {
        self.storage
            .clone()
            .unwrap_or_else(|| self.data_dir.join("storage").display().to_string())
    }

    /// The URL clients reach the registry at, without a trailing slash: the
    /// configured one, else `http://<listen address>`.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The `host[:port]` of [`Config::public_url`], as OCI clients name a registry.
    pub fn public_authority(&self) -> String {
        let url = self.public_url();
        url.split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .to_owned()
    }

    /// The configured database URL, else the SQLite file `<data_dir>/wharf.db`.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("wharf.db").display()
            )
        })
    }
}

/// Checks a public URL (`--public-url`): `http://` or `https://`, a host, an optional
/// port, and nothing after it (the OCI API lives at `/v2/` of the host, so no path);
/// answers it without a trailing slash, or says what is wrong.
pub fn parse_public_url(text: &str) -> Result<String, String> {
    let wrong = |why: &str| format!("`public_url` {text:?} {why}; expected `https://host[:port]`");
    let Some((scheme, authority)) = text.split_once("://") else {
        return Err(wrong("has no scheme"));
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if scheme != "http" && scheme != "https" {
        return Err(wrong("is neither http nor https"));
    }
    if authority.contains(['/', '?', '#']) {
        return Err(wrong(
            "has a path, query or fragment (the registry serves at the root)",
        ));
    }
    match authority.parse::<axum::http::uri::Authority>() {
        Ok(a) if !a.host().is_empty() && !authority.contains('@') => {
            Ok(format!("{scheme}://{authority}"))
        }
        _ => Err(wrong("has no valid host")),
    }
}

/// How long a request body may go silent, by default (and its grace before
/// [`DEFAULT_MIN_BODY_RATE`] applies).
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The slowest a request body may arrive past its grace, by default: 16 KiB/s, a
/// 128 kbit/s link; the largest default upload (64 MiB) may take 68 minutes.
pub const DEFAULT_MIN_BODY_RATE: u64 = 16 << 10;

/// How long a client may take to send a request's head, by default.
pub const DEFAULT_HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections served at once, by default (under the common `ulimit -n` of 4096 with
/// room for the database, the blob files and the listener).
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;

/// The largest blob kept in the memory cache.
pub const CACHED_BLOB_MAX: usize = 8 << 20;

/// Runs CPU-heavy work (validating and decoding packages, diffing, laying out graphs)
/// on tokio's blocking pool, so that the async workers keep answering everyone else
/// (`/healthz` included) meanwhile. A panic in `work` is resumed here, as if it had
/// run inline.
pub async fn cpu<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
