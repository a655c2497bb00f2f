// An independent Workload API client on @grpc/grpc-js, for Ward's integration tests.
//   node workload_client.mjs COMMAND SOCKET [ARGS...]
// Prints one JSON object per result on stdout; gRPC failures print {"error":CODE_NAME,"message"}
// and exit 3.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import * as jose from 'jose';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const here = path.dirname(fileURLToPath(import.meta.url));

const def = loader.loadSync(path.join(here, 'workload.proto'), {
  keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
});
const proto = grpc.loadPackageDefinition(def);
const [command, socket, ...args] = process.argv.slice(2);
const client = new proto.SpiffeWorkloadAPI('unix://' + socket, grpc.credentials.createInsecure());
const codeName = (code) => Object.keys(grpc.status).find((k) => grpc.status[k] === code);

function meta(value = 'true') {
  const m = new grpc.Metadata();
  if (value !== null) m.set('workload.spiffe.io', value);
  return m;
}
function fail(err) {
  console.log(JSON.stringify({ error: codeName(err.code), message: err.details }));
  process.exit(3);
}
function deadline(seconds = 20) { return { deadline: Date.now() + seconds * 1000 }; }
// DER certificates back to back -> [Buffer] (each starts with SEQUENCE and a long-form length).
function splitDer(buf) {
  const out = [];
  let i = 0;
  while (i < buf.length) {
    let len = buf[i + 1];
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + buf[i + 2 + k];
      hdr = 2 + n;
    }
    out.push(buf.subarray(i, i + hdr + len));
    i += hdr + len;
  }
  return out;
}
function pem(der, label = 'CERTIFICATE') {
  const b64 = der.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
function summary(msg) {
  return {
    svids: msg.svids.map((s) => ({
      spiffe_id: s.spiffe_id,
      certs: splitDer(s.x509_svid).length,
      serial: new (require('node:crypto').X509Certificate)(splitDer(s.x509_svid)[0]).serialNumber,
      valid_to: new (require('node:crypto').X509Certificate)(splitDer(s.x509_svid)[0]).validTo,
      key_bytes: s.x509_svid_key.length,
      bundle_certs: splitDer(s.bundle).length,
      hint: s.hint,
    })),
    federated_bundles: Object.keys(msg.federated_bundles),
  };
}

function firstOf(stream) {
  return new Promise((resolve, reject) => {
    stream.on('data', (m) => { resolve(m); stream.cancel(); });
    stream.on('error', (e) => { if (e.code !== grpc.status.CANCELLED) reject(e); });
  });
}

async function main() {
  switch (command) {
    case 'fetch-x509': {  // fetch-x509 SOCKET OUTDIR [HEADER|-]
      const header = args[1] === undefined ? 'true' : args[1] === '-' ? null : args[1];
      const msg = await firstOf(client.FetchX509SVID({}, meta(header), deadline()));
      const out = args[0];
      if (out) {
        fs.mkdirSync(out, { recursive: true });
        const s = msg.svids[0];
        const chain = splitDer(s.x509_svid);
        fs.writeFileSync(path.join(out, 'leaf.pem'), pem(chain[0]));
        fs.writeFileSync(path.join(out, 'chain.pem'), chain.map((c) => pem(c)).join(''));
        fs.writeFileSync(path.join(out, 'key.der'), s.x509_svid_key);
        fs.writeFileSync(path.join(out, 'bundle.pem'), splitDer(s.bundle).map((c) => pem(c)).join(''));
      }
      console.log(JSON.stringify(summary(msg)));
      break;
    }
    case 'x509-bundles': {
      const msg = await firstOf(client.FetchX509Bundles({}, meta(), deadline()));
      console.log(JSON.stringify(Object.fromEntries(
        Object.entries(msg.bundles).map(([k, v]) => [k, splitDer(v).length]))));
      break;
    }
    case 'jwt-bundles': {
      const msg = await firstOf(client.FetchJWTBundles({}, meta(), deadline()));
      console.log(JSON.stringify(Object.fromEntries(
        Object.entries(msg.bundles).map(([k, v]) => [k, JSON.parse(v.toString())]))));
      break;
    }
    case 'fetch-jwt': {  // fetch-jwt SOCKET AUDIENCE|'' [SPIFFE_ID]
      const audience = args[0] === '' ? [] : [args[0]];
      const resp = await new Promise((resolve, reject) => client.FetchJWTSVID(
        { audience, spiffe_id: args[1] || '' }, meta(), deadline(), (e, r) => (e ? reject(e) : resolve(r))));
      console.log(JSON.stringify(resp.svids.map((s) => ({ spiffe_id: s.spiffe_id, token: s.svid }))));
      break;
    }
    case 'verify-jwt': {  // verify-jwt SOCKET AUDIENCE: a JWT-SVID checked by jose against FetchJWTBundles
      const resp = await new Promise((resolve, reject) => client.FetchJWTSVID(
        { audience: [args[0]] }, meta(), deadline(), (e, r) => (e ? reject(e) : resolve(r))));
      const bundles = await firstOf(client.FetchJWTBundles({}, meta(), deadline()));
      const token = resp.svids[0].svid;
      const td = 'spiffe://' + new URL(resp.svids[0].spiffe_id).host;
      const jwks = jose.createLocalJWKSet(JSON.parse(bundles.bundles[td].toString()));
      const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { audience: args[0] });
      console.log(JSON.stringify({ payload, alg: protectedHeader.alg, kid: protectedHeader.kid }));
      break;
    }
    case 'validate': {  // validate SOCKET AUDIENCE TOKEN [HEADER|-]
      const header = args[2] === undefined ? 'true' : args[2] === '-' ? null : args[2];
      const resp = await new Promise((resolve, reject) => client.ValidateJWTSVID(
        { audience: args[0], svid: args[1] }, meta(header), deadline(),
        (e, r) => (e ? reject(e) : resolve(r))));
      console.log(JSON.stringify({ spiffe_id: resp.spiffe_id, claims: resp.claims }));
      break;
    }
    case 'wit': {
      const msg = await firstOf(client.FetchWITSVID({}, meta(), deadline()));
      console.log(JSON.stringify(msg));
      break;
    }
    case 'await-x509': {  // await-x509 SOCKET SPIFFE_ID TIMEOUT_S: retries every 10 ms until it is served
      const started = Date.now();
      for (;;) {
        try {
          const msg = await firstOf(client.FetchX509SVID({}, meta(), deadline()));
          if (msg.svids.some((s) => s.spiffe_id === args[0])) {
            console.log(JSON.stringify({ at_ms: Date.now(), waited_ms: Date.now() - started }));
            break;
          }
        } catch (e) {
          if (e.code !== grpc.status.PERMISSION_DENIED) throw e;
        }
        if (Date.now() - started > Number(args[1]) * 1000) throw { code: grpc.status.DEADLINE_EXCEEDED, details: 'not served in time' };
        await new Promise((r) => setTimeout(r, 10));
      }
      break;
    }
    case 'watch': {  // watch SOCKET SECONDS: one JSON line per message, with its arrival time
      const stream = client.FetchX509SVID({}, meta());
      setTimeout(() => { stream.cancel(); }, Number(args[0]) * 1000);
      await new Promise((resolve, reject) => {
        stream.on('data', (m) => console.log(JSON.stringify({ at_ms: Date.now(), ...summary(m) })));
        stream.on('error', (e) => {
          if (e.code === grpc.status.CANCELLED) resolve();
          else { console.log(JSON.stringify({ at_ms: Date.now(), error: codeName(e.code), message: e.details })); resolve(); }
        });
        stream.on('end', resolve);
      });
      break;
    }
    default:
      console.error('unknown command ' + command);
      process.exit(2);
  }
  client.close();
}
main().catch(fail);
