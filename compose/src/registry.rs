//! The registry resolver: any OCI registry that holds Wasm packages (Wharf, or any
//! other), through wasm-pkg-client, the library behind `wkg`. Versions are the
//! registry's tags (Wharf leaves yanked versions out of its tag lists); every fetch is
//! checked against the digest the lock pinned.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use semver::{Version, VersionReq};
use wasm_pkg_client::{Client, Config, PackageRef, Registry};
use wharf_types::{Digest, PackageName};

use crate::resolve::{ResolveError, Resolved, Resolver};

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `host:port` of the OCI registry, e.g. `127.0.0.1:7878` or `registry.example.com`.
    pub registry: String,
    /// Plain HTTP (for a registry on localhost) instead of HTTPS.
    pub insecure_http: bool,
    /// An API token; sent as the Basic password, which Wharf trades for a bearer token.
    pub token: Option<String>,
}

/// Resolves and fetches packages from one OCI registry, the manifests' default.
pub struct OciResolver {
    client: Client,
    registry: String,
}

impl OciResolver {
    /// A resolver for `config.registry`. Every namespace maps to it.
    pub fn new(config: &RegistryConfig) -> anyhow::Result<Self> {
        let registry: Registry = config.registry.parse()?;
        // Every namespace maps to this registry; the client learns its OCI layout from
        // the registry's `/.well-known/wasm-pkg/registry.json` (plain HTTP on localhost).
        let mut client_config = Config::empty();
        client_config.set_default_registry(Some(registry.clone()));
        let backend = client_config.get_or_insert_registry_config_mut(&registry);
        backend.set_default_backend(Some("oci".into()));
        let mut oci_backend =
            serde_json::json!({ "protocol": if config.insecure_http { "http" } else { "https" } });
        if let Some(token) = &config.token {
            oci_backend["auth"] = serde_json::json!({ "username": "wharf", "password": token });
        }
        backend.set_backend_config("oci", oci_backend)?;
        Ok(Self {
            client: Client::new(client_config),
            registry: config.registry.clone(),
        })
    }

    fn check_registry(&self, registry: Option<&str>) -> Result<(), ResolveError> {
        match registry {
            Some(r) if r != self.registry => Err(ResolveError::UnknownRegistry(r.to_owned())),
            _ => Ok(()),
        }
    }
}

fn package_ref(package: &PackageName) -> Result<PackageRef, ResolveError> {
    package
        .to_string()
        .parse()
        .map_err(|e: wasm_pkg_client::Error| ResolveError::Backend(e.into()))
}

#[async_trait]
impl Resolver for OciResolver {
    async fn resolve(
        &self,
        registry: Option<&str>,
        package: &PackageName,
        requirement: &VersionReq,
    ) -> Result<Resolved, ResolveError> {
        self.check_registry(registry)?;
        let reference = package_ref(package)?;
        let versions = match self.client.list_all_versions(&reference).await {
            Ok(versions) => versions,
            Err(wasm_pkg_client::Error::PackageNotFound) => {
                return Err(ResolveError::NotFound {
                    package: package.clone(),
                });
            }
            Err(e) => return Err(ResolveError::Backend(e.into())),
        };
        let mut available: Vec<Version> = versions
            .iter()
            .filter(|v| !v.yanked)
            .map(|v| v.version.clone())
            .collect();
        let yanked: Vec<Version> = versions
            .iter()
            .filter(|v| v.yanked)
            .map(|v| v.version.clone())
            .collect();
        available.sort();
        if available.is_empty() && yanked.is_empty() {
            return Err(ResolveError::NotFound {
                package: package.clone(),
            });
        }
        let Some(version) = available
            .iter()
            .rev()
            .find(|v| requirement.matches(v))
            .cloned()
        else {
            return Err(ResolveError::NoMatch {
                package: package.clone(),
                requirement: requirement.clone(),
                available,
                yanked,
            });
        };
        let release = self
            .client
            .get_release(&reference, &version)
            .await
            .map_err(|e| ResolveError::Backend(e.into()))?;
        let digest: Digest = release
            .content_digest
            .to_string()
            .parse()
            .map_err(|e: wharf_types::ParseError| ResolveError::Backend(e.into()))?;
        Ok(Resolved {
            version,
            digest,
            registry: registry.map(str::to_owned),
        })
    }

    async fn fetch(
        &self,
        registry: Option<&str>,
        package: &PackageName,
        version: &Version,
        digest: &Digest,
    ) -> Result<Vec<u8>, ResolveError> {
        self.check_registry(registry)?;
        let reference = package_ref(package)?;
        let release = match self.client.get_release(&reference, version).await {
            Ok(release) => release,
            Err(wasm_pkg_client::Error::VersionNotFound(_))
            | Err(wasm_pkg_client::Error::PackageNotFound) => {
                return Err(ResolveError::NoSuchVersion {
                    package: package.clone(),
                    version: version.clone(),
                });
            }
            Err(e) => return Err(ResolveError::Backend(e.into())),
        };
        let bytes = self
            .client
            .stream_content(&reference, &release)
            .await
            .map_err(|e| ResolveError::Backend(e.into()))?
            .try_fold(Vec::new(), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await
            .map_err(|e| ResolveError::Backend(e.into()))?;
        crate::resolve::check_digest(&format!("{package}@{version}"), digest, &bytes)?;
        Ok(bytes)
    }

    async fn fetch_url(&self, url: &str) -> Result<Vec<u8>, ResolveError> {
        let response = reqwest::get(url).await.map_err(|e| ResolveError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let response = response.error_for_status().map_err(|e| ResolveError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let bytes = response.bytes().await.map_err(|e| ResolveError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(bytes.to_vec())
    }
}
