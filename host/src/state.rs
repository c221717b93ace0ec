//! What each store holds: WASI and wasi:http state, the outbound-HTTP policy and the
//! memory budget of its instance.

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::Capabilities;

/// A store's data. Build one with [`Host::new`]; it grants exactly the
/// [`Capabilities`] given.
pub struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundPolicy,
    pub(crate) memory: MemoryBudget,
    /// When the current call must stop (checked at every epoch tick).
    pub(crate) deadline_at: std::time::Instant,
}

impl Host {
    /// State for one instance granting `capabilities`, its memories summed under
    /// `max_memory` bytes.
    pub fn new(capabilities: &Arc<Capabilities>, max_memory: u64) -> Result<Self, crate::Error> {
        Self::seeded(capabilities, max_memory, None)
    }

    /// The same, with `wasi:random/insecure-seed` answering `seed` instead of a
    /// value of its own (what the serving image's derivation recognizes in a snapshot).
    pub(crate) fn seeded(
        capabilities: &Arc<Capabilities>,
        max_memory: u64,
        seed: Option<u128>,
    ) -> Result<Self, crate::Error> {
        Ok(Self {
            wasi: capabilities.wasi(seed)?,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundPolicy {
                capabilities: capabilities.clone(),
            },
            memory: MemoryBudget {
                max: max_memory,
                used: 0,
                refused: false,
                growths: 0,
            },
            deadline_at: std::time::Instant::now(),
        })
    }
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
            hooks: &mut self.hooks,
        }
    }
}

/// A linker offering WASI 0.2 and wasi:http, nothing else; what a guest may do
/// through them is decided by each store's [`Host`].
pub fn linker(engine: &Engine) -> Result<Linker<Host>, crate::Error> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| crate::Error::Link(format!("{e:?}")))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| crate::Error::Link(format!("{e:?}")))?;
    Ok(linker)
}

/// Outbound wasi:http requests go only to granted hosts; the others get
/// `HTTP-request-denied` in the guest.
struct OutboundPolicy {
    capabilities: Arc<Capabilities>,
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: hyper::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        hyper::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        if !self.capabilities.allows_http(&authority) {
            tracing::debug!(%authority, "outbound HTTP denied");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// The memory one instance may hold, summed over all its linear memories.
pub(crate) struct MemoryBudget {
    max: u64,
    used: u64,
    /// Set when a growth was refused, so the request can count a limit hit.
    pub(crate) refused: bool,
    /// Memories created or grown, instantiation's included.
    pub(crate) growths: u64,
}

impl ResourceLimiter for MemoryBudget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        if maximum.is_some_and(|m| desired > m) || self.used + growth > self.max {
            self.refused = true;
            return Ok(false);
        }
        self.used += growth;
        self.growths += 1;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|m| desired <= m))
    }
}

/// A fresh store for one instance: `capabilities` granted, memories capped at
/// `limits.max_memory` in total, and interrupted once `limits.deadline` has passed
/// (yielding its thread every epoch tick until then, so that a spinning guest never
/// holds a worker thread other requests need).
pub(crate) fn new_store(
    engine: &Engine,
    counts_instructions: bool,
    capabilities: &Arc<Capabilities>,
    limits: &crate::Limits,
) -> Result<wasmtime::Store<Host>, crate::Error> {
    new_store_seeded(engine, counts_instructions, capabilities, limits, None)
}

/// [`new_store`] whose `wasi:random/insecure-seed` answers `seed`.
pub(crate) fn new_store_seeded(
    engine: &Engine,
    counts_instructions: bool,
    capabilities: &Arc<Capabilities>,
    limits: &crate::Limits,
    seed: Option<u128>,
) -> Result<wasmtime::Store<Host>, crate::Error> {
    let mut store =
        wasmtime::Store::new(engine, Host::seeded(capabilities, limits.max_memory, seed)?);
    store.limiter(|host| &mut host.memory);
    // Only an engine that counts instructions has fuel (asking the others makes an
    // error value, on every request).
    if counts_instructions {
        store
            .set_fuel(u64::MAX)
            .map_err(|e| crate::Error::Engine(format!("{e:?}")))?;
    }
    arm_deadline(&mut store, limits.deadline);
    store.epoch_deadline_callback(|context| {
        Ok(if std::time::Instant::now() >= context.data().deadline_at {
            wasmtime::UpdateDeadline::Interrupt
        } else {
            // tokio's yield, not a plain wake-up: the worker polls its I/O driver
            // before it runs this guest again. A guest woken at once goes back in the
            // run queue, and with spinning guests on every worker the driver was
            // polled only every 61 task polls, 5 ms each: other requests' sockets
            // waited seconds for their readiness.
            wasmtime::UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
        })
    });
    Ok(store)
}

/// Starts a store's deadline from now (again, for a reused instance).
pub(crate) fn arm_deadline(store: &mut wasmtime::Store<Host>, deadline: std::time::Duration) {
    store.data_mut().deadline_at = std::time::Instant::now() + deadline;
    store.set_epoch_deadline(1);
}
