//! Newtypes shared by the Wharf registry, composer and CLI, the JSON views of the
//! registry's API ([`views`]), the provenance format ([`provenance`]) and the signature
//! format of signed publishes ([`signing`]).
//!
//! ```
//! use wharf_types::{Digest, PackageName};
//! let name: PackageName = "wharf:json-schema".parse().unwrap();
//! assert_eq!((name.namespace(), name.name()), ("wharf", "json-schema"));
//! assert!("Wharf:x".parse::<PackageName>().is_err());
//! let digest = Digest::of(b"hello");
//! assert_eq!(digest.to_string().len(), "sha256:".len() + 64);
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[cfg(feature = "log")]
pub mod log;
pub mod provenance;
pub mod signing;
pub mod units;
pub mod views;
use sha2::Digest as _;

/// Why a name or digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not `namespace:name` with kebab-case parts.
    #[error("invalid package name `{name}`: {reason}")]
    PackageName {
        /// The text given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not `sha256:` and 64, or `sha512:` and 128, lowercase hex digits.
    #[error(
        "invalid digest `{0}`: expected sha256: and 64, or sha512: and 128, lowercase hex digits"
    )]
    Digest(String),
}

/// Longest namespace or name part accepted.
pub const MAX_PART_LEN: usize = 64;

/// A registry package name, `namespace:name`, each part kebab-case as WIT package
/// names are: lowercase words of letters and digits, each starting with a letter,
/// joined by single hyphens (`wharf:json-schema`, `acme:auth2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName {
    namespace: String,
    name: String,
}

impl PackageName {
    /// Builds a name from its parts, validating both.
    pub fn new(namespace: &str, name: &str) -> Result<Self, ParseError> {
        let full = format!("{namespace}:{name}");
        check_part(namespace).map_err(|reason| ParseError::PackageName {
            name: full.clone(),
            reason,
        })?;
        check_part(name).map_err(|reason| ParseError::PackageName { name: full, reason })?;
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The namespace, before the colon.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name, after the colon.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Checks one kebab-case part of a package name.
pub fn check_part(part: &str) -> Result<(), &'static str> {
    if part.is_empty() {
        return Err("a part is empty");
    }
    if part.len() > MAX_PART_LEN {
        return Err("a part is longer than 64 characters");
    }
    for word in part.split('-') {
        let mut chars = word.chars();
        match chars.next() {
            None => return Err("hyphens must separate non-empty words"),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err("each word must start with a lowercase letter");
            }
            _ => {}
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err("only lowercase letters, digits and single hyphens are allowed");
        }
    }
    Ok(())
}

impl FromStr for PackageName {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (namespace, name) = s.split_once(':').ok_or_else(|| ParseError::PackageName {
            name: s.to_owned(),
            reason: "expected `namespace:name`",
        })?;
        Self::new(namespace, name)
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

impl TryFrom<String> for PackageName {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<PackageName> for String {
    fn from(n: PackageName) -> Self {
        n.to_string()
    }
}

/// A digest algorithm the registry accepts (those of the OCI image spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256: 64 hex digits. The default.
    Sha256,
    /// SHA-512: 128 hex digits.
    Sha512,
}

impl Algorithm {
    /// `sha256` or `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// A fresh hasher of this algorithm.
    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

/// An incremental hash that ends in a [`Digest`].
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 in progress.
    Sha256(sha2::Sha256),
    /// SHA-512 in progress.
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest(format!("sha256:{}", hex::encode(h.finalize()))),
            Hasher::Sha512(h) => Digest(format!("sha512:{}", hex::encode(h.finalize()))),
        }
    }
}

/// A content digest, `sha256:<64 hex digits>` or `sha512:<128 hex digits>`, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::compute(Algorithm::Sha256, bytes)
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn compute(algorithm: Algorithm, bytes: &[u8]) -> Self {
        let mut hasher = algorithm.hasher();
        hasher.update(bytes);
        hasher.finish()
    }

    /// A digest from a finished sha256 hash.
    pub fn from_sha256(hash: [u8; 32]) -> Self {
        Self(format!("sha256:{}", hex::encode(hash)))
    }

    /// Whether `bytes` have this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Self::compute(self.algorithm(), bytes) == *self
    }

    /// The algorithm before the colon.
    pub fn algorithm(&self) -> Algorithm {
        if self.0.starts_with("sha512:") {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        }
    }

    /// The hex digits after the colon.
    pub fn hex(&self) -> &str {
        &self.0[self.0.find(':').map_or(0, |i| i + 1)..]
    }
}

impl FromStr for Digest {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (algorithm, hex) = s
            .split_once(':')
            .ok_or_else(|| ParseError::Digest(s.to_owned()))?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(ParseError::Digest(s.to_owned())),
        };
        if hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::Digest(s.to_owned()))
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0
    }
}

/// `component` with a custom section `name` holding `data` appended: allowed anywhere
/// in a component, and ignored by everything but its reader.
#[cfg(feature = "wasm")]
pub fn with_custom_section(mut component: Vec<u8>, name: &str, data: &[u8]) -> Vec<u8> {
    use wasm_encoder::ComponentSection as _;
    wasm_encoder::CustomSection {
        name: name.into(),
        data: data.into(),
    }
    .append_to_component(&mut component);
    component
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_kebab_case_namespace_colon_name() {
        for good in ["wharf:flate", "acme:json-schema", "a:b", "x1:auth2-v3"] {
            assert!(good.parse::<PackageName>().is_ok(), "{good}");
        }
        for bad in [
            "", "wharf", ":x", "x:", "Wharf:x", "w:X", "w:-x", "w:x-", "w:x--y", "w:1x", "w:x-1",
            "w:x_y", "w:../x", "w:x/y", "w:x:y", "w: x",
        ] {
            assert!(bad.parse::<PackageName>().is_err(), "{bad}");
        }
        assert!(
            format!("w:{}", "a".repeat(65))
                .parse::<PackageName>()
                .is_err()
        );
    }

    #[test]
    fn digests_are_sha256_in_lowercase_hex() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>(), Ok(d.clone()));
        for bad in [
            "sha256:xyz",
            "md5:00",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }
}
