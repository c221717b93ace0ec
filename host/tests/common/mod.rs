//! A served component on a real port, driven with a real HTTP client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wharf_host::{Capabilities, CodeCache, Limits, Runtime, RuntimeOptions, Served};

/// Compiled code shared by the tests of one run, so each component compiles once.
pub fn shared_cache() -> CodeCache {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CodeCache::new(DIR.get_or_init(|| tempfile::tempdir().unwrap()).path())
}

/// Limits small enough for a test: 8 requests at once, a 2 s deadline.
pub fn limits() -> Limits {
    Limits {
        deadline: Duration::from_secs(2),
        max_memory: 64 << 20,
        max_concurrency: 8,
        ..Limits::default()
    }
}

pub fn runtime(limits: &Limits, cache: Option<CodeCache>) -> Runtime {
    let mut options = RuntimeOptions::for_limits(limits);
    options.cache = cache;
    Runtime::new(&options).unwrap()
}

pub struct Server {
    pub addr: SocketAddr,
    pub served: Arc<Served>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
    _runtime: Runtime,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks the server to stop and returns the task that ends when it has drained.
    pub fn shut_down(&mut self) -> tokio::task::JoinHandle<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap()
    }

    pub fn metrics(&self) -> String {
        self.served.metrics().render()
    }
}

/// Serves `bytes` with `capabilities` and `limits` on a free port.
pub async fn start(
    bytes: &[u8],
    capabilities: impl Into<Arc<Capabilities>>,
    limits: Limits,
    reuse: bool,
) -> Server {
    start_with(bytes, capabilities, limits, |served| {
        served.reusing_instances(reuse)
    })
    .await
}

/// [`start`], with `configure` choosing how instances are made.
pub async fn start_with(
    bytes: &[u8],
    capabilities: impl Into<Arc<Capabilities>>,
    limits: Limits,
    configure: impl FnOnce(Served) -> Served,
) -> Server {
    let runtime = runtime(&limits, Some(shared_cache()));
    let (component, _) = runtime.load(bytes).unwrap();
    let served = Arc::new(configure(
        Served::new(&runtime, &component, capabilities, limits).unwrap(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(wharf_host::serve(listener, served.clone(), async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        served,
        stop: Some(stop),
        task: Some(task),
        _runtime: runtime,
    }
}

pub fn probe() -> &'static [u8] {
    wharf_bundled::component("host-probe").unwrap().bytes
}

/// Serves the host-probe component.
pub async fn probe_server(capabilities: Capabilities, limits: Limits) -> Server {
    start(probe(), capabilities, limits, false).await
}

/// `(status, body)` of a GET.
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// A metric's value from the text format, e.g. `wharf_host_limit_hits_total{limit="memory"}`.
/// A metric the text does not carry fails the test: a missing metric is not a zero.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix(name)?;
            // `name` followed by its value, not a longer name that starts with it.
            value.starts_with(' ').then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no metric `{name}` in:\n{text}"))
}

/// Waits until the server's metric `name` reads `value`: how a test knows that a
/// request holds a slot (`wharf_host_requests_in_flight`) or waits for one
/// (`wharf_host_requests_waiting`) instead of guessing with a sleep. Fails after 20 s,
/// a wait no loaded machine needs for a request to reach the host.
pub async fn wait_for_metric(server: &Server, name: &str, value: f64) {
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = server.metrics();
        if metric(&text, name) == value {
            return;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "`{name}` never reached {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An HTTP server on a free port that holds every request until [`Gate::open`], then
/// answers `opened`. A guest fetching from it (the probe's `/http?URL`, granted
/// [`Gate::authority`]) is blocked in host I/O for as long as the test wants: a
/// request that holds its slot, or that only the deadline can stop.
pub struct Gate {
    addr: SocketAddr,
    open: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    pub async fn start() -> Self {
        use http_body_util::Full;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (open, opened) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let opened = opened.clone();
                let service = hyper::service::service_fn(move |_| {
                    let mut opened = opened.clone();
                    async move {
                        let _ = opened.wait_for(|open| *open).await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            bytes::Bytes::from_static(b"opened"),
                        )))
                    }
                });
                connections.spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        Self { addr, open, task }
    }

    /// What to grant: `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// The probe path that fetches from the gate: `/http?http://127.0.0.1:PORT/`.
    pub fn probe_path(&self) -> String {
        format!("/http?http://{}/", self.addr)
    }

    /// Lets every request through, held or still to come.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The example gateway composed with its four plugs by `wharf_compose::plug`.
pub fn composed_gateway() -> Vec<u8> {
    gateway_with_transform_probes(0)
}

/// The composed gateway with `probes` test plugs (`components/transform-probe`)
/// between it and json-transform, each around the next: every probe is a plug of its
/// own, with its own linear memory, and wraps the answer of `/v1/ingest` as
/// `{"calls": N, "output": ...}`, N counting the calls its instance served.
pub fn gateway_with_transform_probes(probes: usize) -> Vec<u8> {
    let bytes = |name: &str| wharf_bundled::component(name).unwrap().bytes;
    let mut transform = bytes("json-transform").to_vec();
    for _ in 0..probes {
        transform = wharf_compose::plug(bytes("transform-probe"), &[&transform]).unwrap();
    }
    let plugs = [
        bytes("jwt-auth"),
        bytes("json-schema"),
        &transform,
        bytes("flate"),
    ];
    wharf_compose::plug(bytes("gateway"), &plugs).unwrap()
}

/// An HS256 token for `audience`, valid for five minutes, signed with `secret`.
pub fn token(secret: &str, audience: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "ann", "aud": audience, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn temp_dir() -> PathBuf {
    tempfile::tempdir().unwrap().keep()
}
