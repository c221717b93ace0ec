//! skopeo and oras, the generic OCI clients, against a real Wharf: an OCI image layout
//! copied in and back out byte for byte with skopeo, `skopeo inspect`, and a `.wasm`
//! pushed with the Wasm media types and pulled back with oras (oras-py from PyPI).

use std::path::Path;
use std::process::Command;

use serde_json::json;
use wharf_interop::{Running, require};
use wharf_types::Digest;

/// Writes an OCI image layout holding one Wasm artifact tagged `tag`; returns the
/// manifest's digest.
fn write_layout(dir: &Path, wasm: &[u8], tag: &str) -> Digest {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = Digest::of(bytes);
        std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        (digest, bytes.len())
    };
    let config = json!({"architecture": "wasm", "os": "wasip2", "layerDigests": [Digest::of(wasm).to_string()]}).to_string();
    let (config_digest, config_size) = put(config.as_bytes());
    let (layer_digest, layer_size) = put(wasm);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config_digest.to_string(), "size": config_size},
        "layers": [{"mediaType": "application/wasm", "digest": layer_digest.to_string(), "size": layer_size}],
    })
    .to_string();
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest.to_string(), "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    manifest_digest
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_a_layout_in_and_out_byte_for_byte() {
    require("skopeo", "apt-get install skopeo");
    let running = Running::start().await.unwrap();
    let token = running.token("alice").await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let wasm = wharf_bundled::component("json-transform").unwrap().bytes;
    let pushed = write_layout(&work.path().join("in"), wasm, "1.0.0");
    let remote = format!("docker://{}/acme/via-skopeo:1.0.0", running.host());
    run(Command::new("skopeo")
        .args([
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
        ])
        .arg(format!("alice:{token}"))
        .arg(format!("oci:{}:1.0.0", work.path().join("in").display()))
        .arg(&remote));

    // Pushed over OCI by a generic client, it is a package.
    let version: serde_json::Value =
        reqwest::get(running.url("/api/v1/packages/acme/via-skopeo/versions/1.0.0"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(version["digest"], Digest::of(wasm).to_string(), "{version}");

    let inspect: serde_json::Value = serde_json::from_str(&run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--raw",
        &remote,
    ])))
    .unwrap();
    assert_eq!(inspect["layers"][0]["mediaType"], "application/wasm");
    let raw = run(Command::new("skopeo").args(["inspect", "--tls-verify=false", "--raw", &remote]));
    assert_eq!(Digest::of(raw.as_bytes()), pushed, "served byte for byte");

    run(Command::new("skopeo")
        .args(["copy", "--preserve-digests", "--src-tls-verify=false"])
        .arg(&remote)
        .arg(format!("oci:{}:1.0.0", work.path().join("out").display())));
    let fetched = std::fs::read(
        work.path()
            .join("out/blobs/sha256")
            .join(Digest::of(wasm).hex()),
    )
    .unwrap();
    assert_eq!(fetched, wasm);
    assert!(
        work.path()
            .join("out/blobs/sha256")
            .join(pushed.hex())
            .exists(),
        "the manifest came back with its digest"
    );
}

const ORAS_SCRIPT: &str = r#"
import sys, oras.client, oras.provider
host, token, path, outdir = sys.argv[1:5]
client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="token")
client.login(username="alice", password=token, hostname=host)
target = f"{host}/acme/via-oras:2.0.0"
client.push(target=target, files=[f"{path}:application/wasm"],
            manifest_config="/dev/null:application/vnd.wasm.config.v0+json", disable_path_validation=True)
print("\n".join(client.pull(target=target, outdir=outdir)))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_pushes_a_wasm_artifact_and_pulls_it_back() {
    let probe = Command::new("python3")
        .args(["-c", "import oras"])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "the oras Python package is missing; run scripts/setup (it runs `pip install oras`)"
    );
    let running = Running::start().await.unwrap();
    let token = running.token("alice").await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let wasm = wharf_bundled::component("brotli").unwrap().bytes;
    let path = work.path().join("brotli.wasm");
    std::fs::write(&path, wasm).unwrap();
    let out = work.path().join("pulled");
    let pulled = run(Command::new("python3")
        .args(["-c", ORAS_SCRIPT, &running.host(), &token])
        .arg(&path)
        .arg(&out)
        .current_dir(work.path()));
    let file = pulled.lines().last().expect("oras pulled a file");
    assert_eq!(std::fs::read(file).unwrap(), wasm);
    let version: serde_json::Value =
        reqwest::get(running.url("/api/v1/packages/acme/via-oras/versions/2.0.0"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(version["digest"], Digest::of(wasm).to_string(), "{version}");
}
