//! What the transparency log costs, and what verifying against it costs (docs/trust.md):
//! `cargo bench -p wharf-registry --bench log` (`scripts/bench-log` runs it).
//!
//! 1. The time of a publish with the log and without (`Config::transparency_log`, the
//!    benchmark's switch), on SQLite and on PostgreSQL: unique components published
//!    one after another into a fresh registry, rounds alternated, medians.
//! 2. At 100,000 entries: the sizes of inclusion and consistency proofs, the time to
//!    check one, and the time a client takes to verify a composed deployable's graph
//!    (the checkpoint's signature, a consistency proof from a checkpoint 1,000 entries
//!    older, and each of five constituents' entries and inclusion proofs) against a
//!    real server over HTTP, as `wharf compose` does.
//!
//! `WHARF_BENCH_PUBLISHES` (default 60 per round) and `WHARF_BENCH_ENTRIES` (default
//! 100,000) change the sizes; `WHARF_TEST_POSTGRES_URL` the PostgreSQL server.

use std::time::{Duration, Instant};

use wharf_registry::{Config, Server};
use wharf_types::PackageName;
use wharf_types::log::{self, Action, Entry, Tree};

const ROUNDS: usize = 3;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn postgres_admin() -> String {
    std::env::var("WHARF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn sql(url: &str, query: &str) {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query(query).execute(&mut conn).await.unwrap();
}

/// Drops the PostgreSQL database of `config`, if it has one.
async fn drop_database(config: &Config) {
    if let Some(url) = &config.database_url {
        let name = url.rsplit('/').next().unwrap();
        sql(
            &postgres_admin(),
            &format!("DROP DATABASE {name} WITH (FORCE)"),
        )
        .await;
    }
}

/// A fresh registry's configuration on `backend`, in `dir`.
async fn config(backend: &str, dir: &std::path::Path) -> Config {
    let mut config = Config::new(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_token = Some("bench-admin-token-0123456789".into());
    config.gc_interval = Duration::ZERO;
    if backend == "postgres" {
        let admin = postgres_admin();
        let name = format!(
            "wharf_bench_log_{}_{}",
            std::process::id(),
            dir.file_name()
                .unwrap()
                .to_string_lossy()
                .replace(['.', '-'], "_")
                .to_lowercase()
        );
        sql(&admin, &format!("CREATE DATABASE {name}")).await;
        config.database_url = Some(format!("{}/{name}", admin.rsplit_once('/').unwrap().0));
        let key = dir.join("token-key");
        std::fs::write(&key, wharf_registry::keys::new_secret()).unwrap();
        config.token_key_file = Some(key);
        let log_key = dir.join("log-key");
        std::fs::write(
            &log_key,
            wharf_registry::keys::generate_log_key("bench.invalid/log").unwrap(),
        )
        .unwrap();
        config.log_key_file = Some(log_key);
    }
    config
}

/// The median time of one publish into a fresh registry, in milliseconds, with the log
/// on or off. A median of each publish rather than a rate over the round, so that a
/// stall of the shared machine (another build, a paused VM) does not decide the figure.
async fn publish_time(backend: &str, log_on: bool, round: usize, publishes: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(backend, dir.path()).await;
    config.transparency_log = log_on;
    let server = Server::bind(config).await.unwrap();
    let publisher = server.publisher();
    let name: PackageName = "bench:pkg".parse().unwrap();
    let components: Vec<bytes::Bytes> = (0..publishes)
        .map(|i| wharf_bundled::unique_component("flate", &format!("{log_on} {round} {i}")).into())
        .collect();
    let mut times = Vec::with_capacity(publishes);
    for (i, bytes) in components.into_iter().enumerate() {
        let started = Instant::now();
        publisher
            .publish(&name, &format!("1.0.{i}"), bytes)
            .await
            .unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let time = median(times);
    if log_on {
        let report = server.state().fsck().await.unwrap();
        assert!(report.is_clean(), "{:?}", report.log_problems);
        assert_eq!(report.log_entries as usize, publishes + 1);
    }
    server.state().db.close().await;
    drop_database(&server.state().config).await;
    time
}

/// Seeds `entries` log entries straight into the database (what many publishes would
/// have left, without spending the run in wasm validation), in batches.
async fn seed_log(pool: &sqlx::AnyPool, entries: usize) {
    let mut tree = Tree::default();
    let mut texts = Vec::with_capacity(entries);
    for i in 0..entries {
        let entry = Entry::version(
            Action::Publish,
            &format!("seed:p{}@1.0.{}", i / 100, i % 100),
            &format!("sha256:{:064x}", i),
            "seeder",
            1_700_000_000_000 + i as i64,
        );
        let bytes = entry.to_bytes();
        tree.push(log::leaf_hash(&bytes));
        texts.push((entry.subject, String::from_utf8(bytes).unwrap()));
    }
    let mut tx = pool.begin().await.unwrap();
    for chunk in texts.chunks(500).enumerate() {
        let (c, rows) = chunk;
        let values: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(k, (subject, text))| {
                format!(
                    "({}, '{}', 'publish', '{}', 0)",
                    c * 500 + k,
                    subject,
                    text.replace('\'', "''")
                )
            })
            .collect();
        sqlx::query(&format!(
            "INSERT INTO log_entries (idx, subject, action, entry, created_at) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    for (c, rows) in tree.stored().chunks(1000).enumerate() {
        let values: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(k, h)| format!("({}, '{}')", c * 1000 + k, log::hash_text(h)))
            .collect();
        sqlx::query(&format!(
            "INSERT INTO log_hashes (idx, hash) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query(&format!(
        "UPDATE log_head SET size = {entries} WHERE id = 1"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Proof sizes and check times at `entries`, in memory.
fn proofs(entries: usize) {
    let mut tree = Tree::default();
    let started = Instant::now();
    let mut leaves = Vec::with_capacity(entries);
    for i in 0..entries {
        let leaf = log::leaf_hash(format!("entry {i}").as_bytes());
        leaves.push(leaf);
        tree.push(leaf);
    }
    let build = started.elapsed();
    let size = entries as u64;
    let root = tree.root();
    let index = size / 3;
    let inclusion = tree.inclusion(size, index).unwrap();
    let consistency = tree.consistency(size - 1000, size).unwrap();
    let old_root = tree.root_at(size - 1000).unwrap();
    let runs = 10_000;
    let started = Instant::now();
    for _ in 0..runs {
        log::check_inclusion(&inclusion, size, root, index, leaves[index as usize]).unwrap();
    }
    let inclusion_check = started.elapsed() / runs;
    let started = Instant::now();
    for _ in 0..runs {
        log::check_consistency(&consistency, size - 1000, old_root, size, root).unwrap();
    }
    let consistency_check = started.elapsed() / runs;
    println!(
        "tree of {entries} entries built in memory in {build:.2?} ({} stored hashes)",
        tree.stored().len()
    );
    println!(
        "inclusion proof: {} hashes ({} bytes), checked in {inclusion_check:.2?}",
        inclusion.len(),
        inclusion.len() * log::HASH_SIZE
    );
    println!(
        "consistency proof ({} -> {entries}): {} hashes ({} bytes), checked in {consistency_check:.2?}",
        entries - 1000,
        consistency.len(),
        consistency.len() * log::HASH_SIZE
    );
}

/// A client verifying a five-component graph against a registry of `entries` entries.
async fn graph(backend: &str, entries: usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(backend, dir.path()).await;
    let server = Server::bind(config).await.unwrap();
    let seeding = Instant::now();
    seed_log(server.state().db.pool(), entries).await;
    let seeded = seeding.elapsed();
    let publisher = server.publisher();
    let mut graph = Vec::new();
    for i in 0..5 {
        let name: PackageName = format!("bench:part{i}").parse().unwrap();
        let bytes = wharf_bundled::unique_component("flate", &format!("graph {i}"));
        let published = publisher
            .publish(&name, "1.0.0", bytes.into())
            .await
            .unwrap();
        graph.push((
            name,
            published.digest.parse::<wharf_types::Digest>().unwrap(),
        ));
    }
    let base = format!("http://{}", server.local_addr());
    let key = server.state().log_keys.verifier_key().to_owned();
    let state = server.state().clone();
    // The checkpoint a client saw 1,000 entries ago.
    let (size, _) = state.log_tree().await.unwrap();
    let proof = state
        .consistency_proof(Some(size - 1000), None)
        .await
        .unwrap();
    let older = state
        .log_keys
        .sign_checkpoint(
            size - 1000,
            log::parse_hash(&proof.from_root, "root").unwrap(),
        )
        .unwrap();
    let older = String::from_utf8(older).unwrap();
    let serving = tokio::spawn(server.run(std::future::pending()));
    let mut times = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let verifier = wharf_compose::LogVerifier::open(
            &base,
            "bench",
            None,
            log::LogKey::parse(&key).unwrap(),
            Some(&older),
            "bench",
        )
        .await
        .unwrap();
        let checks = graph
            .iter()
            .map(|(name, digest)| verifier.verify(name, "1.0.0", digest));
        for index in futures::future::join_all(checks).await {
            index.unwrap();
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "{backend}: a five-component graph verified against {} entries over HTTP: median {:.1} ms (seeded in {seeded:.1?})",
        entries + 6,
        median(times)
    );
    serving.abort();
    state.db.close().await;
    drop_database(&state.config).await;
}

#[tokio::main]
async fn main() {
    sqlx::any::install_default_drivers();
    let publishes = env("WHARF_BENCH_PUBLISHES", 60);
    let entries = env("WHARF_BENCH_ENTRIES", 100_000);
    for backend in ["sqlite", "postgres"] {
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            off.push(publish_time(backend, false, round, publishes).await);
            on.push(publish_time(backend, true, round, publishes).await);
        }
        let (on, off) = (median(on), median(off));
        println!(
            "{backend}: a publish takes {off:.1} ms without the log, {on:.1} ms with it \
             (medians of {publishes} publishes, median of {ROUNDS} rounds): {:.2}x the time",
            on / off
        );
    }
    proofs(entries);
    for backend in ["sqlite", "postgres"] {
        graph(backend, entries).await;
    }
}
