//! Credentials that are empty, short, malformed, forged or expired.

use base64::Engine as _;
use hmac::Mac as _;
use serde_json::json;
use sha2::Sha256;

use crate::wire::{basic, bearer, exchange, expect, sha256};
use crate::{ADMIN, BEARER_KEY, Problems, Token};

/// A bearer as `/v2/token` makes them (an HS256 JWT), with `claims`, signed with `key`.
fn signed_bearer(claims: serde_json::Value, key: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!(
        "{}.{}",
        engine.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        engine.encode(claims.to_string())
    );
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    format!("{signed}.{}", engine.encode(mac.finalize().into_bytes()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Empty, short, malformed, forged and expired credentials: each is refused for a
/// write (an OCI blob push, a publish) and for what needs a user (listing tokens),
/// and nothing they tried to write exists afterwards. The same requests with good
/// credentials (a token, as Bearer and as Basic, and a bearer the test signs with
/// the server's key) succeed, so a refusal is the credential's doing.
pub fn credentials(addr: &str, good: &Token, evil: &Token) -> Problems {
    let mut problems = Problems::new();
    let user_claims =
        |tid: &str, exp: i64| json!({"sub": "good", "tid": tid, "adm": false, "exp": exp});
    let admin_claims = json!({"sub": "admin", "tid": null, "adm": true, "exp": now() + 3600});
    let other_key = "another-key-of-the-same-length-0123456789ab";
    let hostile = [
        "authorization: ".to_owned(),
        "authorization: Basic".to_owned(),
        "authorization: Basic ".to_owned(),
        "authorization: Basic Og==".to_owned(),
        "authorization: Basic Og".to_owned(),
        "authorization: Basic !!!!".to_owned(),
        basic(ADMIN),
        basic("admin:"),
        basic(&format!(":{}", &ADMIN[..ADMIN.len() - 1])),
        basic(&format!("x:{ADMIN}x")),
        basic(&format!("{}:", &evil.secret[..12])),
        "authorization: Bearer".to_owned(),
        "authorization: Bearer ".to_owned(),
        bearer("null"),
        bearer(&ADMIN[..8]),
        bearer(&ADMIN.to_uppercase()),
        bearer(&format!("{}x", good.secret)),
        bearer(&format!("wharf_{}", "0".repeat(64))),
        "authorization: Digest username=\"admin\"".to_owned(),
        // Forged: an admin bearer signed with the user key, or with a key of our own.
        bearer(&signed_bearer(admin_claims.clone(), BEARER_KEY)),
        bearer(&signed_bearer(admin_claims, other_key)),
        // A good token's bearer signed with another key; expired; for no token.
        bearer(&signed_bearer(
            user_claims(&good.id, now() + 3600),
            other_key,
        )),
        bearer(&signed_bearer(
            user_claims(&good.id, now() - 10),
            BEARER_KEY,
        )),
        bearer(&signed_bearer(
            user_claims("no-such-token", now() + 3600),
            BEARER_KEY,
        )),
        // Unsigned, and not a JWT at all past its header.
        bearer(&format!(
            "{}.{}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(user_claims(&good.id, now() + 3600).to_string())
        )),
        bearer("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.!!!.!!!"),
    ];
    let blob = b"written by a hostile credential";
    let digest = sha256(blob);
    let component = wharf_bundled::unique_component("flate", "hostile-credential");
    for credential in &hostile {
        let headers = [credential.clone()];
        expect(
            &mut problems,
            &format!("an OCI push with `{credential}`"),
            exchange(
                addr,
                "POST",
                &format!("/v2/evil/auth/blobs/uploads/?digest={digest}"),
                &headers,
                blob,
            ),
            401,
            "UNAUTHORIZED",
        );
        expect(
            &mut problems,
            &format!("a publish with `{credential}`"),
            exchange(
                addr,
                "PUT",
                "/api/v1/packages/evil/auth/versions/1.0.0",
                &headers,
                &component,
            ),
            401,
            "UNAUTHORIZED",
        );
        expect(
            &mut problems,
            &format!("listing tokens with `{credential}`"),
            exchange(addr, "GET", "/api/v1/tokens", &headers, b""),
            401,
            "UNAUTHORIZED",
        );
    }
    for nothing in [
        format!("/v2/evil/auth/blobs/{digest}"),
        "/api/v1/packages/evil/auth".to_owned(),
    ] {
        expect(
            &mut problems,
            &format!("{nothing} after the hostile credentials"),
            exchange(addr, "GET", &nothing, &[], b""),
            404,
            "",
        );
    }
    for control in [
        bearer(&good.secret),
        basic(&format!("anyone:{}", good.secret)),
        basic(&format!("{}:", good.secret)),
        bearer(&signed_bearer(
            user_claims(&good.id, now() + 3600),
            BEARER_KEY,
        )),
    ] {
        expect(
            &mut problems,
            &format!("listing tokens with the good `{control}`"),
            exchange(
                addr,
                "GET",
                "/api/v1/tokens",
                std::slice::from_ref(&control),
                b"",
            ),
            200,
            &good.id,
        );
    }
    problems
}
