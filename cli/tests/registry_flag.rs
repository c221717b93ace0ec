//! One `--registry` for every command that talks to a registry (issue #16):
//! `host:port` and `http(s)://host[:port]` alike, in `search` (the JSON API) and
//! `compose` (OCI, through wasm-pkg-client); the token `wharf login` stored for the
//! registry is used whichever form names it; and a value that names no registry is
//! refused before anything is sent, saying what is wrong.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const ADMIN: &str = "admin-secret-for-tests";

/// A deployable of one component, which needs nothing but WASI.
const MANIFEST: &str = r#"
[deployable]
name = "acme:zip"
version = "1.0.0"
root = { package = "wharf:flate", version = "^1" }

[host]
allow = ["wasi:cli/*", "wasi:io/*", "wasi:clocks/*", "wasi:random/*", "wasi:filesystem/*"]
"#;

/// `wharf <args>` in `dir` as a user runs it: no `WHARF_TOKEN` and no
/// `WHARF_REGISTRY`, so only `--registry` and what `wharf login` stored count.
fn wharf(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .current_dir(dir)
        .args(args)
        .env("WHARF_CONFIG", dir.join("config.toml"))
        .env_remove("WHARF_TOKEN")
        .env_remove("WHARF_REGISTRY")
        .output()
        .unwrap()
}

fn succeeded(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what}: {}",
        common::stderr(output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn search_and_compose_take_either_form_and_the_stored_token() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // A private registry: nothing is read without the token.
    let server = common::serve_with(dir, &["--private"]);
    let url = server.registry.clone();
    let authority = common::authority(&url).to_owned();
    std::fs::write(
        dir.join("flate.wasm"),
        wharf_bundled::component("flate").unwrap().bytes,
    )
    .unwrap();
    succeeded(
        "publishing",
        &common::wharf(
            dir,
            &server,
            Some(ADMIN),
            &["publish", "flate.wasm", "--package", "wharf:flate@1.1.0"],
        ),
    );
    std::fs::write(dir.join("wharf.toml"), MANIFEST).unwrap();

    // Without a stored token the registry refuses both, so their success below is the
    // stored token's doing.
    let refused = wharf(dir, &["search", "flate", "--registry", &authority]);
    assert!(!refused.status.success());
    assert!(
        common::stderr(&refused).contains("UNAUTHORIZED"),
        "{}",
        common::stderr(&refused)
    );
    let refused = wharf(
        dir,
        &[
            "compose",
            "--registry",
            &authority,
            "--cache-dir",
            "cache-0",
        ],
    );
    assert!(!refused.status.success());

    succeeded(
        "login",
        &wharf(dir, &["login", "--registry", &authority, ADMIN]),
    );
    for (i, form) in [authority.clone(), url.clone(), format!("{url}/")]
        .iter()
        .enumerate()
    {
        let found = succeeded(
            &format!("search --registry {form}"),
            &wharf(dir, &["search", "flate", "--json", "--registry", form]),
        );
        assert!(
            found.contains("wharf:flate"),
            "search --registry {form}: {found}"
        );
        // A cache of its own each time, so that every compose fetches from the registry.
        let output = format!("zip-{i}.wasm");
        let cache = format!("cache-{i}");
        let composed = succeeded(
            &format!("compose --registry {form}"),
            &wharf(
                dir,
                &[
                    "compose",
                    "--json",
                    "--registry",
                    form,
                    "-o",
                    &output,
                    "--cache-dir",
                    &cache,
                ],
            ),
        );
        let summary: serde_json::Value = serde_json::from_str(&composed).unwrap();
        assert_eq!(summary["deployable"], "acme:zip@1.0.0", "{composed}");
        assert!(dir.join(&output).is_file());
    }

    // Logging out with the URL forgets the token stored under `host:port`.
    succeeded("logout", &wharf(dir, &["logout", "--registry", &url]));
    let refused = wharf(dir, &["search", "flate", "--registry", &authority]);
    assert!(
        common::stderr(&refused).contains("UNAUTHORIZED"),
        "{}",
        common::stderr(&refused)
    );
}

#[test]
fn a_registry_that_is_no_registry_is_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 5] = [
        &["search", "flate"],
        &["compose"],
        &["update"],
        &["pull", "wharf:flate"],
        &["login", "some-token"],
    ];
    for command in commands {
        for (registry, says) in [
            ("ftp://r.example", "unknown scheme `ftp`"),
            ("http://r.example/v2", "has a path"),
            ("r.example:http", "`http` is not a port"),
            ("", "names no host"),
        ] {
            let output = wharf(dir.path(), &[command, &["--registry", registry]].concat());
            let stderr = common::stderr(&output);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command:?} {registry}: {stderr}"
            );
            assert!(
                stderr.contains(says) && stderr.contains("`http(s)://host[:port]`"),
                "{command:?} --registry {registry:?}: {stderr}"
            );
        }
    }
    // Nothing was stored by the refused login.
    assert!(!dir.path().join("config.toml").exists());
}
