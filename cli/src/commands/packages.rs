//! The commands that talk to a registry's JSON API: `search`, `info`, `pull`,
//! `publish`, `yank` and `unyank`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::json;
use wharf_types::views::{
    PackageDetail, PackageUse, Published, SearchResults, TargetFit, VersionDetail,
};

use crate::client::{Client, encode, package_path};
use crate::output;
use crate::registry::RegistryArgs;

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Search the registry by name and description.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf search gzip\n  wharf search --implements wharf:compression/codec@1\n  wharf search json --kind component --json\n  wharf search --runs-on workers           # components whose latest version a Worker can run\n\nTargets (--runs-on): proxy (wasi:http/proxy hosts: Wharf's host, wasmtime serve -Scli, Spin),\ncommand (wasi:cli/command runners: wasmtime run, jco run), workers (Cloudflare Workers\nthrough `wharf bundle`), jco (jco serve in Node.js). `wharf info <package>` says why a\ncomponent does not run on one."
)]
pub struct SearchArgs {
    /// Text to find in names and descriptions.
    #[arg(default_value = "")]
    query: String,
    /// Only components exporting this interface, e.g. `wharf:compression/codec@1`.
    #[arg(long)]
    implements: Option<String>,
    /// `wit` or `component`.
    #[arg(long)]
    kind: Option<String>,
    /// Only components whose latest version runs on this target: `proxy`, `command`,
    /// `workers` or `jco` (the registry checks the name).
    #[arg(long, value_name = "TARGET")]
    runs_on: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl SearchArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let mut path = format!("/api/v1/packages?q={}&per_page=100", encode(&self.query));
        if let Some(i) = &self.implements {
            path.push_str(&format!("&implements={}", encode(i)));
        }
        if let Some(k) = &self.kind {
            path.push_str(&format!("&kind={}", encode(k)));
        }
        if let Some(t) = &self.runs_on {
            path.push_str(&format!("&runs_on={}", encode(t)));
        }
        let found: SearchResults = Client::new(&self.registry).get(&path).await?;
        if self.json {
            return print_json(&found);
        }
        for p in &found.packages {
            println!(
                "{:<32} {:<10} {:<9} {}",
                p.name,
                p.latest.as_deref().unwrap_or("-"),
                p.kind,
                p.description.as_deref().unwrap_or("")
            );
        }
        eprintln!("{} found", found.total);
        Ok(())
    }
}

/// Show a package (versions, WIT, imports and exports, implementors, dependents) or a
/// local `.wasm` file (imports, exports, the targets that run it and, for a
/// deployable, its provenance).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf info wharf:compression\n  wharf info wharf:flate@1.1.0 --json\n  wharf info wharf:edge        # a component: which targets run it, and why not\n  wharf info ./edge.wasm       # the same verdict on a local file\n\nFor a component the registry (for a file, the composer) says which targets can run it\n(proxy: wasi:http/proxy hosts; command: wasi:cli/command runners; workers: Cloudflare\nWorkers; jco: jco serve), and for each that cannot, the export it lacks or the imports\nin the way and the plug that brought each (`version.targets` in --json, `targets` for\na file)."
)]
pub struct InfoArgs {
    /// `ns:name`, `ns:name@version`, or a path to a `.wasm` file.
    target: String,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl InfoArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let file = Path::new(&self.target);
        if self.target.ends_with(".wasm") || file.exists() {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let provenance = wharf_compose::provenance(&bytes);
            let digest = wharf_types::Digest::of(&bytes).to_string();
            let imports = wharf_compose::imports(&bytes)?;
            let exports = wharf_compose::exports(&bytes)?;
            let targets = wharf_compose::target::fits_of(&bytes)?;
            if self.json {
                return print_json(&json!({
                    "file": self.target,
                    "size": bytes.len(),
                    "digest": digest,
                    "imports": imports,
                    "exports": exports,
                    "provenance": provenance,
                    "targets": targets,
                }));
            }
            println!(
                "{}  {}  {digest}",
                self.target,
                output::size(bytes.len() as u64),
            );
            for (title, items) in [("exports", &exports), ("imports", &imports)] {
                println!("{title}:");
                for item in items {
                    println!("  {item}");
                }
            }
            if let Some(p) = provenance {
                println!("deployable {}@{}, made of:", p.name, p.version);
                for c in p.constituents {
                    let what = c.package.or(c.source).unwrap_or_default();
                    let version = c.version.map(|v| format!("@{v}")).unwrap_or_default();
                    println!("  {:<36} {what}{version} {}", c.key, c.digest);
                }
            }
            print_targets(&targets);
            return Ok(());
        }
        let client = Client::new(&self.registry);
        let (spec, version) = match self.target.split_once('@') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (self.target.as_str(), None),
        };
        let (name, path) = package_path(spec)?;
        let package: PackageDetail = client.get(&format!("/api/v1/packages/{path}")).await?;
        let version = version
            .or_else(|| package.package.latest.clone())
            .context("the package has no versions to show")?;
        let detail: VersionDetail = client
            .get(&format!(
                "/api/v1/packages/{path}/versions/{}",
                encode(&version)
            ))
            .await?;
        let implementors: Option<Vec<PackageUse>> = if package.package.kind == "wit" {
            Some(
                client
                    .get(&format!("/api/v1/implementors?interface={name}"))
                    .await?,
            )
        } else {
            None
        };
        let dependents: Vec<PackageUse> = client
            .get(&format!("/api/v1/dependents?package={name}"))
            .await?;
        if self.json {
            return print_json(
                &json!({"package": package, "version": detail, "implementors": implementors, "dependents": dependents}),
            );
        }
        println!(
            "{name}  ({}, latest {})",
            package.package.kind,
            package.package.latest.as_deref().unwrap_or("-")
        );
        if let Some(d) = &package.package.description {
            println!("{d}");
        }
        let versions: Vec<&str> = package
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .collect();
        println!("versions: {}", versions.join(", "));
        println!(
            "{version}: {} {}{}",
            output::size(u64::try_from(detail.size).unwrap_or(0)),
            detail.digest,
            if detail.yanked { " (yanked)" } else { "" }
        );
        for (title, items) in [("exports", &detail.exports), ("imports", &detail.imports)] {
            let items: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
            if !items.is_empty() {
                println!("{title}:\n  {}", items.join("\n  "));
            }
        }
        print_targets(&detail.targets);
        for (title, list) in [
            ("implementors", implementors.unwrap_or_default()),
            ("dependents", dependents),
        ] {
            let names: Vec<String> = list
                .iter()
                .map(|p| format!("{}@{}", p.name, p.version))
                .collect();
            if !names.is_empty() {
                println!("{title}: {}", names.join(", "));
            }
        }
        println!("\n{}", detail.wit);
        Ok(())
    }
}

/// The `targets` of a version as the registry answers them: one line per target,
/// and under a target that cannot run it, why.
fn print_targets(targets: &[TargetFit]) {
    if targets.is_empty() {
        return;
    }
    println!("targets:");
    for t in targets {
        let runs = if t.runs { "runs" } else { "no" };
        println!(
            "  {:<8} {runs:<4}  {} ({})",
            t.name,
            t.title,
            t.hosts.join(", ")
        );
        if let Some(export) = &t.missing_export {
            println!("{:16}it does not export {export}", "");
        }
        for (import, by) in &t.imports_in_the_way {
            let by = match by.is_empty() {
                true => String::new(),
                false => format!(" (imported by {})", by.join(", ")),
            };
            println!("{:16}it imports {import}{by}", "");
        }
    }
}

/// Download a package: the highest version matching a requirement, digest-checked.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf pull wharf:flate\n  wharf pull 'wharf:flate@^1.1' -o ./flate.wasm\n  wharf pull wharf:compression@1.0.0      # a WIT package: writes compression.wit"
)]
pub struct PullArgs {
    /// `ns:name` or `ns:name@requirement`.
    package: String,
    /// Where to write (default: `<name>.wasm`, or `<name>.wit` with the WIT text for a
    /// WIT package).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    log: crate::trust::LogArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl PullArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = Client::new(&self.registry);
        let fetched = client.fetch(&self.package).await?;
        // Nothing is written unless the log vouches for the digest.
        let log_index = match crate::trust::open(
            &self.registry.registry,
            self.registry.token(),
            &self.log,
            None,
            false,
        )
        .await?
        {
            Some(verifier) => {
                let proof = verifier
                    .verify(&fetched.name, &fetched.version, &fetched.digest)
                    .await?;
                crate::trust::remember(&self.registry.registry, &verifier)?;
                Some(proof.index)
            }
            None => None,
        };
        let (name, version, digest, bytes) = (
            &fetched.name,
            fetched.version.as_str(),
            &fetched.digest,
            &fetched.bytes,
        );
        let path = format!("{}/{}", name.namespace(), name.name());
        let wit_text = fetched.kind == "wit";
        let output = self.output.unwrap_or_else(|| {
            PathBuf::from(format!(
                "{}.{}",
                name.name(),
                if wit_text { "wit" } else { "wasm" }
            ))
        });
        if wit_text && output.extension().is_some_and(|e| e == "wit") {
            let detail: VersionDetail = client
                .get(&format!(
                    "/api/v1/packages/{path}/versions/{}",
                    encode(version)
                ))
                .await?;
            std::fs::write(&output, detail.wit)?;
        } else {
            std::fs::write(&output, bytes)?;
        }
        if self.json {
            return print_json(
                &json!({"package": name.to_string(), "version": version, "digest": digest.to_string(), "output": output.display().to_string(), "log_index": log_index}),
            );
        }
        crate::status!(
            "Pulled",
            "{name}@{version} ({}) -> {}",
            output::size(bytes.len() as u64),
            output.display()
        );
        Ok(())
    }
}

/// Publish a component, a binary WIT package, or a WIT directory.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf publish flate.wasm                          # name and version from the component's metadata\n  wharf publish compression.wasm                    # a WIT package names itself\n  wharf publish wit/                                # a WIT directory, built first\n  wharf publish app.wasm --package acme:app@1.2.0 --dry-run\n  wharf publish gateway.wasm --sign-key ~/.config/wharf/keys/wharf.key   # and sign it (wharf key)"
)]
pub struct PublishArgs {
    /// A `.wasm` file (a component or a binary-encoded WIT package) or a directory of
    /// `.wit` files (with dependencies in `deps/`), built into a WIT package first.
    path: PathBuf,
    /// `ns:name@version` to publish as (default: the WIT package line, or the
    /// component's wasm-metadata name and version), as `wkg publish --package`.
    #[arg(long)]
    package: Option<String>,
    /// Show what would be published and stop.
    #[arg(long)]
    dry_run: bool,
    /// Sign the published version with this private key (PKCS#8 PEM, from `wharf key
    /// generate`; registered for the namespace with `wharf key add`).
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl PublishArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let bytes = if self.path.is_dir() {
            encode_wit_dir(&self.path)?
        } else {
            std::fs::read(&self.path).with_context(|| format!("reading {}", self.path.display()))?
        };
        // A key that cannot be read stops the publish before anything is sent.
        let sign_key = self
            .sign_key
            .as_deref()
            .map(super::keys::read_private_key)
            .transpose()?;
        let (embedded_name, embedded_version) = embedded_identity(&bytes);
        let (given_name, given_version) = match self.package.as_deref().map(|p| p.split_once('@')) {
            Some(Some((n, v))) => (Some(n.to_owned()), Some(v.to_owned())),
            Some(None) => anyhow::bail!("--package takes `ns:name@version`"),
            None => (None, None),
        };
        let name = given_name
            .or(embedded_name)
            .context("the file names no package: give --package ns:name@version")?;
        let version = given_version
            .or(embedded_version)
            .context("the file carries no version: give --package ns:name@version")?;
        let (name, path) = package_path(&name)?;
        let imports = wharf_compose::imports(&bytes).unwrap_or_default();
        let exports = wharf_compose::exports(&bytes).unwrap_or_default();
        if !self.json {
            crate::status!(
                "Publishing",
                "{name}@{version} ({})",
                output::size(bytes.len() as u64)
            );
            for e in &exports {
                eprintln!("     exports {e}");
            }
            for i in &imports {
                eprintln!("     imports {i}");
            }
        }
        if self.dry_run {
            if self.json {
                print_json(
                    &json!({"package": name.to_string(), "version": version, "imports": imports, "exports": exports, "dry_run": true}),
                )?;
            }
            return Ok(());
        }
        let path = format!("/api/v1/packages/{path}/versions/{}", encode(&version));
        let digest = wharf_types::Digest::of(&bytes);
        let client = Client::new(&self.registry);
        if let Some(key) = &sign_key {
            super::keys::check_registered(&client, name.namespace(), key).await?;
        }
        let published = client
            .upload(&path, bytes, &format!("{name}@{version}"))
            .await?;
        let published: Published = crate::client::parse(&path, &published)?;
        let signature = match &sign_key {
            Some(key) => {
                anyhow::ensure!(
                    published.digest == digest.to_string(),
                    "the registry stored {name}@{version} as {}, not {digest}; nothing was signed",
                    published.digest
                );
                Some(super::keys::attach(&client, key, &name, &published.version, &digest).await?)
            }
            None => None,
        };
        if self.json {
            let mut out = serde_json::to_value(&published)?;
            if let Some(signature) = &signature {
                out["signature"] = serde_json::to_value(signature)?;
            }
            return print_json(&out);
        }
        crate::status!("Published", "{name}@{version} {}", published.digest);
        if let Some(signature) = signature {
            crate::status!("Signed", "{name}@{version} with key {}", signature.keyid);
        }
        Ok(())
    }
}

/// Builds a WIT directory (its `.wit` files, with dependencies in `deps/`) into a
/// binary WIT package, as `wkg wit build` does.
fn encode_wit_dir(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::default();
    // `render_error` puts the file, line and a snippet into wit-parser's message.
    let (package, _) = resolve.push_dir(dir).map_err(|e| {
        anyhow::anyhow!(
            "parsing the WIT in {}:\n{}",
            dir.display(),
            resolve.render_error(&e)
        )
    })?;
    wit_component::encode(&resolve, package)
        .with_context(|| format!("encoding the WIT package in {}", dir.display()))
}

/// The name and version a package carries: a WIT package's package line, or a
/// component's wasm-metadata name and version.
fn embedded_identity(bytes: &[u8]) -> (Option<String>, Option<String>) {
    if let Ok(wit_component::DecodedWasm::WitPackage(resolve, id)) = wit_component::decode(bytes) {
        let name = &resolve.packages[id].name;
        return (
            Some(format!("{}:{}", name.namespace, name.name)),
            name.version.as_ref().map(ToString::to_string),
        );
    }
    match wasm_metadata::Payload::from_binary(bytes) {
        Ok(payload) => {
            let m = payload.metadata();
            (m.name.clone(), m.version.as_ref().map(|v| v.to_string()))
        }
        Err(_) => (None, None),
    }
}

/// Yank a version: it leaves resolution and listings, and stays downloadable.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf yank wharf:flate@1.1.0\n  wharf yank --undo wharf:flate@1.1.0"
)]
pub struct YankArgs {
    /// `ns:name@version`.
    package: String,
    /// Unyank instead.
    #[arg(long)]
    undo: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl YankArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let (spec, version) = self
            .package
            .split_once('@')
            .context("give the version to yank: `ns:name@version`")?;
        let (name, path) = package_path(spec)?;
        let client = Client::new(&self.registry);
        let uri = format!("/api/v1/packages/{path}/versions/{}/yank", encode(version));
        if self.undo {
            client.delete(&uri).await?;
            crate::status!("Unyanked", "{name}@{version}");
        } else {
            client.put(&uri).await?;
            crate::status!("Yanked", "{name}@{version}");
        }
        Ok(())
    }
}

/// Undo a yank: the version resolves again (the same as `wharf yank --undo`).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  wharf unyank wharf:flate@1.1.0")]
pub struct UnyankArgs {
    /// `ns:name@version`.
    package: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl UnyankArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        YankArgs {
            package: self.package,
            undo: true,
            registry: self.registry,
        }
        .run()
        .await
    }
}
