//! `wharf serve`: run the registry server.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Run the registry server (OCI, JSON API and pages) on embedded defaults: a SQLite
/// file and a blob folder under the data directory.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf serve\n  wharf serve --listen 0.0.0.0:7878 --data-dir /var/lib/wharf\n  WHARF_DATABASE_URL=postgres://wharf@db/wharf wharf serve --admin-token \"$ADMIN\""
)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, env = "WHARF_LISTEN", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// Where the SQLite database and the blobs live.
    #[arg(long, env = "WHARF_DATA_DIR", default_value = ".wharf")]
    data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...` (default: SQLite in the data directory).
    #[arg(long, env = "WHARF_DATABASE_URL")]
    database_url: Option<String>,
    /// The largest accepted upload, e.g. `64MiB`.
    #[arg(long, env = "WHARF_MAX_UPLOAD", default_value = "64MiB", value_parser = wharf_types::units::parse_size)]
    max_upload: u64,
    /// A token with every right, to bootstrap users and tokens.
    #[arg(long, env = "WHARF_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Require a token for reads too.
    #[arg(long, env = "WHARF_PRIVATE")]
    private: bool,
    /// Seconds between garbage collections (expired uploads, unused blobs); 0 never.
    #[arg(long, env = "WHARF_GC_INTERVAL", default_value_t = 3600)]
    gc_interval: u64,
    /// Seconds an unused blob is kept before it may be collected.
    #[arg(long, env = "WHARF_GC_GRACE", default_value_t = 3600)]
    gc_grace: u64,
    /// Seconds an upload may sit idle before it expires.
    #[arg(long, env = "WHARF_UPLOAD_TTL", default_value_t = 86400)]
    upload_ttl: u64,
}

impl Args {
    pub async fn run(self) -> anyhow::Result<()> {
        let mut config = wharf_registry::Config::new(self.data_dir);
        config.listen = self.listen;
        config.database_url = self.database_url;
        config.max_upload_bytes = self.max_upload;
        config.admin_token = self.admin_token;
        config.anonymous_read = !self.private;
        config.gc_interval = std::time::Duration::from_secs(self.gc_interval);
        config.gc_grace = std::time::Duration::from_secs(self.gc_grace);
        config.upload_ttl = std::time::Duration::from_secs(self.upload_ttl);
        let server = wharf_registry::Server::bind(config).await?;
        println!("wharf registry listening on http://{}", server.local_addr());
        server.run(shutdown_signal()).await
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
