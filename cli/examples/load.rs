//! A mixed registry workload for `scripts/bench-scale`: pulls and publishes spread
//! round-robin over one or more replicas, for a fixed time, then figures.
//!
//! ```sh
//! cargo run --release -p wharf --example load -- \
//!     --url http://127.0.0.1:7878 --url http://127.0.0.1:7879 \
//!     --token admin-secret --seconds 10 --connections 32 --publish-percent 10
//! ```
//!
//! Before the clock starts it publishes 20 packages to pull. Each operation then is a
//! publish (a new version of a distinct real component, `PUT .../versions/{v}`) with
//! the given probability, else a pull of a random seeded package the way `wkg` and
//! `wharf pull` do it: resolve (`GET .../versions/{v}`) and download the content.
//! Prints one JSON object: requests/s, and median and p99 latency per kind.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

struct Options {
    urls: Vec<String>,
    token: String,
    seconds: u64,
    connections: usize,
    publish_percent: u32,
    label: String,
}

fn options() -> Options {
    let mut o = Options {
        urls: Vec::new(),
        token: "admin-secret".into(),
        seconds: 10,
        connections: 32,
        publish_percent: 10,
        label: String::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--url" => o.urls.push(value()),
            "--token" => o.token = value(),
            "--seconds" => o.seconds = value().parse().expect("--seconds N"),
            "--connections" => o.connections = value().parse().expect("--connections N"),
            "--publish-percent" => {
                o.publish_percent = value().parse().expect("--publish-percent N")
            }
            "--label" => o.label = value(),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!o.urls.is_empty(), "give at least one --url");
    o
}

#[derive(Default)]
struct Tally {
    pulls: Vec<Duration>,
    publishes: Vec<Duration>,
    errors: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let o = options();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.connections)
        .build()
        .unwrap();
    let run = rand::rng().random::<u32>();

    // What the pulls read: 20 packages, published through the first replica.
    let seeded: Vec<String> = (0..20).map(|i| format!("load:seed{i}")).collect();
    for name in &seeded {
        let (ns, n) = name.split_once(':').unwrap();
        let reply = client
            .put(format!(
                "{}/api/v1/packages/{ns}/{n}/versions/1.0.0",
                o.urls[0]
            ))
            .bearer_auth(&o.token)
            .body(wharf_bundled::unique_component("flate", name))
            .send()
            .await
            .unwrap();
        assert!(
            reply.status().is_success() || reply.status() == reqwest::StatusCode::CONFLICT,
            "seeding {name}: {}",
            reply.status()
        );
    }

    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..o.connections {
        let client = client.clone();
        let url = o.urls[worker % o.urls.len()].clone();
        let token = o.token.clone();
        let seeded = seeded.clone();
        let publish_percent = o.publish_percent;
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
            let mut published = 0;
            while Instant::now() < deadline {
                let begin = Instant::now();
                if rng.random_range(0..100) < publish_percent {
                    let version = format!("1.{run}.{published}");
                    published += 1;
                    let ok = client
                        .put(format!(
                            "{url}/api/v1/packages/load/w{worker}/versions/{version}"
                        ))
                        .bearer_auth(&token)
                        .body(wharf_bundled::unique_component(
                            "flate",
                            &format!("{run}-{worker}-{version}"),
                        ))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        tally.publishes.push(begin.elapsed());
                    } else {
                        tally.errors += 1;
                    }
                } else {
                    let (ns, n) = seeded[rng.random_range(0..seeded.len())]
                        .split_once(':')
                        .unwrap();
                    let base = format!("{url}/api/v1/packages/{ns}/{n}/versions/1.0.0");
                    let mut ok = client
                        .get(&base)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        ok = match client.get(format!("{base}/content")).send().await {
                            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                            _ => false,
                        };
                    }
                    if ok {
                        tally.pulls.push(begin.elapsed());
                    } else {
                        tally.errors += 1;
                    }
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for worker in workers {
        let t = worker.await.unwrap();
        all.pulls.extend(t.pulls);
        all.publishes.extend(t.publishes);
        all.errors += t.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.pulls.sort();
    all.publishes.sort();
    let total = all.pulls.len() + all.publishes.len();
    let mut merged: Vec<Duration> = all.pulls.iter().chain(&all.publishes).copied().collect();
    merged.sort();
    println!(
        "{}",
        serde_json::json!({
            "label": o.label,
            "replicas": o.urls.len(),
            "connections": o.connections,
            "seconds": elapsed,
            "ops_per_s": total as f64 / elapsed,
            "pulls_per_s": all.pulls.len() as f64 / elapsed,
            "publishes_per_s": all.publishes.len() as f64 / elapsed,
            "p50_ms": percentile(&merged, 0.5),
            "p99_ms": percentile(&merged, 0.99),
            "pull_p99_ms": percentile(&all.pulls, 0.99),
            "publish_p99_ms": percentile(&all.publishes, 0.99),
            "errors": all.errors,
        })
    );
}
