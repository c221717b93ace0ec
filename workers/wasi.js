// The WASI 0.2 interfaces a Wharf deployable may import when it runs as a Cloudflare
// Worker, implemented over what a Worker has: the request, `env`, `console`, `crypto`,
// `Date` and `performance`. `wharf bundle --target workers` refuses a deployable that
// imports anything else (sockets, filesystem, outbound HTTP), so this file is the whole
// world the target offers; compose/src/target.rs lists the same interfaces.
//
// The component is transpiled by jco without JavaScript Promise Integration, so every
// import answers synchronously: the request body is read in full before the guest
// runs, and a pollable that is not ready cannot be waited for (a Worker's clocks stand
// still while it computes). The objects follow jco's conventions: resources are
// classes, `result` errors are thrown as plain values (an `Error` thrown is a trap),
// u64 is a BigInt.
//
// One `Host` per request: its streams, response and environment belong to that
// request's instance only.

const closed = () => {
  throw { tag: "closed" };
};

// wasi:io ---------------------------------------------------------------------------

class IoError {
  #message;
  constructor(message) {
    this.#message = message;
  }
  toDebugString() {
    return this.#message;
  }
}

class Pollable {
  #ready;
  constructor(ready = () => true) {
    this.#ready = ready;
  }
  ready() {
    return this.#ready();
  }
  block() {
    if (!this.#ready()) {
      // A trap: nothing can make it ready while the guest holds the thread.
      throw new Error("a Worker cannot wait on a pollable that is not ready (timers do not advance while a request computes)");
    }
  }
}

function poll(list) {
  const ready = list.flatMap((p, i) => (p.ready() ? [i] : []));
  if (ready.length === 0) {
    list[0].block(); // traps with the reason
  }
  return new Uint32Array(ready);
}

/** An input stream over bytes that are all there (or none, for stdin). */
class InputStream {
  #bytes;
  #offset = 0;
  constructor(bytes) {
    this.#bytes = bytes;
  }
  read(len) {
    if (this.#offset >= this.#bytes.byteLength) closed();
    const end = Math.min(this.#bytes.byteLength, this.#offset + Number(len));
    const chunk = this.#bytes.slice(this.#offset, end);
    this.#offset = end;
    return chunk;
  }
  blockingRead(len) {
    return this.read(len);
  }
  skip(len) {
    return BigInt(this.read(len).byteLength);
  }
  blockingSkip(len) {
    return this.skip(len);
  }
  subscribe() {
    return new Pollable();
  }
}

/** An output stream handing each write to `sink(bytes)`; `onFlush()` on flushes. */
class OutputStream {
  #sink;
  #onFlush;
  #open = () => true;
  constructor(sink, onFlush = () => {}, open = () => true) {
    this.#sink = sink;
    this.#onFlush = onFlush;
    this.#open = open;
  }
  checkWrite() {
    if (!this.#open()) closed();
    return 1n << 20n;
  }
  write(bytes) {
    if (!this.#open()) closed();
    // Copied: the view is into the guest's memory, which the next call may reuse.
    this.#sink(bytes.slice());
  }
  blockingWriteAndFlush(bytes) {
    this.write(bytes);
    this.flush();
  }
  flush() {
    if (!this.#open()) closed();
    this.#onFlush();
  }
  blockingFlush() {
    this.flush();
  }
  writeZeroes(len) {
    this.write(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len) {
    this.blockingWriteAndFlush(new Uint8Array(Number(len)));
  }
  splice(src, len) {
    const bytes = src.read(len);
    this.write(bytes);
    return BigInt(bytes.byteLength);
  }
  blockingSplice(src, len) {
    return this.splice(src, len);
  }
  subscribe() {
    return new Pollable(this.#open);
  }
}

/** Lines written to stdout or stderr, each handed to `log` (`console.log`/`error`). */
function consoleStream(log) {
  const decoder = new TextDecoder();
  let pending = "";
  const stream = new OutputStream(
    (bytes) => {
      pending += decoder.decode(bytes, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop();
      lines.forEach((line) => log(line));
    },
    () => {},
  );
  // What is left when the request ends, a line without its newline.
  stream._end = () => {
    pending += decoder.decode();
    if (pending) log(pending);
    pending = "";
  };
  return stream;
}

// wasi:http/types -------------------------------------------------------------------

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// The hop-by-hop headers a Worker's Response would drop or refuse anyway.
const FORBIDDEN = new Set(["connection", "keep-alive", "host", "transfer-encoding", "upgrade", "proxy-connection"]);

class Fields {
  #entries = [];
  #immutable = false;
  static fromList(entries) {
    const fields = new Fields();
    for (const [name, value] of entries) fields.append(name, value);
    return fields;
  }
  static _immutable(entries) {
    const fields = new Fields();
    fields.#entries = entries;
    fields.#immutable = true;
    return fields;
  }
  #check(name, values) {
    if (this.#immutable) throw { tag: "immutable" };
    if (!TOKEN.test(name)) throw { tag: "invalid-syntax" };
    if (FORBIDDEN.has(name.toLowerCase())) throw { tag: "forbidden" };
    for (const value of values) {
      if (value.some((b) => b === 0 || b === 10 || b === 13)) throw { tag: "invalid-syntax" };
    }
  }
  get(name) {
    const lower = name.toLowerCase();
    return this.#entries.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v.slice());
  }
  has(name) {
    const lower = name.toLowerCase();
    return this.#entries.some(([n]) => n.toLowerCase() === lower);
  }
  set(name, values) {
    this.#check(name, values);
    const lower = name.toLowerCase();
    this.#entries = this.#entries.filter(([n]) => n.toLowerCase() !== lower);
    for (const value of values) this.#entries.push([name, value.slice()]);
  }
  delete(name) {
    this.#check(name, []);
    const lower = name.toLowerCase();
    this.#entries = this.#entries.filter(([n]) => n.toLowerCase() !== lower);
  }
  append(name, value) {
    this.#check(name, [value]);
    this.#entries.push([name, value.slice()]);
  }
  entries() {
    return this.#entries.map(([n, v]) => [n, v.slice()]);
  }
  clone() {
    const fields = new Fields();
    fields.#entries = this.entries();
    return fields;
  }
  _lock() {
    this.#immutable = true;
    return this;
  }
  _headers() {
    const decoder = new TextDecoder();
    const headers = new Headers();
    for (const [name, value] of this.#entries) headers.append(name, decoder.decode(value));
    return headers;
  }
}

const METHODS = new Set(["get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"]);

class IncomingRequest {
  #request;
  #url;
  #body;
  constructor(request, body) {
    this.#request = request;
    this.#url = new URL(request.url);
    this.#body = new IncomingBody(body);
  }
  method() {
    const lower = this.#request.method.toLowerCase();
    return METHODS.has(lower) ? { tag: lower } : { tag: "other", val: this.#request.method };
  }
  pathWithQuery() {
    return this.#url.pathname + this.#url.search;
  }
  scheme() {
    const scheme = this.#url.protocol.slice(0, -1);
    if (scheme === "http") return { tag: "HTTP" };
    if (scheme === "https") return { tag: "HTTPS" };
    return { tag: "other", val: scheme };
  }
  authority() {
    return this.#url.host;
  }
  headers() {
    const encoder = new TextEncoder();
    return Fields._immutable([...this.#request.headers].map(([n, v]) => [n, encoder.encode(v)]));
  }
  consume() {
    if (this.#body === undefined) throw undefined;
    const body = this.#body;
    this.#body = undefined;
    return body;
  }
}

class IncomingBody {
  #stream;
  constructor(bytes) {
    this.#stream = new InputStream(bytes);
  }
  stream() {
    if (this.#stream === undefined) throw undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    return stream;
  }
  static finish(_body) {
    return new FutureTrailers();
  }
}

class FutureTrailers {
  #taken = false;
  subscribe() {
    return new Pollable();
  }
  get() {
    if (this.#taken) return { tag: "err" };
    this.#taken = true;
    // A Worker's Request carries no trailers.
    return { tag: "ok", val: { tag: "ok", val: undefined } };
  }
}

class OutgoingResponse {
  #status = 200;
  #headers;
  #body = new OutgoingBody();
  #bodyTaken = false;
  constructor(headers) {
    this.#headers = headers._lock();
  }
  statusCode() {
    return this.#status;
  }
  setStatusCode(status) {
    if (status < 100 || status > 599) throw undefined;
    this.#status = status;
  }
  headers() {
    return this.#headers;
  }
  body() {
    if (this.#bodyTaken) throw undefined;
    this.#bodyTaken = true;
    return this.#body;
  }
  _parts() {
    return { status: this.#status, headers: this.#headers._headers(), body: this.#bodyTaken ? this.#body : null };
  }
}

class OutgoingBody {
  #chunks = [];
  #finished = false;
  #streamTaken = false;
  write() {
    if (this.#streamTaken) throw undefined;
    this.#streamTaken = true;
    return new OutputStream(
      (bytes) => this.#chunks.push(bytes),
      () => {},
      () => !this.#finished,
    );
  }
  static finish(body, trailers) {
    if (trailers !== undefined) {
      throw { tag: "internal-error", val: "a Worker's Response cannot carry trailers" };
    }
    body.#finished = true;
  }
  _finished() {
    return this.#finished;
  }
  _bytes() {
    const total = this.#chunks.reduce((n, c) => n + c.byteLength, 0);
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of this.#chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return bytes;
  }
}

class ResponseOutparam {
  #set;
  constructor(set) {
    this.#set = set;
  }
  static set(param, response) {
    param.#set(response);
  }
}

const unavailable = (what) =>
  class {
    constructor() {
      throw new Error(`${what} is not available in a Worker bundle`);
    }
  };

const httpTypes = {
  Fields,
  IncomingRequest,
  IncomingBody,
  FutureTrailers,
  OutgoingResponse,
  OutgoingBody,
  ResponseOutparam,
  // wasi:http/types names them; without outgoing-handler (refused by `wharf bundle`)
  // they could never be sent.
  OutgoingRequest: unavailable("an outgoing request"),
  RequestOptions: unavailable("request options"),
  IncomingResponse: unavailable("an incoming response"),
  FutureIncomingResponse: unavailable("a future incoming response"),
  httpErrorCode(_error) {
    return undefined;
  },
};

// The host -----------------------------------------------------------------------

/** The guest called wasi:cli/exit; the fetch handler turns it into an answer. */
export class ComponentExit {
  constructor(code) {
    this.code = code;
  }
}

/**
 * The host of one instance: `imports`, keyed as jco's instantiation mode asks for them
 * (`wasi:io/streams`, no version), with `environment` ([name, value] pairs) as the
 * guest's wasi:cli/environment; `end()` writes out what stdio still holds.
 */
export function host(environment) {
  const stdin = new InputStream(new Uint8Array(0));
  const stdout = consoleStream((line) => console.log(line));
  const stderr = consoleStream((line) => console.error(line));
  const seed = [randomU64(), randomU64()];
  const imports = {
    "wasi:io/error": { Error: IoError },
    "wasi:io/poll": { Pollable, poll },
    "wasi:io/streams": { InputStream, OutputStream },
    "wasi:cli/environment": {
      getEnvironment: () => environment.map(([k, v]) => [k, v]),
      getArguments: () => [],
      initialCwd: () => undefined,
    },
    "wasi:cli/exit": {
      exit: (status) => {
        throw new ComponentExit(status.tag === "ok" ? 0 : 1);
      },
      exitWithCode: (code) => {
        throw new ComponentExit(code);
      },
    },
    "wasi:cli/stdin": { getStdin: () => stdin },
    "wasi:cli/stdout": { getStdout: () => stdout },
    "wasi:cli/stderr": { getStderr: () => stderr },
    "wasi:cli/terminal-input": { TerminalInput: class {} },
    "wasi:cli/terminal-output": { TerminalOutput: class {} },
    "wasi:cli/terminal-stdin": { getTerminalStdin: () => undefined },
    "wasi:cli/terminal-stdout": { getTerminalStdout: () => undefined },
    "wasi:cli/terminal-stderr": { getTerminalStderr: () => undefined },
    "wasi:clocks/monotonic-clock": {
      now: monotonicNow,
      resolution: () => 1000n,
      subscribeInstant: (instant) => new Pollable(() => monotonicNow() >= instant),
      subscribeDuration: (duration) => {
        const at = monotonicNow() + duration;
        return new Pollable(() => monotonicNow() >= at);
      },
    },
    "wasi:clocks/wall-clock": {
      now: () => {
        const ms = Date.now();
        return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1e6 };
      },
      resolution: () => ({ seconds: 0n, nanoseconds: 1e6 }),
    },
    "wasi:random/random": { getRandomBytes: randomBytes, getRandomU64: randomU64 },
    "wasi:random/insecure": { getInsecureRandomBytes: randomBytes, getInsecureRandomU64: randomU64 },
    "wasi:random/insecure-seed": { insecureSeed: () => seed },
    "wasi:http/types": httpTypes,
  };
  return {
    imports,
    end() {
      stdout._end();
      stderr._end();
    },
  };
}

function monotonicNow() {
  return BigInt(Math.round(performance.now() * 1e6));
}

function randomBytes(len) {
  const bytes = new Uint8Array(Number(len));
  // getRandomValues fills at most 64 KiB a call.
  for (let at = 0; at < bytes.byteLength; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, at + 65536));
  }
  return bytes;
}

function randomU64() {
  return crypto.getRandomValues(new BigUint64Array(1))[0];
}

export { IncomingRequest, ResponseOutparam };
