//! Blob storage: the only place blob I/O lives. Blobs are content-addressed by sha256
//! and stored once. The local store streams into `uploads/<uuid>` while hashing,
//! fsyncs, and renames into `blobs/sha256/<2 hex>/<64 hex>` only when the digest is
//! the one expected, so a blob in place is always whole and correct.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use wharf_types::Digest;

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The content does not hash to the digest it was sent with.
    #[error("the content's digest is {actual}, not {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

/// Where blobs live. Behind a trait so that object storage can stand beside the
/// local filesystem.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `data`; when `expected` is given, refuses content with another digest.
    async fn put(&self, data: Bytes, expected: Option<&Digest>) -> Result<Digest, StorageError>;
    /// The blob's size, or None when it is not stored.
    async fn size(&self, digest: &Digest) -> Result<Option<u64>, StorageError>;
    /// `len` bytes from `offset` (the rest when None), or None when it is not stored.
    async fn read(
        &self,
        digest: &Digest,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Option<Bytes>, StorageError>;
    /// Removes a blob; false when it was not there.
    async fn delete(&self, digest: &Digest) -> Result<bool, StorageError>;
}

/// Blobs on the local filesystem under a root directory.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(root.join("uploads")).await?;
        fs::create_dir_all(root.join("blobs/sha256")).await?;
        Ok(Self { root })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join("blobs/sha256").join(&hex[..2]).join(hex)
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir).await?.sync_all().await
}

#[async_trait::async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, data: Bytes, expected: Option<&Digest>) -> Result<Digest, StorageError> {
        let actual = Digest::from_sha256(Sha256::digest(&data).into());
        if let Some(expected) = expected {
            if *expected != actual {
                return Err(StorageError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        let path = self.path(&actual);
        if fs::try_exists(&path).await? {
            return Ok(actual);
        }
        let temp = self
            .root
            .join("uploads")
            .join(uuid::Uuid::new_v4().to_string());
        let result = async {
            let mut file = fs::File::create(&temp).await?;
            file.write_all(&data).await?;
            file.sync_all().await?;
            drop(file);
            let dir = path.parent().expect("blob paths have a parent");
            fs::create_dir_all(dir).await?;
            // rename is atomic: readers see nothing or the whole blob. Identical
            // content renamed over identical content is harmless.
            fs::rename(&temp, &path).await?;
            sync_dir(dir).await
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&temp).await;
        }
        result?;
        Ok(actual)
    }

    async fn size(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match fs::metadata(self.path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read(
        &self,
        digest: &Digest,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Option<Bytes>, StorageError> {
        let mut file = match fs::File::open(self.path(digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let offset = offset.min(size);
        let len = len.unwrap_or(size - offset).min(size - offset);
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let mut buffer = vec![0; len as usize];
        file.read_exact(&mut buffer).await?;
        Ok(Some(buffer.into()))
    }

    async fn delete(&self, digest: &Digest) -> Result<bool, StorageError> {
        match fs::remove_file(self.path(digest)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
