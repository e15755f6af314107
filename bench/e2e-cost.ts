/**
 * What end-to-end encryption costs one node, in Node's WebCrypto, next to what every packet
 * already pays (an Ed25519 signature by its source, a verification by its destination):
 *   - once per pair of nodes: X25519 + HKDF (the AES key), plus one KeyRequest/KeyReply round trip;
 *   - per packet: one AES-GCM seal at the source and one open at the destination.
 * Run: npx tsx bench/e2e-cost.ts
 */
import { derivePairKey, exportE2ePublicKey, generateE2eKeys, open, seal } from '../src/core/e2e-crypto.js';
import { Identity, verifySignature } from '../src/core/identity.js';

async function perOp(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(50, n); i++) await fn(i); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return ((performance.now() - t0) / n) * 1000; // µs
}

const a = { id: new Uint8Array(32).fill(1), keys: await generateE2eKeys() };
const b = { id: new Uint8Array(32).fill(2), keys: await generateE2eKeys() };
const aPub = await exportE2ePublicKey(a.keys);
const bPub = await exportE2ePublicKey(b.keys);
const key = await derivePairKey({ ...a, publicKey: aPub }, { id: b.id, publicKey: bPub });
const identity = await Identity.generate();
const aad = new Uint8Array(120);
const rows: [string, number][] = [];
rows.push(['X25519 + HKDF, per pair', await perOp(2000, () => derivePairKey({ ...a, publicKey: aPub }, { id: b.id, publicKey: bPub }))]);
for (const size of [64, 1024, 16 * 1024]) {
  const data = new Uint8Array(size).fill(7);
  const sealed = await seal(key, data, aad);
  rows.push([`AES-GCM seal + open, ${size} B`, await perOp(5000, async () => open(key, sealed.nonce, (await seal(key, data, aad)).ciphertext, aad))]);
  rows.push([`Ed25519 sign + verify, ${size} B (already paid)`, await perOp(3000, async () => verifySignature(identity.publicKey, await identity.sign(data), data))]);
}
for (const [what, us] of rows) console.log(`${what.padEnd(44)} ${us.toFixed(1).padStart(8)} µs`);
