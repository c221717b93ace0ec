//! `wharf run`: call an exported function of a component (`--invoke`, arguments and
//! results in WAVE) or serve a wasi:http component (`--http`), from a file or from the
//! registry, in the `wharf-host` engine: nothing is granted unless a flag grants it
//! (`--env`, `--dir`, `--allow-http`, `--allow-tcp`, `--allow-udp`), and every call
//! runs under a deadline and a memory cap.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

use crate::client::Client;
use crate::registry::RegistryArgs;
use crate::{host, invoke};

/// Run a component: call one of its functions, or serve it over HTTP.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf run json-transform.wasm --invoke 'canonicalize(\"{\\\"b\\\":1,\\\"a\\\":2}\")'\n  wharf run wharf:json-transform --invoke 'transformer.canonicalize(\"[1, 2.50]\")'\n  wharf run --http 127.0.0.1:8080 edge.wasm --env GATEWAY_JWT_SECRET=s3cret\n  wharf run --http 127.0.0.1:8080 'acme:edge@^1' --deadline 2s --max-memory 64MiB --metrics-addr 127.0.0.1:9090\n  wharf run --http 127.0.0.1:8080 app.wasm --dir ./static::/static:ro --allow-http api.example.com --env API_KEY\n  wharf run --http 127.0.0.1:8080 edge.wasm --manifest wharf.toml\n\nArguments and results are WAVE (https://github.com/bytecodealliance/wasm-tools/tree/main/crates/wasm-wave),\nas with `wasmtime run --invoke`: strings \"...\", lists [1, 2], records {a: 1},\nvariants ok(\"x\"), options some(1) / none. Name an interface's function as\n`iface.f` or `ns:pkg/iface.f`, with `@version` after it when several versions are exported."
)]
#[command(group = clap::ArgGroup::new("mode").required(true).args(["invoke", "http"]))]
pub struct Args {
    /// A `.wasm` file, or `ns:name[@requirement]` to pull from the registry.
    component: String,
    /// Call this exported function, `f(arg, ...)` in WAVE, and print each result.
    #[arg(long, value_name = "CALL")]
    invoke: Option<String>,
    /// Serve wasi:http on this address (port 0 picks one; the address is printed).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Reuse an instance for the next request once a call has returned cleanly
    /// (only for stateless components: the next request sees what the last left).
    #[arg(long, requires = "http")]
    reuse_instances: bool,
    /// Serve Prometheus metrics at `/metrics` on this address (its own listener, so
    /// no path of the component's is taken).
    #[arg(long, value_name = "ADDR", requires = "http")]
    metrics_addr: Option<SocketAddr>,
    /// Take limits and grants from this deploy manifest's `[limits]` and
    /// `[capabilities]` (flags add grants and override limits).
    #[arg(long, value_name = "WHARF_TOML")]
    manifest: Option<std::path::PathBuf>,
    #[command(flatten)]
    capabilities: host::CapabilityArgs,
    #[command(flatten)]
    limits: host::LimitArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl Args {
    /// Whether this run serves HTTP (`--http`) rather than calling one function.
    pub fn serves(&self) -> bool {
        self.http.is_some()
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let bytes = if Path::new(&self.component).exists() {
            std::fs::read(&self.component).with_context(|| format!("reading {}", self.component))?
        } else if self.component.ends_with(".wasm") {
            anyhow::bail!("{} does not exist", self.component);
        } else {
            let fetched = Client::new(&self.registry).fetch(&self.component).await?;
            fetched.bytes.to_vec()
        };
        let manifest = match &self.manifest {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let manifest: wharf_compose::Manifest = text.parse().with_context(|| {
                    format!("{} is not a valid deploy manifest", path.display())
                })?;
                let base = path.parent().unwrap_or(Path::new(".")).to_owned();
                Some((manifest, base))
            }
            None => None,
        };
        let capabilities = self.capabilities.capabilities(
            manifest
                .as_ref()
                .map(|(m, base)| (&m.capabilities, base.as_path())),
        )?;
        let limits = self.limits.limits(match &manifest {
            Some((m, _)) => host::manifest_limits(&m.limits),
            None => wharf_host::Limits::default(),
        });
        let runtime = self.limits.runtime(&limits)?;
        if let Some(call) = &self.invoke {
            for result in invoke::invoke(&runtime, &bytes, call, capabilities, &limits).await? {
                println!("{result}");
            }
            return Ok(());
        }
        let addr = self.http.expect("clap requires --invoke or --http");
        let served = host::prepare(
            &runtime,
            &bytes,
            capabilities,
            limits,
            self.reuse_instances,
            self.limits.prewarm(),
        )
        .await?;
        let listener = host::bind(addr).await?;
        println!("serving http://{}", listener.local_addr()?);
        if let Some((metrics, _)) = host::metrics(self.metrics_addr, &served).await? {
            println!("metrics http://{metrics}/metrics");
        }
        wharf_host::serve(listener, served, crate::commands::serve::shutdown_signal()).await;
        Ok(())
    }
}
