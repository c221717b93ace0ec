//! Signed publishes and the compose-time trust policy with the real binary against a
//! real `wharf serve` (issue #17): `wharf key generate/add/list/revoke`, `wharf publish
//! --sign-key`, `wharf sign`, `wharf compose` under `[trust]`, and `wharf verify`;
//! the hostile cases a composer must catch (an unsigned plug, a key the namespace
//! never registered, a signature over other bytes slipped in over OCI, a revoked key);
//! and PyPI's securesystemslib, a third-party DSSE verifier, accepting a Wharf
//! signature with nothing but the public key.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Output;

use common::{Server, authority, json, stderr, wharf};

const ADMIN: &str = "admin-secret-for-tests";

use common::GATEWAY_MANIFEST as MANIFEST;

const COMPONENTS: [&str; 5] = [
    "gateway",
    "jwt-auth",
    "json-schema",
    "json-transform",
    "flate",
];

/// `ns:name@version` of a bundled component.
fn id(crate_name: &str) -> String {
    let c = wharf_bundled::component(crate_name).unwrap();
    format!("{}@{}", c.package, c.version)
}

fn admin(dir: &Path, server: &Server, args: &[&str]) -> Output {
    wharf(dir, server, Some(ADMIN), args)
}

fn with_trust(dir: &Path, trust: &str) {
    std::fs::write(
        dir.join("wharf.toml"),
        format!("{MANIFEST}\n[trust]\n{trust}\n"),
    )
    .unwrap();
}

fn compose(dir: &Path, server: &Server) -> Output {
    admin(
        dir,
        server,
        &[
            "compose",
            "--json",
            "--cache-dir",
            "cache",
            "-o",
            "edge.wasm",
        ],
    )
}

/// `failed`'s stderr, after checking it failed.
fn refusal(what: &str, failed: &Output) -> String {
    assert!(
        !failed.status.success(),
        "{what} succeeded: {}",
        String::from_utf8_lossy(&failed.stdout)
    );
    stderr(failed)
}

/// One HTTP request on a connection of its own; the status line and the body.
fn http(registry: &str, method: &str, path: &str, headers: &str, body: &[u8]) -> (String, Vec<u8>) {
    let addr = authority(registry);
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut head = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 2 {
        head.push_str(&line);
        line.clear();
    }
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut rest).unwrap();
    (status + &head, rest)
}

/// The `docker-content-digest` of version `version` of `repository`'s manifest.
fn manifest_digest(registry: &str, repository: &str, version: &str) -> (String, usize) {
    let (head, body) = http(
        registry,
        "GET",
        &format!("/v2/{repository}/manifests/{version}"),
        "",
        b"",
    );
    let digest = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("docker-content-digest: ")
                .map(|d| d.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no digest in {head}"));
    (digest, body.len())
}

#[test]
fn signed_publishes_and_a_trust_policy_checked_at_compose() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let server = common::serve(dir);

    // A key pair on disk: the private half readable by its owner only.
    let generated = json(&wharf(
        dir,
        &server,
        None,
        &["key", "generate", "-o", "keys", "--json"],
    ));
    let keyid = generated["keyid"].as_str().unwrap().to_owned();
    assert_eq!(keyid.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("keys/wharf.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = wharf(dir, &server, None, &["key", "generate", "-o", "keys"]);
    assert!(refusal("overwriting a key", &again).contains("exists already"));
    json(&wharf(
        dir,
        &server,
        None,
        &[
            "key", "generate", "-o", "keys", "--name", "stranger", "--json",
        ],
    ));

    for name in COMPONENTS {
        let c = wharf_bundled::component(name).unwrap();
        std::fs::write(dir.join(format!("{name}.wasm")), c.bytes).unwrap();
    }
    let publish = |name: &str, extra: &[&str]| {
        let c = wharf_bundled::component(name).unwrap();
        let file = format!("{name}.wasm");
        let package = format!("{}@{}", c.package, c.version);
        let args = [
            &[
                "publish",
                file.as_str(),
                "--package",
                package.as_str(),
                "--json",
            ][..],
            extra,
        ]
        .concat();
        json(&admin(dir, &server, &args))
    };
    // The first publish claims the namespace; then its owner registers the key.
    publish("flate", &[]);
    // A key the namespace has not registered: refused before anything is published.
    let jwt = wharf_bundled::component("jwt-auth").unwrap();
    let jwt = format!("{}@{}", jwt.package, jwt.version);
    let early = admin(
        dir,
        &server,
        &[
            "publish",
            "jwt-auth.wasm",
            "--package",
            &jwt,
            "--sign-key",
            "keys/wharf.key",
        ],
    );
    assert!(refusal("publishing with an unregistered key", &early).contains("wharf key add"));
    let added = json(&admin(
        dir,
        &server,
        &[
            "key",
            "add",
            "--namespace",
            "wharf",
            "keys/wharf.pub",
            "--name",
            "release",
            "--json",
        ],
    ));
    assert_eq!(added["keyid"], keyid);
    let listed = json(&admin(
        dir,
        &server,
        &["key", "list", "--namespace", "wharf", "--json"],
    ));
    assert_eq!(listed[0]["keyid"], keyid);

    publish("jwt-auth", &[]);
    let signed = publish("gateway", &["--sign-key", "keys/wharf.key"]);
    assert_eq!(
        (
            &signed["signature"]["keyid"],
            &signed["signature"]["verified"]
        ),
        (&serde_json::json!(keyid), &serde_json::json!(true))
    );
    publish("json-schema", &["--sign-key", "keys/wharf.key"]);
    publish("json-transform", &[]);
    for package in [id("flate"), id("jwt-auth")] {
        let signed = json(&admin(
            dir,
            &server,
            &["sign", &package, "--key", "keys/wharf.key", "--json"],
        ));
        assert_eq!(signed["verified"], true, "{package}");
    }

    // Hostile: an unsigned plug under a policy that requires every constituent signed.
    with_trust(
        dir,
        r#"require-signatures = "all"
keys = ["keys/wharf.pub"]"#,
    );
    let unsigned = refusal("composing with an unsigned plug", &compose(dir, &server));
    assert!(
        unsigned.contains(r#"plugs."wharf:transform""#)
            && unsigned.contains(&id("json-transform"))
            && unsigned.contains(&keyid)
            && unsigned.contains("no signature by it"),
        "{unsigned}"
    );
    assert!(!dir.join("edge.wasm").exists(), "nothing was linked");

    json(&admin(
        dir,
        &server,
        &[
            "sign",
            &id("json-transform"),
            "--key",
            "keys/wharf.key",
            "--json",
        ],
    ));
    let composed = json(&compose(dir, &server));
    for c in composed["constituents"].as_array().unwrap() {
        assert_eq!(c["signatures"], serde_json::json!([keyid]), "{c}");
    }
    // The deployable records what was verified, and re-verifies later.
    let verified = json(&admin(dir, &server, &["verify", "edge.wasm", "--json"]));
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["constituents"].as_array().unwrap().len(), 5);
    assert_eq!(
        verified["constituents"][2]["signatures"],
        serde_json::json!([keyid])
    );
    let pinned = json(&admin(
        dir,
        &server,
        &["verify", "edge.wasm", "--key", "keys/wharf.pub", "--json"],
    ));
    assert_eq!(pinned["verified"], true);

    // Hostile: a policy trusting a key the namespace never registered.
    with_trust(
        dir,
        r#"require-signatures = ["wharf"]
keys = ["keys/stranger.pub"]"#,
    );
    let stranger = refusal("composing with an unregistered key", &compose(dir, &server));
    assert!(
        stranger.contains("deployable.root")
            && stranger.contains("not registered for the namespace"),
        "{stranger}"
    );

    // Hostile: a signature over other bytes, slipped in as an OCI referrer past the
    // API's check, by a key that is registered: the composer verifies it itself.
    json(&wharf(
        dir,
        &server,
        None,
        &[
            "key", "generate", "-o", "keys", "--name", "second", "--json",
        ],
    ));
    let second = json(&admin(
        dir,
        &server,
        &[
            "key",
            "add",
            "--namespace",
            "wharf",
            "keys/second.pub",
            "--json",
        ],
    ));
    let second_key = wharf_types::signing::private_key_from_pem(
        &std::fs::read_to_string(dir.join("keys/second.key")).unwrap(),
    )
    .unwrap();
    let flate = id("flate");
    let flate_version = flate.split_once('@').unwrap().1;
    let evil = wharf_types::signing::sign(
        &second_key,
        &flate,
        &wharf_types::Digest::of(b"other bytes"),
    )
    .to_json();
    let (subject, subject_size) = manifest_digest(&server.registry, "wharf/flate", flate_version);
    common::push_blob(&server.registry, ADMIN, "wharf/flate", b"{}");
    common::push_blob(&server.registry, ADMIN, "wharf/flate", &evil);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": wharf_types::signing::SIGNATURE_ARTIFACT_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": wharf_types::Digest::of(b"{}").to_string(), "size": 2},
        "layers": [{"mediaType": wharf_types::signing::ENVELOPE_MEDIA_TYPE, "digest": wharf_types::Digest::of(&evil).to_string(), "size": evil.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": subject_size},
    })
    .to_string();
    let (status, body) = http(
        &server.registry,
        "PUT",
        &format!(
            "/v2/wharf/flate/manifests/{}",
            wharf_types::Digest::of(manifest.as_bytes())
        ),
        &format!(
            "authorization: Bearer {ADMIN}\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\n"
        ),
        manifest.as_bytes(),
    );
    assert!(
        status.starts_with("HTTP/1.1 201"),
        "{status} {}",
        String::from_utf8_lossy(&body)
    );
    // Every other constituent is properly signed with the second key.
    for name in ["gateway", "jwt-auth", "json-schema", "json-transform"] {
        json(&admin(
            dir,
            &server,
            &["sign", &id(name), "--key", "keys/second.key", "--json"],
        ));
    }
    with_trust(
        dir,
        &format!(
            "require-signatures = [\"wharf\"]\n[trust.keys-for]\nwharf = [\"{}\"]",
            second["keyid"].as_str().unwrap()
        ),
    );
    let other_bytes = refusal(
        "composing with a signature over other bytes",
        &compose(dir, &server),
    );
    assert!(
        other_bytes.contains(r#"plugs."wharf:compression""#)
            && other_bytes.contains(&flate)
            && other_bytes.contains("other bytes"),
        "{other_bytes}"
    );

    // Hostile: the key revoked. Composing under it fails; so does re-verifying.
    json(&admin(
        dir,
        &server,
        &["key", "revoke", "--namespace", "wharf", &keyid, "--json"],
    ));
    with_trust(
        dir,
        r#"require-signatures = "all"
keys = ["keys/wharf.pub"]"#,
    );
    let revoked = refusal("composing with a revoked key", &compose(dir, &server));
    assert!(revoked.contains("revoked"), "{revoked}");
    let reverified = refusal(
        "verifying with a revoked key",
        &admin(dir, &server, &["verify", "edge.wasm"]),
    );
    assert!(
        reverified.contains("revoked") && reverified.contains(&id("gateway")),
        "{reverified}"
    );
}

/// PyPI's securesystemslib verifies the envelope `wharf sign` attached, fetched as any
/// client would, with the public key file alone; and refuses it altered.
#[test]
fn securesystemslib_verifies_a_wharf_signature() {
    let mut python = common::tools::tool(
        "python3",
        "Debian's python3; ./scripts/setup adds securesystemslib",
    );
    let modules = python
        .args([
            "-c",
            "import securesystemslib.dsse, securesystemslib.signer, cryptography",
        ])
        .output()
        .unwrap();
    assert!(
        modules.status.success(),
        "PyPI's securesystemslib and cryptography are not installed; run ./scripts/setup, which installs them:\n{}",
        stderr(&modules)
    );
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let server = common::serve(dir);
    let flate = wharf_bundled::component("flate").unwrap();
    std::fs::write(dir.join("flate.wasm"), flate.bytes).unwrap();
    json(&admin(
        dir,
        &server,
        &[
            "publish",
            "flate.wasm",
            "--package",
            "wharf:flate@1.1.0",
            "--json",
        ],
    ));
    let keyid = json(&wharf(dir, &server, None, &["key", "generate", "--json"]))["keyid"]
        .as_str()
        .unwrap()
        .to_owned();
    json(&admin(
        dir,
        &server,
        &["key", "add", "--namespace", "wharf", "wharf.pub", "--json"],
    ));
    json(&admin(
        dir,
        &server,
        &["sign", "wharf:flate@1.1.0", "--key", "wharf.key", "--json"],
    ));
    let (status, body) = http(
        &server.registry,
        "GET",
        "/api/v1/packages/wharf/flate/versions/1.1.0/signatures",
        "",
        b"",
    );
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    std::fs::write(dir.join("envelope.json"), listed[0]["envelope"].to_string()).unwrap();

    const SCRIPT: &str = r#"
import json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

pem, envelope_file, keyid = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3]
key = SSlibKey.from_crypto(load_pem_public_key(pem), keyid=keyid, scheme="ed25519")
envelope = Envelope.from_dict(json.load(open(envelope_file)))
accepted = envelope.verify([key], 1)
assert list(accepted) == [keyid], accepted
print(json.dumps(json.loads(envelope.payload)))
envelope.payload = envelope.payload.replace(b"wharf:flate", b"wharf:evil!")
try:
    envelope.verify([key], 1)
    print("ALTERED ENVELOPE ACCEPTED")
except VerificationError:
    print("altered envelope refused")
"#;
    let out = common::tools::tool("python3", "Debian's python3")
        .current_dir(dir)
        .args(["-c", SCRIPT, "wharf.pub", "envelope.json", &keyid])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "securesystemslib refused the envelope: {}",
        stderr(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let statement: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["subject"][0]["name"], "wharf:flate@1.1.0");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        wharf_types::Digest::of(flate.bytes).hex()
    );
    assert_eq!(lines.next(), Some("altered envelope refused"));
}
