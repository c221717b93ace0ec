//! The JSON the API answers: the shapes themselves live once in [`wharf_types::views`]
//! (the CLI and the composer read them from there); here, how they are built from the
//! repositories' rows. Plain data: no rules, no SQL, no HTTP.

pub use wharf_types::views::*;

use crate::repo::{KeyRow, PackageRow, TokenRow, VersionRow};

impl From<&PackageRow> for PackageSummary {
    fn from(p: &PackageRow) -> Self {
        Self {
            name: format!("{}:{}", p.namespace, p.name),
            kind: p.kind.clone(),
            description: p.description.clone(),
            latest: p.latest.clone(),
            updated_at: p.updated_at,
        }
    }
}

impl From<&VersionRow> for VersionSummary {
    fn from(v: &VersionRow) -> Self {
        Self {
            version: v.version.clone(),
            digest: v.digest.clone(),
            size: v.size,
            yanked: v.yanked,
            published_at: v.published_at,
        }
    }
}

impl From<&TokenRow> for Token {
    fn from(t: &TokenRow) -> Self {
        Self {
            id: t.id.clone(),
            owner: t.owner.clone(),
            name: t.name.clone(),
            scopes: t
                .scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            namespaces: (t.namespaces != "*")
                .then(|| t.namespaces.split(',').map(str::to_owned).collect()),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked: t.revoked_at.is_some(),
        }
    }
}

impl From<KeyRow> for NamespaceKey {
    fn from(row: KeyRow) -> Self {
        Self {
            namespace: row.namespace,
            keyid: row.keyid,
            public_key: row.public_key,
            name: row.name,
            added_by: row.added_by,
            added_at: row.added_at,
            revoked_at: row.revoked_at,
            revoked_by: row.revoked_by,
        }
    }
}
