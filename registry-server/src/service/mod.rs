//! Business rules: what may be published, who may do what, and how requirements
//! resolve. Services call repositories (SQL), storage (blobs) and analysis, never
//! the routes above them: they speak [`ServiceError`], which `http` turns into
//! answers.
//!
//! [`access`] holds the one owner/admin rule every path calls; `publish` what may be
//! published (through the JSON API, or as a Wasm artifact pushed over OCI:
//! [`manifests`], which also finds, lists and deletes manifests); `packages` what the
//! registry says about packages; [`browse`] the read side people browse; `targets`
//! which hosts can run a component; [`blobs`] which blobs are served and their bytes;
//! [`uploads`] receiving them (slots, leases, upload sessions); [`owners`] who owns a
//! namespace; [`log`] the transparency log; [`signatures`] the keys that sign for a
//! namespace and the signatures of versions; [`tokens`], [`gc`] and [`fsck`] the rest.
//! The routes reach the database and the blob store only through these.

pub mod access;
pub mod blobs;
pub mod browse;
mod error;
pub mod fsck;
pub mod gc;
pub mod log;
pub mod manifests;
pub mod owners;
mod packages;
mod publish;
pub mod signatures;
mod targets;
pub mod tokens;
pub mod uploads;

pub use error::{ErrorKind, ServiceError};
pub use packages::{item_view, requirement};
pub use publish::{MAX_VERSION_CHARS, same_track, version};
pub use targets::runs_on;

use wharf_types::PackageName;

/// Owner and user names: what token owners are called.
pub fn check_user(user: &str) -> Result<(), ServiceError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && user.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "USER_INVALID",
            format!("`{user}` is not a user name: lowercase letters, digits, `-`, `_`, `.`"),
        ))
    }
}

/// A namespace's name checked, or `400 NAME_INVALID`.
pub fn namespace_name(namespace: &str) -> Result<(), ServiceError> {
    wharf_types::check_part(namespace).map_err(|reason| {
        ServiceError::bad_request(
            "NAME_INVALID",
            format!("invalid namespace `{namespace}`: {reason}"),
        )
    })
}

/// `namespace:name` checked, or `400 NAME_INVALID`.
pub fn package_name(namespace: &str, name: &str) -> Result<PackageName, ServiceError> {
    PackageName::new(namespace, name)
        .map_err(|e| ServiceError::bad_request("NAME_INVALID", e.to_string()))
}

/// The error for a package that does not exist: `404 PACKAGE_UNKNOWN`.
pub fn unknown_package(name: &PackageName) -> ServiceError {
    ServiceError::not_found("PACKAGE_UNKNOWN", format!("there is no package {name}"))
}
