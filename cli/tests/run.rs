//! `wharf run --invoke` (WAVE in, WAVE out) on a file and on a package pulled from the
//! registry, and `wharf publish` of a WIT directory, with the real binary against a
//! real `wharf serve`.

mod common;

use common::{json, serve, stderr, wharf};

#[test]
fn invoke_calls_an_export_with_wave_arguments_from_a_file_and_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let transform = wharf_bundled::component("json-transform").unwrap();
    std::fs::write(dir.path().join("transform.wasm"), transform.bytes).unwrap();

    // Any of the names WAVE allows reaches the function; the result is WAVE.
    for name in [
        "canonicalize",
        "transformer.canonicalize",
        "wharf:transform/transformer.canonicalize@1.0.0",
    ] {
        let call = format!(r#"{name}("{{\"b\": 1, \"a\": [1.50, 2e0]}}")"#);
        let out = wharf(
            dir.path(),
            &server,
            None,
            &["run", "transform.wasm", "--invoke", &call],
        );
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok(\"{\\\"a\\\":[1.5,2],\\\"b\\\":1}\")\n",
            "{name}"
        );
    }
    // The component's own error comes back as a value, not a failure of the command.
    let invalid = wharf(
        dir.path(),
        &server,
        None,
        &[
            "run",
            "transform.wasm",
            "--invoke",
            r#"canonicalize("{not json")"#,
        ],
    );
    assert!(invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stdout).starts_with("err("));

    // Mistakes name what there is.
    let unknown = wharf(
        dir.path(),
        &server,
        None,
        &["run", "transform.wasm", "--invoke", "compress()"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("exports no function `compress`")
            && stderr(&unknown).contains("wharf:transform/transformer.apply@1.0.0"),
        "{}",
        stderr(&unknown)
    );
    let mistyped = wharf(
        dir.path(),
        &server,
        None,
        &["run", "transform.wasm", "--invoke", "canonicalize(42)"],
    );
    assert_eq!(mistyped.status.code(), Some(1));
    assert!(
        stderr(&mistyped).contains("canonicalize(document: string)"),
        "{}",
        stderr(&mistyped)
    );
    let unparsable = wharf(
        dir.path(),
        &server,
        None,
        &["run", "transform.wasm", "--invoke", "canonicalize("],
    );
    assert!(
        stderr(&unparsable).contains("not a WAVE function call"),
        "{}",
        stderr(&unparsable)
    );
    let neither = wharf(dir.path(), &server, None, &["run", "transform.wasm"]);
    assert_eq!(
        neither.status.code(),
        Some(2),
        "--invoke or --http is required"
    );

    // From the registry: resolved, digest-checked, then called.
    json(&wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["publish", "transform.wasm", "--json"],
    ));
    let pulled = wharf(
        dir.path(),
        &server,
        None,
        &[
            "run",
            &format!("{}@^{}", transform.package, transform.version),
            "--invoke",
            "canonicalize(\"[1, 2.50]\")",
        ],
    );
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert_eq!(String::from_utf8_lossy(&pulled.stdout), "ok(\"[1,2.5]\")\n");
    let missing = wharf(
        dir.path(),
        &server,
        None,
        &["run", "acme:nothing@^1", "--invoke", "f()"],
    );
    assert!(
        stderr(&missing).contains("PACKAGE_UNKNOWN"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn publish_builds_a_wit_directory_with_its_deps_into_a_package() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let wit = dir.path().join("wit");
    std::fs::create_dir_all(wit.join("deps/compression")).unwrap();
    std::fs::write(
        wit.join("deps/compression/compression.wit"),
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../wit-packages/compression/1.1.0/compression.wit"),
        )
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        wit.join("archive.wit"),
        "package acme:archive@0.2.0;\n\n\
         /// Packs files into one archive.\n\
         interface packer {\n    use wharf:compression/types@1.1.0.{format};\n\n    \
         pack: func(files: list<tuple<string, list<u8>>>, format: format) -> list<u8>;\n}\n",
    )
    .unwrap();

    let dry = json(&wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["publish", "wit", "--dry-run", "--json"],
    ));
    assert_eq!(
        (dry["package"].as_str(), dry["version"].as_str()),
        (Some("acme:archive"), Some("0.2.0"))
    );
    let published = json(&wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["publish", "wit", "--json"],
    ));
    assert_eq!(
        (published["name"].as_str(), published["kind"].as_str()),
        (Some("acme:archive"), Some("wit"))
    );
    let pulled = wharf(dir.path(), &server, None, &["pull", "acme:archive"]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    let text = std::fs::read_to_string(dir.path().join("archive.wit")).unwrap();
    assert!(
        text.contains("package acme:archive@0.2.0;") && text.contains("interface packer"),
        "{text}"
    );

    // A WIT directory that does not parse is refused before anything is uploaded,
    // naming the file.
    std::fs::write(
        wit.join("broken.wit"),
        "interface oops {\n    f: func() -> strin g;\n}\n",
    )
    .unwrap();
    let broken = wharf(
        dir.path(),
        &server,
        Some("admin-secret-for-tests"),
        &["publish", "wit"],
    );
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stderr(&broken).contains("broken.wit"),
        "{}",
        stderr(&broken)
    );
}
