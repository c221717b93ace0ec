//! The Wharf host: runs WebAssembly components with wasmtime and serves wasi:http
//! deployables over hyper.
//!
//! - [`Runtime`]: one engine (pooling allocator sized for composed components, epoch
//!   interruption) with its epoch ticker and the [compiled-code cache](CodeCache).
//! - [`Limits`]: a deadline per request, a memory cap per instance, body size caps and
//!   a concurrency cap.
//! - [`Capabilities`]: what a guest may reach, nothing unless granted: environment
//!   variables by name, preopened directories, outbound HTTP to listed hosts, sockets.
//! - [`Served`] and [`serve`]: an `InstancePre` built once, a fresh store and instance
//!   per request (or, opt-in, reused instances), a log line and Prometheus metrics
//!   per request, graceful shutdown.
//!
//! ```no_run
//! # async fn demo(deployable: &[u8]) -> Result<(), wharf_host::Error> {
//! use wharf_host::{Capabilities, Limits, Runtime, RuntimeOptions, Served};
//!
//! let limits = Limits::default();
//! let runtime = Runtime::new(&RuntimeOptions::for_limits(&limits))?;
//! let (component, _outcome) = runtime.load(deployable)?;
//! let served = std::sync::Arc::new(Served::new(&runtime, &component, Capabilities::default(), limits)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! wharf_host::serve(listener, served, std::future::pending()).await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod cache;
mod capabilities;
mod engine;
mod error;
mod images;
mod limits;
mod metrics;
mod serve;
mod serving;
mod state;

pub use cache::{CacheOutcome, CodeCache};
pub use capabilities::{Capabilities, Preopen};
pub use engine::{Profile, Runtime, RuntimeOptions};
pub use error::Error;
pub use images::{DENSE_IMAGE_ALWAYS, copy_on_write_fallbacks};
pub use limits::{Limits, parse_duration, parse_size};
pub use metrics::Metrics;
pub use serve::{DEFAULT_PREWARM, Served, serve, serve_metrics};
pub use serving::{PRE_INITIALIZER, ServingOutcome};
pub use state::{Host, linker};
