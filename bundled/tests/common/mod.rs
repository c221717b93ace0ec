//! What every component test needs: one engine, a WASI context that grants nothing
//! but the environment variables a test sets, and compiled components cached per
//! test binary (compiling is the slow part; instantiating is cheap).
#![allow(dead_code)]

pub mod bindings;
pub mod http;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store data: WASI and wasi:http state.
pub struct Host {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
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

impl Host {
    /// A context with the given environment and nothing else: no files, no
    /// sockets, no inherited stdio.
    pub fn with_env(env: &[(&str, &str)]) -> Self {
        let mut wasi = WasiCtx::builder();
        for (key, value) in env {
            wasi.env(key, value);
        }
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        }
    }
}

/// The engine every test shares.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(&Config::new()).expect("engine"))
}

/// Compiles `bytes` once per test binary.
pub fn compile(key: &str, bytes: &[u8]) -> Component {
    static CACHE: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache
        .entry(key.to_owned())
        .or_insert_with(|| {
            Component::new(engine(), bytes).unwrap_or_else(|e| panic!("compile {key}: {e:?}"))
        })
        .clone()
}

/// The bundled component built from `crate_name`, compiled.
pub fn bundled(crate_name: &str) -> Component {
    let component = wharf_bundled::component(crate_name).expect("a bundled component");
    compile(crate_name, component.bytes)
}

/// A store and a linker with synchronous WASI.
pub fn store_and_linker() -> (Store<Host>, Linker<Host>) {
    let store = Store::new(engine(), Host::with_env(&[]));
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("add WASI");
    (store, linker)
}

/// Where the test suites shared with the rest of the project live: `$WHARF_SHARED_DIR`
/// or `../shared` next to the repository.
pub fn shared_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("WHARF_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    assert!(
        dir.join("testdata").is_dir(),
        "the shared test data is missing at {}; set WHARF_SHARED_DIR",
        dir.display()
    );
    dir
}
