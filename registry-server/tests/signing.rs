//! Signed publishes against a real registry on SQLite and PostgreSQL (issue #17): the
//! keys a namespace's owners register, and signatures verified before they are stored
//! as OCI referrers of the version's manifest. The hostile cases: a signature over
//! other bytes, by a key the namespace never registered, by a revoked key, a
//! non-owner registering a key, and a bad signature pushed over OCI directly.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{Backend, Reply, TestApp};
use serde_json::{Value, json};
use wharf_types::Digest;
use wharf_types::signing::{self, SigningKey};

on_both_databases!(
    only_owners_register_and_revoke_keys,
    signatures_are_verified_before_they_are_stored_as_referrers,
    a_bad_signature_pushed_over_oci_is_listed_unverified,
);

fn flate() -> &'static [u8] {
    wharf_bundled::component("flate").unwrap().bytes
}

async fn add_key(app: &TestApp, token: &str, namespace: &str, key: &SigningKey) -> Reply {
    let body =
        json!({"public_key": signing::public_key_to_pem(&key.verifying_key()), "name": "release"});
    app.request(
        Method::POST,
        &format!("/api/v1/namespaces/{namespace}/keys"),
        Some(token),
        body.to_string(),
    )
    .await
}

async fn attach(app: &TestApp, token: &str, version: &str, envelope: &[u8]) -> Reply {
    app.request(
        Method::POST,
        &format!("/api/v1/packages/acme/zip/versions/{version}/signatures"),
        Some(token),
        Body::from(envelope.to_vec()),
    )
    .await
}

/// `acme:zip@1.0.0` published by alice (owner of `acme`), and her token.
async fn published(app: &TestApp) -> (String, Digest) {
    let alice = app.token("alice", &["publish", "owners"], None).await;
    let reply = app.publish(&alice, "acme:zip", "1.0.0", flate()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    (alice, Digest::of(flate()))
}

async fn only_owners_register_and_revoke_keys(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (alice, _) = published(&app).await;
    let bob = app.token("bob", &["publish", "owners"], None).await;
    let key = signing::generate();
    let keyid = signing::key_id(&key.verifying_key());

    let refused = add_key(&app, &bob, "acme", &key).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert!(
        refused
            .message()
            .contains("not an owner of namespace `acme`"),
        "{}",
        refused.message()
    );
    let unknown = add_key(&app, &alice, "nobody", &key).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "NAMESPACE_UNKNOWN".into())
    );
    let bad = app
        .request(
            Method::POST,
            "/api/v1/namespaces/acme/keys",
            Some(&alice),
            json!({"public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"})
                .to_string(),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "KEY_INVALID".into())
    );
    assert!(bad.message().contains("`public_key`"), "{}", bad.message());

    let added = add_key(&app, &alice, "acme", &key).await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.json()["keyid"], keyid);
    assert_eq!(added.json()["added_by"], "alice");
    let again = add_key(&app, &alice, "acme", &key).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "KEY_EXISTS".into())
    );

    let listed = app.get("/api/v1/namespaces/acme/keys").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["keyid"], keyid);
    assert_eq!(listed[0]["revoked_at"], Value::Null);
    let openapi = app.get("/api/v1/openapi.json").await.json();
    for path in [
        "/api/v1/namespaces/{namespace}/keys",
        "/api/v1/namespaces/{namespace}/keys/{keyid}",
        "/api/v1/packages/{namespace}/{name}/versions/{version}/signatures",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} is not in the OpenAPI document"
        );
    }
    let page = app.get("/namespaces/acme").await;
    assert!(String::from_utf8_lossy(&page.body).contains(&keyid));

    let revoke = |token: String, id: String| {
        let app = &app;
        async move {
            app.request(
                Method::DELETE,
                &format!("/api/v1/namespaces/acme/keys/{id}"),
                Some(&token),
                Body::empty(),
            )
            .await
        }
    };
    assert_eq!(
        revoke(bob.clone(), keyid.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let revoked = revoke(alice.clone(), keyid.clone()).await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    assert_eq!(revoked.json()["revoked_by"], "alice");
    let twice = revoke(alice.clone(), keyid.clone()).await;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "KEY_REVOKED".into())
    );
    let none = revoke(alice.clone(), "0".repeat(64)).await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::NOT_FOUND, "KEY_UNKNOWN".into())
    );
    // A revoked key stays listed, revoked, and cannot be registered again.
    let listed = app.get("/api/v1/namespaces/acme/keys").await.json();
    assert!(listed[0]["revoked_at"].is_i64());
    assert_eq!(
        add_key(&app, &alice, "acme", &key).await.status,
        StatusCode::CONFLICT
    );
}

async fn signatures_are_verified_before_they_are_stored_as_referrers(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (alice, digest) = published(&app).await;
    let key = signing::generate();
    let keyid = signing::key_id(&key.verifying_key());
    assert_eq!(
        add_key(&app, &alice, "acme", &key).await.status,
        StatusCode::CREATED
    );

    // Hostile: over other bytes, for another version, by a stranger's key, garbage.
    let other_bytes = signing::sign(&key, "acme:zip@1.0.0", &Digest::of(b"evil"));
    let reply = attach(&app, &alice, "1.0.0", &other_bytes.to_json()).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::BAD_REQUEST, "SIGNATURE_INVALID".into())
    );
    assert!(
        reply.message().contains("other bytes"),
        "{}",
        reply.message()
    );
    let other_version = signing::sign(&key, "acme:zip@9.0.0", &digest);
    let reply = attach(&app, &alice, "1.0.0", &other_version.to_json()).await;
    assert!(
        reply.message().contains("acme:zip@9.0.0"),
        "{}",
        reply.message()
    );
    let stranger = signing::generate();
    let reply = attach(
        &app,
        &alice,
        "1.0.0",
        &signing::sign(&stranger, "acme:zip@1.0.0", &digest).to_json(),
    )
    .await;
    assert_eq!(reply.code(), "SIGNATURE_INVALID");
    assert!(
        reply
            .message()
            .contains("not registered for namespace `acme`"),
        "{}",
        reply.message()
    );
    let reply = attach(&app, &alice, "1.0.0", b"{\"payload\": 1}").await;
    assert_eq!(reply.code(), "SIGNATURE_INVALID");
    assert!(
        reply.message().contains("not a DSSE envelope"),
        "{}",
        reply.message()
    );
    let mut forged = signing::sign(&key, "acme:zip@1.0.0", &digest);
    forged.signatures[0].sig = signing::sign(&key, "acme:zip@1.0.0", &Digest::of(b"x")).signatures
        [0]
    .sig
    .clone();
    let reply = attach(&app, &alice, "1.0.0", &forged.to_json()).await;
    assert!(
        reply.message().contains("does not verify"),
        "{}",
        reply.message()
    );
    // Not a publisher of the namespace; no such version.
    let good = signing::sign(&key, "acme:zip@1.0.0", &digest);
    let bob = app.token("bob", &["publish"], None).await;
    assert_eq!(
        attach(&app, &bob, "1.0.0", &good.to_json()).await.status,
        StatusCode::FORBIDDEN
    );
    let reply = attach(&app, &alice, "2.0.0", &good.to_json()).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "VERSION_UNKNOWN".into())
    );
    // Nothing of the refused ones was stored.
    let detail = app
        .get("/api/v1/packages/acme/zip/versions/1.0.0")
        .await
        .json();
    assert_eq!(detail["signatures"], json!([]));
    assert_eq!(detail["referrers"], json!([]));

    let stored = attach(&app, &alice, "1.0.0", &good.to_json()).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{:?}", stored.body);
    assert_eq!(stored.json()["keyid"], keyid);
    assert_eq!(stored.json()["verified"], true);
    // The same envelope again is the same referrer.
    assert_eq!(
        attach(&app, &alice, "1.0.0", &good.to_json()).await.status,
        StatusCode::CREATED
    );

    let detail = app
        .get("/api/v1/packages/acme/zip/versions/1.0.0")
        .await
        .json();
    let signatures = detail["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1, "{detail}");
    assert_eq!(
        (
            &signatures[0]["keyid"],
            &signatures[0]["verified"],
            &signatures[0]["revoked"]
        ),
        (&json!(keyid), &json!(true), &json!(false))
    );
    assert_eq!(
        detail["referrers"][0]["artifact_type"],
        signing::SIGNATURE_ARTIFACT_TYPE
    );
    let page =
        String::from_utf8_lossy(&app.get("/packages/acme/zip/1.0.0").await.body).into_owned();
    assert!(
        page.contains(&keyid) && page.contains("verified"),
        "the version page names the signer"
    );

    // Any OCI client finds it: the referrers of the version's manifest, then its layer.
    let subject = app.get("/v2/acme/zip/manifests/1.0.0").await;
    let subject = subject.header("docker-content-digest").to_owned();
    let index = app
        .get(&format!(
            "/v2/acme/zip/referrers/{subject}?artifactType={}",
            // `+` in a query is a space: the media type's is sent encoded.
            signing::SIGNATURE_ARTIFACT_TYPE.replace('+', "%2B")
        ))
        .await
        .json();
    let referrer = &index["manifests"][0];
    assert_eq!(referrer["annotations"][signing::KEYID_ANNOTATION], keyid);
    let manifest = app
        .get(&format!(
            "/v2/acme/zip/manifests/{}",
            referrer["digest"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(manifest["subject"]["digest"], subject);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        signing::ENVELOPE_MEDIA_TYPE
    );
    let layer = app
        .get(&format!(
            "/v2/acme/zip/blobs/{}",
            manifest["layers"][0]["digest"].as_str().unwrap()
        ))
        .await;
    let envelope = signing::Envelope::from_json(&layer.body).unwrap();
    envelope
        .verify(&key.verifying_key(), "acme:zip@1.0.0", &digest)
        .unwrap();

    // The envelopes, for clients that verify them themselves.
    let listed = app
        .get("/api/v1/packages/acme/zip/versions/1.0.0/signatures")
        .await
        .json();
    assert_eq!(listed[0]["envelope"], serde_json::to_value(&good).unwrap());

    // Revoked: the signature stays, marked; new ones by the key are refused.
    app.request(
        Method::DELETE,
        &format!("/api/v1/namespaces/acme/keys/{keyid}"),
        Some(&alice),
        Body::empty(),
    )
    .await;
    let detail = app
        .get("/api/v1/packages/acme/zip/versions/1.0.0")
        .await
        .json();
    assert_eq!(detail["signatures"][0]["revoked"], true);
    let reply = attach(&app, &alice, "1.0.0", &good.to_json()).await;
    assert_eq!(reply.code(), "SIGNATURE_INVALID");
    assert!(reply.message().contains("revoked"), "{}", reply.message());
}

async fn a_bad_signature_pushed_over_oci_is_listed_unverified(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (alice, _) = published(&app).await;
    let key = signing::generate();
    assert_eq!(
        add_key(&app, &alice, "acme", &key).await.status,
        StatusCode::CREATED
    );
    // A signature over other bytes, slipped in as an OCI referrer past the API's check.
    let envelope = signing::sign(&key, "acme:zip@1.0.0", &Digest::of(b"evil")).to_json();
    let subject = app.get("/v2/acme/zip/manifests/1.0.0").await;
    let subject_digest = subject.header("docker-content-digest").to_owned();
    assert_eq!(
        app.push_blob(&alice, "acme/zip", b"{}").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.push_blob(&alice, "acme/zip", &envelope).await.status,
        StatusCode::CREATED
    );
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": signing::SIGNATURE_ARTIFACT_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
        "layers": [{"mediaType": signing::ENVELOPE_MEDIA_TYPE, "digest": Digest::of(&envelope).to_string(), "size": envelope.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject_digest, "size": subject.body.len()},
    })
    .to_string();
    let pushed = app
        .push_manifest(
            &alice,
            "acme/zip",
            &Digest::of(manifest.as_bytes()).to_string(),
            "application/vnd.oci.image.manifest.v1+json",
            manifest.as_bytes(),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{:?}", pushed.body);
    let detail = app
        .get("/api/v1/packages/acme/zip/versions/1.0.0")
        .await
        .json();
    let signature = &detail["signatures"][0];
    assert_eq!(signature["verified"], false, "{detail}");
    assert!(
        signature["reason"]
            .as_str()
            .unwrap()
            .contains("other bytes"),
        "{signature}"
    );
    let page =
        String::from_utf8_lossy(&app.get("/packages/acme/zip/1.0.0").await.body).into_owned();
    assert!(page.contains("unverified"));
}
