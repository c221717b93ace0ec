//! Blobs in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, R2...) through the
//! `object_store` crate, shared by any number of replicas.
//!
//! Layout under the optional key prefix, the same as the local store's:
//! - `blobs/<algorithm>/<hex>`: a blob, written only once its digest is checked;
//! - `uploads/<id>/start`: an upload exists; `uploads/<id>/<offset, 20 digits>`: its
//!   chunks, one object each, so that consecutive PATCHes may land on different
//!   replicas (the upload's state is the bucket's and the database's, never a process's);
//! - `trash/<uuid>`: a blob the garbage collector took out of reach.
//!
//! How it keeps the local store's guarantees with no rename and no lock:
//! - **A blob in place is whole and correct.** S3 makes an object visible only when
//!   its PUT (or multipart completion) succeeds, and a blob is written only after its
//!   bytes hashed to the digest in its key.
//! - **Two replicas never overwrite a blob.** A blob up to [`MULTIPART_FROM`] is written
//!   with `If-None-Match: *` (`PutMode::Create`); the loser of a race gets 412 and
//!   finds the blob already there. A larger one goes through a multipart upload after
//!   a HEAD found it missing; two replicas racing there both write the same verified
//!   bytes, so the result is the same either way.
//! - **Chunks never overwrite each other.** A chunk is created at its offset with
//!   `If-None-Match: *`: two replicas appending the same chunk at once (a client
//!   retrying on another replica) cannot both win.
//!
//! Memory: a request body is cut into chunk objects of at most [`PART_SIZE`] as it
//! arrives; finishing an upload hashes its chunks as they stream from the bucket, then
//! copies a single chunk into place server-side, or streams several into a multipart
//! write. Downloads stream from the bucket as the client reads. No step holds a whole
//! blob, except [`BlobStore::put`]'s, whose bytes are in memory already.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, PutMode, PutOptions, PutPayload, WriteMultipart,
};
use wharf_types::Digest;

use super::{BlobStore, BlobStream, Incoming, StorageError, Verifier};

/// Blobs from this size up are written in parts.
pub const MULTIPART_FROM: usize = 32 << 20;
/// The size of each part of a multipart write, and the largest chunk object an upload's
/// body is cut into.
pub const PART_SIZE: usize = 8 << 20;

/// How to reach the bucket, beside its `s3://bucket/prefix` address. Every field
/// falls back to the usual `AWS_*` environment variables (`AWS_ENDPOINT_URL`,
/// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// The endpoint of an S3-compatible server, e.g. `http://127.0.0.1:8333`; plain
    /// `http://` is allowed for it.
    pub endpoint: Option<String>,
    /// Default `us-east-1`, which S3-compatible servers accept.
    pub region: Option<String>,
}

/// Blobs in a bucket.
pub struct S3BlobStore {
    store: AmazonS3,
    prefix: String,
    url: String,
}

impl S3BlobStore {
    /// Connects to `s3://bucket[/prefix]` and checks that the bucket answers.
    pub async fn open(url: &str, options: &S3Options) -> Result<Self, StorageError> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::Invalid(format!(
                "`{url}` names no bucket: write s3://<bucket>[/<prefix>]"
            )));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = options
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        let region = options
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        builder = builder.with_region(region);
        // No credentials configured: sign nothing, rather than asking the cloud
        // metadata service (an address outside the machine) for some.
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            builder = builder.with_skip_signature(true);
        }
        let store = builder
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..Default::default()
            })
            .build()?;
        let prefix = prefix.trim_matches('/').to_owned();
        let this = Self {
            store,
            prefix,
            url: url.to_owned(),
        };
        // Fail at start, with the address, rather than at the first upload.
        this.store
            .list_with_delimiter(Some(&this.key("blobs")))
            .await?;
        Ok(this)
    }

    fn key(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        self.key(&format!(
            "blobs/{}/{}",
            digest.algorithm().name(),
            digest.hex()
        ))
    }

    /// Upload ids are the registry's own UUIDs; anything else names no upload.
    fn upload_dir(&self, id: &str) -> Option<String> {
        uuid::Uuid::parse_str(id)
            .ok()
            .map(|u| format!("uploads/{u}"))
    }

    fn trash_key(&self, trashed: &str) -> Result<Path, StorageError> {
        let id = uuid::Uuid::parse_str(trashed)
            .map_err(|_| StorageError::Invalid(format!("`{trashed}` is no trash id")))?;
        Ok(self.key(&format!("trash/{id}")))
    }

    /// The upload's chunks in order, as (offset, key, size); None when there is no
    /// such upload.
    async fn chunks(&self, id: &str) -> Result<Option<Vec<(u64, Path, u64)>>, StorageError> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(None);
        };
        let listed: Vec<_> = self.store.list(Some(&self.key(&dir))).try_collect().await?;
        let mut started = false;
        let mut chunks = Vec::new();
        for meta in listed {
            match meta.location.filename() {
                Some("start") => started = true,
                Some(name) => {
                    if let Ok(offset) = name.parse::<u64>() {
                        chunks.push((offset, meta.location.clone(), meta.size));
                    }
                }
                None => {}
            }
        }
        if !started {
            return Ok(None);
        }
        chunks.sort_by_key(|c| c.0);
        Ok(Some(chunks))
    }

    /// Creates `key` unless it exists; false when it did.
    async fn create(&self, key: &Path, data: Bytes) -> Result<bool, StorageError> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self.store.put_opts(key, data.into(), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(&self, key: &Path) -> Result<Option<u64>, StorageError> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a verified blob of any size to its place.
    async fn write_blob(&self, digest: &Digest, data: Vec<Bytes>) -> Result<(), StorageError> {
        let key = self.blob_key(digest);
        let size: usize = data.iter().map(Bytes::len).sum();
        if size < MULTIPART_FROM {
            let mut whole = BytesMut::with_capacity(size);
            for part in data {
                whole.extend_from_slice(&part);
            }
            self.create(&key, whole.freeze()).await?;
            return Ok(());
        }
        if self.exists(&key).await?.is_some() {
            return Ok(());
        }
        let upload = self.store.put_multipart(&key).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        for part in data {
            writer.wait_for_capacity(2).await?;
            writer.put(part);
        }
        writer.finish().await?;
        Ok(())
    }

    /// Writes a verified blob from an upload's chunks (in order, `size` bytes in all):
    /// one chunk is copied into place by the bucket itself; small ones are joined and
    /// created; larger ones stream into a multipart write, a part at a time.
    async fn write_from_chunks(
        &self,
        digest: &Digest,
        chunks: &[(u64, Path, u64)],
        size: u64,
    ) -> Result<(), StorageError> {
        let key = self.blob_key(digest);
        if self.exists(&key).await?.is_some() {
            return Ok(());
        }
        if let [(_, only, _)] = chunks {
            self.store.copy(only, &key).await?;
            return Ok(());
        }
        if size < PART_SIZE as u64 {
            let mut parts = Vec::with_capacity(chunks.len());
            for (_, chunk, _) in chunks {
                parts.push(self.store.get(chunk).await?.bytes().await?);
            }
            return self.write_blob(digest, parts).await;
        }
        let upload = self.store.put_multipart(&key).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let written = async {
            for (_, chunk, _) in chunks {
                let mut bytes = self.store.get(chunk).await?.into_stream();
                while let Some(piece) = bytes.next().await {
                    writer.wait_for_capacity(2).await?;
                    writer.write(&piece?);
                }
            }
            Ok::<_, StorageError>(())
        }
        .await;
        match written {
            Ok(()) => {
                writer.finish().await?;
                Ok(())
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Deletes objects, ignoring those already gone.
    async fn delete_all(&self, keys: &[Path]) -> Result<(), StorageError> {
        for key in keys {
            match self.store.delete(key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, data: Bytes, expected: Option<&Digest>) -> Result<Digest, StorageError> {
        let actual = super::verified_digest(&data, expected)?;
        self.write_blob(&actual, vec![data]).await?;
        Ok(actual)
    }

    async fn size(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        self.exists(&self.blob_key(digest)).await
    }

    async fn stream(
        &self,
        digest: &Digest,
        offset: u64,
        len: Option<u64>,
    ) -> Result<Option<BlobStream>, StorageError> {
        let key = self.blob_key(digest);
        let range = if offset == 0 && len.is_none() {
            None
        } else {
            let Some(size) = self.exists(&key).await? else {
                return Ok(None);
            };
            let offset = offset.min(size);
            let end = len.map_or(size, |len| offset.saturating_add(len).min(size));
            if end == offset {
                return Ok(Some(futures::stream::empty().boxed()));
            }
            Some(GetRange::Bounded(offset..end))
        };
        let options = GetOptions {
            range,
            ..Default::default()
        };
        match self.store.get_opts(&key, options).await {
            Ok(found) => Ok(Some(
                found.into_stream().map_err(StorageError::from).boxed(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<bool, StorageError> {
        let key = self.blob_key(digest);
        if self.exists(&key).await?.is_none() {
            return Ok(false);
        }
        self.store.delete(&key).await?;
        Ok(true)
    }

    async fn upload_start(&self, id: &str) -> Result<(), StorageError> {
        let dir = self
            .upload_dir(id)
            .ok_or_else(|| std::io::Error::other("invalid upload id"))?;
        self.store
            .put(&self.key(&format!("{dir}/start")), PutPayload::new())
            .await?;
        Ok(())
    }

    async fn upload_append(
        &self,
        id: &str,
        mut data: Incoming,
    ) -> Result<Option<u64>, StorageError> {
        let Some(chunks) = self.chunks(id).await? else {
            return Ok(None);
        };
        let start: u64 = chunks.iter().map(|c| c.2).sum();
        let dir = self.upload_dir(id).expect("chunks() checked the id");
        let mut created = Vec::new();
        let mut size = start;
        let mut pending = BytesMut::new();
        let written = async {
            loop {
                let next = data.next().await.transpose()?;
                if let Some(piece) = &next {
                    pending.extend_from_slice(piece);
                }
                // A chunk object per PART_SIZE bytes, and one for the rest at the end.
                while pending.len() >= PART_SIZE || (next.is_none() && !pending.is_empty()) {
                    let take = pending.len().min(PART_SIZE);
                    let chunk = pending.split_to(take).freeze();
                    let key = self.key(&format!("{dir}/{size:020}"));
                    if !self.create(&key, chunk).await? {
                        return Err(StorageError::Conflict(format!(
                            "another request wrote the chunk at offset {size} of upload {id} first"
                        )));
                    }
                    created.push(key);
                    size += take as u64;
                }
                if next.is_none() {
                    return Ok(());
                }
            }
        }
        .await;
        if let Err(e) = written {
            // All or nothing: the chunks this request made go.
            let _ = self.delete_all(&created).await;
            return Err(e);
        }
        Ok(Some(size))
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>, StorageError> {
        Ok(self
            .chunks(id)
            .await?
            .map(|chunks| chunks.iter().map(|c| c.2).sum()))
    }

    async fn upload_finish(
        &self,
        id: &str,
        expected: &Digest,
    ) -> Result<Option<u64>, StorageError> {
        let Some(chunks) = self.chunks(id).await? else {
            return Ok(None);
        };
        let result = async {
            // First hash every chunk as it streams by; write only verified bytes.
            let mut verifier = Verifier::new(expected);
            for (offset, key, _) in &chunks {
                let size = verifier.size();
                if *offset != size {
                    return Err(StorageError::Conflict(format!(
                        "upload {id} has a gap at offset {size}"
                    )));
                }
                let mut bytes = self.store.get(key).await?.into_stream();
                while let Some(piece) = bytes.next().await {
                    verifier.update(&piece?);
                }
            }
            let size = verifier.finish()?;
            // Chunks are never overwritten: what is written is what was hashed.
            self.write_from_chunks(expected, &chunks, size).await?;
            Ok(size)
        }
        .await;
        self.upload_cancel(id).await?;
        result.map(Some)
    }

    async fn upload_cancel(&self, id: &str) -> Result<bool, StorageError> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(false);
        };
        let keys: Vec<_> = self
            .store
            .list(Some(&self.key(&dir)))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        // Chunks first and the marker last, so that a crash half-way leaves an upload
        // that still exists (and expires), never chunks with no upload.
        let (start, chunks): (Vec<_>, Vec<_>) = keys
            .into_iter()
            .partition(|k| k.filename() == Some("start"));
        self.delete_all(&chunks).await?;
        self.delete_all(&start).await?;
        Ok(!start.is_empty())
    }

    async fn trash(&self, digest: &Digest) -> Result<Option<String>, StorageError> {
        let key = self.blob_key(digest);
        if self.exists(&key).await?.is_none() {
            return Ok(None);
        }
        let id = uuid::Uuid::new_v4().to_string();
        match self.store.copy(&key, &self.trash_key(&id)?).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        self.store.delete(&key).await?;
        Ok(Some(id))
    }

    async fn restore(&self, digest: &Digest, trashed: &str) -> Result<(), StorageError> {
        let from = self.trash_key(trashed)?;
        let key = self.blob_key(digest);
        // Stored again meanwhile: the same bytes are there already.
        if self.exists(&key).await?.is_none() {
            self.store.copy(&from, &key).await?;
        }
        self.store.delete(&from).await?;
        Ok(())
    }

    async fn purge(&self, trashed: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.trash_key(trashed)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<(Digest, u64)>, StorageError> {
        let listed: Vec<_> = self
            .store
            .list(Some(&self.key("blobs")))
            .try_collect()
            .await?;
        let mut found = Vec::new();
        for meta in listed {
            let parts: Vec<_> = meta.location.parts().collect();
            let [.., algorithm, hex] = parts.as_slice() else {
                continue;
            };
            if let Ok(digest) = format!("{}:{}", algorithm.as_ref(), hex.as_ref()).parse() {
                found.push((digest, meta.size));
            }
        }
        Ok(found)
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}
