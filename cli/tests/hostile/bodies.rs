//! Bodies past the caps and cut short; clients that stall in their request head or
//! trickle their body.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::common;
use crate::common::raw::{stall, until_closed};
use crate::wire::{answer_within, bearer, chunked, exchange, expect, sha256};
use crate::{Acknowledged, CAP, HEADER_TIMEOUT, MANIFEST_CAP, PAST, Problems};

/// Bodies larger than the caps: declared so (refused before a byte is read) or sent
/// chunked with no length (refused as soon as the cap is passed, long before the
/// sender is done). Nothing of them is stored.
pub fn past_the_caps(addr: &str, token: &str) -> Problems {
    let mut problems = Problems::new();
    let auth = bearer(token);
    let digest = sha256(b"past the cap");
    let blob_path = format!("/v2/evil/cap/blobs/uploads/?digest={digest}");
    // What is refused, where, past which cap, with which code (OCI's, or the API's).
    let targets = [
        (
            "an OCI blob push",
            "POST",
            blob_path.as_str(),
            CAP,
            "SIZE_INVALID",
        ),
        (
            "a publish",
            "PUT",
            "/api/v1/packages/evil/cap/versions/1.0.0",
            CAP,
            "TOO_LARGE",
        ),
        (
            "a manifest",
            "PUT",
            "/v2/evil/cap/manifests/1.0.0",
            MANIFEST_CAP,
            "SIZE_INVALID",
        ),
    ];
    for (what, method, path, cap, code) in targets {
        // Declared larger than the cap, and nothing sent: refused on the head alone.
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{auth}\r\n\
             content-length: {}\r\n\r\n",
            cap + 1
        )
        .unwrap();
        expect(
            &mut problems,
            &format!("{what} declaring one byte past the cap"),
            // Refused on its head, or waiting for a body that never comes.
            answer_within(stream, Duration::from_secs(5)),
            413,
            code,
        );
    }
    // Chunked, PAST times the cap, all at once.
    let sent: Vec<_> = std::thread::scope(|scope| {
        let senders: Vec<_> = targets
            .iter()
            .map(|&(what, method, path, cap, _)| {
                let auth = token;
                scope.spawn(move || (what, cap, chunked(addr, method, path, auth, PAST * cap)))
            })
            .collect();
        senders.into_iter().map(|s| s.join().unwrap()).collect()
    });
    for (what, cap, (sent, answer)) in sent {
        if sent >= PAST * cap {
            problems.push(format!(
                "{what} chunked past the cap: the server took all {} MiB",
                sent >> 20
            ));
        }
        // The server may close before the client reads its 413: a reset is a refusal.
        match answer {
            Ok(a) if a.status == 413 => {}
            Ok(a) => problems.push(format!(
                "{what} chunked past the cap: answered {}, not 413: {:.300}",
                a.status, a.text
            )),
            Err(_) => {}
        }
    }
    for nothing in [
        format!("/v2/evil/cap/blobs/{digest}"),
        "/v2/evil/cap/manifests/1.0.0".to_owned(),
        "/api/v1/packages/evil/cap".to_owned(),
    ] {
        expect(
            &mut problems,
            &format!("{nothing} after the bodies past the caps"),
            exchange(addr, "GET", &nothing, &[], b""),
            404,
            "",
        );
    }
    problems
}

/// Bodies that promise more than they send, then close: at no byte, half-way and one
/// byte short, to an OCI blob push and a publish; and two cut short in one upload
/// session, overlapping. Nothing of them is stored: the upload session is as empty as
/// it began, and a whole body then completes it.
pub fn cut_short(addr: &str, token: &str) -> (Problems, Acknowledged) {
    let mut problems = Problems::new();
    let auth = bearer(token);
    let body = common::patterned(4 << 20);
    let digest = sha256(&body);
    let head = |method: &str, path: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}\r\n\
             content-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
    };
    // Opens a request that promises `body` and sends the first `sent` bytes of it.
    let promise = |method: &str, path: &str, sent: usize| {
        let mut stream = TcpStream::connect(addr).unwrap();
        let _ = stream
            .write_all(head(method, path).as_bytes())
            .and_then(|()| stream.write_all(&body[..sent]));
        stream
    };
    for (method, path) in [
        (
            "POST",
            format!("/v2/evil/cut/blobs/uploads/?digest={digest}"),
        ),
        ("PUT", "/api/v1/packages/evil/cut/versions/1.0.0".to_owned()),
    ] {
        for sent in [0, body.len() / 2, body.len() - 1] {
            drop(promise(method, &path, sent));
        }
    }

    let session = exchange(
        addr,
        "POST",
        "/v2/evil/cut/blobs/uploads/",
        std::slice::from_ref(&auth),
        b"",
    )
    .ok()
    .filter(|a| a.status == 202)
    .and_then(|a| {
        a.text
            .lines()
            .find_map(|l| l.strip_prefix("location: ").map(str::to_owned))
    })
    .expect("an upload session");
    // The first chunk is half in when a second starts; the first is abandoned, then
    // the second. (Each rolled back what it appended from where it began, so the
    // second grew the session back by what the first had cut.)
    let settle = || std::thread::sleep(Duration::from_millis(300));
    let first = promise("PATCH", &session, 1 << 20);
    settle();
    let second = promise("PATCH", &session, 1 << 20);
    settle();
    drop(first);
    settle();
    drop(second);
    settle();

    for nothing in [
        format!("/v2/evil/cut/blobs/{digest}"),
        "/api/v1/packages/evil/cut".to_owned(),
    ] {
        expect(
            &mut problems,
            &format!("{nothing} after the bodies cut short"),
            exchange(addr, "GET", &nothing, &[], b""),
            404,
            "",
        );
    }
    expect(
        &mut problems,
        "the upload session after two chunks cut short in it",
        exchange(addr, "GET", &session, std::slice::from_ref(&auth), b""),
        204,
        "range: 0-0\r\n",
    );
    let finished = exchange(
        addr,
        "PUT",
        &format!(
            "{session}{}digest={digest}",
            if session.contains('?') { '&' } else { '?' }
        ),
        &[auth, "content-type: application/octet-stream".to_owned()],
        &body,
    );
    let acknowledged = match finished {
        Ok(a) if a.status == 201 => vec![(format!("/v2/evil/cut/blobs/{digest}"), body)],
        other => {
            expect(
                &mut problems,
                "finishing the upload session",
                other,
                201,
                "",
            );
            Vec::new()
        }
    };
    (problems, acknowledged)
}

/// Clients that stop in their request head (cut off after the header read timeout,
/// never answered) and clients that trickle a body, then go.
pub fn stalled(addr: &str, token: &str) -> Problems {
    let mut problems = Problems::new();
    let stalled: Vec<TcpStream> = (0..32).map(|_| stall(addr)).collect();
    // Two bodies that trickle in, 4 KiB every 100 ms, and are abandoned half-way.
    let trickled = std::thread::scope(|scope| {
        let tricklers: Vec<_> = (0..2u8)
            .map(|i| {
                scope.spawn(move || {
                    let body = common::patterned(256 << 10);
                    let digest = sha256(&[body.as_slice(), &[i]].concat());
                    let mut stream = TcpStream::connect(addr).unwrap();
                    write!(
                        stream,
                        "POST /v2/evil/slow/blobs/uploads/?digest={digest} HTTP/1.1\r\n\
                         host: {addr}\r\n{}\r\ncontent-length: {}\r\n\r\n",
                        bearer(token),
                        body.len() + 1
                    )
                    .unwrap();
                    for piece in body.chunks(4 << 10).take(30) {
                        stream.write_all(piece).unwrap();
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    digest
                })
            })
            .collect();
        tricklers
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (i, stream) in stalled.into_iter().enumerate() {
        let cut = until_closed(stream, HEADER_TIMEOUT * 10);
        if cut.contains(" 200 ") {
            problems.push(format!("stalled client {i} was answered: {cut:.200}"));
        }
    }
    for digest in trickled {
        expect(
            &mut problems,
            "a blob abandoned mid-trickle",
            exchange(
                addr,
                "GET",
                &format!("/v2/evil/slow/blobs/{digest}"),
                &[],
                b"",
            ),
            404,
            "",
        );
    }
    problems
}
