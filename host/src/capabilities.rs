//! What a guest may reach. Nothing is granted by default: no environment, no
//! filesystem, no sockets, no outbound HTTP. A denied call fails inside the guest
//! with WASI's own error value (`access`/`not-permitted`, `HTTP-request-denied`);
//! the host never fails because of it.

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtx};

use crate::Error;

/// A host directory offered to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (`/data`).
    pub guest: String,
    /// Whether the guest may only read.
    pub read_only: bool,
}

impl std::str::FromStr for Preopen {
    type Err = String;

    /// `host::guest` (read-write) or `host::guest:ro` (read-only); `::` keeps
    /// Windows-style and colon-bearing paths unambiguous, as `wasmtime --dir` does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (body, read_only) = match s.strip_suffix(":ro") {
            Some(body) => (body, true),
            None => (s.strip_suffix(":rw").unwrap_or(s), false),
        };
        let (host, guest) = match body.split_once("::") {
            Some((host, guest)) => (host, guest),
            None => (body, body),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(format!(
                "`{s}` is not a directory grant such as ./data::/data or ./data::/data:ro"
            ));
        }
        Ok(Self {
            host: PathBuf::from(host),
            guest: guest.to_owned(),
            read_only,
        })
    }
}

/// The capabilities granted to every instance of a served component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Environment variables the guest sees, exactly these.
    pub env: Vec<(String, String)>,
    /// Directories the guest may open.
    pub dirs: Vec<Preopen>,
    /// Hosts the guest may call over wasi:http: `example.com` (any port) or
    /// `127.0.0.1:8080` (that port only); `*` allows any.
    pub http_hosts: Vec<String>,
    /// Whether the guest may open TCP connections and listen (wasi:sockets).
    pub tcp: bool,
    /// Whether the guest may use UDP (wasi:sockets).
    pub udp: bool,
}

impl Capabilities {
    /// Whether an outbound request to `authority` (`host[:port]`) is granted.
    ///
    /// The authority is read with the parser the connector uses (`http`'s, through
    /// hyper), and only a plain `host[:port]` is granted: the connector dials the
    /// authority as written, so one with user information (`api.example.com:1@other`)
    /// or a port that is no number would reach something other than the host it
    /// seems to name, and is refused whatever the grant.
    pub fn allows_http(&self, authority: &str) -> bool {
        let Some((host, port)) = dialed(authority) else {
            return false;
        };
        self.http_hosts.iter().any(|granted| {
            granted == "*"
                || dialed(granted).is_some_and(|(granted_host, granted_port)| {
                    granted_host.eq_ignore_ascii_case(host)
                        && granted_port.is_none_or(|p| Some(p) == port)
                })
        })
    }

    /// Checks that every preopened directory exists, so that a typo fails at start
    /// and not on the first request.
    pub fn check(&self) -> Result<(), Error> {
        for dir in &self.dirs {
            if !dir.host.is_dir() {
                return Err(Error::Preopen {
                    path: dir.host.clone(),
                    message: "not a directory".into(),
                });
            }
        }
        Ok(())
    }

    /// A WASI context granting exactly these capabilities (no arguments, no
    /// inherited environment, standard output and error discarded), its
    /// `insecure-seed` fixed to `seed` when given (otherwise random per context).
    pub(crate) fn wasi(&self, seed: Option<u128>) -> Result<WasiCtx, Error> {
        let mut wasi = WasiCtx::builder();
        if let Some(seed) = seed {
            wasi.insecure_random_seed(seed);
        }
        wasi.envs(&self.env);
        for dir in &self.dirs {
            let perms = if dir.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| Error::Preopen {
                    path: dir.host.clone(),
                    message: format!("{e:?}"),
                })?;
        }
        wasi.allow_tcp(self.tcp);
        wasi.allow_udp(self.udp);
        wasi.allow_ip_name_lookup(self.tcp || self.udp);
        if self.tcp || self.udp {
            // The per-protocol switches above decide; every address is then allowed.
            wasi.socket_addr_check(|_, _| Box::pin(async { true }));
        }
        Ok(wasi.build())
    }
}

/// The host (brackets kept for IPv6) and port an authority makes the connector dial,
/// as hyper's `Authority` reads it; None unless it is exactly `host[:port]`.
fn dialed(authority: &str) -> Option<(&str, Option<u16>)> {
    let parsed: hyper::http::uri::Authority = authority.parse().ok()?;
    let host = parsed.host();
    let port = parsed.port_u16();
    let plain = match port {
        Some(p) => authority.strip_prefix(host)? == format!(":{p}"),
        None => authority == host,
    };
    // `host()` borrows from `parsed`; hand back the same bytes of `authority`.
    plain.then(|| (&authority[..host.len()], port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_grants_parse() {
        let rw: Preopen = "./data::/data".parse().unwrap();
        assert_eq!(rw.host, PathBuf::from("./data"));
        assert_eq!(rw.guest, "/data");
        assert!(!rw.read_only);
        let ro: Preopen = "/srv/x::/x:ro".parse().unwrap();
        assert!(ro.read_only);
        assert_eq!(ro.guest, "/x");
        let same: Preopen = "/tmp".parse().unwrap();
        assert_eq!(same.guest, "/tmp");
        assert!("::/x".parse::<Preopen>().is_err());
    }

    #[test]
    fn outbound_http_is_granted_by_host_or_by_host_and_port() {
        let caps = Capabilities {
            http_hosts: vec!["api.example.com".into(), "127.0.0.1:8080".into()],
            ..Capabilities::default()
        };
        assert!(caps.allows_http("api.example.com"));
        assert!(caps.allows_http("api.example.com:443"));
        assert!(caps.allows_http("127.0.0.1:8080"));
        assert!(!caps.allows_http("127.0.0.1:8081"));
        assert!(!caps.allows_http("127.0.0.1"));
        assert!(!caps.allows_http("evil.example.com"));
        assert!(!Capabilities::default().allows_http("api.example.com"));
        let any = Capabilities {
            http_hosts: vec!["*".into()],
            ..Capabilities::default()
        };
        assert!(any.allows_http("anything:1"));
    }

    #[test]
    fn outbound_http_checks_the_host_the_connector_dials() {
        let caps = Capabilities {
            http_hosts: vec![
                "api.example.com".into(),
                "127.0.0.1:8080".into(),
                "[::1]".into(),
            ],
            ..Capabilities::default()
        };
        // User information makes the connector dial something else than it reads as.
        for sneaky in [
            "api.example.com:1@other",
            "api.example.com:443@other",
            "api.example.com@other",
            "user@api.example.com",
            "user:pw@api.example.com:443",
            "127.0.0.1:8080@other",
            "[::1]:80@other",
        ] {
            assert!(!caps.allows_http(sneaky), "{sneaky}");
        }
        // So does a port that is no number, and anything that is no authority at all.
        for odd in [
            "api.example.com:http",
            "api.example.com:",
            "api.example.com:99999",
            "api.example.com:080",
            "api.example.com/path",
            "",
        ] {
            assert!(!caps.allows_http(odd), "{odd:?}");
        }
        // The plain forms still pass, case aside.
        assert!(caps.allows_http("API.Example.com:8443"));
        assert!(caps.allows_http("[::1]:9000"));
        assert!(!caps.allows_http("[::2]"));
    }
}
