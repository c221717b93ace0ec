//! `/v2/<name>/blobs/uploads/`: monolithic, chunked and cross-repository (mount)
//! blob uploads. Chunks stream to storage as they arrive.
//! Routes only: the lease-then-store protocol and the upload slots are `service::uploads`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::blobs::created_blob;
use super::{Answer, Ctx, Denied, oci, parse_digest, size_error};
use crate::artifact::valid_repository;
use crate::http::body::{Pace, incoming};

impl Ctx {
    pub(super) async fn start_upload(&self, name: &str, body: Body) -> Answer {
        let principal = self.push(name).await?;
        if let (Some(mount), Some(from)) = (self.query.get("mount"), self.query.get("from")) {
            let digest = parse_digest(mount)?;
            self.state.lease(&digest, 0).await?;
            if valid_repository(from)
                && self.state.db.blob_linked(from, &digest.to_string()).await?
                && self.state.blobs.size(&digest).await?.is_some()
                && self.state.may_read(self.caller.as_ref())
            {
                self.state
                    .db
                    .link_blob(name, &digest.to_string(), crate::now_ms())
                    .await?;
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
                .store_stream(bytes, &digest)
                .await
                .map_err(|e| size_error(e.into()))?;
            self.state
                .db
                .link_blob(name, &digest.to_string(), crate::now_ms())
                .await?;
            return Ok(created_blob(name, &digest));
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.state.blobs.upload_start(&id).await?;
        self.state
            .db
            .create_upload(&id, name, crate::now_ms())
            .await?;
        Ok(upload_answer(StatusCode::ACCEPTED, name, &id, 0))
    }

    /// Checks that the upload exists and belongs to this repository.
    pub(super) async fn upload(&self, name: &str, id: &str) -> Result<u64, Denied> {
        let unknown = || {
            oci(
                StatusCode::NOT_FOUND,
                "BLOB_UPLOAD_UNKNOWN",
                format!("there is no upload `{id}` in {name}"),
            )
        };
        match self.state.db.upload(id).await? {
            Some(repository) if repository == name => {}
            _ => return Err(unknown().into()),
        }
        Ok(self
            .state
            .blobs
            .upload_size(id)
            .await?
            .ok_or_else(unknown)?)
    }

    pub(super) async fn append(&self, id: &str, body: Body, size: u64) -> Result<u64, Denied> {
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
        let size = self
            .state
            .blobs
            .upload_append(id, bytes)
            .await
            .map_err(|e| size_error(e.into()))?
            .ok_or_else(|| {
                oci(
                    StatusCode::NOT_FOUND,
                    "BLOB_UPLOAD_UNKNOWN",
                    "the upload is gone",
                )
            })?;
        self.state.db.touch_upload(id, crate::now_ms()).await?;
        Ok(size)
    }

    pub(super) async fn patch_upload(&self, name: &str, id: &str, body: Body) -> Answer {
        let principal = self.push(name).await?;
        let size = self.upload(name, id).await?;
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
        let size = self.upload(name, id).await?;
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
        self.state.lease(&digest, 0).await?;
        let result = self.state.blobs.upload_finish(id, &digest).await;
        self.state.db.delete_upload(id).await?;
        result?.ok_or_else(|| {
            oci(
                StatusCode::NOT_FOUND,
                "BLOB_UPLOAD_UNKNOWN",
                "the upload is gone",
            )
        })?;
        self.state
            .db
            .link_blob(name, &digest.to_string(), crate::now_ms())
            .await?;
        Ok(created_blob(name, &digest))
    }

    pub(super) async fn upload_status(&self, name: &str, id: &str) -> Answer {
        self.push(name).await?;
        let size = self.upload(name, id).await?;
        Ok(upload_answer(StatusCode::NO_CONTENT, name, id, size))
    }

    pub(super) async fn cancel_upload(&self, name: &str, id: &str) -> Answer {
        self.push(name).await?;
        self.upload(name, id).await?;
        self.state.blobs.upload_cancel(id).await?;
        self.state.db.delete_upload(id).await?;
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
