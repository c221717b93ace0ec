//! The gateway's configuration, read from environment variables once per instance
//! (on its first `/v1/ingest`): a host that gives each request a fresh instance reads
//! it per request, one that reuses instances (`wharf run --reuse-instances`) once.
//!
//! | variable | meaning |
//! |---|---|
//! | `GATEWAY_JWKS` | JSON Web Key Set that verifies tokens |
//! | `GATEWAY_JWT_SECRET` | or: a shared HMAC secret |
//! | `GATEWAY_JWT_PUBLIC_KEY` | or: a PEM public key (RSA, EC P-256, Ed25519) |
//! | `GATEWAY_JWT_ALGORITHMS` | accepted algorithms, comma-separated (default: the key's) |
//! | `GATEWAY_JWT_ISSUER`, `GATEWAY_JWT_AUDIENCE` | required `iss` / `aud` |
//! | `GATEWAY_REQUIRED_SCOPES` | scopes every token needs, space- or comma-separated |
//! | `GATEWAY_JWT_LEEWAY` | clock skew in seconds (default 60) |
//! | `GATEWAY_SCHEMA` | JSON Schema for request bodies (default: any JSON) |
//! | `GATEWAY_TRANSFORM` | transform steps as a JSON array (default: none) |
//! | `GATEWAY_MAX_BODY_BYTES` | largest accepted body (default 1048576) |
//! | `GATEWAY_COMPRESSION_LEVEL` | the codec's level (default: the format's) |

use std::env;
use std::sync::OnceLock;

use serde_json::Value;

use crate::wharf::auth::keys::KeySet;
use crate::wharf::auth::types::{Algorithm, Validation};
use crate::wharf::schema::types::CompileOptions;
use crate::wharf::schema::validator::Schema;
use crate::wharf::transform::types::{Redact, Rename, Step};

pub struct Config {
    pub keys: KeySet,
    pub validation: Validation,
    pub schema: Schema,
    pub steps: Vec<Step>,
    pub max_body_bytes: u64,
    pub compression_level: Option<u32>,
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    var(name)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| format!("`{name}` is not a valid number: {v:?}"))
        })
        .transpose()
}

fn list(value: &str) -> Vec<String> {
    value
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Config {
    /// This instance's configuration, read on the first call. A broken configuration
    /// stays broken: the environment of an instance does not change.
    pub fn get() -> Result<&'static Self, &'static str> {
        static CONFIG: OnceLock<Result<Config, String>> = OnceLock::new();
        CONFIG
            .get_or_init(Self::from_env)
            .as_ref()
            .map_err(String::as_str)
    }

    fn from_env() -> Result<Self, String> {
        let keys = if let Some(jwks) = var("GATEWAY_JWKS") {
            KeySet::from_jwks(&jwks).map_err(|e| format!("`GATEWAY_JWKS`: {e:?}"))?
        } else if let Some(secret) = var("GATEWAY_JWT_SECRET") {
            KeySet::from_secret(secret.as_bytes())
                .map_err(|e| format!("`GATEWAY_JWT_SECRET`: {e:?}"))?
        } else if let Some(pem) = var("GATEWAY_JWT_PUBLIC_KEY") {
            KeySet::from_pem(&pem).map_err(|e| format!("`GATEWAY_JWT_PUBLIC_KEY`: {e:?}"))?
        } else {
            return Err(
                "no key configured: set `GATEWAY_JWKS`, `GATEWAY_JWT_SECRET` or `GATEWAY_JWT_PUBLIC_KEY`".into(),
            );
        };
        let algorithms = match var("GATEWAY_JWT_ALGORITHMS") {
            Some(names) => list(&names)
                .iter()
                .map(|n| algorithm(n))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let validation = Validation {
            algorithms,
            issuer: var("GATEWAY_JWT_ISSUER"),
            audience: var("GATEWAY_JWT_AUDIENCE"),
            required_scopes: var("GATEWAY_REQUIRED_SCOPES")
                .map(|s| list(&s))
                .unwrap_or_default(),
            require_expiry: true,
            leeway_seconds: parsed("GATEWAY_JWT_LEEWAY")?.unwrap_or(60),
            now: None,
        };
        let schema_text = var("GATEWAY_SCHEMA").unwrap_or_else(|| "true".into());
        let options = CompileOptions {
            default_draft: None,
            resources: Vec::new(),
            assert_format: false,
        };
        let schema = Schema::compile(&schema_text, &options)
            .map_err(|e| format!("`GATEWAY_SCHEMA`: {e:?}"))?;
        let steps = match var("GATEWAY_TRANSFORM") {
            Some(text) => steps(&text).map_err(|e| format!("`GATEWAY_TRANSFORM`: {e}"))?,
            None => Vec::new(),
        };
        Ok(Self {
            keys,
            validation,
            schema,
            steps,
            max_body_bytes: parsed("GATEWAY_MAX_BODY_BYTES")?.unwrap_or(1 << 20),
            compression_level: parsed("GATEWAY_COMPRESSION_LEVEL")?,
        })
    }
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "HS256" => Algorithm::Hs256,
        "HS384" => Algorithm::Hs384,
        "HS512" => Algorithm::Hs512,
        "RS256" => Algorithm::Rs256,
        "ES256" => Algorithm::Es256,
        "EDDSA" => Algorithm::EdDsa,
        _ => {
            return Err(format!(
                "`GATEWAY_JWT_ALGORITHMS`: unknown algorithm {name:?}"
            ));
        }
    })
}

/// Parses steps written as `[{"op": "pick", "pointers": ["/a"]}, ...]`; `op` is the
/// step's name in `wharf:transform` and the other members are its fields.
fn steps(text: &str) -> Result<Vec<Step>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let items = value.as_array().ok_or("expected a JSON array of steps")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| step(item).map_err(|e| format!("step {i}: {e}")))
        .collect()
}

fn step(item: &Value) -> Result<Step, String> {
    let string = |name: &str| {
        item.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(format!("`{name}` must be a string"))
    };
    let strings = |name: &str| -> Result<Vec<String>, String> {
        item.get(name)
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
            .ok_or(format!("`{name}` must be an array of strings"))
    };
    Ok(match item.get("op").and_then(Value::as_str) {
        Some("normalize-whitespace") => Step::NormalizeWhitespace,
        Some("canonicalize") => Step::Canonicalize,
        Some("pick") => Step::Pick(strings("pointers")?),
        Some("drop") => Step::Drop(strings("pointers")?),
        Some("rename") => Step::Rename(Rename {
            from: string("from")?,
            to: string("to")?,
        }),
        Some("redact") => Step::Redact(Redact {
            pointers: strings("pointers")?,
            replacement: item
                .get("replacement")
                .and_then(Value::as_str)
                .unwrap_or("[redacted]")
                .to_owned(),
        }),
        Some(other) => return Err(format!("unknown op {other:?}")),
        None => return Err("each step needs an `op`".into()),
    })
}
