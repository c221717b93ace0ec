//! Instantiates a wasi:http component N times, a fresh store each time, and prints
//! the median and p99 of store creation, instantiation and drop: instantiation
//! alone, for profiling (`perf record` around it).
//!
//! ```sh
//! cargo run --release -p wharf-host --example instantiate -- edge.wasm 5000
//! ```
//!
//! Point it at a serving image (`<cache>/*.serving.wasm`) to measure what
//! `wharf run --http` instantiates per request. The compiled code is cached like
//! the host's (`WHARF_CACHE_DIR`).
use std::sync::Arc;
use std::time::Instant;

use wharf_host::{Capabilities, Limits, Runtime, RuntimeOptions, linker};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: instantiate COMPONENT [TIMES]");
    let n: usize = args
        .next()
        .map(|n| n.parse().expect("TIMES is a number"))
        .unwrap_or(5000);
    let bytes = std::fs::read(&path).expect("reading the component");
    let limits = Limits::default();
    let options = RuntimeOptions::for_limits(&limits);
    let runtime = Runtime::new(&options).expect("the engine");
    let (component, _) = runtime.load(&bytes).expect("compiling");
    let pre = linker(runtime.engine())
        .expect("the linker")
        .instantiate_pre(&component)
        .expect("linking");
    let pre = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre).expect("a wasi:http proxy");
    let caps = Arc::new(Capabilities::default());
    let (mut s, mut i, mut d) = (vec![], vec![], vec![]);
    for _ in 0..n {
        let t0 = Instant::now();
        let mut store = runtime.store(&caps, &limits).expect("a store");
        let t1 = Instant::now();
        let proxy = pre
            .instantiate_async(&mut store)
            .await
            .expect("instantiating");
        let t2 = Instant::now();
        // The instance lives in the store: dropping the store drops both.
        let _ = proxy;
        drop(store);
        let t3 = Instant::now();
        s.push(t1 - t0);
        i.push(t2 - t1);
        d.push(t3 - t2);
    }
    for (name, mut v) in [("store", s), ("instantiate", i), ("drop", d)] {
        v.sort();
        println!(
            "{name:12} median {:>6.1} us  p99 {:>6.1} us",
            v[v.len() / 2].as_secs_f64() * 1e6,
            v[v.len() * 99 / 100].as_secs_f64() * 1e6
        );
    }
}
