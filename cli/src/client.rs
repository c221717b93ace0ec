//! The registry's JSON API as the commands use it: the registry from `--registry` or
//! `WHARF_REGISTRY`, the token from `WHARF_TOKEN`, and the registry's error envelope
//! turned into an error that names the code and says what to do.

use anyhow::{Context, bail};
use serde_json::Value;

/// Where the registry is and who is asking.
#[derive(clap::Args, Clone)]
pub struct RegistryArgs {
    /// The registry, `http://host:port` or `host:port` (plain HTTP for 127.0.0.1 and
    /// localhost, HTTPS otherwise).
    #[arg(long, env = "WHARF_REGISTRY", default_value = "127.0.0.1:7878")]
    pub registry: String,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(args: &RegistryArgs) -> Self {
        let base = if args.registry.contains("://") {
            args.registry.trim_end_matches('/').to_owned()
        } else if args.registry.starts_with("127.0.0.1") || args.registry.starts_with("localhost") {
            format!("http://{}", args.registry)
        } else {
            format!("https://{}", args.registry)
        };
        Self {
            http: reqwest::Client::new(),
            base,
            token: crate::config::Config::token_for(&args.registry),
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
        let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let error = &envelope["errors"][0];
        let code = error["code"].as_str().unwrap_or("");
        let message = error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        let hint = match code {
            "UNAUTHORIZED" => "\n  hint: `wharf login` with an API token, or set WHARF_TOKEN",
            "DENIED" => "\n  hint: the token lacks the scope, or the namespace belongs to others",
            _ => "",
        };
        let mut text = format!("{message} ({code}, HTTP {})", status.as_u16());
        if code == "SEMVER_INCOMPATIBLE" {
            for change in error["detail"]["changes"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "\n    {} {}",
                    change["item"].as_str().unwrap_or(""),
                    change["change"].as_str().unwrap_or("")
                ));
                if let Some(before) = change["before"].as_str().filter(|b| !b.is_empty()) {
                    text.push_str(&format!("\n      - {before}"));
                }
                if let Some(after) = change["after"].as_str() {
                    text.push_str(&format!("\n      + {after}"));
                }
            }
        }
        bail!("{text}{hint}")
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        Ok(serde_json::from_slice(
            &self.send(self.request(reqwest::Method::GET, path)).await?,
        )?)
    }

    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<bytes::Bytes> {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn put(&self, path: &str, body: Vec<u8>) -> anyhow::Result<bytes::Bytes> {
        self.send(
            self.request(reqwest::Method::PUT, path)
                .header("content-type", "application/wasm")
                .body(body),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let bytes = self
            .send(self.request(reqwest::Method::POST, path).json(body))
            .await?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<bytes::Bytes> {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }
}

/// `ns:name` into the path segments `ns/name`, validated.
pub fn package_path(name: &str) -> anyhow::Result<(wharf_types::PackageName, String)> {
    let name: wharf_types::PackageName = name.parse()?;
    let path = format!("{}/{}", name.namespace(), name.name());
    Ok((name, path))
}
