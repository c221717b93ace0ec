//! The server: a bound listener and the registry it serves, the connections it
//! accepts (within the configured limits), the garbage collector it runs beside
//! them, and a graceful stop. What each request does is [`crate::http`]'s.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use crate::{AppState, Config, app};

/// What one connection may hold: a client that never finishes its request head (a
/// slowloris) is cut off, and a flood of connections waits in the backlog rather than
/// exhausting file descriptors and memory.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_read_timeout: std::time::Duration,
    max_connections: usize,
}

/// Serves `app` on `listener` (HTTP/1.1, and HTTP/2 with prior knowledge, as
/// `axum::serve` does) within `limits` until `shutdown`; then stops accepting, lets
/// requests in flight finish and closes idle connections.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A slot first, then a connection: at the cap, new ones wait in the backlog.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                // The guard `wait_for` answers is not `Send`: drop it inside.
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// Publishes into a registry as its configured admin, from the process that runs it
/// (`wharf up` seeds its registry so): the rules of every publish, without HTTP.
#[derive(Clone)]
pub struct Publisher {
    state: AppState,
}

impl Publisher {
    /// Publishes `bytes` (a component or binary WIT package) as `name@version`; what
    /// the JSON API's publish answers, or why it refused (`VERSION_EXISTS`, ...).
    pub async fn publish(
        &self,
        name: &wharf_types::PackageName,
        version: &str,
        bytes: bytes::Bytes,
    ) -> Result<crate::views::Published, crate::service::ServiceError> {
        let admin = crate::service::access::Principal::admin();
        self.state.publish(&admin, name, version, bytes, None).await
    }
}

/// A bound, not yet running, server.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
}

impl Server {
    /// Binds the listen address and opens the registry ([`AppState::open`]); a zero
    /// `header_read_timeout` or `body_timeout` is refused.
    pub async fn bind(mut config: Config) -> anyhow::Result<Self> {
        if config.header_read_timeout.is_zero() {
            anyhow::bail!(
                "`header_read_timeout` must be more than zero: 0 closes every connection"
            );
        }
        if config.body_timeout.is_zero() {
            anyhow::bail!("`body_timeout` must be more than zero: 0 refuses every body");
        }
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        // The default public URL is the address actually bound (port 0 becomes the port
        // picked), so tokens' realm is reachable.
        config.listen = listener.local_addr()?;
        if config.public_url.is_none() && config.listen.ip().is_unspecified() {
            tracing::warn!(
                listen = %config.listen,
                "listening on every interface without --public-url: clients are sent to \
                 http://{} for tokens; set --public-url to the address they reach",
                config.listen
            );
        }
        let state = AppState::open(config).await?;
        Ok(Self { listener, state })
    }

    /// The address bound (the port picked, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The state the server will serve.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle that publishes into this registry as its admin, before and while it
    /// serves.
    pub fn publisher(&self) -> Publisher {
        Publisher {
            state: self.state.clone(),
        }
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let db = self.state.db.clone();
        let collector = (!self.state.config.gc_interval.is_zero()).then(|| {
            let state = self.state.clone();
            tokio::spawn(async move {
                let config = state.config.clone();
                let mut ticks = tokio::time::interval(config.gc_interval);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    if let Err(e) = state
                        .collect_garbage(config.gc_grace, config.upload_ttl)
                        .await
                    {
                        tracing::warn!(error = ?e, "garbage collection failed");
                    }
                }
            })
        });
        let limits = ConnectionLimits {
            header_read_timeout: self.state.config.header_read_timeout,
            max_connections: self.state.config.max_connections,
        };
        serve_connections(self.listener, app(self.state), limits, shutdown).await;
        if let Some(collector) = collector {
            collector.abort();
        }
        db.close().await;
        Ok(())
    }
}
