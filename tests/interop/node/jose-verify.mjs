// Verifies a JWT-SVID with npm `jose` against a plain JWKS (e.g. ward-samplegen's jwks.json), and
// checks that the token follows the JWT-SVID profile (standards/JWT-SVID.md).
//
//   node jose-verify.mjs JWKS_FILE AUDIENCE TOKEN_FILE
//
// Exit 0: jose accepted the token and it follows the profile; prints {"header":…,"payload":…}.
// Exit 1: jose rejected the token; prints "jose: <error code>: <message>" on stderr.
// Exit 3: jose accepted the token, but it breaks the profile; prints the problems on stderr.
// Exit 2: usage error.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, audience, tokenFile] = process.argv.slice(2);
if (!jwksFile || !audience || !tokenFile) {
  console.error('usage: node jose-verify.mjs JWKS_FILE AUDIENCE TOKEN_FILE');
  process.exit(2);
}

const JWT_SVID_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'];
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
const token = readFileSync(tokenFile, 'utf8').trim();

let result;
try {
  result = await jwtVerify(token, jwks, {
    audience,
    algorithms: JWT_SVID_ALGS,
    requiredClaims: ['sub', 'aud', 'exp'],
  });
} catch (e) {
  console.error(`jose: ${e.code ?? e.name}: ${e.message}`);
  process.exit(1);
}

const { payload, protectedHeader: header } = result;
const problems = [];
for (const name of Object.keys(header)) {
  if (!['alg', 'kid', 'typ'].includes(name)) problems.push(`header parameter "${name}" is not allowed`);
}
if (typeof header.kid !== 'string' || header.kid === '') problems.push('header has no kid');
if (header.typ !== undefined && header.typ !== 'JWT' && header.typ !== 'JOSE') problems.push(`typ is "${header.typ}"`);
if (typeof payload.sub !== 'string' || !/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(payload.sub)) {
  problems.push(`sub ${JSON.stringify(payload.sub)} is not a SPIFFE ID`);
}
if (!Number.isInteger(payload.exp)) problems.push('exp is not an integer NumericDate');

if (problems.length > 0) {
  console.error(`jose accepted the token, but it breaks the JWT-SVID profile: ${problems.join('; ')}`);
  process.exit(3);
}
console.log(JSON.stringify({ header, payload }));
