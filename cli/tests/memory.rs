//! What a client costs `wharf serve` in memory (issue #16, finding 6), measured on the
//! real process: the peak of its resident set (`VmHWM` in `/proc/<pid>/status`, reset
//! before each step) while
//! blobs larger than the memory cache (8 MiB) go in and out. A blob streams from the
//! request to storage and from storage to the client, so neither a large upload nor
//! readers who stop reading cost the server the blob.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::memory::{new_peak, status};

const TOKEN: &str = "admin-secret-for-tests";
/// Three times the memory cache's largest item.
const BLOB: usize = 24 << 20;
const MIB: u64 = 1 << 20;

/// Sends `GET path` and reads until the end of the answer's head, then stops reading:
/// the server has started the answer (before streaming, it had read the whole blob
/// into memory by then) and can send no more than the socket buffers take.
fn stalled_reader(addr: &str, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

#[test]
fn large_blobs_stream_in_and_out_of_serve_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::serve(dir.path());
    let pid = server.child().id();
    let addr = common::authority(&server.registry).to_owned();

    // Two uploads of 24 MiB: buffered, each would cost the blob at least once more.
    let before = new_peak(pid);
    let path = common::push_blob(
        &server.registry,
        TOKEN,
        "test/big",
        &common::patterned(BLOB),
    );
    let mut other = common::patterned(BLOB);
    other[0] ^= 1;
    common::push_blob(&server.registry, TOKEN, "test/big", &other);
    let upload_peak = status(pid, "VmHWM").saturating_sub(before);
    eprintln!(
        "two 24 MiB uploads: peak RSS {} MiB over the start",
        upload_peak / MIB
    );

    // Eight readers who stop reading: read whole, they would cost 8 x 24 MiB.
    let before = new_peak(pid);
    let readers: Vec<TcpStream> = (0..8).map(|_| stalled_reader(&addr, &path)).collect();
    let download_peak = status(pid, "VmHWM").saturating_sub(before);
    eprintln!(
        "eight stalled readers of a 24 MiB blob: peak RSS {} MiB over the start",
        download_peak / MIB
    );

    assert!(
        upload_peak < BLOB as u64,
        "two 24 MiB uploads raised the server's peak memory by {} MiB",
        upload_peak / MIB
    );
    assert!(
        download_peak < BLOB as u64,
        "eight stalled readers of a 24 MiB blob raised the server's peak memory by {} MiB",
        download_peak / MIB
    );
    drop(readers);
}
