//! The CLI's configuration file: a token per registry, stored by `wharf login` in
//! `$XDG_CONFIG_HOME/wharf/config.toml` (or `~/.config/wharf/config.toml`), readable by
//! its owner only. `WHARF_TOKEN` overrides it; `WHARF_CONFIG` moves it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Tokens by registry, `host[:port]` (whichever form `--registry` took).
    #[serde(default)]
    pub registries: BTreeMap<String, Registry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub token: String,
}

pub fn path() -> PathBuf {
    if let Some(path) = std::env::var_os("WHARF_CONFIG") {
        return PathBuf::from(path);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("wharf/config.toml")
}

impl Config {
    pub fn load() -> anyhow::Result<Self> {
        let path = path();
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("in {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the file, creating it readable and writable by its owner only.
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let path = path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = toml::to_string(self)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        options
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(path)
    }

    /// The token for `registry`: `WHARF_TOKEN`, else the one `wharf login` stored.
    pub fn token_for(registry: &crate::registry::Registry) -> Option<String> {
        if let Some(token) = std::env::var("WHARF_TOKEN").ok().filter(|t| !t.is_empty()) {
            return Some(token);
        }
        let config = Self::load().ok()?;
        Self::keys(registry)
            .iter()
            .find_map(|key| config.registries.get(key))
            .map(|r| r.token.clone())
    }

    /// The keys a token for `registry` may be stored under: `host[:port]`, then the
    /// URL (a `wharf login` before the two forms were one stored what it was given).
    pub fn keys(registry: &crate::registry::Registry) -> [String; 2] {
        [registry.authority().to_owned(), registry.url()]
    }
}
