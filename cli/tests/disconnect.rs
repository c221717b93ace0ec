//! A client that goes away in the middle of a download costs its own connection only:
//! `wharf serve`, `wharf up` and `wharf run --http` keep serving. (Serving commands
//! keep SIGPIPE ignored; with it at its default the kernel killed the whole process,
//! exit status 141, when hyper's `writev` met a closed connection.)

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::raw::vanish_mid_download;

/// 16 MiB: far more than loopback's socket buffers hold, so the server is still
/// writing when the client goes.
const BIG: usize = 16 << 20;

/// The process is still running and `addr` still answers `path` with 200.
fn still_serving(child: &mut Child, addr: &str, path: &str) {
    // Give a dying process the moment it needs to be reaped.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "the server exited when a client went away"
    );
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
}

/// Pushes `BIG` bytes as an OCI blob and returns the path that downloads it.
fn push_big_blob(registry: &str, token: &str) -> String {
    common::push_blob(registry, token, "test/big", &common::patterned(BIG))
}

#[test]
fn serve_keeps_serving_when_a_client_vanishes_mid_download() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::serve(dir.path());
    let blob = push_big_blob(&server.registry, "admin-secret-for-tests");
    let addr = common::authority(&server.registry).to_owned();
    vanish_mid_download(&addr, &blob, Some("admin-secret-for-tests"), 20);
    still_serving(server.child(), &addr, "/healthz");
}

#[test]
fn up_keeps_serving_when_a_client_vanishes_mid_download() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args([
            "up",
            "--registry-listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .env("WHARF_LOG", "error")
        .env("WHARF_CACHE_DIR", dir.path().join("compiled"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut registry = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("registry") {
            registry = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.starts_with("curl ") {
            break;
        }
    }
    let registry = registry.expect("wharf up printed its registry");
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let blob = push_big_blob(&registry, token.trim());
    let addr = common::authority(&registry).to_owned();
    vanish_mid_download(&addr, &blob, Some(token.trim()), 20);
    still_serving(&mut child, &addr, "/healthz");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn run_http_keeps_serving_when_a_client_vanishes_mid_download() {
    let dir = tempfile::tempdir().unwrap();
    let probe = wharf_bundled::component("host-probe").unwrap();
    let wasm = dir.path().join("probe.wasm");
    std::fs::write(&wasm, probe.bytes).unwrap();
    let mut child = run_http(dir.path(), &wasm);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().trim_start_matches("serving http://").to_owned();
    // The probe answers `/big?N` with N KiB.
    vanish_mid_download(&addr, &format!("/big?{}", BIG >> 10), None, 20);
    still_serving(&mut child, &addr, "/hello");
    let _ = child.kill();
    let _ = child.wait();
}

fn run_http(dir: &Path, wasm: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["run", "--http", "127.0.0.1:0"])
        .arg(wasm)
        .env("WHARF_LOG", "error")
        .env("WHARF_CACHE_DIR", dir.join("compiled"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}
