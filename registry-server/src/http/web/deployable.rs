//! A deployable's page: what it was composed of (its provenance) and the composition
//! graph, plus the graph alone as an SVG file.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::layout::{self, short_digest};
use super::{Page, PageError, PageResult, Viewer, graph, package_href, version_href};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::browse::{Deployable, Part};
use crate::service::package_name;

async fn load(
    state: &AppState,
    namespace: &str,
    name: &str,
    version: &str,
) -> Result<Deployable, PageError> {
    let name = package_name(namespace, name)?;
    state.deployable(&name, version).await?.ok_or_else(|| {
        ApiError::not_found(
            "NOT_A_DEPLOYABLE",
            format!("{name}@{version} carries no composition (no `wharf:provenance` section)"),
        )
        .into()
    })
}

pub async fn page(
    State(state): State<AppState>,
    _: Viewer,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> PageResult {
    let d = load(&state, &namespace, &name, &version).await?;
    let full = format!("{namespace}:{name}");
    let title = format!("{full}@{version} composition");
    // Laying out the graph is CPU work: off the workers.
    let body = crate::cpu(move || render(&full, &version, &d)).await;
    Ok(Page(layout::page(&title, None, body)))
}

pub async fn svg(
    State(state): State<AppState>,
    _: Viewer,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let d = load(&state, &namespace, &name, &version).await?;
    let svg = crate::cpu(move || graph::svg(&d, graph::Shape::Wide).into_string()).await;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        svg,
    )
        .into_response())
}

fn render(name: &str, version: &str, d: &Deployable) -> Markup {
    let here = version_href(name, version);
    html! {
        section.package-head {
            p.crumbs { a href=(package_href(name)) { (name) } " / " a href=(here) { (version) } " / composition" }
            h1 { (name) " " span.version { (version) } " " span.badge.component { "deployable" } }
            p.lead {
                "Composed by wharf from " (d.parts.len()) " components into one shared-nothing component. "
                "Each arrow points from a component to the plug that fills one of its imports."
            }
        }
        section.graph-wrap {
            h2 { "Composition graph" }
            figure {
                div.scroll { (graph::svg(d, graph::Shape::Wide)) (graph::svg(d, graph::Shape::Tall)) }
                figcaption {
                    a href=(format!("{here}/graph.svg")) { "Open the graph as SVG" }
                }
            }
        }
        section {
            h2 { "Constituents" }
            table.constituents {
                thead { tr { th { "Manifest key" } th { "Component" } th { "Fills" } th { "Digest" } } }
                tbody {
                    @for part in &d.parts {
                        tr {
                            td { code { (part.constituent.key) } }
                            td { (part_label(part)) }
                            td { @for f in &part.fills { code { (f) } " " } @if part.fills.is_empty() { span.muted { "—" } } }
                            td { (short_digest(&part.constituent.digest)) }
                        }
                    }
                }
            }
        }
    }
}

/// A part as a link to its version's page when the registry holds it.
pub fn part_label(part: &Part) -> Markup {
    let c = &part.constituent;
    html! {
        @match (&c.package, &c.version) {
            (Some(p), Some(v)) if part.known => a href=(version_href(p, v)) { (p) "@" (v) },
            (Some(p), Some(v)) => span { (p) "@" (v) },
            _ => span { (c.source.as_deref().unwrap_or(&c.key)) },
        }
    }
}
