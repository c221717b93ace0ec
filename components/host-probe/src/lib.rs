//! `host-probe`: a test guest for the Wharf host. Each path tries one thing the host
//! must limit or grant, and answers what happened, so that a test can tell a refusal
//! inside the guest (an error value, answered as 403) from a host failure:
//!
//! | path | does |
//! |---|---|
//! | `/hello` | answers `hello` |
//! | `/env?NAME` | the variable's value, 404 when unset |
//! | `/loop` | spins forever (the deadline must cut it off) |
//! | `/trap` | adds one to `/count`'s counter, then traps (`unreachable`) |
//! | `/sleep?MS` | waits MS milliseconds on wasi:clocks without spinning |
//! | `/grow?MIB` | allocates MIB mebibytes, touching every page (past the cap: a trap) |
//! | `/read?PATH` | reads a file |
//! | `/write?PATH` | writes `probe` to a file |
//! | `/tcp?ADDR` | opens a TCP connection to ADDR |
//! | `/http?URL` | GETs an `http://` URL through wasi:http/outgoing-handler |
//! | `/echo` | answers the request body |
//! | `/big?KIB` | answers KIB kibibytes |
//! | `/count` | a counter kept in the instance (1 on a fresh instance) |
//! | `/initialized` | whether `wizer-initialize` ran in this instance's past |
//! | `/hash` | what a new `HashMap`'s hasher makes of a fixed key (std's hash keys) |
//! | `/random` | 16 bytes from wasi:random, hex |

use std::cell::Cell;
use std::hash::BuildHasher;

wit_bindgen::generate!({
    path: [
        "../../wit-packages/deps/io.wit",
        "../../wit-packages/deps/clocks.wit",
        "../../wit-packages/deps/random.wit",
        "../../wit-packages/deps/filesystem.wit",
        "../../wit-packages/deps/sockets.wit",
        "../../wit-packages/deps/cli.wit",
        "../../wit-packages/deps/http.wit",
        "wit",
    ],
    world: "wharf:host-probe/probe@0.1.0",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest as Handler;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};
use wasi::io::streams::StreamError;

struct Probe;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static INITIALIZED: Cell<bool> = const { Cell::new(false) };
}

impl Guest for Probe {
    fn wizer_initialize() {
        INITIALIZED.with(|i| i.set(true));
        // A map made while initializing draws std's hash keys, as a real plug's would.
        let mut made = std::collections::HashMap::new();
        made.insert("initialized", true);
        std::hint::black_box(made);
    }
}

impl Handler for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let full = request.path_with_query().unwrap_or_default();
        let (path, arg) = full.split_once('?').unwrap_or((&full, ""));
        let (status, body) = match path {
            "/hello" => (200, b"hello".to_vec()),
            "/env" => match std::env::var(arg) {
                Ok(value) => (200, value.into_bytes()),
                Err(_) => (404, b"unset".to_vec()),
            },
            "/loop" => spin(),
            "/trap" => trap(),
            "/sleep" => {
                let ms: u64 = arg.parse().unwrap_or(100);
                wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                (200, format!("slept {ms} ms").into_bytes())
            }
            "/grow" => grow(arg.parse().unwrap_or(1)),
            "/read" => refused(std::fs::read(arg)),
            "/write" => refused(std::fs::write(arg, b"probe").map(|()| b"written".to_vec())),
            "/tcp" => refused(std::net::TcpStream::connect(arg).map(|_| b"connected".to_vec())),
            "/http" => fetch(arg),
            "/echo" => match read_body(request) {
                Ok(body) => (200, body),
                Err(e) => (400, e.into_bytes()),
            },
            "/big" => (200, vec![b'x'; arg.parse::<usize>().unwrap_or(1) * 1024]),
            "/count" => {
                let n = COUNT.with(|c| {
                    c.set(c.get() + 1);
                    c.get()
                });
                (200, n.to_string().into_bytes())
            }
            "/initialized" => (200, INITIALIZED.with(Cell::get).to_string().into_bytes()),
            "/hash" => {
                let keys = std::collections::hash_map::RandomState::new();
                (200, keys.hash_one("wharf").to_string().into_bytes())
            }
            "/random" => {
                let bytes = wasi::random::random::get_random_bytes(16);
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                (200, hex.into_bytes())
            }
            _ => (404, b"no such probe".to_vec()),
        };
        send(out, status, &body);
    }
}

/// Runs until the host stops it.
fn spin() -> (u16, Vec<u8>) {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Counts, as `/count` does, then traps: what the count reads next tells whether the
/// host kept the trapped instance.
fn trap() -> (u16, Vec<u8>) {
    COUNT.with(|c| c.set(c.get() + 1));
    core::arch::wasm32::unreachable()
}

/// Allocates `mib` MiB in 1 MiB blocks and writes to each; an allocation the host
/// refuses aborts the guest (a trap), as any Rust program out of memory does.
fn grow(mib: usize) -> (u16, Vec<u8>) {
    let mut blocks = Vec::with_capacity(mib);
    for i in 0..mib {
        blocks.push(vec![i as u8; 1 << 20]);
    }
    let sum: usize = blocks.iter().map(|b| b[b.len() - 1] as usize).sum();
    (200, format!("grew {mib} MiB ({sum})").into_bytes())
}

/// 200 with the value, or 403 with the guest-side error the host gave.
fn refused(result: std::io::Result<Vec<u8>>) -> (u16, Vec<u8>) {
    match result {
        Ok(body) => (200, body),
        Err(e) => (403, format!("refused: {e}").into_bytes()),
    }
}

/// GETs an `http://host[:port]/path` URL; a refusal is wasi:http's error code.
fn fetch(url: &str) -> (u16, Vec<u8>) {
    let Some(rest) = url.strip_prefix("http://") else {
        return (400, b"only http:// URLs".to_vec());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let pending = match outgoing_handler::handle(request, None) {
        Ok(pending) => pending,
        Err(code) => return (403, format!("refused: {code:?}").into_bytes()),
    };
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return (403, format!("refused: {code:?}").into_bytes()),
        other => return (502, format!("no response: {other:?}").into_bytes()),
    };
    let status = response.status();
    let body = response.consume().expect("a response body");
    let stream = body.stream().expect("a body stream");
    let mut out = format!("{status} ").into_bytes();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return (502, e.to_debug_string().into_bytes());
            }
        }
    }
    (200, out)
}

fn read_body(request: IncomingRequest) -> Result<Vec<u8>, String> {
    let body = request.consume().map_err(|()| "no body".to_owned())?;
    let stream = body.stream().map_err(|()| "no stream".to_owned())?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(out),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the body: {}", e.to_debug_string()));
            }
        }
    }
}

fn send(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())])
        .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let outgoing = response.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().expect("a new body has a stream");
    // blocking-write-and-flush takes at most 4096 bytes per call.
    for chunk in body.chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}

export!(Probe);
