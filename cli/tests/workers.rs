//! `wharf bundle --target workers` as a user runs it: the example gateway composed by
//! `wharf compose` from a directory registry of the bundled components, made into a
//! Workers bundle, and served by Cloudflare's runtime itself (npm's workerd, which
//! `scripts/setup` installs under `workers/`), which must give the answers written
//! down in interop/expected/gateway.txt; and deployables that import what a Worker
//! cannot serve refused, naming the imports and the plug that brought them.

mod common;

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};

const SECRET: &str = "a-secret-for-the-workers-test";

/// The crates of the components examples/gateway/wharf.toml composes.
const EXAMPLE: [&str; 5] = [
    "gateway",
    "jwt-auth",
    "json-schema",
    "json-transform",
    "flate",
];

/// The host-probe guest composed as a deployable's root, everything it imports allowed.
const PROBE: &str = r#"
    [deployable]
    name = "acme:probe"
    version = "1.0.0"
    root = { package = "wharf:host-probe", version = "*" }
    [host]
    allow = ["wasi:cli/*", "wasi:io/*", "wasi:clocks/*", "wasi:random/*", "wasi:http/*", "wasi:filesystem/*", "wasi:sockets/*"]
"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn wharf(dir: &Path, args: &[&str]) -> Output {
    common::wharf_in(dir, args)
}

/// `wharf compose` on the directory registry `registry()` lays out, writing `output`.
fn compose(dir: &Path, output: &str, more: &[&str]) -> Output {
    let args = [
        "compose",
        "--fs",
        "registry",
        "--cache-dir",
        "cache",
        "-o",
        output,
    ];
    wharf(dir, &[&args[..], more].concat())
}

fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `<dir>/registry/<namespace>/<name>/<version>.wasm` for each bundled component.
fn registry(dir: &Path, crate_names: &[&str]) {
    for crate_name in crate_names {
        let component = wharf_bundled::component(crate_name).unwrap();
        let (namespace, name) = component.package.split_once(':').unwrap();
        let folder = dir.join("registry").join(namespace).join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(format!("{}.wasm", component.version)),
            component.bytes,
        )
        .unwrap();
    }
}

/// npm's workerd, as scripts/setup installs it.
fn workerd() -> Command {
    let path = root().join("workers/node_modules/.bin/workerd");
    assert!(
        path.is_file(),
        "{} is missing: run ./scripts/setup, which installs npm's workerd",
        path.display()
    );
    Command::new(path)
}

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `workerd serve` of the bundle in `bundle` on a free port, with `env` in its
/// environment, once it answers; the base URL.
async fn serve(bundle: &Path, env: &[(&str, &str)]) -> (Served, String) {
    let port = free_port();
    let mut child = workerd()
        .current_dir(bundle)
        .args(["serve", "config.capnp", "--socket-addr"])
        .arg(format!("http=127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    // Generous: workerd compiles the core modules before it listens.
    let deadline = Instant::now() + Duration::from_secs(120);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("workerd exited with {status} before answering");
        }
        assert!(Instant::now() < deadline, "workerd never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (Served(child), base)
}

/// A bearer token the example's configuration accepts for ten minutes.
fn token() -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "i", "aud": "wharf-demo", "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// The nine written-down answers, without the comments.
fn expected() -> Vec<String> {
    std::fs::read_to_string(root().join("interop/expected/gateway.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// A request's answer in the form of interop/expected/gateway.txt.
async fn answer(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> String {
    let mut request = client.request(method.parse().unwrap(), format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
    };
    let (content_type, encoding) = (header("content-type"), header("content-encoding"));
    let raw = response.bytes().await.unwrap().to_vec();
    let body = if encoding == "gzip" {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    };
    format!(
        "{method} {path} {status} {content_type} {encoding} {}",
        String::from_utf8_lossy(&body)
    )
}

#[tokio::test]
async fn the_example_gateway_answers_on_workerd_as_written_down() {
    let dir = tempfile::tempdir().unwrap();
    registry(dir.path(), &EXAMPLE);
    let example = root().join("examples/gateway");
    std::fs::copy(example.join("wharf.toml"), dir.path().join("wharf.toml")).unwrap();
    succeeded(&compose(dir.path(), "edge.wasm", &[]));

    let schema = std::fs::read_to_string(example.join("schema.json")).unwrap();
    let transform = std::fs::read_to_string(example.join("transform.json")).unwrap();
    // Two variables as values in the configuration (the schema, quotes and newlines
    // and all), two taken from workerd's environment when it starts.
    let bundled = wharf(
        dir.path(),
        &[
            "bundle",
            "--target",
            "workers",
            "edge.wasm",
            "-o",
            "worker",
            "--json",
            "--env",
            "GATEWAY_JWT_AUDIENCE=wharf-demo",
            "--env",
            &format!("GATEWAY_SCHEMA={schema}"),
            "--env",
            "GATEWAY_JWT_SECRET",
            "--env",
            "GATEWAY_TRANSFORM",
        ],
    );
    succeeded(&bundled);
    let summary: serde_json::Value = serde_json::from_slice(&bundled.stdout).unwrap();
    assert_eq!(summary["name"], "wharf-edge");
    let files: Vec<&str> = (summary["files"].as_array().unwrap().iter())
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(files.contains(&"component.core.wasm"), "{files:?}");
    let wrangler = std::fs::read_to_string(dir.path().join("worker/wrangler.toml")).unwrap();
    let wrangler: toml::Table = wrangler.parse().unwrap();
    assert_eq!(wrangler["main"].as_str(), Some("worker.js"));
    assert_eq!(
        wrangler["vars"]["GATEWAY_SCHEMA"].as_str(),
        Some(&schema[..])
    );

    let (_served, base) = serve(
        &dir.path().join("worker"),
        &[
            ("GATEWAY_JWT_SECRET", SECRET),
            ("GATEWAY_TRANSFORM", &transform),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let token = token();
    let body = serde_json::to_vec(&serde_json::json!({
        "event": "  signed   up ",
        "user": {"id": 7, "email": "ann@example.com"},
        "pad": "x".repeat(900),
    }))
    .unwrap();
    let bearer = ("authorization", format!("Bearer {token}"));
    let json = ("content-type", "application/json".to_owned());
    let identity = ("accept-encoding", "identity".to_owned());
    let expected = expected();
    let get = |path| answer(&client, &base, "GET", path, &[], None);
    let post = |headers: Vec<(&'static str, String)>, body: &[u8]| {
        let (client, base, body) = (&client, &base, body.to_vec());
        async move { answer(client, base, "POST", "/v1/ingest", &headers, Some(body)).await }
    };

    assert_eq!(get("/healthz").await, expected[0]);
    let gzip = ("accept-encoding", "gzip".to_owned());
    assert_eq!(
        post(vec![bearer.clone(), json.clone(), gzip], &body).await,
        expected[1]
    );
    assert_eq!(
        post(vec![bearer.clone(), json.clone(), identity.clone()], &body).await,
        expected[2]
    );
    assert_eq!(
        post(vec![json.clone(), identity.clone()], &body).await,
        expected[3]
    );
    assert_eq!(
        post(
            vec![
                bearer.clone(),
                ("content-type", "text/plain".into()),
                identity.clone()
            ],
            &body
        )
        .await,
        expected[4]
    );
    assert_eq!(
        post(
            vec![bearer, json.clone(), identity.clone()],
            br#"{"event": 1}"#
        )
        .await,
        expected[5]
    );
    assert_eq!(
        post(
            vec![
                ("authorization", "Bearer not.a.token".into()),
                json,
                identity
            ],
            &body
        )
        .await,
        expected[6]
    );
    assert_eq!(get("/v1/ingest").await, expected[7]);
    assert_eq!(get("/nowhere").await, expected[8]);
}

#[test]
fn what_a_worker_cannot_serve_is_refused_naming_the_imports_and_the_plug() {
    let dir = tempfile::tempdir().unwrap();
    let probe = wharf_bundled::component("host-probe").unwrap();
    std::fs::write(dir.path().join("host-probe.wasm"), probe.bytes).unwrap();

    // The component alone: no provenance, so the imports without a plug.
    let refused = wharf(
        dir.path(),
        &[
            "bundle",
            "--target",
            "workers",
            "host-probe.wasm",
            "-o",
            "out",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    for import in [
        "wasi:sockets/tcp@0.2.6",
        "wasi:sockets/ip-name-lookup@0.2.6",
        "wasi:filesystem/preopens@0.2.6",
        "wasi:http/outgoing-handler@0.2.12",
    ] {
        assert!(message.contains(import), "{import}: {message}");
    }
    assert!(!message.contains("wasi:cli/environment"), "{message}");
    assert!(
        !dir.path().join("out").exists(),
        "a refused bundle writes nothing"
    );

    // Composed as a deployable, its provenance names the manifest key.
    registry(dir.path(), &["host-probe"]);
    std::fs::write(dir.path().join("wharf.toml"), PROBE).unwrap();
    succeeded(&compose(dir.path(), "probe.wasm", &[]));
    let refused = wharf(dir.path(), &["bundle", "--target", "workers", "probe.wasm"]);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("wasi:sockets/tcp@0.2.6 (imported by deployable.root)"),
        "{message}"
    );

    // `wharf compose --target workers` refuses it the same way, writing no deployable.
    let composed = compose(dir.path(), "refused.wasm", &["--target", "workers"]);
    assert_eq!(composed.status.code(), Some(1));
    let message = String::from_utf8_lossy(&composed.stderr);
    assert!(
        message.contains("wasi:filesystem/preopens@0.2.6 (imported by deployable.root)"),
        "{message}"
    );
    assert!(!dir.path().join("refused.wasm").exists());

    // An unknown target is a usage error naming the known ones.
    let unknown = wharf(dir.path(), &["bundle", "--target", "lambda", "probe.wasm"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("known: workers"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    // A target that runs a deployable as it is has no bundle.
    let proxy = wharf(dir.path(), &["bundle", "--target", "proxy", "probe.wasm"]);
    assert_eq!(proxy.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&proxy.stderr).contains("run a deployable as it is"),
        "{}",
        String::from_utf8_lossy(&proxy.stderr)
    );
}

/// The registry's `targets` for what `wharf compose` made, through the real server
/// and CLI: `wharf search --runs-on`, `wharf info` (of a package and of a file), and
/// for every target, the composer's `--target` agrees with the registry.
#[test]
fn the_registry_says_where_a_deployable_runs_as_the_composer_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = common::serve(data.path());
    registry(dir.path(), &[&EXAMPLE[..], &["host-probe"]].concat());
    let example = root().join("examples/gateway/wharf.toml");
    std::fs::copy(&example, dir.path().join("wharf.toml")).unwrap();
    succeeded(&compose(dir.path(), "edge.wasm", &[]));
    std::fs::create_dir(dir.path().join("probe")).unwrap();
    std::fs::write(dir.path().join("probe/wharf.toml"), PROBE).unwrap();
    let probe = ["-m", "probe/wharf.toml"];
    succeeded(&compose(dir.path(), "probe.wasm", &probe));
    let schema = wharf_bundled::component("json-schema").unwrap().bytes;
    std::fs::write(dir.path().join("json-schema.wasm"), schema).unwrap();
    let admin = Some("admin-secret-for-tests");
    let cli = |args: &[&str]| common::wharf(dir.path(), &server, admin, args);
    for (file, package) in [
        ("edge.wasm", "acme:edge@1.0.0"),
        ("probe.wasm", "acme:probe@1.0.0"),
        ("json-schema.wasm", "acme:json-schema@1.0.0"),
    ] {
        succeeded(&cli(&["publish", file, "--package", package]));
    }

    let found = |target: &str| -> Vec<String> {
        let found = common::json(&cli(&["search", "--runs-on", target, "--json"]));
        let mut names: Vec<String> = (found["packages"].as_array().unwrap().iter())
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(found("workers"), ["acme:edge"]);
    assert_eq!(found("proxy"), ["acme:edge", "acme:probe"]);
    let text = cli(&["search", "--runs-on", "workers"]);
    let listed = String::from_utf8_lossy(&text.stdout);
    assert!(
        listed.contains("acme:edge") && !listed.contains("acme:probe"),
        "{listed}"
    );
    let unknown = cli(&["search", "--runs-on", "lambda"]);
    assert_eq!(unknown.status.code(), Some(1));
    let message = common::stderr(&unknown);
    assert!(message.contains("TARGET_UNKNOWN"), "{message}");
    assert!(
        message.contains("proxy, command, workers, jco"),
        "{message}"
    );

    // `wharf info` says why a Worker cannot run the probe, naming the plug.
    let info = cli(&["info", "acme:probe"]);
    succeeded(&info);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("  workers  no    Cloudflare Workers"),
        "{info}"
    );
    assert!(
        info.contains("it imports wasi:sockets/tcp@0.2.6 (imported by deployable.root)"),
        "{info}"
    );
    assert!(
        info.contains("  proxy    runs  wasi:http/proxy hosts"),
        "{info}"
    );

    // The composer's `--target` and the registry never disagree.
    for (name, manifest) in [("acme:edge", &[][..]), ("acme:probe", &probe[..])] {
        let info = common::json(&cli(&["info", name, "--json"]));
        let targets = info["version"]["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 4, "{info}");
        for t in targets {
            let target = t["name"].as_str().unwrap();
            let checked = compose(
                dir.path(),
                "checked.wasm",
                &[manifest, &["--target", target]].concat(),
            );
            assert_eq!(
                checked.status.success(),
                t["runs"] == true,
                "{name} on {target}: the registry says {t}, the composer {}",
                String::from_utf8_lossy(&checked.stderr)
            );
        }
    }

    // `wharf info` on a local file gives the registry's verdict on the same bytes.
    for (file, name) in [
        ("edge.wasm", "acme:edge"),
        ("probe.wasm", "acme:probe"),
        ("json-schema.wasm", "acme:json-schema"),
    ] {
        let local = common::json(&cli(&["info", file, "--json"]));
        let published = common::json(&cli(&["info", name, "--json"]));
        assert_eq!(local["targets"], published["version"]["targets"], "{file}");
    }
    let info = cli(&["info", "probe.wasm"]);
    succeeded(&info);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("it imports wasi:sockets/tcp@0.2.6 (imported by deployable.root)"),
        "{info}"
    );
}

#[tokio::test]
async fn instances_are_fresh_per_request_unless_the_bundle_reuses_them() {
    let dir = tempfile::tempdir().unwrap();
    registry(dir.path(), &[&EXAMPLE[..], &["transform-probe"]].concat());
    // The example with transform-probe between the gateway and json-transform: it
    // answers `{"calls": N, "output": ...}`, N the calls its instance has served.
    let example = std::fs::read_to_string(root().join("examples/gateway/wharf.toml")).unwrap();
    let direct = r#""wharf:transform" = { package = "wharf:json-transform", version = "^1" }"#;
    assert!(example.contains(direct), "{example}");
    let probed = example.replace(
        direct,
        r#""wharf:transform" = { package = "wharf:transform-probe", version = "*", plugs = { "wharf:transform" = { package = "wharf:json-transform", version = "^1" } } }"#,
    );
    std::fs::write(dir.path().join("wharf.toml"), probed).unwrap();
    succeeded(&compose(dir.path(), "probed.wasm", &[]));
    let transform =
        std::fs::read_to_string(root().join("examples/gateway/transform.json")).unwrap();
    let transform = format!("GATEWAY_TRANSFORM={transform}");
    let token = token();
    for (flag, calls) in [(None, [1, 1, 1]), (Some("--reuse-instances"), [1, 2, 3])] {
        let out = format!("worker{}", flag.unwrap_or_default());
        let mut args = vec!["bundle", "--target", "workers", "probed.wasm", "-o", &out];
        args.extend(flag);
        args.extend([
            "--env",
            "GATEWAY_JWT_AUDIENCE=wharf-demo",
            "--env",
            "GATEWAY_JWT_SECRET",
            "--env",
            &transform,
        ]);
        succeeded(&wharf(dir.path(), &args));
        let (_served, base) =
            serve(&dir.path().join(&out), &[("GATEWAY_JWT_SECRET", SECRET)]).await;
        let client = reqwest::Client::new();
        let mut seen = Vec::new();
        for _ in calls {
            let answer = client
                .post(format!("{base}/v1/ingest"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(r#"{"event": "e", "user": {"id": 1}}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{flag:?}");
            let answer: serde_json::Value = answer.json().await.unwrap();
            seen.push(answer["calls"].as_u64().unwrap());
        }
        assert_eq!(seen, calls, "{flag:?}");
    }
}
