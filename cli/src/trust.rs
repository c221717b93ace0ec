//! What the commands that use a registry's digests (`pull`, `compose`, `update`) check
//! against its transparency log (docs/trust.md), and what they keep between runs:
//!
//! - the registry's log key: `--log-key` / `WHARF_LOG_KEY` (for CI), else the one
//!   pinned on first use in `log-keys.toml` beside the configuration file (`wharf
//!   login`'s), per registry;
//! - the last checkpoint seen: `wharf.lock`'s `[log]` for a deployable, else
//!   `$XDG_STATE_HOME/wharf/checkpoints.toml` (`~/.local/state/wharf/...`), per
//!   registry and log key (a checkpoint is only comparable with those of its key);
//!   each new checkpoint must extend it.
//!
//! A registry that serves no log (another OCI registry, or a Wharf older than the log)
//! is refused when its key is pinned or given, and when a deploy manifest requires the
//! log (`[trust] log`, on by default, for `compose` and `update`); `pull` uses it with
//! a warning.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use wharf_compose::{LogVerifier, log::announced_key};
use wharf_types::log::LogKey;

use crate::registry::Registry;

/// The log key to trust, for the commands that verify.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// The registry's transparency-log key (`origin+id+base64`, as `GET /api/v1/log/key`
    /// answers and the operator publishes), instead of the one pinned on first use:
    /// for CI, and to pin a key known in advance.
    #[arg(long, env = "WHARF_LOG_KEY", value_name = "KEY")]
    pub log_key: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pinned {
    #[serde(default)]
    registries: BTreeMap<String, PinnedKey>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedKey {
    key: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seen {
    #[serde(default)]
    registries: BTreeMap<String, SeenCheckpoint>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeenCheckpoint {
    checkpoint: String,
}

/// `log-keys.toml` beside the configuration file.
pub fn keys_path() -> PathBuf {
    crate::config::path().with_file_name("log-keys.toml")
}

/// `$XDG_STATE_HOME/wharf/checkpoints.toml`, else `~/.local/state/wharf/...`.
pub fn seen_path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from(".state"));
    base.join("wharf/checkpoints.toml")
}

fn load<T: Default + for<'de> Deserialize<'de>>(path: &PathBuf) -> anyhow::Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("in {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `value` to `path` whole (a temporary file renamed over it).
fn store<T: Serialize>(path: &PathBuf, value: &T) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let temporary = path.with_extension(format!("toml.{}", std::process::id()));
    std::fs::write(&temporary, toml::to_string(value)?)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

/// The key given (`--log-key`) or pinned for `registry`, without asking the registry.
pub fn known_key(registry: &Registry, args: &LogArgs) -> anyhow::Result<Option<LogKey>> {
    if let Some(text) = &args.log_key {
        return Ok(Some(
            LogKey::parse(text).context("--log-key / WHARF_LOG_KEY")?,
        ));
    }
    let path = keys_path();
    let pinned: Pinned = load(&path)?;
    let Some(found) = pinned.registries.get(registry.authority()) else {
        return Ok(None);
    };
    let key = LogKey::parse(&found.key).with_context(|| {
        format!(
            "the key pinned for {} in {}",
            registry.authority(),
            path.display()
        )
    })?;
    Ok(Some(key))
}

/// The key to check `registry`'s checkpoints with: given, pinned, or announced by the
/// registry and pinned now. None when the registry serves no log and no key is known.
pub async fn key_for(
    registry: &Registry,
    token: Option<&str>,
    args: &LogArgs,
) -> anyhow::Result<Option<(LogKey, bool)>> {
    if let Some(key) = known_key(registry, args)? {
        return Ok(Some((key, true)));
    }
    let path = keys_path();
    let mut pinned: Pinned = load(&path)?;
    let Some(key) = announced_key(&registry.url(), registry.authority(), token).await? else {
        return Ok(None);
    };
    pinned.registries.insert(
        registry.authority().to_owned(),
        PinnedKey {
            key: key.as_str().to_owned(),
        },
    );
    store(&path, &pinned)?;
    crate::status!(
        "Pinned",
        "{}'s transparency-log key {} (first use; kept in {})",
        registry.authority(),
        key.id(),
        path.display()
    );
    Ok(Some((key, false)))
}

/// Opens `registry`'s log: its checkpoint checked against the key, and against the
/// last checkpoint seen (`from_lock`, the `[log]` of a `wharf.lock` at `lock_path`;
/// else the user's state). For a registry without a log whose key nobody pinned or
/// gave: an error when the log is `required`, else None with a warning.
pub async fn open(
    registry: &Registry,
    token: Option<String>,
    args: &LogArgs,
    from_lock: Option<(&wharf_compose::LogRecord, &std::path::Path)>,
    required: bool,
) -> anyhow::Result<Option<LogVerifier>> {
    let Some((key, _)) = key_for(registry, token.as_deref(), args).await? else {
        if required {
            anyhow::bail!(
                "{} serves no transparency log (404 at /api/v1/log/key), and the deploy manifest requires one: \
                 set `log = false` under [trust] in wharf.toml to compose from a registry without a log (docs/trust.md)",
                registry.authority()
            );
        }
        crate::output::warn(&format!(
            "{} serves no transparency log: its digests are checked, but not against a log",
            registry.authority()
        ));
        return Ok(None);
    };
    let lock_record = from_lock.filter(|(record, _)| record.registry == registry.authority());
    let state_path = seen_path();
    let seen: Seen = load(&state_path)?;
    let (previous, seen_in) = match lock_record {
        Some((record, path)) => (
            Some(record.checkpoint.clone()),
            format!("{} [log]", path.display()),
        ),
        None => (
            seen.registries
                .get(&seen_key(registry, &key))
                .map(|s| s.checkpoint.clone()),
            state_path.display().to_string(),
        ),
    };
    let verifier = LogVerifier::open(
        &registry.url(),
        registry.authority(),
        token,
        key,
        previous.as_deref(),
        &seen_in,
    )
    .await?;
    Ok(Some(verifier))
}

/// Where the user's state keeps the checkpoints of `registry` under `key`.
fn seen_key(registry: &Registry, key: &LogKey) -> String {
    format!("{} {}", registry.authority(), key.id())
}

/// Keeps `verifier`'s checkpoint as the last one seen of `registry`, unless one at
/// least as large is kept already.
pub fn remember(registry: &Registry, verifier: &LogVerifier) -> anyhow::Result<()> {
    let path = seen_path();
    let mut seen: Seen = load(&path)?;
    let slot = seen_key(registry, verifier.key());
    let newer = match seen.registries.get(&slot) {
        Some(kept) => verifier
            .key()
            .open(kept.checkpoint.as_bytes())
            .map(|old| old.size() <= verifier.size())
            .unwrap_or(true),
        None => true,
    };
    if newer {
        seen.registries.insert(
            slot,
            SeenCheckpoint {
                checkpoint: verifier.checkpoint_note().to_owned(),
            },
        );
        store(&path, &seen)?;
    }
    Ok(())
}
