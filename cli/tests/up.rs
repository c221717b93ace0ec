//! `wharf up` as the README runs it: it reaches "ready", the `curl` line it prints
//! answers 200 with the transformed body, it stops cleanly on SIGTERM, and a second
//! run on the same data directory republishes nothing and is ready again. An empty
//! secret file in the data directory stops it rather than letting anyone in, and so
//! does a manifest whose `[trust]` policy its packages do not meet.

#[path = "common/refused.rs"]
mod refused;
#[path = "common/tools.rs"]
mod tools;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use tools::tool;

struct Up {
    child: Child,
    deployable_page: String,
    token: String,
    url: String,
    stderr: std::thread::JoinHandle<String>,
}

/// `wharf up` on loopback ports picked by the system, with its data in `data_dir` and
/// its compiled code in `cache`.
fn up_command(data_dir: &std::path::Path, cache: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
    command
        .args([
            "up",
            "--registry-listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("WHARF_LOG", "error")
        .env("WHARF_CACHE_DIR", cache);
    command
}

// The child is waited for in `Up::stop`.
#[allow(clippy::zombie_processes)]
fn up(data_dir: &std::path::Path) -> Up {
    let mut child = up_command(data_dir, &data_dir.join("compiled"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ready = false;
    let mut deployable_page = String::new();
    loop {
        let line = lines.next().expect("wharf up printed a curl line").unwrap();
        ready |= line == "ready";
        if let Some(url) = line.trim().strip_prefix("deployable ") {
            deployable_page = url.trim().to_owned();
        }
        if let Some(rest) = line.strip_prefix("curl ") {
            assert!(ready, "`ready` comes before the curl line");
            let token = rest
                .split("Bearer ")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap()
                .to_owned();
            let url = rest.rsplit(' ').next().unwrap().to_owned();
            return Up {
                child,
                deployable_page,
                token,
                url,
                stderr,
            };
        }
    }
}

impl Up {
    async fn ingest(&self) -> (u16, String) {
        let reply = reqwest::Client::new()
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(r#"{"event": "signed  up", "user": {"id": 7, "email": "ann@example.com"}}"#)
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), reply.text().await.unwrap())
    }

    fn stop(mut self) -> String {
        tool("kill", "Debian's procps")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(
            self.child.wait().unwrap().success(),
            "a clean exit on SIGTERM"
        );
        self.stderr.join().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_example_and_a_second_run_reuses_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    // A data directory `up` makes itself.
    let data = dir.path().join("data");
    let first = up(&data);
    let (status, body) = first.ingest().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        r#"{"event":"signed up","user":{"email":"[redacted]","id":7}}"#
    );
    // The deployable is published too: its page lists what it is made of.
    let page = reqwest::get(&first.deployable_page).await.unwrap();
    assert_eq!(page.status(), 200, "{}", first.deployable_page);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("wharf:jwt-auth") && page.contains("wharf:flate"),
        "{page}"
    );
    let log = first.stop();
    assert!(
        log.contains("Published 13 packages (0 were there already)"),
        "{log}"
    );
    // Private: the directory to its user, and the secrets, the bearer-signing key and
    // the database in it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        for file in ["admin-token", "gateway-secret", "token-key", "wharf.db"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }

    let second = up(&data);
    assert_eq!(second.ingest().await.0, 200);
    let log = second.stop();
    assert!(
        log.contains("Published 0 packages (13 were there already)"),
        "{log}"
    );
}

#[test]
fn up_refuses_an_empty_or_short_admin_token_file() {
    for content in ["", "\n", "short\n"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin-token");
        std::fs::write(&file, content).unwrap();
        let command = up_command(dir.path(), &dir.path().join("compiled"));
        let stderr = refused::refused_start(command);
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains("at least 16"),
            "{content:?}: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            content,
            "left as it was"
        );
    }
}

/// The admin token is made with its private mode in the call that creates the file,
/// and only where nothing is: a link planted at its path (which a write-then-chmod
/// would follow, leaving the secret readable elsewhere) stops the start.
#[cfg(unix)]
#[test]
fn up_never_writes_its_admin_token_through_a_planted_link() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("stolen");
    let file = dir.path().join("admin-token");
    std::os::unix::fs::symlink(&target, &file).unwrap();
    let command = up_command(dir.path(), &dir.path().join("compiled"));
    let stderr = refused::refused_start(command);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(!target.exists(), "the secret was written through the link");
}

/// A manifest's `[trust]` signature policy holds in `wharf up` as in `wharf compose`:
/// the bundled packages are unsigned, so a manifest requiring signatures of every
/// constituent stops it before it serves, naming the root.
#[test]
fn up_holds_a_manifests_trust_policy() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("wharf.toml");
    std::fs::write(
        &manifest,
        format!(
            "{}\n[trust]\nrequire-signatures = \"all\"\n",
            include_str!("../../examples/gateway/wharf.toml")
        ),
    )
    .unwrap();
    let mut command = up_command(&dir.path().join("data"), &dir.path().join("compiled"));
    command.arg("--manifest").arg(&manifest);
    let stderr = refused::refused_start(command);
    assert!(
        stderr.contains("deployable.root") && stderr.contains("is not signed by a trusted key"),
        "{stderr}"
    );
}
