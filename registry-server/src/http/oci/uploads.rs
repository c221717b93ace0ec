//! `/v2/<name>/blobs/uploads/`: monolithic, chunked and cross-repository (mount)
//! blob uploads. Chunks stream to storage as they arrive.
//! Routes only: reading the request (the digest, the `Content-Range`, the body within
//! its bounds) and writing the answer; the upload sessions, the lease-then-store
//! protocol and the upload slots are `service::uploads`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::blobs::created_blob;
use super::{Answer, Ctx, Denied, oci, parse_digest, size_error};
use crate::http::body::{Pace, incoming};

impl Ctx {
    pub(super) async fn start_upload(&self, name: &str, body: Body) -> Answer {
        let principal = self.push(name).await?;
        if let (Some(mount), Some(from)) = (self.query.get("mount"), self.query.get("from")) {
            let digest = parse_digest(mount)?;
            if self
                .state
                .mount_blob(self.caller.as_ref(), name, from, &digest)
                .await?
            {
                return Ok(created_blob(name, &digest));
            }
        }
        if let Some(digest) = self.query.get("digest") {
            let digest = parse_digest(digest)?;
            let _slot = self.state.uploads.take(&principal)?;
            let bytes = incoming(
                body,
                &self.headers,
                self.state.config.max_upload_bytes,
                Pace::of(&self.state.config),
            )
            .map_err(size_error)?;
            self.state
                .push_blob(name, bytes, &digest)
                .await
                .map_err(|e| size_error(e.into()))?;
            return Ok(created_blob(name, &digest));
        }
        let id = self.state.start_upload(name).await?;
        Ok(upload_answer(StatusCode::ACCEPTED, name, &id, 0))
    }

    /// Appends `body` to upload `id`, which holds `size` bytes, when its
    /// `Content-Range` (if any) starts there; the upload's size after it.
    async fn append(&self, id: &str, body: Body, size: u64) -> Result<u64, Denied> {
        // In-order chunks only: a Content-Range must start where the upload ends.
        if let Some(range) = self
            .headers
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            && content_range_start(range) != Some(size)
        {
            let mut e = oci(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                format!("the upload has {size} bytes; a chunk must start there, not at `{range}`"),
            );
            e.detail = json!({ "size": size });
            return Err(e.into());
        }
        let bytes = incoming(
            body,
            &self.headers,
            self.state.config.max_upload_bytes.saturating_sub(size),
            Pace::of(&self.state.config),
        )
        .map_err(size_error)?;
        Ok(self
            .state
            .append_upload(id, bytes)
            .await
            .map_err(|e| size_error(e.into()))?)
    }

    pub(super) async fn patch_upload(&self, name: &str, id: &str, body: Body) -> Answer {
        let principal = self.push(name).await?;
        let size = self.state.upload_size(name, id).await?;
        let _slot = self.state.uploads.take(&principal)?;
        match self.append(id, body, size).await {
            Ok(size) => Ok(upload_answer(StatusCode::ACCEPTED, name, id, size)),
            Err(Denied::Error(e)) if e.status == StatusCode::RANGE_NOT_SATISFIABLE => {
                let mut response = e.into_response();
                response
                    .headers_mut()
                    .insert(header::RANGE, range_header(size));
                response.headers_mut().insert(
                    header::LOCATION,
                    HeaderValue::from_str(&format!("/v2/{name}/blobs/uploads/{id}")).unwrap(),
                );
                Ok(response)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn finish_upload(&self, name: &str, id: &str, body: Body) -> Answer {
        let principal = self.push(name).await?;
        let size = self.state.upload_size(name, id).await?;
        // Held through the last chunk and the hashing of the whole.
        let _slot = self.state.uploads.take(&principal)?;
        let digest = parse_digest(self.query.get("digest").ok_or_else(|| {
            oci(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "finishing an upload needs `?digest=`",
            )
        })?)?;
        self.append(id, body, size).await?;
        self.state.finish_upload(name, id, &digest).await?;
        Ok(created_blob(name, &digest))
    }

    pub(super) async fn upload_status(&self, name: &str, id: &str) -> Answer {
        self.push(name).await?;
        let size = self.state.upload_size(name, id).await?;
        Ok(upload_answer(StatusCode::NO_CONTENT, name, id, size))
    }

    pub(super) async fn cancel_upload(&self, name: &str, id: &str) -> Answer {
        self.push(name).await?;
        self.state.upload_size(name, id).await?;
        self.state.cancel_upload(id).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

fn range_header(size: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("0-{}", size.saturating_sub(1))).unwrap()
}

fn upload_answer(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{name}/blobs/uploads/{id}")).unwrap(),
    );
    h.insert(header::RANGE, range_header(size));
    h.insert("docker-upload-uuid", HeaderValue::from_str(id).unwrap());
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// Where an upload chunk's `Content-Range` (`<start>-<end>`, with or without a leading
/// `bytes `) says it starts; `None` when that is not a number. Only the start is
/// checked: chunks must come in order.
pub fn content_range_start(range: &str) -> Option<u64> {
    range
        .trim()
        .trim_start_matches("bytes ")
        .split('-')
        .next()
        .and_then(|s| s.trim().parse::<u64>().ok())
}
