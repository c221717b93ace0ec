//! Data-driven composer tests: each `tests/cases/<case>/` holds a `wharf.toml`, an
//! optional input `wharf.lock` (and an empty `locked` file for `--locked`), and the
//! expectation: `expected.txt` (the lock, the result's imports and exports, and its
//! provenance) or `error.txt` (the error chain). `BLESS=1` rewrites expectations.
//!
//! Every case runs against a filesystem registry holding the real bundled components
//! (`wharf/<name>/<version>.wasm`), plus two built here with wac-graph (see
//! [`generated`]). In `wharf.toml`, `{dir}` is the case's working directory, which
//! also holds every component as `components/<name>.wasm`, and `{digest:<name>}` that
//! component's digest. Digests in expectations are written `sha256:<name>` so they
//! survive component rebuilds.
//!
//! Every success case is composed twice, through a cold and a warm cache, and must
//! give identical bytes.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use wac_graph::types::{ItemKind, Package, Type};
use wac_graph::{CompositionGraph, EncodeOptions};
use wharf_compose::{Cache, FsResolver, Lock, LockMode, Manifest};
use wharf_types::Digest;

/// The bundled components the registry holds, by crate name.
const BUNDLED: &[&str] = &[
    "gateway",
    "jwt-auth",
    "flate",
    "brotli",
    "json-schema",
    "json-transform",
];

/// A fixture component: registry package, version, bytes.
struct Fixture {
    name: String,
    package: String,
    version: String,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let mut out: Vec<Fixture> = BUNDLED
        .iter()
        .map(|name| {
            let c = wharf_bundled::component(name).unwrap();
            Fixture {
                name: name.to_string(),
                package: c.package.into(),
                version: c.version.into(),
                bytes: c.bytes.to_vec(),
            }
        })
        .collect();
    out.extend(generated());
    out
}

/// Components the bundle lacks, built from real contracts with wac-graph:
///
/// - `compression-relay` (`wharf:compression-relay@1.0.0`) imports
///   `wharf:compression/{types,codec}@1.0.0` and exports the same instances: a plug
///   that needs a plug of its own, for transitive composition and cycles;
/// - `codec-two` (`wharf:codec-two@2.0.0`) does the same with the breaking
///   `wharf:compression@2.0.0`, for a version mismatch.
fn generated() -> Vec<Fixture> {
    let relay = |package: &str, version: &str| {
        let wit = wharf_bundled::wit_package("wharf:compression", version).unwrap();
        let mut graph = CompositionGraph::new();
        let contract = Package::from_bytes(
            "wharf:compression",
            None,
            wit.bytes.to_vec(),
            graph.types_mut(),
        )
        .unwrap();
        for interface in ["types", "codec"] {
            let ItemKind::Type(Type::Interface(id)) = contract.definitions()[interface] else {
                panic!("{interface} is an interface of wharf:compression");
            };
            let kind = ItemKind::Instance(id);
            let name = format!("wharf:compression/{interface}@{version}");
            let import = graph.import(&name, kind).unwrap();
            graph.export(import, &name).unwrap();
        }
        let bytes = graph.encode(EncodeOptions::default()).unwrap();
        let (package, version) = (package.to_string(), version.to_string());
        Fixture {
            name: package.trim_start_matches("wharf:").into(),
            package,
            version,
            bytes,
        }
    };
    vec![
        relay("wharf:compression-relay", "1.0.0"),
        relay("wharf:codec-two", "2.0.0"),
    ]
}

/// Lays out the working directory of a case: the registry, the components, and
/// `flate` also published as 0.9.0 and as a yanked 1.9.0, so resolution has choices.
fn setup(dir: &Path, fixtures: &[Fixture]) {
    for f in fixtures {
        let (ns, name) = f.package.split_once(':').unwrap();
        let package_dir = dir.join("registry").join(ns).join(name);
        fs::create_dir_all(&package_dir).unwrap();
        fs::write(package_dir.join(format!("{}.wasm", f.version)), &f.bytes).unwrap();
        fs::create_dir_all(dir.join("components")).unwrap();
        fs::write(
            dir.join("components").join(format!("{}.wasm", f.name)),
            &f.bytes,
        )
        .unwrap();
        if f.name == "flate" {
            fs::write(package_dir.join("0.9.0.wasm"), &f.bytes).unwrap();
            fs::write(package_dir.join("1.9.0.wasm"), &f.bytes).unwrap();
            fs::write(package_dir.join("1.9.0.wasm.yanked"), "").unwrap();
        }
    }
}

/// Replaces `{dir}` and `{digest:<name>}` in a manifest.
fn expand(text: &str, dir: &Path, fixtures: &[Fixture]) -> String {
    let mut text = text.replace("{dir}", dir.to_str().unwrap());
    for f in fixtures {
        text = text.replace(
            &format!("{{digest:{}}}", f.name),
            &Digest::of(&f.bytes).to_string(),
        );
    }
    text
}

/// Writes digests as `sha256:<name>` and the working directory as `{dir}`.
fn redact(text: &str, dir: &Path, fixtures: &[Fixture]) -> String {
    let mut text = text.replace(dir.to_str().unwrap(), "{dir}");
    for f in fixtures {
        text = text.replace(
            &Digest::of(&f.bytes).to_string(),
            &format!("sha256:{}", f.name),
        );
    }
    text
}

fn chain(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(e) = source {
        out.push_str(&format!("\n  caused by: {e}"));
        source = e.source();
    }
    out
}

/// Runs one case; `Ok` is the expected.txt text, `Err` the error.txt text.
fn run(case: &Path, dir: &Path, fixtures: &[Fixture]) -> Result<String, String> {
    let text = fs::read_to_string(case.join("wharf.toml")).unwrap();
    fs::write(dir.join("wharf.toml"), expand(&text, dir, fixtures)).unwrap();
    let manifest: Manifest = fs::read_to_string(dir.join("wharf.toml"))
        .unwrap()
        .parse()
        .map_err(|e| format!("manifest: {}", chain(&e)))?;
    let existing = match fs::read_to_string(case.join("wharf.lock")) {
        Ok(text) => Some(
            expand(&text, dir, fixtures)
                .parse::<Lock>()
                .map_err(|e| format!("lock: {}", chain(&e)))?,
        ),
        Err(_) => None,
    };
    let mode = if case.join("locked").exists() {
        LockMode::Locked
    } else if case.join("update").exists() {
        LockMode::Update
    } else {
        LockMode::Reuse
    };
    let resolver = FsResolver::new(dir.join("registry"));
    let lock = futures::executor::block_on(wharf_compose::resolve(
        &manifest,
        existing.as_ref(),
        &resolver,
        mode,
    ))
    .map_err(|e| format!("resolve: {}", chain(&e)))?;
    let lock_text = lock.to_string();
    assert_eq!(
        lock_text.parse::<Lock>().unwrap(),
        lock,
        "the lock round-trips"
    );

    let cache = Cache::new(dir.join("cache"));
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let constituents = futures::executor::block_on(wharf_compose::load(
            &manifest, dir, &lock, &resolver, &cache,
        ))
        .map_err(|e| format!("load: {}", chain(&e)))?;
        let bytes = wharf_compose::compose(&manifest, &constituents)
            .map_err(|e| format!("compose: {}", chain(&e)))?;
        outputs.push(bytes);
    }
    assert!(
        outputs[0] == outputs[1],
        "composing twice gave different bytes"
    );
    let bytes = &outputs[0];

    let mut out = String::new();
    out.push_str("wharf.lock:\n");
    out.push_str(&lock_text);
    out.push_str("\nimports:\n");
    let mut imports = wharf_compose::imports(bytes).unwrap();
    imports.sort();
    for import in imports {
        out.push_str(&format!("  {import}\n"));
    }
    out.push_str("exports:\n");
    for export in wharf_compose::exports(bytes).unwrap() {
        out.push_str(&format!("  {export}\n"));
    }
    let provenance = wharf_compose::provenance(bytes).expect("provenance is embedded");
    out.push_str(&format!(
        "provenance: {} {}\n",
        provenance.name, provenance.version
    ));
    for c in &provenance.constituents {
        let version = c
            .version
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        let origin = match (&c.package, &c.source) {
            (Some(package), _) => package.to_string(),
            (None, Some(source)) => source.clone(),
            (None, None) => "?".into(),
        };
        out.push_str(&format!("  {}: {origin}{version} {}\n", c.key, c.digest));
    }
    Ok(out)
}

#[test]
fn cases() {
    let bless = std::env::var_os("BLESS").is_some();
    let fixtures = fixtures();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let mut failures = BTreeMap::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap().to_owned();
        let work = tempfile::tempdir().unwrap();
        setup(work.path(), &fixtures);
        let (file, actual) = match run(case, work.path(), &fixtures) {
            Ok(out) => ("expected.txt", out),
            Err(err) => ("error.txt", err + "\n"),
        };
        let actual = redact(&actual, work.path(), &fixtures);
        let path = case.join(file);
        if bless {
            let _ = fs::remove_file(case.join("expected.txt"));
            let _ = fs::remove_file(case.join("error.txt"));
            fs::write(&path, &actual).unwrap();
            continue;
        }
        match fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => {
                failures.insert(
                    name,
                    format!("{file} differs.\n--- expected\n{expected}\n--- actual\n{actual}"),
                );
            }
            Err(_) => {
                failures.insert(name, format!("no {file}; got:\n{actual}"));
            }
        }
    }
    if !failures.is_empty() {
        let report: Vec<_> = failures
            .iter()
            .map(|(name, why)| format!("=== {name}: {why}"))
            .collect();
        panic!(
            "{} of {} cases failed (BLESS=1 rewrites expectations):\n{}",
            failures.len(),
            cases.len(),
            report.join("\n")
        );
    }
}
