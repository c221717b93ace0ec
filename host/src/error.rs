//! The host's one error type; each variant says which step failed.

use std::path::PathBuf;

/// What can go wrong preparing or serving a component.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine could not be configured (pooling sizes, address space).
    #[error("configuring the engine: {0}")]
    Engine(String),
    /// The bytes are not a component this engine can compile.
    #[error("compiling the component: {0}")]
    Compile(String),
    /// The serving image could not be derived (a plug's initializer trapped, or a
    /// plug wasmtime-wizer cannot snapshot).
    #[error("deriving the serving image: {0}")]
    ServingImage(String),
    /// The component's imports could not be satisfied by WASI and wasi:http.
    #[error("linking the component: {0}")]
    Link(String),
    /// The component does not export `wasi:http/incoming-handler`.
    #[error("the component is not a wasi:http proxy: {0}")]
    NotAProxy(String),
    /// A preopened directory could not be opened on the host.
    #[error("preopening {path}: {message}")]
    Preopen {
        /// The host directory.
        path: PathBuf,
        /// Why it failed.
        message: String,
    },
    /// The compiled-code cache directory is one this process must not trust: another
    /// user owns it, or group or others may write to it (see
    /// [`CodeCache::ensure_private`](crate::CodeCache::ensure_private)).
    #[error(
        "the compiled-code cache directory {} {reason}: anyone who can write there chooses \
         the code this host runs; `chmod 700` it if it is yours, or choose another \
         (`--cache-dir`, WHARF_CACHE_DIR) or `--no-cache`",
        path.display()
    )]
    UntrustedCache {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing the compiled-code cache or a listener failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A limit or capability written as text did not parse.
    #[error("{0}")]
    Invalid(String),
}
