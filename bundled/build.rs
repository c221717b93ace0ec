//! Builds what `wharf-bundled` embeds:
//!
//! - every guest crate in `components/`, compiled for wasm32-wasip2 in release (the
//!   components workspace has its own `Cargo.lock` and size profile), shipped as
//!   built (a `wizer-initialize` export stays: Wharf's host runs it when it derives
//!   a serving image, see docs/host.md);
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

        // Embed what a registry shows and `wkg publish` reads: name, version,
        // description and license, as wasm-metadata custom sections.
        let bytes =
            fs::read(&built_path).unwrap_or_else(|e| panic!("{}: {e}", built_path.display()));
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
