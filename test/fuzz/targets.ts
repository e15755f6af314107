/**
 * Fuzz targets shared by the CI-sized run (test/core/fuzz.test.ts) and the long run
 * (scripts/fuzz.ts): the codec on its own, a live node's handshake and open link fed
 * random and mutated frames over a memory link on a virtual clock, and the STUN codec.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeCbor, decodeFrame, encodeFrame, FrameType } from '../../src/core/codec.js';
import type { Identity } from '../../src/core/identity.js';
import { createPacket } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { answerStun, decodeStun, encodeStun, readXorMappedAddress, STUN_DROP_REASONS } from '../../src/server/stun-codec.js';
import { rawHandshake, seededIdentity, TestNet } from '../helpers/mesh.js';
import { advance, drive, driveUntil } from '../helpers/wait.js';
import { fuzzInput, mutation, applyMutations } from './mutations.js';

/** Every reason `decodeFrame` may give. A new reason must be added here on purpose. */
export const DECODE_REASONS = new Set([
  'truncated',
  'oversize',
  'unknown-version',
  'malformed-cbor',
  'invalid-utf8',
  'too-deep',
  'not-a-frame',
  'unknown-frame-type',
  'bad-hello',
  'bad-proof',
  'bad-error-frame',
  'bad-ping',
  'bad-need',
  'bad-packet',
  'bad-ask',
  'bad-tell',
  'bad-rest',
]);

/**
 * The codec property: decodeFrame and every payload decoder return instead of throwing; what
 * decodeFrame accepts survives a round trip; what it refuses has a listed reason.
 */
export function checkCodec(input: Uint8Array): void {
  const r = decodeFrame(input);
  if (r.ok) assert.deepEqual(decodeFrame(encodeFrame(r.value)), r, 'an accepted frame round-trips');
  else assert.ok(DECODE_REASONS.has(r.reason), `unlisted reason ${r.reason}`);
  const body = input.subarray(1);
  decodeCbor(body);
  for (const p of Object.values(Payload)) p.decode(body);
}

/** What the fuzzer sends on a link: raw bytes, or (open links only) a packet to the node, signed by the fuzzer. */
export type Sent = { raw: Uint8Array } | { signed: { kind: number; payload: Uint8Array } };

export const sentFrame: fc.Arbitrary<Sent> = fc.oneof(
  { arbitrary: fuzzInput.map((raw) => ({ raw })), weight: 3 },
  {
    // Authentic packets whose payloads are mutated valid payloads: they reach the payload decoders.
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 15 }), fc.array(mutation, { maxLength: 3 }), fc.uint8Array({ maxLength: 64 }))
      .map(([kind, ms, tail]) => ({ signed: { kind, payload: ms.length ? applyMutations({ type: FrameType.Ping, n: tail.length }, ms).subarray(1) : tail } })),
    weight: 1,
  },
);

export interface FuzzLinkCase {
  /** Fuzz the handshake itself, or a link that completed it honestly. */
  phase: 'hello' | 'open';
  frames: Sent[];
}

export const fuzzLinkCase: fc.Arbitrary<FuzzLinkCase> = fc.record({
  phase: fc.constantFrom('hello' as const, 'open' as const),
  frames: fc.array(sentFrame, { minLength: 1, maxLength: 12 }),
});

const HANDSHAKE_TIMEOUT_MS = 2_000;
let fuzzer: Identity | undefined;
let honest: Identity | undefined;

/**
 * The live-link property. A node takes a link from the fuzzer and receives its frames one at a
 * time. Then: every frame that does not decode was counted once, under `malformed:<reason>`,
 * while the link was up; a link the node closed was closed with a counted reason; authentic
 * packets were all verified and delivered; an unfinished handshake timed out; and an honest
 * node can still link to it afterwards.
 */
export async function checkLiveLink(c: FuzzLinkCase): Promise<void> {
  fuzzer ??= await seededIdentity('fuzzer');
  honest ??= await seededIdentity('honest');
  const net = new TestNet();
  const target = await net.addNode('target', { handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
  const node = target.node;
  const raw = await net.rawDial('mem:fuzzer', target.addr);
  if (c.phase === 'open') {
    await rawHandshake(net, raw, fuzzer);
    await driveUntil(net.clock, () => node.linkIds().includes(fuzzer!.idText), 1000, 'the fuzzer link opens');
  }
  const before = node.status().counters;
  const expected = new Map<string, number>();
  let signed = 0;
  for (const [i, f] of c.frames.entries()) {
    if (raw.link.closed) break;
    let bytes: Uint8Array;
    if ('raw' in f) {
      bytes = f.raw;
      const d = decodeFrame(bytes);
      if (!d.ok) expected.set(`malformed:${d.reason}`, (expected.get(`malformed:${d.reason}`) ?? 0) + 1);
    } else {
      if (c.phase !== 'open') continue;
      const p = await createPacket(fuzzer, node.identity.id, f.signed.kind, f.signed.payload, 1_000_000 + i, 64);
      bytes = encodeFrame(p);
      signed++;
    }
    raw.sendRaw(bytes);
    // Long enough for the frame to arrive, be handled, and for a close to come back.
    await advance(net.clock, 30);
  }
  await advance(net.clock, HANDSHAKE_TIMEOUT_MS + 100);
  const after = node.status().counters;
  const grew = (k: string) => (after.dropped[k] ?? 0) - (before.dropped[k] ?? 0);
  for (const k of new Set([...Object.keys(after.dropped), ...expected.keys()])) {
    if (k.startsWith('malformed:')) assert.equal(grew(k), expected.get(k) ?? 0, `drops counted as ${k}`);
  }
  if (raw.link.closed) {
    const total = (x: typeof after) => Object.values(x.dropped).reduce((a, b) => a + b, 0);
    assert.ok(total(after) > total(before), `the link closed (${raw.closeReasons.join('; ')}) with a counted reason`);
  }
  if (c.phase === 'hello') {
    assert.equal(raw.link.closed, true, 'a handshake the fuzzer never finished is closed by the timeout');
    assert.deepEqual(node.linkIds(), []);
  } else {
    assert.equal(after.delivered - before.delivered, raw.link.closed ? after.delivered - before.delivered : signed, 'every authentic packet verified and delivered');
  }
  // Still serving: an honest node links to it.
  const h = await net.addNode('honest-peer');
  const link = await drive(net.clock, net.network.dial(h.addr, target.addr, net.clock.scoped(99)), 1000, 'honest dial');
  await drive(net.clock, h.node.addLink(link, { outbound: true, expectedId: node.id }), 2000, 'honest handshake');
  await driveUntil(net.clock, () => node.linkIds().includes(h.node.id), 1000, 'the target admits the honest node');
  await net.stopAll();
}

/** Every reason the STUN codec may give; the codec's own list, checked against what it returns. */
export const STUN_REASONS = new Set<string>(STUN_DROP_REASONS);

/** STUN datagrams: valid Binding requests with random attributes, then flipped, cut or grown. */
export const stunInput: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.uint8Array({ minLength: 12, maxLength: 12 }),
    fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 24 }) }), { maxLength: 4 }),
    fc.boolean(),
    fc.array(fc.oneof(fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), fc.record({ op: fc.constant('cut' as const), at: fc.nat() }), fc.record({ op: fc.constant('add' as const), bytes: fc.uint8Array({ maxLength: 8 }) })), { maxLength: 3 }),
  )
  .map(([txid, attributes, fingerprint, edits]) => {
    let b = encodeStun({ cls: 'request', method: 1, transactionId: txid, attributes }, fingerprint);
    for (const e of edits) {
      if (e.op === 'flip' && b.length > 0) b[e.at % b.length]! ^= 1 << e.bit;
      else if (e.op === 'cut') b = b.subarray(0, e.at % (b.length + 1));
      else if (e.op === 'add') b = Uint8Array.from([...b, ...e.bytes]);
    }
    return b;
  });

/**
 * The STUN property: decoding and answering never throw; a refusal has a listed reason; what
 * decodes survives a round trip; an answer is itself valid STUN carrying the same transaction.
 */
export function checkStun(input: Uint8Array): void {
  const d = decodeStun(input);
  if (d.ok) assert.deepEqual(decodeStun(encodeStun(d.value, false)), d, 'an accepted message round-trips');
  else assert.ok(STUN_REASONS.has(d.reason), `unlisted reason ${d.reason}`);
  const r = answerStun(input, { address: '203.0.113.7', port: 40000 });
  if ('drop' in r) return assert.ok(STUN_REASONS.has(r.drop), `unlisted reason ${r.drop}`);
  const reply = decodeStun(r.reply);
  assert.ok(reply.ok, 'the answer decodes');
  assert.deepEqual(reply.value.transactionId, input.slice(8, 20));
  if (reply.value.cls === 'success') assert.deepEqual(readXorMappedAddress(reply.value), { address: '203.0.113.7', port: 40000 });
}
