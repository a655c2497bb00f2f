#!/usr/bin/env node
// HTTP load driver for certificate-signing APIs (used by cfssl_bench.sh against cfssl's
// POST /api/v1/cfssl/sign). Keeps C requests in flight for S seconds over keep-alive
// connections, cycling through a pool of pre-generated PEM CSRs, and records per-request latency.
//
//   node http_sign_load.mjs --url http://127.0.0.1:PORT/api/v1/cfssl/sign --csr-dir DIR
//        [--duration S] [--concurrency C] [--warmup S] [--pid SERVER_PID]
//
// DIR holds one PEM CSR per *.pem file. The request body is {"certificate_request": PEM}.
// A request counts as issued when the status is 200 and the JSON reply has success:true and a
// certificate; anything else (other status, success:false, socket error) counts as an error.
// A warm-up phase (default 1 s, not measured) runs first. With --pid, the driver reads
// utime+stime (clock ticks) of that process from /proc/PID/stat right before the first measured
// request and right after the last measured reply, so the caller can compute server CPU per op.
// Prints one JSON object on stdout:
//   {"issued","seconds","rate","p50_ms","p99_ms","errors","server_cpu_ticks"}
// (server_cpu_ticks is null without --pid). Progress goes to stderr.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
  const opts = { duration: 10, concurrency: 8, warmup: 1, pid: null, url: null, csrDir: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--url': opts.url = v; i++; break;
      case '--csr-dir': opts.csrDir = v; i++; break;
      case '--duration': opts.duration = Number(v); i++; break;
      case '--concurrency': opts.concurrency = Number(v); i++; break;
      case '--warmup': opts.warmup = Number(v); i++; break;
      case '--pid': opts.pid = Number(v); i++; break;
      default: throw new Error(`unknown argument: ${a}`);
    }
  }
  if (!opts.url || !opts.csrDir) throw new Error('--url and --csr-dir are required');
  if (!(opts.duration > 0) || !(opts.concurrency >= 1) || !(opts.warmup >= 0)) {
    throw new Error('bad --duration/--concurrency/--warmup');
  }
  return opts;
}

// utime + stime of a process in clock ticks (fields 14 and 15 of /proc/PID/stat; the fields
// are counted after the ")" that closes the command name, which may itself contain spaces).
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  return Number(rest[14 - 3]) + Number(rest[15 - 3]);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const opts = parseArgs(process.argv.slice(2));
const url = new URL(opts.url);
const bodies = fs.readdirSync(opts.csrDir)
  .filter((f) => f.endsWith('.pem'))
  .sort()
  .map((f) => Buffer.from(JSON.stringify({ certificate_request: fs.readFileSync(path.join(opts.csrDir, f), 'utf8') })));
if (bodies.length === 0) throw new Error(`no *.pem CSRs in ${opts.csrDir}`);

const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
let next = 0;

// One POST; resolves to true when a certificate came back, false on any kind of failure.
function signOnce() {
  const body = bodies[next++ % bodies.length];
  return new Promise((resolve) => {
    const req = http.request({
      agent,
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(false);
        try {
          const reply = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          resolve(reply.success === true && typeof reply.result?.certificate === 'string');
        } catch {
          resolve(false);
        }
      });
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

// Runs C sequential request loops until the deadline; returns latencies (ms) and counts.
async function phase(seconds) {
  const deadline = performance.now() + seconds * 1000;
  const latencies = [];
  let errors = 0;
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const ok = await signOnce();
      if (ok) latencies.push(performance.now() - t0); else errors++;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  return { latencies, errors };
}

if (opts.warmup > 0) {
  process.stderr.write(`warm-up ${opts.warmup}s, concurrency ${opts.concurrency}\n`);
  const w = await phase(opts.warmup);
  process.stderr.write(`warm-up: ${w.latencies.length} ok, ${w.errors} errors\n`);
}

process.stderr.write(`measuring ${opts.duration}s, concurrency ${opts.concurrency}, pool ${bodies.length}\n`);
const ticks0 = opts.pid ? cpuTicks(opts.pid) : null;
const t0 = performance.now();
const { latencies, errors } = await phase(opts.duration);
const seconds = (performance.now() - t0) / 1000;
const ticks1 = opts.pid ? cpuTicks(opts.pid) : null;
agent.destroy();

latencies.sort((a, b) => a - b);
const round = (x, d = 3) => (x === null ? null : Number(x.toFixed(d)));
console.log(JSON.stringify({
  issued: latencies.length,
  seconds: round(seconds),
  rate: round(latencies.length / seconds, 1),
  p50_ms: round(percentile(latencies, 50)),
  p99_ms: round(percentile(latencies, 99)),
  errors,
  server_cpu_ticks: opts.pid ? ticks1 - ticks0 : null,
}));
