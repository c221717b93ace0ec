//! The compiled-code cache: a component is compiled once and the artifact kept on
//! disk, keyed by the sha256 digest of the component's bytes and the engine's
//! compatibility hash (wasmtime version, compiler settings, CPU features). A restart
//! maps the artifact (`Component::deserialize_file`) instead of compiling.
//!
//! Deserializing runs code from the file, so an entry is never trusted unchecked:
//! beside `<key>.cwasm` lies `<key>.cwasm.sha256`, the digest of the artifact as it was
//! written, and an entry is used only when the file's digest matches it (and wasmtime
//! then accepts its header). A missing, truncated, corrupt or stale entry is rebuilt and
//! overwritten. Entries are written to a temporary file and renamed into place, so a
//! crash leaves either no entry or a complete one; the directory is made private
//! (0700) so that no other user can swap an entry between check and map.
//!
//! A directory that is there already is used only if this user owns it and nobody
//! else may write to it ([`CodeCache::ensure_private`]): whoever can write there can
//! write an entry and its digest, and so choose the native code this process runs.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::Error;

/// Where compiled artifacts live.
#[derive(Debug, Clone)]
pub struct CodeCache {
    dir: PathBuf,
}

/// How a component was obtained from [`CodeCache::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a valid entry: nothing was compiled.
    Loaded,
    /// No entry existed: compiled and stored.
    Compiled,
    /// An entry existed but failed its check (the reason): compiled and overwritten.
    Rebuilt(String),
    /// No cache configured: compiled in memory.
    Uncached,
}

impl CodeCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$WHARF_CACHE_DIR`, else `$XDG_CACHE_HOME/wharf/compiled`, else
    /// `~/.cache/wharf/compiled`; `None` when none of them can be found.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("WHARF_CACHE_DIR").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|d| !d.is_empty())
                    .map(|home| PathBuf::from(home).join(".cache"))
            })?;
        Some(base.join("wharf").join("compiled"))
    }

    /// The directory entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes sure only this user can write to the cache: the directory is created mode
    /// 0700 when it is missing (its missing parents too); one that exists is refused
    /// ([`Error::UntrustedCache`], naming it) when another user owns it or group or
    /// others may write to it. Called before any entry is read or written.
    pub fn ensure_private(&self) -> Result<(), Error> {
        create_private_dir(&self.dir).map_err(|e| Error::UntrustedCache {
            path: self.dir.clone(),
            reason: format!("cannot be created: {e}"),
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let metadata = std::fs::metadata(&self.dir).map_err(|e| Error::UntrustedCache {
                path: self.dir.clone(),
                reason: format!("cannot be read: {e}"),
            })?;
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            let reason = if metadata.uid() != me {
                Some(format!(
                    "is owned by user {}, not by this user ({me})",
                    metadata.uid()
                ))
            } else if metadata.mode() & 0o022 != 0 {
                Some(format!(
                    "may be written by group or others (mode {:o})",
                    metadata.mode() & 0o777
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::UntrustedCache {
                    path: self.dir.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The artifact path for `component` under `engine`.
    pub fn entry(&self, engine: &Engine, component: &[u8]) -> PathBuf {
        self.entry_for(engine, &hex::encode(Sha256::digest(component)))
    }

    /// The artifact path for the component whose sha256 is `digest` (hex).
    fn entry_for(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// The compiled component whose sha256 is `digest` (hex), if a valid entry holds
    /// it: a start that knows the digest of what it serves (a serving image's is
    /// recorded beside it) neither reads nor hashes those bytes. `None` for a missing
    /// or invalid entry, which [`CodeCache::load`] then rebuilds.
    pub(crate) fn load_digest(&self, engine: &Engine, digest: &str) -> Option<Component> {
        self.ensure_private().ok()?;
        let path = self.entry_for(engine, digest);
        self.check(&path).ok()?;
        // SAFETY: as in `load`: the file's digest matches the recorded one, in a
        // directory only this user may write to.
        unsafe { Component::deserialize_file(engine, &path) }.ok()
    }

    /// The compiled `component`, from a valid entry or compiled and stored.
    pub fn load(
        &self,
        engine: &Engine,
        component: &[u8],
    ) -> Result<(Component, CacheOutcome), Error> {
        self.ensure_private()?;
        let path = self.entry(engine, component);
        let outcome = match self.check(&path) {
            Ok(()) => {
                // SAFETY: the file's sha256 matches the digest recorded when this
                // process or an earlier one serialized it with a compatible engine,
                // and the private directory (checked above: ours, and nobody else may
                // write to it) keeps others from replacing it.
                match unsafe { Component::deserialize_file(engine, &path) } {
                    Ok(loaded) => return Ok((loaded, CacheOutcome::Loaded)),
                    Err(e) => CacheOutcome::Rebuilt(format!("wasmtime refused it: {e}")),
                }
            }
            Err(Missing::Absent) => CacheOutcome::Compiled,
            Err(Missing::Invalid(why)) => CacheOutcome::Rebuilt(why),
        };
        if let CacheOutcome::Rebuilt(why) = &outcome {
            tracing::warn!(entry = %path.display(), reason = %why, "rebuilding a compiled-code cache entry");
        }
        let compiled = compile(engine, component)?;
        let artifact = compiled
            .serialize()
            .map_err(|e| Error::Compile(format!("serializing: {e:?}")))?;
        self.store(&path, &artifact)?;
        Ok((compiled, outcome))
    }

    fn check(&self, path: &Path) -> Result<(), Missing> {
        matches_recorded(path, &file_digest(path)?)
    }

    /// Writes `artifact` to `path` in the cache, with its digest beside it.
    pub(crate) fn store(&self, path: &Path, artifact: &[u8]) -> Result<(), Error> {
        self.ensure_private()?;
        write_atomically(path, artifact)?;
        let digest = hex::encode(Sha256::digest(artifact));
        write_atomically(&digest_path(path), digest.as_bytes())?;
        Ok(())
    }
}

/// The file at `path`, if its sha256 is the one recorded beside it.
pub(crate) fn read_verified(path: &Path) -> Result<Vec<u8>, Missing> {
    let artifact = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Missing::Absent),
        Err(e) => return Err(Missing::Invalid(format!("unreadable: {e}"))),
    };
    matches_recorded(path, &hex::encode(Sha256::digest(&artifact)))?;
    Ok(artifact)
}

/// Whether `actual`, the sha256 of the entry at `path`, is the one recorded beside it.
fn matches_recorded(path: &Path, actual: &str) -> Result<(), Missing> {
    let recorded = recorded_digest(path)?;
    if recorded != actual {
        return Err(Missing::Invalid(format!(
            "its sha256 is {actual} but {recorded} was recorded"
        )));
    }
    Ok(())
}

/// The sha256 (hex) recorded beside the entry at `path` when it was written:
/// [`Missing::Absent`] when the entry itself is not there.
pub(crate) fn recorded_digest(path: &Path) -> Result<String, Missing> {
    match std::fs::read_to_string(digest_path(path)) {
        Ok(recorded) => Ok(recorded.trim().to_owned()),
        Err(e) if !path.exists() => Err(match e.kind() {
            std::io::ErrorKind::NotFound => Missing::Absent,
            _ => Missing::Invalid(format!("no recorded digest: {e}")),
        }),
        Err(e) => Err(Missing::Invalid(format!("no recorded digest: {e}"))),
    }
}

/// The sha256 (hex) of the file at `path`, read through one small buffer: an
/// artifact of many megabytes costs no memory of its own (reading it whole faulted in
/// fresh pages for all of it, a fifth of a cached start's time).
fn file_digest(path: &Path) -> Result<String, Missing> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Missing::Absent),
        Err(e) => return Err(Missing::Invalid(format!("unreadable: {e}"))),
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 << 10];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Missing::Invalid(format!("unreadable: {e}"))),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

pub(crate) enum Missing {
    Absent,
    Invalid(String),
}

/// Compiles `component` without the cache.
pub(crate) fn compile(engine: &Engine, component: &[u8]) -> Result<Component, Error> {
    Component::new(engine, component).map_err(|e| Error::Compile(format!("{e:?}")))
}

fn digest_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Unique per process and per write: two engines in one process may store the
    // same entry at once, and each rename must move a complete file of its own.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    // Readable by this user only: a serving image holds what its initializers read,
    // the environment's secrets included.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
