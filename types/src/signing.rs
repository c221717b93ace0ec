//! The signature format of Wharf's signed publishes (docs/trust.md, "Signatures"): a
//! [DSSE] envelope whose payload is an [in-toto Statement v1] naming one component
//! version as its subject, signed with Ed25519.
//!
//! ```json
//! {"payloadType": "application/vnd.in-toto+json",
//!  "payload": "<base64 of the statement>",
//!  "signatures": [{"keyid": "<hex sha256 of the raw public key>", "sig": "<base64>"}]}
//! ```
//!
//! The statement:
//!
//! ```json
//! {"_type": "https://in-toto.io/Statement/v1",
//!  "subject": [{"name": "wharf:flate@1.0.0", "digest": {"sha256": "<hex>"}}],
//!  "predicateType": "https://wharf.dev/attestations/signed-publish/v1",
//!  "predicate": {"keyid": "<hex>"}}
//! ```
//!
//! The signature is over DSSE's pre-authentication encoding ([`pae`]) of the payload
//! type and the payload's bytes, so any DSSE verifier (securesystemslib, in-toto,
//! sigstore's) accepts it given the public key. A key's id is [`key_id`]: the
//! lowercase hex SHA-256 of the 32 raw bytes of the Ed25519 public key. Keys on disk
//! are PEM: the private key PKCS#8 (`BEGIN PRIVATE KEY`), the public key SPKI
//! (`BEGIN PUBLIC KEY`), as OpenSSL writes them.
//!
//! ```
//! use wharf_types::{Digest, signing};
//! let key = signing::generate();
//! let digest = Digest::of(b"component bytes");
//! let envelope = signing::sign(&key, "acme:gw@1.0.0", &digest);
//! let public = key.verifying_key();
//! assert_eq!(envelope.verify(&public, "acme:gw@1.0.0", &digest).unwrap(), signing::key_id(&public));
//! let other = Digest::of(b"other bytes");
//! assert!(envelope.verify(&public, "acme:gw@1.0.0", &other).is_err());
//! ```
//!
//! [DSSE]: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md
//! [in-toto Statement v1]: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, Verifier as _};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::Digest;

/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The statement's `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The statement's `predicateType`: "this key's holder published (or vouches for)
/// these bytes as this version". An identifier, never fetched.
pub const PREDICATE_TYPE: &str = "https://wharf.dev/attestations/signed-publish/v1";
/// The media type of the OCI layer holding an envelope.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The `artifactType` of the OCI referrer manifest that carries a signature.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.wharf.signature.v1+json";
/// The annotation of a signature's referrer manifest naming the signing key's id.
pub const KEYID_ANNOTATION: &str = "dev.wharf.signature.keyid";
/// Longest envelope the registry and the clients read, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The payload, base64 (standard alphabet, padded).
    pub payload: String,
    /// What the payload is: [`PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The signatures; Wharf's envelopes carry exactly one.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The signing key's id ([`key_id`]).
    #[serde(default)]
    pub keyid: String,
    /// The Ed25519 signature over [`pae`], base64.
    pub sig: String,
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about: one component version.
    pub subject: Vec<Subject>,
    /// [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// `{"keyid": "<hex>"}`.
    pub predicate: serde_json::Value,
}

/// A statement's subject: `namespace:name@version` and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// `namespace:name@version`.
    pub name: String,
    /// `{"sha256": "<hex>"}`.
    pub digest: std::collections::BTreeMap<String, String>,
}

/// Why an envelope, a statement or a key was refused. The message is the reason the
/// registry's `SIGNATURE_INVALID` and the composer's errors give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not a DSSE envelope Wharf reads.
    #[error("not a DSSE envelope: {0}")]
    Malformed(String),
    /// The payload is not a Wharf statement.
    #[error("the payload is not a Wharf in-toto statement: {0}")]
    Statement(String),
    /// No signature by the key.
    #[error("the envelope has no signature by key {0}")]
    NoSignatureBy(String),
    /// The signature does not verify with the key.
    #[error(
        "the signature by key {0} does not verify: the envelope was altered or signed by another key"
    )]
    BadSignature(String),
    /// The statement names another version.
    #[error("the statement is about `{found}`, not `{expected}`")]
    OtherSubject {
        /// What it names.
        found: String,
        /// The version checked.
        expected: String,
    },
    /// The statement's digest is not the version's.
    #[error(
        "the statement's subject digest {found} is not the version's digest {expected}: the signature is over other bytes"
    )]
    OtherDigest {
        /// What it names.
        found: String,
        /// The version's digest.
        expected: String,
    },
    /// A key file or text is not an Ed25519 key.
    #[error("not an Ed25519 {what} key in PEM: {reason}")]
    Key {
        /// `public` or `private`.
        what: &'static str,
        /// What the decoder said.
        reason: String,
    },
}

/// DSSE's pre-authentication encoding: `DSSEv1 SP LEN(type) SP type SP LEN(body) SP
/// body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A key's id: the lowercase hex SHA-256 of its 32 raw bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// A new random key.
pub fn generate() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

/// The statement a signature of `subject` (`namespace:name@version`) at `digest` by
/// the key `keyid` makes.
pub fn statement(subject: &str, digest: &Digest, keyid: &str) -> Statement {
    Statement {
        statement_type: STATEMENT_TYPE.into(),
        subject: vec![Subject {
            name: subject.into(),
            digest: [(
                digest.algorithm().name().to_owned(),
                digest.hex().to_owned(),
            )]
            .into(),
        }],
        predicate_type: PREDICATE_TYPE.into(),
        predicate: serde_json::json!({ "keyid": keyid }),
    }
}

/// Signs `subject` (`namespace:name@version`) at `digest` with `key`.
pub fn sign(key: &SigningKey, subject: &str, digest: &Digest) -> Envelope {
    let keyid = key_id(&key.verifying_key());
    let payload = serde_json::to_vec(&statement(subject, digest, &keyid)).expect("serializes");
    let signature = key.sign(&pae(PAYLOAD_TYPE, &payload));
    Envelope {
        payload: STANDARD.encode(&payload),
        payload_type: PAYLOAD_TYPE.into(),
        signatures: vec![EnvelopeSignature {
            keyid,
            sig: STANDARD.encode(signature.to_bytes()),
        }],
    }
}

impl Envelope {
    /// Reads an envelope from JSON, no longer than [`MAX_ENVELOPE_BYTES`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, SignatureError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(SignatureError::Malformed(format!(
                "{} bytes, over the limit of {MAX_ENVELOPE_BYTES}",
                bytes.len()
            )));
        }
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| SignatureError::Malformed(e.to_string()))?;
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(SignatureError::Malformed(format!(
                "payloadType is `{}`, not `{PAYLOAD_TYPE}`",
                envelope.payload_type
            )));
        }
        if envelope.signatures.len() != 1 {
            return Err(SignatureError::Malformed(format!(
                "{} signatures; a Wharf envelope carries exactly one",
                envelope.signatures.len()
            )));
        }
        Ok(envelope)
    }

    /// The envelope as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializes")
    }

    /// The id of the key the (first) signature names.
    pub fn keyid(&self) -> Option<&str> {
        self.signatures.first().map(|s| s.keyid.as_str())
    }

    /// The statement, read without verifying anything.
    pub fn statement(&self) -> Result<Statement, SignatureError> {
        let payload = STANDARD
            .decode(&self.payload)
            .map_err(|e| SignatureError::Malformed(format!("payload is not base64: {e}")))?;
        let statement: Statement = serde_json::from_slice(&payload)
            .map_err(|e| SignatureError::Statement(e.to_string()))?;
        if statement.statement_type != STATEMENT_TYPE {
            return Err(SignatureError::Statement(format!(
                "_type is `{}`, not `{STATEMENT_TYPE}`",
                statement.statement_type
            )));
        }
        if statement.predicate_type != PREDICATE_TYPE {
            return Err(SignatureError::Statement(format!(
                "predicateType is `{}`, not `{PREDICATE_TYPE}`",
                statement.predicate_type
            )));
        }
        if statement.subject.len() != 1 {
            return Err(SignatureError::Statement(format!(
                "{} subjects; a Wharf statement names exactly one",
                statement.subject.len()
            )));
        }
        Ok(statement)
    }

    /// Verifies the signature by `key` over the envelope, and that the statement is
    /// about `subject` (`namespace:name@version`) at `digest`; the key's id.
    pub fn verify(
        &self,
        key: &VerifyingKey,
        subject: &str,
        digest: &Digest,
    ) -> Result<String, SignatureError> {
        let keyid = key_id(key);
        let signature = self
            .signatures
            .iter()
            .find(|s| s.keyid == keyid)
            .ok_or_else(|| SignatureError::NoSignatureBy(keyid.clone()))?;
        let bad = || SignatureError::BadSignature(keyid.clone());
        let sig = STANDARD.decode(&signature.sig).map_err(|_| bad())?;
        let sig = ed25519_dalek::Signature::from_slice(&sig).map_err(|_| bad())?;
        let payload = STANDARD
            .decode(&self.payload)
            .map_err(|e| SignatureError::Malformed(format!("payload is not base64: {e}")))?;
        key.verify(&pae(&self.payload_type, &payload), &sig)
            .map_err(|_| bad())?;
        let statement = self.statement()?;
        let found = &statement.subject[0];
        if found.name != subject {
            return Err(SignatureError::OtherSubject {
                found: found.name.clone(),
                expected: subject.into(),
            });
        }
        let algorithm = digest.algorithm().name();
        if found.digest.get(algorithm).map(String::as_str) != Some(digest.hex()) {
            let found = match found.digest.get(algorithm) {
                Some(hex) => format!("{algorithm}:{hex}"),
                None => format!("(no {algorithm})"),
            };
            return Err(SignatureError::OtherDigest {
                found,
                expected: digest.to_string(),
            });
        }
        Ok(keyid)
    }
}

/// An Ed25519 public key from SPKI PEM (`BEGIN PUBLIC KEY`).
pub fn public_key_from_pem(pem: &str) -> Result<VerifyingKey, SignatureError> {
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| SignatureError::Key {
        what: "public",
        reason: e.to_string(),
    })
}

/// A public key as SPKI PEM.
pub fn public_key_to_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .expect("an Ed25519 key encodes")
}

/// An Ed25519 private key from PKCS#8 PEM (`BEGIN PRIVATE KEY`).
pub fn private_key_from_pem(pem: &str) -> Result<SigningKey, SignatureError> {
    SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| SignatureError::Key {
        what: "private",
        reason: e.to_string(),
    })
}

/// A private key as PKCS#8 PEM.
pub fn private_key_to_pem(key: &SigningKey) -> String {
    key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .expect("an Ed25519 key encodes")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_follows_the_dsse_spec() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn keys_round_trip_through_pem_and_ids_are_the_hash_of_the_raw_key() {
        let key = generate();
        let pem = private_key_to_pem(&key);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        assert_eq!(
            private_key_from_pem(&pem).unwrap().to_bytes(),
            key.to_bytes()
        );
        let public = key.verifying_key();
        let pem = public_key_to_pem(&public);
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
        assert_eq!(public_key_from_pem(&pem).unwrap(), public);
        assert_eq!(
            key_id(&public),
            hex::encode(sha2::Sha256::digest(public.as_bytes()))
        );
        assert!(public_key_from_pem("not a key").is_err());
        assert!(private_key_from_pem(&public_key_to_pem(&public)).is_err());
    }

    #[test]
    fn a_signature_verifies_for_its_subject_only() {
        let key = generate();
        let digest = Digest::of(b"bytes");
        let envelope = sign(&key, "acme:gw@1.0.0", &digest);
        let json = envelope.to_json();
        let envelope = Envelope::from_json(&json).unwrap();
        let public = key.verifying_key();
        assert_eq!(
            envelope.verify(&public, "acme:gw@1.0.0", &digest).unwrap(),
            key_id(&public)
        );
        assert!(matches!(
            envelope.verify(&public, "acme:gw@1.0.0", &Digest::of(b"other")),
            Err(SignatureError::OtherDigest { .. })
        ));
        assert!(matches!(
            envelope.verify(&public, "acme:gw@1.0.1", &digest),
            Err(SignatureError::OtherSubject { .. })
        ));
        let other = generate().verifying_key();
        assert!(matches!(
            envelope.verify(&other, "acme:gw@1.0.0", &digest),
            Err(SignatureError::NoSignatureBy(_))
        ));

        // A payload swapped under the signature.
        let mut altered = envelope.clone();
        let forged = statement("acme:gw@1.0.0", &Digest::of(b"evil"), &key_id(&public));
        altered.payload = STANDARD.encode(serde_json::to_vec(&forged).unwrap());
        assert!(matches!(
            altered.verify(&public, "acme:gw@1.0.0", &Digest::of(b"evil")),
            Err(SignatureError::BadSignature(_))
        ));
        // The key id of a signature is the one to check: another key's id on it.
        let mut relabelled = envelope.clone();
        relabelled.signatures[0].keyid = key_id(&other);
        assert!(matches!(
            relabelled.verify(&other, "acme:gw@1.0.0", &digest),
            Err(SignatureError::BadSignature(_))
        ));
    }

    #[test]
    fn malformed_envelopes_are_refused_with_the_reason() {
        let err = Envelope::from_json(b"{}").unwrap_err();
        assert!(err.to_string().starts_with("not a DSSE envelope"), "{err}");
        let key = generate();
        let mut envelope = sign(&key, "a:b@1.0.0", &Digest::of(b"x"));
        envelope.payload_type = "text/plain".into();
        let err = Envelope::from_json(&envelope.to_json()).unwrap_err();
        assert!(err.to_string().contains("payloadType"), "{err}");
        envelope.payload_type = PAYLOAD_TYPE.into();
        envelope.signatures.clear();
        let err = Envelope::from_json(&envelope.to_json()).unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
    }
}
