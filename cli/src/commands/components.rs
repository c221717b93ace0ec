//! `wharf components`: the bundled WIT packages and components, what each exports and
//! imports, and their sizes raw and gzip-compressed, including the example gateway
//! composed with its four plugs, and of that gateway's Cloudflare Workers bundle
//! (`wharf bundle --target workers`) against Cloudflare's upload limits. With
//! `--budget`, fails when any component is over it.

use std::io::Write;

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use crate::output;

/// List the bundled WIT packages and components with their exports and sizes.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf components\n  wharf components --budget 1MiB\n  wharf components --json | jq '.[] | {name, gzip}'"
)]
pub struct Args {
    /// Fail if any component, or the composed gateway, is larger than this once
    /// gzip-compressed (how edge platforms count upload limits), e.g. `1MiB`.
    #[arg(long, value_parser = wharf_types::units::parse_size)]
    budget: Option<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    kind: &'static str,
    name: String,
    version: String,
    raw: u64,
    gzip: u64,
    exports: Vec<String>,
    imports: Vec<String>,
}

/// The plugs the example gateway is composed with.
const GATEWAY_PLUGS: [&str; 4] = ["jwt-auth", "json-schema", "json-transform", "flate"];

impl Args {
    pub fn run(self) -> anyhow::Result<()> {
        let mut rows = Vec::new();
        for package in wharf_bundled::WIT_PACKAGES {
            rows.push(row(
                "wit",
                package.package.into(),
                package.version.into(),
                package.bytes,
            )?);
        }
        for component in wharf_bundled::COMPONENTS {
            rows.push(row(
                "component",
                component.package.into(),
                component.version.into(),
                component.bytes,
            )?);
        }
        let bytes = |name| wharf_bundled::component(name).expect("bundled").bytes;
        let plugs: Vec<&[u8]> = GATEWAY_PLUGS.iter().map(|p| bytes(p)).collect();
        let composed = wharf_compose::plug(bytes("gateway"), &plugs)
            .context("composing the example gateway")?;
        let name = format!("gateway + {}", GATEWAY_PLUGS.join(" + "));
        rows.push(row("composed", name, "1.0.0".into(), &composed)?);
        // Cloudflare counts the whole upload: the adapter, the transpiled JavaScript
        // and every core module, each compressed.
        let bundle = super::bundle::Bundle::workers(&composed, false)
            .context("bundling the composed gateway for Cloudflare Workers")?;
        let workers = Row {
            kind: "workers",
            name: "Workers bundle of the composed gateway".into(),
            version: "1.0.0".into(),
            raw: bundle.files.iter().map(|(_, b)| b.len() as u64).sum(),
            gzip: bundle.gzip_size()?,
            exports: Vec::new(),
            imports: Vec::new(),
        };

        let workers_standing = super::bundle::within_limits(workers.gzip);
        let workers_gzip = workers.gzip;
        rows.push(workers);
        if self.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print_table(&rows);
            println!(
                "\nthe Workers bundle is {} gzip-compressed: {workers_standing}",
                output::size(workers_gzip)
            );
        }
        if workers_gzip > super::bundle::PAID_LIMIT {
            bail!("the Workers bundle is over Cloudflare's upload limit: {workers_standing}");
        }

        if let Some(budget) = self.budget {
            let over: Vec<String> = rows
                .iter()
                // The bundle answers to Cloudflare's limits, above.
                .filter(|r| r.kind != "wit" && r.kind != "workers" && r.gzip > budget)
                .map(|r| format!("{} ({} gzip)", r.name, output::size(r.gzip)))
                .collect();
            if !over.is_empty() {
                bail!(
                    "over the budget of {} gzip: {}",
                    output::size(budget),
                    over.join(", ")
                );
            }
            if !self.json {
                println!(
                    "\nall components are within the budget of {} gzip-compressed",
                    output::size(budget)
                );
            }
        }
        Ok(())
    }
}

fn row(kind: &'static str, name: String, version: String, bytes: &[u8]) -> anyhow::Result<Row> {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(bytes)?;
    let gzip = gzip.finish()?.len() as u64;
    let (exports, imports) = if kind == "wit" {
        (Vec::new(), Vec::new())
    } else {
        (
            wharf_compose::exports(bytes)?,
            wharf_compose::imports(bytes)?,
        )
    };
    Ok(Row {
        kind,
        name,
        version,
        raw: bytes.len() as u64,
        gzip,
        exports,
        imports,
    })
}

fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4);
    println!(
        "{:<10} {:<width$} {:<8} {:>10} {:>10}  exports",
        "kind", "name", "version", "raw", "gzip"
    );
    for r in rows {
        println!(
            "{:<10} {:<width$} {:<8} {:>10} {:>10}  {}",
            r.kind,
            r.name,
            r.version,
            output::size(r.raw),
            output::size(r.gzip),
            r.exports.join(", ")
        );
    }
}
