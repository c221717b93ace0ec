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

mod fs;
pub mod s3;

pub use fs::FsBlobStore;

use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use wharf_types::Digest;

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
    /// The client sent nothing for too long, or too slowly (the message says which
    /// limit, and how to change it).
    #[error("{0}")]
    TooSlow(String),
    /// The client went away or sent a malformed body.
    #[error("the body could not be read: {0}")]
    Unreadable(String),
}

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The content does not hash to the digest it was sent with.
    #[error("the content's digest is {actual}, not {expected}")]
    DigestMismatch {
        /// The digest it was sent with.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Reading or writing a file failed.
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

/// The one streaming hash-and-compare: bytes are hashed as they pass (with the
/// expected digest's algorithm) and, at the end, compared with the digest they were
/// sent with. Every store checks content with it before a blob takes its place, and
/// `fsck` checks stored blobs with it.
pub struct Verifier {
    expected: Digest,
    hasher: wharf_types::Hasher,
    size: u64,
}

impl Verifier {
    /// Expects bytes whose digest is `expected`.
    pub fn new(expected: &Digest) -> Self {
        Self {
            expected: expected.clone(),
            hasher: expected.algorithm().hasher(),
            size: 0,
        }
    }

    /// The number of bytes hashed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Hashes the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// The number of bytes hashed, or [`StorageError::DigestMismatch`] when they
    /// are not the expected ones.
    pub fn finish(self) -> Result<u64, StorageError> {
        let actual = self.hasher.finish();
        if actual == self.expected {
            Ok(self.size)
        } else {
            Err(StorageError::DigestMismatch {
                expected: self.expected,
                actual,
            })
        }
    }
}

/// The digest of `data` (with `expected`'s algorithm, else sha256), refused when it is
/// not `expected`: every store checks content before it writes any.
pub(crate) fn verified_digest(
    data: &[u8],
    expected: Option<&Digest>,
) -> Result<Digest, StorageError> {
    let Some(expected) = expected else {
        return Ok(Digest::compute(wharf_types::Algorithm::Sha256, data));
    };
    let mut verifier = Verifier::new(expected);
    verifier.update(data);
    verifier.finish()?;
    Ok(expected.clone())
}
