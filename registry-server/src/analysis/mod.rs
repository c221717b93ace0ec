//! What the registry learns from a package's bytes on publish: whether they are a valid
//! component or binary WIT package, the WIT text, every import and export, the packages
//! depended on, and the metadata (wasm-metadata) the producer embedded. Beside it,
//! [`compat`] (semver compatibility of two WIT packages), [`provenance`] (what a
//! deployable is made of) and [`targets`] (which hosts can run a component). The analysis layer only looks at bytes: no SQL, no
//! storage, no HTTP, no rules.

pub mod compat;
pub mod provenance;
pub mod targets;

use std::collections::BTreeSet;

use semver::Version;
use serde::Serialize;
use wit_component::{DecodedWasm, WitPrinter};
use wit_parser::{PackageId, Resolve, WorldItem, WorldKey};

/// Kind of a package: a contract or an implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A binary-encoded WIT package.
    Wit,
    /// A WebAssembly component.
    Component,
}

impl Kind {
    /// The kind as the API spells it: `wit` or `component`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Wit => "wit",
            Kind::Component => "component",
        }
    }

    /// The kind `s` spells, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "wit" => Some(Kind::Wit),
            "component" => Some(Kind::Component),
            _ => None,
        }
    }
}

/// An import or export, e.g. `wharf:compression/codec@1.1.0`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Item {
    /// The full name, version included.
    pub name: String,
    /// The name without its version: `wharf:compression/codec`, or a plain name for
    /// functions and inline interfaces.
    pub item: String,
    /// The package of an interface, `wharf:compression`; empty for plain names.
    pub package: String,
    /// The interface's package version, if it has one.
    pub version: Option<Version>,
}

impl Item {
    fn new(name: String) -> Self {
        let (unversioned, version) = match name.split_once('@') {
            Some((n, v)) => (n.to_owned(), Version::parse(v).ok()),
            None => (name.clone(), None),
        };
        let package = match unversioned.split_once('/') {
            Some((p, _)) if p.contains(':') => p.to_owned(),
            _ => String::new(),
        };
        Self {
            name,
            item: unversioned,
            package,
            version,
        }
    }
}

/// What publishing found in a package.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// A WIT package or a component.
    pub kind: Kind,
    /// For a WIT package: the name and version in its package line.
    pub embedded_name: Option<String>,
    /// The version a WIT package names in its package line, if any.
    pub embedded_version: Option<Version>,
    /// The WIT of the package, or of the world a component targets.
    pub wit: String,
    /// What it imports.
    pub imports: Vec<Item>,
    /// What it exports.
    pub exports: Vec<Item>,
    /// Other packages referenced, with their versions.
    pub dependencies: Vec<(String, Option<Version>)>,
    /// The `description` of the package's metadata, if any.
    pub description: Option<String>,
    /// The `licenses` of the package's metadata, if any.
    pub license: Option<String>,
    /// The `source` of the package's metadata, if any.
    pub source: Option<String>,
    /// `[(field, [(name, version)])]` from the producers section.
    pub producers: Vec<(String, Vec<(String, String)>)>,
}

/// Why bytes are not a publishable package.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The bytes are not WebAssembly.
    #[error("the body is not WebAssembly (no `\\0asm` header)")]
    NotWasm,
    /// A core module, not a component.
    #[error("the body is a core WebAssembly module, not a component or WIT package")]
    CoreModule,
    /// The bytes do not validate as a component.
    #[error("the component is not valid: {0}")]
    Invalid(String),
    /// The component or WIT package does not decode.
    #[error("the component could not be decoded: {0}")]
    Undecodable(String),
}

/// Validates and inspects `bytes`.
pub fn analyze(bytes: &[u8]) -> Result<Analysis, AnalysisError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(AnalysisError::NotWasm);
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(AnalysisError::CoreModule);
    }
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .map_err(|e| AnalysisError::Invalid(e.to_string()))?;
    let decoded =
        wit_component::decode(bytes).map_err(|e| AnalysisError::Undecodable(format!("{e:#}")))?;
    let metadata = Metadata::read(bytes);
    let mut analysis = match decoded {
        DecodedWasm::WitPackage(resolve, pkg) => wit_package(&resolve, pkg)?,
        DecodedWasm::Component(resolve, world) => component(&resolve, world)?,
    };
    analysis.description = metadata.description;
    analysis.license = metadata.license;
    analysis.source = metadata.source;
    analysis.producers = metadata.producers;
    Ok(analysis)
}

fn print(resolve: &Resolve, pkg: PackageId) -> Result<String, AnalysisError> {
    let mut printer = WitPrinter::default();
    printer
        .print(resolve, pkg, &[])
        .map_err(|e| AnalysisError::Undecodable(format!("{e:#}")))?;
    Ok(printer.output.to_string())
}

fn wit_package(resolve: &Resolve, pkg: PackageId) -> Result<Analysis, AnalysisError> {
    let package = &resolve.packages[pkg];
    let mut dependencies = BTreeSet::new();
    for (_, iface) in &package.interfaces {
        collect_interface_deps(resolve, *iface, pkg, &mut dependencies);
    }
    for (_, world) in &package.worlds {
        let world = &resolve.worlds[*world];
        for (key, _) in world.imports.iter().chain(world.exports.iter()) {
            if let WorldKey::Interface(id) = key {
                collect_interface_deps(resolve, *id, pkg, &mut dependencies);
            }
        }
    }
    // A package's own interfaces are what implementors export.
    let exports = package
        .interfaces
        .values()
        .filter_map(|id| resolve.id_of(*id))
        .map(Item::new)
        .collect();
    Ok(Analysis {
        kind: Kind::Wit,
        embedded_name: Some(format!("{}:{}", package.name.namespace, package.name.name)),
        embedded_version: package.name.version.clone(),
        wit: print(resolve, pkg)?,
        imports: Vec::new(),
        exports,
        dependencies: dependencies.into_iter().collect(),
        description: None,
        license: None,
        source: None,
        producers: Vec::new(),
    })
}

/// Adds the packages (other than `own`) whose interfaces `iface` uses types from.
fn collect_interface_deps(
    resolve: &Resolve,
    iface: wit_parser::InterfaceId,
    own: PackageId,
    out: &mut BTreeSet<(String, Option<Version>)>,
) {
    let mut add = |pkg: Option<PackageId>| {
        if let Some(pkg) = pkg.filter(|p| *p != own) {
            let name = &resolve.packages[pkg].name;
            out.insert((
                format!("{}:{}", name.namespace, name.name),
                name.version.clone(),
            ));
        }
    };
    add(resolve.interfaces[iface].package);
    for (_, ty) in &resolve.interfaces[iface].types {
        if let wit_parser::TypeDefKind::Type(wit_parser::Type::Id(other)) = resolve.types[*ty].kind
            && let wit_parser::TypeOwner::Interface(owner) = resolve.types[other].owner
        {
            add(resolve.interfaces[owner].package);
        }
    }
}

fn component(resolve: &Resolve, world: wit_parser::WorldId) -> Result<Analysis, AnalysisError> {
    let w = &resolve.worlds[world];
    // Type imports come with the interfaces that define them; only items are listed.
    let imports: Vec<Item> = w
        .imports
        .iter()
        .filter(|(_, item)| !matches!(item, WorldItem::Type { .. }))
        .map(|(key, _)| Item::new(resolve.name_world_key(key)))
        .collect();
    let exports: Vec<Item> = w
        .exports
        .keys()
        .map(|key| Item::new(resolve.name_world_key(key)))
        .collect();
    // A component depends on what it imports; what it exports makes it an
    // implementor, which the registry answers separately.
    let mut dependencies = BTreeSet::new();
    for item in &imports {
        if !item.package.is_empty() {
            dependencies.insert((item.package.clone(), item.version.clone()));
        }
    }
    let pkg = w
        .package
        .ok_or_else(|| AnalysisError::Undecodable("the component's world has no package".into()))?;
    Ok(Analysis {
        kind: Kind::Component,
        embedded_name: None,
        embedded_version: None,
        wit: print(resolve, pkg)?,
        imports,
        exports,
        dependencies: dependencies.into_iter().collect(),
        description: None,
        license: None,
        source: None,
        producers: Vec::new(),
    })
}

#[derive(Default)]
struct Metadata {
    description: Option<String>,
    license: Option<String>,
    source: Option<String>,
    producers: Vec<(String, Vec<(String, String)>)>,
}

impl Metadata {
    /// Metadata is best-effort: a producer that embedded none, or embedded it oddly,
    /// still publishes.
    fn read(bytes: &[u8]) -> Self {
        let Ok(payload) = wasm_metadata::Payload::from_binary(bytes) else {
            return Self::default();
        };
        let m = payload.metadata();
        // Producers are recorded per module: the component says which tool made it,
        // its core modules which language and SDK. Gather them all, once each.
        let mut producers: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut stack = vec![&payload];
        while let Some(p) = stack.pop() {
            if let wasm_metadata::Payload::Component { children, .. } = p {
                stack.extend(children.iter());
            }
            for (field, values) in p.metadata().producers.iter().flat_map(|p| p.iter()) {
                let index = match producers.iter().position(|(f, _)| f == field) {
                    Some(i) => i,
                    None => {
                        producers.push((field.clone(), Vec::new()));
                        producers.len() - 1
                    }
                };
                for (name, version) in values.iter() {
                    let entry = (name.clone(), version.clone());
                    if !producers[index].1.contains(&entry) {
                        producers[index].1.push(entry);
                    }
                }
            }
        }
        Self {
            description: m.description.as_ref().map(|d| d.to_string()),
            license: m.licenses.as_ref().map(|l| l.to_string()),
            source: m.source.as_ref().map(|s| s.to_string()),
            producers,
        }
    }
}
