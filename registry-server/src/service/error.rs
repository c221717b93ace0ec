//! The service error tier: why a rule refused or an operation failed, with the stable
//! code clients match on. What status an HTTP answer carries is `http::error`'s
//! business; this says only what kind of failure it is.

use serde_json::{Value, json};

use crate::repo::DbError;
use crate::storage::{BodyError, StorageError};

/// What kind of failure a [`ServiceError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or names something invalid.
    Invalid,
    /// There is no (valid) credential, and one is needed.
    Unauthenticated,
    /// The credential does not allow this.
    Denied,
    /// What the request names does not exist.
    NotFound,
    /// It conflicts with what exists (a version taken, an owner already there).
    Conflict,
    /// The operation is never allowed on what it names (deleting a package version's
    /// manifest).
    Unsupported,
    /// The body is larger than the limit.
    TooLarge,
    /// Well-formed, but refused by a rule on its content (a semver break).
    Unprocessable,
    /// The client took too long to send what it began (a body behind its pace).
    TimedOut,
    /// Too many requests at once; retry shortly.
    Busy,
    /// A transient failure (a blob collected mid-write); retry.
    Unavailable,
    /// The registry failed; the cause is in the log.
    Internal,
}

/// A refusal or failure of a service.
#[derive(Debug)]
pub struct ServiceError {
    /// What kind of failure it is.
    pub kind: ErrorKind,
    /// The stable code: `VERSION_EXISTS`, `DENIED`, ...
    pub code: &'static str,
    /// What a person reads.
    pub message: String,
    /// Structured detail, or null.
    pub detail: Value,
}

impl ServiceError {
    /// An error of `kind` with `code` and `message`, and no detail.
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            detail: Value::Null,
        }
    }

    /// The same error with structured detail.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// Something in the request is invalid.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, message)
    }

    /// What the request names does not exist.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    /// It conflicts with what exists.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    /// A credential is needed (`UNAUTHORIZED`).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, "UNAUTHORIZED", message)
    }

    /// The credential does not allow it (`DENIED`).
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Denied, "DENIED", message)
    }

    /// A body over `limit` bytes (`TOO_LARGE`).
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            ErrorKind::TooLarge,
            "TOO_LARGE",
            format!("the body is larger than the limit of {limit} bytes"),
        )
        .with_detail(json!({ "limit": limit }))
    }

    /// The registry failed: `err` goes to the log, the client reads only that it
    /// failed.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            ErrorKind::Internal,
            "INTERNAL",
            "the registry failed; the error is in its log",
        )
    }
}

impl From<DbError> for ServiceError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::BlobGone(digest) => Self::bad_request(
                "MANIFEST_BLOB_UNKNOWN",
                format!("blob {digest} was garbage-collected; upload it again"),
            ),
            other => Self::internal(other),
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::DigestMismatch { expected, actual } => Self::bad_request(
                "DIGEST_INVALID",
                format!("the content's digest is {actual}, not {expected}"),
            ),
            StorageError::Conflict(message) => {
                Self::new(ErrorKind::Conflict, "BLOB_UPLOAD_INVALID", message)
            }
            StorageError::Body(e) => e.into(),
            other => Self::internal(other),
        }
    }
}

impl From<BodyError> for ServiceError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(limit) => Self::too_large(limit),
            BodyError::TooSlow(message) => Self::new(ErrorKind::TimedOut, "BODY_TIMEOUT", message),
            e @ BodyError::Unreadable(_) => Self::bad_request("BODY_UNREADABLE", e.to_string()),
        }
    }
}

impl From<crate::artifact::InvalidManifest> for ServiceError {
    fn from(e: crate::artifact::InvalidManifest) -> Self {
        Self::bad_request("MANIFEST_INVALID", e.message).with_detail(e.detail)
    }
}
