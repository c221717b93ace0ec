//! `jwt-auth`: JSON Web Token verification and signing behind `wharf:auth@1.0.0`, on
//! jsonwebtoken with its pure-Rust (RustCrypto) backend.
//!
//! jsonwebtoken checks the signature; the time, issuer, audience and scope checks are
//! done here, against the caller's clock, so that tests can pin the time.

use std::collections::BTreeSet;
use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm as Jwa, DecodingKey, EncodingKey, Header, errors::ErrorKind};
use serde_json::{Map, Value};

wit_bindgen::generate!({
    inline: "
        package wharf:jwt-auth@1.0.0;
        world jwt-auth {
            export wharf:auth/types@1.0.0;
            export wharf:auth/keys@1.0.0;
            export wharf:auth/verifier@1.0.0;
            export wharf:auth/signer@1.0.0;
        }
    ",
    path: ["../../wit-packages/auth/1.0.0"],
    generate_all,
});

use exports::wharf::auth::keys::{self, GuestKeySet, GuestSigningKey};
use exports::wharf::auth::types::{Algorithm, Claims, Error, Validation};

struct JwtAuth;

/// The key families; a token's algorithm picks the family its key must belong to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

impl Family {
    fn of(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => Self::Hmac,
            Algorithm::Rs256 => Self::Rsa,
            Algorithm::Es256 => Self::Ec,
            Algorithm::EdDsa => Self::Ed,
        }
    }

    fn algorithms(self) -> &'static [Algorithm] {
        match self {
            Self::Hmac => &[Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512],
            Self::Rsa => &[Algorithm::Rs256],
            Self::Ec => &[Algorithm::Es256],
            Self::Ed => &[Algorithm::EdDsa],
        }
    }
}

fn to_jwa(alg: Algorithm) -> Jwa {
    match alg {
        Algorithm::Hs256 => Jwa::HS256,
        Algorithm::Hs384 => Jwa::HS384,
        Algorithm::Hs512 => Jwa::HS512,
        Algorithm::Rs256 => Jwa::RS256,
        Algorithm::Es256 => Jwa::ES256,
        Algorithm::EdDsa => Jwa::EdDSA,
    }
}

fn from_jwa(alg: Jwa) -> Result<Algorithm, Error> {
    Ok(match alg {
        Jwa::HS256 => Algorithm::Hs256,
        Jwa::HS384 => Algorithm::Hs384,
        Jwa::HS512 => Algorithm::Hs512,
        Jwa::RS256 => Algorithm::Rs256,
        Jwa::ES256 => Algorithm::Es256,
        Jwa::EdDSA => Algorithm::EdDsa,
        other => return Err(Error::UnsupportedAlgorithm(format!("{other:?}"))),
    })
}

struct Key {
    id: Option<String>,
    family: Family,
    key: DecodingKey,
}

/// A verification key set.
pub struct KeySet {
    keys: Vec<Key>,
}

fn invalid_key(err: impl std::fmt::Display) -> Error {
    Error::InvalidKey(err.to_string())
}

impl GuestKeySet for KeySet {
    fn from_jwks(jwks: String) -> Result<keys::KeySet, Error> {
        let set: JwkSet = serde_json::from_str(&jwks).map_err(invalid_key)?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            // Keys of algorithms this contract does not cover (RSA-PSS users share RSA
            // keys; P-384 and X448 keys do not) are skipped, as a JWKS often mixes them.
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Family::Rsa,
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Family::Ec
                }
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                    Family::Ed
                }
                AlgorithmParameters::OctetKey(_) => Family::Hmac,
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(invalid_key)?;
            keys.push(Key {
                id: jwk.common.key_id.clone(),
                family,
                key,
            });
        }
        if keys.is_empty() {
            return Err(Error::InvalidKey("the key set holds no usable key".into()));
        }
        Ok(keys::KeySet::new(KeySet { keys }))
    }

    fn from_secret(secret: Vec<u8>) -> Result<keys::KeySet, Error> {
        if secret.is_empty() {
            return Err(Error::InvalidKey("the shared secret is empty".into()));
        }
        let key = DecodingKey::from_secret(&secret);
        Ok(keys::KeySet::new(KeySet {
            keys: vec![Key {
                id: None,
                family: Family::Hmac,
                key,
            }],
        }))
    }

    fn from_pem(pem: String) -> Result<keys::KeySet, Error> {
        let pem = pem.as_bytes();
        let (family, key) = DecodingKey::from_rsa_pem(pem)
            .map(|k| (Family::Rsa, k))
            .or_else(|_| DecodingKey::from_ec_pem(pem).map(|k| (Family::Ec, k)))
            .or_else(|_| DecodingKey::from_ed_pem(pem).map(|k| (Family::Ed, k)))
            .map_err(|_| {
                Error::InvalidKey("not a PEM RSA, EC P-256 or Ed25519 public key".into())
            })?;
        Ok(keys::KeySet::new(KeySet {
            keys: vec![Key {
                id: None,
                family,
                key,
            }],
        }))
    }

    fn len(&self) -> u32 {
        self.keys.len() as u32
    }

    fn algorithms(&self) -> Vec<Algorithm> {
        let mut out: Vec<Algorithm> = Vec::new();
        for key in &self.keys {
            for alg in key.family.algorithms() {
                if !out.contains(alg) {
                    out.push(*alg);
                }
            }
        }
        out
    }
}

/// A signing key.
pub struct SigningKey {
    algorithm: Algorithm,
    id: Option<String>,
    key: EncodingKey,
}

impl GuestSigningKey for SigningKey {
    fn from_secret(
        secret: Vec<u8>,
        algorithm: Algorithm,
        key_id: Option<String>,
    ) -> Result<keys::SigningKey, Error> {
        if Family::of(algorithm) != Family::Hmac {
            return Err(Error::InvalidKey(format!(
                "a shared secret signs with HS256, HS384 or HS512, not {algorithm:?}"
            )));
        }
        if secret.is_empty() {
            return Err(Error::InvalidKey("the shared secret is empty".into()));
        }
        let key = EncodingKey::from_secret(&secret);
        Ok(keys::SigningKey::new(SigningKey {
            algorithm,
            id: key_id,
            key,
        }))
    }

    fn from_ed25519_pem(pem: String, key_id: Option<String>) -> Result<keys::SigningKey, Error> {
        let key = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(invalid_key)?;
        Ok(keys::SigningKey::new(SigningKey {
            algorithm: Algorithm::EdDsa,
            id: key_id,
            key,
        }))
    }

    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl keys::Guest for JwtAuth {
    type KeySet = KeySet;
    type SigningKey = SigningKey;
}

impl exports::wharf::auth::verifier::Guest for JwtAuth {
    fn verify(
        keys: keys::KeySetBorrow<'_>,
        token: String,
        validation: Validation,
    ) -> Result<Claims, Error> {
        let keys: &KeySet = keys.get();
        let header = jsonwebtoken::decode_header(&token).map_err(|e| {
            match header_alg(&token) {
                // `none`, `PS512` and the like: a readable header with an algorithm
                // jsonwebtoken does not know.
                Some(alg) if Jwa::from_str(&alg).is_err() => Error::UnsupportedAlgorithm(alg),
                _ => Error::Malformed(e.to_string()),
            }
        })?;
        let alg = from_jwa(header.alg)?;
        if !validation.algorithms.is_empty() && !validation.algorithms.contains(&alg) {
            return Err(Error::AlgorithmNotAllowed(alg));
        }
        let family = Family::of(alg);
        let candidates = keys.keys.iter().filter(|k| {
            k.family == family
                && match (&header.kid, &k.id) {
                    (Some(wanted), Some(id)) => wanted == id,
                    _ => true,
                }
        });

        let mut check = jsonwebtoken::Validation::new(to_jwa(alg));
        check.required_spec_claims.clear();
        check.validate_exp = false;
        check.validate_nbf = false;
        check.validate_aud = false;

        let mut tried_any = false;
        let mut claims = None;
        for key in candidates {
            tried_any = true;
            match jsonwebtoken::decode::<Value>(&token, &key.key, &check) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => return Err(Error::Malformed(e.to_string())),
            }
        }
        if !tried_any {
            return Err(Error::NoMatchingKey(header.kid));
        }
        let claims = claims.ok_or(Error::InvalidSignature)?;
        check_claims(claims, &validation)
    }
}

impl exports::wharf::auth::signer::Guest for JwtAuth {
    fn sign(key: keys::SigningKeyBorrow<'_>, claims: String) -> Result<String, Error> {
        let key: &SigningKey = key.get();
        let claims: Map<String, Value> = serde_json::from_str(&claims)
            .map_err(|e| Error::InvalidClaims(format!("claims must be a JSON object: {e}")))?;
        let mut header = Header::new(to_jwa(key.algorithm));
        header.kid = key.id.clone();
        jsonwebtoken::encode(&header, &claims, &key.key)
            .map_err(|e| Error::InvalidKey(e.to_string()))
    }
}

/// The `alg` of a token's header, read without jsonwebtoken's typed header.
fn header_alg(token: &str) -> Option<String> {
    use base64::Engine as _;
    let segment = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// Reads a NumericDate claim (RFC 7519 section 2): seconds, possibly fractional.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Error> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| Error::Malformed(format!("`{name}` is not a NumericDate"))),
        Some(_) => Err(Error::Malformed(format!("`{name}` is not a NumericDate"))),
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, Error> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::Malformed(format!("`{name}` is not a string"))),
    }
}

/// `aud` and `scp` may each be one string or an array of strings.
fn string_list(value: Option<&Value>, name: &str) -> Result<Vec<String>, Error> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                Error::Malformed(format!("`{name}` holds a value that is not a string"))
            }),
        Some(_) => Err(Error::Malformed(format!(
            "`{name}` is not a string or array"
        ))),
    }
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn check_claims(claims: Value, validation: &Validation) -> Result<Claims, Error> {
    let Value::Object(map) = &claims else {
        return Err(Error::Malformed(
            "the claims set is not a JSON object".into(),
        ));
    };
    let now = validation.now.unwrap_or_else(now_seconds);
    let leeway = i64::from(validation.leeway_seconds);

    let expires_at = numeric_date(map, "exp")?;
    let not_before = numeric_date(map, "nbf")?;
    match expires_at {
        Some(exp) if now > exp.saturating_add(leeway) => return Err(Error::Expired(exp)),
        None if validation.require_expiry => return Err(Error::MissingClaim("exp".into())),
        _ => {}
    }
    if let Some(nbf) = not_before {
        if now.saturating_add(leeway) < nbf {
            return Err(Error::NotYetValid(nbf));
        }
    }

    let issuer = string_claim(map, "iss")?;
    if let Some(expected) = &validation.issuer {
        if issuer.as_ref() != Some(expected) {
            return Err(Error::InvalidIssuer(issuer));
        }
    }
    let audience = string_list(map.get("aud"), "aud")?;
    if let Some(expected) = &validation.audience {
        if !audience.contains(expected) {
            return Err(Error::InvalidAudience(audience));
        }
    }

    let scopes = match map.get("scope") {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Null) | None => string_list(map.get("scp"), "scp")?,
        Some(_) => return Err(Error::Malformed("`scope` is not a string".into())),
    };
    let granted: BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
    let missing: Vec<String> = validation
        .required_scopes
        .iter()
        .filter(|s| !granted.contains(s.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingScopes(missing));
    }

    Ok(Claims {
        issuer,
        subject: string_claim(map, "sub")?,
        audience,
        expires_at,
        not_before,
        issued_at: numeric_date(map, "iat")?,
        token_id: string_claim(map, "jti")?,
        scopes,
        json: claims.to_string(),
    })
}

export!(JwtAuth);
