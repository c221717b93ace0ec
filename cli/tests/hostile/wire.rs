//! Requests written by hand, as an attacker writes them, and what is expected of the
//! answers. No attack panics on the server's account: each collects what the server
//! did wrong, so that one broken defence shows every consequence at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::{Problems, common};

/// An answer read off a socket: the status and the whole text, head and body.
pub struct Answer {
    pub status: u16,
    pub text: String,
}

/// Sends `method path` with `headers` (each `name: value`) and `body` on a connection
/// of its own, and reads the answer until the server closes.
pub fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    // A server may answer (and close) before the body is sent: its answer counts.
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    answer(stream).map_err(|e| match sent {
        Ok(()) => e,
        Err(sending) => format!("sending: {sending}; {e}"),
    })
}

/// The answer on `stream`, read until the server closes (at most 30 s).
pub fn answer(stream: TcpStream) -> Result<Answer, String> {
    answer_within(stream, Duration::from_secs(30))
}

/// The answer on `stream`, read until the server closes (at most `within`).
pub fn answer_within(mut stream: TcpStream, within: Duration) -> Result<Answer, String> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the answer: {e}"))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:.200}"))?;
    Ok(Answer { status, text })
}

/// Checks that `what` was answered `status` with `code` in its body (`""`: any).
pub fn expect(
    problems: &mut Problems,
    what: &str,
    answer: Result<Answer, String>,
    status: u16,
    code: &str,
) {
    match answer {
        Ok(a) if a.status == status && a.text.contains(code) => {}
        Ok(a) => {
            // The body, or the head when the body is empty.
            let shown = a
                .text
                .split_once("\r\n\r\n")
                .map_or(
                    a.text.as_str(),
                    |(head, body)| if body.is_empty() { head } else { body },
                );
            problems.push(format!(
                "{what}: answered {}, not {status} {code}: {shown:.400}",
                a.status
            ));
        }
        Err(e) => problems.push(format!("{what}: {e}")),
    }
}

pub fn bearer(secret: &str) -> String {
    format!("authorization: Bearer {secret}")
}

pub fn basic(user_and_password: &str) -> String {
    format!(
        "authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_and_password)
    )
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Streams a chunked body of up to `total` bytes (64 KiB chunks) to `path`, stopping
/// at the first write the server no longer takes; the bytes that went out and the
/// answer.
pub fn chunked(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    total: usize,
) -> (usize, Result<Answer, String>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{}\r\n\
         content-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        bearer(token)
    )
    .unwrap();
    let chunk = common::patterned(64 << 10);
    let mut sent = 0;
    while sent < total {
        let written = write!(stream, "{:x}\r\n", chunk.len())
            .and_then(|()| stream.write_all(&chunk))
            .and_then(|()| stream.write_all(b"\r\n"));
        if written.is_err() {
            break;
        }
        sent += chunk.len();
    }
    if sent >= total {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    (sent, answer(stream))
}
