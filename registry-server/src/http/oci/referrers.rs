//! `GET /v2/<name>/referrers/<digest>`: the manifests whose subject is a digest,
//! as an OCI index, optionally filtered by `artifactType`.
//! Routes only: which manifests refer to a digest is `service::manifests`'.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Answer, Ctx, parse_digest};
use crate::artifact::OCI_INDEX;

impl Ctx {
    pub(super) async fn referrers(&self, name: &str, digest: &str) -> Answer {
        self.pull(name)?;
        let digest = parse_digest(digest)?;
        let filter = self.query.get("artifactType");
        let manifests: Vec<Value> = self
            .state
            .referrers(name, &digest)
            .await?
            .into_iter()
            .filter(|m| filter.is_none_or(|f| m.artifact_type.as_deref() == Some(f.as_str())))
            .map(|m| {
                let mut descriptor =
                    json!({"mediaType": m.media_type, "digest": m.digest, "size": m.size});
                if let Some(t) = m.artifact_type {
                    descriptor["artifactType"] = json!(t);
                }
                if let Some(a) = m
                    .annotations
                    .and_then(|a| serde_json::from_str::<Value>(&a).ok())
                {
                    descriptor["annotations"] = a;
                }
                descriptor
            })
            .collect();
        let body = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let mut response = (StatusCode::OK, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
        if filter.is_some() {
            response.headers_mut().insert(
                "oci-filters-applied",
                HeaderValue::from_static("artifactType"),
            );
        }
        Ok(response)
    }
}
