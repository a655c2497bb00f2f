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
import { measure, parseArgs } from './closed_loop.mjs';

// utime + stime of a process in clock ticks (fields 14 and 15 of /proc/PID/stat; the fields
// are counted after the ")" that closes the command name, which may itself contain spaces).
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  return Number(rest[14 - 3]) + Number(rest[15 - 3]);
}

const opts = parseArgs(process.argv.slice(2),
  { duration: 10, concurrency: 8, warmup: 1, pid: 0, url: null, csrDir: null }, ['url', 'csrDir']);
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

const summary = await measure(opts, signOnce, `pool ${bodies.length}`, () => {
  const ticks0 = opts.pid ? cpuTicks(opts.pid) : null;
  return () => ({ server_cpu_ticks: opts.pid ? cpuTicks(opts.pid) - ticks0 : null });
});
agent.destroy();
console.log(JSON.stringify(summary));
