//! Targets: the world a host offers a deployable, described as data, and the check that
//! a deployable asks for nothing more. [`TARGETS`] holds every one (`wasi:http/proxy`
//! hosts, `wasi:cli/command` runners, Cloudflare Workers, jco in Node.js); `wharf
//! compose --target`, `wharf bundle` and the registry's `targets` all decide through
//! [`Target::refusal`], on the names of a component's imports and exports, so they
//! cannot disagree (docs/targets.md).
//!
//! A target lists the imports it serves as `[host] allow` patterns (the same
//! [`HostPattern`]s and the same [`DeniedImport`]s that `wharf compose` refuses with),
//! the WASI version line it implements, and the export it calls. Checking a deployable
//! reads its top-level imports; the plug that brought each refused import is found
//! through the deployable's [`Provenance`]: every constituent is nested in the
//! deployable byte for byte, so a nested component whose digest the provenance lists
//! is that constituent.
//!
//! ```
//! let gateway = wharf_bundled::component("gateway").unwrap().bytes;
//! let plugs: Vec<&[u8]> = ["jwt-auth", "json-schema", "json-transform", "flate"]
//!     .iter()
//!     .map(|p| wharf_bundled::component(p).unwrap().bytes)
//!     .collect();
//! let edge = wharf_compose::plug(gateway, &plugs).unwrap();
//! wharf_compose::target::WORKERS.check(&edge).unwrap();
//!
//! let probe = wharf_bundled::component("host-probe").unwrap().bytes;
//! let refused = wharf_compose::target::WORKERS.check(probe).unwrap_err().to_string();
//! assert!(refused.contains("wasi:sockets/tcp@0.2.6"), "{refused}");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use wharf_types::Digest;
use wharf_types::views::TargetFit;

use crate::deployable::DeniedImport;
use crate::manifest::{Host, HostPattern, KeyPath, split_interface};
use crate::provenance::provenance;

/// A host a deployable can be made to run on.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The name `--target` and `--runs-on` take, e.g. `workers`.
    pub name: &'static str,
    /// What it is, for messages, e.g. `Cloudflare Workers`.
    pub title: &'static str,
    /// The hosts (or tools) that offer this world, e.g. `wasmtime serve`.
    pub hosts: &'static [&'static str],
    /// The imports it serves, as `[host] allow` patterns.
    pub serves: &'static [&'static str],
    /// The WASI version line its implementation follows: an import of a served
    /// interface at another version (0.3's, say) is refused.
    pub wasi_line: &'static str,
    /// The interface the host calls, exported at a version of `wasi_line`.
    pub calls: &'static str,
    /// Why what it does not serve is missing, for the refusal message.
    pub refuses: &'static str,
}

/// Every stable WASI 0.2 interface outside `wasi:http`: what `wasmtime run`, Spin,
/// Wharf's host and jco's preview2-shim link (whether a call is then granted is the
/// host's configuration, not the component's world).
macro_rules! wasi_0_2 {
    ($($more:literal),*) => {
        &[
            "wasi:cli/*",
            "wasi:clocks/monotonic-clock",
            "wasi:clocks/wall-clock",
            "wasi:filesystem/*",
            "wasi:io/*",
            "wasi:random/*",
            "wasi:sockets/*",
            $($more),*
        ]
    };
}

/// What a host that serves `wasi:http/proxy` links: all of WASI 0.2, with outbound HTTP.
const WASI_HTTP_HOST: &[&str] = wasi_0_2!("wasi:http/types", "wasi:http/outgoing-handler");

/// `wasi:http/proxy` hosts: Wharf's host, `wasmtime serve -Scli`, Spin's HTTP trigger.
/// Each links the whole of WASI 0.2 beside `wasi:http`, not only the proxy world's
/// imports: configuration through `wasi:cli/environment` (which the example gateway
/// reads) works on all three. (Without `-Scli`, `wasmtime serve` links the proxy
/// world alone, and refuses the example gateway for its environment.)
pub const PROXY: Target = Target {
    name: "proxy",
    title: "wasi:http/proxy hosts",
    hosts: &[
        "Wharf's host (wharf run --http, wharf up)",
        "wasmtime serve -Scli",
        "Spin (HTTP trigger)",
    ],
    serves: WASI_HTTP_HOST,
    wasi_line: "0.2",
    calls: "wasi:http/incoming-handler",
    refuses: "these hosts link WASI 0.2 and wasi:http, and nothing else",
};

/// `wasi:cli/command` runners: `wasmtime run`, `jco run`.
pub const COMMAND: Target = Target {
    name: "command",
    title: "wasi:cli/command runners",
    hosts: &["wasmtime run", "jco run (Node.js)"],
    serves: wasi_0_2!(),
    wasi_line: "0.2",
    calls: "wasi:cli/run",
    refuses: "a command runner links the wasi:cli/command world: WASI 0.2 without wasi:http",
};

/// Cloudflare Workers (and workerd) through Wharf's bundle: `workers/wasi.js`
/// implements exactly these interfaces over what a Worker has.
pub const WORKERS: Target = Target {
    name: "workers",
    title: "Cloudflare Workers",
    hosts: &[
        "Cloudflare Workers",
        "workerd (wharf bundle --target workers)",
    ],
    serves: &[
        "wasi:io/error",
        "wasi:io/poll",
        "wasi:io/streams",
        "wasi:cli/environment",
        "wasi:cli/exit",
        "wasi:cli/stdin",
        "wasi:cli/stdout",
        "wasi:cli/stderr",
        "wasi:cli/terminal-input",
        "wasi:cli/terminal-output",
        "wasi:cli/terminal-stdin",
        "wasi:cli/terminal-stdout",
        "wasi:cli/terminal-stderr",
        "wasi:clocks/monotonic-clock",
        "wasi:clocks/wall-clock",
        "wasi:random/random",
        "wasi:random/insecure",
        "wasi:random/insecure-seed",
        "wasi:http/types",
    ],
    wasi_line: "0.2",
    calls: "wasi:http/incoming-handler",
    refuses: "a Worker has no filesystem or sockets, and the bundle makes no outbound HTTP requests",
};

/// jco in Node.js: `jco serve` (the component transpiled to JavaScript, its imports
/// from `@bytecodealliance/preview2-shim`, which implements all of WASI 0.2 on Node's
/// APIs). A command runs under `jco run`, a `wasi:cli/command` runner ([`COMMAND`]).
pub const JCO: Target = Target {
    name: "jco",
    title: "jco in Node.js",
    hosts: &["jco serve (Node.js)"],
    serves: WASI_HTTP_HOST,
    wasi_line: "0.2",
    calls: "wasi:http/incoming-handler",
    refuses: "preview2-shim implements WASI 0.2 and wasi:http, and nothing else",
};

/// Every target, by name.
pub const TARGETS: &[Target] = &[PROXY, COMMAND, WORKERS, JCO];

/// The target `--target name` means.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The names of every target, for a message listing them: `proxy, command, ...`.
pub fn names() -> String {
    TARGETS
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The imports of a component (importing and exporting these names) that some target
/// does not serve: the ones worth asking [`brought_in_by_keys`] about.
pub fn refused_anywhere(imports: &[String], exports: &[String]) -> Vec<String> {
    let mut refused: Vec<String> = TARGETS
        .iter()
        .filter_map(|t| t.refusal(imports, exports))
        .flat_map(|r| r.unserved)
        .collect();
    refused.sort();
    refused.dedup();
    refused
}

/// Every target's verdict on a component that imports and exports these names, in
/// [`TARGETS`] order: the registry's `targets` and what `wharf info` prints.
/// `brought_in_by` maps a refused import to the manifest keys of the plugs that
/// brought it (from [`brought_in_by_keys`]; an import it lacks gets an empty list).
pub fn fits(
    imports: &[String],
    exports: &[String],
    brought_in_by: &BTreeMap<String, Vec<String>>,
) -> Vec<TargetFit> {
    TARGETS
        .iter()
        .map(|target| {
            let refusal = target.refusal(imports, exports).unwrap_or_default();
            TargetFit {
                name: target.name.into(),
                title: target.title.into(),
                hosts: target.hosts.iter().map(|h| (*h).into()).collect(),
                runs: refusal == Refusal::default(),
                imports_in_the_way: (refusal.unserved.into_iter())
                    .map(|i| {
                        let keys = brought_in_by.get(&i).cloned().unwrap_or_default();
                        (i, keys)
                    })
                    .collect(),
                missing_export: refusal.missing_export,
            }
        })
        .collect()
}

/// [`fits`] of a component's bytes, reading its imports, exports and provenance.
pub fn fits_of(component: &[u8]) -> anyhow::Result<Vec<TargetFit>> {
    let imports = crate::imports(component)?;
    let exports = crate::exports(component)?;
    let refused = refused_anywhere(&imports, &exports);
    let brought_in_by = match refused.is_empty() {
        true => BTreeMap::new(),
        false => brought_in_by_keys(component, refused),
    };
    Ok(fits(&imports, &exports, &brought_in_by))
}

/// For each of `refused` (imports of `component`), the manifest keys of the
/// constituents that import it; every list is empty when the component carries no
/// provenance (it was not made by `wharf compose`) or does not decode.
pub fn brought_in_by_keys(component: &[u8], refused: Vec<String>) -> BTreeMap<String, Vec<String>> {
    match brought_in_by(component, refused.clone()) {
        Ok((denied, _)) => denied
            .into_iter()
            .map(|d| {
                let keys = d.brought_in_by.iter().map(ToString::to_string).collect();
                (d.import, keys)
            })
            .collect(),
        Err(_) => refused.into_iter().map(|i| (i, Vec::new())).collect(),
    }
}

/// Why a component's world does not fit a target, decided from the names of its
/// imports and exports alone (as the registry stores them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refusal {
    /// The export the target calls, when the component lacks it:
    /// `wasi:http/incoming-handler@0.2.x`.
    pub missing_export: Option<String>,
    /// The imports the target does not serve, in the component's order.
    pub unserved: Vec<String>,
}

/// Why a deployable cannot run on a target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The bytes are not a component whose sections can be read.
    #[error("not a WebAssembly component")]
    Decode(#[source] anyhow::Error),
    /// It does not export what the target calls.
    #[error("{title} calls {calls} (0.2.x), which the deployable does not export (it exports: {exports})", exports = if exports.is_empty() { "nothing".into() } else { exports.join(", ") })]
    NoEntry {
        /// The target's title.
        title: &'static str,
        /// The interface the target calls.
        calls: &'static str,
        /// What the deployable exports.
        exports: Vec<String>,
    },
    /// It imports what the target does not serve.
    #[error(
        "{title} cannot serve what the deployable imports ({refuses}):\n{}{}",
        denied.iter().map(|d| if d.brought_in_by.is_empty() { format!("  {}\n", d.import) } else { format!("  {d}\n") }).collect::<String>(),
        if *attributed { "" } else { "(the component carries no wharf:provenance, so which plug brought each is unknown)" }
    )]
    Unserved {
        /// The target's title.
        title: &'static str,
        /// Why the target lacks them.
        refuses: &'static str,
        /// Each refused import and, from the provenance, who imports it.
        denied: Vec<DeniedImport>,
        /// Whether the deployable's provenance named the constituents.
        attributed: bool,
    },
}

impl Target {
    /// The `[host]` this target amounts to.
    fn host(&self) -> Host {
        Host {
            allow: self
                .serves
                .iter()
                .map(|p| p.parse::<HostPattern>().expect("target patterns are valid"))
                .collect(),
        }
    }

    /// Whether `name` (`wasi:io/streams@0.2.12`) is at a version of the WASI line.
    fn on_line(&self, name: &str) -> bool {
        let line = format!("{}.", self.wasi_line);
        name.split_once('@')
            .is_none_or(|(_, v)| v.starts_with(&line))
    }

    /// Whether a component that imports and exports these names runs here; the
    /// reasons when it does not. Every check of a target comes down to this.
    pub fn refusal(
        &self,
        imports: &[impl AsRef<str>],
        exports: &[impl AsRef<str>],
    ) -> Option<Refusal> {
        let calls = exports
            .iter()
            .map(AsRef::as_ref)
            .any(|e| e.split_once('@').map_or(e, |(b, _)| b) == self.calls && self.on_line(e));
        let host = self.host();
        let refusal = Refusal {
            missing_export: (!calls).then(|| format!("{}@{}.x", self.calls, self.wasi_line)),
            unserved: imports
                .iter()
                .map(AsRef::as_ref)
                .filter(|i| !(host.allows(i) && self.on_line(i)))
                .map(str::to_owned)
                .collect(),
        };
        (refusal != Refusal::default()).then_some(refusal)
    }

    /// Checks that `deployable` exports what this target calls and imports only what
    /// it serves; a refusal names each import and, where the deployable's provenance
    /// says, the manifest key of the plug that brought it.
    pub fn check(&self, deployable: &[u8]) -> Result<(), TargetError> {
        let exports = crate::exports(deployable).map_err(TargetError::Decode)?;
        let imports = crate::imports(deployable).map_err(TargetError::Decode)?;
        let Some(refusal) = self.refusal(&imports[..], &exports[..]) else {
            return Ok(());
        };
        if refusal.missing_export.is_some() {
            return Err(TargetError::NoEntry {
                title: self.title,
                calls: self.calls,
                exports,
            });
        }
        let (denied, attributed) =
            brought_in_by(deployable, refusal.unserved).map_err(TargetError::Decode)?;
        Err(TargetError::Unserved {
            title: self.title,
            refuses: self.refuses,
            denied,
            attributed,
        })
    }
}

/// Each of `refused` (imports of `deployable`) with the manifest keys of the
/// constituents that import it, and whether the deployable's provenance named its
/// constituents (when not, every key list is empty).
pub fn brought_in_by(
    deployable: &[u8],
    refused: Vec<String>,
) -> anyhow::Result<(Vec<DeniedImport>, bool)> {
    let importers = importers(deployable)?;
    let attributed = importers.is_some();
    let importers = importers.unwrap_or_default();
    let base = |name: &str| split_interface(name).map(|(p, i)| format!("{p}/{i}"));
    let denied = refused
        .into_iter()
        .map(|import| DeniedImport {
            brought_in_by: importers
                .iter()
                .filter(|(_, imports)| imports.iter().any(|i| base(i) == base(&import)))
                .map(|(key, _)| key.clone())
                .collect(),
            import,
        })
        .collect();
    Ok((denied, attributed))
}

/// The imports of each constituent the deployable's provenance lists, by manifest
/// key; `None` when it carries no provenance.
fn importers(deployable: &[u8]) -> anyhow::Result<Option<BTreeMap<KeyPath, Vec<String>>>> {
    let Some(provenance) = provenance(deployable) else {
        return Ok(None);
    };
    let keys: BTreeMap<&str, &str> = provenance
        .constituents
        .iter()
        .map(|c| (c.digest.as_str(), c.key.as_str()))
        .collect();
    let mut found = BTreeMap::new();
    for nested in crate::nested_components(deployable)? {
        if let Some(key) = keys.get(Digest::of(nested).to_string().as_str()) {
            let key: KeyPath = key.parse().map_err(anyhow::Error::msg)?;
            found.insert(key, crate::imports(nested)?);
        }
    }
    Ok(Some(found))
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Constituent;
    use crate::manifest::{Manifest, Source};

    /// The example gateway composed as `wharf compose` composes it, provenance and all.
    fn example() -> Vec<u8> {
        let manifest: Manifest = r#"
            [deployable]
            name = "wharf:edge"
            version = "1.0.0"
            root = { path = "gateway.wasm" }
            [plugs]
            "wharf:auth" = { path = "jwt-auth.wasm" }
            "wharf:schema" = { path = "json-schema.wasm" }
            "wharf:transform" = { path = "json-transform.wasm" }
            "wharf:compression" = { path = "flate.wasm" }
            [host]
            allow = ["wasi:cli/*", "wasi:io/*", "wasi:clocks/*", "wasi:random/*", "wasi:http/types"]
        "#
        .parse()
        .unwrap();
        let constituents: Vec<Constituent> = manifest
            .components()
            .into_iter()
            .map(|(key, source)| {
                let Source::Path(path) = source else {
                    unreachable!()
                };
                let name = path.file_stem().unwrap().to_str().unwrap();
                let bytes = wharf_bundled::component(name).unwrap().bytes.to_vec();
                Constituent {
                    key,
                    source: source.clone(),
                    version: None,
                    digest: Digest::of(&bytes),
                    bytes,
                    signatures: Vec::new(),
                }
            })
            .collect();
        crate::compose(&manifest, &constituents).unwrap()
    }

    #[test]
    fn the_example_gateway_runs_on_workers() {
        WORKERS.check(&example()).unwrap();
    }

    #[test]
    fn the_example_gateway_runs_on_every_http_target_and_is_no_command() {
        let example = example();
        for target in [PROXY, WORKERS, JCO] {
            target.check(&example).unwrap();
        }
        let refused = COMMAND.check(&example).unwrap_err();
        assert!(
            matches!(
                refused,
                TargetError::NoEntry {
                    calls: "wasi:cli/run",
                    ..
                }
            ),
            "{refused}"
        );
    }

    #[test]
    fn a_plug_alone_runs_on_no_target_for_want_of_the_export() {
        let schema = wharf_bundled::component("json-schema").unwrap().bytes;
        for target in TARGETS {
            let message = target.check(schema).unwrap_err().to_string();
            assert!(message.contains(target.calls), "{target}: {message}");
            assert!(
                message.contains("wharf:schema/validator@1.0.0"),
                "{message}"
            );
        }
    }

    #[test]
    fn host_probe_runs_where_all_of_wasi_is_linked() {
        let probe = wharf_bundled::component("host-probe").unwrap().bytes;
        PROXY.check(probe).unwrap();
        JCO.check(probe).unwrap();
    }

    #[test]
    fn a_refusal_from_names_gives_every_reason_and_holds_to_the_wasi_line() {
        let refusal = PROXY
            .refusal(
                &[
                    "wasi:io/streams@0.2.6",
                    "wasi:io/streams@0.3.0",
                    "wasi:keyvalue/store@0.2.0-draft",
                    "wharf:auth/verifier@1.0.0",
                ],
                &["wasi:http/incoming-handler@0.3.0"],
            )
            .unwrap();
        assert_eq!(
            refusal.missing_export.as_deref(),
            Some("wasi:http/incoming-handler@0.2.x")
        );
        assert_eq!(
            refusal.unserved,
            [
                "wasi:io/streams@0.3.0",
                "wasi:keyvalue/store@0.2.0-draft",
                "wharf:auth/verifier@1.0.0"
            ]
        );
        let fits: [&str; 0] = [];
        assert_eq!(
            PROXY.refusal(
                &["wasi:sockets/tcp@0.2.0"],
                &["wasi:http/incoming-handler@0.2.0"]
            ),
            None
        );
        assert!(COMMAND.refusal(&fits, &["wasi:cli/run@0.2.6"]).is_none());
    }

    #[test]
    fn target_names_are_unique() {
        let names: std::collections::BTreeSet<_> = TARGETS.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), TARGETS.len());
    }

    #[test]
    fn a_refused_import_names_every_plug_that_brought_it() {
        // Workers without wasi:random: the gateway and three of its plugs import it.
        let serves: Vec<&str> = (WORKERS.serves.iter())
            .filter(|p| !p.starts_with("wasi:random/"))
            .copied()
            .collect();
        let target = Target {
            serves: serves.leak(),
            ..WORKERS
        };
        let TargetError::Unserved {
            denied, attributed, ..
        } = target.check(&example()).unwrap_err()
        else {
            panic!("refused for the wrong reason")
        };
        assert!(attributed);
        let seed = denied
            .iter()
            .find(|d| d.import.starts_with("wasi:random/insecure-seed@"))
            .unwrap();
        let by: Vec<String> = seed.brought_in_by.iter().map(ToString::to_string).collect();
        assert_eq!(
            by,
            [
                "deployable.root",
                "plugs.\"wharf:auth\"",
                "plugs.\"wharf:schema\"",
                "plugs.\"wharf:transform\"",
            ]
        );
        // flate imports no randomness, and jwt-auth alone brings wasi:random/random.
        let random = denied
            .iter()
            .find(|d| d.import.starts_with("wasi:random/random@"))
            .unwrap();
        assert!(
            !random
                .brought_in_by
                .iter()
                .any(|k| k.to_string().contains("compression"))
        );
    }

    #[test]
    fn host_probe_is_refused_for_its_sockets_filesystem_and_outbound_http() {
        let probe = wharf_bundled::component("host-probe").unwrap().bytes;
        let error = WORKERS.check(probe).unwrap_err();
        let message = error.to_string();
        for import in [
            "wasi:sockets/tcp@0.2.6",
            "wasi:sockets/udp@0.2.6",
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:http/outgoing-handler@0.2.12",
        ] {
            assert!(
                message.contains(&format!("\n  {import}\n")),
                "{import}: {message}"
            );
        }
        // What Workers serve is not among the refused.
        assert!(!message.contains("wasi:cli/environment"), "{message}");
        assert!(message.contains("no wharf:provenance"), "{message}");
    }

    #[test]
    fn a_component_without_the_http_export_is_refused_naming_its_exports() {
        let flate = wharf_bundled::component("flate").unwrap().bytes;
        let message = WORKERS.check(flate).unwrap_err().to_string();
        assert!(message.contains("wasi:http/incoming-handler"), "{message}");
        assert!(
            message.contains("wharf:compression/codec@1.1.0"),
            "{message}"
        );
    }
}
