//! Limits on each request: how long it may run, how much memory its instance may
//! hold, how large its bodies may be, and how many run at once.

use std::time::Duration;

pub use wharf_types::units::{parse_duration, parse_size};

/// The limits a served component runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time a request may take, instantiation to the end of the guest's
    /// call. Past it the guest is interrupted: 504 when no response was started.
    pub deadline: Duration,
    /// Linear memory one instance may hold, summed over every memory of every core
    /// instance in the component (a composed deployable has one per plug).
    pub max_memory: u64,
    /// Largest request body; a larger declared `Content-Length` is answered 413
    /// before the guest runs, a larger streamed body fails the guest's read.
    pub max_request_body: u64,
    /// Largest response body; a larger one is cut off (the connection is closed
    /// mid-body, so the client sees a truncated response, never a complete wrong one).
    pub max_response_body: u64,
    /// Requests handled at once; others wait for a slot.
    pub max_concurrency: usize,
    /// How long a request waits for a slot before it is answered 503 (the wait
    /// counts against its deadline too).
    pub queue_timeout: Duration,
    /// How long a client may take to send a request's head (line and headers); past
    /// it the connection is closed, so stalled clients cannot hold connections open.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            max_memory: 256 << 20,
            max_request_body: 16 << 20,
            max_response_body: 64 << 20,
            max_concurrency: 64,
            queue_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 2048,
        }
    }
}
