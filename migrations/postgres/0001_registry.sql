-- The registry's model. Timestamps are milliseconds since the Unix epoch; flags are
-- 0/1 integers, so that the same queries run on SQLite and PostgreSQL.

CREATE TABLE namespaces (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE namespace_owners (
    namespace TEXT NOT NULL REFERENCES namespaces (name),
    owner TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, owner)
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    namespaces TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX tokens_owner ON tokens (owner);

CREATE TABLE packages (
    namespace TEXT NOT NULL REFERENCES namespaces (name),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    description TEXT,
    latest TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX packages_updated ON packages (updated_at);

CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE versions (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES blobs (digest),
    size BIGINT NOT NULL,
    wit TEXT NOT NULL,
    description TEXT,
    license TEXT,
    source TEXT,
    producers TEXT NOT NULL,
    yanked BIGINT NOT NULL DEFAULT 0,
    published_by TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, name, version),
    FOREIGN KEY (namespace, name) REFERENCES packages (namespace, name)
);
CREATE INDEX versions_digest ON versions (digest);

-- Imports and exports of components; the interfaces a WIT package defines are its
-- exports. `item` is the name without version, `item_package` its package.
CREATE TABLE version_items (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    direction TEXT NOT NULL,
    item TEXT NOT NULL,
    item_package TEXT NOT NULL,
    item_version TEXT NOT NULL,
    PRIMARY KEY (namespace, name, version, direction, item, item_version),
    FOREIGN KEY (namespace, name, version) REFERENCES versions (namespace, name, version)
);
CREATE INDEX version_items_item ON version_items (direction, item);
CREATE INDEX version_items_package ON version_items (direction, item_package);

CREATE TABLE version_dependencies (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    dependency TEXT NOT NULL,
    dependency_version TEXT NOT NULL,
    PRIMARY KEY (namespace, name, version, dependency, dependency_version),
    FOREIGN KEY (namespace, name, version) REFERENCES versions (namespace, name, version)
);
CREATE INDEX version_dependencies_dependency ON version_dependencies (dependency);
