//! The HTTP error tier: one JSON shape, `{"errors":[{"code","message","detail"}]}`,
//! with stable codes, as the OCI distribution spec and crates.io answer. A
//! [`ServiceError`] becomes an [`ApiError`] by its kind; routes make their own for
//! what only HTTP knows (methods, ranges, challenges).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::service::uploads::BodyError;
use crate::service::{ErrorKind, ServiceError};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The answer's status.
    pub status: StatusCode,
    /// The stable code: `VERSION_EXISTS`, `MANIFEST_UNKNOWN`, ...
    pub code: &'static str,
    /// What a person reads.
    pub message: String,
    /// Structured detail, or null.
    pub detail: Value,
}

impl ApiError {
    /// An answer with `status`, `code` and `message`, and no detail.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: Value::Null,
        }
    }

    /// `400` with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::bad_request(code, message).into()
    }

    /// `404` with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::not_found(code, message).into()
    }

    /// `409` with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::conflict(code, message).into()
    }

    /// `403 DENIED`.
    pub fn denied(message: impl Into<String>) -> Self {
        ServiceError::denied(message).into()
    }

    /// `413 TOO_LARGE`, naming the limit.
    pub fn too_large(limit: u64) -> Self {
        ServiceError::too_large(limit).into()
    }

    /// `401 UNAUTHORIZED`, with a challenge.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ServiceError::unauthorized(message).into()
    }

    /// `500 INTERNAL`; `err` goes to the log only.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        ServiceError::internal(err).into()
    }
}

/// The status a kind of service failure answers with.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Denied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::TimedOut => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::Busy => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self {
            status: status_of(e.kind),
            code: e.code,
            message: e.message,
            detail: e.detail,
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        ServiceError::from(err).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{"code": self.code, "message": self.message, "detail": self.detail}]});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"wharf\""),
            );
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of a body that came too slowly is not waited for.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
