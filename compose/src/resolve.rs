//! Where components come from: the [`Resolver`] trait and the filesystem resolver.
//!
//! A registry resolver (wasm-pkg-client against an OCI registry) implements the same
//! trait; the composer only ever sees `dyn Resolver`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use semver::{Version, VersionReq};
use wharf_types::{Digest, PackageName};

/// A package version chosen for a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The highest non-yanked version that matches.
    pub version: Version,
    /// The digest of its component bytes.
    pub digest: Digest,
    /// The registry it was resolved against (`None`: the default one).
    pub registry: Option<String>,
}

/// Why a package could not be resolved or fetched.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The registry has no package by that name.
    #[error("package {package} does not exist")]
    NotFound {
        /// The package asked for.
        package: PackageName,
    },
    /// No non-yanked version matches the requirement.
    #[error("no version of {package} matches {requirement} (available: {available}{yanked})", available = list(available), yanked = yanked_list(yanked))]
    NoMatch {
        /// The package asked for.
        package: PackageName,
        /// The requirement nothing matched.
        requirement: VersionReq,
        /// The versions there are, oldest first.
        available: Vec<Version>,
        /// The yanked versions, which resolution skips.
        yanked: Vec<Version>,
    },
    /// The version asked for does not exist.
    #[error("{package}@{version} does not exist")]
    NoSuchVersion {
        /// The package asked for.
        package: PackageName,
        /// The version asked for.
        version: Version,
    },
    /// The bytes fetched do not hash to the digest they were asked for by.
    #[error("{what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        /// What was fetched (package and version, or URL).
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// This resolver serves no registry by that name.
    #[error("this resolver does not serve registry `{0}`")]
    UnknownRegistry(String),
    /// This resolver cannot fetch the URL's scheme.
    #[error("cannot fetch {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why not.
        reason: String,
    },
    /// Reading the package failed.
    #[error("cannot read {path}")]
    Io {
        /// The file read.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Any other backend failure (network, registry protocol).
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

fn list(versions: &[Version]) -> String {
    if versions.is_empty() {
        return "none".into();
    }
    versions
        .iter()
        .map(Version::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn yanked_list(versions: &[Version]) -> String {
    if versions.is_empty() {
        String::new()
    } else {
        format!("; yanked: {}", list(versions))
    }
}

/// Resolves requirements to versions and fetches component bytes. Object safe, so
/// the composer takes `&dyn Resolver` and a registry backend can be added alongside
/// the filesystem one.
#[async_trait]
pub trait Resolver: Send + Sync {
    /// The highest non-yanked version of `package` in `registry` (`None`: the default
    /// one) that matches `requirement`. Prereleases match only when the requirement
    /// names one (Cargo's rule, `VersionReq::matches`).
    async fn resolve(
        &self,
        registry: Option<&str>,
        package: &PackageName,
        requirement: &VersionReq,
    ) -> Result<Resolved, ResolveError>;

    /// The component bytes of `package@version`. Implementations may check `digest`;
    /// callers always do.
    async fn fetch(
        &self,
        registry: Option<&str>,
        package: &PackageName,
        version: &Version,
        digest: &Digest,
    ) -> Result<Vec<u8>, ResolveError>;

    /// The bytes at `url` (a manifest `url` source; the caller checks the digest).
    async fn fetch_url(&self, url: &str) -> Result<Vec<u8>, ResolveError>;
}

/// A registry in a directory: `<root>/<namespace>/<name>/<version>.wasm`, e.g.
/// `registry/wharf/flate/1.1.0.wasm`. An empty file `<version>.wasm.yanked` next to
/// a version yanks it: resolution skips it, but a locked fetch still works (as
/// the registry keeps yanked versions for locked pulls). Digests are computed from
/// the files. It serves one registry, the default one or the one named by
/// [`FsResolver::named`], and fetches only `file://` URLs.
#[derive(Debug, Clone)]
pub struct FsResolver {
    root: PathBuf,
    name: Option<String>,
}

impl FsResolver {
    /// A resolver over `root`, serving as the default registry.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            name: None,
        }
    }

    /// A resolver over `root` that serves manifest entries with `registry = name`
    /// (and the default registry).
    pub fn named(root: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            name: Some(name.into()),
        }
    }

    /// The directory this resolver reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn check_registry(&self, registry: Option<&str>) -> Result<(), ResolveError> {
        match registry {
            None => Ok(()),
            Some(r) if Some(r) == self.name.as_deref() => Ok(()),
            Some(r) => Err(ResolveError::UnknownRegistry(r.to_owned())),
        }
    }

    fn package_dir(&self, package: &PackageName) -> PathBuf {
        self.root.join(package.namespace()).join(package.name())
    }

    /// Every version of `package` and whether it is yanked, oldest first.
    fn versions(&self, package: &PackageName) -> Result<Vec<(Version, bool)>, ResolveError> {
        let dir = self.package_dir(package);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ResolveError::NotFound {
                    package: package.clone(),
                });
            }
            Err(source) => return Err(ResolveError::Io { path: dir, source }),
        };
        let mut versions = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ResolveError::Io {
                path: dir.clone(),
                source,
            })?;
            let file_name = entry.file_name();
            let Some(version) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".wasm"))
                .and_then(|v| Version::parse(v).ok())
            else {
                continue;
            };
            let yanked = dir.join(format!("{version}.wasm.yanked")).exists();
            versions.push((version, yanked));
        }
        versions.sort();
        Ok(versions)
    }

    fn read(&self, path: PathBuf) -> Result<Vec<u8>, ResolveError> {
        std::fs::read(&path).map_err(|source| ResolveError::Io { path, source })
    }
}

// The filesystem calls are blocking; they read small local files, which is what a
// filesystem registry is for. A registry resolver does its I/O asynchronously.
#[async_trait]
impl Resolver for FsResolver {
    async fn resolve(
        &self,
        registry: Option<&str>,
        package: &PackageName,
        requirement: &VersionReq,
    ) -> Result<Resolved, ResolveError> {
        self.check_registry(registry)?;
        let versions = self.versions(package)?;
        let Some(version) = versions
            .iter()
            .rev()
            .find(|(v, yanked)| !yanked && requirement.matches(v))
            .map(|(v, _)| v.clone())
        else {
            let (yanked, available) = versions.into_iter().partition::<Vec<_>, _>(|(_, y)| *y);
            return Err(ResolveError::NoMatch {
                package: package.clone(),
                requirement: requirement.clone(),
                available: available.into_iter().map(|(v, _)| v).collect(),
                yanked: yanked.into_iter().map(|(v, _)| v).collect(),
            });
        };
        let bytes = self.read(self.package_dir(package).join(format!("{version}.wasm")))?;
        Ok(Resolved {
            version,
            digest: Digest::of(&bytes),
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
        let path = self.package_dir(package).join(format!("{version}.wasm"));
        if !path.exists() {
            return Err(ResolveError::NoSuchVersion {
                package: package.clone(),
                version: version.clone(),
            });
        }
        let bytes = self.read(path)?;
        check_digest(&format!("{package}@{version}"), digest, &bytes)?;
        Ok(bytes)
    }

    async fn fetch_url(&self, url: &str) -> Result<Vec<u8>, ResolveError> {
        let Some(path) = url.strip_prefix("file://") else {
            return Err(ResolveError::Url {
                url: url.to_owned(),
                reason: "the filesystem resolver fetches only file:// URLs".into(),
            });
        };
        self.read(PathBuf::from(path))
    }
}

/// Checks that `bytes` hash to `expected`.
pub(crate) fn check_digest(
    what: &dyn fmt::Display,
    expected: &Digest,
    bytes: &[u8],
) -> Result<(), ResolveError> {
    let actual = Digest::compute(expected.algorithm(), bytes);
    if &actual == expected {
        Ok(())
    } else {
        Err(ResolveError::DigestMismatch {
            what: what.to_string(),
            expected: expected.clone(),
            actual,
        })
    }
}
