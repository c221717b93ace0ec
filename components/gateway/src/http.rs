//! The little HTTP layer the gateway needs over the raw wasi:http bindings.

use serde_json::{Value, json};

use crate::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::wasi::io::streams::StreamError;

/// `blocking-write-and-flush` accepts at most 4096 bytes per call.
const WRITE_CHUNK: usize = 4096;

pub struct Request {
    inner: IncomingRequest,
    path: String,
}

pub enum BodyError {
    TooLarge,
    Read(String),
}

impl Request {
    pub fn new(inner: IncomingRequest) -> Self {
        let full = inner.path_with_query().unwrap_or_else(|| "/".into());
        let path = full.split('?').next().unwrap_or("/").to_owned();
        Self { inner, path }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn method(&self) -> Method {
        self.inner.method()
    }

    /// The first value of a header, if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        let values = self.inner.headers().get(name);
        values
            .into_iter()
            .next()
            .and_then(|v| String::from_utf8(v).ok())
    }

    pub fn bearer_token(&self) -> Option<String> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
    }

    /// `application/json` or any `+json` type, parameters allowed.
    pub fn content_type_is_json(&self) -> bool {
        let Some(value) = self.header("content-type") else {
            return false;
        };
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    /// Reads the whole body, refusing more than `limit` bytes: a declared
    /// Content-Length over the limit is refused before anything is read.
    pub fn body(&self, limit: u64) -> Result<Vec<u8>, BodyError> {
        if let Some(length) = self
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            if length > limit {
                return Err(BodyError::TooLarge);
            }
        }
        let body = self
            .inner
            .consume()
            .map_err(|()| BodyError::Read("the body was already read".into()))?;
        let stream = body
            .stream()
            .map_err(|()| BodyError::Read("the body has no stream".into()))?;
        let mut out = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    if (out.len() + chunk.len()) as u64 > limit {
                        return Err(BodyError::TooLarge);
                    }
                    out.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(BodyError::Read(e.to_debug_string()));
                }
            }
        }
        Ok(out)
    }
}

/// A response to send.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    pub fn json(status: u16, value: &Value) -> Self {
        Self::bytes(status, "application/json", value.to_string().into_bytes())
    }

    pub fn error(status: u16, code: &str, message: String) -> Self {
        Self::json(status, &json!({"error": code, "message": message}))
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        Self::error(405, "method-not-allowed", format!("allowed: {allow}"))
            .with_header("allow", allow)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

pub fn send(out: ResponseOutparam, reply: Reply) {
    let mut entries: Vec<(String, Vec<u8>)> = reply
        .headers
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect();
    entries.push((
        "content-length".into(),
        reply.body.len().to_string().into_bytes(),
    ));
    let headers = Fields::from_list(&entries).expect("the gateway's own headers are valid");
    let response = OutgoingResponse::new(headers);
    response
        .set_status_code(reply.status)
        .expect("the gateway's status codes are valid");
    let body = response.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(response));

    let stream = body.write().expect("a new body has a stream");
    for chunk in reply.body.chunks(WRITE_CHUNK) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            // The client went away; nothing more can be sent.
            return;
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}
