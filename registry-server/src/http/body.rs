//! Request bodies within bounds: the one place a route turns a body into bytes (for
//! what is parsed whole: a package, a manifest) or into a stream for storage (a blob,
//! written as it arrives). How many are received at once is bounded by the slots of
//! [`crate::service::uploads`], which routes take before they read a byte; how long
//! one may take to arrive is bounded here ([`Pace`]), so that a client trickling its
//! body gives its slot back. Reads nothing but the body; calls no service.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::http::error::ApiError;
use crate::service::uploads::{BodyError, Incoming};

/// How fast a body must arrive (`Config::body_timeout`, `Config::min_body_rate`): no
/// silence longer than `timeout`, and, once `timeout` has passed, on average at least
/// `min_rate` bytes a second. Only the time spent waiting for the client counts (not
/// the time storage takes with what arrived). Apache's `mod_reqtimeout` has the same
/// rule (`body=30,MinRate=...`).
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// The longest silence, and the grace before `min_rate` applies.
    pub timeout: Duration,
    /// Bytes a second, on average, past the grace; 0: no minimum.
    pub min_rate: u64,
}

impl Pace {
    /// The pace the configuration asks for.
    pub fn of(config: &crate::Config) -> Self {
        Self {
            timeout: config.body_timeout,
            min_rate: config.min_body_rate,
        }
    }

    /// How long the client may have waited in all after sending `received` bytes.
    fn allowance(&self, received: u64) -> Duration {
        if self.min_rate == 0 {
            return Duration::MAX;
        }
        let earned = Duration::try_from_secs_f64(received as f64 / self.min_rate as f64)
            .unwrap_or(Duration::MAX);
        self.timeout.saturating_add(earned)
    }

    /// The refusal of a body that stopped, or came too slowly, after `received` bytes.
    fn too_slow(&self, received: u64, silent: bool) -> BodyError {
        let message = if silent {
            format!(
                "no byte of the body arrived for {:?} (`body_timeout`, \
                 `wharf serve --body-timeout`), after {received} bytes",
                self.timeout
            )
        } else {
            format!(
                "the body arrived slower than {} bytes/s (`min_body_rate`, \
                 `wharf serve --min-body-rate`) past its first {:?}: {received} bytes",
                self.min_rate, self.timeout
            )
        };
        BodyError::TooSlow(message)
    }
}

/// The body as it arrives, for storage: refused at once when its `Content-Length`
/// says it is larger than `limit`, failing with [`BodyError::TooLarge`] as soon as
/// more than `limit` bytes arrive, and with [`BodyError::TooSlow`] as soon as it falls
/// behind `pace`.
pub fn incoming(
    body: Body,
    headers: &HeaderMap,
    limit: u64,
    pace: Pace,
) -> Result<Incoming, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let mut received = 0u64;
    let capped = body
        .into_data_stream()
        .map_err(|e| BodyError::Unreadable(e.to_string()))
        .and_then(move |chunk| {
            received += chunk.len() as u64;
            let result = if received > limit {
                Err(BodyError::TooLarge(limit))
            } else {
                Ok(chunk)
            };
            std::future::ready(result)
        })
        .boxed();
    Ok(paced(capped, pace))
}

/// What [`paced`] keeps between chunks.
struct Paced {
    chunks: BoxStream<'static, Result<Bytes, BodyError>>,
    pace: Pace,
    received: u64,
    /// The time spent waiting for the client so far.
    waited: Duration,
    done: bool,
}

/// `chunks`, failing with [`BodyError::TooSlow`] (and ending) when the next one does
/// not arrive within what `pace` still allows.
fn paced(chunks: BoxStream<'static, Result<Bytes, BodyError>>, pace: Pace) -> Incoming {
    let state = Paced {
        chunks,
        pace,
        received: 0,
        waited: Duration::ZERO,
        done: false,
    };
    futures::stream::unfold(state, |mut p| async move {
        if p.done {
            return None;
        }
        let left = p.pace.allowance(p.received).saturating_sub(p.waited);
        let wait = left.min(p.pace.timeout);
        let asked = Instant::now();
        match tokio::time::timeout(wait, p.chunks.next()).await {
            Ok(None) => None,
            Ok(Some(chunk)) => {
                p.waited += asked.elapsed();
                if let Ok(bytes) = &chunk {
                    p.received += bytes.len() as u64;
                }
                p.done = chunk.is_err();
                Some((chunk, p))
            }
            Err(_) => {
                p.done = true;
                let error = p.pace.too_slow(p.received, wait == p.pace.timeout);
                Some((Err(error), p))
            }
        }
    })
    .boxed()
}

/// The whole body, for what is parsed whole; more than `limit` bytes is `413`, a body
/// behind `pace` `408`.
pub async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: u64,
    pace: Pace,
) -> Result<Bytes, ApiError> {
    let mut chunks = incoming(body, headers, limit, pace)?;
    let mut whole = BytesMut::new();
    while let Some(chunk) = chunks.next().await {
        whole.extend_from_slice(&chunk?);
    }
    Ok(whole.freeze())
}
