//! Clients verify against the transparency log (issue #17, docs/trust.md), with the
//! real binary against a real `wharf serve`, on SQLite and on PostgreSQL, and a hostile
//! registry: a blob swapped on disk, a version row rewritten in the database, log
//! entries moved or the whole log rewritten, a checkpoint signed by another key, and a
//! fork shown to one client but not another. Each ends in an error that names the
//! package, the proof or the checkpoint, and nothing is written or lost. A yanked
//! version locked by digest still verifies, and `wharf log verify` audits it all.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

const ADMIN: &str = "admin-secret-for-tests";

/// A deployable of one component, which needs nothing but WASI.
const MANIFEST: &str = r#"
[deployable]
name = "acme:zip"
version = "1.0.0"
root = { package = "acme:flate", version = "^1" }

[host]
allow = ["wasi:cli/*", "wasi:io/*", "wasi:clocks/*", "wasi:random/*", "wasi:filesystem/*"]
"#;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A test's own PostgreSQL database, dropped (with `psql`) when the last registry on it
/// is.
struct Database {
    admin: String,
    name: String,
}

impl Database {
    /// Runs `query` on the server with `psql`, as its admin.
    fn psql(&self, query: &str) {
        let output = Command::new("psql")
            .args([&self.admin, "-qc", query])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{query}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The name of its snapshot ([`Registry::snapshot`]).
    fn snapshot(&self) -> String {
        format!("{}_snapshot", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        for name in [self.name.clone(), self.snapshot()] {
            let _ = Command::new("psql")
                .args([
                    &self.admin,
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

/// A `wharf serve` of a test, on its data directory and database.
struct Registry {
    child: Child,
    url: String,
    dir: PathBuf,
    database_url: String,
    backend: Backend,
    _database: Option<std::sync::Arc<Database>>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    async fn start(dir: &Path, backend: Backend) -> Self {
        let mut database = None;
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.join("registry/wharf.db").display()),
            Backend::Postgres => {
                let admin = std::env::var("WHARF_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let name = format!("wharf_log_{}", hex::encode(rand::random::<[u8; 8]>()));
                sql(&admin, &format!("CREATE DATABASE {name}")).await;
                database = Some(std::sync::Arc::new(Database {
                    admin: admin.clone(),
                    name: name.clone(),
                }));
                std::fs::write(
                    dir.join("token-key"),
                    hex::encode(rand::random::<[u8; 32]>()),
                )
                .unwrap();
                std::fs::write(
                    dir.join("log-key"),
                    wharf_registry::keys::generate_log_key("registry.test/log").unwrap(),
                )
                .unwrap();
                format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
            }
        };
        Self::spawn(dir, backend, database_url, database, "127.0.0.1:0")
    }

    fn spawn(
        dir: &Path,
        backend: Backend,
        database_url: String,
        database: Option<std::sync::Arc<Database>>,
        listen: &str,
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .args([
                "serve",
                "--listen",
                listen,
                "--admin-token",
                ADMIN,
                "--data-dir",
            ])
            .arg(dir.join("registry"));
        if let Backend::Postgres = backend {
            command
                .args(["--database-url", &database_url, "--token-key-file"])
                .arg(dir.join("token-key"))
                .arg("--log-key-file")
                .arg(dir.join("log-key"));
        }
        let (child, line) = common::announced::spawn_announced(&mut command);
        let url = line.rsplit(' ').next().unwrap().to_owned();
        Self {
            child,
            url,
            dir: dir.to_owned(),
            database_url,
            backend,
            _database: database,
        }
    }

    /// Stops it and starts it again on the same address (and what `prepare` did to its
    /// files meanwhile).
    fn restart(mut self, prepare: impl FnOnce(&Path)) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        prepare(&self.dir);
        let listen = common::authority(&self.url).to_owned();
        let (dir, backend, url) = (self.dir.clone(), self.backend, self.database_url.clone());
        Self::spawn(&dir, backend, url, self._database.clone(), &listen)
    }

    /// Keeps the registry as it is now aside (its files, and its PostgreSQL database
    /// as a copy), stopped meanwhile so that both are whole.
    fn snapshot(self) -> Self {
        let database = self._database.clone();
        self.restart(|dir| {
            copy_dir(&dir.join("registry"), &dir.join("snapshot"));
            if let Some(db) = database {
                db.psql(&format!(
                    "CREATE DATABASE {} TEMPLATE {}",
                    db.snapshot(),
                    db.name
                ));
            }
        })
    }

    /// Puts the registry back as [`Registry::snapshot`] kept it: same address, same
    /// key, the history since gone.
    fn back_to_snapshot(self) -> Self {
        let database = self._database.clone();
        self.restart(|dir| {
            std::fs::remove_dir_all(dir.join("registry")).unwrap();
            copy_dir(&dir.join("snapshot"), &dir.join("registry"));
            if let Some(db) = database {
                db.psql(&format!("DROP DATABASE {} WITH (FORCE)", db.name));
                db.psql(&format!(
                    "CREATE DATABASE {} TEMPLATE {}",
                    db.name,
                    db.snapshot()
                ));
            }
        })
    }

    /// `wharf <args>` as the client whose home is `home` (its pinned keys and the
    /// checkpoints it saw live there).
    fn wharf(&self, home: &Path, args: &[&str]) -> Output {
        wharf_at(&self.url, home, args)
    }

    /// Publishes a component of its own as `name@version`; its digest.
    fn publish(&self, home: &Path, name: &str, version: &str) -> String {
        let bytes = wharf_bundled::unique_component("flate", &format!("{name}@{version}"));
        let file = home.join(format!("{}-{version}.wasm", name.replace(':', "-")));
        std::fs::create_dir_all(home).unwrap();
        std::fs::write(&file, &bytes).unwrap();
        ok(&self.wharf(
            home,
            &[
                "publish",
                file.to_str().unwrap(),
                "--package",
                &format!("{name}@{version}"),
            ],
        ));
        wharf_types::Digest::of(&bytes).to_string()
    }

    async fn sql(&self, query: &str) {
        sql(&self.database_url, query).await;
    }
}

/// `wharf <args>` against the registry at `url`, as the client whose home is `home`.
fn wharf_at(url: &str, home: &Path, args: &[&str]) -> Output {
    std::fs::create_dir_all(home).unwrap();
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .current_dir(home)
        .args(args)
        .env("WHARF_REGISTRY", url)
        .env("WHARF_TOKEN", ADMIN)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".state"))
        .env("WHARF_CACHE_DIR", home.join(".cache"))
        .env_remove("WHARF_CONFIG")
        .env_remove("WHARF_LOG_KEY")
        .output()
        .unwrap()
}

/// `deployable` with its provenance replaced by what `change` makes of it.
fn with_provenance(
    deployable: &[u8],
    change: impl FnOnce(&mut wharf_types::provenance::Provenance),
) -> Vec<u8> {
    let mut provenance = wharf_types::provenance::read(deployable).unwrap();
    change(&mut provenance);
    wharf_types::provenance::embed(deployable.to_vec(), &provenance)
}

/// Swaps the stored text of log entries 1 and 2 behind the registry's back (the tree
/// left as it was); twice puts them back.
async fn swap_entries_1_and_2(registry: &Registry) {
    for query in [
        "UPDATE log_entries SET idx = 100 WHERE idx = 2",
        "UPDATE log_entries SET idx = 2 WHERE idx = 1",
        "UPDATE log_entries SET idx = 1 WHERE idx = 100",
    ] {
        registry.sql(query).await;
    }
}

async fn sql(url: &str, query: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query(query).execute(&mut conn).await.unwrap();
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The error of a command that must fail.
fn refused(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

async fn pull_pins_the_key_and_refuses_what_the_log_does_not_vouch_for(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), backend).await;
    let client = dir.path().join("client");
    let digest = registry.publish(&client, "acme:gw", "1.0.0");
    let other = registry.publish(&client, "acme:gw", "1.0.1");

    // The first pull pins the key and verifies: the entry of its publish is index 1
    // (the namespace's claim is 0).
    let pulled = registry.wharf(
        &client,
        &["pull", "acme:gw@=1.0.0", "--json", "-o", "a.wasm"],
    );
    let summary: serde_json::Value = serde_json::from_str(&ok(&pulled)).unwrap();
    assert_eq!(summary["log_index"], 1, "{summary}");
    assert!(String::from_utf8_lossy(&pulled.stderr).contains("Pinned"));
    let pins = std::fs::read_to_string(client.join(".config/wharf/log-keys.toml")).unwrap();
    assert!(pins.contains(common::authority(&registry.url)), "{pins}");

    // A version row rewritten to other bytes (which the registry has, and serves, and
    // whose digest matches them): the log binds 1.0.0 to its own digest.
    registry
        .sql(&format!(
            "UPDATE versions SET digest = '{other}' WHERE version = '1.0.0'"
        ))
        .await;
    let error = refused(&registry.wharf(&client, &["pull", "acme:gw@=1.0.0", "-o", "b.wasm"]));
    assert!(
        error.contains(&format!("acme:gw@1.0.0 ({other})"))
            && error.contains(&format!(
                "the digest is not in the log: log entry 1 binds acme:gw@1.0.0 to {digest}"
            )),
        "{error}"
    );
    assert!(!client.join("b.wasm").exists(), "nothing is written");
    registry
        .sql(&format!(
            "UPDATE versions SET digest = '{digest}' WHERE version = '1.0.0'"
        ))
        .await;
    ok(&registry.wharf(&client, &["pull", "acme:gw@=1.0.0", "-o", "b.wasm"]));

    // Two entries' text swapped in the database, the tree left as it was: the entry
    // the registry shows for 1.0.1 is another's.
    swap_entries_1_and_2(&registry).await;
    let error = refused(&registry.wharf(&client, &["pull", "acme:gw@=1.0.1", "-o", "c.wasm"]));
    assert!(
        error.contains(&format!("acme:gw@1.0.1 ({other})"))
            && error.contains("log entry 2 is not its publish but: publish acme:gw@1.0.0"),
        "{error}"
    );
    // ... and the auditor's recomputed tree no longer matches the signed root.
    let error = refused(&registry.wharf(&client, &["log", "verify"]));
    assert!(error.contains("the entries hash to the root"), "{error}");
    swap_entries_1_and_2(&registry).await;
    ok(&registry.wharf(&client, &["log", "verify"]));

    // The whole log rewritten (its tree recomputed, as by a registry that rebuilt it
    // from its versions): the client's last checkpoint is not a prefix of it.
    let registry = {
        registry.sql("DELETE FROM log_entries").await;
        registry.sql("DELETE FROM log_hashes").await;
        registry.sql("UPDATE log_head SET size = 0").await;
        registry.sql("UPDATE versions SET log_index = NULL").await;
        registry.restart(|_| {})
    };
    let error = refused(&registry.wharf(&client, &["pull", "acme:gw@=1.0.0", "-o", "d.wasm"]));
    assert!(
        error.contains("transparency log was rewritten or forked")
            && error.contains("size 3")
            && error.contains(".state/wharf/checkpoints.toml"),
        "{error}"
    );
    // A new client, shown only the new history, accepts it (what monitors are for).
    ok(&registry.wharf(
        &dir.path().join("newcomer"),
        &["pull", "acme:gw@=1.0.0", "-o", "d.wasm"],
    ));
}

async fn a_swapped_blob_and_another_key_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), backend).await;
    let client = dir.path().join("client");
    let digest = registry.publish(&client, "acme:gw", "1.0.0");
    ok(&registry.wharf(&client, &["pull", "acme:gw", "-o", "a.wasm"]));

    // A blob swapped on disk after the publish (and the server restarted, so that no
    // copy of it is in memory): the download does not match the digest.
    let hex = digest.trim_start_matches("sha256:");
    let blob = dir
        .path()
        .join("registry/storage/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    let original = std::fs::read(&blob).unwrap();
    let registry = registry.restart(|_| std::fs::write(&blob, b"swapped").unwrap());
    let error = refused(&registry.wharf(&client, &["pull", "acme:gw", "-o", "b.wasm"]));
    assert!(
        error.contains("acme:gw@1.0.0") && error.contains(&digest),
        "{error}"
    );
    let fsck = registry.wharf(
        &client,
        &[
            "fsck",
            "--data-dir",
            dir.path().join("registry").to_str().unwrap(),
            "--database-url",
            &registry.database_url,
        ],
    );
    assert!(refused(&fsck).contains("missing or damaged"));
    std::fs::write(&blob, &original).unwrap();

    // Another key signs the checkpoints: the pinned one refuses them, naming both.
    let pinned = ok(&registry.wharf(&client, &["log", "verify", "--json"]));
    let pinned: serde_json::Value = serde_json::from_str(&pinned).unwrap();
    let registry = registry.restart(|dir| match backend {
        Backend::Sqlite => std::fs::remove_file(dir.join("registry/log-key")).unwrap(),
        Backend::Postgres => std::fs::write(
            dir.join("log-key"),
            wharf_registry::keys::generate_log_key("registry.test/log").unwrap(),
        )
        .unwrap(),
    });
    let error = refused(&registry.wharf(&client, &["pull", "acme:gw", "-o", "c.wasm"]));
    // `origin+id` (the base64 after it may hold `+` too).
    let old_id = pinned["key"]
        .as_str()
        .unwrap()
        .splitn(3, '+')
        .take(2)
        .collect::<Vec<_>>()
        .join("+");
    assert!(
        error.contains(&format!(
            "the checkpoint is not signed by the log key {old_id}"
        )) && error.contains("it is signed by"),
        "{error}"
    );
    assert!(!client.join("c.wasm").exists());
    // A key given for CI is the one checked: the right one passes.
    let new_key = String::from_utf8(
        reqwest::get(format!("{}/api/v1/log/key", registry.url))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    ok(&registry.wharf(
        &client,
        &[
            "pull",
            "acme:gw",
            "-o",
            "c.wasm",
            "--log-key",
            new_key.trim(),
        ],
    ));
}

async fn a_fork_shown_to_a_client_that_saw_the_other_branch_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), backend).await;
    let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
    registry.publish(&alice, "acme:gw", "1.0.0");
    // The registry as it is now, kept aside.
    let registry = registry.snapshot();
    registry.publish(&alice, "acme:gw", "1.1.0");
    ok(&registry.wharf(&alice, &["pull", "acme:gw", "-o", "a.wasm"]));
    // Alice also composes a deployable of it, its log proofs recorded.
    std::fs::write(
        alice.join("wharf.toml"),
        MANIFEST.replace("acme:flate", "acme:gw"),
    )
    .unwrap();
    ok(&registry.wharf(&alice, &["compose", "-o", "gw.wasm"]));
    ok(&registry.wharf(&alice, &["verify", "gw.wasm"]));
    let saved = alice.join("seen.checkpoint");
    ok(&registry.wharf(
        &alice,
        &["log", "verify", "--save", saved.to_str().unwrap()],
    ));

    // The other branch: from the snapshot, another version 1.1.0 (same key, same
    // address). Bob, who never saw the first branch, is content with it.
    let registry = registry.back_to_snapshot();
    registry.publish(&bob, "acme:gw", "1.1.0");
    ok(&registry.wharf(&bob, &["pull", "acme:gw", "-o", "b.wasm"]));
    // Alice is not.
    let error = refused(&registry.wharf(&alice, &["pull", "acme:gw@=1.0.0", "-o", "c.wasm"]));
    assert!(
        error.contains("rewritten or forked") && error.contains("(size 3, root"),
        "{error}"
    );
    let error = refused(&registry.wharf(
        &alice,
        &["log", "verify", "--from", saved.to_str().unwrap()],
    ));
    assert!(error.contains("rewritten or forked"), "{error}");
    // Her deployable still carries its own proofs (offline it verifies), but the
    // registry's log no longer extends the checkpoint it recorded.
    ok(&registry.wharf(&alice, &["verify", "gw.wasm", "--offline"]));
    let error = refused(&registry.wharf(&alice, &["verify", "gw.wasm"]));
    assert!(
        error.contains("rewritten or forked") && error.contains("the deployable's provenance"),
        "{error}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn compose_verifies_the_graph_locks_the_checkpoint_and_records_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), backend).await;
    let client = dir.path().join("client");
    let digest = registry.publish(&client, "acme:flate", "1.0.0");
    std::fs::write(client.join("wharf.toml"), MANIFEST).unwrap();
    let composed = ok(&registry.wharf(&client, &["compose", "--json"]));
    let summary: serde_json::Value = serde_json::from_str(&composed).unwrap();
    assert_eq!(
        summary["log"]["indexes"]["acme:flate@1.0.0"], 1,
        "{summary}"
    );
    let lock = std::fs::read_to_string(client.join("wharf.lock")).unwrap();
    assert!(lock.contains("[log]"), "{lock}");
    // The provenance records the entry and the checkpoint.
    let deployable = std::fs::read(client.join("zip.wasm")).unwrap();
    let provenance = wharf_types::provenance::read(&deployable).unwrap();
    assert_eq!(provenance.constituents[0].log_index, Some(1));
    assert_eq!(provenance.constituents[0].digest, digest);
    let checkpoint = provenance.log_checkpoint.clone().unwrap();
    assert!(lock.contains(checkpoint.lines().nth(2).unwrap()), "{lock}");
    assert!(
        provenance.constituents[0]
            .log_entry
            .as_deref()
            .is_some_and(|e| e.contains(&digest)),
        "{provenance:?}"
    );

    // `wharf verify` re-checks it: online (the log still extends the checkpoint), and
    // offline with the key the compose pinned.
    let verified = ok(&registry.wharf(&client, &["verify", "zip.wasm", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["log"]["size"], 2, "{report}");
    assert_eq!(report["constituents"][0]["log_index"], 1, "{report}");
    assert_eq!(report["constituents"][0]["contained"], true, "{report}");
    ok(&registry.wharf(&client, &["verify", "zip.wasm", "--offline"]));
    // Offline with no key known, it says which is missing.
    let stranger = dir.path().join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    std::fs::copy(client.join("zip.wasm"), stranger.join("zip.wasm")).unwrap();
    let error = refused(&registry.wharf(&stranger, &["verify", "zip.wasm", "--offline"]));
    assert!(error.contains("no log key is known"), "{error}");
    // A provenance that names other bytes, or whose proof was tampered with, fails.
    let other = "sha256:".to_owned() + &"0".repeat(64);
    let tampered = with_provenance(&deployable, |p| p.constituents[0].digest = other.clone());
    std::fs::write(client.join("other.wasm"), tampered).unwrap();
    let error = refused(&registry.wharf(&client, &["verify", "other.wasm", "--offline"]));
    assert!(
        error.contains(&format!(
            "deployable.root: the deployable holds no component of the recorded digest {other}"
        )) && error.contains("the digest is not in the log: log entry 1 binds acme:flate@1.0.0"),
        "{error}"
    );
    let tampered = with_provenance(&deployable, |p| {
        p.constituents[0].log_proof = vec!["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()]
    });
    std::fs::write(client.join("proof.wasm"), tampered).unwrap();
    let error = refused(&registry.wharf(&client, &["verify", "proof.wasm"]));
    assert!(
        error.contains(&format!("acme:flate@1.0.0 ({digest})"))
            && error
                .contains("the inclusion proof of log entry 1 does not verify against checkpoint"),
        "{error}"
    );

    // Yanked, the locked version still composes and verifies (by its digest).
    ok(&registry.wharf(&client, &["yank", "acme:flate@1.0.0"]));
    let again = ok(&registry.wharf(
        &client,
        &["compose", "--locked", "--json", "-o", "again.wasm"],
    ));
    let summary: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        summary["log"]["indexes"]["acme:flate@1.0.0"], 1,
        "{summary}"
    );
    assert_eq!(summary["log"]["size"], 3, "{summary}");

    // The lock's checkpoint holds the next compose to the history it saw, whatever the
    // user's state says: a lock from a forked history is refused.
    let forked = lock.replace(
        checkpoint.lines().nth(2).unwrap(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    std::fs::write(client.join("wharf.lock"), forked).unwrap();
    let error = refused(&registry.wharf(&client, &["compose", "-o", "forked.wasm"]));
    assert!(
        error.contains("wharf.lock [log]") && error.contains("is refused"),
        "{error}"
    );
    assert!(!client.join("forked.wasm").exists());

    // `update` verifies what it locks too.
    std::fs::write(client.join("wharf.lock"), &lock).unwrap();
    ok(&registry.wharf(&client, &["yank", "--undo", "acme:flate@1.0.0"]));
    let newer = registry.publish(&client, "acme:flate", "1.0.1");
    // Its publish entry rewritten in the database to bind other bytes.
    registry
        .sql(&format!(
            "UPDATE log_entries SET entry = replace(entry, '{newer}', '{digest}') \
             WHERE subject = 'acme:flate@1.0.1' AND action = 'publish'"
        ))
        .await;
    let before = std::fs::read_to_string(client.join("wharf.lock")).unwrap();
    let error = refused(&registry.wharf(&client, &["update"]));
    assert!(
        error.contains(&format!("acme:flate@1.0.1 ({newer})"))
            && error.contains(&format!(
                "the digest is not in the log: log entry 4 binds acme:flate@1.0.1 to {digest}"
            )),
        "{error}"
    );
    // The lock is left as it was.
    assert_eq!(
        std::fs::read_to_string(client.join("wharf.lock")).unwrap(),
        before
    );
    // `[trust] log = false` turns the log's checks off for this deployable, saying so.
    std::fs::write(
        client.join("wharf.toml"),
        format!("{MANIFEST}\n[trust]\nlog = false\n"),
    )
    .unwrap();
    let updated = registry.wharf(&client, &["update"]);
    ok(&updated);
    assert!(
        String::from_utf8_lossy(&updated.stderr).contains("[trust] log = false"),
        "{}",
        String::from_utf8_lossy(&updated.stderr)
    );
}

/// A registry that serves no transparency log: `compose` refuses it while the manifest
/// requires the log (the default), and composes from it, unlogged, with `log = false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_without_a_log_is_refused_unless_the_manifest_turns_the_log_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = wharf_registry::Config::new(dir.path().join("registry"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_token = Some(ADMIN.into());
    config.transparency_log = false;
    let server = wharf_registry::Server::bind(config).await.unwrap();
    let url = format!("http://{}", server.local_addr());
    let bytes = wharf_bundled::unique_component("flate", "unlogged");
    server
        .publisher()
        .publish(
            &"acme:flate".parse().unwrap(),
            "1.0.0",
            bytes::Bytes::from(bytes),
        )
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let client = dir.path().join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(client.join("wharf.toml"), MANIFEST).unwrap();
    let error = refused(&wharf_at(&url, &client, &["compose"]));
    assert!(
        error.contains("serves no transparency log")
            && error.contains("set `log = false` under [trust]"),
        "{error}"
    );
    assert!(!client.join("zip.wasm").exists());

    std::fs::write(
        client.join("wharf.toml"),
        format!("{MANIFEST}\n[trust]\nlog = false\n"),
    )
    .unwrap();
    let composed = wharf_at(&url, &client, &["compose"]);
    ok(&composed);
    assert!(String::from_utf8_lossy(&composed.stderr).contains("[trust] log = false"));
    let deployable = std::fs::read(client.join("zip.wasm")).unwrap();
    let provenance = wharf_types::provenance::read(&deployable).unwrap();
    assert_eq!(provenance.log_checkpoint, None);
    assert_eq!(provenance.constituents[0].log_index, None);
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

on_both_databases!(
    pull_pins_the_key_and_refuses_what_the_log_does_not_vouch_for,
    a_swapped_blob_and_another_key_are_refused,
    a_fork_shown_to_a_client_that_saw_the_other_branch_is_refused,
    compose_verifies_the_graph_locks_the_checkpoint_and_records_it,
);
