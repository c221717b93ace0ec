//! Fetching the bytes of every component the manifest names, as the lock pins them,
//! through the cache. The only module besides the resolvers and the cache that does
//! I/O; composition itself takes the bytes this returns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::Version;
use wharf_types::Digest;

use crate::cache::{Cache, CacheError};
use crate::lock::Lock;
use crate::manifest::{KeyPath, Manifest, Source};
use crate::resolve::{ResolveError, Resolver, check_digest};

/// One component of the deployable, with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constituent {
    /// Where it sits in the manifest.
    pub key: KeyPath,
    /// Where it came from.
    pub source: Source,
    /// The version, for registry packages.
    pub version: Option<Version>,
    /// The digest of `bytes`.
    pub digest: Digest,
    /// The component.
    pub bytes: Vec<u8>,
    /// The ids of the keys whose signatures were verified for it under the manifest's
    /// `[trust]` policy (filled in by the caller that checks it; empty here).
    pub signatures: Vec<String>,
}

/// Why a component's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The lock has no entry for a registry requirement: resolve the lock first.
    #[error("{key}: {requirement} is not in wharf.lock; resolve the lock first")]
    NotLocked {
        /// The manifest key.
        key: KeyPath,
        /// The requirement.
        requirement: Source,
    },
    /// Fetching failed, or the bytes fetched do not match the pinned digest.
    #[error("{key}: cannot fetch {what}")]
    Fetch {
        /// The manifest key.
        key: KeyPath,
        /// The package and version, or the URL.
        what: String,
        /// Why.
        #[source]
        source: ResolveError,
    },
    /// A `path` source could not be read.
    #[error("{key}: cannot read {}", path.display())]
    Read {
        /// The manifest key.
        key: KeyPath,
        /// The file, relative to the manifest's directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The cache failed.
    #[error("{key}: download cache")]
    Cache {
        /// The manifest key.
        key: KeyPath,
        /// Why.
        #[source]
        source: CacheError,
    },
}

/// The bytes of every component of `manifest` (root first, in
/// [`Manifest::components`] order): registry packages as `lock` pins them and URL
/// sources by their digest, both from `cache` or else fetched through `resolver`
/// and checked; `path` sources read relative to `manifest_dir`.
pub async fn load(
    manifest: &Manifest,
    manifest_dir: &Path,
    lock: &Lock,
    resolver: &dyn Resolver,
    cache: &Cache,
) -> Result<Vec<Constituent>, LoadError> {
    // Reading and digest-checking the cached components is the only work here that
    // grows with their size; it is done for all of them at once, one thread each.
    let cached: Vec<&Digest> = manifest
        .components()
        .into_iter()
        .filter_map(|(_, source)| match source {
            Source::Registry {
                package,
                requirement,
                registry,
            } => lock
                .find(package, registry.as_deref(), requirement)
                .map(|locked| &locked.digest),
            Source::Url { digest, .. } => Some(digest),
            Source::Path(_) => None,
        })
        .collect();
    let mut prefetched: BTreeMap<Digest, Result<Option<Vec<u8>>, CacheError>> =
        std::thread::scope(|scope| {
            let reads: Vec<_> = cached
                .iter()
                .map(|digest| (*digest, scope.spawn(|| cache.get(digest))))
                .collect();
            reads
                .into_iter()
                .map(|(digest, read)| (digest.clone(), read.join().expect("a cache read panicked")))
                .collect()
        });
    let mut cache_get = |digest: &Digest| {
        prefetched
            .remove(digest)
            .unwrap_or_else(|| cache.get(digest))
    };

    let mut out = Vec::new();
    for (key, source) in manifest.components() {
        let cache_err = |key: &KeyPath| {
            let key = key.clone();
            move |source| LoadError::Cache { key, source }
        };
        let (version, digest, bytes) = match source {
            Source::Registry {
                package,
                requirement,
                registry,
            } => {
                let locked = lock
                    .find(package, registry.as_deref(), requirement)
                    .ok_or_else(|| LoadError::NotLocked {
                        key: key.clone(),
                        requirement: source.clone(),
                    })?;
                let bytes = match cache_get(&locked.digest).map_err(cache_err(&key))? {
                    Some(bytes) => bytes,
                    None => {
                        let what = format!("{package}@{}", locked.version);
                        let fetched = resolver
                            .fetch(
                                registry.as_deref(),
                                package,
                                &locked.version,
                                &locked.digest,
                            )
                            .await
                            .and_then(|b| check_digest(&what, &locked.digest, &b).map(|()| b))
                            .map_err(|source| LoadError::Fetch {
                                key: key.clone(),
                                what,
                                source,
                            })?;
                        cache
                            .put(&locked.digest, &fetched)
                            .map_err(cache_err(&key))?;
                        fetched
                    }
                };
                (Some(locked.version.clone()), locked.digest.clone(), bytes)
            }
            Source::Path(path) => {
                let bytes =
                    std::fs::read(manifest_dir.join(path)).map_err(|source| LoadError::Read {
                        key: key.clone(),
                        path: path.clone(),
                        source,
                    })?;
                (None, Digest::of(&bytes), bytes)
            }
            Source::Url { url, digest } => {
                let bytes = match cache_get(digest).map_err(cache_err(&key))? {
                    Some(bytes) => bytes,
                    None => {
                        let fetched = resolver
                            .fetch_url(url)
                            .await
                            .and_then(|b| check_digest(url, digest, &b).map(|()| b))
                            .map_err(|source| LoadError::Fetch {
                                key: key.clone(),
                                what: url.clone(),
                                source,
                            })?;
                        cache.put(digest, &fetched).map_err(cache_err(&key))?;
                        fetched
                    }
                };
                (None, digest.clone(), bytes)
            }
        };
        out.push(Constituent {
            key,
            source: source.clone(),
            version,
            digest,
            bytes,
            signatures: Vec::new(),
        });
    }
    Ok(out)
}
