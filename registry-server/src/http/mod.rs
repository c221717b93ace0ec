//! HTTP: every route, and nothing but routes. Handlers parse a request, ask a service
//! (never the repositories or storage directly for a rule), and answer: JSON under
//! `/api/v1` ([`api`]), the OCI distribution API under `/v2/` ([`oci`]), and pages
//! ([`web`]). Bodies are read in [`body`], blobs served in [`blob`], errors answered
//! in [`error`], callers identified in [`auth`]. Nothing below this layer imports it.

pub mod api;
pub mod auth;
pub mod blob;
pub mod body;
pub mod error;
pub mod oci;
pub mod web;
