//! Limits, on a real port with the host-probe guest: concurrency, the deadline, the
//! memory cap, body caps, instance reuse and graceful shutdown.
//!
//! No test orders requests by sleeping or bounds a latency: a test waits for what it
//! can observe (the in-flight and waiting gauges, a request held on a [`Gate`] until
//! the test opens it), and the only time bounds are lower ones (a deadline is not
//! cut short) or generous limits on how long to wait before failing instead of
//! hanging, each stated where it is used.

mod common;

use std::time::{Duration, Instant};

use common::{Gate, get, limits, metric, probe_server, wait_for_metric};
use tokio::task::JoinHandle;
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

/// Two spinning guests, one per worker thread of the runtime serving them, must not
/// starve other requests: each yields its thread, and lets it poll for I/O, at every
/// epoch tick. The 20 requests take about 0.3 s in a debug build; a guest that yields
/// without letting its worker poll for I/O made them take 6-7.5 s, next to the loops'
/// 8 s deadline, and once past it. Half the deadline (4 s) is the bound: 13 times the
/// healthy figure, and under what the bug gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_requests_are_cut_off_at_their_deadline_while_others_are_served() {
    let mut limits = limits();
    limits.deadline = Duration::from_secs(8);
    let deadline = limits.deadline;
    let server = probe_server(Capabilities::default(), limits).await;
    let client = reqwest::Client::new();

    let started = Instant::now();
    let loops: Vec<_> = (0..2)
        .map(|_| tokio::spawn(get_owned(client.clone(), server.url("/loop"))))
        .collect();
    wait_for_metric(&server, "wharf_host_requests_in_flight", 2.0).await;
    for _ in 0..20 {
        assert_eq!(
            get(&client, &server.url("/hello")).await,
            (200, "hello".into())
        );
    }
    let answered = started.elapsed();
    eprintln!("20 requests answered beside two spinning guests in {answered:?}");
    assert!(
        loops.iter().all(|l| !l.is_finished()),
        "the loops ended before the other requests were answered, after {answered:?}"
    );
    assert!(
        answered < deadline / 2,
        "the spinning guests starved the other requests: answered after {answered:?}"
    );
    assert_eq!(
        metric(
            &server.metrics(),
            "wharf_host_requests_total{status=\"200\"}"
        ),
        20.0
    );

    for looping in loops {
        // The loops are interrupted at the first epoch tick (5 ms) past the deadline;
        // 10 s more is room for a loaded machine, not a bound on the host's speed.
        let (status, _) = tokio::time::timeout(deadline + Duration::from_secs(10), looping)
            .await
            .expect("the deadline stopped the loop")
            .unwrap();
        assert_eq!(status, 504);
    }
    let took = started.elapsed();
    assert!(took >= deadline, "cut off early: {took:?}");

    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "wharf_host_limit_hits_total{limit=\"deadline\"}"),
        2.0
    );
    assert_eq!(
        metric(&metrics, "wharf_host_requests_total{status=\"504\"}"),
        2.0
    );
    assert_eq!(metric(&metrics, "wharf_host_requests_in_flight"), 0.0);
    // The host is still serving.
    assert_eq!(get(&client, &server.url("/hello")).await.0, 200);
}

/// A guest waiting in host I/O runs no wasm, so no epoch tick can stop it: a timer
/// at the same deadline does (docs/host.md, "How the deadline is enforced"). Two
/// waits that never end: an outbound call to a server that never answers, and a
/// request body that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_stops_a_guest_blocked_in_host_io() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut limits = limits();
    limits.deadline = Duration::from_secs(1);
    let deadline = limits.deadline;
    // Never opened: the guest's outbound call waits for good.
    let gate = Gate::start().await;
    let capabilities = Capabilities {
        http_hosts: vec![gate.authority()],
        ..Capabilities::default()
    };
    let server = probe_server(capabilities, limits).await;
    let client = reqwest::Client::new();
    // Past the deadline, 10 s of room for a loaded machine: a host that never stops
    // the guest fails here instead of hanging.
    let patience = deadline + Duration::from_secs(10);

    let started = Instant::now();
    let (status, body) =
        tokio::time::timeout(patience, get(&client, &server.url(&gate.probe_path())))
            .await
            .expect("the deadline stopped the guest waiting for its outbound call");
    assert_eq!((status, body.as_str()), (504, "deadline exceeded\n"));
    assert!(started.elapsed() >= deadline, "{:?}", started.elapsed());

    // 100 bytes announced, 3 sent: the guest's read of the body waits for the rest.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nhost: probe\r\ncontent-length: 100\r\n\r\nabc")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(patience, async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the connection closed without an answer");
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await
    .expect("the deadline stopped the guest waiting for the request body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(started.elapsed() >= deadline, "{:?}", started.elapsed());

    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "wharf_host_limit_hits_total{limit=\"deadline\"}"),
        2.0
    );
    assert_eq!(metric(&metrics, "wharf_host_requests_in_flight"), 0.0);
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

/// A probe server with one slot, and a request holding it until the test opens the
/// gate it fetches from.
async fn one_slot_held(
    queue_timeout: Duration,
) -> (common::Server, Gate, JoinHandle<(u16, String)>) {
    let mut limits = limits();
    limits.max_concurrency = 1;
    limits.queue_timeout = queue_timeout;
    limits.deadline = Duration::from_secs(30);
    let gate = Gate::start().await;
    let capabilities = Capabilities {
        http_hosts: vec![gate.authority()],
        ..Capabilities::default()
    };
    let server = probe_server(capabilities, limits).await;
    let holder = tokio::spawn(get_owned(
        reqwest::Client::new(),
        server.url(&gate.probe_path()),
    ));
    wait_for_metric(&server, "wharf_host_requests_in_flight", 1.0).await;
    (server, gate, holder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_concurrency_cap_wait_for_a_slot() {
    let (server, gate, holder) = one_slot_held(Duration::from_secs(20)).await;
    let waiter = tokio::spawn(get_owned(reqwest::Client::new(), server.url("/hello")));
    wait_for_metric(&server, "wharf_host_requests_waiting", 1.0).await;
    assert!(
        !waiter.is_finished(),
        "answered while the only slot was held"
    );

    gate.open();
    assert_eq!(holder.await.unwrap(), (200, "200 opened".into()));
    assert_eq!(waiter.await.unwrap(), (200, "hello".into()));
    let metrics = server.metrics();
    assert_eq!(metric(&metrics, "wharf_host_requests_waiting"), 0.0);
    assert_eq!(metric(&metrics, "wharf_host_requests_in_flight"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_past_the_queue_timeout_gets_503() {
    let queue_timeout = Duration::from_millis(200);
    let (server, gate, holder) = one_slot_held(queue_timeout).await;
    let queued = Instant::now();
    assert_eq!(
        get(&reqwest::Client::new(), &server.url("/hello")).await,
        (503, "too many requests in flight\n".into())
    );
    assert!(queued.elapsed() >= queue_timeout, "{:?}", queued.elapsed());
    assert_eq!(
        metric(
            &server.metrics(),
            "wharf_host_limit_hits_total{limit=\"concurrency\"}"
        ),
        1.0
    );

    gate.open();
    assert_eq!(holder.await.unwrap(), (200, "200 opened".into()));
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
            settled(&reused, get(&client, &reused.url("/count"))).await,
            (200, expected.to_string())
        );
    }
}

/// `answer`, once the request's instance is back among the idle ones or dropped: the
/// response head reaches the client before the guest returns, so the next request
/// could otherwise arrive before its instance is kept.
async fn settled<T>(server: &common::Server, answer: impl std::future::Future<Output = T>) -> T {
    let answer = answer.await;
    wait_for_metric(server, "wharf_host_requests_in_flight", 0.0).await;
    answer
}

/// By default two fresh instances wait, made ahead of their requests; each serves
/// one request and is replaced behind it. `prewarming(0)` makes each instance when
/// its request arrives; reused instances are never made ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_made_ahead_serve_one_request_each() {
    let client = reqwest::Client::new();
    let ahead = probe_server(Capabilities::default(), limits()).await;
    for _ in 0..4 {
        wait_for_metric(&ahead, "wharf_host_instances_ready", 2.0).await;
        assert_eq!(get(&client, &ahead.url("/count")).await, (200, "1".into()));
    }
    wait_for_metric(&ahead, "wharf_host_instances_ready", 2.0).await;
    let metrics = ahead.metrics();
    assert_eq!(metric(&metrics, "wharf_host_prewarmed_total"), 4.0);
    // Four requests, two instances waiting: six made, each counted once.
    assert_eq!(
        metric(&metrics, "wharf_host_instantiation_seconds_count"),
        6.0
    );

    let on_arrival = common::start_with(common::probe(), Capabilities::default(), limits(), |s| {
        s.prewarming(0)
    })
    .await;
    let reused = common::start(common::probe(), Capabilities::default(), limits(), true).await;
    for server in [&on_arrival, &reused] {
        for _ in 0..2 {
            assert_eq!(get(&client, &server.url("/count")).await.0, 200);
        }
        let metrics = server.metrics();
        assert_eq!(metric(&metrics, "wharf_host_instances_ready"), 0.0);
        assert_eq!(metric(&metrics, "wharf_host_prewarmed_total"), 0.0);
    }
}

/// Under `--reuse-instances`, an instance whose call trapped (out of memory) or was
/// interrupted (its deadline) is dropped: the next request counts from 1 again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapped_instance_is_never_reused() {
    let mut limits = limits();
    limits.max_memory = 32 << 20;
    limits.deadline = Duration::from_secs(1);
    let server = common::start(common::probe(), Capabilities::default(), limits, true).await;
    // A kept trapped instance never answers (its response outparam lives on in the
    // kept store): fail then, do not hang.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let probe = async |path: &str| settled(&server, get(&client, &server.url(path))).await;

    // One client, one request at a time, each after the last one's instance was kept
    // or dropped: at most one instance is kept between them, and each request takes it.
    assert_eq!(probe("/count").await, (200, "1".into()));
    assert_eq!(
        probe("/count").await,
        (200, "2".into()),
        "instances are reused"
    );
    assert_eq!(probe("/grow?64").await.0, 500);
    assert_eq!(probe("/count").await, (200, "1".into()), "after a trap");
    assert_eq!(probe("/count").await, (200, "2".into()));
    assert_eq!(probe("/loop").await.0, 504);
    assert_eq!(
        probe("/count").await,
        (200, "1".into()),
        "after the deadline"
    );
    assert_eq!(probe("/count").await, (200, "2".into()));
    // `/trap` counts before it traps: a kept instance would answer 4 next.
    assert_eq!(probe("/trap").await.0, 500);
    assert_eq!(
        probe("/count").await,
        (200, "1".into()),
        "after a plain trap"
    );

    let metrics = server.metrics();
    assert_eq!(metric(&metrics, "wharf_host_traps_total"), 3.0);
    assert_eq!(
        metric(&metrics, "wharf_host_limit_hits_total{limit=\"memory\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_drains_requests_in_flight() {
    let gate = Gate::start().await;
    let capabilities = Capabilities {
        http_hosts: vec![gate.authority()],
        ..Capabilities::default()
    };
    let mut server = probe_server(capabilities, limits()).await;
    let in_flight = tokio::spawn(get_owned(
        reqwest::Client::new(),
        server.url(&gate.probe_path()),
    ));
    wait_for_metric(&server, "wharf_host_requests_in_flight", 1.0).await;
    let stopped = server.shut_down();

    // New connections are refused as soon as the listener is closed, while the
    // request in flight still waits on its gate.
    let give_up = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(server.addr).await.is_ok() {
        assert!(Instant::now() < give_up, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        !in_flight.is_finished(),
        "the request in flight was cut short"
    );
    assert!(!stopped.is_finished(), "stopped before draining");

    gate.open();
    assert_eq!(in_flight.await.unwrap(), (200, "200 opened".into()));
    // Draining ends with the last request; 20 s is room, not a bound.
    tokio::time::timeout(Duration::from_secs(20), stopped)
        .await
        .expect("the server stops once drained")
        .unwrap();
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
