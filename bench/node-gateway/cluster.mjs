// The Node.js peer at its best for scripts/bench-host: server.mjs on every core, one
// worker process per core (node:cluster), all serving the one port. A single Node.js
// process uses one core for JavaScript, while Wharf's host and `wasmtime serve` use
// all of them, so comparing with one process would flatter the Wasm hosts.
//
// WORKERS picks the number of workers (default: os.availableParallelism()); PORT and
// the GATEWAY_* variables are server.mjs's. It prints `listening <port>` once every
// worker listens. Node's default scheduling applies (round-robin from the primary on
// Linux; NODE_CLUSTER_SCHED_POLICY=none lets the kernel hand out connections).
// A worker that dies ends the whole server: a benchmark must not go on with fewer.
import cluster from "node:cluster";
import os from "node:os";

const workers = Number(process.env.WORKERS || os.availableParallelism());
if (!Number.isInteger(workers) || workers < 1) {
  console.error(`WORKERS must be a positive integer, not ${JSON.stringify(process.env.WORKERS)}`);
  process.exit(2);
}

cluster.setupPrimary({ exec: new URL("./server.mjs", import.meta.url).pathname });
let listening = 0;
let stopping = false;
cluster.on("listening", (_worker, address) => {
  if (++listening === workers) console.log(`listening ${address.port}`);
});
cluster.on("exit", (worker, code, signal) => {
  if (stopping) return;
  console.error(`worker ${worker.process.pid} exited (${signal ?? code}): stopping`);
  stop(1);
});

function stop(code) {
  stopping = true;
  for (const worker of Object.values(cluster.workers)) worker.process.kill("SIGTERM");
  process.exit(code);
}
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));

for (let i = 0; i < workers; i++) cluster.fork();
