//! `gateway`: the socket component of the Wharf example. It imports the four Wharf
//! contracts and exports `wasi:http/incoming-handler`:
//!
//! - `GET /healthz` answers `{"status":"ok"}`;
//! - `POST /v1/ingest` verifies `Authorization: Bearer <jwt>`, validates the JSON body
//!   against the configured schema, applies the configured transform steps and answers
//!   the result, compressed as `Accept-Encoding` asks when the plugged codec can.
//!
//! Configuration comes from environment variables (see [`config`]) so that every
//! wasi:http host can run it. Failures answer a JSON body `{"error", "message", ...}`.

mod config;
mod http;
mod negotiate;

use config::Config;
use http::{Reply, Request};
use serde_json::{Value, json};

wit_bindgen::generate!({
    path: [
        "../../wit-packages/deps/io.wit",
        "../../wit-packages/deps/clocks.wit",
        "../../wit-packages/deps/random.wit",
        "../../wit-packages/deps/filesystem.wit",
        "../../wit-packages/deps/sockets.wit",
        "../../wit-packages/deps/cli.wit",
        "../../wit-packages/deps/http.wit",
        "../../wit-packages/auth/1.0.0",
        "../../wit-packages/schema/1.0.0",
        "../../wit-packages/transform/1.0.0",
        "../../wit-packages/compression/1.0.0",
        "../../wit-packages/gateway/1.0.0",
    ],
    // The gateway world, and the initializer a pre-initializing host runs once.
    inline: "
        package wharf:edge-gateway@1.0.0;
        world edge-gateway {
            include wharf:gateway/gateway@1.0.0;
            /// Reads the configuration and compiles the schema: run once by a
            /// pre-initializer (Wharf's host), never needed for correct answers.
            export wizer-initialize: func();
        }
    ",
    world: "wharf:edge-gateway/edge-gateway",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest as Handler;
use wasi::http::types::{IncomingRequest, Method, ResponseOutparam};
use wharf::auth::types::Error as AuthError;
use wharf::auth::verifier;
use wharf::compression::codec;
use wharf::schema::types::Error as SchemaError;
use wharf::transform::transformer;
use wharf::transform::types::Error as TransformError;

struct Gateway;

impl Guest for Gateway {
    fn wizer_initialize() {
        Config::warm();
    }
}

impl Handler for Gateway {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let request = Request::new(request);
        let reply = route(&request).unwrap_or_else(|reply| reply);
        http::send(out, reply);
    }
}

fn route(request: &Request) -> Result<Reply, Reply> {
    match (request.path(), request.method()) {
        ("/healthz", Method::Get | Method::Head) => Ok(Reply::json(200, &json!({"status": "ok"}))),
        ("/v1/ingest", Method::Post) => ingest(request),
        ("/healthz", _) => Err(Reply::method_not_allowed("GET, HEAD")),
        ("/v1/ingest", _) => Err(Reply::method_not_allowed("POST")),
        (path, _) => Err(Reply::error(
            404,
            "not-found",
            format!("no route for `{path}`"),
        )),
    }
}

fn ingest(request: &Request) -> Result<Reply, Reply> {
    let config =
        Config::get().map_err(|message| Reply::error(500, "configuration", message.into()))?;

    let token = request.bearer_token().ok_or_else(|| {
        Reply::error(
            401,
            "missing-token",
            "send `Authorization: Bearer <token>`".into(),
        )
        .with_header("www-authenticate", "Bearer realm=\"wharf-gateway\"")
    })?;
    verifier::verify(&config.keys, &token, &config.settings.validation).map_err(auth_failure)?;

    if !request.content_type_is_json() {
        return Err(Reply::error(
            415,
            "unsupported-media-type",
            "the body must be `Content-Type: application/json`".into(),
        ));
    }
    let body =
        request
            .body(config.settings.max_body_bytes)
            .map_err(|too_large| match too_large {
                http::BodyError::TooLarge => Reply::error(
                    413,
                    "body-too-large",
                    format!("the body exceeds {} bytes", config.settings.max_body_bytes),
                ),
                http::BodyError::Read(message) => Reply::error(400, "unreadable-body", message),
            })?;
    let body = String::from_utf8(body)
        .map_err(|_| Reply::error(400, "invalid-json", "the body is not UTF-8".into()))?;

    let violations = config.schema.validate(&body).map_err(|e| match e {
        SchemaError::InvalidJson(message) => Reply::error(400, "invalid-json", message),
        SchemaError::InvalidSchema(message) => Reply::error(500, "configuration", message),
    })?;
    if !violations.is_empty() {
        let violations: Vec<Value> = violations
            .iter()
            .map(|v| {
                json!({"instancePath": v.instance_path, "schemaPath": v.schema_path, "message": v.message})
            })
            .collect();
        return Err(Reply::json(
            422,
            &json!({
                "error": "schema-violation",
                "message": "the body does not match the schema",
                "violations": violations,
            }),
        ));
    }

    let output = transformer::apply(&body, &config.settings.steps).map_err(|e| match e {
        TransformError::InvalidJson(message) => Reply::error(400, "invalid-json", message),
        TransformError::InvalidStep(step) => Reply::json(
            422,
            &json!({
                "error": "transform-failed",
                "message": step.message,
                "step": step.index,
                "pointer": step.pointer,
            }),
        ),
    })?;

    let reply = Reply::bytes(200, "application/json", output.into_bytes())
        .with_header("vary", "accept-encoding");
    let accepted = request.header("accept-encoding").unwrap_or_default();
    match negotiate::choose(&accepted, &codec::supported_formats()) {
        Some(format) => {
            let compressed =
                codec::compress(format, config.settings.compression_level, &reply.body)
                    .map_err(|e| Reply::error(500, "compression", format!("{e:?}")))?;
            Ok(reply
                .with_body(compressed)
                .with_header("content-encoding", negotiate::content_coding(format)))
        }
        None => Ok(reply),
    }
}

/// 403 when the token is good but lacks scopes (RFC 6750 `insufficient_scope`);
/// 401 for every other verification failure.
fn auth_failure(error: AuthError) -> Reply {
    let (status, code, message) = match &error {
        AuthError::MissingScopes(scopes) => (
            403,
            "insufficient-scope",
            format!("the token lacks the scopes {}", scopes.join(" ")),
        ),
        AuthError::Expired(at) => (401, "token-expired", format!("the token expired at {at}")),
        AuthError::NotYetValid(at) => (
            401,
            "token-not-yet-valid",
            format!("the token is not valid before {at}"),
        ),
        AuthError::InvalidSignature => (
            401,
            "invalid-signature",
            "the token's signature does not verify".into(),
        ),
        AuthError::InvalidIssuer(iss) => {
            (401, "invalid-issuer", format!("unexpected issuer {iss:?}"))
        }
        AuthError::InvalidAudience(aud) => (
            401,
            "invalid-audience",
            format!("unexpected audience {aud:?}"),
        ),
        other => (401, "invalid-token", format!("{other:?}")),
    };
    let challenge = if status == 403 {
        "Bearer realm=\"wharf-gateway\", error=\"insufficient_scope\""
    } else {
        "Bearer realm=\"wharf-gateway\", error=\"invalid_token\""
    };
    Reply::error(status, code, message).with_header("www-authenticate", challenge)
}

export!(Gateway);
