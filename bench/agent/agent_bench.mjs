// Agent benchmarks against a running ward server + agent (started by agent_bench.sh):
//   propagation  entry written -> SVID delivered on an open FetchX509SVID stream, sequentially
//   streams      K concurrent FetchX509SVID streams (one connection each): time to first message,
//                and fan-out time of one update to all of them
// Prints one JSON object.
//   node agent_bench.mjs ADMIN_SOCKET WORKLOAD_SOCKET AGENT_ID UID PROPAGATION_N STREAMS_K
import { createRequire } from 'node:module';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeDir = path.join(here, '../../tests/interop/node');
const require = createRequire(path.join(nodeDir, 'package.json'));
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const def = loader.loadSync(path.join(nodeDir, 'workload.proto'), { keepCase: true, longs: Number, defaults: true });
const proto = grpc.loadPackageDefinition(def);

const [adminSock, wlSock, agentId, uid, nProp, kStreams] = process.argv.slice(2);
const meta = () => { const m = new grpc.Metadata(); m.set('workload.spiffe.io', 'true'); return m; };
const now = () => Number(process.hrtime.bigint()) / 1e6;

function admin(method, p, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: adminSock, method, path: p, headers: { 'content-type': 'application/json' } }, (res) => {
      let s = ''; res.on('data', (d) => { s += d; }); res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(s)) : reject(new Error(s))));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}
const entry = (name) => ({ spiffe_id: `spiffe://example.org/bench/${name}`, parent_id: agentId, selectors: [`unix:uid:${uid}`] });
function pct(xs, p) { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; }
const stats = (xs) => ({ n: xs.length, p50_ms: +pct(xs, 50).toFixed(2), p99_ms: +pct(xs, 99).toFixed(2), max_ms: +Math.max(...xs).toFixed(2) });

async function propagation(n) {
  await admin('POST', '/v1/entries', { entries: [entry('seed')] });
  const client = new proto.SpiffeWorkloadAPI('unix://' + wlSock, grpc.credentials.createInsecure());
  const waiting = new Map();
  const seen = new Set();
  // The seed entry may not have reached the agent yet (the stream then ends PermissionDenied):
  // open the stream again until it delivers.
  let stream;
  for (;;) {
    stream = client.FetchX509SVID({}, meta());
    const ok = await new Promise((resolve) => {
      stream.once('data', () => resolve(true));
      stream.once('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  stream.on('data', (m) => {
    const t = now();
    for (const s of m.svids) {
      if (!seen.has(s.spiffe_id)) { seen.add(s.spiffe_id); const w = waiting.get(s.spiffe_id); if (w) w(t); }
    }
  });
  stream.on('error', () => {});
  const times = [];
  const created = [];
  for (let i = 0; i < n; i++) {
    const id = `spiffe://example.org/bench/p${i}`;
    const arrived = new Promise((r) => waiting.set(id, r));
    const t0 = now();
    const reply = await admin('POST', '/v1/entries', { entries: [entry(`p${i}`)] });
    created.push(reply.results[0].entry.id);
    const t1 = await arrived;
    times.push(t1 - t0);
  }
  stream.cancel();
  client.close();
  // Leave the workload with its one seed identity for the stream test, as a real workload has.
  await admin('POST', '/v1/entries/delete', { ids: created });
  await new Promise((r) => setTimeout(r, 1000));
  return stats(times);
}

async function streams(k) {
  const clients = [];
  const firsts = [];
  const t0 = now();
  const updates = [];
  let marker = null;
  let markerT0 = 0;
  await Promise.all(Array.from({ length: k }, (_, i) => new Promise((resolve) => {
    // A distinct channel option makes grpc-js open a separate connection per stream.
    const c = new proto.SpiffeWorkloadAPI('unix://' + wlSock, grpc.credentials.createInsecure(), { 'grpc.bench_id': i });
    clients.push(c);
    const s = c.FetchX509SVID({}, meta());
    let first = true;
    s.on('data', (m) => {
      const t = now();
      if (first) { first = false; firsts.push(t - t0); resolve(); return; }
      if (marker && m.svids.some((x) => x.spiffe_id === marker)) updates.push(t - markerT0);
    });
    s.on('error', () => resolve());
  })));
  const opened = now() - t0;
  marker = 'spiffe://example.org/bench/fanout';
  markerT0 = now();
  await admin('POST', '/v1/entries', { entries: [entry('fanout')] });
  const deadline = now() + 30000;
  while (updates.length < k && now() < deadline) await new Promise((r) => setTimeout(r, 5));
  for (const c of clients) c.close();
  return { streams: k, open_all_ms: +opened.toFixed(1), first_message: stats(firsts), fanout_update: stats(updates) };
}

const result = { propagation: await propagation(Number(nProp)) };
result.concurrent_streams = await streams(Number(kStreams));
console.log(JSON.stringify(result));
process.exit(0);
