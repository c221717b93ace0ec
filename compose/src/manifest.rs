//! The deploy manifest, `wharf.toml`: what to compose and what the result may import.
//!
//! The public types are the validated model; the file is read through private DTOs
//! with `deny_unknown_fields`, and every check that can run while deserializing does,
//! so toml reports the line and column of the offending key or value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::Deserialize;
use wharf_types::{Digest, PackageName};

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file is not valid TOML, has an unknown key, or a value is invalid; the
    /// message carries the line, the column and the offending text.
    #[error("invalid wharf.toml")]
    Parse(#[from] toml::de::Error),
}

/// A parsed, validated deploy manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The deployable's identity and its root (socket) component.
    pub deployable: Deployable,
    /// The plugs that satisfy the root's imports, by the interface or package they
    /// satisfy.
    pub plugs: BTreeMap<PlugKey, Plug>,
    /// The imports the composed result may keep.
    pub host: Host,
    /// `[limits]`: what the host should hold each request to; unset ones are the
    /// host's defaults (or its flags).
    pub limits: Limits,
    /// `[capabilities]`: what the host grants the deployable when it runs; nothing
    /// unless listed (flags may grant more).
    pub capabilities: Capabilities,
    /// `[trust]`: which constituents must be signed, by which keys, and whether log
    /// inclusion is required (docs/trust.md).
    pub trust: crate::trust::Trust,
}

/// `[capabilities]`, each optional, in the syntax of the host's flags:
/// `env = ["API_KEY", "MODE=edge"]` (a bare name passes the host's value when it
/// runs, so secrets stay out of the manifest), `dirs = ["./static::/static:ro"]`,
/// `allow-http = ["api.example.com"]`, `allow-tcp = true`, `allow-udp = true`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Environment variables: `KEY` or `KEY=VALUE`.
    pub env: Vec<String>,
    /// Preopened directories: `host::guest` (read-write) or `host::guest:ro`.
    pub dirs: Vec<String>,
    /// Hosts outbound HTTP may reach: `host`, `host:port` or `*`.
    pub allow_http: Vec<String>,
    /// wasi:sockets TCP.
    pub allow_tcp: bool,
    /// wasi:sockets UDP.
    pub allow_udp: bool,
}

/// `[limits]`, each optional: `deadline = "5s"`, `max-memory = "64MiB"`,
/// `max-request-body = "1MiB"`, `max-response-body = "8MiB"`, `max-concurrency = 64`,
/// `queue-timeout = "1s"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one request may take.
    pub deadline: Option<std::time::Duration>,
    /// Linear memory one instance may hold, over all its memories, in bytes.
    pub max_memory: Option<u64>,
    /// Largest request body, in bytes.
    pub max_request_body: Option<u64>,
    /// Largest response body, in bytes.
    pub max_response_body: Option<u64>,
    /// Requests handled at once.
    pub max_concurrency: Option<usize>,
    /// How long a request waits for a slot before it is refused.
    pub queue_timeout: Option<std::time::Duration>,
}

/// `[deployable]`: the result's name and version and the root component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployable {
    /// The deployable's package name, e.g. `acme:edge`.
    pub name: PackageName,
    /// The deployable's version.
    pub version: Version,
    /// The socket component whose exports the result exports.
    pub root: Source,
}

/// One plug: where its component comes from, and the plugs of its own imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plug {
    /// Where the component comes from.
    pub source: Source,
    /// Plugs for this plug's imports, searched before the enclosing plugs.
    pub plugs: BTreeMap<PlugKey, Plug>,
}

/// Where a component comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A registry package, resolved to the highest non-yanked matching version.
    Registry {
        /// The package, e.g. `wharf:flate`.
        package: PackageName,
        /// The semver requirement, e.g. `^1`.
        requirement: VersionReq,
        /// The registry, when not the default one.
        registry: Option<String>,
    },
    /// A component file, relative to the manifest's directory.
    Path(PathBuf),
    /// A component at a URL, pinned by its digest.
    Url {
        /// Where to download it.
        url: String,
        /// What its bytes must hash to.
        digest: Digest,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Registry {
                package,
                requirement,
                registry: None,
            } => write!(f, "{package} {requirement}"),
            Source::Registry {
                package,
                requirement,
                registry: Some(registry),
            } => write!(f, "{package} {requirement} (registry {registry})"),
            Source::Path(path) => write!(f, "path {}", path.display()),
            Source::Url { url, .. } => write!(f, "url {url}"),
        }
    }
}

/// The key of a plug: the interface (`wharf:auth/verifier`) or the package
/// (`wharf:compression`, every interface of it) whose imports the plug satisfies.
/// Keys carry no version: the components' WIT does, and the composer checks it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlugKey {
    package: PackageName,
    interface: Option<String>,
}

impl PlugKey {
    /// The package part, e.g. `wharf:compression`.
    pub fn package(&self) -> &PackageName {
        &self.package
    }

    /// The interface part, if the key names one interface.
    pub fn interface(&self) -> Option<&str> {
        self.interface.as_deref()
    }

    /// Whether this key claims the import `name` (e.g. `wharf:auth/types@1.0.0`).
    pub fn matches(&self, name: &str) -> bool {
        let Some((package, interface)) = split_interface(name) else {
            return false;
        };
        package == self.package.to_string()
            && self.interface.as_deref().is_none_or(|i| i == interface)
    }
}

/// Splits `ns:pkg/iface@version` into `("ns:pkg", "iface")`; `None` for names that
/// are not interface names.
pub(crate) fn split_interface(name: &str) -> Option<(&str, &str)> {
    let base = name.split_once('@').map_or(name, |(base, _)| base);
    let (package, interface) = base.split_once('/')?;
    package.contains(':').then_some((package, interface))
}

impl FromStr for PlugKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('@') {
            return Err(format!(
                "plug key `{s}` has a version; name the interface or package without one \
                 (the components' WIT carries the versions)"
            ));
        }
        let (package, interface) = match s.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (s, None),
        };
        let package: PackageName = package
            .parse()
            .map_err(|e| format!("plug key `{s}`: {e}"))?;
        if let Some(interface) = interface {
            wharf_types::check_part(interface)
                .map_err(|reason| format!("plug key `{s}`: invalid interface name: {reason}"))?;
        }
        Ok(Self {
            package,
            interface: interface.map(str::to_owned),
        })
    }
}

impl fmt::Display for PlugKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.interface {
            Some(interface) => write!(f, "{}/{interface}", self.package),
            None => write!(f, "{}", self.package),
        }
    }
}

impl<'de> Deserialize<'de> for PlugKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where a plug sits in the manifest: the chain of plug keys from the top-level
/// `[plugs]`; empty for the root. Displays as the TOML path, e.g.
/// `plugs."wharf:compression".plugs."wharf:compression"`, or `deployable.root`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPath(pub Vec<PlugKey>);

impl KeyPath {
    /// The root component's path.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by one plug key.
    pub fn child(&self, key: &PlugKey) -> Self {
        let mut keys = self.0.clone();
        keys.push(key.clone());
        Self(keys)
    }
}

/// The inverse of [`KeyPath`]'s `Display`, for paths read back from a provenance.
impl FromStr for KeyPath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "deployable.root" {
            return Ok(Self::root());
        }
        let bad = || {
            format!("`{s}` is not a manifest key path (`deployable.root` or `plugs.\"ns:pkg\"...`)")
        };
        let mut keys = Vec::new();
        let mut rest = s;
        loop {
            let quoted = rest.strip_prefix("plugs.\"").ok_or_else(bad)?;
            let (key, after) = quoted.split_once('"').ok_or_else(bad)?;
            keys.push(key.parse()?);
            match after.strip_prefix('.') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(Self(keys)),
                None => return Err(bad()),
            }
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("deployable.root");
        }
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "plugs.\"{key}\"")?;
        }
        Ok(())
    }
}

/// `[host]`: what the composed result may still import from its host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// Allowed imports; anything else is an error (deny by default).
    pub allow: Vec<HostPattern>,
}

impl Host {
    /// Whether the import `name` is allowed.
    pub fn allows(&self, name: &str) -> bool {
        self.allow.iter().any(|p| p.matches(name))
    }
}

/// One allowed host import: `wasi:cli/environment` (any version),
/// `wasi:cli/environment@0.2.12` (that version only), or `wasi:clocks/*` and
/// `wasi:clocks` (every interface of the package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    text: String,
    package: String,
    interface: Option<String>,
    version: Option<Version>,
}

impl HostPattern {
    /// Whether the import `name` matches this pattern.
    pub fn matches(&self, name: &str) -> bool {
        let (base, version) = match name.split_once('@') {
            Some((base, version)) => (base, Version::parse(version).ok()),
            None => (name, None),
        };
        let Some((package, interface)) = base.split_once('/') else {
            return false;
        };
        package == self.package
            && self.interface.as_deref().is_none_or(|i| i == interface)
            && self
                .version
                .as_ref()
                .is_none_or(|v| Some(v) == version.as_ref())
    }
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!(
                "host import pattern `{s}`: {why} (expected `ns:pkg/iface`, \
                 `ns:pkg/iface@1.2.3` or `ns:pkg/*`)"
            )
        };
        let (base, version) = match s.split_once('@') {
            Some((base, version)) => (
                base,
                Some(Version::parse(version).map_err(|e| bad(&e.to_string()))?),
            ),
            None => (s, None),
        };
        let (package, interface) = match base.split_once('/') {
            Some((package, "*")) => (package, None),
            Some((package, interface)) => (package, Some(interface)),
            None => (base, None),
        };
        if version.is_some() && interface.is_none() {
            return Err(bad("a version needs one interface"));
        }
        package
            .parse::<PackageName>()
            .map_err(|e| bad(&e.to_string()))?;
        if let Some(interface) = interface {
            wharf_types::check_part(interface).map_err(bad)?;
        }
        Ok(Self {
            text: s.to_owned(),
            package: package.to_owned(),
            interface: interface.map(str::to_owned),
            version,
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Manifest {
    /// Every component the manifest names, the root first, then the plugs depth-first
    /// in key order: the order constituents are listed in everywhere.
    pub fn components(&self) -> Vec<(KeyPath, &Source)> {
        fn walk<'a>(
            path: &KeyPath,
            plugs: &'a BTreeMap<PlugKey, Plug>,
            out: &mut Vec<(KeyPath, &'a Source)>,
        ) {
            for (key, plug) in plugs {
                let path = path.child(key);
                out.push((path.clone(), &plug.source));
                walk(&path, &plug.plugs, out);
            }
        }
        let mut out = vec![(KeyPath::root(), &self.deployable.root)];
        walk(&KeyPath::root(), &self.plugs, &mut out);
        out
    }

    /// The plugs at `path` (the top-level plugs for the root).
    pub fn plugs_at(&self, path: &KeyPath) -> Option<&BTreeMap<PlugKey, Plug>> {
        let mut plugs = &self.plugs;
        for key in &path.0 {
            plugs = &plugs.get(key)?.plugs;
        }
        Some(plugs)
    }
}

impl FromStr for Manifest {
    type Err = ManifestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let dto: ManifestDto = toml::from_str(text)?;
        Ok(Manifest {
            deployable: Deployable {
                name: dto.deployable.name,
                version: dto.deployable.version,
                root: dto.deployable.root.0,
            },
            plugs: convert_plugs(dto.plugs),
            host: Host {
                allow: dto.host.allow,
            },
            limits: Limits {
                deadline: dto.limits.deadline.map(|d| d.0),
                max_memory: dto.limits.max_memory.map(|s| s.0),
                max_request_body: dto.limits.max_request_body.map(|s| s.0),
                max_response_body: dto.limits.max_response_body.map(|s| s.0),
                max_concurrency: dto.limits.max_concurrency,
                queue_timeout: dto.limits.queue_timeout.map(|d| d.0),
            },
            capabilities: Capabilities {
                env: dto.capabilities.env.into_iter().map(|e| e.0).collect(),
                dirs: dto.capabilities.dirs.into_iter().map(|d| d.0).collect(),
                allow_http: dto.capabilities.allow_http,
                allow_tcp: dto.capabilities.allow_tcp,
                allow_udp: dto.capabilities.allow_udp,
            },
            trust: dto.trust.into(),
        })
    }
}

fn convert_plugs(plugs: BTreeMap<PlugKey, PlugDto>) -> BTreeMap<PlugKey, Plug> {
    plugs
        .into_iter()
        .map(|(key, dto)| {
            (
                key,
                Plug {
                    source: dto.source,
                    plugs: convert_plugs(dto.plugs),
                },
            )
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestDto {
    deployable: DeployableDto,
    #[serde(default)]
    plugs: BTreeMap<PlugKey, PlugDto>,
    #[serde(default)]
    host: HostDto,
    #[serde(default)]
    limits: LimitsDto,
    #[serde(default)]
    capabilities: CapabilitiesDto,
    #[serde(default)]
    trust: TrustDto,
}

/// `[trust]` as written: `require-signatures = "all"` or a list of namespaces, `keys`
/// and `[trust.keys-for]` (key ids or key files), `log`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TrustDto {
    log: Option<bool>,
    require_signatures: Option<RequireText>,
    #[serde(default)]
    keys: Vec<KeyText>,
    #[serde(default)]
    keys_for: BTreeMap<NamespaceText, Vec<KeyText>>,
}

impl From<TrustDto> for crate::trust::Trust {
    fn from(d: TrustDto) -> Self {
        crate::trust::Trust {
            log: d.log.unwrap_or(true),
            require: d
                .require_signatures
                .map_or(crate::trust::Requirement::None, |r| r.0),
            keys: d.keys.into_iter().map(|k| k.0).collect(),
            keys_for: d
                .keys_for
                .into_iter()
                .map(|(ns, keys)| (ns.0, keys.into_iter().map(|k| k.0).collect()))
                .collect(),
        }
    }
}

/// `"all"`, or a list of namespaces.
struct RequireText(crate::trust::Requirement);

impl<'de> Deserialize<'de> for RequireText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<String>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "all" => Ok(RequireText(crate::trust::Requirement::All)),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "`require-signatures` is \"all\" or a list of namespaces, not `{w}`"
            ))),
            Raw::List(list) => {
                for ns in &list {
                    wharf_types::check_part(ns).map_err(|reason| {
                        serde::de::Error::custom(format!("`{ns}` is not a namespace: {reason}"))
                    })?;
                }
                Ok(RequireText(crate::trust::Requirement::Namespaces(
                    list.into_iter().collect(),
                )))
            }
        }
    }
}

/// A namespace, checked.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct NamespaceText(String);

impl<'de> Deserialize<'de> for NamespaceText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        wharf_types::check_part(&text).map_err(|reason| {
            serde::de::Error::custom(format!("`{text}` is not a namespace: {reason}"))
        })?;
        Ok(NamespaceText(text))
    }
}

/// A key id or a key file.
struct KeyText(crate::trust::TrustedKey);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "a key is a key id (64 hex digits) or a public key file, not empty",
            ));
        }
        Ok(KeyText(crate::trust::TrustedKey::parse(&text)))
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CapabilitiesDto {
    #[serde(default)]
    env: Vec<EnvText>,
    #[serde(default)]
    dirs: Vec<DirText>,
    #[serde(default)]
    allow_http: Vec<String>,
    #[serde(default)]
    allow_tcp: bool,
    #[serde(default)]
    allow_udp: bool,
}

/// `"KEY"` or `"KEY=VALUE"`, with a non-empty key.
struct EnvText(String);

impl<'de> Deserialize<'de> for EnvText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let key = text.split_once('=').map_or(text.as_str(), |(k, _)| k);
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(serde::de::Error::custom(format!(
                "`{text}` is not KEY or KEY=VALUE"
            )));
        }
        Ok(EnvText(text))
    }
}

/// `"host::guest"` or `"host::guest:ro"` (`:rw` too), both parts non-empty; a relative
/// host path is relative to the manifest's directory.
struct DirText(String);

impl<'de> Deserialize<'de> for DirText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let body = text
            .strip_suffix(":ro")
            .or_else(|| text.strip_suffix(":rw"))
            .unwrap_or(&text);
        match body.split_once("::") {
            Some((host, guest)) if !host.is_empty() && !guest.is_empty() => Ok(DirText(text)),
            _ => Err(serde::de::Error::custom(format!(
                "`{text}` is not a directory grant such as ./data::/data or ./data::/data:ro"
            ))),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LimitsDto {
    deadline: Option<DurationText>,
    max_memory: Option<SizeText>,
    max_request_body: Option<SizeText>,
    max_response_body: Option<SizeText>,
    max_concurrency: Option<usize>,
    queue_timeout: Option<DurationText>,
}

/// `"5s"`, `"250ms"`.
struct DurationText(std::time::Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        wharf_types::units::parse_duration(&String::deserialize(d)?)
            .map(DurationText)
            .map_err(serde::de::Error::custom)
    }
}

/// `"64MiB"`, `"1048576"`, or a number of bytes.
struct SizeText(u64);

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => Ok(SizeText(n)),
            Raw::Text(text) => wharf_types::units::parse_size(&text)
                .map(SizeText)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployableDto {
    name: PackageName,
    version: Version,
    root: RootSource,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HostDto {
    #[serde(default)]
    allow: Vec<HostPattern>,
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The root's source: the fields of a plug without `plugs` (the root's plugs are the
/// top-level `[plugs]`).
#[derive(Deserialize)]
#[serde(try_from = "RootDto")]
struct RootSource(Source);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootDto {
    package: Option<PackageName>,
    version: Option<VersionReq>,
    registry: Option<String>,
    path: Option<PathBuf>,
    url: Option<String>,
    digest: Option<Digest>,
}

impl TryFrom<RootDto> for RootSource {
    type Error = String;
    fn try_from(d: RootDto) -> Result<Self, String> {
        source(d.package, d.version, d.registry, d.path, d.url, d.digest).map(RootSource)
    }
}

/// A plug table: the source fields plus `plugs`, converted while deserializing so
/// that a bad combination is reported at the table's position.
#[derive(Deserialize)]
#[serde(try_from = "PlugFields")]
struct PlugDto {
    source: Source,
    plugs: BTreeMap<PlugKey, PlugDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlugFields {
    package: Option<PackageName>,
    version: Option<VersionReq>,
    registry: Option<String>,
    path: Option<PathBuf>,
    url: Option<String>,
    digest: Option<Digest>,
    #[serde(default)]
    plugs: BTreeMap<PlugKey, PlugDto>,
}

impl TryFrom<PlugFields> for PlugDto {
    type Error = String;
    fn try_from(d: PlugFields) -> Result<Self, String> {
        Ok(PlugDto {
            source: source(d.package, d.version, d.registry, d.path, d.url, d.digest)?,
            plugs: d.plugs,
        })
    }
}

fn source(
    package: Option<PackageName>,
    version: Option<VersionReq>,
    registry: Option<String>,
    path: Option<PathBuf>,
    url: Option<String>,
    digest: Option<Digest>,
) -> Result<Source, String> {
    const ONE_OF: &str =
        "give exactly one of `package` (with `version`), `path`, or `url` (with `digest`)";
    match (package, path, url) {
        (Some(package), None, None) => {
            if digest.is_some() {
                return Err(format!(
                    "`digest` belongs to `url` sources; the lock pins {package}'s digest"
                ));
            }
            let requirement = version.ok_or_else(|| {
                format!("package {package} needs a `version` requirement, e.g. `version = \"^1\"`")
            })?;
            Ok(Source::Registry {
                package,
                requirement,
                registry,
            })
        }
        (None, Some(path), None) => {
            if version.is_some() || registry.is_some() || digest.is_some() {
                return Err(format!(
                    "path {}: `version`, `registry` and `digest` belong to other sources",
                    path.display()
                ));
            }
            Ok(Source::Path(path))
        }
        (None, None, Some(url)) => {
            if version.is_some() || registry.is_some() {
                return Err(format!(
                    "url {url}: `version` and `registry` belong to package sources"
                ));
            }
            let digest = digest.ok_or_else(|| {
                format!("url {url} has no `digest`; a URL source must be pinned with `digest = \"sha256:...\"`")
            })?;
            Ok(Source::Url { url, digest })
        }
        _ => Err(ONE_OF.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_interfaces_or_whole_packages() {
        let package: PlugKey = "wharf:compression".parse().unwrap();
        let interface: PlugKey = "wharf:auth/verifier".parse().unwrap();
        assert!(package.matches("wharf:compression/codec@1.0.0"));
        assert!(package.matches("wharf:compression/types"));
        assert!(!package.matches("wharf:compression-relay/codec@1.0.0"));
        assert!(interface.matches("wharf:auth/verifier@1.0.0"));
        assert!(!interface.matches("wharf:auth/types@1.0.0"));
        assert!("wharf:auth/verifier@1.0.0".parse::<PlugKey>().is_err());
        assert!("Wharf:auth".parse::<PlugKey>().is_err());
    }

    #[test]
    fn key_paths_read_back_what_they_display() {
        let nested = KeyPath::root()
            .child(&"wharf:compression".parse().unwrap())
            .child(&"wharf:auth/verifier".parse().unwrap());
        for path in [KeyPath::root(), nested] {
            assert_eq!(path.to_string().parse::<KeyPath>(), Ok(path));
        }
        for bad in [
            "",
            "plugs.wharf:x",
            "plugs.\"wharf:x\"x",
            "plugs.\"wharf:x\".",
            "root",
        ] {
            assert!(bad.parse::<KeyPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn host_patterns() {
        let allows =
            |pattern: &str, name: &str| pattern.parse::<HostPattern>().unwrap().matches(name);
        assert!(allows("wasi:clocks/*", "wasi:clocks/wall-clock@0.2.6"));
        assert!(allows("wasi:clocks", "wasi:clocks/wall-clock@0.2.6"));
        assert!(allows(
            "wasi:cli/environment",
            "wasi:cli/environment@0.2.12"
        ));
        assert!(allows(
            "wasi:cli/environment@0.2.12",
            "wasi:cli/environment@0.2.12"
        ));
        assert!(!allows(
            "wasi:cli/environment@0.2.12",
            "wasi:cli/environment@0.2.6"
        ));
        assert!(!allows("wasi:cli/environment", "wasi:cli/exit@0.2.6"));
        assert!(!allows("wasi:clocks/*", "wasi:clocksx/wall-clock@0.2.6"));
        for bad in [
            "wasi",
            "wasi:clocks@0.2.0",
            "wasi:cli/env@x",
            "wasi:cli/Env",
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn key_paths_display_as_toml_paths() {
        let a: PlugKey = "wharf:compression".parse().unwrap();
        let path = KeyPath::root().child(&a).child(&a);
        assert_eq!(
            path.to_string(),
            r#"plugs."wharf:compression".plugs."wharf:compression""#
        );
        assert_eq!(KeyPath::root().to_string(), "deployable.root");
    }

    #[test]
    fn a_source_is_exactly_one_of_package_path_url() {
        let parse = |plug: &str| {
            format!(
                "[deployable]\nname = \"a:b\"\nversion = \"1.0.0\"\nroot = {{ path = \"r.wasm\" }}\n[plugs]\n\"a:c\" = {plug}\n"
            )
            .parse::<Manifest>()
        };
        assert!(parse(r#"{ package = "a:d", version = "^1" }"#).is_ok());
        assert!(parse(r#"{ package = "a:d" }"#).is_err());
        assert!(parse(r#"{ package = "a:d", version = "^1", path = "x" }"#).is_err());
        assert!(parse(r#"{ path = "x", version = "^1" }"#).is_err());
        assert!(parse(r#"{ url = "https://x/y.wasm", digest = "sha256:00" }"#).is_err());
        assert!(parse("{}").is_err());
    }

    #[test]
    fn limits_are_optional_and_read_as_people_write_them() {
        let head =
            "[deployable]\nname = \"a:b\"\nversion = \"1.0.0\"\nroot = { path = \"r.wasm\" }\n";
        let none: Manifest = head.parse().unwrap();
        assert_eq!(none.limits, Limits::default());
        let some: Manifest = format!(
            "{head}[limits]\ndeadline = \"250ms\"\nmax-memory = \"64MiB\"\nmax-request-body = 1024\nmax-concurrency = 8\n"
        )
        .parse()
        .unwrap();
        assert_eq!(
            some.limits.deadline,
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(some.limits.max_memory, Some(64 << 20));
        assert_eq!(some.limits.max_request_body, Some(1024));
        assert_eq!(some.limits.max_response_body, None);
        assert_eq!(some.limits.max_concurrency, Some(8));
        assert!(
            format!("{head}[limits]\nmax-memroy = \"1MiB\"\n")
                .parse::<Manifest>()
                .is_err()
        );
        assert!(
            format!("{head}[limits]\ndeadline = \"soon\"\n")
                .parse::<Manifest>()
                .is_err()
        );
    }

    #[test]
    fn capabilities_grant_nothing_unless_listed_and_bad_grants_name_their_line() {
        let head =
            "[deployable]\nname = \"a:b\"\nversion = \"1.0.0\"\nroot = { path = \"r.wasm\" }\n";
        let none: Manifest = head.parse().unwrap();
        assert_eq!(none.capabilities, Capabilities::default());
        let some: Manifest = format!(
            "{head}[capabilities]\nenv = [\"API_KEY\", \"MODE=edge\"]\ndirs = [\"./static::/static:ro\"]\nallow-http = [\"api.example.com\"]\nallow-tcp = true\n"
        )
        .parse()
        .unwrap();
        assert_eq!(some.capabilities.env, ["API_KEY", "MODE=edge"]);
        assert_eq!(some.capabilities.dirs, ["./static::/static:ro"]);
        assert_eq!(some.capabilities.allow_http, ["api.example.com"]);
        assert!(some.capabilities.allow_tcp && !some.capabilities.allow_udp);
        for (bad, named) in [
            ("env = [\"=x\"]", "`=x` is not KEY or KEY=VALUE"),
            ("dirs = [\"::/x\"]", "`::/x` is not a directory grant"),
            ("allow-files = true", "unknown field `allow-files`"),
        ] {
            let err = format!("{head}[capabilities]\n{bad}\n")
                .parse::<Manifest>()
                .unwrap_err();
            let ManifestError::Parse(e) = err;
            assert!(e.to_string().contains(named), "{e}");
            assert!(e.to_string().contains("line 6"), "{e}");
        }
    }
}
