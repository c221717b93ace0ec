// The example gateway's work in Node.js, for scripts/bench-host: verify an HS256
// bearer token (jose), validate the JSON body against examples/gateway/schema.json
// (ajv, draft 2020-12), apply examples/gateway/transform.json (normalize whitespace,
// redact /user/email, canonical JSON) and answer gzip-compressed (zlib), as the
// composed Wasm gateway does. PORT (0 picks one) and GATEWAY_JWT_SECRET configure it;
// it prints `listening <port>` when ready. One process; cluster.mjs runs it on every
// core (it is then a cluster worker, and the primary prints `listening`).
import cluster from "node:cluster";
import http from "node:http";
import zlib from "node:zlib";
import { readFileSync } from "node:fs";
import { jwtVerify } from "jose";
import Ajv2020 from "ajv/dist/2020.js";

const here = new URL(".", import.meta.url);
const schema = JSON.parse(readFileSync(new URL("../../examples/gateway/schema.json", here)));
const validate = new Ajv2020({ allErrors: false }).compile(schema);
const secret = new TextEncoder().encode(process.env.GATEWAY_JWT_SECRET ?? "s3cret");
const audience = process.env.GATEWAY_JWT_AUDIENCE ?? "wharf-demo";
const maxBody = 1 << 20;

function normalize(value) {
  if (typeof value === "string") return value.trim().split(/\s+/).filter(Boolean).join(" ");
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

// RFC 8785 for the values JSON.parse makes: keys sorted by UTF-16 code units,
// numbers as ECMAScript prints them.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function reply(res, status, body, gzip) {
  const headers = { "content-type": "application/json" };
  let bytes = Buffer.from(body);
  if (gzip) {
    bytes = zlib.gzipSync(bytes);
    headers["content-encoding"] = "gzip";
    headers["vary"] = "accept-encoding";
  }
  headers["content-length"] = bytes.length;
  res.writeHead(status, headers);
  res.end(bytes);
}

const error = (res, status, code, message) =>
  reply(res, status, JSON.stringify({ error: code, message }), false);

const server = http.createServer((req, res) => {
  const path = req.url.split("?")[0];
  if (path === "/healthz") return reply(res, 200, '{"status":"ok"}', false);
  if (path !== "/v1/ingest") return error(res, 404, "not-found", "no such route");
  if (req.method !== "POST") return error(res, 405, "method-not-allowed", "allowed: POST");
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size <= maxBody) chunks.push(chunk);
  });
  req.on("end", async () => {
    if (size > maxBody) return error(res, 413, "body-too-large", "body too large");
    const auth = req.headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : null;
    if (!token) return error(res, 401, "missing-token", "no bearer token");
    try {
      await jwtVerify(token, secret, { algorithms: ["HS256"], audience, clockTolerance: 60 });
    } catch (e) {
      return error(res, 401, "invalid-token", String(e.message));
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      return error(res, 400, "invalid-json", String(e.message));
    }
    if (!validate(body)) return error(res, 422, "schema-violation", "invalid body");
    const out = normalize(body);
    if (out.user && typeof out.user === "object" && "email" in out.user) out.user.email = "[redacted]";
    const gzip = /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
    reply(res, 200, canonical(out), gzip);
  });
});

server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  if (!cluster.isWorker) console.log(`listening ${server.address().port}`);
});
