// Mints one JWT-SVID test token with npm `jose` (or by hand where jose, rightly, refuses) and
// prints it on stdout. Each call stamps the token with the current time, so a case minted right
// before it is checked never drifts towards its exp.
//
//   node jose-mint.mjs DIR AUDIENCE CASE
//
// DIR holds keys.json from jose-init.mjs. `node jose-mint.mjs DIR AUDIENCE --list` lists the cases.
// Which verdict each case must get from Ward is decided by the calling test (jwt_jose_test.sh).
import { createPrivateKey, randomBytes, sign as nodeSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactSign, FlattenedSign, importJWK } from 'jose';

const [dir, audience, caseName] = process.argv.slice(2);
if (!dir || !audience || !caseName) {
  console.error('usage: node jose-mint.mjs DIR AUDIENCE CASE|--list');
  process.exit(2);
}
const keys = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'));

const b64url = (data) => Buffer.from(data).toString('base64url');
const json = (value) => new TextEncoder().encode(JSON.stringify(value));
const now = Math.floor(Date.now() / 1000);

const EXAMPLE_ID = 'spiffe://example.org/workload';
const OTHER_ID = 'spiffe://other.org/workload';

// The claims of a good JWT-SVID; cases override or delete (value undefined) single claims.
function claims(overrides = {}) {
  const c = { sub: EXAMPLE_ID, aud: audience, exp: now + 300, iat: now, jti: b64url(randomBytes(12)), ...overrides };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

// Signs with jose. The header defaults to {alg: the key's algorithm, kid: the key name, typ: JWT};
// `header` overrides or deletes (undefined) members.
async function joseSign(keyName, payload, header = {}, signOptions = {}) {
  const key = keys[keyName];
  const h = { alg: key.alg, kid: keyName, typ: 'JWT', ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const privateKey = await importJWK(key.privateJwk, h.alg);
  return new CompactSign(json(payload)).setProtectedHeader(h).sign(privateKey, signOptions);
}

// Signs an ES256-style (raw r||s) signature with node:crypto over any header, including headers
// jose would refuse to produce, e.g. an alg that does not match the key.
function rawEcSign(keyName, header, payload, hash) {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const key = createPrivateKey({ key: keys[keyName].privateJwk, format: 'jwk' });
  const sig = nodeSign(hash, Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${b64url(sig)}`;
}

const cases = {
  // ---- tokens Ward must accept
  'good-ES256': () => joseSign('es256', claims()),
  'good-ES384': () => joseSign('es384', claims()),
  'good-ES512': () => joseSign('es512', claims()),
  'good-RS256': () => joseSign('rs256', claims()),
  'good-RS384': () => joseSign('rs384', claims()),
  'good-RS512': () => joseSign('rs512', claims()),
  'good-PS256': () => joseSign('ps256', claims()),
  'good-PS384': () => joseSign('ps384', claims()),
  'good-PS512': () => joseSign('ps512', claims()),
  'typ-JOSE': () => joseSign('es256', claims(), { typ: 'JOSE' }),
  'no-typ': () => joseSign('es256', claims(), { typ: undefined }),
  'aud-array': () => joseSign('es256', claims({ aud: ['someone-else', audience] })),
  'extra-claims': () => joseSign('es256', claims({ iss: 'https://issuer.example', nbf: now - 10, custom: { a: [1, 2] } })),
  // expired 5 s ago: inside Ward's 30 s leeway
  'exp-within-leeway': () => joseSign('es256', claims({ exp: now - 5, iat: now - 300 })),
  // nbf 5 s ahead: inside the leeway as well (clocks of issuer and validator differ a little)
  'nbf-within-leeway': () => joseSign('es256', claims({ nbf: now + 5 })),
  // other.org's own key under kid "es256" of other.org's bundle
  'other-td-own-key': () => joseSign('other-es256', claims({ sub: OTHER_ID }), { kid: 'es256' }),

  // ---- tokens Ward must reject
  // HMAC with a secret: "any key" is in the bundle under kid es256, but HS* is never allowed.
  HS256: async () =>
    new CompactSign(json(claims()))
      .setProtectedHeader({ alg: 'HS256', kid: 'es256', typ: 'JWT' })
      .sign(new TextEncoder().encode('a shared secret of at least 32 bytes!!')),
  // Unsigned: header + payload + empty signature; kid and typ present so that alg is the only fault.
  none: async () => `${b64url(JSON.stringify({ alg: 'none', kid: 'es256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims()))}.`,
  // Ed25519 is a fine JWS algorithm but not one of the nine JWT-SVID allows.
  EdDSA: () => joseSign('ed25519', claims()),
  // ES384 in the header over a P-256 key and a SHA-256 signature that is valid for that key.
  'alg-key-mismatch': async () => rawEcSign('es256', { alg: 'ES384', kid: 'es256', typ: 'JWT' }, claims(), 'sha256'),
  'no-kid': () => joseSign('es256', claims(), { kid: undefined }),
  'unknown-kid': () => joseSign('es256', claims(), { kid: 'no-such-key' }),
  'no-exp': () => joseSign('es256', claims({ exp: undefined })),
  expired: () => joseSign('es256', claims({ exp: now - 120, iat: now - 600 })),
  // expired 45 s ago: past the 30 s leeway
  'exp-beyond-leeway': () => joseSign('es256', claims({ exp: now - 45, iat: now - 600 })),
  'exp-string': () => joseSign('es256', claims({ exp: String(now + 300) })),
  'no-aud': () => joseSign('es256', claims({ aud: undefined })),
  'wrong-aud': () => joseSign('es256', claims({ aud: 'someone-else' })),
  'wrong-aud-array': () => joseSign('es256', claims({ aud: ['someone-else', 'another'] })),
  'empty-aud-array': () => joseSign('es256', claims({ aud: [] })),
  'no-sub': () => joseSign('es256', claims({ sub: undefined })),
  'invalid-sub': () => joseSign('es256', claims({ sub: 'not-a-spiffe-id' })),
  'sub-upper-case-td': () => joseSign('es256', claims({ sub: 'spiffe://Example.org/workload' })),
  'sub-no-bundle': () => joseSign('es256', claims({ sub: 'spiffe://unbundled.org/workload' })),
  // example.org's key signs for a subject of other.org, whose bundle has another key under kid es256.
  'cross-td': () => joseSign('es256', claims({ sub: OTHER_ID })),
  'typ-at+jwt': () => joseSign('es256', claims(), { typ: 'at+jwt' }),
  'typ-lower-jwt': () => joseSign('es256', claims(), { typ: 'jwt' }),
  // Extra JOSE headers are forbidden even when everything else is right (signed by the real key).
  'header-jku': () => joseSign('es256', claims(), { jku: 'https://attacker.example/jwks.json' }),
  'header-jwk': () => joseSign('es256', claims(), { jwk: keys.es256.publicJwk }),
  'header-x5u': () => joseSign('es256', claims(), { x5u: 'https://attacker.example/cert.pem' }),
  'header-crit': () => joseSign('es256', claims(), { crit: ['ward-ext'], 'ward-ext': 1 }, { crit: { 'ward-ext': true } }),
  'wrong-key': () => joseSign('rogue', claims(), { kid: 'es256' }),
  'tampered-payload': async () => {
    const [h, , s] = (await joseSign('es256', claims())).split('.');
    return `${h}.${b64url(JSON.stringify(claims({ sub: 'spiffe://example.org/admin' })))}.${s}`;
  },
  'nbf-future': () => joseSign('es256', claims({ nbf: now + 3600 })),
  'iat-future': () => joseSign('es256', claims({ iat: now + 3600, exp: now + 7200 })),
  'two-parts': async () => (await joseSign('es256', claims())).split('.').slice(0, 2).join('.'),
  'json-serialization': async () => {
    const privateKey = await importJWK(keys.es256.privateJwk, 'ES256');
    const jws = await new FlattenedSign(json(claims()))
      .setProtectedHeader({ alg: 'ES256', kid: 'es256', typ: 'JWT' })
      .sign(privateKey);
    return JSON.stringify(jws);
  },
};

if (caseName === '--list') {
  console.log(Object.keys(cases).join('\n'));
  process.exit(0);
}
const mint = cases[caseName];
if (!mint) {
  console.error(`jose-mint: unknown case ${caseName}`);
  process.exit(2);
}
process.stdout.write((await mint()) + '\n');
