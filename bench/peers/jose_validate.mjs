#!/usr/bin/env node
// Peer benchmark: JWT-SVID validation with the npm `jose` library (the copy installed for the
// interop tests by tests/interop/install-clients.sh), for comparison with Ward's JWT validation.
//
//   node bench/peers/jose_validate.mjs --jwks FILE --tokens FILE --audience AUD
//        [--duration S] [--concurrency C] [--warmup W]
//
// FILE (--jwks) is a JSON Web Key Set, e.g. a SPIFFE bundle: keys with "use":"jwt-svid" are
// kept (jose only accepts a "use" of "sig", so that member is dropped before handing the set to
// jose), keys with any other "use" (such as "x509-svid") are ignored. FILE (--tokens) holds one
// compact ES256 JWS per line. Each validation is jose.jwtVerify against a
// jose.createLocalJWKSet, requiring the audience, ES256, and the sub and exp claims. C (default 1)
// async loops cycle through the tokens for S (default 10) seconds after a W (default 1) second
// warm-up that is not measured (and that lets jose cache the imported keys).
// Prints one JSON object on stdout:
//   {"issued","seconds","rate","p50_ms","p99_ms","errors","cpu_us_per_op"}
// where issued counts successful validations and cpu_us_per_op is process.cpuUsage()
// (user+system, all threads of this process, including libuv's pool where node runs the ECDSA
// verification) over the measured phase divided by issued. Progress goes to stderr.
import fs from 'node:fs';

const jose = await import(new URL('../../tests/interop/node/node_modules/jose/dist/node/esm/index.js', import.meta.url));

function parseArgs(argv) {
  const opts = { duration: 10, concurrency: 1, warmup: 1, jwks: null, tokens: null, audience: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--jwks': opts.jwks = v; i++; break;
      case '--tokens': opts.tokens = v; i++; break;
      case '--audience': opts.audience = v; i++; break;
      case '--duration': opts.duration = Number(v); i++; break;
      case '--concurrency': opts.concurrency = Number(v); i++; break;
      case '--warmup': opts.warmup = Number(v); i++; break;
      default: throw new Error(`unknown argument: ${a}`);
    }
  }
  if (!opts.jwks || !opts.tokens || !opts.audience) throw new Error('--jwks, --tokens and --audience are required');
  if (!(opts.duration > 0) || !(opts.concurrency >= 1) || !(opts.warmup >= 0)) {
    throw new Error('bad --duration/--concurrency/--warmup');
  }
  return opts;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const opts = parseArgs(process.argv.slice(2));
const bundle = JSON.parse(fs.readFileSync(opts.jwks, 'utf8'));
const keys = (bundle.keys ?? [])
  .filter((k) => k.use === undefined || k.use === 'sig' || k.use === 'jwt-svid')
  .map(({ use, ...k }) => k);
if (keys.length === 0) throw new Error(`no JWT signing keys in ${opts.jwks}`);
const jwks = jose.createLocalJWKSet({ keys });
const tokens = fs.readFileSync(opts.tokens, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
if (tokens.length === 0) throw new Error(`no tokens in ${opts.tokens}`);
const verifyOptions = { audience: opts.audience, algorithms: ['ES256'], requiredClaims: ['sub', 'exp'] };

let next = 0;
let firstError = null;

async function phase(seconds) {
  const deadline = performance.now() + seconds * 1000;
  const latencies = [];
  let errors = 0;
  const loop = async () => {
    while (performance.now() < deadline) {
      const token = tokens[next++ % tokens.length];
      const t0 = performance.now();
      try {
        await jose.jwtVerify(token, jwks, verifyOptions);
        latencies.push(performance.now() - t0);
      } catch (e) {
        errors++;
        firstError ??= e;
      }
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

process.stderr.write(`measuring ${opts.duration}s, concurrency ${opts.concurrency}, ${tokens.length} tokens, ${keys.length} keys\n`);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const { latencies, errors } = await phase(opts.duration);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
if (firstError) process.stderr.write(`first error: ${firstError.code ?? ''} ${firstError.message}\n`);

latencies.sort((a, b) => a - b);
const round = (x, d = 3) => (x === null ? null : Number(x.toFixed(d)));
const n = latencies.length;
console.log(JSON.stringify({
  issued: n,
  seconds: round(seconds),
  rate: round(n / seconds, 1),
  p50_ms: round(percentile(latencies, 50)),
  p99_ms: round(percentile(latencies, 99)),
  errors,
  cpu_us_per_op: n > 0 ? round((cpu.user + cpu.system) / n, 1) : null,
}));
