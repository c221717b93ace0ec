//! `wharf serve`: run the registry server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where a registry keeps its state: shared by `wharf serve` and `wharf fsck`.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Where the SQLite database and the blobs live.
    #[arg(long, env = "WHARF_DATA_DIR", default_value = ".wharf")]
    data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...` (default: SQLite in the data directory).
    #[arg(long, env = "WHARF_DATABASE_URL")]
    database_url: Option<String>,
    /// Where blobs live: `s3://bucket[/prefix]` for an S3-compatible object store
    /// shared by replicas, or a directory (default: `<data-dir>/storage`).
    #[arg(long, env = "WHARF_STORAGE")]
    storage: Option<String>,
    /// The S3 endpoint, for S3-compatible servers (SeaweedFS, MinIO, R2...), e.g.
    /// `http://127.0.0.1:8333` (default: `$AWS_ENDPOINT_URL`, else AWS).
    #[arg(long, env = "WHARF_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The S3 region (default: `$AWS_REGION`, else us-east-1).
    #[arg(long, env = "WHARF_S3_REGION")]
    s3_region: Option<String>,
}

impl StoreArgs {
    fn config(self) -> wharf_registry::Config {
        let mut config = wharf_registry::Config::new(self.data_dir);
        config.database_url = self.database_url;
        config.storage = self.storage;
        config.s3.endpoint = self.s3_endpoint;
        config.s3.region = self.s3_region;
        config
    }
}

/// Run the registry server (OCI, JSON API and pages) on embedded defaults: a SQLite
/// file and a blob folder under the data directory. Replicas share a PostgreSQL
/// database and an S3 bucket.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf serve\n  wharf serve --listen 0.0.0.0:7878 --public-url https://wasm.example.com --data-dir /var/lib/wharf\n  WHARF_DATABASE_URL=postgres://wharf@db/wharf WHARF_TOKEN_KEY_FILE=/run/secrets/wharf-token-key wharf serve --admin-token \"$ADMIN\"\n  wharf serve --database-url postgres://wharf@db/wharf --token-key-file /run/secrets/wharf-token-key --storage s3://wharf-blobs --s3-endpoint http://s3:8333"
)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, env = "WHARF_LISTEN", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// The URL clients reach the registry at, `http(s)://host[:port]` (behind a proxy
    /// or TLS terminator, the outside one): OCI clients are sent to its `/v2/token`
    /// for tokens and `wkg` is pointed at its host. Default: `http://` and the listen
    /// address. Never taken from a request's `Host` header.
    #[arg(long, env = "WHARF_PUBLIC_URL", value_parser = wharf_registry::parse_public_url)]
    public_url: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    /// The largest accepted upload, e.g. `64MiB`.
    #[arg(long, env = "WHARF_MAX_UPLOAD", default_value = "64MiB", value_parser = wharf_types::units::parse_size)]
    max_upload: u64,
    /// Request bodies (publishes, blob uploads, manifests) received at once; one more
    /// is refused with 429 TOOMANYREQUESTS and `Retry-After`, which clients retry.
    /// Publishes are read whole: they hold at most this times `--max-upload`.
    #[arg(long, env = "WHARF_MAX_UPLOADS", default_value_t = wharf_registry::service::uploads::DEFAULT_MAX_UPLOADS, value_parser = crate::host::positive_count)]
    max_uploads: usize,
    /// Of those, how many one user's bodies (all their tokens) may hold at once; one
    /// more is refused with 429, so that one user's slow or stalled uploads leave the
    /// other slots to everyone else. Default: half of `--max-uploads`, rounded up.
    #[arg(long, env = "WHARF_MAX_UPLOADS_PER_USER", value_parser = crate::host::positive_count)]
    max_uploads_per_user: Option<usize>,
    /// How long a request body may go without a byte before it is refused with 408
    /// BODY_TIMEOUT and its upload slot freed; also the grace before
    /// `--min-body-rate` applies.
    #[arg(long, env = "WHARF_BODY_TIMEOUT", default_value = "30s", value_parser = crate::host::positive_duration)]
    body_timeout: Duration,
    /// Past `--body-timeout`, the slowest a body may arrive on average, per second
    /// (e.g. `16KiB`); slower is refused with 408 BODY_TIMEOUT. 0: no minimum.
    #[arg(long, env = "WHARF_MIN_BODY_RATE", default_value = "16KiB", value_parser = wharf_types::units::parse_size)]
    min_body_rate: u64,
    /// A token with every right, to bootstrap users and tokens: at least 16
    /// characters, e.g. from `openssl rand -hex 32`.
    #[arg(long, env = "WHARF_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A file holding the key that signs the bearer tokens OCI clients get from
    /// `/v2/token` (at least 32 characters, e.g. from `openssl rand -hex 32`). Required
    /// with PostgreSQL: give every replica the same file. Default (SQLite):
    /// `<data-dir>/token-key`, made on the first start.
    #[arg(long, env = "WHARF_TOKEN_KEY_FILE", value_name = "FILE")]
    token_key_file: Option<PathBuf>,
    /// The file holding the key that signs the transparency log's checkpoints (make one
    /// with `wharf log keygen --origin HOST/log`). Required with a PostgreSQL database
    /// (every replica the same file); default: `<data-dir>/log-key`, made on the first
    /// start. See docs/trust.md.
    #[arg(long, env = "WHARF_LOG_KEY_FILE")]
    log_key_file: Option<PathBuf>,
    /// Require a token for reads too.
    #[arg(long, env = "WHARF_PRIVATE")]
    private: bool,
    /// How often garbage is collected (expired uploads, unused blobs), e.g. `1h`,
    /// `30s` or bare seconds; 0 never. Any number of replicas may collect at once.
    #[arg(long, env = "WHARF_GC_INTERVAL", default_value = "1h", value_parser = wharf_types::units::parse_duration)]
    gc_interval: Duration,
    /// How long an unused blob is kept before it may be collected.
    #[arg(long, env = "WHARF_GC_GRACE", default_value = "1h", value_parser = wharf_types::units::parse_duration)]
    gc_grace: Duration,
    /// How long an upload may sit idle before it expires.
    #[arg(long, env = "WHARF_UPLOAD_TTL", default_value = "24h", value_parser = wharf_types::units::parse_duration)]
    upload_ttl: Duration,
    /// How long a client may take to send a request's line and headers before its
    /// connection is closed (also how long an idle keep-alive connection is kept).
    #[arg(long, env = "WHARF_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = crate::host::positive_duration)]
    header_read_timeout: Duration,
    /// Connections served at once; more wait until one closes. Keep it under the
    /// process's file-descriptor limit (`ulimit -n`).
    #[arg(long, env = "WHARF_MAX_CONNECTIONS", default_value_t = wharf_registry::DEFAULT_MAX_CONNECTIONS, value_parser = crate::host::positive_count)]
    max_connections: usize,
}

impl Args {
    pub async fn run(self) -> anyhow::Result<()> {
        // An empty WHARF_ADMIN_TOKEN reaches here as Some(""): a secret that did not
        // arrive (a missing CI secret) stops the start like a short one.
        if let Some(token) = &self.admin_token {
            wharf_registry::service::tokens::check_admin_token(
                token,
                "`--admin-token` / WHARF_ADMIN_TOKEN",
            )
            .map_err(anyhow::Error::msg)?;
        }
        let mut config = self.store.config();
        config.listen = self.listen;
        config.public_url = self.public_url;
        config.max_upload_bytes = self.max_upload;
        config.max_uploads = self.max_uploads;
        config.max_uploads_per_user = self.max_uploads_per_user;
        config.body_timeout = self.body_timeout;
        config.min_body_rate = self.min_body_rate;
        config.admin_token = self.admin_token;
        config.token_key_file = self.token_key_file;
        config.log_key_file = self.log_key_file;
        config.anonymous_read = !self.private;
        config.gc_interval = self.gc_interval;
        config.gc_grace = self.gc_grace;
        config.upload_ttl = self.upload_ttl;
        config.header_read_timeout = self.header_read_timeout;
        config.max_connections = self.max_connections;
        let server = wharf_registry::Server::bind(config).await?;
        println!("wharf registry listening on http://{}", server.local_addr());
        server.run(shutdown_signal()).await
    }
}

/// Check a registry's storage: every published version's and manifest's blobs are
/// read back and hashed; blobs nothing needs are listed. Exits non-zero when
/// something published is missing or damaged. Safe while servers run.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf fsck --data-dir /var/lib/wharf\n  wharf fsck --database-url postgres://wharf@db/wharf --storage s3://wharf-blobs --s3-endpoint http://s3:8333 --json"
)]
pub struct FsckArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
}

impl FsckArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let json = self.json;
        // fsck serves nothing, so it needs no bearer-signing key (and makes none).
        let report = wharf_registry::service::fsck::check(self.store.config()).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            crate::status!(
                "Checked",
                "{} references to {} blobs ({} bytes) in {}",
                report.checked,
                report.blobs_verified,
                report.bytes_verified,
                report.storage
            );
            for problem in &report.problems {
                eprintln!("{}: {} {}", problem.owner, problem.digest, problem.problem);
            }
            crate::status!(
                "Checked",
                "the transparency log: {} entries against every version",
                report.log_entries
            );
            for problem in &report.log_problems {
                eprintln!("{}: {}", problem.subject, problem.problem);
            }
            if !report.orphans.is_empty() {
                crate::status!(
                    "Orphans",
                    "{} stored blobs the database does not know (`--json` lists them)",
                    report.orphans.len()
                );
            }
            if !report.unreferenced.is_empty() {
                crate::status!(
                    "Unused",
                    "{} blobs nothing uses; the garbage collector removes them",
                    report.unreferenced.len()
                );
            }
        }
        if report.is_clean() {
            Ok(())
        } else if report.problems.is_empty() {
            anyhow::bail!(
                "the transparency log and the versions disagree in {} places",
                report.log_problems.len()
            )
        } else {
            anyhow::bail!(
                "{} published blobs are missing or damaged{}",
                report.problems.len(),
                if report.log_problems.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", and the transparency log and the versions disagree in {} places",
                        report.log_problems.len()
                    )
                }
            )
        }
    }
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
