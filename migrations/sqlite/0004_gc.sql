-- Garbage collection. Every writer touches a blob's row before it makes sure the
-- blob's bytes are in storage; the collector removes only blobs untouched for the
-- grace period and referenced by nothing (see docs/oci.md for the argument).
ALTER TABLE blobs ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET touched_at = created_at;
CREATE INDEX blobs_touched ON blobs (touched_at);
