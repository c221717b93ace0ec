//! `jwt-auth` against `wharf:auth`: RFC 7515 and RFC 8037 examples, tokens made by the
//! native jsonwebtoken crate with keys of every supported family, and each way a token
//! can fail (expired, early, wrong issuer or audience, missing scopes, tampered,
//! unknown key, algorithm confusion).

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm as Jwa, EncodingKey, Header};
use serde_json::{Value, json};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use common::bindings::auth::JwtAuth;
use common::bindings::auth::exports::wharf::auth::types::{Algorithm, Claims, Error, Validation};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

fn key_file(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()
}

/// RFC 7515 appendix A.1: HS256 over `{"iss":"joe","exp":1300819380,...}`.
const RFC7515_A1_KEY: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const RFC7515_A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC7515_A1_EXP: i64 = 1_300_819_380;

/// RFC 8037 appendix A: an Ed25519 key pair and a JWS over "Example of Ed25519 signing".
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/// A fixed "now" for tokens made in these tests.
const NOW: i64 = 1_800_000_000;

struct Auth {
    store: Store<common::Host>,
    bindings: JwtAuth,
}

impl Auth {
    fn new() -> Self {
        let (mut store, linker) = common::store_and_linker();
        let bindings =
            JwtAuth::instantiate(&mut store, &common::bundled("jwt-auth"), &linker).unwrap();
        Self { store, bindings }
    }

    fn jwks(&mut self, jwks: &str) -> Result<ResourceAny, Error> {
        self.bindings
            .wharf_auth_keys()
            .key_set()
            .call_from_jwks(&mut self.store, jwks)
            .unwrap()
    }

    fn secret(&mut self, secret: &[u8]) -> ResourceAny {
        self.bindings
            .wharf_auth_keys()
            .key_set()
            .call_from_secret(&mut self.store, secret)
            .unwrap()
            .unwrap()
    }

    fn pem(&mut self, pem: &str) -> Result<ResourceAny, Error> {
        self.bindings
            .wharf_auth_keys()
            .key_set()
            .call_from_pem(&mut self.store, pem)
            .unwrap()
    }

    fn verify(
        &mut self,
        keys: ResourceAny,
        token: &str,
        validation: &Validation,
    ) -> Result<Claims, Error> {
        self.bindings
            .wharf_auth_verifier()
            .call_verify(&mut self.store, keys, token, validation)
            .unwrap()
    }

    fn sign(&mut self, key: ResourceAny, claims: &Value) -> Result<String, Error> {
        self.bindings
            .wharf_auth_signer()
            .call_sign(&mut self.store, key, &claims.to_string())
            .unwrap()
    }
}

fn at(now: i64) -> Validation {
    Validation {
        algorithms: Vec::new(),
        issuer: None,
        audience: None,
        required_scopes: Vec::new(),
        require_expiry: false,
        leeway_seconds: 0,
        now: Some(now),
    }
}

/// A token signed natively by jsonwebtoken.
fn native_token(alg: Jwa, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn claims() -> Value {
    json!({"iss": "https://id.wharf.test", "sub": "ann", "aud": ["gateway", "other"], "exp": NOW + 600,
           "nbf": NOW - 10, "iat": NOW - 10, "jti": "t-1", "scope": "ingest read", "team": "edge"})
}

#[test]
fn rfc7515_a1_hs256_example_verifies_and_expires() {
    let mut auth = Auth::new();
    let keys = auth
        .jwks(&json!({"keys": [{"kty": "oct", "k": RFC7515_A1_KEY}]}).to_string())
        .unwrap();
    let claims = auth
        .verify(keys, RFC7515_A1_TOKEN, &at(RFC7515_A1_EXP - 1))
        .unwrap();
    assert_eq!(claims.issuer.as_deref(), Some("joe"));
    assert_eq!(claims.expires_at, Some(RFC7515_A1_EXP));
    let all: Value = serde_json::from_str(&claims.json).unwrap();
    assert_eq!(all["http://example.com/is_root"], true);

    assert_eq!(
        auth.verify(keys, RFC7515_A1_TOKEN, &at(RFC7515_A1_EXP + 1)),
        Err(Error::Expired(RFC7515_A1_EXP))
    );
    let lenient = Validation {
        leeway_seconds: 60,
        ..at(RFC7515_A1_EXP + 60)
    };
    assert!(auth.verify(keys, RFC7515_A1_TOKEN, &lenient).is_ok());
    let too_late = Validation {
        leeway_seconds: 60,
        ..at(RFC7515_A1_EXP + 61)
    };
    assert_eq!(
        auth.verify(keys, RFC7515_A1_TOKEN, &too_late),
        Err(Error::Expired(RFC7515_A1_EXP))
    );
}

#[test]
fn rfc8037_ed25519_example_signature_verifies() {
    let mut auth = Auth::new();
    let keys = auth
        .jwks(&json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}]}).to_string())
        .unwrap();
    // The RFC signs a text payload, not a claims set: the signature verifies and only
    // then is the payload refused as claims.
    match auth.verify(keys, RFC8037_JWS, &at(NOW)) {
        Err(Error::Malformed(_)) => {}
        other => {
            panic!("expected the signature to verify and the claims to be refused, got {other:?}")
        }
    }
    let mut tampered = RFC8037_JWS.to_owned();
    tampered.replace_range(tampered.len() - 3.., "AAg");
    assert_eq!(
        auth.verify(keys, &tampered, &at(NOW)),
        Err(Error::InvalidSignature)
    );
}

/// The RFC 8037 private key, wrapped as PKCS#8 (RFC 8410) for `from-ed25519-pem`.
fn rfc8037_private_pem() -> String {
    let d = URL_SAFE_NO_PAD.decode(RFC8037_D).unwrap();
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend(d);
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(&der)
    )
}

#[test]
fn eddsa_tokens_signed_by_the_component_verify_with_the_rfc8037_public_key() {
    let mut auth = Auth::new();
    let signing = auth
        .bindings
        .wharf_auth_keys()
        .signing_key()
        .call_from_ed25519_pem(&mut auth.store, &rfc8037_private_pem(), Some("rfc8037"))
        .unwrap()
        .unwrap();
    let token = auth.sign(signing, &claims()).unwrap();
    let keys = auth
        .jwks(
            &json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": "rfc8037"}]})
                .to_string(),
        )
        .unwrap();
    let verified = auth.verify(keys, &token, &at(NOW)).unwrap();
    assert_eq!(verified.subject.as_deref(), Some("ann"));
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(
        (header.alg, header.kid.as_deref()),
        (Jwa::EdDSA, Some("rfc8037"))
    );
}

#[test]
fn tokens_of_every_family_verify_from_pem_and_from_jwks() {
    let mut auth = Auth::new();
    let jwks = auth.jwks(&key_file("jwks.json")).unwrap();
    let cases = [
        (
            Jwa::RS256,
            EncodingKey::from_rsa_pem(key_file("rsa-private.pem").as_bytes()).unwrap(),
            "rsa",
            "rsa-1",
        ),
        (
            Jwa::ES256,
            EncodingKey::from_ec_pem(key_file("ec-private.pem").as_bytes()).unwrap(),
            "ec",
            "ec-1",
        ),
        (
            Jwa::EdDSA,
            EncodingKey::from_ed_pem(key_file("ed25519-private.pem").as_bytes()).unwrap(),
            "ed25519",
            "ed-1",
        ),
    ];
    for (alg, key, file, kid) in cases {
        let token = native_token(alg, &key, Some(kid), &claims());
        let pem = auth.pem(&key_file(&format!("{file}-public.pem"))).unwrap();
        let verified = auth
            .verify(pem, &token, &at(NOW))
            .unwrap_or_else(|e| panic!("{alg:?} from PEM: {e:?}"));
        assert_eq!(verified.audience, ["gateway", "other"]);
        assert_eq!(verified.scopes, ["ingest", "read"]);
        assert_eq!(
            (verified.not_before, verified.issued_at),
            (Some(NOW - 10), Some(NOW - 10))
        );
        assert_eq!(verified.token_id.as_deref(), Some("t-1"));
        auth.verify(jwks, &token, &at(NOW))
            .unwrap_or_else(|e| panic!("{alg:?} from JWKS: {e:?}"));
        // A kid the set does not hold selects no key.
        let unknown = native_token(alg, &key, Some("nobody"), &claims());
        assert_eq!(
            auth.verify(jwks, &unknown, &at(NOW)),
            Err(Error::NoMatchingKey(Some("nobody".into())))
        );
    }
    let len = auth
        .bindings
        .wharf_auth_keys()
        .key_set()
        .call_len(&mut auth.store, jwks)
        .unwrap();
    assert_eq!(len, 3, "the P-384 key is skipped");
}

#[test]
fn hmac_algorithms_verify_with_a_shared_secret() {
    let mut auth = Auth::new();
    let keys = auth.secret(b"a shared secret of decent length!");
    let algorithms = auth
        .bindings
        .wharf_auth_keys()
        .key_set()
        .call_algorithms(&mut auth.store, keys)
        .unwrap();
    assert_eq!(
        algorithms,
        [Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512]
    );
    for alg in [Jwa::HS256, Jwa::HS384, Jwa::HS512] {
        let token = native_token(
            alg,
            &EncodingKey::from_secret(b"a shared secret of decent length!"),
            None,
            &claims(),
        );
        assert!(auth.verify(keys, &token, &at(NOW)).is_ok(), "{alg:?}");
        let wrong = native_token(
            alg,
            &EncodingKey::from_secret(b"another secret"),
            None,
            &claims(),
        );
        assert_eq!(
            auth.verify(keys, &wrong, &at(NOW)),
            Err(Error::InvalidSignature),
            "{alg:?}"
        );
    }
}

#[test]
fn claims_checks_fail_with_the_reason() {
    let mut auth = Auth::new();
    let keys = auth.secret(b"k");
    let token = native_token(Jwa::HS256, &EncodingKey::from_secret(b"k"), None, &claims());
    let exp = NOW + 600;

    assert_eq!(
        auth.verify(keys, &token, &at(exp + 1)),
        Err(Error::Expired(exp))
    );
    assert_eq!(
        auth.verify(keys, &token, &at(NOW - 11)),
        Err(Error::NotYetValid(NOW - 10))
    );
    let wrong_issuer = Validation {
        issuer: Some("https://evil.test".into()),
        ..at(NOW)
    };
    assert_eq!(
        auth.verify(keys, &token, &wrong_issuer),
        Err(Error::InvalidIssuer(Some("https://id.wharf.test".into())))
    );
    let right_issuer = Validation {
        issuer: Some("https://id.wharf.test".into()),
        audience: Some("gateway".into()),
        ..at(NOW)
    };
    assert!(auth.verify(keys, &token, &right_issuer).is_ok());
    let wrong_audience = Validation {
        audience: Some("billing".into()),
        ..at(NOW)
    };
    assert_eq!(
        auth.verify(keys, &token, &wrong_audience),
        Err(Error::InvalidAudience(vec![
            "gateway".into(),
            "other".into()
        ]))
    );
    let scopes = Validation {
        required_scopes: vec!["read".into(), "admin".into(), "write".into()],
        ..at(NOW)
    };
    assert_eq!(
        auth.verify(keys, &token, &scopes),
        Err(Error::MissingScopes(vec!["admin".into(), "write".into()]))
    );

    let no_exp = native_token(
        Jwa::HS256,
        &EncodingKey::from_secret(b"k"),
        None,
        &json!({"sub": "x", "scp": ["a", "b"]}),
    );
    let verified = auth.verify(keys, &no_exp, &at(NOW)).unwrap();
    assert_eq!(verified.scopes, ["a", "b"]);
    let strict = Validation {
        require_expiry: true,
        ..at(NOW)
    };
    assert_eq!(
        auth.verify(keys, &no_exp, &strict),
        Err(Error::MissingClaim("exp".into()))
    );
}

#[test]
fn tampering_and_algorithm_tricks_are_refused() {
    let mut auth = Auth::new();
    let keys = auth.secret(b"k");
    let token = native_token(Jwa::HS256, &EncodingKey::from_secret(b"k"), None, &claims());

    // Change one claim and keep the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = URL_SAFE_NO_PAD.encode(
        json!({"sub": "admin", "exp": NOW + 600})
            .to_string()
            .as_bytes(),
    );
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    assert_eq!(
        auth.verify(keys, &forged, &at(NOW)),
        Err(Error::InvalidSignature)
    );

    // The algorithm allow-list is enforced before any key is tried.
    let rs_only = Validation {
        algorithms: vec![Algorithm::Rs256],
        ..at(NOW)
    };
    assert_eq!(
        auth.verify(keys, &token, &rs_only),
        Err(Error::AlgorithmNotAllowed(Algorithm::Hs256))
    );

    // Algorithm confusion: an HS256 token "signed" with the RSA public key as the HMAC
    // secret must not verify against that public key.
    let public_pem = key_file("rsa-public.pem");
    let confused = native_token(
        Jwa::HS256,
        &EncodingKey::from_secret(public_pem.as_bytes()),
        None,
        &claims(),
    );
    let rsa = auth.pem(&public_pem).unwrap();
    assert_eq!(
        auth.verify(rsa, &confused, &at(NOW)),
        Err(Error::NoMatchingKey(None))
    );

    // `alg: none` and algorithms outside the contract.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        parts[1]
    );
    assert!(
        matches!(
            auth.verify(keys, &none, &at(NOW)),
            Err(Error::UnsupportedAlgorithm(_))
        ),
        "alg none"
    );
    let rs384 = native_token(
        Jwa::RS384,
        &EncodingKey::from_rsa_pem(key_file("rsa-private.pem").as_bytes()).unwrap(),
        None,
        &claims(),
    );
    assert_eq!(
        auth.verify(rsa, &rs384, &at(NOW)),
        Err(Error::UnsupportedAlgorithm("RS384".into()))
    );

    for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24"] {
        assert!(
            matches!(
                auth.verify(keys, garbage, &at(NOW)),
                Err(Error::Malformed(_) | Error::InvalidSignature)
            ),
            "{garbage:?}"
        );
    }
}

#[test]
fn bad_key_material_is_an_invalid_key_error() {
    let mut auth = Auth::new();
    assert!(matches!(auth.jwks("not json"), Err(Error::InvalidKey(_))));
    assert!(matches!(
        auth.jwks(r#"{"keys": []}"#),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        auth.pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        Err(Error::InvalidKey(_))
    ));
    let empty = auth
        .bindings
        .wharf_auth_keys()
        .key_set()
        .call_from_secret(&mut auth.store, b"")
        .unwrap();
    assert!(matches!(empty, Err(Error::InvalidKey(_))));
    let signing = auth.bindings.wharf_auth_keys().signing_key();
    let rsa_secret = signing
        .call_from_secret(&mut auth.store, b"k", Algorithm::Rs256, None)
        .unwrap();
    assert!(matches!(rsa_secret, Err(Error::InvalidKey(_))));
}

#[test]
fn hmac_tokens_signed_by_the_component_verify_natively() {
    let mut auth = Auth::new();
    let signing = auth.bindings.wharf_auth_keys().signing_key();
    let key = signing
        .call_from_secret(&mut auth.store, b"s3cret", Algorithm::Hs384, Some("k1"))
        .unwrap()
        .unwrap();
    assert_eq!(
        signing.call_algorithm(&mut auth.store, key).unwrap(),
        Algorithm::Hs384
    );
    let token = auth.sign(key, &claims()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Jwa::HS384);
    validation.set_audience(&["gateway"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let decoded = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(b"s3cret"),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.claims["team"], "edge");
    assert_eq!(decoded.header.kid.as_deref(), Some("k1"));
    assert!(matches!(
        auth.bindings
            .wharf_auth_signer()
            .call_sign(&mut auth.store, key, "[1]")
            .unwrap(),
        Err(Error::InvalidClaims(_))
    ));
}
