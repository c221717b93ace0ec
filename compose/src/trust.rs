//! The compose-time trust policy, `[trust]` in `wharf.toml` (docs/trust.md, "Trust
//! policy"), and the check of one constituent against it. No I/O: the caller fetches
//! each version's signature envelopes and its namespace's registered keys from the
//! registry, reads the key files the policy names, and hands them here; every
//! envelope is verified here, locally, whatever the registry said of it.
//!
//! ```
//! let manifest: wharf_compose::Manifest = r#"
//!     [deployable]
//!     name = "acme:edge"
//!     version = "1.0.0"
//!     root = { package = "acme:gateway", version = "^1" }
//!     [trust]
//!     require-signatures = ["acme"]
//!     keys = ["keys/release.pub"]
//! "#.parse().unwrap();
//! assert!(manifest.trust.log);
//! assert!(manifest.trust.requires(&manifest.deployable.root));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use semver::Version;
use wharf_types::signing::{self, Envelope, VerifyingKey};
use wharf_types::{Digest, PackageName};

use crate::manifest::{KeyPath, Source};

/// `[trust]`: which constituents must be signed, by which keys, and whether log
/// inclusion is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// `log`: require every registry digest to be included in the registry's
    /// transparency log (default true; the log's check is the transparency log's).
    pub log: bool,
    /// `require-signatures`: which constituents must carry a signature.
    pub require: Requirement,
    /// `keys`: the keys whose signatures count, for every namespace.
    pub keys: Vec<TrustedKey>,
    /// `[trust.keys-for]`: more keys whose signatures count, per namespace.
    pub keys_for: BTreeMap<String, Vec<TrustedKey>>,
}

impl Default for Trust {
    fn default() -> Self {
        Trust {
            log: true,
            require: Requirement::None,
            keys: Vec::new(),
            keys_for: BTreeMap::new(),
        }
    }
}

/// Which constituents must be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// None (the default).
    None,
    /// Every constituent, root and plugs (`require-signatures = "all"`); a path or
    /// URL source, which carries no registry signature, fails the policy.
    All,
    /// The registry constituents of these namespaces (`require-signatures = ["acme"]`).
    Namespaces(BTreeSet<String>),
}

/// A key the policy trusts: its id (the hex sha256 of its raw public key; its public
/// half is then the one registered for the namespace, checked against the id), or a
/// public key file (SPKI PEM), relative to the manifest's folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrustedKey {
    /// A key id: 64 lowercase hex digits.
    Id(String),
    /// A public key file.
    File(PathBuf),
}

impl fmt::Display for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustedKey::Id(id) => f.write_str(id),
            TrustedKey::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl TrustedKey {
    /// A key as the manifest writes it: an id if it is 64 lowercase hex digits, else
    /// a file.
    pub fn parse(text: &str) -> Self {
        if text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            TrustedKey::Id(text.to_owned())
        } else {
            TrustedKey::File(text.into())
        }
    }
}

impl Trust {
    /// Whether the constituent from `source` must carry a signature.
    pub fn requires(&self, source: &Source) -> bool {
        match (&self.require, source) {
            (Requirement::None, _) => false,
            (Requirement::All, _) => true,
            (Requirement::Namespaces(set), Source::Registry { package, .. }) => {
                set.contains(package.namespace())
            }
            (Requirement::Namespaces(_), _) => false,
        }
    }

    /// Whether any constituent may need a signature.
    pub fn requires_any(&self) -> bool {
        self.require != Requirement::None
    }

    /// The keys the policy names for `namespace` (`keys` and `keys-for`); empty: any
    /// key registered for the namespace and not revoked.
    pub fn keys_for(&self, namespace: &str) -> Vec<&TrustedKey> {
        let mut keys: Vec<&TrustedKey> = self.keys.iter().collect();
        keys.extend(self.keys_for.get(namespace).into_iter().flatten());
        keys.sort();
        keys.dedup();
        keys
    }
}

/// A key the registry has registered for a namespace, as its API lists it.
#[derive(Debug, Clone)]
pub struct RegisteredKey {
    /// Its id, as the registry says.
    pub keyid: String,
    /// Its public key, SPKI PEM.
    pub public_key: String,
    /// Whether the namespace's owners revoked it.
    pub revoked: bool,
}

/// Why a constituent fails the trust policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// A path or URL source under `require-signatures = "all"`.
    #[error(
        "{key}: {origin} is not from a registry, so it carries no signature, and `[trust] require-signatures = \"all\"` requires one"
    )]
    NotFromRegistry {
        /// The manifest key.
        key: KeyPath,
        /// Where it comes from, as the manifest says.
        origin: String,
    },
    /// No trusted key signed it.
    #[error("{key}: {subject} ({digest}) is not signed by a trusted key:{}", list_reasons(.reasons))]
    Unsigned {
        /// The manifest key.
        key: KeyPath,
        /// `namespace:name@version`.
        subject: String,
        /// Its digest.
        digest: String,
        /// Each key tried, and why its signature does not count.
        reasons: Vec<(String, String)>,
    },
}

fn list_reasons(reasons: &[(String, String)]) -> String {
    if reasons.is_empty() {
        return " the namespace has no registered key, and `[trust]` names none".into();
    }
    reasons
        .iter()
        .map(|(key, why)| format!("\n  key {key}: {why}"))
        .collect()
}

/// What the policy trusts for one namespace, its key files read: each entry's id,
/// with the public key when a file gave it.
pub type PinnedKeys = Vec<(String, Option<VerifyingKey>)>;

/// The id of each key `keys` names, with the public key of those given as files,
/// read by `read_file`.
pub fn pin(
    keys: &[&TrustedKey],
    mut read_file: impl FnMut(&PathBuf) -> anyhow::Result<VerifyingKey>,
) -> anyhow::Result<PinnedKeys> {
    keys.iter()
        .map(|key| match key {
            TrustedKey::Id(id) => Ok((id.clone(), None)),
            TrustedKey::File(path) => {
                let public = read_file(path)?;
                Ok((signing::key_id(&public), Some(public)))
            }
        })
        .collect()
}

/// Checks one registry constituent, `package@version` with `digest` at manifest key
/// `key`, against the policy: `pinned` are the keys it trusts for the namespace
/// (empty: every registered key not revoked), `registered` the namespace's keys as
/// the registry lists them, `envelopes` the version's signatures. A key counts when it
/// is registered for the namespace and not revoked, and one of the envelopes, checked
/// here, is its signature over this name, version and digest. Answers the ids of the
/// keys that count, or why none does.
pub fn verify(
    key: &KeyPath,
    package: &PackageName,
    version: &Version,
    digest: &Digest,
    pinned: &PinnedKeys,
    registered: &[RegisteredKey],
    envelopes: &[Envelope],
) -> Result<Vec<String>, TrustError> {
    let subject = format!("{package}@{version}");
    let candidates: PinnedKeys = if pinned.is_empty() {
        registered
            .iter()
            .filter(|k| !k.revoked)
            .map(|k| (k.keyid.clone(), None))
            .collect()
    } else {
        pinned.clone()
    };
    let mut good = Vec::new();
    let mut reasons = Vec::new();
    for (keyid, file_key) in &candidates {
        match check_key(
            keyid,
            file_key.as_ref(),
            registered,
            envelopes,
            &subject,
            digest,
        ) {
            Ok(()) => good.push(keyid.clone()),
            Err(why) => reasons.push((keyid.clone(), why)),
        }
    }
    if good.is_empty() {
        return Err(TrustError::Unsigned {
            key: key.clone(),
            subject,
            digest: digest.to_string(),
            reasons,
        });
    }
    Ok(good)
}

/// Whether the key `keyid` has a good signature among `envelopes`, or why not.
fn check_key(
    keyid: &str,
    file_key: Option<&VerifyingKey>,
    registered: &[RegisteredKey],
    envelopes: &[Envelope],
    subject: &str,
    digest: &Digest,
) -> Result<(), String> {
    let namespace_key = registered
        .iter()
        .find(|k| k.keyid == keyid)
        .ok_or("not registered for the namespace")?;
    if namespace_key.revoked {
        return Err("revoked by the namespace's owners".into());
    }
    let public = match file_key {
        Some(public) => *public,
        None => {
            let public = signing::public_key_from_pem(&namespace_key.public_key)
                .map_err(|e| format!("the registry's copy is unreadable: {e}"))?;
            if signing::key_id(&public) != keyid {
                return Err("the registry's copy of the key does not hash to its id".into());
            }
            public
        }
    };
    let mut last = "no signature by it".to_owned();
    for envelope in envelopes.iter().filter(|e| e.keyid() == Some(keyid)) {
        match envelope.verify(&public, subject, digest) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(key: &signing::SigningKey, revoked: bool) -> RegisteredKey {
        let public = key.verifying_key();
        RegisteredKey {
            keyid: signing::key_id(&public),
            public_key: signing::public_key_to_pem(&public),
            revoked,
        }
    }

    #[test]
    fn a_constituent_counts_only_keys_registered_unrevoked_and_signing_its_digest() {
        let package: PackageName = "acme:gw".parse().unwrap();
        let version = Version::new(1, 0, 0);
        let digest = Digest::of(b"gw");
        let key = KeyPath::root();
        let good = signing::generate();
        let stranger = signing::generate();
        let envelope = signing::sign(&good, "acme:gw@1.0.0", &digest);
        let pinned: PinnedKeys = vec![(
            signing::key_id(&good.verifying_key()),
            Some(good.verifying_key()),
        )];
        // The one constituent, checked under a policy, a key list and envelopes.
        let check = |pinned: &PinnedKeys, registered: &[RegisteredKey], envelopes: &[Envelope]| {
            verify(
                &key, &package, &version, &digest, pinned, registered, envelopes,
            )
        };

        let ok = check(
            &pinned,
            &[registered(&good, false)],
            std::slice::from_ref(&envelope),
        );
        assert_eq!(ok.unwrap(), vec![signing::key_id(&good.verifying_key())]);
        // Any registered key when the policy names none.
        let ok = check(
            &PinnedKeys::new(),
            &[registered(&good, false)],
            std::slice::from_ref(&envelope),
        );
        assert!(ok.is_ok());

        let revoked = check(
            &pinned,
            &[registered(&good, true)],
            std::slice::from_ref(&envelope),
        );
        assert!(revoked.unwrap_err().to_string().contains("revoked"));
        let unregistered = check(
            &pinned,
            &[registered(&stranger, false)],
            std::slice::from_ref(&envelope),
        );
        assert!(
            unregistered
                .unwrap_err()
                .to_string()
                .contains("not registered")
        );
        let other_bytes = signing::sign(&good, "acme:gw@1.0.0", &Digest::of(b"evil"));
        let err = check(&pinned, &[registered(&good, false)], &[other_bytes])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acme:gw@1.0.0") && err.contains("other bytes"),
            "{err}"
        );
        let unsigned = check(&pinned, &[registered(&good, false)], &[]);
        assert!(
            unsigned
                .unwrap_err()
                .to_string()
                .contains("no signature by it")
        );
    }

    #[test]
    fn key_entries_are_ids_or_files() {
        let id = "a".repeat(64);
        assert_eq!(TrustedKey::parse(&id), TrustedKey::Id(id));
        assert_eq!(
            TrustedKey::parse("keys/a.pub"),
            TrustedKey::File("keys/a.pub".into())
        );
        assert_eq!(
            TrustedKey::parse(&"A".repeat(64)),
            TrustedKey::File("A".repeat(64).into())
        );
    }
}
