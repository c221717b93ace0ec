//! Builds what `wharf-bundled` embeds:
//!
//! - every guest crate in `components/`, compiled for wasm32-wasip2 in release (the
//!   components workspace has its own `Cargo.lock` and size profile); a crate with
//!   `[package.metadata.wharf] pre-initialize = true` exports `wizer-initialize`,
//!   which with the `pre-initialize` feature is run once with wasmtime-wizer (the
//!   snapshot is shipped), and which every build then removes;
//! - every WIT package in `wit-packages/<name>/<version>/`, encoded in the binary form
//!   that wit-component and `wkg` produce;
//!
//! and writes `bundled.rs` into `OUT_DIR` with a table of both (as in wasmtime's
//! `test-programs-artifacts`).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use wasm_metadata::{AddMetadata, AddMetadataField};
use wit_parser::Resolve;

/// The vendored WASI packages, in dependency order.
const WASI_DEPS: &[&str] = &[
    "io",
    "clocks",
    "random",
    "filesystem",
    "sockets",
    "cli",
    "http",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());

    let (test_only, components): (Vec<_>, Vec<_>) = build_components(&root, &out_dir)
        .into_iter()
        .partition(|c| c.test_only);
    let wit_packages = encode_wit_packages(&root, &out_dir);

    let mut src = String::new();
    for (name, doc, list) in [
        (
            "COMPONENTS",
            "The components built from `components/`, by crate name.",
            &components,
        ),
        (
            "TEST_COMPONENTS",
            "Guests built only for tests (`test-only = true`): never published or counted.",
            &test_only,
        ),
    ] {
        writeln!(src, "/// {doc}\npub const {name}: &[Component] = &[").unwrap();
        for c in list {
            writeln!(
                src,
                "    Component {{ crate_name: {:?}, package: {:?}, version: {:?}, description: {:?}, bytes: include_bytes!({:?}) }},",
                c.crate_name, c.package, c.version, c.description, c.path
            )
            .unwrap();
        }
        src.push_str("];\n\n");
    }
    src.push_str("/// The WIT packages from `wit-packages/`, binary-encoded.\n");
    src.push_str("pub const WIT_PACKAGES: &[WitPackage] = &[\n");
    for (package, version, path) in &wit_packages {
        writeln!(
            src,
            "    WitPackage {{ package: {package:?}, version: {version:?}, bytes: include_bytes!({path:?}) }},"
        )
        .unwrap();
    }
    src.push_str("];\n");
    fs::write(out_dir.join("bundled.rs"), src).unwrap();
}

struct Built {
    crate_name: String,
    package: String,
    version: String,
    description: String,
    path: PathBuf,
    /// `[package.metadata.wharf] test-only = true`: a guest for tests, not a package.
    test_only: bool,
}

fn build_components(root: &Path, out_dir: &Path) -> Vec<Built> {
    let workspace = root.join("components");
    let manifest = workspace.join("Cargo.toml");
    for file in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(file).display());
    }

    // Share one target directory across host profiles, next to the host's own
    // (OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out).
    let target_dir = env::var_os("WHARF_COMPONENTS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir.ancestors().nth(4).unwrap().join("wasm-components"));
    println!("cargo:rerun-if-env-changed=WHARF_COMPONENTS_TARGET_DIR");

    let mut cargo = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--workspace",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // The host build's flags and wrappers are not meant for the guests.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        // Cargo reads stdout of build scripts as instructions; send the build's to stderr.
        .stdout(Stdio::from(std::io::stderr()));
    let status = cargo.status().expect("run cargo for the components");
    assert!(
        status.success(),
        "building the components for wasm32-wasip2 failed (its output is above); is the target installed? \
         (`rustup target add wasm32-wasip2`)"
    );

    let metadata = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("run cargo metadata for the components");
    assert!(
        metadata.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&metadata.stderr)
    );
    let metadata: Value = serde_json::from_slice(&metadata.stdout).unwrap();

    let mut built = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let crate_name = package["name"].as_str().unwrap().to_owned();
        let crate_dir = Path::new(package["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap();
        println!(
            "cargo:rerun-if-changed={}",
            crate_dir.join("Cargo.toml").display()
        );
        println!("cargo:rerun-if-changed={}", crate_dir.join("src").display());
        let lib_name = package["targets"][0]["name"]
            .as_str()
            .unwrap()
            .replace('-', "_");
        let built_path = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{lib_name}.wasm"));
        let registry_package = package["metadata"]["wharf"]["package"]
            .as_str()
            .unwrap_or_else(|| panic!("{crate_name}: [package.metadata.wharf] package is missing"))
            .to_owned();
        let version = package["version"].as_str().unwrap().to_owned();
        let description = package["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let test_only = package["metadata"]["wharf"]["test-only"]
            .as_bool()
            .unwrap_or(false);
        let license = package["license"].as_str().unwrap_or_default().to_owned();
        let pre_initialize = package["metadata"]["wharf"]["pre-initialize"]
            .as_bool()
            .unwrap_or(false);

        // Embed what a registry shows and `wkg publish` reads: name, version,
        // description and license, as wasm-metadata custom sections.
        let bytes =
            fs::read(&built_path).unwrap_or_else(|e| panic!("{}: {e}", built_path.display()));
        let bytes = if pre_initialize {
            pre_initialized(&bytes)
                .unwrap_or_else(|e| panic!("{crate_name}: pre-initialize: {e:?}"))
        } else {
            bytes
        };
        let mut metadata = AddMetadata::default();
        metadata.name = AddMetadataField::Set(registry_package.clone());
        metadata.version = AddMetadataField::Set(wasm_metadata::Version::new(version.clone()));
        metadata.description =
            AddMetadataField::Set(wasm_metadata::Description::new(description.clone()));
        if !license.is_empty() {
            metadata.licenses = AddMetadataField::Set(
                wasm_metadata::Licenses::new(&license).expect("an SPDX license"),
            );
        }
        let bytes = metadata
            .to_wasm(&bytes)
            .unwrap_or_else(|e| panic!("{crate_name}: add metadata: {e:?}"));
        let components_dir = out_dir.join("components");
        fs::create_dir_all(&components_dir).unwrap();
        let path = components_dir.join(format!("{crate_name}.wasm"));
        fs::write(&path, bytes).unwrap();
        built.push(Built {
            package: registry_package,
            version,
            description,
            crate_name,
            path,
            test_only,
        });
    }
    built.sort_by(|a, b| a.crate_name.cmp(&b.crate_name));
    built
}

/// Encodes every `wit-packages/<name>/<version>/` directory. All of them go into one
/// `Resolve` (WASI first, then the Wharf packages, the gateway world last since it
/// imports the others) so that references between packages resolve.
fn encode_wit_packages(root: &Path, out_dir: &Path) -> Vec<(String, String, PathBuf)> {
    let wit_root = root.join("wit-packages");
    println!("cargo:rerun-if-changed={}", wit_root.display());
    let mut resolve = Resolve::default();
    for dep in WASI_DEPS {
        resolve
            .push_path(wit_root.join("deps").join(format!("{dep}.wit")))
            .unwrap_or_else(|e| panic!("wit-packages/deps/{dep}.wit: {e:?}"));
    }

    let mut dirs = Vec::new();
    for entry in fs::read_dir(&wit_root).unwrap() {
        let dir = entry.unwrap().path();
        if dir.file_name().unwrap() == "deps" || !dir.is_dir() {
            continue;
        }
        for version in fs::read_dir(&dir).unwrap() {
            dirs.push(version.unwrap().path());
        }
    }
    // Packages that import other Wharf packages sort after them.
    dirs.sort_by_key(|d| (d.parent().unwrap().ends_with("gateway"), d.clone()));

    let encoded_dir = out_dir.join("wit");
    fs::create_dir_all(&encoded_dir).unwrap();
    let mut encoded = Vec::new();
    for dir in dirs {
        let (id, _) = resolve
            .push_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e:?}", dir.display()));
        let name = &resolve.packages[id].name;
        let version = name
            .version
            .as_ref()
            .expect("Wharf packages carry a version")
            .to_string();
        let package = format!("{}:{}", name.namespace, name.name);
        let dir_version = dir.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            dir_version,
            version,
            "{}: the folder says {dir_version} but the package line says {version}",
            dir.display()
        );
        let bytes = wit_component::encode(&resolve, id)
            .unwrap_or_else(|e| panic!("encode {package}: {e:?}"));
        let path = encoded_dir.join(format!("{}-{}@{version}.wasm", name.namespace, name.name));
        fs::write(&path, bytes).unwrap();
        encoded.push((package, version, path));
    }
    encoded
}

/// The component initialized by its `wizer-initialize` export (feature
/// `pre-initialize`), or as it was; either way without that export.
fn pre_initialized(wasm: &[u8]) -> Result<Vec<u8>, String> {
    #[cfg(feature = "pre-initialize")]
    let wasm = &wizen(wasm).map_err(|e| format!("{e:?}"))?;
    Ok(remove_export(wasm, INIT_FUNC))
}

/// The export wasmtime-wizer runs (its default name).
const INIT_FUNC: &str = "wizer-initialize";

/// What `wasi:random` answers while a component pre-initializes: fixed, so that the
/// build is reproducible. Whatever the guest derives from it (std's hash keys) is
/// then the same in every instance of the snapshot, and public.
#[cfg(feature = "pre-initialize")]
const SNAPSHOT_SEED: (u64, u64) = (0x7768_6172_665f_7365, 0x6564_5f6b_6579_7321);

/// Runs `wasm`'s `wizer-initialize` export once and returns the component with the
/// memory and globals it left (still exporting it: `remove_export` drops it). The guest may read random bytes
/// (std seeds its hash maps); every other import traps, so an initializer cannot
/// capture anything from the build machine.
#[cfg(feature = "pre-initialize")]
fn wizen(wasm: &[u8]) -> wasmtime::Result<Vec<u8>> {
    use wasmtime::component::{Linker, types::ComponentItem};

    let engine = wasmtime::Engine::new(&wasmtime::Config::new())?;
    let mut store = wasmtime::Store::new(&engine, ());
    // Removing the init export inside wizer leaves a dangling core alias to it
    // (wasmtime#13168), so wizer keeps it and `remove_export` drops it after.
    let mut wizer = wasmtime_wizer::Wizer::new();
    wizer.init_func(INIT_FUNC).keep_init_func(true);
    let run = wizer.run_component(&mut store, wasm, async |store, component| {
        let mut linker = Linker::<()>::new(store.engine());
        let ty = component.component_type();
        for (name, item) in ty.imports(store.engine()) {
            if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                continue;
            }
            if name.starts_with("wasi:random/insecure-seed@") {
                linker
                    .instance(name)?
                    .func_wrap("insecure-seed", |_, ()| Ok((SNAPSHOT_SEED,)))?;
            } else if name.starts_with("wasi:random/random@") {
                let mut random = linker.instance(name)?;
                random.func_wrap("get-random-u64", |_, ()| Ok((SNAPSHOT_SEED.0,)))?;
                random.func_wrap("get-random-bytes", |_, (len,): (u64,)| {
                    Ok((splitmix(SNAPSHOT_SEED.1, len as usize),))
                })?;
            } else if name.starts_with("wasi:random/insecure@") {
                let mut random = linker.instance(name)?;
                random.func_wrap("get-insecure-random-u64", |_, ()| Ok((SNAPSHOT_SEED.1,)))?;
                random.func_wrap("get-insecure-random-bytes", |_, (len,): (u64,)| {
                    Ok((splitmix(SNAPSHOT_SEED.0, len as usize),))
                })?;
            }
        }
        linker.define_unknown_imports_as_traps(component)?;
        linker.instantiate_async(store, component).await
    });
    let (snapshot, _results) = block_on(run)?;
    Ok(snapshot)
}

/// `wasm` without its function export `name`, every later function index shifted
/// down by one as the export's own index goes away. Nested modules and components
/// (index spaces of their own) and sections that cannot name a component function
/// are copied byte for byte; the result is validated.
fn remove_export(wasm: &[u8], name: &str) -> Vec<u8> {
    use wasm_encoder::reencode::{Error, Reencode, ReencodeComponent, component_utils as utils};
    use wasmparser::{
        CanonicalFunction, Chunk, ComponentAlias, ComponentExternalKind, Parser, Payload,
    };

    /// Counts the component functions defined so far, as wasmtime-wizer's own
    /// rewriter does, and renumbers references past the removed one.
    struct Renumber<'a> {
        name: &'a str,
        funcs: u32,
        removed: Option<u32>,
    }
    impl Reencode for Renumber<'_> {
        type Error = std::convert::Infallible;
    }
    type Result<T = ()> = std::result::Result<T, Error<std::convert::Infallible>>;
    impl ReencodeComponent for Renumber<'_> {
        fn component_func_index(&mut self, index: u32) -> u32 {
            match self.removed {
                Some(removed) if index == removed => panic!("`{}` is referenced", self.name),
                Some(removed) if index > removed => index - 1,
                _ => index,
            }
        }
        fn parse_component_alias_section(
            &mut self,
            aliases: &mut wasm_encoder::ComponentAliasSection,
            section: wasmparser::ComponentAliasSectionReader<'_>,
        ) -> Result {
            for alias in section.clone() {
                if let ComponentAlias::InstanceExport {
                    kind: ComponentExternalKind::Func,
                    ..
                } = alias?
                {
                    self.funcs += 1;
                }
            }
            utils::parse_component_alias_section(self, aliases, section)
        }
        fn parse_component_canonical_section(
            &mut self,
            canonicals: &mut wasm_encoder::CanonicalFunctionSection,
            section: wasmparser::ComponentCanonicalSectionReader<'_>,
        ) -> Result {
            for canonical in section.clone() {
                if let CanonicalFunction::Lift { .. } = canonical? {
                    self.funcs += 1;
                }
            }
            utils::parse_component_canonical_section(self, canonicals, section)
        }
        fn parse_component_import_section(
            &mut self,
            imports: &mut wasm_encoder::ComponentImportSection,
            section: wasmparser::ComponentImportSectionReader<'_>,
        ) -> Result {
            for import in section.clone() {
                if import?.ty.kind() == ComponentExternalKind::Func {
                    self.funcs += 1;
                }
            }
            utils::parse_component_import_section(self, imports, section)
        }
        fn parse_component_export_section(
            &mut self,
            exports: &mut wasm_encoder::ComponentExportSection,
            section: wasmparser::ComponentExportSectionReader<'_>,
        ) -> Result {
            for export in section {
                let export = export?;
                if export.name.name == self.name {
                    assert_eq!(export.kind, ComponentExternalKind::Func);
                    self.removed = Some(self.funcs);
                    continue;
                }
                if export.kind == ComponentExternalKind::Func {
                    self.funcs += 1;
                }
                self.parse_component_export(exports, export)?;
            }
            Ok(())
        }
    }

    let mut renumber = Renumber {
        name,
        funcs: 0,
        removed: None,
    };
    let mut out = wasm_encoder::Component::new();
    let mut parser = Parser::new(0);
    let mut offset = 0;
    loop {
        let Chunk::Parsed { consumed, payload } = parser.parse(&wasm[offset..], true).unwrap()
        else {
            unreachable!("the whole component is in memory");
        };
        offset += consumed;
        let rewritten = match &payload {
            Payload::End(_) => break,
            Payload::Version { .. } => continue,
            Payload::ComponentStartSection { .. } => panic!("a component start function"),
            Payload::ComponentInstanceSection(r) => reencode(
                &mut out,
                |s: &mut wasm_encoder::ComponentInstanceSection| {
                    renumber.parse_component_instance_section(s, r.clone())
                },
            ),
            Payload::ComponentAliasSection(r) => {
                reencode(&mut out, |s: &mut wasm_encoder::ComponentAliasSection| {
                    renumber.parse_component_alias_section(s, r.clone())
                })
            }
            Payload::ComponentCanonicalSection(r) => reencode(
                &mut out,
                |s: &mut wasm_encoder::CanonicalFunctionSection| {
                    renumber.parse_component_canonical_section(s, r.clone())
                },
            ),
            Payload::ComponentImportSection(r) => {
                reencode(&mut out, |s: &mut wasm_encoder::ComponentImportSection| {
                    renumber.parse_component_import_section(s, r.clone())
                })
            }
            Payload::ComponentExportSection(r) => {
                reencode(&mut out, |s: &mut wasm_encoder::ComponentExportSection| {
                    renumber.parse_component_export_section(s, r.clone())
                })
            }
            payload => {
                let (id, range) = payload.as_section().expect("a section");
                let range = range.start as usize..range.end as usize;
                // The parser steps over a nested module or component without
                // consuming its bytes: skip them here.
                if let Payload::ModuleSection { .. } | Payload::ComponentSection { .. } = payload {
                    offset += range.len();
                }
                out.section(&wasm_encoder::RawSection {
                    id,
                    data: &wasm[range],
                });
                continue;
            }
        };
        rewritten.unwrap_or_else(|e| panic!("re-encoding without `{name}`: {e:?}"));
    }
    assert!(
        renumber.removed.is_some(),
        "the component does not export `{name}`"
    );
    let out = out.finish();
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&out)
        .unwrap_or_else(|e| panic!("without `{name}` the component is invalid: {e}"));
    out
}

/// Appends the section `fill` writes to `out`.
fn reencode<S: Default + wasm_encoder::ComponentSection, E>(
    out: &mut wasm_encoder::Component,
    fill: impl FnOnce(&mut S) -> Result<(), E>,
) -> Result<(), E> {
    let mut section = S::default();
    fill(&mut section)?;
    out.section(&section);
    Ok(())
}

/// `len` pseudo-random bytes from `seed` (SplitMix64).
#[cfg(feature = "pre-initialize")]
fn splitmix(mut seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Polls `future` to completion on this thread: nothing the initializer calls waits
/// on I/O, so it completes without a reactor.
#[cfg(feature = "pre-initialize")]
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}
