//! `GET /v2/_catalog` and `GET /v2/<name>/tags/list`: listings, paginated with `n`
//! and `last`.
//! Routes only: the listings are `service::manifests`'.

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::{Answer, Ctx, Denied};

impl Ctx {
    pub(super) async fn catalog(&self) -> Answer {
        if !self.state.may_read(self.caller.as_ref()) {
            return Err(Denied::Challenge(
                "registry:catalog:*".into(),
                "this registry is private".into(),
            ));
        }
        let (n, last) = self.page()?;
        let (repositories, more) =
            Self::paginate(self.state.repositories().await?, n, last.as_deref());
        let mut response = axum::Json(json!({ "repositories": repositories })).into_response();
        if more {
            let link = format!(
                "</v2/_catalog?n={}&last={}>; rel=\"next\"",
                n.unwrap_or(0),
                repositories.last().unwrap()
            );
            response
                .headers_mut()
                .insert(header::LINK, HeaderValue::from_str(&link).unwrap());
        }
        Ok(response)
    }

    pub(super) async fn tags(&self, name: &str) -> Answer {
        self.pull(name)?;
        let tags = self.state.tags(name).await?;
        let (n, last) = self.page()?;
        let (tags, more) = Self::paginate(tags, n, last.as_deref());
        let mut response = axum::Json(json!({ "name": name, "tags": tags })).into_response();
        if more {
            let link = format!(
                "</v2/{name}/tags/list?n={}&last={}>; rel=\"next\"",
                n.unwrap_or(0),
                tags.last().unwrap()
            );
            response
                .headers_mut()
                .insert(header::LINK, HeaderValue::from_str(&link).unwrap());
        }
        Ok(response)
    }
}
