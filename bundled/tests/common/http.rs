//! Serving a wasi:http component the way a host does: a pre-instantiated proxy, a
//! fresh store and instance per request, the response collected.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::Host;

/// Links WASI and wasi:http and pre-instantiates `component`.
pub fn proxy(component: &Component) -> ProxyPre<Host> {
    let mut linker = Linker::new(super::engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    ProxyPre::new(linker.instantiate_pre(component).unwrap()).unwrap()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Sends one request through a fresh instance with `env` as its environment.
pub async fn send(pre: &ProxyPre<Host>, env: &[(&str, &str)], request: Request<Bytes>) -> Reply {
    let mut store = Store::new(super::engine(), Host::with_env(env));
    let (parts, body) = request.into_parts();
    let body = Full::new(body)
        .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} });
    let request = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, Request::from_parts(parts, body))
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let out = store.data_mut().http().new_response_outparam(tx).unwrap();
    let proxy = pre.instantiate_async(&mut store).await.unwrap();
    let task = tokio::spawn(async move {
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, request, out)
            .await
    });
    let response = rx
        .await
        .expect("the component set a response")
        .expect("not an error code");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("read the body").to_bytes();
    task.await
        .unwrap()
        .expect("the handler returned without trapping");
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}
