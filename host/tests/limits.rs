//! Limits, on a real port with the host-probe guest: concurrency, the deadline, the
//! memory cap, body caps, instance reuse and graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{get, limits, metric, probe_server};
use wharf_host::Capabilities;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_get_their_own_answer() {
    let server = probe_server(Capabilities::default(), limits()).await;
    let client = reqwest::Client::new();
    let requests = (0..48).map(|i| {
        let client = client.clone();
        let url = server.url("/echo");
        async move {
            let body = format!("request {i} ").repeat(200);
            let response = client.post(url).body(body.clone()).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.text().await.unwrap(), body);
        }
    });
    futures_join_all(requests).await;
    assert_eq!(
        metric(
            &server.metrics(),
            "wharf_host_requests_total{status=\"200\"}"
        ),
        48.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_request_is_cut_off_at_its_deadline_while_others_are_served() {
    let mut limits = limits();
    limits.deadline = Duration::from_millis(800);
    let server = probe_server(Capabilities::default(), limits).await;
    let client = reqwest::Client::new();

    let started = Instant::now();
    let looping = tokio::spawn(get_owned(client.clone(), server.url("/loop")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // While the loop spins, other requests are answered, and quickly.
    for _ in 0..20 {
        let asked = Instant::now();
        assert_eq!(
            get(&client, &server.url("/hello")).await,
            (200, "hello".into())
        );
        assert!(
            asked.elapsed() < Duration::from_millis(400),
            "{:?}",
            asked.elapsed()
        );
    }
    let (status, _) = looping.await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 504);
    assert!(
        took >= Duration::from_millis(800),
        "cut off early: {took:?}"
    );
    assert!(took < Duration::from_millis(1500), "cut off late: {took:?}");

    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "wharf_host_limit_hits_total{limit=\"deadline\"}"),
        1.0
    );
    assert_eq!(
        metric(&metrics, "wharf_host_requests_total{status=\"504\"}"),
        1.0
    );
    // The host is still serving.
    assert_eq!(get(&client, &server.url("/hello")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_past_the_cap_traps_that_request_only() {
    let mut limits = limits();
    limits.max_memory = 32 << 20;
    let server = probe_server(Capabilities::default(), limits).await;
    let client = reqwest::Client::new();

    assert_eq!(get(&client, &server.url("/grow?8")).await.0, 200);
    assert_eq!(get(&client, &server.url("/grow?64")).await.0, 500);
    // A fresh instance afterwards has its whole budget again.
    let (status, body) = get(&client, &server.url("/grow?8")).await;
    assert_eq!(status, 200, "{body}");

    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "wharf_host_limit_hits_total{limit=\"memory\"}"),
        1.0
    );
    assert_eq!(metric(&metrics, "wharf_host_traps_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_their_caps_are_refused() {
    let mut limits = limits();
    limits.max_request_body = 4 << 10;
    limits.max_response_body = 64 << 10;
    let server = probe_server(Capabilities::default(), limits).await;
    let client = reqwest::Client::new();

    let small = client
        .post(server.url("/echo"))
        .body(vec![b'a'; 4 << 10])
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    let large = client
        .post(server.url("/echo"))
        .body(vec![b'a'; 5 << 10])
        .send()
        .await
        .unwrap();
    assert_eq!(large.status(), 413);

    // A streamed body (no Content-Length) past the cap fails the guest's read.
    let chunks = futures_util_stream(vec![vec![b'b'; 3 << 10], vec![b'b'; 3 << 10]]);
    let streamed = client
        .post(server.url("/echo"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 400);

    assert_eq!(get(&client, &server.url("/big?32")).await.0, 200);
    // A response past the cap is cut off: the client never sees a complete body.
    let big = client.get(server.url("/big?128")).send().await.unwrap();
    assert!(big.bytes().await.is_err());

    let metrics = server.metrics();
    assert_eq!(
        metric(
            &metrics,
            "wharf_host_limit_hits_total{limit=\"request_body\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &metrics,
            "wharf_host_limit_hits_total{limit=\"response_body\"}"
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_concurrency_cap_wait_for_a_slot() {
    let mut limits = limits();
    limits.max_concurrency = 1;
    let server = probe_server(Capabilities::default(), limits).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let slow = tokio::spawn(get_owned(client.clone(), server.url("/sleep?400")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(&client, &server.url("/hello")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(slow.await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_past_the_queue_timeout_gets_503() {
    let mut limits = limits();
    limits.max_concurrency = 1;
    limits.queue_timeout = Duration::from_millis(200);
    let server = probe_server(Capabilities::default(), limits).await;
    let client = reqwest::Client::new();
    let slow = tokio::spawn(get_owned(client.clone(), server.url("/sleep?800")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = Instant::now();
    assert_eq!(get(&client, &server.url("/hello")).await.0, 503);
    assert!(queued.elapsed() >= Duration::from_millis(200));
    assert_eq!(slow.await.unwrap().0, 200);
    assert_eq!(
        metric(
            &server.metrics(),
            "wharf_host_limit_hits_total{limit=\"concurrency\"}"
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_a_fresh_instance_unless_reuse_is_asked_for() {
    let client = reqwest::Client::new();
    let fresh = probe_server(Capabilities::default(), limits()).await;
    for _ in 0..3 {
        assert_eq!(get(&client, &fresh.url("/count")).await, (200, "1".into()));
    }
    let reused = common::start(common::probe(), Capabilities::default(), limits(), true).await;
    for expected in 1..=3 {
        assert_eq!(
            get(&client, &reused.url("/count")).await,
            (200, expected.to_string())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_drains_requests_in_flight() {
    let mut server = probe_server(Capabilities::default(), limits()).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(get_owned(client.clone(), server.url("/sleep?500")));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stopped = server.shut_down();
    assert_eq!(in_flight.await.unwrap(), (200, "slept 500 ms".into()));
    tokio::time::timeout(Duration::from_secs(2), stopped)
        .await
        .expect("the server stops once drained")
        .unwrap();
    let fresh = reqwest::Client::new();
    assert!(fresh.get(server.url("/hello")).send().await.is_err());
}

async fn get_owned(client: reqwest::Client, url: String) -> (u16, String) {
    get(&client, &url).await
}

async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

fn futures_util_stream(
    chunks: Vec<Vec<u8>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::iter(chunks.into_iter().map(Ok))
}
