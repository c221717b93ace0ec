//! The difference between two versions of a package: the semver verdict and why, each
//! API item added, removed or changed, and the WIT text's line diff.

use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, kind_badge};
use super::linediff::{self, Line};
use super::{Page, PageResult, Viewer, package_href, version_href};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::browse::VersionDiff;
use crate::service::package_name;
use crate::views::Change;

#[derive(Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    _: Viewer,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<DiffQuery>,
) -> PageResult {
    let name = package_name(&namespace, &name)?;
    let (Some(from), Some(to)) = (query.from, query.to) else {
        return Err(ApiError::bad_request(
            "VERSIONS_MISSING",
            "a diff needs two versions: `?from=1.0.0&to=2.0.0`",
        )
        .into());
    };
    let diff = state.diff(&name, &from, &to).await?;
    let title = format!("{name} {from} → {to}");
    // The line diff of the WIT texts is quadratic in the worst case: off the workers.
    let body = crate::cpu(move || render(&diff)).await;
    Ok(Page(layout::page(&title, None, body)))
}

fn render(d: &VersionDiff) -> Markup {
    let name = d.name.to_string();
    let (from, to) = (&d.from.version, &d.to.version);
    html! {
        section.package-head {
            p.crumbs { a href=(package_href(&name)) { (name) } " / diff" }
            h1 {
                (name) " "
                a.version href=(version_href(&name, from)) { (from) }
                " → "
                a.version href=(version_href(&name, to)) { (to) }
                " " (kind_badge(&d.kind))
            }
        }
        (verdict(d))
        @if !d.breaking.is_empty() {
            section {
                h2 { "Breaking changes " span.count { (d.breaking.len()) } }
                (changes(&d.breaking))
            }
        }
        @if !d.added.is_empty() {
            section {
                h2 { "Additions " span.count { (d.added.len()) } }
                (changes(&d.added))
            }
        }
        @if d.kind == "wit" { (text_diff(&d.from.wit, &d.to.wit)) }
    }
}

/// Compatible or breaking, and why, in a sentence.
fn verdict(d: &VersionDiff) -> Markup {
    let (from, to) = (&d.from.version, &d.to.version);
    let n = d.breaking.len();
    let plural = if n == 1 { "change" } else { "changes" };
    html! {
        @if n == 0 {
            div.verdict.compatible {
                strong { "Compatible" }
                p {
                    "Nothing that " (from) " offers was removed or changed in " (to) "; "
                    @if d.added.is_empty() { "the API is the same." }
                    @else { (d.added.len()) " items were added. Code written against " (from) " works with " (to) "." }
                }
            }
        } @else {
            div.verdict.breaking {
                strong { "Breaking" }
                p {
                    (n) " " (plural) " break code written against " (from) ": "
                    (summary(&d.breaking)) ". "
                    @if d.same_track {
                        "The two versions are on one semver track, so " (to) " should have been a new major version."
                    } @else {
                        (to) " is on a new semver track (a new major version), which is how a breaking change should be published."
                    }
                }
            }
        }
    }
}

/// `function codec.compress changed, type types.format changed` (the first few).
fn summary(changes: &[Change]) -> String {
    let mut parts: Vec<String> = changes
        .iter()
        .take(4)
        .map(|c| format!("{} {}", c.item, c.change))
        .collect();
    if changes.len() > 4 {
        parts.push(format!("and {} more", changes.len() - 4));
    }
    parts.join(", ")
}

fn changes(list: &[Change]) -> Markup {
    html! {
        ul.changes {
            @for c in list {
                li class=(c.change) {
                    div.what { span.tag { (c.change) } " " code { (c.item) } }
                    @if !c.before.is_empty() {
                        div.form.before { span.label { "before" } code { (c.before) } }
                    }
                    @if let Some(after) = &c.after {
                        @if !after.is_empty() {
                            div.form.after { span.label { "after" } code { (after) } }
                        }
                    }
                }
            }
        }
    }
}

fn text_diff(old: &str, new: &str) -> Markup {
    let Some(lines) = linediff::diff(old, new) else {
        return html! {};
    };
    html! {
        section {
            h2 { "WIT text" }
            pre.linediff { code {
                @for line in linediff::hunks(&lines, 3) {
                    @match line {
                        None => span.gap { "⋯\n" },
                        Some(Line::Same(l)) => span.same { "  " (l) "\n" },
                        Some(Line::Removed(l)) => span.del { "- " (l) "\n" },
                        Some(Line::Added(l)) => span.ins { "+ " (l) "\n" },
                    }
                }
            } }
        }
    }
}
