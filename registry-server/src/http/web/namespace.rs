//! A namespace: its owners and its packages.

use axum::extract::{Path, State};
use maud::html;

use super::home::package_list;
use super::layout;
use super::{Page, PageResult, Viewer};
use crate::AppState;

pub async fn page(
    State(state): State<AppState>,
    _: Viewer,
    Path(namespace): Path<String>,
) -> PageResult {
    let ns = state.namespace(&namespace).await?;
    let body = html! {
        section.package-head {
            p.crumbs { "namespace" }
            h1 { (ns.name) }
            p.lead {
                (ns.packages.len()) " " (if ns.packages.len() == 1 { "package" } else { "packages" })
                ", owned by "
                @for (i, owner) in ns.owners.iter().enumerate() {
                    @if i > 0 { ", " }
                    strong { (owner) }
                }
                "."
            }
        }
        section {
            h2 { "Packages" }
            (package_list(&ns.packages))
        }
    };
    Ok(Page(layout::page(
        &format!("Namespace {}", ns.name),
        None,
        body,
    )))
}
