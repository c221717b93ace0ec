//! Blobs on the local filesystem: written into `uploads/<id>`, fsynced, and renamed
//! into `blobs/<algorithm>/<2 hex>/<hex>` only when the digest is the one expected.
//! Directories are made mode 0700 and files 0600 ([`crate::private`]).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use wharf_types::Digest;

use super::{BlobStore, BlobStream, Incoming, StorageError, Verifier, verified_digest};
use crate::private;

/// How much a local read takes from the file at a time.
const READ_CHUNK: usize = 64 << 10;

/// Blobs on the local filesystem under a root directory.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating them, private) the directories under `root`.
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
            let mut verifier = Verifier::new(expected);
            while let Some(chunk) = data.next().await {
                let chunk = chunk?;
                verifier.update(&chunk);
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            drop(file);
            let size = verifier.finish()?;
            if !fs::try_exists(self.path(expected)).await? {
                self.commit(&temp, expected).await?;
            }
            Ok(size)
        }
        .await;
        // Gone unless committed: refused, failed, or stored already.
        let _ = remove(&temp).await;
        result
    }

    async fn size(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        file_size(&self.path(digest)).await
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
        match self.upload_path(id) {
            Some(path) => file_size(&path).await,
            None => Ok(None),
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
        let mut verifier = Verifier::new(expected);
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            verifier.update(&buffer[..n]);
        }
        drop(file);
        let size = match verifier.finish() {
            Ok(size) => size,
            Err(e) => {
                remove(&path).await?;
                return Err(e);
            }
        };
        if fs::try_exists(self.path(expected)).await? {
            remove(&path).await?;
        } else {
            self.commit(&path, expected).await?;
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

/// The size of the file at `path`; `None` when there is none.
async fn file_size(path: &Path) -> Result<Option<u64>, StorageError> {
    match fs::metadata(path).await {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
