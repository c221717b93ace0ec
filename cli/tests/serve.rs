//! The real `wharf serve` binary on port 0: it starts on embedded defaults, answers,
//! keeps what was published across a restart, and stops cleanly on SIGTERM; it refuses
//! to start with an admin token anyone could guess.

#[path = "common/announced.rs"]
mod announced;
#[path = "common/refused.rs"]
mod refused;
#[path = "common/tools.rs"]
mod tools;

use std::process::{Child, Command};

use tools::tool;

struct Served {
    child: Child,
    url: String,
}

fn serve(data_dir: &std::path::Path) -> Served {
    let (child, line) = announced::spawn_announced(
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                "admin-secret-for-tests",
            ])
            .arg("--data-dir")
            .arg(data_dir),
    );
    let url = line.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    Served { child, url }
}

impl Served {
    fn stop(mut self) -> std::process::ExitStatus {
        terminate(self.child.id());
        self.child.wait().unwrap()
    }
}

fn terminate(pid: u32) {
    tool("kill", "Debian's procps")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

#[tokio::test]
async fn serve_starts_on_defaults_publishes_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let served = serve(dir.path());
    let health: serde_json::Value = client
        .get(format!("{}/healthz", served.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    let flate = wharf_bundled::component("flate").unwrap();
    let published = client
        .put(format!(
            "{}/api/v1/packages/wharf/flate/versions/{}",
            served.url, flate.version
        ))
        .bearer_auth("admin-secret-for-tests")
        .body(flate.bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 201);
    assert!(served.stop().success(), "a clean exit on SIGTERM");
    assert!(
        dir.path().join("wharf.db").exists(),
        "SQLite lives in the data directory"
    );

    let served = serve(dir.path());
    let content = client
        .get(format!(
            "{}/api/v1/packages/wharf/flate/versions/{}/content",
            served.url, flate.version
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 200);
    assert_eq!(&content.bytes().await.unwrap()[..], flate.bytes);
    served.stop();
}

#[test]
fn serve_refuses_an_empty_or_short_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |token: Option<&str>, env: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env_remove("WHARF_ADMIN_TOKEN");
        if let Some(token) = token {
            command.args(["--admin-token", token]);
        }
        if let Some(env) = env {
            command.env("WHARF_ADMIN_TOKEN", env);
        }
        refused::refused_start(command)
    };
    for token in ["", "   ", "admin-secret"] {
        let stderr = serve(Some(token), None);
        assert!(
            stderr.contains("`--admin-token` / WHARF_ADMIN_TOKEN")
                && stderr.contains("at least 16 characters"),
            "{token:?}: {stderr}"
        );
    }
    for variable in ["", "short"] {
        let stderr = serve(None, Some(variable));
        assert!(
            stderr.contains("WHARF_ADMIN_TOKEN") && stderr.contains("at least 16 characters"),
            "{variable:?}: {stderr}"
        );
    }
}

#[test]
fn serve_names_its_public_url_in_the_token_realm_whatever_the_host_header() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (mut child, line) = announced::spawn_announced(
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--public-url",
                "https://wasm.example.test/",
                "--data-dir",
            ])
            .arg(dir.path())
            .env_remove("WHARF_ADMIN_TOKEN"),
    );
    let addr = line.rsplit("http://").next().unwrap().to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /v2/ HTTP/1.1\r\nhost: attacker.example.test\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        answer.contains(r#"realm="https://wasm.example.test/v2/token""#)
            && !answer.contains("attacker"),
        "{answer}"
    );

    // A public URL that is no http(s) origin stops the start, naming the flag.
    let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--public-url"])
        .arg("wasm.example.test")
        .arg("--data-dir")
        .arg(dir.path());
    let stderr = refused::refused_start(command);
    assert!(
        stderr.contains("--public-url") && stderr.contains("has no scheme"),
        "{stderr}"
    );
}
