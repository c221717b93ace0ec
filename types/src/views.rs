//! The JSON the registry's API (`/api/v1`) answers and accepts: the registry
//! serialises these, the CLI and the composer deserialize them. Plain data: no rules,
//! no SQL, no HTTP. With the `openapi` feature each derives utoipa's `ToSchema`, for
//! the registry's OpenAPI document.

use serde::{Deserialize, Serialize};

/// A package in search results and listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageSummary {
    /// `namespace:name`.
    pub name: String,
    /// `wit` or `component`.
    pub kind: String,
    /// The description of the latest version, if any.
    pub description: Option<String>,
    /// The highest non-yanked version.
    pub latest: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// The matches on this page.
    pub packages: Vec<PackageSummary>,
    /// Matches across all pages.
    pub total: i64,
    /// The page, from 1.
    pub page: i64,
    /// Results per page.
    pub per_page: i64,
}

/// A version in a package's version list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSummary {
    /// The version.
    pub version: String,
    /// The content digest, `sha256:<hex>`.
    pub digest: String,
    /// The size in bytes.
    pub size: i64,
    /// Whether the version is yanked (hidden from resolution and listings).
    pub yanked: bool,
    /// When it was published, in milliseconds since the Unix epoch.
    pub published_at: i64,
}

/// A package and its versions, highest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageDetail {
    /// The package, as listings show it.
    #[serde(flatten)]
    pub package: PackageSummary,
    /// When the package was first published, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Its versions, highest first.
    pub versions: Vec<VersionSummary>,
}

/// An import or export: `wharf:compression/codec@1.1.0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Item {
    /// The full name, version included.
    pub name: String,
    /// The package of an interface, when it has one.
    pub package: Option<String>,
    /// The version of the item's package, if any.
    pub version: Option<String>,
}

/// A package a version depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dependency {
    /// The package depended on: `namespace:name`.
    pub name: String,
    /// The version it names, if any.
    pub version: Option<String>,
}

/// Everything known about one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionDetail {
    /// `namespace:name`.
    pub name: String,
    /// `wit` or `component`.
    pub kind: String,
    /// The version.
    pub version: String,
    /// The content digest, `sha256:<hex>`.
    pub digest: String,
    /// The size in bytes.
    pub size: i64,
    /// Whether the version is yanked (hidden from resolution and listings).
    pub yanked: bool,
    /// The user who published it.
    pub published_by: String,
    /// When it was published, in milliseconds since the Unix epoch.
    pub published_at: i64,
    /// The description the package carries, if any.
    pub description: Option<String>,
    /// The SPDX license expression, if any.
    pub license: Option<String>,
    /// The source repository URL, if any.
    pub source: Option<String>,
    /// From the producers section: `{"language": [["Rust", "1.95.0"]], ...}`.
    pub producers: serde_json::Value,
    /// The WIT of the package, or of the world the component targets.
    pub wit: String,
    /// What it imports.
    pub imports: Vec<Item>,
    /// What it exports.
    pub exports: Vec<Item>,
    /// The packages it declares a dependency on.
    pub dependencies: Vec<Dependency>,
    /// For a component, every target and whether it runs there (worked out from its
    /// imports and exports); empty for a WIT package, and from a registry that
    /// predates targets.
    #[serde(default)]
    pub targets: Vec<TargetFit>,
    /// Where the transparency log records this version's publish, with an inclusion
    /// proof against the log's current size (issue #17); absent from a registry that
    /// predates the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<VersionLog>,
    /// The signatures attached to the version (docs/trust.md), each checked by the
    /// registry against the namespace's keys; a client checks them again itself.
    #[serde(default)]
    pub signatures: Vec<SignatureInfo>,
    /// The OCI referrers of the version's manifest (signatures, attestations).
    #[serde(default)]
    pub referrers: Vec<Referrer>,
}

/// A version's publish entry in the transparency log, and the proof that it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionLog {
    /// The entry's index (from 0).
    pub index: u64,
    /// The entry's canonical text (`wharf-log-entry v1`, see docs/trust.md).
    pub entry: String,
    /// The entry's leaf hash, base64 (RFC 9162: SHA-256 of 0x00 and the entry).
    pub leaf_hash: String,
    /// The size of the tree the proof is against (the latest checkpoint's).
    pub size: u64,
    /// That tree's root hash, base64.
    pub root_hash: String,
    /// The inclusion proof, base64 hashes from the leaf up.
    pub inclusion_proof: Vec<String>,
}

/// One entry of the transparency log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntry {
    /// Its index (from 0).
    pub index: u64,
    /// Its canonical text.
    pub entry: String,
    /// Its leaf hash, base64.
    pub leaf_hash: String,
}

/// A run of log entries, for auditors (`GET /api/v1/log/entries?start=..`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntries {
    /// The log's size when this was read.
    pub size: u64,
    /// The entries from `start`, in order; fewer than asked at the end of the log.
    pub entries: Vec<LogEntry>,
}

/// An inclusion proof (`GET /api/v1/log/proof/inclusion?index=..&size=..`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    /// The entry.
    pub index: u64,
    /// The tree's size.
    pub size: u64,
    /// The entry's leaf hash, base64.
    pub leaf_hash: String,
    /// The tree's root hash, base64.
    pub root_hash: String,
    /// The proof, base64 hashes.
    pub proof: Vec<String>,
}

/// A consistency proof (`GET /api/v1/log/proof/consistency?from=..&to=..`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The older tree's root hash, base64.
    pub from_root: String,
    /// The newer tree's root hash, base64.
    pub to_root: String,
    /// The proof, base64 hashes.
    pub proof: Vec<String>,
}

/// What the log is (`GET /api/v1/log`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogInfo {
    /// The checkpoints' origin (the key's name).
    pub origin: String,
    /// The verifier key clients pin: `origin+id+base64`.
    pub key: String,
    /// The number of entries.
    pub size: u64,
    /// The root hash, base64.
    pub root_hash: String,
    /// The latest signed checkpoint (a C2SP signed note).
    pub checkpoint: String,
}

/// A signature of a version, as the registry checked it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignatureInfo {
    /// The signing key's id: the hex sha256 of its raw Ed25519 public key.
    pub keyid: String,
    /// Whether the envelope verifies with that key, registered for the namespace, and
    /// names this version's digest.
    pub verified: bool,
    /// Why it does not verify, when it does not.
    pub reason: Option<String>,
    /// Whether the namespace's owners revoked the key.
    pub revoked: bool,
    /// The digest of the referrer manifest that carries it.
    pub manifest: String,
}

/// An OCI manifest whose subject is a version's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Referrer {
    /// Its digest.
    pub digest: String,
    /// Its `artifactType`, if any.
    pub artifact_type: Option<String>,
    /// Its size in bytes.
    pub size: i64,
}

/// The DSSE envelope of a signature, as `GET .../signatures` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignatureEnvelope {
    /// The registry's check of it.
    #[serde(flatten)]
    pub info: SignatureInfo,
    /// The envelope: `{"payloadType", "payload", "signatures"}`.
    pub envelope: serde_json::Value,
}

/// A public key registered to sign for a namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceKey {
    /// The namespace.
    pub namespace: String,
    /// The key's id: the hex sha256 of its raw Ed25519 public key.
    pub keyid: String,
    /// The public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key: String,
    /// A label the owner gave it.
    pub name: Option<String>,
    /// Who added it.
    pub added_by: String,
    /// When, in milliseconds since the Unix epoch.
    pub added_at: i64,
    /// When it was revoked, in milliseconds since the Unix epoch; none: it is not.
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// A key to register for a namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// The Ed25519 public key, SPKI PEM (`wharf key generate` writes it).
    pub public_key: String,
    /// A label, e.g. `release`.
    #[serde(default)]
    pub name: Option<String>,
}

/// Whether a component runs on a target, and if not, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetFit {
    /// The target's name, as `wharf compose --target` and `runs_on` take it: `workers`.
    pub name: String,
    /// What it is: `Cloudflare Workers`.
    pub title: String,
    /// The hosts that offer it: `wasmtime serve`, ...
    pub hosts: Vec<String>,
    /// Whether the component runs there.
    pub runs: bool,
    /// The export the target calls, when the component lacks it:
    /// `wasi:http/incoming-handler@0.2.x`.
    pub missing_export: Option<String>,
    /// Each import in the way, with the manifest keys of the plugs that brought it
    /// (`deployable.root`, `plugs."wharf:auth"`); the list is empty when the component
    /// carries no provenance saying so.
    pub imports_in_the_way: std::collections::BTreeMap<String, Vec<String>>,
}

/// What a publish stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    /// `namespace:name`.
    pub name: String,
    /// The version.
    pub version: String,
    /// `wit` or `component`.
    pub kind: String,
    /// The content digest, `sha256:<hex>`.
    pub digest: String,
    /// The size in bytes.
    pub size: i64,
}

/// The version a requirement resolves to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resolved {
    /// `namespace:name`.
    pub name: String,
    /// The semver requirement that was resolved.
    pub requirement: String,
    /// The highest non-yanked version that matches.
    pub version: String,
    /// The content digest, `sha256:<hex>`.
    pub digest: String,
    /// The size in bytes.
    pub size: i64,
    /// `wit` or `component`.
    pub kind: String,
}

/// A package that implements or uses an interface, at its highest matching version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageUse {
    /// `namespace:name`.
    pub name: String,
    /// `wit` or `component`.
    pub kind: String,
    /// The highest non-yanked version with a matching item.
    pub version: String,
    /// The exports (for implementors) or imports (for dependents) that matched.
    pub items: Vec<String>,
}

/// A semver refusal's detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incompatible {
    /// The version the new one was compared with.
    pub previous: String,
    /// What changed incompatibly.
    pub changes: Vec<Change>,
}

/// One incompatible change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// What changed: `interface codec`, `function codec.decompress`, `type types.format`.
    pub item: String,
    /// `removed` or `changed`.
    pub change: String,
    /// The old form, and the new one when it changed.
    pub before: String,
    /// What it became, if it still exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A namespace: its owners and packages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Namespace {
    /// The namespace.
    pub name: String,
    /// Its owners, in the order they were added.
    pub owners: Vec<String>,
    /// Its packages, by name.
    pub packages: Vec<PackageSummary>,
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    /// The token's id (not its secret).
    pub id: String,
    /// The user the token belongs to.
    pub owner: String,
    /// What the owner called the token.
    pub name: String,
    /// What the token may do: `publish`, `yank`, `owners`, `admin`.
    pub scopes: Vec<String>,
    /// None: every namespace.
    pub namespaces: Option<Vec<String>>,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it expires, in milliseconds since the Unix epoch; none: never.
    pub expires_at: Option<i64>,
    /// When it was last used, to the minute; none: never.
    pub last_used_at: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A new token, with its secret shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewToken {
    /// The token, as listings show it.
    #[serde(flatten)]
    pub token: Token,
    /// The secret: send it as `Authorization: Bearer <token>`. It is not stored.
    pub token_secret: String,
}

/// What to create a token with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label for the token, e.g. `ci`.
    pub name: String,
    /// `publish`, `yank`, `owners`, `admin`.
    pub scopes: Vec<Scope>,
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

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Publish new versions.
    Publish,
    /// Yank and unyank versions.
    Yank,
    /// Add and remove namespace owners.
    Owners,
    /// Every scope in the token's namespaces, owner or not; with no namespace list,
    /// also what concerns the whole registry: other users' tokens, gc, fsck.
    Admin,
}

impl Scope {
    /// The scope as tokens and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Publish => "publish",
            Scope::Yank => "yank",
            Scope::Owners => "owners",
            Scope::Admin => "admin",
        }
    }

    /// The scope `s` spells, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "publish" => Scope::Publish,
            "yank" => Scope::Yank,
            "owners" => Scope::Owners,
            "admin" => Scope::Admin,
            _ => return None,
        })
    }
}

/// The error envelope every failure of the API answers with (the OCI API's shape):
/// `{"errors":[{"code":"VERSION_EXISTS","message":"...","detail":null}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The errors, the first the one that decided the status.
    pub errors: Vec<ErrorInfo>,
}

/// One error of an [`ErrorEnvelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// A stable code: `VERSION_EXISTS`, `DENIED`, `SEMVER_INCOMPATIBLE`, ...
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// More, by code: an [`Incompatible`] for `SEMVER_INCOMPATIBLE`; null if none.
    #[serde(default)]
    pub detail: serde_json::Value,
}
