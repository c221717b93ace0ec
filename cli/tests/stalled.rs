//! A client that stops in the middle of its request head holds its connection only
//! until the header read timeout, while everyone else is served; connections past the
//! cap wait for a free slot. `wharf serve` and `wharf run --http` alike, with
//! `--header-read-timeout` and `--max-connections`.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::raw::{get, stall, until_closed};

const TIMEOUT: Duration = Duration::from_secs(1);

/// Starts `wharf <args>` and reads the address from the first line it prints.
fn start(args: &[&str], dir: &std::path::Path) -> (Child, String) {
    let (child, line) = common::announced::spawn_announced(
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args(args)
            .env("WHARF_LOG", "error")
            .env("WHARF_CACHE_DIR", dir.join("compiled")),
    );
    let addr = line.rsplit("http://").next().unwrap().to_owned();
    (child, addr)
}

/// Run against a server started with a 1 s header read timeout and 2 connections.
fn stalled_clients_are_cut_off_and_the_cap_holds(addr: &str, path: &str) {
    // One stalled client: the others are served meanwhile, and it is cut off, never
    // answered, once its second is up.
    let started = Instant::now();
    let stalled = stall(addr);
    let answer = get(addr, path);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let cut = until_closed(stalled, Duration::from_secs(10));
    assert!(!cut.contains(" 200 "), "{cut}");
    assert!(started.elapsed() >= TIMEOUT, "{:?}", started.elapsed());

    // Two stalled clients fill both slots: a third waits until the timeout frees one.
    let started = Instant::now();
    let (_a, _b) = (stall(addr), stall(addr));
    let answer = get(addr, path);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= TIMEOUT,
        "served past the cap after {:?}",
        started.elapsed()
    );
}

#[test]
fn serve_cuts_off_stalled_clients_and_caps_connections() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("registry");
    let (mut child, addr) = start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--header-read-timeout",
            "1s",
            "--max-connections",
            "2",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        dir.path(),
    );
    stalled_clients_are_cut_off_and_the_cap_holds(&addr, "/healthz");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn run_http_cuts_off_stalled_clients_and_caps_connections() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("probe.wasm");
    std::fs::write(&wasm, wharf_bundled::component("host-probe").unwrap().bytes).unwrap();
    let (mut child, addr) = start(
        &[
            "run",
            "--http",
            "127.0.0.1:0",
            "--header-read-timeout",
            "1s",
            "--max-connections",
            "2",
            wasm.to_str().unwrap(),
        ],
        dir.path(),
    );
    stalled_clients_are_cut_off_and_the_cap_holds(&addr, "/hello");
    let _ = child.kill();
    let _ = child.wait();
}
