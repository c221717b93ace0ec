-- The OCI view of the store. Manifests and configs are blobs like any other; these
-- tables say which repository holds which manifest, tag and blob.

CREATE TABLE oci_manifests (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT,
    subject TEXT,
    annotations TEXT,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX oci_manifests_subject ON oci_manifests (repository, subject);

CREATE TABLE oci_tags (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repository, tag)
);

-- The blobs a repository may serve: uploaded or mounted into it, or referenced by one
-- of its manifests.
CREATE TABLE oci_blob_links (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX oci_blob_links_digest ON oci_blob_links (digest);

-- What each manifest references (config, layers, child manifests): for garbage
-- collection and for refusing to delete what is in use.
CREATE TABLE oci_manifest_refs (
    repository TEXT NOT NULL,
    manifest TEXT NOT NULL,
    reference TEXT NOT NULL,
    PRIMARY KEY (repository, manifest, reference)
);
CREATE INDEX oci_manifest_refs_reference ON oci_manifest_refs (reference);

CREATE TABLE oci_uploads (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The OCI manifest that serves each package version.
ALTER TABLE versions ADD COLUMN manifest_digest TEXT;

-- Secrets shared by every replica (e.g. the key that signs short-lived OCI tokens).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
