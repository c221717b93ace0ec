//! Composition of WebAssembly components with wac-graph: the deploy manifest
//! (`wharf.toml`), resolution and the lock (`wharf.lock`), the download cache, and the
//! composition core that links the chosen components into one deployable.
//!
//! The pipeline, each step its own module with its own error type:
//!
//! 1. [`Manifest`] parses `wharf.toml` ([`manifest`]);
//! 2. [`resolve`] brings a [`Lock`] in line with it through a [`Resolver`] (a
//!    filesystem one here, [`FsResolver`]; a registry one alongside) ([`lock`]);
//! 3. [`load`] fetches every component as the lock pins it, through the
//!    content-addressed [`Cache`], checking every digest ([`mod@load`]);
//! 4. [`compose`] links them with wac-graph, checks the result's imports against
//!    `[host] allow` and embeds the [`Provenance`], with no I/O ([`deployable`]).
//!
//! Below that sits [`plug`], which plugs components into a socket as `wac plug` does
//! (semver-compatible interface names match):
//!
//! ```
//! let gateway = wharf_bundled::component("gateway").unwrap().bytes;
//! let flate = wharf_bundled::component("flate").unwrap().bytes;
//! let composed = wharf_compose::plug(gateway, &[flate]).unwrap();
//! let imports = wharf_compose::imports(&composed).unwrap();
//! assert!(!imports.iter().any(|i| i.starts_with("wharf:compression/")));
//! ```
//!
//! And the manifest:
//!
//! ```
//! let manifest: wharf_compose::Manifest = r#"
//!     [deployable]
//!     name = "acme:edge"
//!     version = "1.0.0"
//!     root = { package = "wharf:edge-gateway", version = "^1" }
//!     [plugs]
//!     "wharf:compression" = { package = "wharf:flate", version = "^1" }
//!     [host]
//!     allow = ["wasi:io/*"]
//! "#.parse().unwrap();
//! assert_eq!(manifest.plugs.len(), 1);
//! assert!(manifest.host.allows("wasi:io/streams@0.2.12"));
//! ```
#![deny(missing_docs)]

pub mod cache;
pub mod deployable;
pub mod load;
pub mod lock;
pub mod log;
pub mod manifest;
pub mod provenance;
pub mod registry;
pub mod resolve;
pub mod target;
pub mod trust;
pub mod validate;

pub use cache::{Cache, CacheError};
pub use deployable::{ComposeError, DeniedImport, Verified, compose, compose_verified};
pub use load::{Constituent, LoadError, load};
pub use lock::{Lock, LockError, LockMode, LockedPackage, LockedVersion, resolve};
pub use log::{LogProof, LogRecord, LogVerifier, LogVerifyError};
pub use manifest::{
    Deployable, Host, HostPattern, KeyPath, Manifest, ManifestError, Plug, PlugKey, Source,
};
pub use provenance::{ConstituentInfo, Provenance, provenance};
pub use registry::{OciResolver, RegistryConfig};
pub use resolve::{FsResolver, ResolveError, Resolved, Resolver};
pub use target::{Target, TargetError};
pub use trust::{Trust, TrustError};

use wac_graph::types::{Package, Types};
use wac_graph::{CompositionGraph, EncodeOptions};

/// Why components could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum PlugError {
    /// An input is not a valid WebAssembly component.
    #[error("{which} is not a valid WebAssembly component")]
    Decode {
        /// `socket` or `plug N`.
        which: String,
        /// What the decoder said.
        #[source]
        source: anyhow::Error,
    },
    /// None of the plugs' exports matches any of the socket's imports.
    #[error("no plug export matches an import of the socket")]
    NothingPlugged,
    /// wac-graph could not build or encode the composition.
    #[error("composition failed")]
    Graph(#[source] anyhow::Error),
}

/// Plugs the exports of `plugs` into matching imports of `socket` and returns the
/// composed component, which exports everything the socket exports. Imports that no
/// plug satisfies remain imports of the result.
pub fn plug(socket: &[u8], plugs: &[&[u8]]) -> Result<Vec<u8>, PlugError> {
    let mut graph = CompositionGraph::new();
    let mut register = |which: String, name: String, bytes: &[u8]| {
        let package = Package::from_bytes(&name, None, bytes.to_vec(), graph.types_mut())
            .map_err(|source| PlugError::Decode { which, source })?;
        graph
            .register_package(package)
            .map_err(|e| PlugError::Graph(e.into()))
    };
    let socket_id = register("socket".into(), "wharf:socket".into(), socket)?;
    let plug_ids = plugs
        .iter()
        .enumerate()
        .map(|(i, bytes)| register(format!("plug {i}"), format!("wharf:plug{i}"), bytes))
        .collect::<Result<Vec<_>, _>>()?;
    wac_graph::plug(&mut graph, plug_ids, socket_id).map_err(|e| match e {
        wac_graph::PlugError::NoPlugHappened => PlugError::NothingPlugged,
        other => PlugError::Graph(other.into()),
    })?;
    graph
        .encode(EncodeOptions::default())
        .map_err(|e| PlugError::Graph(e.into()))
}

/// The bytes of each component nested at the top level of `component`: in a
/// deployable, every constituent byte for byte (`wharf verify` matches them to the
/// provenance's digests).
pub fn nested_components(component: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    use wasmparser::{Chunk, Parser, Payload};
    let mut nested = Vec::new();
    let mut parser = Parser::new(0);
    let mut offset = 0;
    loop {
        let (consumed, payload) = match parser.parse(&component[offset..], true)? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => anyhow::bail!("the component is truncated"),
        };
        offset += consumed;
        match payload {
            Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let range = unchecked_range.start as usize..unchecked_range.end as usize;
                offset = range.end;
                nested.push(&component[range]);
            }
            Payload::ModuleSection {
                unchecked_range, ..
            } => offset = unchecked_range.end as usize,
            Payload::End(_) => break,
            _ => {}
        }
    }
    Ok(nested)
}

/// The names of a component's imports, e.g. `wasi:cli/environment@0.2.6`. Reads only
/// the top-level import sections: nested modules and components are skipped unread, so
/// this stays cheap on a large deployable.
pub fn imports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    use wasmparser::{Chunk, Parser, Payload};
    let mut names = Vec::new();
    let mut parser = Parser::new(0);
    let mut rest = component;
    loop {
        let (consumed, payload) = match parser.parse(rest, true)? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => anyhow::bail!("the component is truncated"),
        };
        rest = &rest[consumed..];
        match payload {
            Payload::Version {
                encoding: wasmparser::Encoding::Module,
                ..
            } => {
                anyhow::bail!("a core module, not a component")
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    names.push(import?.name.name.to_owned());
                }
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                rest = &rest[(unchecked_range.end - unchecked_range.start) as usize..];
            }
            Payload::End(_) => break,
            _ => {}
        }
    }
    Ok(names)
}

/// The names of a component's exports, e.g. `wharf:compression/codec@1.1.0`.
pub fn exports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    world_names(component, |world| world.exports.keys().cloned().collect())
}

fn world_names(
    component: &[u8],
    names: impl Fn(&wac_graph::types::World) -> Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let mut types = Types::default();
    let package = Package::from_bytes("wharf:inspect", None, component.to_vec(), &mut types)?;
    Ok(names(&types[package.ty()]))
}
