//! The composition core: the manifest and the bytes of its components in, one
//! validated deployable out. No I/O.
//!
//! Each component is instantiated once. An import is satisfied from the importer's
//! own plugs first, then from the plugs of each enclosing level up to the top-level
//! `[plugs]` (so a plug can share an instance its parent also uses). At each level,
//! a plug whose key matches the import claims it; failing that, a plug of that level
//! that exports the import (as `wac plug` would use it) satisfies it. Names match
//! exactly or semver-compatibly, as in `wac plug`. Whatever stays unsatisfied becomes
//! an import of the result and must be allowed by `[host]`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use wac_graph::types::{Package, are_semver_compatible};
use wac_graph::{CompositionGraph, EncodeOptions, NodeId, PackageId, Processor};
use wharf_types::Digest;

use crate::load::Constituent;
use crate::manifest::{KeyPath, Manifest, Source, split_interface};
use crate::provenance;

/// The export a pre-initializer runs once (wasmtime-wizer's default name).
const PRE_INITIALIZER: &str = "wizer-initialize";

/// Why a deployable could not be composed. Every variant names the manifest key at
/// fault.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// No bytes were given for a component the manifest names.
    #[error("{key}: no component bytes were given for it")]
    Missing {
        /// The manifest key.
        key: KeyPath,
    },
    /// A component is not a valid WebAssembly component.
    #[error("{key}: {what} is not a valid WebAssembly component")]
    Decode {
        /// The manifest key.
        key: KeyPath,
        /// The component.
        what: String,
        /// What the decoder said.
        #[source]
        source: anyhow::Error,
    },
    /// The plug claimed an import it does not export.
    #[error("{key}: {importer} imports {import}, but the plug {plug} does not export it (it exports: {exports})", exports = list(exports))]
    NotExported {
        /// The plug's manifest key.
        key: KeyPath,
        /// The component that imports it.
        importer: String,
        /// The import.
        import: String,
        /// The plug component.
        plug: String,
        /// What the plug exports.
        exports: Vec<String>,
    },
    /// The plug exports the interface at a version the import is not compatible with.
    #[error(
        "{key}: {importer} imports {import}, but the plug {plug} exports {export}: the versions are not semver-compatible"
    )]
    VersionMismatch {
        /// The plug's manifest key.
        key: KeyPath,
        /// The component that imports it.
        importer: String,
        /// The import, with its version.
        import: String,
        /// The plug component.
        plug: String,
        /// The plug's export of the same interface, with its version.
        export: String,
    },
    /// Two plugs of one level claim the same import.
    #[error("{importer_key}: {import} is claimed by more than one plug: {claimants}", claimants = list(claimants))]
    Ambiguous {
        /// The importing component's manifest key.
        importer_key: KeyPath,
        /// The import.
        import: String,
        /// The plugs that claim it.
        claimants: Vec<KeyPath>,
    },
    /// A plug's key matches no import of the components it could satisfy.
    #[error("{key}: no component imports anything this key names ({owner} imports, besides what [host] allows: {imports})", imports = list(imports))]
    Unused {
        /// The plug's manifest key.
        key: KeyPath,
        /// The component whose plugs it is among.
        owner: KeyPath,
        /// What that component imports that `[host]` does not allow.
        imports: Vec<String>,
    },
    /// Components import each other in a circle, which cannot be instantiated.
    #[error("{} imports itself through a cycle: {}{}", .cycle[0], cycle.iter().map(ToString::to_string).collect::<Vec<_>>().join(" -> "), cycle_hint(cycle))]
    Cycle {
        /// The manifest keys around the cycle, the first repeated at the end.
        cycle: Vec<KeyPath>,
    },
    /// wac-graph refused to plug an export into an import (mismatched types).
    #[error("{importer_key}: cannot plug {export} of {provider_key} into {import}")]
    Plug {
        /// The importing component's manifest key.
        importer_key: KeyPath,
        /// The import.
        import: String,
        /// The providing plug's manifest key.
        provider_key: KeyPath,
        /// The export used.
        export: String,
        /// What wac-graph said.
        #[source]
        source: anyhow::Error,
    },
    /// Building or encoding the graph failed.
    #[error("composition failed")]
    Graph(#[source] anyhow::Error),
    /// The result imports something `[host] allow` does not.
    #[error("the deployable would import what [host] allow does not permit:\n{}", denied.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    HostImports {
        /// Each denied import and who brought it in.
        denied: Vec<DeniedImport>,
    },
}

/// An import of the result that `[host] allow` does not permit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedImport {
    /// The import.
    pub import: String,
    /// The manifest keys of the components that import it and got no plug for it.
    pub brought_in_by: Vec<KeyPath>,
}

impl fmt::Display for DeniedImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (imported by {})",
            self.import,
            list(&self.brought_in_by)
        )
    }
}

fn cycle_hint(cycle: &[KeyPath]) -> String {
    match cycle {
        [only, _] => format!(
            " (a plug that imports what it is plugged for needs a plug of its own, under {only}.plugs)"
        ),
        _ => String::new(),
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "nothing".into();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One component in the graph.
struct Node<'a> {
    constituent: &'a Constituent,
    package: PackageId,
    imports: Vec<String>,
    exports: Vec<String>,
    /// (import, provider node, provider's export), in import order.
    args: Vec<(String, usize, String)>,
}

impl Node<'_> {
    fn describe(&self) -> String {
        describe(self.constituent)
    }
}

fn describe(c: &Constituent) -> String {
    match (&c.source, &c.version) {
        (Source::Registry { package, .. }, Some(version)) => format!("{package}@{version}"),
        (source, _) => source.to_string(),
    }
}

/// Composes the deployable `manifest` describes from `constituents` (the bytes of
/// every component it names, e.g. from [`crate::load`]), and embeds its
/// [`crate::Provenance`]. The same inputs give the same bytes.
pub fn compose(manifest: &Manifest, constituents: &[Constituent]) -> Result<Vec<u8>, ComposeError> {
    compose_with(manifest, constituents, None)
}

fn compose_with(
    manifest: &Manifest,
    constituents: &[Constituent],
    verified: Option<&Verified>,
) -> Result<Vec<u8>, ComposeError> {
    let mut graph = CompositionGraph::new();
    let by_key: BTreeMap<&KeyPath, &Constituent> =
        constituents.iter().map(|c| (&c.key, c)).collect();

    // Register each distinct component once, in manifest order.
    let mut registered: BTreeMap<Digest, PackageId> = BTreeMap::new();
    let mut nodes = Vec::new();
    let mut index = BTreeMap::new();
    for (key, _) in manifest.components() {
        let c = *by_key
            .get(&key)
            .ok_or_else(|| ComposeError::Missing { key: key.clone() })?;
        let package = match registered.get(&c.digest) {
            Some(id) => *id,
            None => {
                let (name, version) = match (&c.source, &c.version) {
                    (Source::Registry { package, .. }, version) => {
                        (package.to_string(), version.clone())
                    }
                    _ => (format!("wharf-local:c{}", registered.len()), None),
                };
                let package = Package::from_bytes(
                    &name,
                    version.as_ref(),
                    c.bytes.clone(),
                    graph.types_mut(),
                )
                .map_err(|source| ComposeError::Decode {
                    key: key.clone(),
                    what: describe(c),
                    source,
                })?;
                let id = graph
                    .register_package(package)
                    .map_err(|e| ComposeError::Graph(e.into()))?;
                registered.insert(c.digest.clone(), id);
                id
            }
        };
        let world = &graph.types()[graph[package].ty()];
        index.insert(key.clone(), nodes.len());
        nodes.push(Node {
            constituent: c,
            package,
            imports: world.imports.keys().cloned().collect(),
            exports: world.exports.keys().cloned().collect(),
            args: Vec::new(),
        });
    }

    // Satisfy every import, recording who claimed what and what stays open.
    let mut claimed = BTreeSet::new();
    let mut open: BTreeMap<String, Vec<KeyPath>> = BTreeMap::new();
    for n in 0..nodes.len() {
        for import in nodes[n].imports.clone() {
            match provider(manifest, &nodes, &index, n, &import, &mut claimed)? {
                Some((p, export)) => nodes[n].args.push((import, p, export)),
                None => open
                    .entry(import)
                    .or_default()
                    .push(nodes[n].constituent.key.clone()),
            }
        }
    }
    for (n, node) in nodes.iter().enumerate().skip(1) {
        if !claimed.contains(&n) {
            let key = &node.constituent.key;
            let owner = KeyPath(key.0[..key.0.len() - 1].to_vec());
            return Err(ComposeError::Unused {
                key: key.clone(),
                imports: nodes[index[&owner]]
                    .imports
                    .iter()
                    .filter(|i| !manifest.host.allows(i))
                    .cloned()
                    .collect(),
                owner,
            });
        }
    }
    if let Some(cycle) = find_cycle(&nodes) {
        return Err(ComposeError::Cycle {
            cycle: cycle
                .into_iter()
                .map(|n| nodes[n].constituent.key.clone())
                .collect(),
        });
    }

    // Build the graph: instances in manifest order, then their arguments.
    let instances: Vec<NodeId> = nodes.iter().map(|n| graph.instantiate(n.package)).collect();
    let mut aliases: BTreeMap<(usize, String), NodeId> = BTreeMap::new();
    for (n, node) in nodes.iter().enumerate() {
        for (import, p, export) in &node.args {
            let plug_error = |source: anyhow::Error| ComposeError::Plug {
                importer_key: node.constituent.key.clone(),
                import: import.clone(),
                provider_key: nodes[*p].constituent.key.clone(),
                export: export.clone(),
                source,
            };
            let alias = match aliases.get(&(*p, export.clone())) {
                Some(alias) => *alias,
                None => {
                    let alias = graph
                        .alias_instance_export(instances[*p], export)
                        .map_err(|e| plug_error(e.into()))?;
                    aliases.insert((*p, export.clone()), alias);
                    alias
                }
            };
            graph
                .set_instantiation_argument(instances[n], import, alias)
                .map_err(|e| plug_error(e.into()))?;
        }
    }
    // The socket's exports are the deployable's, less a pre-initializer: that is for
    // the host that derives a serving image (it reaches each plug's own), not part of
    // what the deployable offers.
    for export in nodes[0].exports.iter().filter(|e| *e != PRE_INITIALIZER) {
        let alias = graph
            .alias_instance_export(instances[0], export)
            .map_err(|e| ComposeError::Graph(e.into()))?;
        graph
            .export(alias, export)
            .map_err(|e| ComposeError::Graph(e.into()))?;
    }
    let bytes = graph
        .encode(EncodeOptions {
            define_components: true,
            // Validated below, on every core.
            validate: false,
            processor: Some(Processor {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            }),
        })
        .map_err(|e| ComposeError::Graph(e.into()))?;
    crate::validate::validate(&bytes).map_err(|e| {
        ComposeError::Graph(anyhow::Error::new(e).context("the composed component is invalid"))
    })?;

    // wac-graph turns every unsatisfied import into an import of the result; only
    // what [host] allows may stay.
    let denied: Vec<DeniedImport> = crate::imports(&bytes)
        .map_err(ComposeError::Graph)?
        .into_iter()
        .filter(|import| !manifest.host.allows(import))
        .map(|import| DeniedImport {
            brought_in_by: open
                .get(&import)
                .cloned()
                .unwrap_or_else(|| vec![KeyPath::root()]),
            import,
        })
        .collect();
    if !denied.is_empty() {
        return Err(ComposeError::HostImports { denied });
    }

    let mut provenance = provenance::of(manifest, constituents);
    if let Some(verified) = verified {
        provenance.log_checkpoint = Some(verified.checkpoint.clone());
        for c in &mut provenance.constituents {
            if let (Some(package), Some(version)) = (&c.package, &c.version)
                && let Some(proof) = verified.proofs.get(&format!("{package}@{version}"))
            {
                c.log_index = Some(proof.index);
                c.log_entry = Some(proof.entry.clone());
                c.log_proof = proof.proof.clone();
            }
        }
    }
    Ok(provenance::embed(bytes, &provenance))
}

/// What the transparency log vouched for, recorded in a deployable's provenance: the
/// checkpoint verified against, and each registry constituent's publish entry with
/// its inclusion proof under it.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// The signed checkpoint (a C2SP signed note).
    pub checkpoint: String,
    /// The publish entry of each `package@version`, and its proof.
    pub proofs: std::collections::BTreeMap<String, crate::log::LogProof>,
}

/// [`compose`], recording in the provenance what the transparency log vouched for.
pub fn compose_verified(
    manifest: &Manifest,
    constituents: &[Constituent],
    verified: &Verified,
) -> Result<Vec<u8>, ComposeError> {
    compose_with(manifest, constituents, Some(verified))
}

/// The node and export that satisfy `import` of node `n`, if any plug does.
fn provider(
    manifest: &Manifest,
    nodes: &[Node],
    index: &BTreeMap<KeyPath, usize>,
    n: usize,
    import: &str,
    claimed: &mut BTreeSet<usize>,
) -> Result<Option<(usize, String)>, ComposeError> {
    let importer = &nodes[n];
    let mut level = importer.constituent.key.clone();
    loop {
        let plugs = manifest
            .plugs_at(&level)
            .expect("levels come from the manifest");
        let children = || plugs.keys().map(|k| (k, index[&level.child(k)]));
        let explicit: Vec<_> = children().filter(|(k, _)| k.matches(import)).collect();
        if explicit.len() > 1 {
            return Err(ComposeError::Ambiguous {
                importer_key: importer.constituent.key.clone(),
                import: import.to_owned(),
                claimants: explicit.iter().map(|(k, _)| level.child(k)).collect(),
            });
        }
        if let Some((key, p)) = explicit.first() {
            claimed.insert(*p);
            let plug = &nodes[*p];
            if let Some(export) = matching_export(&plug.exports, import) {
                return Ok(Some((*p, export)));
            }
            let base = |name: &str| split_interface(name).map(|(p, i)| format!("{p}/{i}"));
            let key = level.child(key);
            if let Some(export) = plug
                .exports
                .iter()
                .find(|e| base(e).is_some() && base(e) == base(import))
            {
                return Err(ComposeError::VersionMismatch {
                    key,
                    importer: importer.describe(),
                    import: import.to_owned(),
                    plug: plug.describe(),
                    export: export.clone(),
                });
            }
            return Err(ComposeError::NotExported {
                key,
                importer: importer.describe(),
                import: import.to_owned(),
                plug: plug.describe(),
                // What it offers to plug into: an initializer is for a host, not a socket.
                exports: (plug.exports.iter())
                    .filter(|e| *e != PRE_INITIALIZER)
                    .cloned()
                    .collect(),
            });
        }
        let riders: Vec<_> = children()
            .filter_map(|(k, p)| matching_export(&nodes[p].exports, import).map(|e| (k, p, e)))
            .collect();
        if riders.len() > 1 {
            return Err(ComposeError::Ambiguous {
                importer_key: importer.constituent.key.clone(),
                import: import.to_owned(),
                claimants: riders.iter().map(|(k, _, _)| level.child(k)).collect(),
            });
        }
        if let Some((_, p, export)) = riders.into_iter().next() {
            return Ok(Some((p, export)));
        }
        if level.0.pop().is_none() {
            return Ok(None);
        }
    }
}

/// The export that satisfies `import`: the same name, else a semver-compatible one.
fn matching_export(exports: &[String], import: &str) -> Option<String> {
    exports
        .iter()
        .find(|e| *e == import)
        .or_else(|| exports.iter().find(|e| are_semver_compatible(e, import)))
        .cloned()
}

/// A cycle among the instantiation dependencies, as node indices with the first
/// repeated at the end.
fn find_cycle(nodes: &[Node]) -> Option<Vec<usize>> {
    fn visit(
        n: usize,
        nodes: &[Node],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[n] = 1;
        stack.push(n);
        for (_, p, _) in &nodes[n].args {
            match state[*p] {
                1 => {
                    let start = stack.iter().position(|s| s == p).expect("on the stack");
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(*p);
                    return Some(cycle);
                }
                0 => {
                    if let Some(cycle) = visit(*p, nodes, state, stack) {
                        return Some(cycle);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state[n] = 2;
        None
    }
    let mut state = vec![0u8; nodes.len()];
    (0..nodes.len()).find_map(|n| {
        if state[n] == 0 {
            visit(n, nodes, &mut state, &mut Vec::new())
        } else {
            None
        }
    })
}
