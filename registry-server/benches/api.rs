//! Latency of the registry's read paths on a large registry, on SQLite and on
//! PostgreSQL: `cargo bench -p wharf-registry --bench api`.
//!
//! Seeds 10,000 packages of 10 versions each (rows written directly, in batches: a
//! publish per version would spend the run in wasm validation), starts the real server
//! on a free port, and sends requests one at a time over a keep-alive connection:
//! search, version detail and resolve. Prints p50 and p99 per endpoint and database.
//! `WHARF_BENCH_PACKAGES` changes the number of packages; `WHARF_TEST_POSTGRES_URL`
//! the PostgreSQL server.

use std::time::{Duration, Instant};

use sqlx::AnyPool;
use wharf_registry::{Config, Server};

const VERSIONS: usize = 10;
const REQUESTS: usize = 2000;
const WARMUP: usize = 200;

fn packages() -> usize {
    std::env::var("WHARF_BENCH_PACKAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// A small deterministic generator, so both databases get the same data and requests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: [&str; 12] = [
    "gzip", "auth", "schema", "image", "json", "cache", "queue", "rate", "geo", "text", "crypto",
    "log",
];

async fn seed(pool: &AnyPool, packages: usize) {
    let now = 1_700_000_000_000i64;
    let digest = format!("sha256:{}", "ab".repeat(32));
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, 1000, $2)")
        .bind(&digest)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
    for ns in 0..100 {
        sqlx::query("INSERT INTO namespaces (name, created_at) VALUES ($1, $2)")
            .bind(format!("team{ns}"))
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    // Multi-row inserts in transactions of 500 packages.
    for chunk in (0..packages).collect::<Vec<_>>().chunks(500) {
        let mut tx = pool.begin().await.unwrap();
        let mut p_rows = Vec::new();
        let mut v_rows = Vec::new();
        let mut i_rows = Vec::new();
        for &i in chunk {
            let (ns, name) = (format!("team{}", i % 100), format!("pkg{i}"));
            let description = format!(
                "{} {} component number {i}",
                WORDS[i % WORDS.len()],
                WORDS[(i / 7) % WORDS.len()]
            );
            p_rows.push(format!(
                "('{ns}', '{name}', 'component', '{description}', '1.{}.0', {now}, {}, '{ns}:{name} {description}')",
                VERSIONS - 1,
                now + i as i64
            ));
            for v in 0..VERSIONS {
                let version = format!("1.{v}.0");
                v_rows.push(format!(
                    "('{ns}', '{name}', '{version}', '{digest}', 1000, 'package root:component; world root {{}}', '{description}', \
                     'Apache-2.0', NULL, '{{}}', 0, 'bench', {now})"
                ));
                i_rows.push(format!("('{ns}', '{name}', '{version}', 'export', 'bench:api{}/handler', 'bench:api{}', '1.{v}.0')", i % 50, i % 50));
                i_rows.push(format!("('{ns}', '{name}', '{version}', 'import', 'wasi:cli/environment', 'wasi:cli', '0.2.12')"));
            }
        }
        let insert = |table: &str, columns: &str, rows: &[String]| {
            format!("INSERT INTO {table} ({columns}) VALUES {}", rows.join(", "))
        };
        sqlx::query(&insert(
            "packages",
            "namespace, name, kind, description, latest, created_at, updated_at, search_text",
            &p_rows,
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
        for rows in v_rows.chunks(1000) {
            sqlx::query(&insert(
                "versions",
                "namespace, name, version, digest, size, wit, description, license, source, producers, yanked, published_by, published_at",
                rows,
            ))
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        for rows in i_rows.chunks(1000) {
            sqlx::query(&insert(
                "version_items",
                "namespace, name, version, direction, item, item_package, item_version",
                rows,
            ))
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    // Planner statistics, as a long-running database would have them.
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

async fn measure(
    client: &reqwest::Client,
    mut url: impl FnMut() -> String,
) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(REQUESTS);
    for i in 0..WARMUP + REQUESTS {
        let url = url();
        let start = Instant::now();
        let response = client.get(&url).send().await.unwrap();
        let status = response.status();
        response.bytes().await.unwrap();
        let elapsed = start.elapsed();
        assert!(status.is_success(), "{url}: {status}");
        if i >= WARMUP {
            times.push(elapsed);
        }
    }
    times.sort();
    (percentile(&times, 0.50), percentile(&times, 0.99))
}

async fn run(label: &str, config: Config, packages: usize) {
    let server = Server::bind(config).await.unwrap();
    let started = Instant::now();
    seed(server.state().db.pool(), packages).await;
    eprintln!(
        "{label}: seeded {packages} packages x {VERSIONS} versions in {:.1?}",
        started.elapsed()
    );
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let search = measure(&client, || {
        format!("{base}/api/v1/packages?q={}", WORDS[rng.below(WORDS.len())])
    })
    .await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let detail = measure(&client, || {
        let i = rng.below(packages);
        format!(
            "{base}/api/v1/packages/team{}/pkg{i}/versions/1.{}.0",
            i % 100,
            rng.below(VERSIONS)
        )
    })
    .await;
    let mut rng = Rng(0xd1b5_4a32_d192_ed03);
    let resolve = measure(&client, || {
        let i = rng.below(packages);
        format!(
            "{base}/api/v1/packages/team{}/pkg{i}/resolve?requirement=%5E1.{}",
            i % 100,
            rng.below(VERSIONS)
        )
    })
    .await;
    for (endpoint, (p50, p99)) in [
        ("search", search),
        ("version detail", detail),
        ("resolve", resolve),
    ] {
        println!(
            "{label:<10} {endpoint:<16} p50 {:>7.3} ms   p99 {:>7.3} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::main]
async fn main() {
    let packages = packages();
    println!(
        "{packages} packages x {VERSIONS} versions; {REQUESTS} sequential requests per endpoint over keep-alive HTTP"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    run("sqlite", config, packages).await;

    let admin = std::env::var("WHARF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sqlx::any::install_default_drivers();
    let name = format!("wharf_bench_{}", std::process::id());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(format!("{}/{name}", admin.rsplit_once('/').unwrap().0));
    let key = dir.path().join("token-key");
    std::fs::write(&key, wharf_registry::keys::new_secret()).unwrap();
    config.token_key_file = Some(key);
    let log_key = dir.path().join("log-key");
    std::fs::write(
        &log_key,
        wharf_registry::keys::generate_log_key("bench.invalid/log").unwrap(),
    )
    .unwrap();
    config.log_key_file = Some(log_key);
    run("postgres", config, packages).await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}
