//! A real Wharf server on a free loopback port, for tests that drive it with other
//! programs and libraries.

use std::net::SocketAddr;

use serde_json::json;
use wharf_registry::{Config, Server};

/// The admin token of servers started here.
pub const ADMIN: &str = "interop-admin-token";

/// A running registry; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    /// Starts a registry on SQLite in a temporary directory.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::new(dir.path());
        config.listen = "127.0.0.1:0".parse()?;
        config.admin_token = Some(ADMIN.into());
        let server = Server::bind(config).await?;
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            dir,
            stop: Some(stop),
        })
    }

    /// `127.0.0.1:<port>`, as OCI clients name registries.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An API token for `owner` with the `publish` and `yank` scopes.
    pub async fn token(&self, owner: &str) -> anyhow::Result<String> {
        let reply: serde_json::Value = reqwest::Client::new()
            .post(self.url("/api/v1/tokens"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "interop", "owner": owner, "scopes": ["publish", "yank"]}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(reply["token_secret"].as_str().expect("a secret").to_owned())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Whether a command is on PATH; the setup script installs what these tests need.
pub fn require(program: &str, install: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed; run scripts/setup (it runs `{install}`)"
    );
}
