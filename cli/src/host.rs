//! The flags that configure the host (`wharf-host`): capabilities, limits, the
//! compiled-code cache and metrics, shared by `wharf run` and `wharf up`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wharf_host::{Capabilities, CodeCache, Limits, Preopen, Runtime, RuntimeOptions, Served};

/// Capabilities granted to the component: nothing unless a flag grants it.
#[derive(clap::Args, Debug, Default)]
pub struct CapabilityArgs {
    /// An environment variable for the component: `KEY=VALUE`, or `KEY` to pass this
    /// process's value (repeatable). No other variable is visible.
    #[arg(long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// A host directory the component may open: `host::guest`, read-write, or
    /// `host::guest:ro`, read-only (repeatable).
    #[arg(long = "dir", value_name = "HOST::GUEST[:ro]")]
    pub dirs: Vec<Preopen>,
    /// A host the component may call over wasi:http: `api.example.com` (any port),
    /// `127.0.0.1:8080` (that port), `*` (any) (repeatable).
    #[arg(long = "allow-http", value_name = "HOST[:PORT]")]
    pub allow_http: Vec<String>,
    /// Let the component open TCP connections and listen (wasi:sockets).
    #[arg(long)]
    pub allow_tcp: bool,
    /// Let the component use UDP (wasi:sockets).
    #[arg(long)]
    pub allow_udp: bool,
}

impl CapabilityArgs {
    /// What these flags grant, added to what a deploy manifest's `[capabilities]`
    /// grants (`manifest` and the directory its relative paths start from). A flag
    /// never takes a manifest's grant away; `--env KEY=VALUE` overrides its value.
    pub fn capabilities(
        &self,
        manifest: Option<(&wharf_compose::manifest::Capabilities, &Path)>,
    ) -> anyhow::Result<Capabilities> {
        let mut capabilities = Capabilities::default();
        if let Some((granted, base)) = manifest {
            for kv in &granted.env {
                capabilities
                    .env
                    .push(env_grant(kv, "the manifest's `env`")?);
            }
            for dir in &granted.dirs {
                let mut preopen: Preopen = dir
                    .parse()
                    .map_err(|e| anyhow::anyhow!("the manifest's `dirs`: {e}"))?;
                if preopen.host.is_relative() {
                    preopen.host = base.join(&preopen.host);
                }
                capabilities.dirs.push(preopen);
            }
            capabilities
                .http_hosts
                .extend(granted.allow_http.iter().cloned());
            capabilities.tcp = granted.allow_tcp;
            capabilities.udp = granted.allow_udp;
        }
        for kv in &self.env {
            let (key, value) = env_grant(kv, "`--env`")?;
            capabilities.env.retain(|(k, _)| *k != key);
            capabilities.env.push((key, value));
        }
        capabilities.dirs.extend(self.dirs.iter().cloned());
        capabilities
            .http_hosts
            .extend(self.allow_http.iter().cloned());
        capabilities.tcp |= self.allow_tcp;
        capabilities.udp |= self.allow_udp;
        Ok(capabilities)
    }
}

/// `KEY=VALUE`, or `KEY` for this process's value.
fn env_grant(kv: &str, source: &str) -> anyhow::Result<(String, String)> {
    match kv.split_once('=') {
        Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
        None => std::env::var(kv)
            .map(|v| (kv.to_owned(), v))
            .with_context(|| format!("{source} grants {kv}, which is not set here")),
    }
}

/// A duration flag that zero would make useless (a header read timeout of 0 closes
/// every connection at once).
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match wharf_host::parse_duration(text)? {
        d if d.is_zero() => Err(format!("`{text}` must be more than zero")),
        d => Ok(d),
    }
}

/// A count of at least one.
pub fn positive_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(format!("`{text}` must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// A deploy manifest's `[limits]` over the host's defaults.
pub fn manifest_limits(declared: &wharf_compose::manifest::Limits) -> Limits {
    let mut limits = Limits::default();
    if let Some(deadline) = declared.deadline {
        limits.deadline = deadline;
    }
    if let Some(max) = declared.max_memory {
        limits.max_memory = max;
    }
    if let Some(max) = declared.max_request_body {
        limits.max_request_body = max;
    }
    if let Some(max) = declared.max_response_body {
        limits.max_response_body = max;
    }
    if let Some(max) = declared.max_concurrency {
        limits.max_concurrency = max;
    }
    if let Some(wait) = declared.queue_timeout {
        limits.queue_timeout = wait;
    }
    limits
}

/// Limits, cache and metrics of the host.
#[derive(clap::Args, Debug, Default)]
pub struct LimitArgs {
    /// Wall-clock time one request (or `--invoke` call) may take: `250ms`, `5s`.
    /// Past it the guest is interrupted and the request answered 504. [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = wharf_host::parse_duration)]
    pub deadline: Option<Duration>,
    /// Linear memory one instance may hold, over all its memories: `64MiB`. Past it
    /// growth fails in the guest, which usually traps (500). [default: 256MiB]
    #[arg(long, value_name = "SIZE", value_parser = wharf_host::parse_size)]
    pub max_memory: Option<u64>,
    /// Largest request body: `1MiB`; a larger declared length is answered 413.
    /// [default: 16MiB]
    #[arg(long, value_name = "SIZE", value_parser = wharf_host::parse_size)]
    pub max_body: Option<u64>,
    /// Largest response body; a longer one is cut off. [default: 64MiB]
    #[arg(long, value_name = "SIZE", value_parser = wharf_host::parse_size)]
    pub max_response_body: Option<u64>,
    /// Requests handled at once; others wait for a slot. [default: 64]
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<usize>,
    /// How long a request waits for a slot before it gets 503. [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = wharf_host::parse_duration)]
    pub queue_timeout: Option<Duration>,
    /// How long a client may take to send a request's line and headers before its
    /// connection is closed. [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub header_read_timeout: Option<Duration>,
    /// Connections served at once; more wait until one closes. [default: 2048]
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub max_connections: Option<usize>,
    /// Fresh instances made ahead of the requests that will take them, each still
    /// used for one request only; 0 makes each when its request arrives. Ignored
    /// with `--reuse-instances`. [default: 2]
    #[arg(long, value_name = "N")]
    pub prewarm: Option<usize>,
    /// Where compiled code is cached. [default: $XDG_CACHE_HOME/wharf/compiled]
    #[arg(long, env = "WHARF_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile in memory; read and write no cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Describe guest code to a native profiler, as `wasmtime run --profile` does:
    /// `perfmap` writes /tmp/perf-<pid>.map for `perf report`, `jitdump` writes
    /// jit-<pid>.dump for `perf inject --jit`.
    #[arg(long, value_name = "STRATEGY", value_enum)]
    pub profile: Option<ProfileArg>,
}

/// `--profile`'s values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ProfileArg {
    Perfmap,
    Jitdump,
}

impl LimitArgs {
    /// The limits: these flags over `base` (the deploy manifest's, or the defaults).
    pub fn limits(&self, base: Limits) -> Limits {
        Limits {
            deadline: self.deadline.unwrap_or(base.deadline),
            max_memory: self.max_memory.unwrap_or(base.max_memory),
            max_request_body: self.max_body.unwrap_or(base.max_request_body),
            max_response_body: self.max_response_body.unwrap_or(base.max_response_body),
            max_concurrency: self.max_concurrency.unwrap_or(base.max_concurrency),
            queue_timeout: self.queue_timeout.unwrap_or(base.queue_timeout),
            header_read_timeout: self.header_read_timeout.unwrap_or(base.header_read_timeout),
            max_connections: self.max_connections.unwrap_or(base.max_connections),
        }
    }

    /// How many fresh instances to keep made ahead of their requests.
    pub fn prewarm(&self) -> usize {
        self.prewarm.unwrap_or(wharf_host::DEFAULT_PREWARM)
    }

    /// The engine for `limits`, with the cache these flags choose.
    pub fn runtime(&self, limits: &Limits) -> anyhow::Result<Runtime> {
        let mut options = RuntimeOptions::for_limits(limits);
        if self.no_cache {
            options.cache = None;
        } else if let Some(dir) = &self.cache_dir {
            options.cache = Some(CodeCache::new(dir));
        }
        options.profile = match self.profile {
            None => wharf_host::Profile::None,
            Some(ProfileArg::Perfmap) => wharf_host::Profile::PerfMap,
            Some(ProfileArg::Jitdump) => wharf_host::Profile::JitDump,
        };
        Ok(Runtime::new(&options)?)
    }
}

/// Derives the deployable's serving image (its plugs pre-initialized, see
/// docs/host.md), compiles it (or loads both from the cache) and links it.
pub async fn prepare(
    runtime: &Runtime,
    bytes: &[u8],
    capabilities: Capabilities,
    limits: Limits,
    reuse: bool,
    prewarm: usize,
) -> anyhow::Result<Arc<Served>> {
    let started = std::time::Instant::now();
    let capabilities = Arc::new(capabilities);
    // A restart finds the image's compiled code by the digest recorded beside the
    // image, without reading the image (its checks were said when it was made).
    let (component, outcome) = match runtime.cached_serving_component(bytes, &capabilities) {
        Some(component) => (component, wharf_host::CacheOutcome::Loaded),
        None => compile_serving_image(runtime, bytes, &capabilities, &limits).await?,
    };
    tracing::debug!(?outcome, elapsed = ?started.elapsed(), "component ready");
    if let wharf_host::CacheOutcome::Rebuilt(why) = &outcome {
        crate::status!("Rebuilt", "the compiled-code cache entry ({why})");
    }
    let served = Served::new(runtime, &component, capabilities, limits)?
        .reusing_instances(reuse)
        .prewarming(prewarm);
    if !matches!(outcome, wharf_host::CacheOutcome::Loaded) {
        served.metrics().compilations.inc();
    }
    Ok(Arc::new(served))
}

/// The serving image of `bytes`, derived (or read back) and compiled (or loaded):
/// the way of a first start, which also warns of modules without a copy-on-write
/// memory image.
async fn compile_serving_image(
    runtime: &Runtime,
    bytes: &[u8],
    capabilities: &Arc<Capabilities>,
    limits: &Limits,
) -> anyhow::Result<(wasmtime::component::Component, wharf_host::CacheOutcome)> {
    let started = std::time::Instant::now();
    let image = match runtime.serving_image(bytes, capabilities, limits).await {
        Ok((image, outcome)) => {
            tracing::debug!(?outcome, elapsed = ?started.elapsed(), "serving image ready");
            image
        }
        Err(e) => {
            // Correct answers never depend on pre-initialization: serve the
            // deployable as it is, only slower.
            tracing::warn!(error = %e, "serving the deployable without pre-initializing it");
            bytes.to_vec()
        }
    };
    // A module without a copy-on-write image copies its data into every instance.
    for fallback in wharf_host::copy_on_write_fallbacks(&image).unwrap_or_default() {
        tracing::warn!(%fallback, "no copy-on-write memory image: each instance copies its data");
    }
    Ok(runtime.load(&image)?)
}

/// Serves the metrics on `addr`, if given, until `shutdown`.
pub async fn metrics(
    addr: Option<SocketAddr>,
    served: &Served,
) -> anyhow::Result<Option<(SocketAddr, tokio::task::JoinHandle<()>)>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} for metrics"))?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(wharf_host::serve_metrics(
        listener,
        served.metrics().clone(),
        std::future::pending(),
    ));
    Ok(Some((bound, task)))
}

/// Binds `addr` for serving.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))
}
