//! Requests written by hand on a socket of their own, for clients that misbehave on
//! purpose: they stop in the middle of a request head or go away in the middle of
//! an answer, which no HTTP library lets a test do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A connection that sent the start of a request head, never its end.
pub fn stall(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET / HTTP/1.1\r\nhost: {addr}\r\nx-slow: ").unwrap();
    stream
}

/// What the server sends until it closes; panics if it is still open after `within`.
pub fn until_closed(mut stream: TcpStream, within: Duration) -> String {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        panic!("the connection is still open after {within:?}: {e}");
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// One whole `GET path` on a connection of its own; the answer, head and body.
pub fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    until_closed(stream, Duration::from_secs(30))
}

/// Starts a download of `path` at `addr` `times` times, reads the first 64 KiB of each
/// and drops the connection with the rest unread (the kernel answers the server's
/// next segments with a reset). `path` must be far larger than the socket buffers
/// hold (16 MiB is), so that the server is still writing when the client goes.
pub fn vanish_mid_download(addr: &str, path: &str, token: Option<&str>, times: usize) {
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    for _ in 0..times {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}\r\n").unwrap();
        let mut head = [0u8; 64 << 10];
        stream.read_exact(&mut head).unwrap();
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head[..64])
        );
        drop(stream);
    }
}
