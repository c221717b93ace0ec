//! Composition of WebAssembly components with wac-graph, bytes in and bytes out.
//!
//! This is the core the composer stands on: plug the exports of some components into
//! the imports of a socket component, as `wac plug` does (semver-compatible interface
//! names match), and encode one validated component. The composer adds the deploy
//! manifest, resolution and the lock around it.
//!
//! ```
//! let gateway = wharf_bundled::component("gateway").unwrap().bytes;
//! let flate = wharf_bundled::component("flate").unwrap().bytes;
//! let composed = wharf_compose::plug(gateway, &[flate]).unwrap();
//! let imports = wharf_compose::imports(&composed).unwrap();
//! assert!(!imports.iter().any(|i| i.starts_with("wharf:compression/")));
//! ```
#![deny(missing_docs)]

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

/// The names of a component's imports, e.g. `wasi:cli/environment@0.2.6`.
pub fn imports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    world_names(component, |world| world.imports.keys().cloned().collect())
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
