//! A package page, at its latest version or at one version: what it is, how to get it,
//! its WIT, imports and exports, implementors and dependents, and its versions.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use maud::{Markup, html};

use super::layout::{self, kind_badge, short_digest, size, snippet};
use super::{Page, PageResult, Viewer, package_href, registry_host, version_href, wit};
use crate::AppState;
use crate::service::browse::Deployable;
use crate::service::{package_name, unknown_package};
use crate::views::{Item, PackageDetail, PackageUse, TargetFit, VersionDetail};

pub async fn latest(
    State(state): State<AppState>,
    _: Viewer,
    Path((namespace, name)): Path<(String, String)>,
) -> PageResult {
    render(&state, &namespace, &name, None).await
}

pub async fn version(
    State(state): State<AppState>,
    _: Viewer,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> PageResult {
    render(&state, &namespace, &name, Some(&version)).await
}

/// Everything one package page shows.
struct Data {
    package: PackageDetail,
    version: VersionDetail,
    /// For WIT packages: components exporting its interfaces at a version compatible
    /// with this one, then those implementing other versions.
    implementors: Vec<PackageUse>,
    other_implementors: Vec<PackageUse>,
    dependents: Vec<PackageUse>,
    deployable: Option<Deployable>,
    known: BTreeSet<String>,
    host: String,
}

async fn render(
    state: &AppState,
    namespace: &str,
    name: &str,
    version: Option<&str>,
) -> PageResult {
    let name = package_name(namespace, name)?;
    let package = state.package_detail(&name, true).await?;
    let chosen = match version {
        Some(v) => v.to_owned(),
        None => match package.package.latest.clone() {
            Some(latest) => latest,
            None => package
                .versions
                .first()
                .map(|v| v.version.clone())
                .ok_or_else(|| unknown_package(&name))?,
        },
    };
    let version = state.version_detail(&name, &chosen).await?;
    let (mut implementors, mut other_implementors) = (Vec::new(), Vec::new());
    if version.kind == "wit" {
        implementors = state.implementors(&format!("{name}@^{chosen}")).await?;
        let here: BTreeSet<_> = implementors.iter().map(|u| u.name.clone()).collect();
        other_implementors = state.implementors(&name.to_string()).await?;
        other_implementors.retain(|u| !here.contains(&u.name));
    }
    let dependents = state.dependents(&name.to_string()).await?;
    let deployable = state.deployable(&name, &chosen).await?;
    let mut candidates = wit::referenced_packages(&version.wit);
    candidates.extend(
        version
            .imports
            .iter()
            .chain(&version.exports)
            .filter_map(|i| i.package.clone()),
    );
    let known = state.existing_packages(candidates).await?;
    let data = Data {
        package,
        version,
        implementors,
        other_implementors,
        dependents,
        deployable,
        known,
        host: registry_host(state),
    };
    let title = format!("{}@{}", data.version.name, data.version.version);
    // Highlighting the WIT text is CPU work: off the workers.
    let body = crate::cpu(move || page(&data)).await;
    Ok(Page(layout::page(&title, None, body)))
}

fn page(d: &Data) -> Markup {
    let v = &d.version;
    let latest = d.package.package.latest.as_deref();
    html! {
        section.package-head {
            p.crumbs {
                a href=(format!("/namespaces/{}", namespace_of(&v.name))) { (namespace_of(&v.name)) }
                " / "
            }
            h1 { (v.name) " " span.version { (v.version) } " " (kind_badge(&v.kind)) }
            @if let Some(desc) = &v.description { p.lead { (desc) } }
            @if v.yanked {
                p.notice.warn { "This version is yanked: resolution skips it, but locked builds can still fetch it." }
            } @else if latest.is_some_and(|l| l != v.version) {
                p.notice {
                    "This is not the latest version. "
                    a href=(package_href(&v.name)) { "Latest: " (latest.unwrap_or_default()) }
                }
            }
        }
        div.columns {
            div.main {
                (install(d))
                @if let Some(deployable) = &d.deployable { (composition(v, deployable)) }
                (targets(&v.targets))
                (signatures(v))
                @if v.kind == "wit" { (implementors(d)) }
                (items("Exports", &v.exports, &d.known))
                (items("Imports", &v.imports, &d.known))
                section {
                    h2 { "WIT" }
                    (wit::render(&v.wit, &d.known))
                }
                (dependents(d))
            }
            aside.side {
                (facts(v))
                (versions(d))
            }
        }
    }
}

fn namespace_of(name: &str) -> &str {
    name.split_once(':').map_or(name, |(ns, _)| ns)
}

fn install(d: &Data) -> Markup {
    let v = &d.version;
    let spec = format!("{}@{}", v.name, v.version);
    let plug = plug_line(d);
    html! {
        section.install {
            h2 { "Install" }
            (snippet("wharf", &format!("wharf pull {spec} --registry {}", d.host)))
            (snippet("wkg", &format!("wkg get {spec} --registry {}", d.host)))
            @if let Some((label, line)) = plug { (snippet(&label, &line)) }
        }
    }
}

/// The `wharf.toml` line that uses this package: a component plugs in where it exports
/// a contract (or is the root when it exports only WASI); a contract names an
/// implementor.
fn plug_line(d: &Data) -> Option<(String, String)> {
    let v = &d.version;
    if v.kind == "component" {
        let contract = v
            .exports
            .iter()
            .filter_map(|e| e.package.as_deref())
            .find(|p| !p.starts_with("wasi:"));
        return Some(match contract {
            Some(p) => (
                "wharf.toml [plugs]".into(),
                format!(
                    "\"{p}\" = {{ package = \"{}\", version = \"^{}\" }}",
                    v.name, v.version
                ),
            ),
            None => (
                "wharf.toml [deployable]".into(),
                format!(
                    "root = {{ package = \"{}\", version = \"^{}\" }}",
                    v.name, v.version
                ),
            ),
        });
    }
    let imp = d.implementors.first()?;
    Some((
        "wharf.toml [plugs]".into(),
        format!(
            "\"{}\" = {{ package = \"{}\", version = \"^{}\" }}",
            v.name, imp.name, imp.version
        ),
    ))
}

fn composition(v: &VersionDetail, deployable: &Deployable) -> Markup {
    let href = format!("{}/deployable", version_href(&v.name, &v.version));
    html! {
        section.composition {
            h2 { "Composition" }
            p {
                "A deployable composed of " (deployable.parts.len()) " components: "
                @for (i, part) in deployable.parts.iter().enumerate() {
                    @if i > 0 { ", " }
                    (super::deployable::part_label(part))
                }
                ". "
                a href=(href) { "See the composition graph →" }
            }
        }
    }
}

/// Where a component runs: every target, and for each that cannot run it, the export
/// it lacks or the imports in the way and who brought them.
/// The version's signers, each as the registry checked it, and its OCI referrers.
fn signatures(v: &VersionDetail) -> Markup {
    html! {
        section #signatures {
            h2 { "Signatures " span.count { (v.signatures.iter().filter(|s| s.verified && !s.revoked).count()) " verified" } }
            @if v.signatures.is_empty() {
                p.muted { "Not signed (" code { "wharf sign" } ")." }
            } @else {
                ul.signatures {
                    @for s in &v.signatures {
                        @let state = if !s.verified { "unverified" } else if s.revoked { "revoked" } else { "verified" };
                        li.(state) data-keyid=(s.keyid) {
                            span.tag { (state) }
                            " key " code { (s.keyid) }
                            @if let Some(reason) = &s.reason { div.reason { (reason) } }
                        }
                    }
                }
            }
            @if !v.referrers.is_empty() {
                h3 { "Referrers" }
                ul.referrers {
                    @for r in &v.referrers {
                        li {
                            code { (r.digest) }
                            " " span.muted { (r.artifact_type.as_deref().unwrap_or("(no artifact type)")) ", " (r.size) " bytes" }
                        }
                    }
                }
            }
        }
    }
}

fn targets(targets: &[TargetFit]) -> Markup {
    html! {
        @if !targets.is_empty() {
            section #targets {
                h2 { "Runs on " span.count { (targets.iter().filter(|t| t.runs).count()) " of " (targets.len()) } }
                ul.targets {
                    @for t in targets {
                        li.(if t.runs { "runs" } else { "refused" }) data-target=(t.name) {
                            div.head {
                                span.tag { @if t.runs { "runs" } @else { "does not run" } }
                                " " strong { (t.title) } " " code.muted { (t.name) }
                            }
                            div.hosts.muted { (t.hosts.join(" · ")) }
                            @if let Some(export) = &t.missing_export {
                                div.reason { "It does not export " code { (export) } }
                            }
                            @if !t.imports_in_the_way.is_empty() {
                                div.reason { "It imports what this target does not serve:" }
                                ul.in-the-way {
                                    @for (import, by) in &t.imports_in_the_way {
                                        li {
                                            code { (import) }
                                            @if !by.is_empty() { span.muted { " imported by " (by.join(", ")) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn items(title: &str, items: &[Item], known: &BTreeSet<String>) -> Markup {
    html! {
        @if !items.is_empty() {
            section {
                h2 { (title) " " span.count { (items.len()) } }
                ul.items {
                    @for i in items {
                        li { @match wit::qualified_href(&i.name, known) {
                            Some(href) => a href=(href) { code { (i.name) } },
                            None => code { (i.name) },
                        } }
                    }
                }
            }
        }
    }
}

fn implementors(d: &Data) -> Markup {
    let v = &d.version;
    html! {
        section #implementors {
            h2 { "Implementors" }
            @if d.implementors.is_empty() {
                p.muted { "No component implements " (v.name) "@" (v.version) " or a compatible version yet." }
            } @else {
                p.muted { "Components exporting its interfaces at a version compatible with " (v.version) ":" }
                (uses(&d.implementors))
            }
            @if !d.other_implementors.is_empty() {
                p.muted { "Implementing other versions of " (v.name) ":" }
                (uses(&d.other_implementors))
            }
        }
    }
}

fn dependents(d: &Data) -> Markup {
    html! {
        section #dependents {
            h2 { "Dependents" }
            @if d.dependents.is_empty() {
                p.muted { "Nothing in this registry imports " (d.version.name) "." }
            } @else {
                (uses(&d.dependents))
            }
        }
    }
}

fn uses(list: &[PackageUse]) -> Markup {
    html! {
        ul.uses {
            @for u in list {
                li {
                    a.name href=(version_href(&u.name, &u.version)) { (u.name) }
                    " " span.version { (u.version) } " " (kind_badge(&u.kind))
                    div.via { @for item in &u.items { code { (item) } " " } }
                }
            }
        }
    }
}

fn facts(v: &VersionDetail) -> Markup {
    html! {
        section.facts {
            h2 { "About this version" }
            dl {
                dt { "License" } dd { (v.license.as_deref().unwrap_or("not stated")) }
                dt { "Published" } dd { (layout::date(v.published_at)) " by " (v.published_by) }
                dt { "Size" } dd { (size(v.size)) }
                dt { "Digest" } dd { (short_digest(&v.digest)) }
                @if let Some(log) = &v.log {
                    dt { "Transparency log" }
                    dd.log-index {
                        a href={ "/log#entry-" (log.index) } { "entry " (log.index) }
                        " of " (log.size)
                    }
                }
                @if let Some(source) = &v.source {
                    dt { "Source" } dd.wrap { (source) }
                }
                @if let Some(tools) = producers(&v.producers) {
                    dt { "Built with" } dd { (tools) }
                }
            }
        }
    }
}

/// `Rust 1.95.0, wit-component 0.258.0` from the producers section.
fn producers(value: &serde_json::Value) -> Option<String> {
    let fields = value.as_object()?;
    let names: Vec<String> = fields
        .values()
        .filter_map(|v| v.as_array())
        .flatten()
        .filter_map(|pair| {
            let pair = pair.as_array()?;
            Some(format!(
                "{} {}",
                pair.first()?.as_str()?,
                pair.get(1)?.as_str()?
            ))
        })
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

fn versions(d: &Data) -> Markup {
    let name = &d.version.name;
    let versions = &d.package.versions;
    html! {
        section.versions {
            h2 { "Versions " span.count { (versions.len()) } }
            ol {
                @for (i, s) in versions.iter().enumerate() {
                    li.current[s.version == d.version.version] .yanked[s.yanked] {
                        a href=(version_href(name, &s.version)) { (s.version) }
                        @if s.yanked { " " span.badge.yanked { "yanked" } }
                        span.when { (layout::date(s.published_at)) }
                        @if let Some(older) = versions.get(i + 1) {
                            a.diff href=(diff_href(name, &older.version, &s.version))
                                title=(format!("What changed from {} to {}", older.version, s.version)) { "diff" }
                        }
                    }
                }
            }
            @if versions.len() > 1 { (diff_form(name, versions)) }
        }
    }
}

pub fn diff_href(name: &str, from: &str, to: &str) -> String {
    format!("{}/diff?from={from}&to={to}", package_href(name))
}

fn diff_form(name: &str, versions: &[crate::views::VersionSummary]) -> Markup {
    let (newest, oldest) = (&versions[0].version, &versions[versions.len() - 1].version);
    html! {
        form.compare action=(format!("{}/diff", package_href(name))) method="get" {
            label { "Compare "
                select name="from" { @for s in versions { option selected[&s.version == oldest] { (s.version) } } }
            }
            label { " with "
                select name="to" { @for s in versions { option selected[&s.version == newest] { (s.version) } } }
            }
            button type="submit" { "Diff" }
        }
    }
}
