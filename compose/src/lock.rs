//! The lock file, `wharf.lock`: for every registry package the manifest names, the
//! version each requirement resolved to and its digest. Laid out as `wkg.lock` is
//! (`version = 1`, `[[packages]]` with `name` and `registry`, and
//! `[[packages.versions]]` with `requirement`, `version`, `digest`), so the two read
//! alike.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use wharf_types::{Digest, PackageName};

use crate::manifest::{KeyPath, Manifest, Source};
use crate::resolve::{ResolveError, Resolver};

/// The lock file format version this crate reads and writes.
pub const LOCK_VERSION: u32 = 1;

/// A parsed lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    /// Locked packages, sorted by name then registry.
    pub packages: Vec<LockedPackage>,
    /// The transparency-log checkpoint the locked digests were last verified against
    /// (`[log]`): the next verification must extend it (docs/trust.md).
    pub log: Option<crate::log::LogRecord>,
}

/// One locked package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    /// The package name.
    pub name: PackageName,
    /// The registry it came from (`None`: the default one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// One entry per distinct requirement, sorted by requirement text.
    pub versions: Vec<LockedVersion>,
}

/// The version a requirement resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedVersion {
    /// The requirement as written in the manifest.
    pub requirement: VersionReq,
    /// The version chosen.
    pub version: Version,
    /// The digest of the component bytes.
    pub digest: Digest,
}

/// Why a lock file could not be read, or could not be brought in line with the
/// manifest.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The file is not a valid lock file; the message has the line and column.
    #[error("invalid wharf.lock")]
    Parse(#[from] toml::de::Error),
    /// The lock file is of a format version this crate does not know.
    #[error("wharf.lock has format version {0}; this composer reads version {LOCK_VERSION}")]
    UnsupportedVersion(u32),
    /// `--locked` and there is no lock file.
    #[error("--locked was given but there is no wharf.lock; resolve without --locked first")]
    Missing,
    /// `--locked` and a requirement of the manifest is not in the lock.
    #[error("{key}: {source} is not in wharf.lock, and --locked forbids changing it{hint}",
        source = Source::Registry { package: package.clone(), requirement: requirement.clone(), registry: registry.clone() },
        hint = locked_hint(locked))]
    NotLocked {
        /// The manifest key that requires it.
        key: KeyPath,
        /// The package.
        package: PackageName,
        /// The requirement.
        requirement: VersionReq,
        /// The registry.
        registry: Option<String>,
        /// What the lock has for this package instead.
        locked: Vec<(VersionReq, Version)>,
    },
    /// `--locked` and the lock has an entry the manifest no longer requires.
    #[error(
        "wharf.lock locks {package} {requirement} (-> {version}), which wharf.toml no longer requires, and --locked forbids changing it"
    )]
    Stale {
        /// The package.
        package: PackageName,
        /// The requirement no manifest entry has.
        requirement: VersionReq,
        /// The version locked.
        version: Version,
    },
    /// A requirement could not be resolved.
    #[error("{key}: cannot resolve {package} {requirement}")]
    Resolve {
        /// The manifest key that requires it.
        key: KeyPath,
        /// The package.
        package: PackageName,
        /// The requirement.
        requirement: VersionReq,
        /// Why.
        #[source]
        source: ResolveError,
    },
}

fn locked_hint(locked: &[(VersionReq, Version)]) -> String {
    if locked.is_empty() {
        return String::new();
    }
    let entries: Vec<_> = locked.iter().map(|(r, v)| format!("{r} -> {v}")).collect();
    format!(" (locked: {})", entries.join(", "))
}

/// How [`resolve`] treats an existing lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Keep locked entries whose requirement is still in the manifest, resolve new
    /// requirements, drop entries no longer required (Cargo's default).
    #[default]
    Reuse,
    /// Fail if the lock does not match the manifest exactly (`--locked`).
    Locked,
    /// Resolve every requirement again (`update`).
    Update,
}

impl Lock {
    /// The locked version and digest for a requirement.
    pub fn find(
        &self,
        package: &PackageName,
        registry: Option<&str>,
        requirement: &VersionReq,
    ) -> Option<&LockedVersion> {
        self.packages
            .iter()
            .find(|p| &p.name == package && p.registry.as_deref() == registry)?
            .versions
            .iter()
            .find(|v| &v.requirement == requirement)
    }

    fn entries(&self) -> impl Iterator<Item = (&LockedPackage, &LockedVersion)> {
        self.packages
            .iter()
            .flat_map(|p| p.versions.iter().map(move |v| (p, v)))
    }

    fn from_entries(entries: BTreeMap<Requirement, LockedVersion>) -> Self {
        let mut packages: Vec<LockedPackage> = Vec::new();
        for (req, version) in entries {
            match packages.last_mut() {
                Some(p) if p.name == req.package && p.registry == req.registry => {
                    p.versions.push(version)
                }
                _ => packages.push(LockedPackage {
                    name: req.package,
                    registry: req.registry,
                    versions: vec![version],
                }),
            }
        }
        Self {
            packages,
            log: None,
        }
    }
}

impl FromStr for Lock {
    type Err = LockError;

    fn from_str(text: &str) -> Result<Self, LockError> {
        let dto: LockDto = toml::from_str(text)?;
        if dto.version != LOCK_VERSION {
            return Err(LockError::UnsupportedVersion(dto.version));
        }
        // Normalise the order, so a hand-edited lock still compares and writes alike.
        let entries = dto
            .packages
            .into_iter()
            .flat_map(|p| {
                p.versions.into_iter().map(move |v| {
                    (
                        Requirement {
                            package: p.name.clone(),
                            registry: p.registry.clone(),
                            requirement: v.requirement.to_string(),
                        },
                        v,
                    )
                })
            })
            .collect();
        let mut lock = Self::from_entries(entries);
        lock.log = dto.log;
        Ok(lock)
    }
}

impl fmt::Display for Lock {
    /// The lock file's text, stable for the same content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dto = LockDto {
            version: LOCK_VERSION,
            packages: self.packages.clone(),
            log: self.log.clone(),
        };
        f.write_str("# This file is generated by wharf. It is not intended for manual editing.\n")?;
        f.write_str(&toml::to_string(&dto).map_err(|_| fmt::Error)?)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockDto {
    version: u32,
    #[serde(default)]
    packages: Vec<LockedPackage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<crate::log::LogRecord>,
}

/// A registry requirement of the manifest; the requirement is kept as text so the
/// key orders (VersionReq has no order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Requirement {
    package: PackageName,
    registry: Option<String>,
    requirement: String,
}

/// Every registry requirement in the manifest with the first key that names it.
fn requirements(manifest: &Manifest) -> BTreeMap<Requirement, (KeyPath, VersionReq)> {
    let mut out = BTreeMap::new();
    for (key, source) in manifest.components() {
        if let Source::Registry {
            package,
            requirement,
            registry,
        } = source
        {
            out.entry(Requirement {
                package: package.clone(),
                registry: registry.clone(),
                requirement: requirement.to_string(),
            })
            .or_insert((key, requirement.clone()));
        }
    }
    out
}

/// Brings the lock in line with the manifest, as `mode` says, resolving what needs
/// resolving through `resolver`. Returns the new lock; write it out when it differs
/// from `existing`.
pub async fn resolve(
    manifest: &Manifest,
    existing: Option<&Lock>,
    resolver: &dyn Resolver,
    mode: LockMode,
) -> Result<Lock, LockError> {
    let wanted = requirements(manifest);
    if mode == LockMode::Locked {
        let lock = existing.ok_or(LockError::Missing)?;
        for (req, (key, requirement)) in &wanted {
            if lock
                .find(&req.package, req.registry.as_deref(), requirement)
                .is_none()
            {
                let locked = lock
                    .entries()
                    .filter(|(p, _)| p.name == req.package && p.registry == req.registry)
                    .map(|(_, v)| (v.requirement.clone(), v.version.clone()))
                    .collect();
                return Err(LockError::NotLocked {
                    key: key.clone(),
                    package: req.package.clone(),
                    requirement: requirement.clone(),
                    registry: req.registry.clone(),
                    locked,
                });
            }
        }
        for (p, v) in lock.entries() {
            let req = Requirement {
                package: p.name.clone(),
                registry: p.registry.clone(),
                requirement: v.requirement.to_string(),
            };
            if !wanted.contains_key(&req) {
                return Err(LockError::Stale {
                    package: p.name.clone(),
                    requirement: v.requirement.clone(),
                    version: v.version.clone(),
                });
            }
        }
        return Ok(lock.clone());
    }

    let mut entries = BTreeMap::new();
    let log = existing.and_then(|lock| lock.log.clone());
    for (req, (key, requirement)) in wanted {
        let kept = match (mode, existing) {
            (LockMode::Reuse, Some(lock)) => lock
                .find(&req.package, req.registry.as_deref(), &requirement)
                .cloned(),
            _ => None,
        };
        let locked = match kept {
            Some(locked) => locked,
            None => {
                let resolved = resolver
                    .resolve(req.registry.as_deref(), &req.package, &requirement)
                    .await
                    .map_err(|source| LockError::Resolve {
                        key,
                        package: req.package.clone(),
                        requirement: requirement.clone(),
                        source,
                    })?;
                LockedVersion {
                    requirement,
                    version: resolved.version,
                    digest: resolved.digest,
                }
            }
        };
        entries.insert(req, locked);
    }
    let mut lock = Lock::from_entries(entries);
    lock.log = log;
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_record_round_trips_and_is_optional() {
        let text = r#"version = 1

[[packages]]
name = "acme:flate"

[[packages.versions]]
requirement = "^1"
version = "1.0.0"
digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
"#;
        let lock: Lock = text.parse().unwrap();
        assert_eq!(lock.log, None);
        assert!(!lock.to_string().contains("[log]"));
        let mut logged = lock.clone();
        logged.log = Some(crate::log::LogRecord {
            registry: "127.0.0.1:7878".into(),
            checkpoint: "127.0.0.1:7878/log\n2\nAAAA\n\n— 127.0.0.1:7878/log abc=\n".into(),
        });
        let written = logged.to_string();
        assert!(written.contains("[log]"), "{written}");
        assert_eq!(written.parse::<Lock>().unwrap(), logged);
    }
}
