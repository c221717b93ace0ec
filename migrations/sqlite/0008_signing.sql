-- Signed publishes (issue #17): the Ed25519 public keys a namespace's owners
-- registered to sign for it. A key is never deleted, only revoked, so that a
-- signature made with it can still be shown and explained. The signatures themselves
-- are OCI referrer manifests of the version's manifest (oci_manifests).
CREATE TABLE namespace_keys (
    namespace TEXT NOT NULL REFERENCES namespaces (name),
    keyid TEXT NOT NULL,
    public_key TEXT NOT NULL,
    name TEXT,
    added_by TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    PRIMARY KEY (namespace, keyid)
);
