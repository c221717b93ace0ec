//! `publish`, `search`, `info`, `pull` and `yank` with the real binary against a real
//! `wharf serve`, as a user runs them; JSON shapes and the error paths included.

mod common;

use std::process::{Command, Stdio};

use common::{json, serve, stderr, wharf};

#[test]
fn publish_search_info_pull_and_yank() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let flate = wharf_bundled::component("flate").unwrap();
    std::fs::write(dir.path().join("flate.wasm"), flate.bytes).unwrap();
    std::fs::write(
        dir.path().join("compression.wasm"),
        wharf_bundled::wit_package("wharf:compression", "1.0.0")
            .unwrap()
            .bytes,
    )
    .unwrap();

    // Without a token the registry refuses, and the CLI says what to do.
    let refused = wharf(dir.path(), &server, None, &["publish", "flate.wasm"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("UNAUTHORIZED") && stderr(&refused).contains("WHARF_TOKEN"),
        "{}",
        stderr(&refused)
    );

    // A dry run shows the exports and uploads nothing; names come from the package.
    let dry = json(&wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["publish", "flate.wasm", "--dry-run", "--json"],
    ));
    assert_eq!(
        (dry["package"].as_str(), dry["version"].as_str()),
        (Some("wharf:flate"), Some("1.1.0"))
    );
    assert!(
        dry["exports"]
            .to_string()
            .contains("wharf:compression/codec@1.1.0")
    );
    let published = json(&wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["publish", "flate.wasm", "--json"],
    ));
    assert_eq!(
        published["digest"],
        wharf_types::Digest::of(flate.bytes).to_string()
    );
    let contract = json(&wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["publish", "compression.wasm", "--json"],
    ));
    assert_eq!(
        (contract["name"].as_str(), contract["kind"].as_str()),
        (Some("wharf:compression"), Some("wit"))
    );
    let again = wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["publish", "flate.wasm"],
    );
    assert!(
        stderr(&again).contains("VERSION_EXISTS"),
        "{}",
        stderr(&again)
    );

    let found = json(&wharf(
        dir.path(),
        &server,
        None,
        &["search", "gzip", "--json"],
    ));
    assert_eq!(found["packages"][0]["name"], "wharf:flate");
    let implementing = json(&wharf(
        dir.path(),
        &server,
        None,
        &[
            "search",
            "--implements",
            "wharf:compression/codec@1",
            "--json",
        ],
    ));
    assert_eq!(implementing["total"], 1);

    let info = json(&wharf(
        dir.path(),
        &server,
        None,
        &["info", "wharf:compression", "--json"],
    ));
    assert_eq!(info["implementors"][0]["name"], "wharf:flate");
    assert!(
        info["version"]["wit"]
            .as_str()
            .unwrap()
            .contains("interface codec")
    );
    let text = wharf(dir.path(), &server, None, &["info", "wharf:flate"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("exports:"));

    let pulled = json(&wharf(
        dir.path(),
        &server,
        None,
        &["pull", "wharf:flate@^1", "-o", "pulled.wasm", "--json"],
    ));
    assert_eq!(pulled["version"], "1.1.0");
    assert_eq!(
        std::fs::read(dir.path().join("pulled.wasm")).unwrap(),
        flate.bytes
    );
    let wit = wharf(dir.path(), &server, None, &["pull", "wharf:compression"]);
    assert!(wit.status.success(), "{}", stderr(&wit));
    assert!(
        std::fs::read_to_string(dir.path().join("compression.wit"))
            .unwrap()
            .contains("package wharf:compression@1.0.0;")
    );

    // Yanked: out of resolution, with the versions there are in the error.
    assert!(
        wharf(
            dir.path(),
            &server,
            Some("admin-secret-for-tests"),
            &["yank", "wharf:flate@1.1.0"]
        )
        .status
        .success()
    );
    let none = wharf(dir.path(), &server, None, &["pull", "wharf:flate@^1"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr(&none).contains("NO_MATCHING_VERSION"),
        "{}",
        stderr(&none)
    );
    assert!(
        wharf(
            dir.path(),
            &server,
            Some("admin-secret-for-tests"),
            &["unyank", "wharf:flate@1.1.0"]
        )
        .status
        .success()
    );
    assert!(
        wharf(dir.path(), &server, None, &["pull", "wharf:flate@^1"])
            .status
            .success()
    );

    let unknown = wharf(dir.path(), &server, None, &["info", "wharf:nothing"]);
    assert!(
        stderr(&unknown).contains("PACKAGE_UNKNOWN"),
        "{}",
        stderr(&unknown)
    );
    let bad_name = wharf(dir.path(), &server, None, &["pull", "Not-A-Name"]);
    assert_eq!(bad_name.status.code(), Some(1));
    let usage = wharf(dir.path(), &server, None, &["pull"]);
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");

    // A local deployable: its provenance.
    std::fs::write(dir.path().join("plain.wasm"), flate.bytes).unwrap();
    let local = json(&wharf(
        dir.path(),
        &server,
        None,
        &["info", "plain.wasm", "--json"],
    ));
    assert!(local["provenance"].is_null());
    assert!(local["exports"].to_string().contains("codec"));
}

#[test]
fn login_tokens_owners_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let config = dir.path().join("config/wharf.toml");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .current_dir(dir.path())
            .args(args)
            .env("WHARF_REGISTRY", &server.registry)
            .env("WHARF_CONFIG", &config)
            .env_remove("WHARF_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };

    // The admin token, stored by login (from stdin) in a file only its owner reads.
    assert!(
        run(&["login"], Some("admin-secret-for-tests\n"))
            .status
            .success()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let created = run(
        &[
            "token", "create", "ci", "--scope", "publish", "--scope", "owners", "--owner", "alice",
            "--json",
        ],
        None,
    );
    let created = json(&created);
    let alice = created["token_secret"].as_str().unwrap().to_owned();
    // A scope the registry does not know is refused before a request, naming the flag.
    let unknown = run(&["token", "create", "ci", "--scope", "publsh"], None);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("--scope")
            && stderr(&unknown).contains("`publsh` is not a scope"),
        "{}",
        stderr(&unknown)
    );
    let listed = json(&run(&["token", "list", "--json"], None));
    assert!(
        listed.as_array().unwrap().is_empty(),
        "the admin's own tokens: none"
    );

    // Alice publishes with her token (WHARF_TOKEN overrides the stored one) and owns acme.
    std::fs::write(
        dir.path().join("zip.wasm"),
        wharf_bundled::component("flate").unwrap().bytes,
    )
    .unwrap();
    let publish = wharf(
        dir.path(),
        &server,
        Some(&alice),
        &["publish", "zip.wasm", "--package", "acme:zip@1.0.0"],
    );
    assert!(publish.status.success(), "{}", stderr(&publish));
    let owners = |token: &str| {
        json(&wharf(
            dir.path(),
            &server,
            Some(token),
            &["owner", "list", "acme", "--json"],
        ))
    };
    assert_eq!(owners(&alice)["owners"], serde_json::json!(["alice"]));

    // Someone else's namespace: refused, with a hint at what is wrong.
    let eve = json(&run(
        &[
            "token", "create", "eve", "--scope", "publish", "--owner", "eve", "--json",
        ],
        None,
    ));
    let intruder = wharf(
        dir.path(),
        &server,
        eve["token_secret"].as_str(),
        &["publish", "zip.wasm", "--package", "acme:zip@1.0.1"],
    );
    assert_eq!(intruder.status.code(), Some(1));
    assert!(
        stderr(&intruder).contains("DENIED") && stderr(&intruder).contains("namespace"),
        "{}",
        stderr(&intruder)
    );
    assert!(
        wharf(
            dir.path(),
            &server,
            Some(&alice),
            &["owner", "add", "acme", "bob"]
        )
        .status
        .success()
    );
    assert_eq!(
        owners(&alice)["owners"],
        serde_json::json!(["alice", "bob"])
    );
    let last = wharf(
        dir.path(),
        &server,
        Some(&alice),
        &["owner", "remove", "acme", "alice"],
    );
    assert!(last.status.success());
    let only = wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["owner", "remove", "acme", "bob"],
    );
    assert!(stderr(&only).contains("LAST_OWNER"), "{}", stderr(&only));

    // Revoked, the token stops working; logout forgets the stored one.
    let id = created["id"].as_str().unwrap();
    assert!(run(&["token", "revoke", id], None).status.success());
    let revoked = wharf(
        dir.path(),
        &server,
        Some(&alice),
        &["owner", "add", "acme", "carol"],
    );
    assert!(
        stderr(&revoked).contains("UNAUTHORIZED"),
        "{}",
        stderr(&revoked)
    );
    assert!(run(&["logout"], None).status.success());
    let anonymous = run(&["token", "list"], None);
    assert!(
        stderr(&anonymous).contains("wharf login"),
        "{}",
        stderr(&anonymous)
    );

    let completions = run(&["completions", "bash"], None);
    assert!(String::from_utf8_lossy(&completions.stdout).contains("wharf"));
}
