//! A namespace: its owners, its packages, and the keys registered to sign for it.

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
    let keys = state.namespace_keys(&namespace).await?;
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
        section #keys {
            h2 { "Signing keys " span.count { (keys.len()) } }
            @if keys.is_empty() {
                p.muted { "No key is registered to sign for this namespace (" code { "wharf key add" } ")." }
            } @else {
                ul.keys {
                    @for k in &keys {
                        li.(if k.revoked_at.is_some() { "revoked" } else { "active" }) data-keyid=(k.keyid) {
                            span.tag { @if k.revoked_at.is_some() { "revoked" } @else { "active" } }
                            " " code { (k.keyid) }
                            @if let Some(name) = &k.name { " " strong { (name) } }
                            span.muted {
                                " added by " (k.added_by)
                                @if let Some(by) = &k.revoked_by { ", revoked by " (by) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page(layout::page(
        &format!("Namespace {}", ns.name),
        None,
        body,
    )))
}
