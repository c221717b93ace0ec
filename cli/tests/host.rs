//! `wharf run --http` with the host's flags, on the real binary: limits and grants
//! from flags, metrics on their own port, and a restart that loads compiled code
//! from the cache instead of compiling.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    url: String,
    metrics: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(dir: &std::path::Path, extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .current_dir(dir)
        .args(["run", "probe.wasm", "--http", "127.0.0.1:0"])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args(extra)
        .env("WHARF_CACHE_DIR", dir.join("compiled"))
        .env("WHARF_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = |prefix: &str| {
        let line = lines.next().expect("a line").unwrap();
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"))
            .to_owned()
    };
    let url = format!("http://{}", next("serving http://"));
    let metrics = format!("http://{}", next("metrics http://"));
    Running {
        child,
        url,
        metrics,
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A deadline, a read-only directory and a variable.
const GRANTS: &[&str] = &[
    "--deadline",
    "300ms",
    "--dir",
    "data::/data:ro",
    "--env",
    "GREETING=hi",
];

#[tokio::test]
async fn flags_set_limits_and_grants_and_a_restart_loads_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let probe = wharf_bundled::component("host-probe").unwrap();
    std::fs::write(dir.path().join("probe.wasm"), probe.bytes).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/note.txt"), "hello from the host").unwrap();

    let first = run(dir.path(), GRANTS);
    assert_eq!(
        get(&format!("{}/env?GREETING", first.url)).await,
        (200, "hi".into())
    );
    assert_eq!(
        get(&format!("{}/read?/data/note.txt", first.url)).await,
        (200, "hello from the host".into())
    );
    assert_eq!(get(&format!("{}/write?/data/x", first.url)).await.0, 403);
    assert_eq!(get(&format!("{}/loop", first.url)).await.0, 504);
    let (status, metrics) = get(&first.metrics).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("wharf_host_limit_hits_total{limit=\"deadline\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("wharf_host_compilations_total 1"),
        "{metrics}"
    );
    drop(first);

    // A restart with the same grants loads the serving image (the probe has an
    // initializer) and its compiled code from the cache.
    let again = run(dir.path(), GRANTS);
    let (_, metrics) = get(&again.metrics).await;
    assert!(
        metrics.contains("wharf_host_compilations_total 0"),
        "{metrics}"
    );
    drop(again);

    // Nothing granted: the same requests are refused inside the guest.
    let second = run(dir.path(), &[]);
    assert_eq!(get(&format!("{}/env?GREETING", second.url)).await.0, 404);
    assert_eq!(
        get(&format!("{}/read?/data/note.txt", second.url)).await.0,
        403
    );
}

#[tokio::test]
async fn a_deploy_manifest_sets_limits_and_grants_and_flags_add_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let probe = wharf_bundled::component("host-probe").unwrap();
    std::fs::write(dir.path().join("probe.wasm"), probe.bytes).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/note.txt"), "granted by the manifest").unwrap();
    std::fs::write(
        dir.path().join("wharf.toml"),
        r#"[deployable]
name = "acme:probe"
version = "1.0.0"
root = { path = "probe.wasm" }

[limits]
deadline = "300ms"

[capabilities]
env = ["GREETING=from-manifest", "COLOUR=blue"]
dirs = ["data::/data:ro"]
"#,
    )
    .unwrap();

    let running = run(
        dir.path(),
        &["--manifest", "wharf.toml", "--env", "COLOUR=red"],
    );
    assert_eq!(
        get(&format!("{}/env?GREETING", running.url)).await,
        (200, "from-manifest".into())
    );
    // A flag overrides the manifest's value of the same variable.
    assert_eq!(
        get(&format!("{}/env?COLOUR", running.url)).await,
        (200, "red".into())
    );
    assert_eq!(
        get(&format!("{}/read?/data/note.txt", running.url)).await,
        (200, "granted by the manifest".into())
    );
    assert_eq!(get(&format!("{}/write?/data/x", running.url)).await.0, 403);
    assert_eq!(get(&format!("{}/loop", running.url)).await.0, 504);
    drop(running);

    // A grant the manifest spells wrong stops the run and names the field and line.
    std::fs::write(
        dir.path().join("bad.toml"),
        "[deployable]\nname = \"acme:probe\"\nversion = \"1.0.0\"\nroot = { path = \"probe.wasm\" }\n[capabilities]\nenv = [\"=oops\"]\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .current_dir(dir.path())
        .args([
            "run",
            "probe.wasm",
            "--http",
            "127.0.0.1:0",
            "--manifest",
            "bad.toml",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml is not a valid deploy manifest"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`=oops` is not KEY or KEY=VALUE"),
        "{stderr}"
    );
}
