//! Clients that trickle their bodies to hold the upload slots (`--max-uploads`), so
//! that nobody else can publish: one user's bodies hold at most their share
//! (`--max-uploads-per-user`), callers who may not publish (no credentials, wrong
//! ones) hold none, and a body that comes too slowly (`--min-body-rate`) or stops
//! (`--body-timeout`) is answered `408 BODY_TIMEOUT` and gives its slot back.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::wire::{Answer, answer_within, basic, bearer, sha256};
use crate::{common, create_token};

/// What a trickler sends.
#[derive(Clone, Copy)]
enum Pace {
    /// A byte every half second, for ever.
    Trickle,
    /// Nothing after the head.
    Stop,
}

/// A client that promises a 1 MiB body to `path` and sends it as `pace` says, until
/// the server answers or closes, or `stop` is set (or a minute has passed); what the
/// server answered (None: nothing before it stopped).
fn trickler(
    addr: String,
    path: String,
    auth: Option<String>,
    pace: Pace,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Option<Answer>> {
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        let auth = auth.map(|a| format!("{a}\r\n")).unwrap_or_default();
        write!(
            stream,
            "{} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/octet-stream\r\n\
             content-length: {}\r\n\r\n",
            if path.starts_with("/v2/") {
                "POST"
            } else {
                "PUT"
            },
            1 << 20
        )
        .unwrap();
        // Reading for half a second is the pause between two bytes.
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut first = [0u8; 1];
        let give_up = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
            if let Pace::Trickle = pace
                && stream.write_all(&[7]).is_err()
            {
                break;
            }
            match stream.read(&mut first) {
                Ok(0) => return None,
                Ok(_) => {
                    let mut bytes = first.to_vec();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let _ = stream.read_to_end(&mut bytes);
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                    return Some(Answer { status, text });
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        answer_within(stream, Duration::from_millis(200)).ok()
    })
}

/// Where trickler `i` of `user` sends its body: an OCI blob push or a publish.
fn target(user: &str, i: usize) -> String {
    if i.is_multiple_of(2) {
        format!(
            "/v2/{user}/slow/blobs/uploads/?digest={}",
            sha256(format!("{user} {i}").as_bytes())
        )
    } else {
        // WIT names' words start with a letter.
        let letter = char::from(b'a' + i as u8);
        format!("/api/v1/packages/{user}/slow-{letter}/versions/1.0.0")
    }
}

/// A publish and an OCI blob push by `token` in namespace `ns`, each sent again
/// while it is refused `429` until `retry_until` (None: sent once): their statuses
/// and bodies.
async fn publish_and_push(
    url: &str,
    token: &str,
    ns: &str,
    tag: &str,
    retry_until: Option<Instant>,
) -> Vec<(u16, String)> {
    // A connection each: a refusal answered before the body was read closes its own.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let blob = format!("a blob of {ns} {tag}").into_bytes();
    let requests = [
        http.put(format!("{url}/api/v1/packages/{ns}/{tag}/versions/1.0.0"))
            .header("content-type", "application/wasm")
            .body(wharf_bundled::unique_component("flate", tag)),
        http.post(format!(
            "{url}/v2/{ns}/data/blobs/uploads/?digest={}",
            sha256(&blob)
        ))
        .header("content-type", "application/octet-stream")
        .body(blob),
    ];
    let mut answers = Vec::new();
    for request in requests {
        loop {
            let sent = request.try_clone().unwrap().bearer_auth(token).send().await;
            let (status, body) = match sent {
                Ok(response) => (
                    response.status().as_u16(),
                    response.text().await.unwrap_or_default(),
                ),
                Err(e) => (0, format!("no answer: {e}")),
            };
            if status == 429 && retry_until.is_some_and(|until| Instant::now() < until) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            answers.push((status, body));
            break;
        }
    }
    answers
}

/// One user's tricklers hold at most their share of the slots, and callers without
/// (valid) credentials hold none: another user publishes at once, with the default
/// limits (8 slots, 4 a user, 30 s before a slow body is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_trickling_bodies_leave_slots_for_everyone_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::serve_with(dir.path(), &[]);
    let url = server.registry.clone();
    let addr = common::authority(&url).to_owned();
    let http = reqwest::Client::new();
    let good = create_token(&http, &url, "good").await;
    let evil = create_token(&http, &url, "evil").await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut evil_ones = Vec::new();
    for i in 0..8 {
        let auth = Some(bearer(&evil.secret));
        let path = target("evil", i);
        evil_ones.push(trickler(
            addr.clone(),
            path,
            auth,
            Pace::Trickle,
            stop.clone(),
        ));
    }
    let mut strangers = Vec::new();
    for (i, auth) in [
        None,
        Some(basic("good:not-the-secret")),
        Some(bearer("forged")),
        Some(basic(":")),
    ]
    .into_iter()
    .enumerate()
    {
        for j in 0..2 {
            let path = target("good", 2 * i + j);
            let auth = auth.clone();
            strangers.push(trickler(
                addr.clone(),
                path,
                auth,
                Pace::Trickle,
                stop.clone(),
            ));
        }
    }
    // Those without a slot are answered at once; wait for them (a few seconds at
    // most), so that the others hold theirs.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (evil_ones.iter().filter(|t| t.is_finished()).count() < 4
        || !strangers.iter().all(|t| t.is_finished()))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let answers = publish_and_push(&url, &good.secret, "good", "app", None).await;
    stop.store(true, Ordering::SeqCst);
    for (status, body) in &answers {
        assert_eq!(
            *status, 201,
            "good could not publish while evil and strangers trickled: {body}"
        );
    }
    let mut refused = 0;
    for evil in evil_ones {
        if let Some(answer) = evil.join().unwrap() {
            assert!(
                answer.status == 429 && answer.text.contains("max_uploads_per_user"),
                "an evil trickler was answered otherwise than 429 naming the user's \
                 limit: {:.400}",
                answer.text
            );
            refused += 1;
        }
    }
    assert_eq!(
        refused, 4,
        "evil's trickles refused; the other 4 hold slots"
    );
    for stranger in strangers {
        let answer = stranger.join().unwrap().expect("strangers are answered");
        assert_eq!(answer.status, 401, "{:.400}", answer.text);
    }
}

/// Bodies that come too slowly (a byte every half second) or stop give their slot
/// back with `408 BODY_TIMEOUT` once `--body-timeout` has passed: when two users'
/// trickles hold every slot, a third publishes within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_stopped_bodies_give_their_slots_back() {
    const TIMEOUT: Duration = Duration::from_secs(4);
    let dir = tempfile::tempdir().unwrap();
    let server = common::serve_with(
        dir.path(),
        &["--body-timeout", "4s", "--min-body-rate", "1KiB"],
    );
    let url = server.registry.clone();
    let addr = common::authority(&url).to_owned();
    let http = reqwest::Client::new();
    let good = create_token(&http, &url, "good").await;
    let never = Arc::new(AtomicBool::new(false));
    let mut tricklers = Vec::new();
    for (user, pace) in [("evil", Pace::Trickle), ("mallory", Pace::Stop)] {
        let token = create_token(&http, &url, user).await;
        for i in 0..4 {
            let auth = Some(bearer(&token.secret));
            let path = target(user, i);
            tricklers.push(trickler(addr.clone(), path, auth, pace, never.clone()));
        }
    }
    let started = Instant::now();
    // Every slot is taken (each of the eight took its own: none was refused)...
    tokio::time::sleep(Duration::from_secs(1)).await;
    let answers = publish_and_push(&url, &good.secret, "good", "first", None).await;
    for (status, body) in &answers {
        assert_eq!(*status, 429, "the tricklers do not hold every slot: {body}");
    }
    // ...until the tricklers fall behind and are refused, well within three times
    // their timeout.
    let until = started + TIMEOUT * 3;
    let answers = publish_and_push(&url, &good.secret, "good", "second", Some(until)).await;
    for (status, body) in &answers {
        assert_eq!(
            *status,
            201,
            "good still cannot publish after {:?}: {body}",
            started.elapsed()
        );
    }
    // Every trickler was answered, or is about to be: none is told to stop.
    let mut messages = Vec::new();
    for trickler in tricklers {
        let answer = trickler
            .join()
            .unwrap()
            .expect("every trickler is answered");
        assert!(
            answer.status == 408 && answer.text.contains("BODY_TIMEOUT"),
            "{:.400}",
            answer.text
        );
        messages.push(answer.text);
    }
    for (limit, tricklers) in [
        ("`min_body_rate`", "trickling"),
        ("`body_timeout`", "stopped"),
    ] {
        assert!(
            messages.iter().filter(|m| m.contains(limit)).count() == 4,
            "the {tricklers} bodies' answers do not name {limit}: {messages:#?}"
        );
    }
}
