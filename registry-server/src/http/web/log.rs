//! The transparency log: its latest signed checkpoint, the key that signs it, and the
//! newest entries (docs/trust.md).

use axum::extract::State;
use maud::html;

use super::layout;
use super::{Page, PageResult, Viewer, version_href};
use crate::AppState;

/// How many entries the page lists, newest first.
const RECENT: u64 = 50;

pub async fn page(State(state): State<AppState>, _: Viewer) -> PageResult {
    let info = state.log_info().await?;
    let recent = state.recent_log_entries(RECENT).await?;
    let body = html! {
        section.package-head {
            p.crumbs { "registry" }
            h1 { "Transparency log" }
            p.lead {
                "Every publish, yank, unyank and ownership change, in an append-only Merkle log. "
                "Clients check that what they fetch is in it, under a checkpoint signed by the key below."
            }
        }
        section.facts {
            h2 { "Latest checkpoint" }
            dl {
                dt { "Entries" } dd.log-size { (info.size) }
                dt { "Root hash" } dd.wrap { code { (info.root_hash) } }
                dt { "Origin" } dd { code { (info.origin) } }
                dt { "Log key" } dd.wrap { code.log-key { (info.key) } }
            }
            (layout::snippet("Signed checkpoint", &info.checkpoint))
        }
        section {
            h2 { "Recent entries" }
            @if recent.is_empty() {
                p { "Nothing is logged yet." }
            }
            ol.log-entries reversed start=(info.size) {
                @for (index, entry) in &recent {
                    li id={ "entry-" (index) } {
                        span.index { (index) } " "
                        @match entry {
                            Some(e) => {
                                strong { (e.action.as_str()) } " "
                                @if e.action.is_version() {
                                    @let (package, version) = e.subject.split_once('@').unwrap_or((e.subject.as_str(), ""));
                                    a href=(version_href(package, version)) { (e.subject) }
                                    " " code { (e.object) }
                                } @else {
                                    a href={ "/namespaces/" (e.subject) } { (e.subject) }
                                    " owner " strong { (e.object) }
                                }
                                " by " (e.actor) " " (layout::date(e.time))
                            }
                            None => { em { "an entry this registry cannot read" } }
                        }
                    }
                }
            }
        }
    };
    Ok(Page(layout::page("Transparency log", None, body)))
}
