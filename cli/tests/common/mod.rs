//! A real `wharf serve` on port 0 in a temporary directory, and the real binary run
//! against it as a user runs it.
#![allow(dead_code)]

pub mod announced;
pub mod memory;
pub mod raw;
pub mod tools;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output};

use sha2::{Digest, Sha256};

/// The example gateway and its four plugs, as a deploy manifest against a registry
/// holding the bundled components: a root and transitive constituents.
pub const GATEWAY_MANIFEST: &str = r#"
[deployable]
name = "acme:edge"
version = "1.0.0"
root = { package = "wharf:edge-gateway", version = "^1" }

[plugs]
"wharf:auth" = { package = "wharf:jwt-auth", version = "^1" }
"wharf:schema" = { package = "wharf:json-schema", version = "^1" }
"wharf:transform" = { package = "wharf:json-transform", version = "^1" }
"wharf:compression" = { package = "wharf:flate", version = "^1" }

[host]
allow = ["wasi:cli/*", "wasi:io/*", "wasi:clocks/*", "wasi:random/*", "wasi:filesystem/*", "wasi:http/types"]
"#;

pub struct Server {
    child: Child,
    pub registry: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The `wharf serve` process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

/// `wharf <args>` run in `dir`, with no registry involved (compose from a directory
/// registry, bundle, ...).
pub fn wharf_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

pub fn serve(dir: &Path) -> Server {
    serve_with(dir, &[])
}

/// `wharf serve` as [`serve`] starts it, with `args` added to its command line.
pub fn serve_with(dir: &Path, args: &[&str]) -> Server {
    let (child, line) = announced::spawn_announced(
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                "admin-secret-for-tests",
                "--data-dir",
            ])
            .arg(dir.join("registry"))
            .args(args),
    );
    let registry = line.rsplit(' ').next().unwrap().to_owned();
    Server { child, registry }
}

pub fn wharf(dir: &Path, server: &Server, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
    command
        .current_dir(dir)
        .args(args)
        .env("WHARF_REGISTRY", &server.registry)
        // Compiled code goes to the test's directory, not the user's cache.
        .env("WHARF_CACHE_DIR", dir.join(".compiled"))
        // And the log keys pinned and checkpoints seen (docs/trust.md): a registry on a
        // port another test's registry had is another registry with another key.
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("XDG_STATE_HOME", dir.join(".state"))
        .env_remove("WHARF_CONFIG")
        .env_remove("WHARF_LOG_KEY")
        .env_remove("WHARF_TOKEN");
    if let Some(token) = token {
        command.env("WHARF_TOKEN", token);
    }
    command.output().unwrap()
}

pub fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `host:port` of a `http://host:port` URL.
pub fn authority(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

/// `len` bytes of a pattern that does not compress to nothing.
pub fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Pushes `bytes` into `repository` as one OCI blob (a monolithic `POST ?digest=`,
/// sent as a plain client sends it) and returns the path that downloads it.
pub fn push_blob(registry: &str, token: &str, repository: &str, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let addr = authority(registry);
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v2/{repository}/blobs/uploads/?digest={digest} HTTP/1.1\r\nhost: {addr}\r\n\
         authorization: Bearer {token}\r\ncontent-type: application/octet-stream\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        bytes.len()
    )
    .unwrap();
    stream.write_all(bytes).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 201"), "pushing the blob: {line}");
    format!("/v2/{repository}/blobs/{digest}")
}
