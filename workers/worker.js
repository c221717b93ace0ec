// The entry of a Wharf Workers bundle (`wharf bundle --target workers`): a Cloudflare
// Worker whose `fetch` handler runs the deployable's `wasi:http/incoming-handler`.
//
// Every request gets a fresh instance of the component, as in Wharf's own host: no
// state outlives a request, and a request that traps cannot break the next. A bundle
// made with `--reuse-instances` keeps one instance per isolate instead, as `wharf run
// --reuse-instances` does, and makes a new one only after a trap or an exit: a fresh
// instance costs jco's JavaScript glue and the guest's own start-up work on every
// request, which Workers count against the request's CPU time. The core modules are
// compiled once, when the Worker loads (Workers may not compile Wasm at run time:
// `component-modules.js` imports them as modules).
//
// The request body is read in full before the guest runs and the response is handed
// to Workers when the guest returns: the component is transpiled without JavaScript
// Promise Integration, so the guest cannot wait for the network in the middle of a
// call. The guest's `wasi:cli/environment` is the Worker's text bindings (`[vars]` and
// secrets in wrangler.toml, `bindings` in workerd's config); stdout and stderr go to
// the console, a line at a time.

import { instantiate } from "./component.js";
import { coreModules, reuseInstances } from "./component-modules.js";
import { ComponentExit, IncomingRequest, ResponseOutparam, host } from "./wasi.js";

// Statuses a Response may not carry a body with.
const NULL_BODY = new Set([101, 204, 205, 304]);

// The instance kept for the next request (`--reuse-instances`), with its host.
let kept;

/** An instance and its WASI host: the kept one, or a new one. */
function instance(env) {
  if (kept !== undefined) return kept;
  const wasi = host(textBindings(env));
  const made = { component: instantiate((name) => coreModules[name], wasi.imports), wasi };
  if (reuseInstances) kept = made;
  return made;
}

export default {
  async fetch(request, env) {
    const body = new Uint8Array(await request.arrayBuffer());
    let outcome;
    const out = new ResponseOutparam((response) => {
      if (outcome !== undefined) throw new Error("the response outparam was set twice");
      outcome = response;
    });
    let wasi;
    try {
      const made = instance(env);
      wasi = made.wasi;
      made.component.incomingHandler.handle(new IncomingRequest(request, body), out);
    } catch (error) {
      // A trapped instance is poisoned, an exited one finished: neither serves again.
      kept = undefined;
      const exited = error instanceof ComponentExit;
      if (!exited || error.code !== 0) {
        console.error(`the component ${exited ? `exited with code ${error.code}` : `trapped: ${error?.stack ?? error}`}`);
      }
      if (outcome === undefined || !exited) return failure("the component failed before answering");
    } finally {
      wasi?.end();
    }
    if (outcome === undefined) return failure("the component returned without setting a response");
    if (outcome.tag === "err") return failure(`the component answered with an error: ${JSON.stringify(outcome.val)}`);
    const { status, headers, body: answer } = outcome.val._parts();
    if (answer !== null && !answer._finished()) {
      // Dropped without `finish`: the body is incomplete, and a client must not take
      // it for the whole answer.
      return failure("the component did not finish its response body");
    }
    const bytes = answer === null ? null : answer._bytes();
    // `encodeBody: "manual"`: the guest's bytes are the body as sent. Otherwise a
    // Worker compresses a body whose head says `content-encoding: gzip` once more.
    return new Response(NULL_BODY.has(status) || bytes?.byteLength === 0 ? null : bytes, {
      status,
      headers,
      encodeBody: "manual",
    });
  },
};

/** The Worker's bindings that are text (vars and secrets), as [name, value] pairs. */
function textBindings(env) {
  return Object.entries(env ?? {}).filter(([, value]) => typeof value === "string");
}

function failure(message) {
  console.error(message);
  return new Response(`${message}\n`, { status: 500, headers: { "content-type": "text/plain" } });
}
