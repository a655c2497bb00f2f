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
import { measure, parseArgs } from './closed_loop.mjs';

const jose = await import(new URL('../../tests/interop/node/node_modules/jose/dist/node/esm/index.js', import.meta.url));

const opts = parseArgs(process.argv.slice(2),
  { duration: 10, concurrency: 1, warmup: 1, jwks: null, tokens: null, audience: null },
  ['jwks', 'tokens', 'audience']);
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
const validateOnce = async () => {
  await jose.jwtVerify(tokens[next++ % tokens.length], jwks, verifyOptions);
  return true;
};

const summary = await measure(opts, validateOnce, `${tokens.length} tokens, ${keys.length} keys`, () => {
  const cpu0 = process.cpuUsage();
  return (n) => {
    const cpu = process.cpuUsage(cpu0);
    return { cpu_us_per_op: n > 0 ? Number(((cpu.user + cpu.system) / n).toFixed(1)) : null };
  };
});
console.log(JSON.stringify(summary));
