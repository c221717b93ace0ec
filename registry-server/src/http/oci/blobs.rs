//! `GET`, `HEAD` and `DELETE /v2/<name>/blobs/<digest>`: blobs linked to a
//! repository.
//! Routes only: who may pull or push is decided in the parent module, through
//! `service::access`; which blobs a repository has is `service::blobs`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wharf_types::Digest;

use super::{Answer, Ctx, parse_digest};
use crate::http::blob::serve_blob;
use crate::service::blobs::unknown_blob;

impl Ctx {
    pub(super) async fn get_blob(&self, name: &str, digest: &str, head: bool) -> Answer {
        self.pull(name)?;
        let digest = parse_digest(digest)?;
        let unknown = || unknown_blob(&digest, Some(name));
        if !self.state.blob_linked(name, &digest).await? {
            return Err(unknown().into());
        }
        if head {
            let size = self.state.blob_size(&digest).await?.ok_or_else(unknown)?;
            let mut r = StatusCode::OK.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(
                "docker-content-digest",
                HeaderValue::from_str(&digest.to_string()).unwrap(),
            );
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return Ok(r);
        }
        let mut response = serve_blob(&self.state, &digest, &self.headers).await?;
        if response.status().is_success() {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        Ok(response)
    }

    pub(super) async fn delete_blob(&self, name: &str, digest: &str) -> Answer {
        self.push(name).await?;
        let digest = parse_digest(digest)?;
        self.state.unlink_blob(name, &digest).await?;
        Ok(StatusCode::ACCEPTED.into_response())
    }
}

pub(super) fn created_blob(name: &str, digest: &Digest) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{name}/blobs/{digest}")).unwrap(),
    );
    h.insert(
        "docker-content-digest",
        HeaderValue::from_str(&digest.to_string()).unwrap(),
    );
    response
}
