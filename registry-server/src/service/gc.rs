//! Garbage collection: expired uploads, and blobs nothing uses any more.
//!
//! Why the collector never removes a blob that a concurrent publish, upload or
//! manifest put relies on (on one replica or many; the database is the only
//! coordination):
//!
//! 1. Every writer takes a *lease* first: it upserts the blob's row with
//!    `touched_at = now` ([`AppState::lease`], in [`crate::service::uploads`]), then
//!    makes sure the bytes are stored, and finally, in the transaction that records what uses the blob (a version, a
//!    manifest), touches the row again and gives up if it is gone (`BlobGone`). A
//!    manifest put leases every blob it references before checking that they exist.
//! 2. The collector deletes a blob's row only in one conditional statement: untouched
//!    for the grace period *and* used by no version, manifest or manifest reference.
//!    A writer that leased within the grace period is spared; a writer whose
//!    transaction touched the row before the statement made it recent.
//! 3. Only after deleting the row does the collector move the bytes to the trash, and
//!    then it looks for the row again. A writer that leased after the row was deleted
//!    re-created it: the collector puts the bytes back. A writer that leased after that
//!    look finds the bytes gone when it checks, and stores them itself.
//! 4. A writer whose lease the collector removed (it took longer than the grace period
//!    between lease and commit) finds the row gone in its transaction and fails without
//!    recording a reference to missing bytes; the client retries.
//!
//! 5. Bytes a writer stores after its lease may lose their row in between, to a
//!    collector that then found no bytes to trash: they would stay with no row, where
//!    no later collection looks (a blob pushed for no manifest, or the config of a
//!    refused publish, would never go). So the writer leases again and checks that
//!    the bytes are there, storing them again if a collector took them, until a round
//!    finds them there: that last round wrote nothing after its lease, so a collector
//!    that takes the row afterwards finds the bytes and trashes them, and a publish
//!    committing afterwards finds the row gone (step 4). Leasing again *without*
//!    checking would be wrong: a collector that looked for the row before that lease
//!    purges the bytes, and the publish then commits with its row back and its bytes
//!    gone (`registry-server/tests/gc.rs` catches both: orphans with one lease, an
//!    acknowledged version without its bytes with a second lease and no check).
//!
//! So no interleaving leaves a committed version or manifest pointing at missing bytes,
//! nor bytes that no collection would find.
//! The grace period (an hour by default) bounds how long a writer may take, and keeps
//! blobs uploaded for a manifest that is yet to be pushed.

use std::time::Duration;

use wharf_types::Digest;

use crate::AppState;
use crate::service::ServiceError;

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Uploads removed for sitting idle past their time to live.
    pub uploads_expired: usize,
    /// Blobs removed.
    pub blobs_removed: usize,
    /// The bytes those blobs held.
    pub bytes_freed: u64,
}

impl AppState {
    /// Removes uploads idle longer than `upload_ttl` and blobs untouched for `grace`
    /// that nothing uses.
    pub async fn collect_garbage(
        &self,
        grace: Duration,
        upload_ttl: Duration,
    ) -> Result<GcReport, ServiceError> {
        let now = crate::now_ms();
        let mut report = GcReport::default();
        let upload_cutoff = now - upload_ttl.as_millis() as i64;
        for id in self.db.stale_uploads(upload_cutoff).await? {
            if self.db.expire_upload(&id, upload_cutoff).await? {
                self.blobs.upload_cancel(&id).await?;
                report.uploads_expired += 1;
            }
        }
        let cutoff = now - grace.as_millis() as i64;
        for digest in self.db.garbage_candidates(cutoff).await? {
            if !self.db.forget_blob(&digest, cutoff).await? {
                continue; // touched or used since it was listed
            }
            let Ok(parsed) = digest.parse::<Digest>() else {
                continue;
            };
            let size = self.blobs.size(&parsed).await?.unwrap_or(0);
            let Some(trashed) = self.blobs.trash(&parsed).await? else {
                continue;
            };
            if self.db.blob_known(&digest).await? {
                self.blobs.restore(&parsed, &trashed).await?;
            } else {
                self.blobs.purge(&trashed).await?;
                report.blobs_removed += 1;
                report.bytes_freed += size;
            }
        }
        if report != GcReport::default() {
            tracing::info!(?report, "garbage collected");
        }
        Ok(report)
    }
}
