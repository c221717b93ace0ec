-- The transparency log (issue #17, docs/trust.md): an append-only Merkle tree (RFC 9162
-- hashing) of every publish, yank, unyank and ownership change, appended in the same
-- transaction as the change it records.
--
-- `log_head` is the one row every append locks first (an UPDATE of it), so that
-- replicas sharing a PostgreSQL database append one sequence and never fork; `size` is
-- the number of entries.
CREATE TABLE log_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL
);
INSERT INTO log_head (id, size) VALUES (1, 0);

-- The entries, by index from 0: their canonical bytes (text) and what they are about
-- (`ns:name@version` or `ns`), for the version page and fsck.
CREATE TABLE log_entries (
    idx BIGINT PRIMARY KEY,
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    entry TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX log_entries_subject ON log_entries (subject);

-- The tree's stored hashes (leaf hashes and the roots of complete subtrees) in the
-- dense order of Crosby and Wallach (tlog_tiles::stored_hash_index, Go's sumdb/tlog),
-- base64: what makes a root, an inclusion or a consistency proof log(n) reads.
CREATE TABLE log_hashes (
    idx BIGINT PRIMARY KEY,
    hash TEXT NOT NULL
);

-- The index of each version's publish entry.
ALTER TABLE versions ADD COLUMN log_index BIGINT;
