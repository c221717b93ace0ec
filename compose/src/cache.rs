//! The content-addressed download cache shared by the composer and the CLI:
//! `<root>/sha256/<hex>`, one file per digest. Every read and every write is checked
//! against the digest; a file that no longer matches is removed and reported.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use wharf_types::Digest;

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The bytes do not hash to the digest they are stored or read under. A corrupt
    /// cache file is removed before this is returned, so a retry downloads it again.
    #[error("cached {path} has digest {actual}, expected {expected}; it was removed")]
    Corrupt {
        /// The cache file.
        path: PathBuf,
        /// The digest it is stored under.
        expected: Digest,
        /// The digest of its bytes.
        actual: Digest,
    },
    /// Bytes handed to [`Cache::put`] do not hash to the digest given.
    #[error("refusing to cache bytes with digest {actual} as {expected}")]
    Mismatch {
        /// The digest given.
        expected: Digest,
        /// The digest of the bytes.
        actual: Digest,
    },
    /// A filesystem operation failed.
    #[error("cache I/O on {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// A content-addressed cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// A cache in `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the bytes of `digest` live.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("sha256").join(digest.hex())
    }

    /// The bytes of `digest`, if cached and intact.
    pub fn get(&self, digest: &Digest) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.path(digest);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        let actual = Digest::of(&bytes);
        if &actual != digest {
            let _ = std::fs::remove_file(&path);
            return Err(CacheError::Corrupt {
                path,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(Some(bytes))
    }

    /// Stores `bytes` under `digest` after checking that they hash to it. Written to a
    /// temporary file and renamed, so readers never see a partial file.
    pub fn put(&self, digest: &Digest, bytes: &[u8]) -> Result<PathBuf, CacheError> {
        let actual = Digest::of(bytes);
        if &actual != digest {
            return Err(CacheError::Mismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let path = self.path(digest);
        let dir = path.parent().expect("cache paths have a parent");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CacheError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let tmp = dir.join(format!(".{}.{}.tmp", digest.hex(), std::process::id()));
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_digests_on_write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let digest = Digest::of(b"component");
        assert!(cache.get(&digest).unwrap().is_none());
        assert!(matches!(
            cache.put(&digest, b"other"),
            Err(CacheError::Mismatch { .. })
        ));
        let path = cache.put(&digest, b"component").unwrap();
        assert_eq!(path, dir.path().join("sha256").join(digest.hex()));
        assert_eq!(cache.get(&digest).unwrap().unwrap(), b"component");
        std::fs::write(&path, b"tampered").unwrap();
        assert!(matches!(
            cache.get(&digest),
            Err(CacheError::Corrupt { .. })
        ));
        assert!(!path.exists(), "a corrupt file is removed");
    }
}
