// Creates the key material of a JWT-SVID issuer that is independent of Ward: npm `jose` generates
// one key pair per JWS algorithm, and this script writes the bundles Ward verifies against.
//
//   node jose-init.mjs DIR
//
// Writes into DIR (which must exist):
//   keys.json            private JWKs by name (read back by jose-mint.mjs)
//   bundle.json          SPIFFE bundle of example.org: one "use":"jwt-svid" JWK per key, kid = key name
//   bundle-map.json      {"trust_domains":{"example.org": bundle.json, "other.org": other-bundle}}
//   bundle-okp-map.json  like bundle-map.json, with an Ed25519 (OKP) key added to example.org's bundle
// other.org's bundle holds a different ES256 key under the same kid "es256" as example.org's, so a
// token whose key is looked up outside the trust domain of its sub is caught.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node jose-init.mjs DIR');
  process.exit(2);
}

// key name (also its kid in the bundle) -> algorithm it is generated for
const keySpecs = {
  es256: 'ES256',
  es384: 'ES384',
  es512: 'ES512',
  rs256: 'RS256',
  rs384: 'RS384',
  rs512: 'RS512',
  ps256: 'PS256',
  ps384: 'PS384',
  ps512: 'PS512',
  rogue: 'ES256', // never published: signs tokens that claim another key's kid
  'other-es256': 'ES256', // other.org's key, published there under kid "es256"
  ed25519: 'EdDSA',
};

const keys = {};
for (const [name, alg] of Object.entries(keySpecs)) {
  const options = { extractable: true };
  if (alg === 'EdDSA') options.crv = 'Ed25519';
  if (alg.startsWith('RS') || alg.startsWith('PS')) options.modulusLength = 2048;
  const { privateKey, publicKey } = await generateKeyPair(alg, options);
  keys[name] = { alg, privateJwk: await exportJWK(privateKey), publicJwk: await exportJWK(publicKey) };
}

const jwtSvidEntry = (name, kid = name) => ({ ...keys[name].publicJwk, kid, use: 'jwt-svid' });

const exampleBundle = {
  keys: ['es256', 'es384', 'es512', 'rs256', 'rs384', 'rs512', 'ps256', 'ps384', 'ps512'].map((n) => jwtSvidEntry(n)),
  spiffe_sequence: 1,
  spiffe_refresh_hint: 300,
};
const otherBundle = { keys: [jwtSvidEntry('other-es256', 'es256')], spiffe_sequence: 1 };
const exampleWithOkp = { ...exampleBundle, keys: [...exampleBundle.keys, jwtSvidEntry('ed25519')] };

const write = (file, value) => writeFileSync(join(dir, file), JSON.stringify(value, null, 2) + '\n');
write('keys.json', keys);
write('bundle.json', exampleBundle);
write('bundle-map.json', { trust_domains: { 'example.org': exampleBundle, 'other.org': otherBundle } });
write('bundle-okp-map.json', { trust_domains: { 'example.org': exampleWithOkp, 'other.org': otherBundle } });
