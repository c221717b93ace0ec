//! The JSON the API answers, kept apart from the database rows.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::compat::Change;
use crate::repo::{PackageRow, TokenRow, VersionRow};

/// A package in search results and listings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PackageSummary {
    /// `namespace:name`.
    pub name: String,
    /// `wit` or `component`.
    pub kind: String,
    pub description: Option<String>,
    /// The highest non-yanked version.
    pub latest: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
}

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

/// A page of search results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    pub packages: Vec<PackageSummary>,
    /// Matches across all pages.
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// A version in a package's version list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionSummary {
    pub version: String,
    pub digest: String,
    pub size: i64,
    pub yanked: bool,
    pub published_at: i64,
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

/// A package and its versions, highest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PackageDetail {
    #[serde(flatten)]
    pub package: PackageSummary,
    pub created_at: i64,
    pub versions: Vec<VersionSummary>,
}

/// An import or export: `wharf:compression/codec@1.1.0`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Item {
    /// The full name, version included.
    pub name: String,
    /// The package of an interface, when it has one.
    pub package: Option<String>,
    pub version: Option<String>,
}

/// A package a version depends on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Dependency {
    pub name: String,
    pub version: Option<String>,
}

/// Everything known about one version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionDetail {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub digest: String,
    pub size: i64,
    pub yanked: bool,
    pub published_by: String,
    pub published_at: i64,
    pub description: Option<String>,
    pub license: Option<String>,
    pub source: Option<String>,
    /// From the producers section: `{"language": [["Rust", "1.95.0"]], ...}`.
    pub producers: serde_json::Value,
    /// The WIT of the package, or of the world the component targets.
    pub wit: String,
    pub imports: Vec<Item>,
    pub exports: Vec<Item>,
    pub dependencies: Vec<Dependency>,
}

/// What a publish stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Published {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub digest: String,
    pub size: i64,
}

/// The version a requirement resolves to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Resolved {
    pub name: String,
    pub requirement: String,
    pub version: String,
    pub digest: String,
    pub size: i64,
    pub kind: String,
}

/// A package that implements or uses an interface, at its highest matching version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PackageUse {
    pub name: String,
    pub kind: String,
    pub version: String,
    /// The exports (for implementors) or imports (for dependents) that matched.
    pub items: Vec<String>,
}

/// A semver refusal's detail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Incompatible {
    /// The version the new one was compared with.
    pub previous: String,
    pub changes: Vec<Change>,
}

/// A namespace: its owners and packages.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Namespace {
    pub name: String,
    pub owners: Vec<String>,
    pub packages: Vec<PackageSummary>,
}

/// A token as listed (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Token {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// None: every namespace.
    pub namespaces: Option<Vec<String>>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
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

/// A new token, with its secret shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    #[serde(flatten)]
    pub token: Token,
    /// The secret: send it as `Authorization: Bearer <token>`. It is not stored.
    pub token_secret: String,
}

/// What to create a token with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label for the token, e.g. `ci`.
    pub name: String,
    /// `publish`, `yank`, `owners`, `admin`.
    pub scopes: Vec<crate::service::access::Scope>,
    /// Namespaces it is limited to; absent for all the creator may use.
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
    /// Days until it expires; absent for never.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// Admins only: the user the token is for.
    #[serde(default)]
    pub owner: Option<String>,
}
