//! How the CLI looks on a terminal: a progress bar drawn while a large package
//! downloads or uploads and none when the output is piped; colours on a terminal and
//! none under `NO_COLOR`. A real pseudo-terminal comes from util-linux's `script`,
//! which records everything the command draws.

mod common;

use std::path::Path;
use std::process::Output;

use common::tools::tool;
use common::{Server, serve, stderr, wharf};

/// Runs the real binary on a pseudo-terminal 120 columns wide; returns what it drew.
fn on_terminal(dir: &Path, server: &Server, env: &[(&str, &str)], args: &str) -> (Output, String) {
    let mut command = tool("script", "util-linux's, in Debian's bsdutils");
    command
        .current_dir(dir)
        .args(["--quiet", "--return", "--command"])
        .arg(format!(
            "stty cols 120 rows 40; {} {args}",
            env!("CARGO_BIN_EXE_wharf")
        ))
        .arg("/dev/null")
        .env("WHARF_REGISTRY", &server.registry)
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .envs(env.iter().copied());
    let output = command
        .output()
        .expect("`script` from util-linux runs the command on a pseudo-terminal");
    let drawn = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, drawn)
}

/// Whether `text` holds an SGR (colour or weight) escape sequence.
fn has_colour(text: &str) -> bool {
    text.split("\x1b[").skip(1).any(|rest| {
        let params: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';')
            .collect();
        rest[params.len()..].starts_with('m') && !params.is_empty() && params != "0"
    })
}

/// A valid component of about 24 MiB: flate with a large custom section appended.
fn large_component() -> Vec<u8> {
    let mut bytes = wharf_bundled::component("flate").unwrap().bytes.to_vec();
    let name = b"padding";
    let payload = vec![0x5a; 24 << 20];
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    bytes.push(0); // custom section id
    let mut len = section.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        bytes.push(if len == 0 { byte } else { byte | 0x80 });
        if len == 0 {
            break;
        }
    }
    bytes.extend_from_slice(&section);
    bytes
}

#[test]
fn progress_bars_on_a_terminal_and_never_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    std::fs::write(dir.path().join("big.wasm"), large_component()).unwrap();

    let (published, drawn) = on_terminal(
        dir.path(),
        &server,
        &[("WHARF_TOKEN", "admin-secret-for-tests")],
        "publish big.wasm --package acme:big@1.0.0",
    );
    assert!(published.status.success(), "{drawn}");
    assert!(
        drawn.contains("Uploading") && drawn.contains("acme:big@1.0.0"),
        "no upload bar was drawn:\n{drawn}"
    );

    let (pulled, drawn) = on_terminal(dir.path(), &server, &[], "pull acme:big -o tty.wasm");
    assert!(pulled.status.success(), "{drawn}");
    assert!(
        drawn.contains("Downloading") && drawn.contains("MiB") && drawn.contains("=>"),
        "no download bar was drawn:\n{drawn}"
    );
    assert!(has_colour(&drawn), "a terminal gets colours:\n{drawn:?}");
    assert_eq!(
        std::fs::read(dir.path().join("tty.wasm")).unwrap(),
        std::fs::read(dir.path().join("big.wasm")).unwrap()
    );

    // Piped: the same download draws nothing but its one-line summary.
    let piped = wharf(
        dir.path(),
        &server,
        None,
        &["pull", "acme:big", "-o", "piped.wasm"],
    );
    assert!(piped.status.success(), "{}", stderr(&piped));
    let text = stderr(&piped);
    assert!(
        !text.contains("Downloading") && !text.contains('\x1b'),
        "a pipe got terminal output: {text:?}"
    );
    assert!(text.contains("Pulled acme:big@1.0.0"), "{text}");
}

#[test]
fn no_color_turns_colours_off_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());

    let (_, coloured) = on_terminal(dir.path(), &server, &[], "pull acme:nothing");
    assert!(coloured.contains("PACKAGE_UNKNOWN"), "{coloured}");
    assert!(
        has_colour(&coloured),
        "errors are red on a terminal: {coloured:?}"
    );

    let (failed, plain) = on_terminal(
        dir.path(),
        &server,
        &[("NO_COLOR", "1")],
        "pull acme:nothing",
    );
    assert_eq!(failed.status.code(), Some(1));
    assert!(plain.contains("error: "), "{plain}");
    assert!(!has_colour(&plain), "NO_COLOR was ignored: {plain:?}");
}
