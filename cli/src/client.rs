//! The registry's JSON API as the commands use it: the registry from `--registry` or
//! `WHARF_REGISTRY` ([`RegistryArgs`]), the token from `WHARF_TOKEN` or `wharf login`,
//! and the registry's error envelope turned into an error that names the code and
//! says what to do.

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wharf_types::views::{ErrorEnvelope, Incompatible, Resolved};

use crate::progress;
use crate::registry::RegistryArgs;

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(args: &RegistryArgs) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: args.registry.url(),
            token: args.token(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends and returns the body, or the registry's error as an error.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<bytes::Bytes> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the registry at {}", self.base))?;
        let status = response.status();
        let body = response.bytes().await?;
        if status.is_success() {
            return Ok(body);
        }
        Err(refusal(status, &body))
    }

    /// `GET path`, its JSON read as `T` (one of [`wharf_types::views`]).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let body = self.send(self.request(reqwest::Method::GET, path)).await?;
        parse(path, &body)
    }

    /// Downloads `path` with a progress bar named `what` (on a terminal only).
    pub async fn download(&self, path: &str, what: &str) -> anyhow::Result<bytes::Bytes> {
        let mut response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .with_context(|| format!("cannot reach the registry at {}", self.base))?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(refusal(status, &response.bytes().await?));
        }
        let bar = progress::bytes(response.content_length(), "Downloading", what);
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(body.into())
    }

    pub async fn put(&self, path: &str) -> anyhow::Result<bytes::Bytes> {
        self.send(self.request(reqwest::Method::PUT, path)).await
    }

    /// Uploads `body` with `PUT`, showing a progress bar named `what` on a terminal.
    pub async fn upload(
        &self,
        path: &str,
        body: Vec<u8>,
        what: &str,
    ) -> anyhow::Result<bytes::Bytes> {
        const CHUNK: usize = 64 << 10;
        let len = body.len();
        let bar = progress::bytes(Some(len as u64), "Uploading", what);
        let body = bytes::Bytes::from(body);
        let counted = bar.clone();
        let chunks = futures_util::stream::iter((0..len).step_by(CHUNK).map(move |start| {
            let chunk = body.slice(start..(start + CHUNK).min(len));
            counted.inc(chunk.len() as u64);
            Ok::<_, std::io::Error>(chunk)
        }));
        let result = self
            .send(
                self.request(reqwest::Method::PUT, path)
                    .header("content-type", "application/wasm")
                    .header("content-length", len)
                    .body(reqwest::Body::wrap_stream(chunks)),
            )
            .await;
        bar.finish_and_clear();
        result
    }

    /// `POST path` with `body` as JSON, the answer read as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        let bytes = self
            .send(self.request(reqwest::Method::POST, path).json(body))
            .await?;
        parse(path, &bytes)
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<bytes::Bytes> {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }
}

/// A successful answer to `path` read as `T`, or an error naming what was expected.
pub fn parse<T: DeserializeOwned>(path: &str, body: &[u8]) -> anyhow::Result<T> {
    serde_json::from_slice(body)
        .with_context(|| format!("the registry's answer to {path} is not what this wharf reads"))
}

/// The registry's error envelope as an error naming the code, with a hint and, for a
/// semver refusal, the changes that broke compatibility.
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> anyhow::Error {
    let error = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    let code = error.as_ref().map_or("", |e| e.code.as_str());
    let message = error.as_ref().map_or_else(
        || String::from_utf8_lossy(body).into_owned(),
        |e| e.message.clone(),
    );
    let hint = match code {
        "UNAUTHORIZED" => "\n  hint: `wharf login` with an API token, or set WHARF_TOKEN",
        "DENIED" => "\n  hint: the token lacks the scope, or the namespace belongs to others",
        _ => "",
    };
    let mut text = format!("{message} ({code}, HTTP {})", status.as_u16());
    let incompatible = error
        .filter(|e| e.code == "SEMVER_INCOMPATIBLE")
        .and_then(|e| serde_json::from_value::<Incompatible>(e.detail).ok());
    for change in incompatible.into_iter().flat_map(|i| i.changes) {
        text.push_str(&format!("\n    {} {}", change.item, change.change));
        if !change.before.is_empty() {
            text.push_str(&format!("\n      - {}", change.before));
        }
        if let Some(after) = change.after {
            text.push_str(&format!("\n      + {after}"));
        }
    }
    anyhow::anyhow!("{text}{hint}")
}

/// A package version resolved and downloaded, its bytes checked against its digest.
pub struct Fetched {
    pub name: wharf_types::PackageName,
    pub version: String,
    pub digest: wharf_types::Digest,
    /// `wit` or `component`.
    pub kind: String,
    pub bytes: bytes::Bytes,
}

impl Client {
    /// Resolves `ns:name[@requirement]` to the highest matching version and downloads
    /// it; a download that does not match its digest is an error.
    pub async fn fetch(&self, spec: &str) -> anyhow::Result<Fetched> {
        let (spec, requirement) = spec.split_once('@').unwrap_or((spec, "*"));
        let (name, path) = package_path(spec)?;
        let resolved: Resolved = self
            .get(&format!(
                "/api/v1/packages/{path}/resolve?requirement={}",
                encode(requirement)
            ))
            .await?;
        let version = resolved.version;
        let digest: wharf_types::Digest = resolved.digest.parse()?;
        let bytes = self
            .download(
                &format!(
                    "/api/v1/packages/{path}/versions/{}/content",
                    encode(&version)
                ),
                &format!("{name}@{version}"),
            )
            .await?;
        anyhow::ensure!(
            digest.matches(&bytes),
            "the download of {name}@{version} does not match its digest {digest}; nothing was written"
        );
        Ok(Fetched {
            name,
            version,
            digest,
            kind: resolved.kind,
            bytes,
        })
    }
}

/// Percent-encodes what a path segment or query value may not hold.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._:/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `ns:name` into the path segments `ns/name`, validated.
pub fn package_path(name: &str) -> anyhow::Result<(wharf_types::PackageName, String)> {
    let name: wharf_types::PackageName = name.parse()?;
    let path = format!("{}/{}", name.namespace(), name.name());
    Ok((name, path))
}
