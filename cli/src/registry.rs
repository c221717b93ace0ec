//! The one `--registry` flag of every command that talks to a registry: what it
//! accepts (`host[:port]` or `http(s)://host[:port]`), parsed here and nowhere else,
//! and the token that goes with it.

use std::fmt;
use std::str::FromStr;

/// Where the registry is, for every command that talks to one.
#[derive(clap::Args, Clone, Debug)]
pub struct RegistryArgs {
    /// The registry: `host[:port]` or `http(s)://host[:port]`. Without a scheme,
    /// plain HTTP for 127.0.0.1, ::1 and localhost, HTTPS otherwise.
    #[arg(long, env = "WHARF_REGISTRY", default_value = "127.0.0.1:7878")]
    pub registry: Registry,
}

impl RegistryArgs {
    /// `WHARF_TOKEN`, else the token `wharf login` stored for this registry.
    pub fn token(&self) -> Option<String> {
        crate::config::Config::token_for(&self.registry)
    }
}

/// A registry named as `--registry` accepts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    https: bool,
    /// `host[:port]`, as given.
    authority: String,
}

impl Registry {
    /// `http(s)://host[:port]`, with no trailing slash: the base of every URL.
    pub fn url(&self) -> String {
        self.to_string()
    }

    /// `host[:port]`: what OCI clients name a registry by, and what `wharf login`
    /// stores its token under.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Whether it is spoken to in plain HTTP.
    pub fn plain_http(&self) -> bool {
        !self.https
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority)
    }
}

impl FromStr for Registry {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        const FORMS: &str = "a registry is `host[:port]` or `http(s)://host[:port]`";
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, text),
        };
        let https = match scheme.as_deref() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => return Err(format!("`{text}`: unknown scheme `{other}`; {FORMS}")),
            None => !is_loopback(host_of(rest)),
        };
        // A trailing slash is a URL's habit, not a path.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(format!("`{text}` names no host; {FORMS}"));
        }
        if let Some(bad) = authority
            .chars()
            .find(|c| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace())
        {
            let what = match bad {
                '/' => "a path".to_owned(),
                '?' => "a query".to_owned(),
                '#' => "a fragment".to_owned(),
                '@' => "credentials (use `wharf login`)".to_owned(),
                c => format!("{c:?}"),
            };
            return Err(format!("`{text}` has {what}; {FORMS}"));
        }
        let host = host_of(authority);
        if host.is_empty() {
            return Err(format!("`{text}` names no host; {FORMS}"));
        }
        if let Some(port) = authority[host.len()..].strip_prefix(':')
            && port.parse::<u16>().is_err()
        {
            return Err(format!("`{text}`: `{port}` is not a port; {FORMS}"));
        }
        Ok(Self {
            https,
            authority: authority.to_owned(),
        })
    }
}

/// The host of `host[:port]` (an IPv6 host keeps its brackets).
fn host_of(authority: &str) -> &str {
    let authority = authority.split('/').next().unwrap_or(authority);
    match authority.find(']') {
        Some(end) if authority.starts_with('[') => &authority[..=end],
        _ => authority.split(':').next().unwrap_or(authority),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::Registry;

    #[test]
    fn both_forms_name_the_same_registry() {
        for (given, url, authority) in [
            ("127.0.0.1:7878", "http://127.0.0.1:7878", "127.0.0.1:7878"),
            (
                "http://127.0.0.1:7878",
                "http://127.0.0.1:7878",
                "127.0.0.1:7878",
            ),
            (
                "http://127.0.0.1:7878/",
                "http://127.0.0.1:7878",
                "127.0.0.1:7878",
            ),
            ("localhost", "http://localhost", "localhost"),
            ("[::1]:5000", "http://[::1]:5000", "[::1]:5000"),
            (
                "registry.example.com",
                "https://registry.example.com",
                "registry.example.com",
            ),
            (
                "HTTPS://r.example:8443",
                "https://r.example:8443",
                "r.example:8443",
            ),
            ("http://r.example", "http://r.example", "r.example"),
            (
                "https://localhost:7878",
                "https://localhost:7878",
                "localhost:7878",
            ),
        ] {
            let registry: Registry = given.parse().unwrap();
            assert_eq!(registry.url(), url, "{given}");
            assert_eq!(registry.authority(), authority, "{given}");
        }
    }

    #[test]
    fn what_names_no_registry_is_refused_saying_what_is_wrong() {
        for (given, says) in [
            ("", "names no host"),
            ("http://", "names no host"),
            (":7878", "names no host"),
            ("ftp://r.example", "unknown scheme `ftp`"),
            ("http://r.example/v2", "has a path"),
            ("r.example/v2/", "has a path"),
            ("http://r.example?x", "has a query"),
            ("http://user:pw@r.example", "credentials"),
            ("r.example:http", "`http` is not a port"),
            ("r.example:99999", "`99999` is not a port"),
            ("r example", "' '"),
        ] {
            let error = given.parse::<Registry>().unwrap_err();
            assert!(error.contains(says), "{given}: {error}");
            assert!(
                error.contains("`http(s)://host[:port]`"),
                "{given}: {error}"
            );
        }
    }
}
