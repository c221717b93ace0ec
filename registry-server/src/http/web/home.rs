//! The home page (search, counts, recently published) and search results with filters.

use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, kind_badge};
use super::{Page, PageResult, Viewer, package_href, search_href};
use crate::AppState;
use crate::analysis::targets::TARGETS;
use crate::views::PackageSummary;

pub async fn home(State(state): State<AppState>, _: Viewer) -> PageResult {
    let overview = state.overview(12).await?;
    let body = html! {
        section.hero {
            h1 { "WIT contracts and WebAssembly components" }
            p.lead {
                "Find a contract, see who implements it, and pick the components to compose "
                "into one deployable."
            }
            (search_form("", "", "", ""))
            p.stats {
                span { strong { (overview.packages) } " packages" }
                span { strong { (overview.versions) } " versions" }
            }
        }
        section {
            h2 { "Recently published" }
            @if overview.recent.is_empty() {
                p.muted { "Nothing is published yet: " code { "wharf publish file.wasm" } "." }
            } @else {
                (package_list(&overview.recent))
            }
        }
    };
    Ok(Page(layout::page("Registry", None, body)))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    implements: String,
    #[serde(default)]
    runs_on: String,
    #[serde(default)]
    page: Option<i64>,
}

const PER_PAGE: i64 = 25;

pub async fn search(
    State(state): State<AppState>,
    _: Viewer,
    Query(query): Query<SearchQuery>,
) -> PageResult {
    let page = query.page.unwrap_or(1).max(1);
    let results = state
        .search(
            query.q.trim(),
            Some(query.kind.as_str()),
            Some(query.implements.trim()),
            Some(query.runs_on.as_str()),
            page,
            PER_PAGE,
        )
        .await?;
    let title = if query.q.trim().is_empty() {
        "All packages".to_owned()
    } else {
        format!("“{}”", query.q.trim())
    };
    let pages = (results.total + PER_PAGE - 1) / PER_PAGE;
    let page_href = |n: i64| {
        format!(
            "{}&page={n}",
            search_href(&query.q, &query.kind, &query.implements, &query.runs_on)
        )
    };
    let body = html! {
        section {
            h1 { "Search" }
            (search_form(&query.q, &query.kind, &query.implements, &query.runs_on))
            p.muted.count {
                (results.total) " " (if results.total == 1 { "result" } else { "results" })
                @if !query.q.trim().is_empty() { " for " strong { (query.q.trim()) } }
                @if !query.implements.trim().is_empty() {
                    " implementing " code { (query.implements.trim()) }
                }
                @if let Some(target) = TARGETS.iter().find(|t| t.name == query.runs_on) {
                    " that run on " (target.title)
                }
            }
            @if results.packages.is_empty() {
                p { "No package matches. Try fewer words, or clear the filters." }
            } @else {
                (package_list(&results.packages))
            }
            @if pages > 1 {
                nav.pages aria-label="Result pages" {
                    @if page > 1 { a href=(page_href(page - 1)) rel="prev" { "← Previous" } }
                    span { "Page " (page) " of " (pages) }
                    @if page < pages { a href=(page_href(page + 1)) rel="next" { "Next →" } }
                }
            }
        }
    };
    Ok(Page(layout::page(
        &format!("Search {title}"),
        Some(&query.q),
        body,
    )))
}

/// The search box with its filters; works as a plain GET form.
fn search_form(q: &str, kind: &str, implements: &str, runs_on: &str) -> Markup {
    html! {
        form.filters action="/search" method="get" {
            div.field.grow {
                label for="q" { "Name or description" }
                input #q type="search" name="q" value=(q) placeholder="e.g. gzip, jwt, json";
            }
            div.field {
                label for="kind" { "Kind" }
                select #kind name="kind" {
                    option value="" selected[kind.is_empty()] { "Any" }
                    option value="wit" selected[kind == "wit"] { "WIT contract" }
                    option value="component" selected[kind == "component"] { "Component" }
                }
            }
            div.field.grow {
                label for="implements" { "Implements interface" }
                input #implements type="text" name="implements" value=(implements)
                    placeholder="e.g. wharf:compression/codec@1";
            }
            div.field {
                label for="runs_on" { "Runs on" }
                select #runs_on name="runs_on" {
                    option value="" selected[runs_on.is_empty()] { "Any target" }
                    @for t in TARGETS {
                        option value=(t.name) selected[runs_on == t.name] { (t.title) }
                    }
                }
            }
            div.field.submit { button type="submit" { "Search" } }
        }
    }
}

/// Packages as a list of cards: name, kind, latest version, description.
pub fn package_list(packages: &[PackageSummary]) -> Markup {
    html! {
        ul.packages {
            @for p in packages {
                li {
                    div.head {
                        a.name href=(package_href(&p.name)) { (p.name) }
                        @if let Some(latest) = &p.latest { span.version { (latest) } }
                        (kind_badge(&p.kind))
                    }
                    @if let Some(d) = &p.description { p.description { (d) } }
                    p.meta { "Updated " (layout::date(p.updated_at)) }
                }
            }
        }
    }
}
