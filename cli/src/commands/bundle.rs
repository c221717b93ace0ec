//! `wharf bundle --target workers`: a deployable made into a Cloudflare Workers bundle,
//! a directory that `wrangler deploy` uploads and `workerd serve` runs as it is.
//!
//! The deployable is first checked against the target ([`wharf_compose::target`]):
//! an import a Worker cannot serve is refused, named with the plug that brought it.
//! Then jco's transpiler (the `js-component-bindgen` crate, the core of npm's
//! `jco transpile`, so no Node.js is needed) turns the component into an ES module
//! that instantiates its core modules, which stay separate `.wasm` files: Workers
//! compile Wasm only when the Worker loads, never from bytes at run time. Beside it
//! go the adapter from `workers/` (the `fetch` handler and the WASI imports, as
//! JavaScript source), a module importing the core modules, `wrangler.toml` and a
//! workerd `config.capnp`.
//!
//! A separate command rather than `wharf compose --target`: it starts from any
//! deployable (composed, pulled or built elsewhere) and makes a directory of
//! JavaScript and configuration, not a component.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use js_component_bindgen::{InstantiationMode, TranspileOpts};
use wharf_compose::target::{self, Target};

use crate::output;

/// The adapter's JavaScript, shipped in every bundle as written in `workers/`.
const WORKER_JS: &str = include_str!("../../../workers/worker.js");
const WASI_JS: &str = include_str!("../../../workers/wasi.js");

/// The Workers compatibility date the bundle is written and tested against
/// (`scripts/interop-host` runs it on npm's workerd).
pub const COMPATIBILITY_DATE: &str = "2025-09-01";

/// Cloudflare's limits on a Worker's upload, gzip-compressed: free and paid plans.
pub const FREE_LIMIT: u64 = 3 << 20;
pub const PAID_LIMIT: u64 = 10 << 20;

/// Make a deployable into a bundle for another host (Cloudflare Workers).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf bundle --target workers edge.wasm -o edge-worker --env GATEWAY_JWT_AUDIENCE=wharf-demo --env GATEWAY_JWT_SECRET\n  wharf bundle --target workers edge.wasm --reuse-instances --json\n  (cd edge-worker && npx workerd serve config.capnp)          # local, on 127.0.0.1:8080\n  (cd edge-worker && npx wrangler secret put GATEWAY_JWT_SECRET && npx wrangler deploy)\n\n`--env KEY=VALUE` writes the value into both configuration files (`[vars]`, a text\nbinding); `--env KEY` writes no value: workerd reads KEY from its own environment\n(`fromEnvironment`), and on Cloudflare it is a secret (`wrangler secret put KEY`).\nThe deployable's `wasi:cli/environment` is the Worker's text bindings."
)]
pub struct Args {
    /// The deployable component (e.g. from `wharf compose`).
    deployable: PathBuf,
    /// The host to bundle for.
    #[arg(long, value_parser = bundle_target)]
    target: &'static Target,
    /// The directory to write the bundle into (default: `<deployable>-<target>/`
    /// beside the deployable); files of an earlier bundle there are replaced.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The Worker's name (default: the deployable's name from its provenance, e.g.
    /// `wharf-edge`, else its file name).
    #[arg(long)]
    name: Option<String>,
    /// A variable for the deployable's environment: `KEY=VALUE`, or `KEY` for a
    /// secret given when the Worker runs (see below).
    #[arg(long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Keep one instance per isolate for request after request (a new one after a
    /// trap), as `wharf run --reuse-instances` does, instead of a fresh instance per
    /// request: far less CPU time per request, but state outlives a request.
    #[arg(long)]
    reuse_instances: bool,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

/// The target `--target name` means (for `wharf compose`, which checks against any).
pub fn target_name(name: &str) -> Result<&'static Target, String> {
    target::target(name)
        .ok_or_else(|| format!("unknown target `{name}` (known: {})", target::names()))
}

/// The target `wharf bundle --target name` means: only Workers need a bundle; the other
/// targets run a deployable as it is.
fn bundle_target(name: &str) -> Result<&'static Target, String> {
    match target::target(name) {
        Some(t) if t.name == target::WORKERS.name => Ok(t),
        Some(t) => Err(format!(
            "{} run a deployable as it is, with no bundle (bundles are made for: {})",
            t.title,
            target::WORKERS.name
        )),
        None => Err(format!(
            "unknown target `{name}` (known: {})",
            target::WORKERS.name
        )),
    }
}

/// `(file name, bytes)` pairs.
type Files = Vec<(String, Vec<u8>)>;

/// The files of a Workers bundle without its configuration: the adapter, the
/// transpiled component and its core modules, by file name.
pub struct Bundle {
    /// The entry (`worker.js`) first.
    pub files: Files,
}

impl Bundle {
    /// Checks `deployable` against the Workers target and transpiles it; the Worker
    /// keeps one instance per isolate when `reuse_instances`.
    pub fn workers(deployable: &[u8], reuse_instances: bool) -> anyhow::Result<Self> {
        target::WORKERS.check(deployable)?;
        let opts = TranspileOpts {
            name: "component".into(),
            no_typescript: true,
            // `instantiate(getCoreModule, imports)`: the Worker hands it the core
            // modules Workers compiled at load and a fresh set of WASI imports per
            // request; synchronous, as `new WebAssembly.Instance` is in a Worker.
            instantiation_mode: Some(InstantiationMode::Sync),
            // No core module inlined as base64: Workers refuse to compile Wasm bytes
            // at run time.
            base64_cutoff: 0,
            nodejs_compat_disabled: true,
            ..TranspileOpts::default()
        };
        let transpiled = js_component_bindgen::transpile(deployable, opts)
            .context("transpiling the deployable with jco (js-component-bindgen)")?;
        let mut files = vec![
            ("worker.js".to_owned(), WORKER_JS.as_bytes().to_vec()),
            ("wasi.js".to_owned(), WASI_JS.as_bytes().to_vec()),
        ];
        let mut transpiled = transpiled.files;
        // Core modules in jco's order (`component.core.wasm`, `core2`, ..., `core10`).
        transpiled.sort_by_key(|(name, _)| {
            let digits: String = name.chars().filter(char::is_ascii_digit).collect();
            (!name.ends_with(".wasm"), digits.parse::<u32>().unwrap_or(1))
        });
        let mut modules = Vec::new();
        for (name, bytes) in transpiled {
            if name == "component.js" {
                let js = String::from_utf8(bytes).context("jco wrote component.js not in UTF-8")?;
                let (js, helpers) = helper_modules_as_files(&js)?;
                files.push((name, js.into_bytes()));
                for (helper, bytes) in helpers {
                    modules.push(helper.clone());
                    files.push((helper, bytes));
                }
            } else if name.ends_with(".wasm") {
                modules.push(name.clone());
                files.push((name, bytes));
            } else {
                bail!("jco wrote `{name}`, which a Workers bundle has no place for");
            }
        }
        files.push((
            "component-modules.js".to_owned(),
            modules_js(&modules, reuse_instances).into_bytes(),
        ));
        Ok(Self { files })
    }

    /// The size of every file gzip-compressed, summed: what Cloudflare counts
    /// against its upload limit.
    pub fn gzip_size(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        for (_, bytes) in &self.files {
            let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
            gzip.write_all(bytes)?;
            total += gzip.finish()?.len() as u64;
        }
        Ok(total)
    }

    /// The Wasm modules, as workerd's config and the import module list them.
    fn wasm_modules(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.ends_with(".wasm"))
    }
}

/// jco 2.11 compiles small helper modules from bytes inside `instantiate`
/// (`new WebAssembly.Module(new Uint8Array([0x00, 0x61, ...]))`: trampolines for
/// JavaScript Promise Integration, built even when unused), and Workers refuse to
/// compile Wasm at run time. Each becomes a `.wasm` file of its own that
/// `getCoreModule` hands over like the core modules, which is what js-component-bindgen
/// 2.18's `emit_conditional_suspending_wasm` does (it needs wasm-tools 0.259).
fn helper_modules_as_files(js: &str) -> anyhow::Result<(String, Files)> {
    const OPEN: &str = "new WebAssembly.Module(new Uint8Array([";
    const CLOSE: &str = "]))";
    let (mut out, mut helpers, mut rest) = (String::new(), Vec::new(), js);
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let end = after
            .find(CLOSE)
            .context("jco's component.js: a Wasm module in bytes without its end")?;
        let bytes = after[..end]
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .context("jco's component.js: a Wasm module in bytes that are not hex bytes")?;
        if !bytes.starts_with(b"\0asm") {
            bail!("jco's component.js compiles bytes that are not a Wasm module");
        }
        let name = format!("component.helper{}.wasm", helpers.len() + 1);
        out.push_str(&format!("getCoreModule({})", js_string(&name)));
        helpers.push((name, bytes));
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    Ok((out, helpers))
}

/// `component-modules.js`: the core modules imported as modules (Workers compile them
/// when the Worker loads), by the names jco's `instantiate` asks for, and whether the
/// Worker reuses instances.
fn modules_js(modules: &[String], reuse_instances: bool) -> String {
    let mut js = format!(
        "// Made by `wharf bundle --target workers`: the component's core modules, which\n\
         // Workers compile when the Worker loads, by the names jco's `instantiate` asks for.\n\
         export const reuseInstances = {reuse_instances};\n"
    );
    for (i, name) in modules.iter().enumerate() {
        js.push_str(&format!(
            "import m{i} from {};\n",
            js_string(&format!("./{name}"))
        ));
    }
    js.push_str("export const coreModules = {\n");
    for (i, name) in modules.iter().enumerate() {
        js.push_str(&format!("  {}: m{i},\n", js_string(name)));
    }
    js.push_str("};\n");
    js
}

fn js_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// One `--env`: its name, and its value unless it is given when the Worker runs.
#[derive(Debug)]
struct Var {
    name: String,
    value: Option<String>,
}

fn vars(env: &[String]) -> anyhow::Result<Vec<Var>> {
    env.iter()
        .map(|kv| {
            let (name, value) = match kv.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (kv.as_str(), None),
            };
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                bail!(
                    "`--env {kv}`: `{name}` is not a variable name a Worker binding can have (letters, digits, `_`)"
                );
            }
            Ok(Var {
                name: name.to_owned(),
                value,
            })
        })
        .collect()
}

/// `wrangler.toml`: deploy with `npx wrangler deploy` in the bundle's directory.
fn wrangler_toml(name: &str, vars: &[Var]) -> String {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut toml = format!(
        "# Made by `wharf bundle --target workers`. Deploy with `npx wrangler deploy` here;\n\
         # try it locally with `npx wrangler dev` (or `npx workerd serve config.capnp`).\n\
         name = {}\nmain = \"worker.js\"\ncompatibility_date = \"{COMPATIBILITY_DATE}\"\n\n\
         # The component's core modules: imported by component-modules.js, compiled at load.\n\
         [[rules]]\ntype = \"CompiledWasm\"\nglobs = [\"**/*.wasm\"]\nfallthrough = false\n",
        quote(name)
    );
    let (set, secret): (Vec<&Var>, Vec<&Var>) = vars.iter().partition(|v| v.value.is_some());
    if !set.is_empty() {
        toml.push_str("\n# The deployable's environment (wasi:cli/environment).\n[vars]\n");
        for var in set {
            let value = var.value.as_deref().unwrap_or_default();
            toml.push_str(&format!("{} = {}\n", var.name, quote(value)));
        }
    }
    if !secret.is_empty() {
        toml.push_str(
            "\n# Secrets, also in the deployable's environment: set each with\n\
             # `npx wrangler secret put NAME` (for `wrangler dev`, in .dev.vars):\n",
        );
        for var in secret {
            toml.push_str(&format!("#   {}\n", var.name));
        }
    }
    toml
}

/// workerd's `config.capnp`: `npx workerd serve config.capnp` in the bundle's
/// directory serves it on 127.0.0.1:8080 (`--socket-addr http=HOST:PORT` moves it).
fn workerd_capnp(bundle: &Bundle, vars: &[Var]) -> String {
    let mut modules = vec![
        "    (name = \"worker.js\", esModule = embed \"worker.js\"),".to_owned(),
        "    (name = \"wasi.js\", esModule = embed \"wasi.js\"),".to_owned(),
        "    (name = \"component.js\", esModule = embed \"component.js\"),".to_owned(),
        "    (name = \"component-modules.js\", esModule = embed \"component-modules.js\"),"
            .to_owned(),
    ];
    for wasm in bundle.wasm_modules() {
        let name = capnp_string(wasm);
        modules.push(format!("    (name = {name}, wasm = embed {name}),"));
    }
    let bindings: Vec<String> = vars
        .iter()
        .map(|var| {
            let name = capnp_string(&var.name);
            match &var.value {
                Some(value) => format!("    (name = {name}, text = {}),", capnp_string(value)),
                None => format!("    (name = {name}, fromEnvironment = {name}),"),
            }
        })
        .collect();
    format!(
        "# Made by `wharf bundle --target workers`. Serve it with `npx workerd serve config.capnp`\n\
         # here (127.0.0.1:8080; `--socket-addr http=127.0.0.1:9000` to move it). A binding\n\
         # `fromEnvironment` takes its value from workerd's own environment.\n\
         using Workerd = import \"/workerd/workerd.capnp\";\n\n\
         const config :Workerd.Config = (\n\
         \x20 services = [(name = \"main\", worker = .worker)],\n\
         \x20 sockets = [(name = \"http\", address = \"127.0.0.1:8080\", http = (), service = \"main\")],\n\
         );\n\n\
         const worker :Workerd.Worker = (\n\
         \x20 modules = [\n{}\n  ],\n\
         \x20 compatibilityDate = \"{COMPATIBILITY_DATE}\",\n\
         \x20 bindings = [\n{}\n  ],\n\
         );\n",
        modules.join("\n"),
        bindings.join("\n"),
    )
}

/// A Cap'n Proto text literal.
fn capnp_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Worker name from `name`: lowercase letters, digits and dashes.
fn worker_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_owned()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}

impl Args {
    pub fn run(self) -> anyhow::Result<()> {
        let vars = vars(&self.env)?;
        let bytes = std::fs::read(&self.deployable)
            .with_context(|| format!("reading {}", self.deployable.display()))?;
        let bundle = Bundle::workers(&bytes, self.reuse_instances).with_context(|| {
            format!(
                "bundling {} for {}",
                self.deployable.display(),
                self.target.title
            )
        })?;
        let stem = self
            .deployable
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "deployable".into());
        let name = match &self.name {
            Some(name) => {
                let valid = worker_name(name);
                if valid != *name || name.len() > 63 {
                    bail!(
                        "`--name {name}`: a Worker's name is up to 63 lowercase letters, digits and dashes (say `{valid}`)"
                    );
                }
                valid
            }
            None => worker_name(
                &wharf_compose::provenance(&bytes)
                    .map(|p| p.name.to_string())
                    .unwrap_or_else(|| stem.clone()),
            ),
        };
        let dir = self.output.clone().unwrap_or_else(|| {
            self.deployable
                .with_file_name(format!("{stem}-{}", self.target.name))
        });
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Modules of an earlier bundle would be listed nowhere but still lie in the
        // directory `wrangler deploy` uploads from.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.starts_with("component.") && file.ends_with(".wasm") {
                    std::fs::remove_file(entry.path())
                        .with_context(|| format!("removing {}", entry.path().display()))?;
                }
            }
        }
        for (file, bytes) in &bundle.files {
            write(&dir, file, bytes)?;
        }
        write(
            &dir,
            "wrangler.toml",
            wrangler_toml(&name, &vars).as_bytes(),
        )?;
        write(
            &dir,
            "config.capnp",
            workerd_capnp(&bundle, &vars).as_bytes(),
        )?;

        let gzip = bundle.gzip_size()?;
        let raw: u64 = bundle.files.iter().map(|(_, b)| b.len() as u64).sum();
        if self.json {
            let summary = serde_json::json!({
                "target": self.target.name,
                "name": name,
                "output": dir.display().to_string(),
                "files": bundle.files.iter().map(|(n, b)| serde_json::json!({"name": n, "size": b.len()})).collect::<Vec<_>>(),
                "size": raw,
                "gzip": gzip,
                "limits": {"free": FREE_LIMIT, "paid": PAID_LIMIT},
                "reuse_instances": self.reuse_instances,
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            crate::status!(
                "Bundled",
                "{name} for {} -> {} ({} files, {} raw, {} gzip: {})",
                self.target.title,
                dir.display(),
                bundle.files.len() + 2,
                output::size(raw),
                output::size(gzip),
                within_limits(gzip)
            );
        }
        Ok(())
    }
}

/// Where `gzip` bytes stand against Cloudflare's upload limits.
pub fn within_limits(gzip: u64) -> String {
    let (free, paid) = (output::size(FREE_LIMIT), output::size(PAID_LIMIT));
    if gzip <= FREE_LIMIT {
        format!("within the free plan's {free}")
    } else if gzip <= PAID_LIMIT {
        format!("over the free plan's {free}, within the paid plan's {paid}")
    } else {
        format!("over the paid plan's {paid}: Cloudflare will refuse the upload")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_compiled_from_bytes_become_files() {
        let js = "const a = new WebAssembly.Module(new Uint8Array([\n0x00, 0x61, 0x73, 0x6d,\n0x01, 0x00, 0x00, 0x00,\n]));\nf();";
        let (out, helpers) = helper_modules_as_files(js).unwrap();
        assert_eq!(
            out,
            "const a = getCoreModule(\"component.helper1.wasm\");\nf();"
        );
        assert_eq!(
            helpers,
            [(
                "component.helper1.wasm".to_owned(),
                b"\0asm\x01\0\0\0".to_vec()
            )]
        );
        assert!(helper_modules_as_files("new WebAssembly.Module(new Uint8Array([0x01]))").is_err());
    }

    #[test]
    fn worker_names_are_lowercase_words_and_dashes() {
        assert_eq!(worker_name("wharf:edge"), "wharf-edge");
        assert_eq!(worker_name("My Edge__v2"), "my-edge-v2");
    }

    #[test]
    fn capnp_strings_escape_what_would_end_them() {
        assert_eq!(capnp_string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\x01""#);
    }

    #[test]
    fn env_names_are_checked_and_values_kept_verbatim() {
        let vars = vars(&["A_1=x=y".into(), "SECRET".into()]).unwrap();
        assert_eq!(vars[0].value.as_deref(), Some("x=y"));
        assert_eq!(vars[1].value, None);
        let bad = super::vars(&["1A=x".into()]).unwrap_err().to_string();
        assert!(bad.contains("`1A`"), "{bad}");
    }
}
