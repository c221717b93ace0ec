//! The web pages in a real browser: a real server on a free port, seeded with the
//! bundled contracts and components, the example gateway composed against it with
//! wharf-compose and published as a deployable, a package whose description is
//! a script, and the host-probe guest (which Workers cannot run); then `web-tests/browser.mjs` drives headless Chromium (playwright-core)
//! through the pages and writes screenshots to a directory of this run's own under
//! `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `web-tests/node_modules`: `./scripts/setup` installs
//! both. Without them the test fails and says so; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_compose::{Cache, LockMode, Manifest, OciResolver, RegistryConfig};

const ADMIN: &str = "browser-test-admin";

/// A description no page may run.
pub const SCRIPTED: &str = "<script>window.__wharfOwned = true; document.title = 'owned'</script>Compresses <b>nothing</b>";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where this run's screenshots go: a directory made for it, `run-<unix ms>-<pid>`,
/// under `$WHARF_SCREENSHOTS`, else under `screenshots/` in the target dir. It did not
/// exist before (`create_dir` refuses one that does), so no earlier run's files can
/// pass for this run's.
fn screenshot_dir() -> PathBuf {
    let base = match std::env::var_os("WHARF_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            let target = if target.is_relative() {
                repo_root().join(target)
            } else {
                target
            };
            target.join("screenshots")
        }
    };
    std::fs::create_dir_all(&base).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let run = base.join(format!("run-{now}-{}", std::process::id()));
    std::fs::create_dir(&run).unwrap_or_else(|e| panic!("{}: {e}", run.display()));
    run
}

async fn publish(host: &str, name: &str, version: &str, bytes: Vec<u8>) {
    let (ns, n) = name.split_once(':').unwrap();
    let reply = reqwest::Client::new()
        .put(format!(
            "http://{host}/api/v1/packages/{ns}/{n}/versions/{version}"
        ))
        .bearer_auth(ADMIN)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = reply.status();
    assert!(
        status.is_success(),
        "{name}@{version}: {status} {}",
        reply.text().await.unwrap()
    );
}

/// The registry as `wharf up` leaves it, plus a deployable, a hostile package and the
/// host-probe guest.
async fn seed(host: &str, work: &Path) {
    let mut packages: Vec<_> = wharf_bundled::WIT_PACKAGES.iter().collect();
    packages.sort_by_key(|p| (p.package, semver::Version::parse(p.version).unwrap()));
    for p in packages {
        publish(host, p.package, p.version, p.bytes.to_vec()).await;
    }
    for c in wharf_bundled::COMPONENTS {
        publish(host, c.package, c.version, c.bytes.to_vec()).await;
    }

    // The example gateway, composed against this registry over OCI, as `wharf up` does.
    let manifest_path = repo_root().join("examples/gateway/wharf.toml");
    let manifest: Manifest = std::fs::read_to_string(&manifest_path)
        .unwrap()
        .parse()
        .unwrap();
    let resolver = OciResolver::new(&RegistryConfig {
        registry: host.to_owned(),
        insecure_http: true,
        token: Some(ADMIN.into()),
    })
    .unwrap();
    let lock = wharf_compose::resolve(&manifest, None, &resolver, LockMode::Reuse)
        .await
        .unwrap();
    let cache = Cache::new(work.join("cache"));
    let dir = manifest_path.parent().unwrap();
    let constituents = wharf_compose::load(&manifest, dir, &lock, &resolver, &cache)
        .await
        .unwrap();
    let deployable = wharf_compose::compose(&manifest, &constituents).unwrap();
    let name = manifest.deployable.name.to_string();
    publish(
        host,
        &name,
        &manifest.deployable.version.to_string(),
        deployable,
    )
    .await;

    let mut metadata = wasm_metadata::AddMetadata::default();
    metadata.description =
        wasm_metadata::AddMetadataField::Set(wasm_metadata::Description::new(SCRIPTED));
    let scripted = metadata
        .to_wasm(wharf_bundled::component("flate").unwrap().bytes)
        .unwrap();
    publish(host, "mallory:scripted", "1.0.0", scripted).await;

    // A component that imports sockets and a filesystem: Workers refuse it.
    let probe = wharf_bundled::component("host-probe")
        .unwrap()
        .bytes
        .to_vec();
    publish(host, "acme:host-probe", "1.0.0", probe).await;
}

/// What the browser needs, or a failure saying how to get it.
fn check_prerequisites(web_tests: &Path) -> PathBuf {
    let chromium = std::env::var_os("WHARF_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        chromium.exists(),
        "{} is missing: run ./scripts/setup (it installs Debian's chromium)",
        chromium.display()
    );
    assert!(
        web_tests.join("node_modules/playwright-core").exists(),
        "{} is missing: run ./scripts/setup (it runs `npm ci --prefix web-tests`)",
        web_tests.join("node_modules/playwright-core").display()
    );
    chromium
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_finds_reads_and_compares_packages() {
    let web_tests = repo_root().join("web-tests");
    let chromium = check_prerequisites(&web_tests);

    let dir = tempfile::tempdir().unwrap();
    let mut config = wharf_registry::Config::new(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_token = Some(ADMIN.into());
    let server = wharf_registry::Server::bind(config).await.unwrap();
    let host = server.local_addr().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    seed(&host, dir.path()).await;

    let screenshots = screenshot_dir();
    let (base, shots) = (format!("http://{host}"), screenshots.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(web_tests.join("browser.mjs"))
            .arg(&base)
            .arg(&shots)
            .env("WHARF_CHROMIUM", &chromium)
            .env("WHARF_SCRIPTED_DESCRIPTION", SCRIPTED)
            .output()
            .expect("node runs: run ./scripts/setup (it installs Node.js and npm when missing)")
    })
    .await
    .unwrap();
    let _ = stop.send(());
    running.await.unwrap().unwrap();

    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the browser tests failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // Written by this run (the directory is new), and pictures: PNG files.
    for shot in ["home.png", "package.png", "deployable.png", "targets.png"] {
        let bytes = std::fs::read(screenshots.join(shot))
            .unwrap_or_else(|e| panic!("no {shot} in {}: {e}", screenshots.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{shot} is not a PNG"
        );
    }
    println!("screenshots: {}", screenshots.display());
}
