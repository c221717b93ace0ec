//! The gateway's configuration, from environment variables, in two parts:
//!
//! - [`Settings`], plain data read from the environment once per instance. A host
//!   that pre-initializes the gateway (its `wizer-initialize` export, which Wharf's
//!   host runs when it derives a deployable's serving image) reads them then, and
//!   every instance starts with them parsed;
//! - [`Config`], the handles built from them in each instance on its first
//!   `/v1/ingest`: the key set (a `wharf:auth` resource) and the compiled schema (a
//!   `wharf:schema` resource, which the json-schema plug hands back from what it
//!   compiled during pre-initialization). Handles belong to one instance and are
//!   never part of a snapshot.
//!
use std::env;
use std::sync::OnceLock;

use serde_json::Value;

use crate::wharf::auth::keys::KeySet;
use crate::wharf::auth::types::{Algorithm, Validation};
use crate::wharf::schema::types::CompileOptions;
use crate::wharf::schema::validator::Schema;
use crate::wharf::transform::types::{Redact, Rename, Step};

/// What the environment says, parsed; no handles.
pub struct Settings {
    key: Key,
    pub validation: Validation,
    schema: String,
    pub steps: Vec<Step>,
    pub max_body_bytes: u64,
    pub compression_level: Option<u32>,
}

/// Where the key set comes from.
enum Key {
    Jwks(String),
    Secret(String),
    Pem(String),
}

/// This instance's handles, built from its [`Settings`].
pub struct Config {
    pub keys: KeySet,
    pub schema: Schema,
    pub settings: &'static Settings,
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

/// Options the configured schema is compiled with.
fn compile_options() -> CompileOptions {
    CompileOptions {
        default_draft: None,
        resources: Vec::new(),
        assert_format: false,
    }
}

impl Config {
    /// This instance's configuration, built on the first call. A broken configuration
    /// stays broken: the environment of an instance does not change.
    pub fn get() -> Result<&'static Self, &'static str> {
        static CONFIG: OnceLock<Result<Config, String>> = OnceLock::new();
        CONFIG
            .get_or_init(|| Self::build(Settings::get()?))
            .as_ref()
            .map_err(String::as_str)
    }

    fn build(settings: &'static Settings) -> Result<Self, String> {
        let keys = match &settings.key {
            Key::Jwks(jwks) => {
                KeySet::from_jwks(jwks).map_err(|e| format!("`GATEWAY_JWKS`: {e:?}"))?
            }
            Key::Secret(secret) => KeySet::from_secret(secret.as_bytes())
                .map_err(|e| format!("`GATEWAY_JWT_SECRET`: {e:?}"))?,
            Key::Pem(pem) => {
                KeySet::from_pem(pem).map_err(|e| format!("`GATEWAY_JWT_PUBLIC_KEY`: {e:?}"))?
            }
        };
        let schema = Schema::compile(&settings.schema, &compile_options())
            .map_err(|e| format!("`GATEWAY_SCHEMA`: {e:?}"))?;
        Ok(Self {
            keys,
            schema,
            settings,
        })
    }

    /// What pre-initialization does: read the settings and compile the schema once,
    /// so that the json-schema plug keeps it compiled; the handle is dropped, so the
    /// snapshot holds none. Errors are kept for the first request to report.
    pub fn warm() {
        if let Ok(settings) = Settings::get() {
            drop(Schema::compile(&settings.schema, &compile_options()));
        }
    }
}

impl Settings {
    /// The settings, read from the environment on the first call.
    pub fn get() -> Result<&'static Self, String> {
        static SETTINGS: OnceLock<Result<Settings, String>> = OnceLock::new();
        SETTINGS
            .get_or_init(Self::from_env)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn from_env() -> Result<Self, String> {
        let key = if let Some(jwks) = var("GATEWAY_JWKS") {
            Key::Jwks(jwks)
        } else if let Some(secret) = var("GATEWAY_JWT_SECRET") {
            Key::Secret(secret)
        } else if let Some(pem) = var("GATEWAY_JWT_PUBLIC_KEY") {
            Key::Pem(pem)
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
        let steps = match var("GATEWAY_TRANSFORM") {
            Some(text) => steps(&text).map_err(|e| format!("`GATEWAY_TRANSFORM`: {e}"))?,
            None => Vec::new(),
        };
        Ok(Self {
            key,
            validation,
            schema: var("GATEWAY_SCHEMA").unwrap_or_else(|| "true".into()),
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
