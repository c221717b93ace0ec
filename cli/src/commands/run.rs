//! `wharf run --http`: serve a wasi:http component (a deployable, or a package from the
//! registry) with the same host `wharf up` uses.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

use crate::client::{Client, RegistryArgs, package_path};
use crate::host;

/// Serve a wasi:http component: a file, or `ns:name[@requirement]` from the registry.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf run --http 127.0.0.1:8080 edge.wasm --env GATEWAY_JWT_SECRET=s3cret\n  wharf run --http 127.0.0.1:8080 'acme:edge@^1'"
)]
pub struct Args {
    /// A `.wasm` file, or `ns:name[@requirement]` to pull from the registry.
    component: String,
    /// Serve wasi:http on this address (port 0 picks one; the address is printed).
    #[arg(long, value_name = "ADDR", required = true)]
    http: SocketAddr,
    /// An environment variable for the component, `KEY=VALUE` (repeatable). Nothing
    /// else is granted.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl Args {
    pub async fn run(self) -> anyhow::Result<()> {
        let bytes = if Path::new(&self.component).exists() {
            std::fs::read(&self.component).with_context(|| format!("reading {}", self.component))?
        } else {
            let (spec, requirement) = self
                .component
                .split_once('@')
                .unwrap_or((&self.component, "*"));
            let (_, path) = package_path(spec)?;
            let client = Client::new(&self.registry);
            let resolved = client
                .get_json(&format!(
                    "/api/v1/packages/{path}/resolve?requirement={requirement}"
                ))
                .await?;
            let version = resolved["version"].as_str().context("no version")?;
            let digest: wharf_types::Digest =
                resolved["digest"].as_str().context("no digest")?.parse()?;
            let bytes = client
                .get_bytes(&format!(
                    "/api/v1/packages/{path}/versions/{version}/content"
                ))
                .await?;
            anyhow::ensure!(
                digest.matches(&bytes),
                "the download does not match its digest {digest}"
            );
            bytes.to_vec()
        };
        let env = self
            .env
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .with_context(|| format!("`--env {kv}` is not KEY=VALUE"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let served = host::Served::new(&bytes, env)?;
        let listener = host::bind(self.http).await?;
        println!("serving http://{}", listener.local_addr()?);
        tokio::select! {
            () = host::serve(listener, served) => {}
            () = crate::commands::serve::shutdown_signal() => {}
        }
        Ok(())
    }
}
