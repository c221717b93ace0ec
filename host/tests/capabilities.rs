//! Capabilities are denied by default and granted one by one: each probe fails inside
//! the guest (answered 403 with WASI's error) without a grant, and works with it.

mod common;

use std::convert::Infallible;

use common::{get, limits, probe_server, temp_dir};
use wharf_host::{Capabilities, Preopen};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_holds_only_what_is_granted() {
    // SAFETY: set before any server starts; nothing else reads it concurrently.
    let server = probe_server(
        Capabilities {
            env: vec![("GREETING".into(), "hi".into())],
            ..Capabilities::default()
        },
        limits(),
    )
    .await;
    let client = reqwest::Client::new();
    assert_eq!(
        get(&client, &server.url("/env?GREETING")).await,
        (200, "hi".into())
    );
    assert_eq!(get(&client, &server.url("/env?HOME")).await.0, 404);
    assert_eq!(get(&client, &server.url("/env?PATH")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_refused_without_a_grant_and_follow_its_mode() {
    let dir = temp_dir();
    std::fs::write(dir.join("note.txt"), "from the host").unwrap();
    let client = reqwest::Client::new();

    let none = probe_server(Capabilities::default(), limits()).await;
    let (status, body) = get(&client, &none.url("/read?/data/note.txt")).await;
    assert_eq!(status, 403, "{body}");

    let grant = |read_only| Capabilities {
        dirs: vec![Preopen {
            host: dir.clone(),
            guest: "/data".into(),
            read_only,
        }],
        ..Capabilities::default()
    };
    let read_only = probe_server(grant(true), limits()).await;
    assert_eq!(
        get(&client, &read_only.url("/read?/data/note.txt")).await,
        (200, "from the host".into())
    );
    let (status, body) = get(&client, &read_only.url("/write?/data/new.txt")).await;
    assert_eq!(status, 403, "{body}");
    assert!(!dir.join("new.txt").exists());
    // Nothing outside the preopened directory is reachable.
    assert_eq!(
        get(&client, &read_only.url("/read?/etc/passwd")).await.0,
        403
    );
    assert_eq!(
        get(&client, &read_only.url("/read?/data/../../etc/passwd"))
            .await
            .0,
        403
    );

    let read_write = probe_server(grant(false), limits()).await;
    assert_eq!(
        get(&client, &read_write.url("/write?/data/new.txt")).await,
        (200, "written".into())
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("new.txt")).unwrap(),
        "probe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_refused_without_a_grant() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let _ = listener.accept().await;
        }
    });
    let client = reqwest::Client::new();

    let none = probe_server(Capabilities::default(), limits()).await;
    let (status, body) = get(&client, &none.url(&format!("/tcp?{target}"))).await;
    assert_eq!(status, 403, "{body}");

    let granted = probe_server(
        Capabilities {
            tcp: true,
            ..Capabilities::default()
        },
        limits(),
    )
    .await;
    assert_eq!(
        get(&client, &granted.url(&format!("/tcp?{target}"))).await,
        (200, "connected".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_goes_only_to_listed_hosts() {
    let upstream = pong_server().await;
    let client = reqwest::Client::new();
    let url = format!("/http?http://{upstream}/ping");

    let none = probe_server(Capabilities::default(), limits()).await;
    let (status, body) = get(&client, &none.url(&url)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");

    let other = probe_server(
        Capabilities {
            http_hosts: vec![
                "example.com".into(),
                format!("127.0.0.1:{}", upstream.port() + 1),
            ],
            ..Capabilities::default()
        },
        limits(),
    )
    .await;
    assert_eq!(get(&client, &other.url(&url)).await.0, 403);

    let granted = probe_server(
        Capabilities {
            http_hosts: vec![upstream.to_string()],
            ..Capabilities::default()
        },
        limits(),
    )
    .await;
    assert_eq!(
        get(&client, &granted.url(&url)).await,
        (200, "200 pong".into())
    );
    // Granting outbound HTTP grants no raw sockets.
    assert_eq!(
        get(&client, &granted.url(&format!("/tcp?{upstream}")))
            .await
            .0,
        403
    );
}

/// A local HTTP server answering `pong`.
async fn pong_server() -> std::net::SocketAddr {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                hyper_util::rt::TokioIo::new(stream),
                hyper::service::service_fn(|_| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(bytes::Bytes::from_static(
                        b"pong",
                    ))))
                }),
            ));
        }
    });
    addr
}
