//! The transparency log (issue #17, docs/trust.md) on a real registry, on SQLite and
//! PostgreSQL: every publish, yank, unyank and ownership change is an entry; the signed
//! checkpoint, proofs, entries and tiles agree with each other; replicas sharing a
//! database append one log; fsck catches a log or a version row tampered with; and
//! versions published before the log are logged when the registry is upgraded.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{ADMIN, Backend, TestApp};
use wharf_types::log::{self, Action, Entry, LogKey, Tree};
use wharf_types::views::{ConsistencyProof, InclusionProof, LogEntries, VersionDetail};

fn hashes(texts: &[String]) -> Vec<log::Hash> {
    texts
        .iter()
        .map(|t| log::parse_hash(t, "proof").unwrap())
        .collect()
}

async fn key(app: &TestApp) -> LogKey {
    let reply = app.get("/api/v1/log/key").await;
    assert_eq!(reply.status, StatusCode::OK);
    LogKey::parse(std::str::from_utf8(&reply.body).unwrap()).unwrap()
}

/// The checkpoint, verified with the registry's key.
async fn checkpoint(app: &TestApp) -> log::Checkpoint {
    let reply = app.get("/api/v1/log/checkpoint").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("text/plain"));
    key(app).await.open(&reply.body).unwrap()
}

async fn entries(app: &TestApp) -> Vec<Entry> {
    let page: LogEntries =
        serde_json::from_slice(&app.get("/api/v1/log/entries").await.body).unwrap();
    page.entries
        .iter()
        .map(|e| Entry::parse(e.entry.as_bytes()).unwrap())
        .collect()
}

fn component(tag: &str) -> Vec<u8> {
    wharf_bundled::unique_component("json-transform", tag)
}

async fn publish(app: &TestApp, token: &str, name: &str, version: &str) -> String {
    let bytes = component(&format!("{name}@{version}"));
    let reply = app.publish(token, name, version, &bytes).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    wharf_types::Digest::of(&bytes).to_string()
}

async fn every_change_is_an_entry_and_every_proof_verifies(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app
        .token("alice", &["publish", "yank", "owners"], None)
        .await;
    let empty = checkpoint(&app).await;
    assert_eq!(empty.size(), 0);

    let digest = publish(&app, &token, "acme:gw", "1.0.0").await;
    let yank = "/api/v1/packages/acme/gw/versions/1.0.0/yank";
    assert_eq!(
        app.request(Method::PUT, yank, Some(&token), "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.request(Method::DELETE, yank, Some(&token), "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let owners = "/api/v1/namespaces/acme/owners/bob";
    assert!(
        app.request(Method::PUT, owners, Some(&token), "")
            .await
            .status
            .is_success()
    );
    assert!(
        app.request(Method::DELETE, owners, Some(&token), "")
            .await
            .status
            .is_success()
    );

    let found = entries(&app).await;
    let actions: Vec<(Action, &str, &str, &str)> = found
        .iter()
        .map(|e| {
            (
                e.action,
                e.subject.as_str(),
                e.object.as_str(),
                e.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (Action::Claim, "acme", "alice", "alice"),
            (Action::Publish, "acme:gw@1.0.0", digest.as_str(), "alice"),
            (Action::Yank, "acme:gw@1.0.0", digest.as_str(), "alice"),
            (Action::Unyank, "acme:gw@1.0.0", digest.as_str(), "alice"),
            (Action::OwnerAdd, "acme", "bob", "alice"),
            (Action::OwnerRemove, "acme", "bob", "alice"),
        ]
    );

    // The checkpoint is signed by the announced key, over the tree of these entries.
    let now = checkpoint(&app).await;
    assert_eq!(now.size(), 6);
    let mut tree = Tree::default();
    for e in &found {
        tree.push(log::leaf_hash(&e.to_bytes()));
    }
    assert_eq!(*now.hash(), tree.root());

    // The version carries its publish entry and a proof against that checkpoint.
    let detail: VersionDetail = serde_json::from_slice(
        &app.get("/api/v1/packages/acme/gw/versions/1.0.0")
            .await
            .body,
    )
    .unwrap();
    let entry = detail.log.expect("the version's log entry");
    assert_eq!((entry.index, entry.size), (1, 6));
    assert_eq!(entry.entry.as_bytes(), found[1].to_bytes());
    log::check_inclusion(
        &hashes(&entry.inclusion_proof),
        now.size(),
        *now.hash(),
        entry.index,
        log::leaf_hash(entry.entry.as_bytes()),
    )
    .unwrap();
    // The proof is of this entry, not of any other.
    assert!(
        log::check_inclusion(
            &hashes(&entry.inclusion_proof),
            now.size(),
            *now.hash(),
            entry.index,
            log::leaf_hash(&found[2].to_bytes()),
        )
        .is_err()
    );

    // Inclusion in an older tree, and consistency from it.
    let proof: InclusionProof = serde_json::from_slice(
        &app.get("/api/v1/log/proof/inclusion?index=1&size=3")
            .await
            .body,
    )
    .unwrap();
    let old_root = tree.root_at(3).unwrap();
    assert_eq!(proof.root_hash, old_root.to_string());
    log::check_inclusion(
        &hashes(&proof.proof),
        3,
        old_root,
        1,
        log::leaf_hash(&found[1].to_bytes()),
    )
    .unwrap();
    let consistency: ConsistencyProof =
        serde_json::from_slice(&app.get("/api/v1/log/proof/consistency?from=3").await.body)
            .unwrap();
    assert_eq!((consistency.from, consistency.to), (3, 6));
    log::check_consistency(&hashes(&consistency.proof), 3, old_root, 6, *now.hash()).unwrap();

    // Tiles (C2SP tlog-tiles): the partial level-0 tile is the leaf hashes, the entry
    // bundle the entries, each after its length.
    let tile = app.get("/api/v1/log/tile/0/000.p/6").await;
    assert_eq!(tile.status, StatusCode::OK);
    let leaves: Vec<u8> = found
        .iter()
        .flat_map(|e| log::leaf_hash(&e.to_bytes()).0)
        .collect();
    assert_eq!(tile.body.to_vec(), leaves);
    let bundle = app.get("/api/v1/log/tile/entries/000.p/6").await;
    let mut expected = Vec::new();
    for e in &found {
        let bytes = e.to_bytes();
        expected.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        expected.extend_from_slice(&bytes);
    }
    assert_eq!(bundle.body.to_vec(), expected);
    let beyond = app.get("/api/v1/log/tile/0/000.p/7").await;
    assert_eq!(
        (beyond.status, beyond.code().as_str()),
        (StatusCode::NOT_FOUND, "LOG_TILE_UNKNOWN")
    );

    let report = app.state.fsck().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.log_problems);
    assert_eq!(report.log_entries, 6);
}

async fn bad_log_parameters_are_refused_naming_them(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    publish(&app, &token, "acme:gw", "1.0.0").await;
    for (uri, names) in [
        ("/api/v1/log/proof/inclusion?index=x", "`index`"),
        ("/api/v1/log/proof/inclusion", "`index`"),
        ("/api/v1/log/proof/inclusion?index=2", "`index` 2"),
        ("/api/v1/log/proof/inclusion?index=0&size=9", "`size` 9"),
        ("/api/v1/log/proof/consistency?from=2&to=1", "`from` 2"),
        ("/api/v1/log/proof/consistency?from=-1", "`from`"),
        ("/api/v1/log/entries?start=3", "`start` 3"),
        ("/api/v1/log/entries?limit=0", "`limit`"),
    ] {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.code(), "LOG_RANGE", "{uri}");
        assert!(
            reply.message().contains(names),
            "{uri}: {}",
            reply.message()
        );
    }
}

async fn replicas_sharing_a_database_append_one_log(backend: Backend) {
    let first = Arc::new(TestApp::new(backend).await);
    let second = Arc::new(first.reopen(|_| {}).await);
    let token = first.token("alice", &["publish"], None).await;
    // The same signer on both: one log, one key.
    assert_eq!(key(&first).await.as_str(), key(&second).await.as_str());
    let mut tasks = Vec::new();
    for (replica, app) in [first.clone(), second.clone()].into_iter().enumerate() {
        for worker in 0..3 {
            let (app, token) = (app.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..4 {
                    let name = format!(
                        "acme:replica{}-worker{}",
                        ["a", "b"][replica],
                        ["a", "b", "c"][worker]
                    );
                    publish(&app, &token, &name, &format!("1.0.{i}")).await;
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    // 24 publishes and one claim, each once, in one tree both replicas sign alike.
    let found = entries(&first).await;
    assert_eq!(found.len(), 25);
    assert_eq!(
        found.iter().filter(|e| e.action == Action::Claim).count(),
        1
    );
    let mut subjects: Vec<&str> = found.iter().map(|e| e.subject.as_str()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 25);
    let (a, b) = (checkpoint(&first).await, checkpoint(&second).await);
    assert_eq!((a.size(), a.hash()), (b.size(), b.hash()));
    let mut tree = Tree::default();
    for e in &found {
        tree.push(log::leaf_hash(&e.to_bytes()));
    }
    assert_eq!(*a.hash(), tree.root());
    let report = second.state.fsck().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.log_problems);
}

/// Runs `sql` on the registry's database, as someone with access to it would.
async fn tamper(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(app.state.db.pool()).await.unwrap();
}

async fn fsck_problems(app: &TestApp) -> Vec<String> {
    let report = app.state.fsck().await.unwrap();
    assert!(!report.is_clean());
    report
        .log_problems
        .iter()
        .map(|p| format!("{}: {}", p.subject, p.problem))
        .collect()
}

async fn fsck_catches_a_rewritten_version_and_a_removed_or_moved_entry(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    for version in ["1.0.0", "1.0.1", "1.0.2"] {
        publish(&app, &token, "acme:gw", version).await;
    }
    assert!(app.state.fsck().await.unwrap().log_problems.is_empty());

    // A version row rewritten to other bytes (which the registry has).
    let other = publish(&app, &token, "acme:other", "1.0.0").await;
    tamper(
        &app,
        &format!("UPDATE versions SET digest = '{other}' WHERE version = '1.0.1'"),
    )
    .await;
    let problems = fsck_problems(&app).await;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("acme:gw@1.0.1: its digest") && p.contains("is not in the log")),
        "{problems:?}"
    );

    // An entry removed.
    let fresh = TestApp::new(backend).await;
    let token = fresh.token("alice", &["publish"], None).await;
    for version in ["1.0.0", "1.0.1", "1.0.2"] {
        publish(&fresh, &token, "acme:gw", version).await;
    }
    tamper(&fresh, "DELETE FROM log_entries WHERE idx = 2").await;
    let problems = fsck_problems(&fresh).await;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("log entry 2: is missing")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("acme:gw@1.0.1: its log entry 2")),
        "{problems:?}"
    );
    // The version still answers, without a log entry to show (clients refuse it).
    let detail = fresh.get("/api/v1/packages/acme/gw/versions/1.0.1").await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.json().get("log").is_none(), "{:?}", detail.body);

    // Two entries swapped (their text moved, the tree left as it was).
    let moved = TestApp::new(backend).await;
    let token = moved.token("alice", &["publish"], None).await;
    for version in ["1.0.0", "1.0.1", "1.0.2"] {
        publish(&moved, &token, "acme:gw", version).await;
    }
    tamper(&moved, "UPDATE log_entries SET idx = 100 WHERE idx = 2").await;
    tamper(&moved, "UPDATE log_entries SET idx = 2 WHERE idx = 3").await;
    tamper(&moved, "UPDATE log_entries SET idx = 3 WHERE idx = 100").await;
    let problems = fsck_problems(&moved).await;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("log entry 2: stored tree hash")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("acme:gw@1.0.1: its log entry 2 records something else")),
        "{problems:?}"
    );
}

async fn versions_published_before_the_log_are_logged_on_upgrade(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let first = publish(&app, &token, "acme:gw", "1.0.0").await;
    publish(&app, &token, "acme:gw", "1.1.0").await;
    // As a registry from before the log left them: no entries, no index.
    for sql in [
        "DELETE FROM log_entries",
        "DELETE FROM log_hashes",
        "UPDATE log_head SET size = 0",
        "UPDATE versions SET log_index = NULL",
    ] {
        tamper(&app, sql).await;
    }
    assert_eq!(fsck_problems(&app).await.len(), 2);
    let upgraded = app.reopen(|_| {}).await;
    let found = entries(&upgraded).await;
    assert_eq!(found.len(), 2);
    assert_eq!(
        (
            found[0].action,
            found[0].subject.as_str(),
            found[0].object.as_str()
        ),
        (Action::Publish, "acme:gw@1.0.0", first.as_str())
    );
    assert_eq!(found[0].actor, "alice");
    let report = upgraded.state.fsck().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.log_problems);
    // A second start logs nothing twice.
    let again = upgraded.reopen(|_| {}).await;
    assert_eq!(entries(&again).await.len(), 2);
}

async fn the_log_key_stays_out_of_the_database_and_across_restarts(backend: Backend) {
    let app = TestApp::new(backend).await;
    let before = key(&app).await;
    let again = app.reopen(|_| {}).await;
    assert_eq!(key(&again).await.as_str(), before.as_str());
    if let Backend::Sqlite = backend {
        let file = app.state.config.data_dir.join("log-key");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with(&format!("PRIVATE+KEY+{}+", before.name())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    } else {
        let Err(refused) = wharf_registry::AppState::open({
            let mut config = (*app.state.config).clone();
            config.log_key_file = None;
            config
        })
        .await
        else {
            panic!("opened without a log key file on PostgreSQL");
        };
        assert!(
            refused.to_string().contains("`log_key_file` is required"),
            "{refused}"
        );
    }
    let reply = app.get("/api/v1/log").await;
    assert_eq!(reply.json()["key"], before.as_str());
    let _ = ADMIN;
}

async fn the_pages_show_the_log(backend: Backend) {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    let digest = publish(&app, &token, "acme:gw", "1.0.0").await;
    let version = app.get("/packages/acme/gw/1.0.0").await;
    assert_eq!(version.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&version.body).into_owned();
    assert!(
        html.contains(r#"<a href="/log#entry-1">entry 1</a> of 2"#),
        "{html}"
    );
    let page = app.get("/log").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body).into_owned();
    assert!(html.contains(key(&app).await.as_str()), "{html}");
    assert!(html.contains(r#"<li id="entry-1">"#), "{html}");
    assert!(html.contains(&digest), "{html}");
    assert!(
        html.contains(r#"<a href="/packages/acme/gw/1.0.0">acme:gw@1.0.0</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"<dd class="log-size">2</dd>"#), "{html}");
}

on_both_databases!(
    the_pages_show_the_log,
    every_change_is_an_entry_and_every_proof_verifies,
    bad_log_parameters_are_refused_naming_them,
    replicas_sharing_a_database_append_one_log,
    fsck_catches_a_rewritten_version_and_a_removed_or_moved_entry,
    versions_published_before_the_log_are_logged_on_upgrade,
    the_log_key_stays_out_of_the_database_and_across_restarts,
);
