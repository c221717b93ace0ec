//! A small wasi:http host: serves a component with wasmtime, a fresh store and
//! instance per request from one `InstancePre`, over hyper. The environment given is
//! the only capability granted (no files, no sockets, no inherited variables).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What a store holds: WASI and wasi:http state. The environment given is the only
/// capability granted.
pub struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// Compiles a component, saying so when the bytes are not one.
pub fn compile(engine: &Engine, component: &[u8]) -> anyhow::Result<Component> {
    Component::new(engine, component).map_err(|e| anyhow::anyhow!("compiling the component: {e:?}"))
}

/// A linker offering WASI 0.2 and wasi:http, nothing else.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    Ok(linker)
}

/// A fresh store whose guest sees exactly the variables in `env`: no files, no
/// sockets, no inherited environment, no arguments.
pub fn store(engine: &Engine, env: &[(String, String)]) -> Store<Host> {
    let mut wasi = WasiCtx::builder();
    for (key, value) in env {
        wasi.env(key, value);
    }
    let host = Host {
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
    };
    Store::new(engine, host)
}

/// A compiled wasi:http component, ready to instantiate per request.
pub struct Served {
    engine: Engine,
    pre: ProxyPre<Host>,
    env: Vec<(String, String)>,
}

impl Served {
    /// Compiles `component` and links WASI and wasi:http.
    pub fn new(component: &[u8], env: Vec<(String, String)>) -> anyhow::Result<Arc<Self>> {
        let engine = Engine::new(&Config::new())?;
        let component = compile(&engine, component)?;
        let linker = linker(&engine)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)
            .map_err(|e| anyhow::anyhow!("the deployable is not a wasi:http proxy: {e:?}"))?;
        Ok(Arc::new(Self { engine, pre, env }))
    }

    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> anyhow::Result<hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody>> {
        let mut store = store(&self.engine, &self.env);
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let out = store.data_mut().http().new_response_outparam(tx)?;
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let task = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, out)
                .await
        });
        match rx.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => anyhow::bail!("the component answered with an error code: {code:?}"),
            Err(_) => {
                let trapped = task.await?;
                anyhow::bail!("the component set no response: {trapped:?}")
            }
        }
    }
}

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, served: Arc<Served>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let served = served.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let served = served.clone();
                async move {
                    match served.handle(request).await {
                        Ok(response) => Ok::<_, std::convert::Infallible>(response),
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "request failed");
                            let body = http_body_util::Full::new(bytes::Bytes::from_static(
                                b"internal error\n",
                            ))
                            .map_err(
                                |never: std::convert::Infallible| -> wasmtime_wasi_http::Error {
                                    match never {}
                                },
                            )
                            .boxed_unsync();
                            Ok(hyper::Response::builder()
                                .status(500)
                                .body(body)
                                .expect("a valid response"))
                        }
                    }
                }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds `addr` for [`serve`].
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))
}
