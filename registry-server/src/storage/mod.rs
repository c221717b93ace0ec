//! Blob storage: the only place blob I/O lives. Blobs are content-addressed (sha256, or
//! sha512 when a client asks) and stored once. The local store writes into
//! `uploads/<id>`, fsyncs, and renames into `blobs/<algorithm>/<2 hex>/<hex>` only when
//! the digest is the one expected, so a blob in place is always whole and correct.
//! Chunked uploads append to `uploads/<id>` and are hashed when they finish. Every
//! directory is created mode 0700 and every file 0600 ([`crate::private`]): a private
//! registry's blobs are for token holders, not for the machine's other users.
//!
//! Nothing here holds a whole blob in memory unless asked to ([`BlobStore::read`], for
//! what is parsed whole anyway): downloads are [`BlobStream`]s read as the client
//! takes them, and uploads arrive as [`Incoming`] streams, written as they come (and,
//! for [`BlobStore::put_stream`], hashed as they are written).
//!
//! [`s3::S3BlobStore`] keeps the same layout in an S3-compatible bucket, so that several
//! replicas can share it; see its docs for how it keeps the same guarantees.

pub mod s3;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use wharf_types::Digest;

use crate::private;

/// A blob's bytes, chunk by chunk, read from storage as the consumer asks for them.
pub type BlobStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// Bytes arriving to be stored (a request body), chunk by chunk.
pub type Incoming = BoxStream<'static, Result<Bytes, BodyError>>;

/// Why the bytes to store stopped arriving before their end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More than the configured limit arrived.
    #[error("the body is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// The client went away or sent a malformed body.
    #[error("the body could not be read: {0}")]
    Unreadable(String),
}

/// How much a local read takes from the file at a time.
const READ_CHUNK: usize = 64 << 10;

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The content does not hash to the digest it was sent with.
    #[error("the content's digest is {actual}, not {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
    /// The object store refused or failed a request.
    #[error("object storage: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Two writers raced for the same chunk of an upload; the loser is told so.
    #[error("{0}")]
    Conflict(String),
    /// The storage is misconfigured.
    #[error("{0}")]
    Invalid(String),
    /// The bytes to store did not arrive whole; nothing was stored.
    #[error(transparent)]
    Body(#[from] BodyError),
}

/// Opens the blob store `url` names: `s3://bucket[/prefix]` (see [`s3::S3Options`]),
/// or a local directory (`file:///path` or a plain path).
pub async fn open(
    url: &str,
    s3: &s3::S3Options,
) -> Result<std::sync::Arc<dyn BlobStore>, StorageError> {
    if url.starts_with("s3://") {
        Ok(std::sync::Arc::new(s3::S3BlobStore::open(url, s3).await?))
    } else {
        let path = url.strip_prefix("file://").unwrap_or(url);
        Ok(std::sync::Arc::new(FsBlobStore::open(path).await?))
    }
}

/// Where blobs live. Behind a trait so that object storage can stand beside the
/// local filesystem.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `data`; when `expected` is given, refuses content with another digest.
    async fn put(&self, data: Bytes, expected: Option<&Digest>) -> Result<Digest, StorageError>;
    /// Stores bytes as they arrive, refusing content whose digest is not `expected`
    /// (then, or when `data` fails, nothing is stored); their size. Memory holds a
    /// chunk at a time, never the whole. By default, an upload of its own.
    async fn put_stream(&self, data: Incoming, expected: &Digest) -> Result<u64, StorageError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.upload_start(&id).await?;
        let result = async {
            self.upload_append(&id, data).await?;
            self.upload_finish(&id, expected).await
        }
        .await;
        if result.is_err() {
            let _ = self.upload_cancel(&id).await;
        }
        result?.ok_or_else(|| StorageError::Conflict(format!("upload {id} vanished")))
    }
    /// The blob's size, or None when it is not stored.
    async fn size(&self, digest: &Digest) -> Result<Option<u64>, StorageError>;
    /// `len` bytes from `offset` (the rest when None), read as the stream is consumed;
    /// None when the blob is not stored.
    async fn stream(
        &self,
        digest: &Digest,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Option<BlobStream>, StorageError>;
    /// `len` bytes from `offset` (the rest when None) in memory, for what is parsed
    /// whole; None when the blob is not stored. Serving bytes goes through
    /// [`BlobStore::stream`].
    async fn read(
        &self,
        digest: &Digest,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Option<Bytes>, StorageError> {
        let Some(chunks) = self.stream(digest, offset, len).await? else {
            return Ok(None);
        };
        let chunks: Vec<Bytes> = chunks.try_collect().await?;
        Ok(Some(match chunks.len() {
            1 => chunks.into_iter().next().expect("one chunk"),
            _ => chunks.concat().into(),
        }))
    }
    /// Removes a blob; false when it was not there.
    async fn delete(&self, digest: &Digest) -> Result<bool, StorageError>;
    /// Starts an empty upload.
    async fn upload_start(&self, id: &str) -> Result<(), StorageError>;
    /// Appends bytes to an upload as they arrive and returns its new size; None when
    /// there is no such upload. All or nothing: when `data` fails, the upload is left
    /// as it was.
    async fn upload_append(&self, id: &str, data: Incoming) -> Result<Option<u64>, StorageError>;
    /// The bytes received so far; None when there is no such upload.
    async fn upload_size(&self, id: &str) -> Result<Option<u64>, StorageError>;
    /// Ends an upload: the content must have `expected` as its digest. Either way the
    /// upload is gone afterwards. None when there is no such upload.
    async fn upload_finish(&self, id: &str, expected: &Digest)
    -> Result<Option<u64>, StorageError>;
    /// Abandons an upload; false when there was none.
    async fn upload_cancel(&self, id: &str) -> Result<bool, StorageError>;
    /// Moves a blob out of reach, to be purged or restored; None when it was not there.
    async fn trash(&self, digest: &Digest) -> Result<Option<String>, StorageError>;
    /// Puts a trashed blob back (or drops it, if the blob was stored again meanwhile).
    async fn restore(&self, digest: &Digest, trashed: &str) -> Result<(), StorageError>;
    /// Deletes a trashed blob for good.
    async fn purge(&self, trashed: &str) -> Result<(), StorageError>;
    /// Every stored blob and its size, for `fsck`.
    async fn list(&self) -> Result<Vec<(Digest, u64)>, StorageError>;
    /// Where the blobs are, for messages: a directory or `s3://bucket/prefix`.
    fn describe(&self) -> String;
}

/// Blobs on the local filesystem under a root directory.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        for dir in ["uploads", "blobs/sha256", "blobs/sha512", "trash"] {
            private::create_dir_all(&root.join(dir)).await?;
        }
        Ok(Self { root })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(&hex[..2])
            .join(hex)
    }

    /// Upload ids are the registry's own UUIDs; anything else is refused so that an id
    /// can never name a path outside `uploads/`.
    fn upload_path(&self, id: &str) -> Option<PathBuf> {
        uuid::Uuid::parse_str(id)
            .ok()
            .map(|u| self.root.join("uploads").join(u.to_string()))
    }

    /// fsyncs `temp` and renames it to the blob's place.
    async fn commit(&self, temp: &Path, digest: &Digest) -> std::io::Result<()> {
        let path = self.path(digest);
        fs::File::open(temp).await?.sync_all().await?;
        let dir = path.parent().expect("blob paths have a parent");
        private::create_dir_all(dir).await?;
        // rename is atomic: readers see nothing or the whole blob. Identical content
        // renamed over identical content is harmless.
        fs::rename(temp, &path).await?;
        sync_dir(dir).await
    }
}

/// The digest of `data` (with `expected`'s algorithm, else sha256), refused when it is
/// not `expected`: every store checks content before it writes any.
pub(crate) fn verified_digest(
    data: &[u8],
    expected: Option<&Digest>,
) -> Result<Digest, StorageError> {
    let algorithm = expected.map_or(wharf_types::Algorithm::Sha256, Digest::algorithm);
    let actual = Digest::compute(algorithm, data);
    match expected {
        Some(expected) if *expected != actual => Err(StorageError::DigestMismatch {
            expected: expected.clone(),
            actual,
        }),
        _ => Ok(actual),
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir).await?.sync_all().await
}

#[async_trait::async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, data: Bytes, expected: Option<&Digest>) -> Result<Digest, StorageError> {
        let actual = verified_digest(&data, expected)?;
        if fs::try_exists(self.path(&actual)).await? {
            return Ok(actual);
        }
        let temp = self
            .root
            .join("uploads")
            .join(format!("put-{}", uuid::Uuid::new_v4()));
        let result = async {
            let mut file = private::file_options().create_new(true).open(&temp).await?;
            file.write_all(&data).await?;
            // Until flushed, tokio may still be writing in the background.
            file.flush().await?;
            drop(file);
            self.commit(&temp, &actual).await
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&temp).await;
        }
        result?;
        Ok(actual)
    }

    async fn put_stream(&self, mut data: Incoming, expected: &Digest) -> Result<u64, StorageError> {
        let temp = self
            .root
            .join("uploads")
            .join(format!("put-{}", uuid::Uuid::new_v4()));
        let result = async {
            let mut file = private::file_options().create_new(true).open(&temp).await?;
            let mut hasher = expected.algorithm().hasher();
            let mut size = 0u64;
            while let Some(chunk) = data.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
                size += chunk.len() as u64;
            }
            file.flush().await?;
            drop(file);
            let actual = hasher.finish();
            if actual != *expected {
                return Err(StorageError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
            if !fs::try_exists(self.path(&actual)).await? {
                self.commit(&temp, &actual).await?;
            }
            Ok(size)
        }
        .await;
        // Gone unless committed: refused, failed, or stored already.
        let _ = remove(&temp).await;
        result
    }

    async fn size(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match fs::metadata(self.path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn stream(
        &self,
        digest: &Digest,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Option<BlobStream>, StorageError> {
        let mut file = match fs::File::open(self.path(digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let offset = offset.min(size);
        let len = len.unwrap_or(size - offset).min(size - offset);
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let chunks = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK);
        Ok(Some(chunks.map_err(StorageError::from).boxed()))
    }

    async fn delete(&self, digest: &Digest) -> Result<bool, StorageError> {
        remove(&self.path(digest)).await
    }

    async fn upload_start(&self, id: &str) -> Result<(), StorageError> {
        let path = self
            .upload_path(id)
            .ok_or_else(|| std::io::Error::other("invalid upload id"))?;
        private::file_options()
            .create(true)
            .truncate(true)
            .open(path)
            .await?;
        Ok(())
    }

    async fn upload_append(
        &self,
        id: &str,
        mut data: Incoming,
    ) -> Result<Option<u64>, StorageError> {
        let Some(path) = self.upload_path(id) else {
            return Ok(None);
        };
        let file = match fs::OpenOptions::new().append(true).open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // One appender at a time, as the S3 store's chunk objects enforce: two at once
        // undo each other's all-or-nothing (the one that fails cuts the file back to
        // where it began, dropping what the other appended and acknowledged, or
        // keeping some of its own). The lock goes with the file.
        let file = file.into_std().await;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StorageError::Conflict(format!(
                    "another request is appending to upload {id}; send its chunks one at a time"
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        let mut file = fs::File::from_std(file);
        let before = file.metadata().await?.len();
        let written = async {
            while let Some(chunk) = data.next().await {
                file.write_all(&chunk?).await?;
            }
            file.flush().await?;
            Ok::<_, StorageError>(())
        }
        .await;
        if let Err(e) = written {
            // All or nothing: what this request appended goes.
            let _ = file.set_len(before).await;
            return Err(e);
        }
        Ok(Some(file.metadata().await?.len()))
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>, StorageError> {
        let Some(path) = self.upload_path(id) else {
            return Ok(None);
        };
        match fs::metadata(path).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn upload_finish(
        &self,
        id: &str,
        expected: &Digest,
    ) -> Result<Option<u64>, StorageError> {
        let Some(path) = self.upload_path(id) else {
            return Ok(None);
        };
        let mut file = match fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut hasher = expected.algorithm().hasher();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            size += n as u64;
        }
        drop(file);
        let actual = hasher.finish();
        if actual != *expected {
            remove(&path).await?;
            return Err(StorageError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        if fs::try_exists(self.path(&actual)).await? {
            remove(&path).await?;
        } else {
            self.commit(&path, &actual).await?;
        }
        Ok(Some(size))
    }

    async fn trash(&self, digest: &Digest) -> Result<Option<String>, StorageError> {
        let id = uuid::Uuid::new_v4().to_string();
        match fs::rename(self.path(digest), self.root.join("trash").join(&id)).await {
            Ok(()) => Ok(Some(id)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn restore(&self, digest: &Digest, trashed: &str) -> Result<(), StorageError> {
        let from = self.root.join("trash").join(
            uuid::Uuid::parse_str(trashed)
                .map_err(std::io::Error::other)?
                .to_string(),
        );
        if fs::try_exists(self.path(digest)).await? {
            remove(&from).await?;
        } else {
            fs::rename(&from, self.path(digest)).await?;
        }
        Ok(())
    }

    async fn purge(&self, trashed: &str) -> Result<(), StorageError> {
        let path = self.root.join("trash").join(
            uuid::Uuid::parse_str(trashed)
                .map_err(std::io::Error::other)?
                .to_string(),
        );
        remove(&path).await?;
        Ok(())
    }

    async fn upload_cancel(&self, id: &str) -> Result<bool, StorageError> {
        match self.upload_path(id) {
            Some(path) => remove(&path).await,
            None => Ok(false),
        }
    }

    async fn list(&self) -> Result<Vec<(Digest, u64)>, StorageError> {
        let mut found = Vec::new();
        for algorithm in ["sha256", "sha512"] {
            let mut shards = fs::read_dir(self.root.join("blobs").join(algorithm)).await?;
            while let Some(shard) = shards.next_entry().await? {
                let mut blobs = fs::read_dir(shard.path()).await?;
                while let Some(blob) = blobs.next_entry().await? {
                    let name = blob.file_name();
                    // Anything that is not a digest (a stray file) is skipped, not trusted.
                    if let Ok(digest) = format!("{algorithm}:{}", name.to_string_lossy()).parse() {
                        found.push((digest, blob.metadata().await?.len()));
                    }
                }
            }
        }
        Ok(found)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

async fn remove(path: &Path) -> Result<bool, StorageError> {
    match fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}
