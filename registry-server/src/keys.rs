//! The keys that sign the short-lived bearer tokens `/v2/token` hands out, and where
//! they come from. Never from the database: whoever reads a backup, a dump or a
//! replica's connection could otherwise mint anyone's bearer.
//!
//! - [`Config::token_key_file`] names a file the operator provides. Replicas on one
//!   database must all be given the same one, since any replica verifies the bearers
//!   any other handed out.
//! - Without it, on SQLite, `<data_dir>/token-key` is made on the first start (a random
//!   secret, mode 0600) and kept across restarts.
//! - Without it, on PostgreSQL, the start is refused: a PostgreSQL database is how
//!   replicas are run, and a key each replica made for itself would make each refuse
//!   the others' bearers, now and then, depending on where the balancer sent a client.
//!
//! Bearers standing for the configured admin token (`adm: true`) name no API token
//! that could be revoked. They are signed with a key of their own, derived from the
//! key and the admin token, so that changing (or removing) the admin token makes every
//! admin bearer minted under the old one a forgery.
//!
//! The key is not derived from the admin token alone: anyone may fetch an anonymous
//! bearer, and a key made of the admin token would let them test guesses of it
//! offline, at the speed of HMAC, against the bearer's signature.

use std::path::PathBuf;

use hmac::Mac as _;
use sha2::Sha256;

use rand::RngCore as _;

use crate::Config;

/// The fewest characters a bearer-signing key file may hold (32 hex digits are 128
/// bits); `openssl rand -hex 32` makes 64.
pub const TOKEN_KEY_MIN_CHARS: usize = 32;

/// The file `wharf serve` keeps its bearer-signing key in when none is configured.
pub const TOKEN_KEY_FILE_NAME: &str = "token-key";

/// The keys bearers are signed with.
pub struct BearerKeys {
    user: Vec<u8>,
    /// None when no admin token is configured: no admin bearer is signed or accepted.
    admin: Option<Vec<u8>>,
}

impl std::fmt::Debug for BearerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerKeys").finish_non_exhaustive()
    }
}

impl BearerKeys {
    /// Keys from `secret` (the key file's content) and the admin token, if any.
    pub fn new(secret: &[u8], admin_token: Option<&str>) -> Self {
        let admin = admin_token.filter(|t| !t.is_empty()).map(|token| {
            let mut mac =
                hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
            mac.update(b"wharf admin bearer key v1\0");
            mac.update(token.as_bytes());
            mac.finalize().into_bytes().to_vec()
        });
        Self {
            user: secret.to_vec(),
            admin,
        }
    }

    /// The keys of `config`: from [`Config::token_key_file`], else (on SQLite) from
    /// `<data_dir>/token-key`, made on the first start. The error names the file, or
    /// the setting that is missing.
    pub fn load(config: &Config) -> Result<Self, String> {
        let secret = match &config.token_key_file {
            Some(path) => {
                let secret = crate::private::existing_secret_file(path, TOKEN_KEY_MIN_CHARS)
                    .map_err(|e| format!("`token_key_file`: {e}"))?;
                if crate::private::shared_with_others(path) {
                    tracing::warn!(
                        file = %path.display(),
                        "the bearer-signing key file may be read by other users: `chmod 600` it"
                    );
                }
                secret
            }
            None if config.database_url().starts_with("postgres") => {
                return Err(
                    "`token_key_file` is required with a PostgreSQL database: replicas share \
                     the database and must verify each other's bearer tokens, so give every \
                     replica the same key file with `--token-key-file` / WHARF_TOKEN_KEY_FILE \
                     (make one with `openssl rand -hex 32 > token-key; chmod 600 token-key`)"
                        .to_owned(),
                );
            }
            None => crate::private::secret_file(&default_file(config), TOKEN_KEY_MIN_CHARS)?,
        };
        Ok(Self::new(secret.as_bytes(), config.admin_token.as_deref()))
    }

    /// Keys that live in this process only, for a tool that serves nothing (`wharf
    /// fsck`): what they sign no server accepts.
    pub fn ephemeral(admin_token: Option<&str>) -> Self {
        Self::new(new_secret().as_bytes(), admin_token)
    }

    /// The key of bearers standing for an API token, or for nobody.
    pub(crate) fn user(&self) -> &[u8] {
        &self.user
    }

    /// The key of bearers standing for the configured admin token; None without one.
    pub(crate) fn admin(&self) -> Option<&[u8]> {
        self.admin.as_deref()
    }
}

/// `<data_dir>/token-key`.
pub fn default_file(config: &Config) -> PathBuf {
    config.data_dir.join(TOKEN_KEY_FILE_NAME)
}

/// A new token's secret: `wharf_` and 64 hex digits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("wharf_{}", hex::encode(bytes))
}

/// The file `wharf serve` keeps its transparency-log key in when none is configured.
pub const LOG_KEY_FILE_NAME: &str = "log-key";

/// The key that signs the transparency log's checkpoints (C2SP signed notes, Ed25519),
/// with its name, which is the log's origin (the first line of every checkpoint).
///
/// Like the bearer key, never in the database: whoever could read a dump could
/// otherwise sign checkpoints of any history. [`Config::log_key_file`] names a file
/// (every replica on one PostgreSQL database must be given the same one, made with
/// `wharf log keygen`); without it, on SQLite, `<data_dir>/log-key` is made on the
/// first start (mode 0600), named `<public host[:port]>/log`, and kept.
pub struct LogKeys {
    signer: signed_note::StandardSigner,
    origin: String,
    verifier_key: String,
}

impl std::fmt::Debug for LogKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKeys")
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

impl LogKeys {
    /// The keys of `config`: from [`Config::log_key_file`], else (on SQLite) from
    /// `<data_dir>/log-key`, made on the first start. The error names the file, or the
    /// setting that is missing.
    pub fn load(config: &Config) -> Result<Self, String> {
        let text = match &config.log_key_file {
            Some(path) => crate::private::existing_secret_file(path, 1)
                .map_err(|e| format!("`log_key_file`: {e}"))?,
            None if config.database_url().starts_with("postgres") => {
                return Err(
                    "`log_key_file` is required with a PostgreSQL database: replicas append \
                     to one transparency log and must sign its checkpoints with one key, so \
                     give every replica the same key file with `--log-key-file` / \
                     WHARF_LOG_KEY_FILE (make one with `wharf log keygen --origin \
                     registry.example.com/log > log-key; chmod 600 log-key`)"
                        .to_owned(),
                );
            }
            None => {
                let origin = default_origin(config);
                crate::private::made_secret_file(&default_log_file(config), 1, || {
                    generate_log_key(&origin).expect("the public host is a valid key name")
                })?
            }
        };
        Self::parse(&text).map_err(|e| match &config.log_key_file {
            Some(path) => format!("`log_key_file` {}: {e}", path.display()),
            None => format!("{}: {e}", default_log_file(config).display()),
        })
    }

    /// Keys from a signer key string (`PRIVATE+KEY+<origin>+<id>+<base64>`, what
    /// [`generate_log_key`] makes).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            "not a log key: expected `PRIVATE+KEY+<origin>+<id>+<base64>` (make one with `wharf log keygen`)".to_owned()
        };
        let signer = signed_note::StandardSigner::new(text).map_err(|_| bad())?;
        let mut parts = text.splitn(5, '+');
        let (_, _, origin, _, key) = (
            parts.next(),
            parts.next(),
            parts.next().ok_or_else(bad)?,
            parts.next(),
            parts.next().ok_or_else(bad)?,
        );
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| bad())?;
        let seed: [u8; 32] = bytes
            .get(1..)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        let verifying = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        Ok(Self {
            signer,
            origin: origin.to_owned(),
            verifier_key: signed_note::new_ed25519_verifier_key(origin, &verifying),
        })
    }

    /// Keys that live in this process only, for a tool that signs nothing clients keep
    /// (`wharf fsck`).
    pub fn ephemeral() -> Self {
        Self::parse(&generate_log_key("offline/log").expect("a valid name")).expect("a fresh key")
    }

    /// The log's origin: the key's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key clients pin: `<origin>+<id>+<base64>`.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The signed note of the checkpoint of a tree of `size` entries with root `root`.
    pub fn sign_checkpoint(
        &self,
        size: u64,
        root: wharf_types::log::Hash,
    ) -> Result<Vec<u8>, String> {
        let text = wharf_types::log::checkpoint_text(&self.origin, size, root)
            .map_err(|e| e.to_string())?;
        let mut note = signed_note::Note::new(&text, &[]).map_err(|e| e.to_string())?;
        note.add_sigs(&[&self.signer]).map_err(|e| e.to_string())?;
        Ok(note.to_bytes())
    }
}

/// A new log signing key named `origin` (a host and path, no spaces or `+`), as the
/// signer key string `PRIVATE+KEY+<origin>+<id>+<base64>`.
pub fn generate_log_key(origin: &str) -> Result<String, String> {
    if !signed_note::is_key_name_valid(origin) {
        return Err(format!(
            "`{origin}` cannot name a log: no spaces or `+` (e.g. `registry.example.com/log`)"
        ));
    }
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = [&[1u8][..], signing.verifying_key().as_bytes()].concat();
    let private = [&[1u8][..], &seed[..]].concat();
    use base64::Engine as _;
    Ok(format!(
        "PRIVATE+KEY+{origin}+{:08x}+{}",
        signed_note::key_id(origin, &public),
        base64::engine::general_purpose::STANDARD.encode(private)
    ))
}

/// `<public host[:port]>/log`: the name a log key made on the first start gets.
pub fn default_origin(config: &Config) -> String {
    format!("{}/log", config.public_authority())
}

/// `<data_dir>/log-key`.
pub fn default_log_file(config: &Config) -> PathBuf {
    config.data_dir.join(LOG_KEY_FILE_NAME)
}
