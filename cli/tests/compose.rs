//! `wharf compose` and `wharf update` as a user runs them, on a directory registry of
//! the bundled components: compose writes the lock and the deployable, `--locked`
//! holds to the lock, `update` moves it, and mistakes exit 1 with the manifest key.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn wharf(dir: &Path, args: &[&str]) -> Output {
    common::wharf_in(dir, args)
}

fn registry(dir: &Path, crate_name: &str, version: &str) {
    let component = wharf_bundled::component(crate_name).unwrap();
    let (namespace, name) = component.package.split_once(':').unwrap();
    let folder = dir.join("registry").join(namespace).join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(format!("{version}.wasm")), component.bytes).unwrap();
}

use common::GATEWAY_MANIFEST as MANIFEST;

#[test]
fn compose_locks_and_update_moves_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    for (crate_name, version) in [
        ("gateway", "1.0.0"),
        ("jwt-auth", "1.0.0"),
        ("json-schema", "1.0.0"),
        ("json-transform", "1.0.0"),
        ("flate", "1.1.0"),
    ] {
        registry(dir.path(), crate_name, version);
    }
    std::fs::write(dir.path().join("wharf.toml"), MANIFEST).unwrap();
    let args = ["--fs", "registry", "--cache-dir", "cache"];

    let composed = wharf(dir.path(), &[&["compose", "--json"][..], &args].concat());
    assert!(
        composed.status.success(),
        "{}",
        String::from_utf8_lossy(&composed.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&composed.stdout).unwrap();
    assert_eq!(summary["deployable"], "acme:edge@1.0.0");
    assert!(
        summary["imports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.as_str().unwrap().starts_with("wasi:"))
    );
    let first = std::fs::read(dir.path().join("edge.wasm")).unwrap();
    let lock = std::fs::read_to_string(dir.path().join("wharf.lock")).unwrap();
    assert!(lock.contains("version = \"1.1.0\""), "{lock}");

    // A newer flate appears; --locked keeps 1.1.0 and the same bytes.
    registry(dir.path(), "flate", "1.2.0");
    let locked = wharf(dir.path(), &[&["compose", "--locked"][..], &args].concat());
    assert!(
        locked.status.success(),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );
    assert_eq!(
        std::fs::read(dir.path().join("edge.wasm")).unwrap(),
        first,
        "the same lock gives the same bytes"
    );

    let updated = wharf(dir.path(), &[&["update", "--json"][..], &args].concat());
    assert!(
        updated.status.success(),
        "{}",
        String::from_utf8_lossy(&updated.stderr)
    );
    let changes: serde_json::Value = serde_json::from_slice(&updated.stdout).unwrap();
    assert_eq!(
        changes,
        serde_json::json!([{"package": "wharf:flate", "requirement": "^1", "from": "1.1.0", "to": "1.2.0"}])
    );

    // A requirement nothing satisfies names the key and lists what there is.
    std::fs::write(
        dir.path().join("wharf.toml"),
        MANIFEST.replace(
            r#""wharf:flate", version = "^1""#,
            r#""wharf:flate", version = "^7""#,
        ),
    )
    .unwrap();
    let failed = wharf(dir.path(), &[&["compose"][..], &args].concat());
    assert_eq!(failed.status.code(), Some(1));
    let message = String::from_utf8_lossy(&failed.stderr);
    assert!(
        message.contains("wharf:compression")
            && message.contains("1.1.0")
            && message.contains("1.2.0"),
        "{message}"
    );
    // A misspelt table is an error that names it.
    std::fs::write(
        dir.path().join("wharf.toml"),
        MANIFEST.replace("[host]", "[hosts]"),
    )
    .unwrap();
    let typo = wharf(dir.path(), &[&["compose"][..], &args].concat());
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("hosts"),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_compose_then_run_serves_the_deployable() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    for (crate_name, version) in [
        ("gateway", "1.0.0"),
        ("jwt-auth", "1.0.0"),
        ("json-schema", "1.0.0"),
        ("json-transform", "1.0.0"),
        ("flate", "1.1.0"),
    ] {
        registry(dir.path(), crate_name, version);
    }
    let init = wharf(dir.path(), &["init", "--name", "acme:shop"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(
        std::fs::read_to_string(dir.path().join("wharf.toml"))
            .unwrap()
            .contains("name = \"acme:shop\"")
    );
    let again = wharf(dir.path(), &["init"]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "init does not overwrite without --force"
    );
    let composed = wharf(
        dir.path(),
        &["compose", "--fs", "registry", "--cache-dir", "cache"],
    );
    assert!(
        composed.status.success(),
        "{}",
        String::from_utf8_lossy(&composed.stderr)
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .current_dir(dir.path())
        .args([
            "run",
            "shop.wasm",
            "--http",
            "127.0.0.1:0",
            "--env",
            "GATEWAY_JWT_SECRET=s3cret",
        ])
        .env("WHARF_CACHE_DIR", dir.path().join(".compiled"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("serving ")
        .expect("the address is printed")
        .to_owned();
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // Without a token: the deployable itself answers 401.
    let refused = reqwest::Client::new()
        .post(format!("{url}/v1/ingest"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    child.kill().unwrap();
    child.wait().unwrap();
}
