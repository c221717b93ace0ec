//! Serving a wasi:http component over hyper: one `InstancePre` built at start, a
//! fresh store and instance per request, made ahead of the request that takes it
//! (or, opt-in, reused instances), limits enforced around each call, a log line and
//! metrics per request, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use wasmtime::component::Component;
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::metrics::Counted;
use crate::state::{Host, arm_deadline, linker, new_store};
use crate::{Capabilities, Error, Limits, Metrics, Runtime};

/// A compiled wasi:http component, linked once, ready to serve.
pub struct Served {
    engine: Engine,
    /// Whether the engine counts instructions (only then has a store fuel).
    counts_instructions: bool,
    pre: ProxyPre<Host>,
    capabilities: Arc<Capabilities>,
    limits: Limits,
    slots: Arc<Semaphore>,
    metrics: Metrics,
    /// Instances kept after a clean call, for `--reuse-instances`.
    idle: Option<Mutex<Vec<Idle>>>,
    /// Fresh instances made ahead of the requests that will take them, and how many
    /// to keep ready ([`Served::prewarming`]).
    ready: Mutex<Vec<Fresh>>,
    prewarm: usize,
    /// The thread that makes instances for `ready` and drops used ones, once
    /// started: `None` asks it to top `ready` up, an instance to drop it first.
    maker: std::sync::OnceLock<std::sync::mpsc::SyncSender<Option<Idle>>>,
}

/// The default of [`Served::prewarming`]: enough that a request arriving while the
/// previous one runs finds an instance ready.
pub const DEFAULT_PREWARM: usize = 2;

/// A fresh instance, never called, and what making it took.
struct Fresh {
    store: Store<Host>,
    proxy: Proxy,
    /// The store alone, and the store and instance together.
    store_took: Duration,
    took: Duration,
}

struct Idle {
    store: Store<Host>,
    proxy: Proxy,
}

/// How a guest call ended.
#[derive(Debug)]
enum Ended {
    Returned,
    Deadline,
    Memory(String),
    Trapped(String),
}

impl Served {
    /// Links `component` against WASI and wasi:http and prepares its instantiation.
    pub fn new(
        runtime: &Runtime,
        component: &Component,
        capabilities: impl Into<Arc<Capabilities>>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let capabilities = capabilities.into();
        capabilities.check()?;
        let engine = runtime.engine().clone();
        let pre = linker(&engine)?
            .instantiate_pre(component)
            .map_err(|e| Error::Link(format!("{e:?}")))?;
        let pre = ProxyPre::new(pre).map_err(|e| Error::NotAProxy(format!("{e:?}")))?;
        Ok(Self {
            engine,
            counts_instructions: runtime.counts_instructions(),
            pre,
            capabilities,
            slots: Arc::new(Semaphore::new(limits.max_concurrency.max(1))),
            limits,
            metrics: Metrics::new(),
            idle: None,
            ready: Mutex::new(Vec::new()),
            prewarm: DEFAULT_PREWARM,
            maker: std::sync::OnceLock::new(),
        })
    }

    /// Keep `count` fresh instances made ahead of the requests that will take them
    /// (0: make each one when its request arrives). Each is still used for one request
    /// only: this moves instantiation off a request's path, onto a core that would
    /// otherwise wait, without sharing anything between requests. Not with
    /// [`Served::reusing_instances`], which keeps instances of its own. At most
    /// `max_concurrency`.
    pub fn prewarming(mut self, count: usize) -> Self {
        self.prewarm = count.min(self.limits.max_concurrency);
        self
    }

    /// Reuse an instance for the next request once a call has returned cleanly,
    /// instead of instantiating afresh. Only for stateless deployables: whatever a
    /// request leaves in the instance's memory, the next one sees. An instance that
    /// trapped or hit a limit is never reused.
    pub fn reusing_instances(mut self, reuse: bool) -> Self {
        self.idle = reuse.then(|| Mutex::new(Vec::new()));
        self
    }

    /// This component's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The limits requests run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Handles one request: the guest's response, or the host's own answer when a
    /// limit stopped it (413, 503, 504) or the guest failed (500).
    pub async fn handle(
        self: &Arc<Self>,
        request: Request<Incoming>,
    ) -> Response<HyperOutgoingBody> {
        let accepted = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let mut timing = Timing::default();
        let response = match self.respond(request, accepted, &mut timing).await {
            Ok(response) => response,
            Err((status, message)) => plain(status, message),
        };
        let status = response.status();
        self.metrics
            .requests
            .with_label_values(&[status.as_str()])
            .inc();
        self.metrics
            .latency
            .observe(accepted.elapsed().as_secs_f64());
        let line = RequestLine {
            method,
            path,
            status: status.as_u16(),
            store: timing.store,
            instantiate: timing.instantiate,
            prewarmed: timing.prewarmed,
            handler: timing.handler,
            response: None,
        };
        match timing.log.take() {
            // The guest is still writing the body: its task logs when it returns.
            Some(pending) => pending.head(line),
            None => line.emit(),
        }
        response
    }

    async fn respond(
        self: &Arc<Self>,
        request: Request<Incoming>,
        accepted: Instant,
        timing: &mut Timing,
    ) -> Result<Response<HyperOutgoingBody>, (StatusCode, &'static str)> {
        let max_request = self.limits.max_request_body;
        let declared = request
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max_request) {
            self.metrics.limit("request_body");
            return Err((StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"));
        }

        let deadline_at = accepted + self.limits.deadline;
        let queue_until = deadline_at.min(accepted + self.limits.queue_timeout);
        let waiting = Counted::new(&self.metrics.waiting);
        let acquired =
            tokio::time::timeout_at(queue_until.into(), self.slots.clone().acquire_owned()).await;
        drop(waiting);
        // The slot, counted in flight until the guest's task lets it go (the count
        // first, then the permit, so the gauge never shows more than the cap).
        let slot = match acquired {
            Ok(Ok(permit)) => (Counted::new(&self.metrics.in_flight), permit),
            _ => {
                self.metrics.limit("concurrency");
                return Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many requests in flight\n",
                ));
            }
        };

        // A body streamed past the cap fails the guest's read with a wasi:http error.
        let metrics = self.metrics.clone();
        let request = request.map(move |body| {
            Limited::new(body, max_request as usize).map_err(move |e| {
                match e.downcast::<hyper::Error>() {
                    Ok(e) => wasmtime_wasi_http::Error::Hyper(*e),
                    Err(_) => {
                        metrics.limit("request_body");
                        wasmtime_wasi_http::Error::HttpRequestBodySize(Some(max_request))
                    }
                }
            })
        });

        let reused = self
            .idle
            .as_ref()
            .and_then(|idle| idle.lock().expect("idle instances").pop());
        let (mut store, proxy, fuel) = match reused {
            Some(Idle { mut store, proxy }) => {
                arm_deadline(&mut store, self.limits.deadline);
                let fuel = self
                    .counts_instructions
                    .then(|| store.get_fuel().ok())
                    .flatten();
                (store, proxy, fuel)
            }
            None => {
                let made = self.ready.lock().expect("ready instances").pop();
                let fresh = match made {
                    Some(fresh) => {
                        self.metrics.prewarmed.inc();
                        self.metrics.ready.dec();
                        timing.prewarmed = true;
                        fresh
                    }
                    None => self.instantiate().await?,
                };
                self.refill();
                let Fresh {
                    mut store,
                    proxy,
                    store_took,
                    took,
                } = fresh;
                timing.store = Some(store_took);
                timing.instantiate = Some(took);
                arm_deadline(&mut store, self.limits.deadline);
                // A fresh instance's count includes its instantiation's instructions.
                (store, proxy, self.counts_instructions.then_some(u64::MAX))
            }
        };
        // Growths before the call (a fresh instance's memories being created) are
        // instantiation's.
        let growths_before = store.data().memory.growths;

        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| {
                tracing::warn!(error = ?e, "a request the guest cannot be given");
                (StatusCode::BAD_REQUEST, "bad request\n")
            })?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(tx)
            .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"))?;

        let called = Instant::now();
        let served = self.clone();
        let pending = PendingLine::new(&self.metrics);
        timing.log = Some(pending.clone());
        let task = tokio::spawn(async move {
            let call = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out);
            let ended = match tokio::time::timeout_at(deadline_at.into(), call).await {
                Err(_) => Ended::Deadline,
                Ok(Ok(())) => Ended::Returned,
                Ok(Err(e)) => {
                    if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
                        Ended::Deadline
                    } else if store.data().memory.refused {
                        Ended::Memory(format!("{e:?}"))
                    } else {
                        Ended::Trapped(format!("{e:?}"))
                    }
                }
            };
            if let Some(before) = fuel
                && let Ok(left) = store.get_fuel()
            {
                served.metrics.instructions.inc_by(before - left);
            }
            served
                .metrics
                .memory_growths
                .inc_by(store.data().memory.growths - growths_before);
            let mut done = Some(Idle { store, proxy });
            match &ended {
                Ended::Returned => {
                    if let Some(idle) = &served.idle {
                        let mut idle = idle.lock().expect("idle instances");
                        if idle.len() < served.limits.max_concurrency {
                            idle.extend(done.take());
                        }
                    }
                }
                Ended::Deadline => {
                    served.metrics.traps.inc();
                    served.metrics.limit("deadline");
                }
                Ended::Memory(e) => {
                    served.metrics.traps.inc();
                    served.metrics.limit("memory");
                    tracing::warn!(error = %e, "the guest ran out of its memory budget");
                }
                Ended::Trapped(e) => {
                    served.metrics.traps.inc();
                    tracing::warn!(error = %e, "the guest trapped");
                }
            }
            drop(slot);
            pending.returned(called.elapsed());
            if let Some(done) = done {
                served.retire(done);
            }
            ended
        });

        let head = rx.await;
        let handler = called.elapsed();
        self.metrics.phase("handler", handler);
        timing.handler = Some(handler);
        match head {
            Ok(Ok(response)) => Ok(self.cap_response(response)),
            Ok(Err(code)) => {
                tracing::warn!(?code, "the guest answered with an error code");
                Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"))
            }
            Err(_) => match task.await {
                Ok(Ended::Deadline) => Err((StatusCode::GATEWAY_TIMEOUT, "deadline exceeded\n")),
                Ok(_) | Err(_) => Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")),
            },
        }
    }

    /// A fresh store and instance, timed into the metrics.
    async fn instantiate(&self) -> Result<Fresh, (StatusCode, &'static str)> {
        let started = Instant::now();
        let mut store = new_store(
            &self.engine,
            self.counts_instructions,
            &self.capabilities,
            &self.limits,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "preparing a store");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        })?;
        let store_took = started.elapsed();
        self.metrics.phase("store", store_took);
        let proxy = match self.pre.instantiate_async(&mut store).await {
            Ok(proxy) => proxy,
            Err(e) => {
                let memory = store.data().memory.refused;
                self.metrics.traps.inc();
                if memory {
                    self.metrics.limit("memory");
                }
                tracing::warn!(error = ?e, "instantiating the component");
                return Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"));
            }
        };
        let took = started.elapsed();
        self.metrics.instantiation.observe(took.as_secs_f64());
        self.metrics.phase("instantiate", took - store_took);
        Ok(Fresh {
            store,
            proxy,
            store_took,
            took,
        })
    }

    /// Whether more requests are in flight than instances are made ahead: then every
    /// core has requests to run, work handed to the maker thread would only add
    /// wake-ups and cross-core copies, and requests instantiate and drop their own.
    fn busy(&self) -> bool {
        let in_flight = self.limits.max_concurrency.max(1) - self.slots.available_permits();
        in_flight > self.prewarm
    }

    /// Asks the thread that makes instances ahead to top them up (see
    /// [`Served::warm_up`]).
    fn refill(&self) {
        if self.busy() {
            return;
        }
        if let Some(maker) = self.maker.get() {
            // A full channel holds messages the thread has yet to see, and it tops
            // up after each.
            let _ = maker.try_send(None);
        }
    }

    /// Drops a used instance: on the thread that makes instances, when there is one
    /// and it keeps up, otherwise here. Dropping resets the instance's memories (a
    /// copy of every page it wrote) and frees its slots.
    fn retire(&self, done: Idle) {
        if self.busy() {
            return;
        }
        if let Some(maker) = self.maker.get() {
            // Full or gone, the message comes back and is dropped here.
            let _ = maker.try_send(Some(done));
        }
    }

    /// Starts the thread that keeps [`Served::prewarming`]'s count of fresh instances
    /// ready and drops used ones, and has it make them before the first request
    /// arrives; [`serve`] calls it. A thread of its own, not a task: the scheduler
    /// runs it on a core that would otherwise wait, where a task spawned from a
    /// request would run on that request's thread (a used instance's drop, left to
    /// the request's task, delayed the next request on the same thread). It ends with
    /// the last `Arc` of this `Served`. An instantiation that fails (logged and
    /// counted like a request's) stops it until the next request.
    pub fn warm_up(self: &Arc<Self>) {
        if self.prewarm == 0 || self.idle.is_some() {
            return;
        }
        // Room for a wake-up and a few used instances; past it they drop in place.
        let (maker, jobs) = std::sync::mpsc::sync_channel::<Option<Idle>>(8);
        if self.maker.set(maker).is_err() {
            return; // already running
        }
        let served = Arc::downgrade(self);
        let started = std::thread::Builder::new()
            .name("wharf-prewarm".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
                    return;
                };
                while let Ok(job) = jobs.recv() {
                    // A used instance first: its slots are the next one's.
                    drop(job);
                    let Some(served) = served.upgrade() else {
                        return;
                    };
                    while served.ready.lock().expect("ready instances").len() < served.prewarm {
                        let Ok(fresh) = runtime.block_on(served.instantiate()) else {
                            break;
                        };
                        served.ready.lock().expect("ready instances").push(fresh);
                        served.metrics.ready.inc();
                    }
                }
            });
        match started {
            Ok(_) => self.refill(),
            Err(e) => tracing::warn!(error = %e, "starting the thread that makes instances ahead"),
        }
    }

    /// Caps the response body: a declared length over the cap is answered 500, a
    /// streamed body is cut off at the cap.
    fn cap_response(&self, response: Response<HyperOutgoingBody>) -> Response<HyperOutgoingBody> {
        let max = self.limits.max_response_body;
        let declared = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max) {
            self.metrics.limit("response_body");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "response body too large\n",
            );
        }
        let metrics = self.metrics.clone();
        response.map(move |body| {
            Limited::new(body, max as usize)
                .map_err(move |e| match e.downcast::<wasmtime_wasi_http::Error>() {
                    Ok(e) => *e,
                    Err(_) => {
                        metrics.limit("response_body");
                        wasmtime_wasi_http::Error::HttpResponseBodySize(Some(max))
                    }
                })
                .boxed_unsync()
        })
    }
}

#[derive(Default)]
struct Timing {
    store: Option<Duration>,
    instantiate: Option<Duration>,
    /// The instance was made ahead of the request ([`Served::prewarming`]).
    prewarmed: bool,
    handler: Option<Duration>,
    /// Set once the guest was called: its task and [`Served::handle`] meet there.
    log: Option<PendingLine>,
}

/// One request's log line: `store_us` (a fresh store), `instantiate_us` (store and
/// instance together, as the instantiation histogram counts it, whether made for this
/// request or ahead of it, as `prewarmed` says), `handler_us` (the guest's call to its
/// response head), `response_us` (from the response head until the guest returned,
/// its body written).
struct RequestLine {
    method: hyper::Method,
    path: String,
    status: u16,
    store: Option<Duration>,
    instantiate: Option<Duration>,
    prewarmed: bool,
    handler: Option<Duration>,
    response: Option<Duration>,
}

impl RequestLine {
    fn emit(self) {
        let us = |d: Option<Duration>| d.map(|d| d.as_micros() as u64);
        tracing::info!(
            target: "wharf_host::request",
            method = %self.method,
            path = %self.path,
            status = self.status,
            store_us = us(self.store),
            instantiate_us = us(self.instantiate),
            prewarmed = self.prewarmed,
            handler_us = us(self.handler),
            response_us = us(self.response),
            "request"
        );
    }
}

/// A request's line, written by whichever comes second: the answer's head (with
/// the status) or the guest's return (with the time it took in all).
#[derive(Clone)]
struct PendingLine(Arc<Mutex<Pending>>);

struct Pending {
    line: Option<RequestLine>,
    returned: Option<Duration>,
    metrics: Metrics,
}

impl PendingLine {
    fn new(metrics: &Metrics) -> Self {
        Self(Arc::new(Mutex::new(Pending {
            line: None,
            returned: None,
            metrics: metrics.clone(),
        })))
    }

    fn head(&self, line: RequestLine) {
        let mut pending = self.0.lock().expect("a request's log line");
        match pending.returned {
            Some(called) => pending.emit(line, called),
            None => pending.line = Some(line),
        }
    }

    fn returned(&self, called: Duration) {
        let mut pending = self.0.lock().expect("a request's log line");
        match pending.line.take() {
            Some(line) => pending.emit(line, called),
            None => pending.returned = Some(called),
        }
    }
}

impl Pending {
    fn emit(&self, mut line: RequestLine, called: Duration) {
        line.response = line.handler.map(|h| called.saturating_sub(h));
        if let Some(response) = line.response {
            self.metrics.phase("response", response);
        }
        line.emit();
    }
}

fn plain(status: StatusCode, message: &'static str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(message.as_bytes()))
        .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Serves `served` on `listener` (HTTP/1.1, keep-alive) until `shutdown` resolves;
/// then stops accepting, lets requests in flight finish (each is bounded by the
/// deadline) and closes idle connections, and returns.
pub async fn serve(listener: TcpListener, served: Arc<Served>, shutdown: impl Future<Output = ()>) {
    served.warm_up();
    let limits = served.limits().clone();
    let service = move |request: Request<Incoming>| {
        let served = served.clone();
        async move { Ok::<_, Infallible>(served.handle(request).await) }
    };
    let connections = (limits.header_read_timeout, limits.max_connections);
    accept_loop(listener, service, connections, shutdown).await;
}

/// Serves the metrics in Prometheus's text format at `GET /metrics` on a listener
/// of their own, so that no path of the guest's is taken, until `shutdown`.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let service = move |request: Request<Incoming>| {
        let metrics = metrics.clone();
        async move {
            let (status, body) = if request.uri().path() == "/metrics" {
                (StatusCode::OK, metrics.render())
            } else {
                (StatusCode::NOT_FOUND, "see /metrics\n".to_owned())
            };
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            Ok::<_, Infallible>(response)
        }
    };
    let limits = Limits::default();
    let connections = (limits.header_read_timeout, limits.max_connections);
    accept_loop(listener, service, connections, shutdown).await;
}

/// `connection_limits`: how long a request head may take to arrive, and how many
/// connections are served at once (more wait in the backlog for a slot).
async fn accept_loop<S, F, B>(
    listener: TcpListener,
    service: S,
    connection_limits: (Duration, usize),
    shutdown: impl Future<Output = ()>,
) where
    S: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let (header_read_timeout, max_connections) = connection_limits;
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            (slot, accepted) = async {
                let slot = slots.clone().acquire_owned().await;
                (slot, listener.accept().await)
            } => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, do not spin.
                        tracing::warn!(error = %e, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let mut stopping = stopping.clone();
                connections.spawn(async move {
                    let _slot = slot;
                    let connection = http1::Builder::new()
                        .keep_alive(true)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(header_read_timeout)
                        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(service));
                    tokio::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        _ = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}
