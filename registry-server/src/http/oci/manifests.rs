//! `GET`, `HEAD`, `PUT` and `DELETE /v2/<name>/manifests/<reference>`. A Wasm artifact
//! pushed under `namespace/name:version` is a publish, through the same rules as the
//! JSON API.
//! Routes only: reading and checking the reference and body here; finding, recording
//! (and publishing) and deleting manifests is `service::manifests`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wharf_types::Digest;

use super::{Answer, Ctx, Denied, oci, parse_digest, size_error};
use crate::artifact::{parse_manifest, valid_tag};
use crate::http::body::{Pace, read_body};
use crate::http::error::ApiError;
use crate::service::ServiceError;
use crate::service::manifests::{ManifestRow, Reference};

/// Manifests larger than this are refused (the spec asks for at least 4 MiB).
const MAX_MANIFEST: u64 = 8 << 20;

impl Ctx {
    /// The manifest `reference` (a digest or a tag) names in `name`: 404
    /// MANIFEST_UNKNOWN when there is none. A reference that cannot name one (a
    /// malformed digest, an invalid tag) is 400 when `reading` is false; reads get
    /// 404 MANIFEST_UNKNOWN for it too, as distribution answers a GET or HEAD: what
    /// names nothing here is unknown, whatever its shape.
    pub(super) async fn find_manifest(
        &self,
        name: &str,
        reference: &str,
        reading: bool,
    ) -> Result<ManifestRow, Denied> {
        let digest;
        let named = if reference.contains(':') {
            match parse_digest(reference) {
                Ok(d) => {
                    digest = d;
                    Some(Reference::Digest(&digest))
                }
                Err(_) if reading => None,
                Err(e) => return Err(e.into()),
            }
        } else if valid_tag(reference) {
            Some(Reference::Tag(reference))
        } else if reading {
            None
        } else {
            return Err(tag_invalid(reference).into());
        };
        let found = match named {
            Some(named) => self.state.manifest(name, named).await?,
            None => None,
        };
        Ok(found.ok_or_else(|| {
            oci(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!("{name} has no manifest `{reference}`"),
            )
        })?)
    }

    pub(super) async fn get_manifest(&self, name: &str, reference: &str, head: bool) -> Answer {
        self.pull(name)?;
        let row = self.find_manifest(name, reference, true).await?;
        let mut response = if head {
            let mut r = StatusCode::OK.into_response();
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(row.size as u64));
            r
        } else {
            let bytes = self.state.manifest_bytes(&row).await?;
            (StatusCode::OK, bytes).into_response()
        };
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&row.media_type).map_err(ApiError::internal)?,
        );
        h.insert(
            "docker-content-digest",
            HeaderValue::from_str(&row.digest).unwrap(),
        );
        h.insert(
            header::ETAG,
            HeaderValue::from_str(&format!("\"{}\"", row.digest)).unwrap(),
        );
        Ok(response)
    }

    pub(super) async fn put_manifest(&self, name: &str, reference: &str, body: Body) -> Answer {
        let principal = self.push(name).await?;
        // Held through the publish, which reads the Wasm layer whole.
        let _slot = self.state.uploads.take(&principal)?;
        let bytes = read_body(
            body,
            &self.headers,
            MAX_MANIFEST,
            Pace::of(&self.state.config),
        )
        .await
        .map_err(size_error)?;
        let (tag, digest) = if reference.contains(':') {
            let expected = parse_digest(reference)?;
            if !expected.matches(&bytes) {
                return Err(oci(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    format!("the manifest's digest is not {expected}"),
                )
                .into());
            }
            (None, expected)
        } else if valid_tag(reference) {
            (Some(reference.to_owned()), Digest::of(&bytes))
        } else {
            return Err(tag_invalid(reference).into());
        };
        let parsed = parse_manifest(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            &bytes,
        )
        .map_err(ServiceError::from)?;

        self.state
            .push_manifest(&principal, name, tag.as_deref(), &digest, bytes, &parsed)
            .await?;
        Ok(created_manifest(name, &digest, parsed.subject.as_deref()))
    }

    pub(super) async fn delete_manifest(&self, name: &str, reference: &str) -> Answer {
        self.push(name).await?;
        let row = self.find_manifest(name, reference, false).await?;
        // Found, so the reference is a valid digest or tag.
        let digest = parse_digest(&row.digest)?;
        let named = if reference.contains(':') {
            Reference::Digest(&digest)
        } else {
            Reference::Tag(reference)
        };
        self.state.delete_manifest(name, named, &row).await?;
        Ok(StatusCode::ACCEPTED.into_response())
    }
}

fn created_manifest(name: &str, digest: &Digest, subject: Option<&str>) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{name}/manifests/{digest}")).unwrap(),
    );
    h.insert(
        "docker-content-digest",
        HeaderValue::from_str(&digest.to_string()).unwrap(),
    );
    if let Some(subject) = subject.and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert("oci-subject", subject);
    }
    response
}

fn tag_invalid(reference: &str) -> ApiError {
    oci(
        StatusCode::BAD_REQUEST,
        "TAG_INVALID",
        format!("`{reference}` is not a valid tag"),
    )
}
