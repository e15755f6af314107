/**
 * The wire codec: every frame type survives a round trip, every malformed class is refused
 * with its own reason, and no input whatsoever makes `decodeFrame` throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from 'cborg';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, FrameType, Want, type Frame, type PacketFrame, type PeerInfo } from '../../src/core/codec.js';
import { DECODE_REASONS } from '../fuzz/targets.js';
import { MAX_ADDR_LENGTH, MAX_ADDRS, MAX_ASKED_BUCKETS, MAX_CAPS, MAX_FRAME_BYTES, MAX_REFERRALS, WIRE_VERSION } from '../../src/core/limits.js';

// ---------------------------------------------------------------- arbitraries

const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
/** Strings of at most `max` UTF-16 units: a code point takes at most two. */
const text = (max: number) => fc.string({ unit: 'binary', maxLength: Math.floor(max / 2) });
const uint = fc.maxSafeNat();
/** Ordinary objects, like the decoder builds (fast-check's default has a null prototype). */
const plain = { noNullPrototype: true } as const;

const peerInfo: fc.Arbitrary<PeerInfo> = fc.record({
  publicKey: bytes(32),
  addrs: fc.array(text(MAX_ADDR_LENGTH), { maxLength: MAX_ADDRS }),
  caps: fc.array(text(64), { maxLength: MAX_CAPS }),
}, plain);

const helloFrame = fc.record({
  type: fc.constant(FrameType.Hello),
  minor: uint,
  want: fc.constantFrom(Want.Optional, Want.Needed, Want.Join, Want.Urgent),
  publicKey: bytes(32),
  nonce: bytes(32),
  caps: fc.array(text(64), { maxLength: MAX_CAPS }),
  addrs: fc.array(text(MAX_ADDR_LENGTH), { maxLength: MAX_ADDRS }),
}, plain);
const proofFrame = fc.oneof(
  fc.record({ type: fc.constant(FrameType.Proof), signature: bytes(64) }, plain),
  // With the sender's key card (wire minor 2, key-cards.ts).
  fc.record({ type: fc.constant(FrameType.Proof), signature: bytes(64), card: fc.record({ key: bytes(32), signature: bytes(64) }, plain) }, plain),
);
const errorFrame = fc.record({
  type: fc.constant(FrameType.Error),
  code: text(64),
  message: text(1024),
  referrals: fc.array(peerInfo, { maxLength: 4 }),
}, plain);
const pingFrame = fc.record({ type: fc.constantFrom(FrameType.Ping, FrameType.Pong), n: uint }, plain);
const needFrame = fc.record({ type: fc.constant(FrameType.Need), need: fc.boolean() }, plain);
const packetFrame = fc.record({
  type: fc.constant(FrameType.Packet),
  src: bytes(32),
  dst: bytes(32),
  hops: fc.integer({ min: 0, max: 255 }),
  id: uint,
  kind: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 4096 }),
  publicKey: bytes(32),
  signature: bytes(64),
}, plain);

const askFrame = fc.record({ type: fc.constant(FrameType.Ask), buckets: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: MAX_ASKED_BUCKETS }) }, plain);
const tellFrame = fc.record({ type: fc.constant(FrameType.Tell), peers: fc.array(peerInfo, { maxLength: MAX_REFERRALS }) }, plain);

const anyFrame: fc.Arbitrary<Frame> = fc.oneof(helloFrame, proofFrame, errorFrame, pingFrame, needFrame, packetFrame, askFrame, tellFrame);


// ---------------------------------------------------------------- helpers

/** A frame from a hand-written body array, as a peer with its own encoder might send it. */
function rawFrame(body: unknown, version = WIRE_VERSION): Uint8Array {
  const cbor = encode(body);
  const out = new Uint8Array(cbor.length + 1);
  out[0] = version;
  out.set(cbor, 1);
  return out;
}

function withVersion(version: number, cbor: number[]): Uint8Array {
  return Uint8Array.from([version, ...cbor]);
}

function reasonOf(input: Uint8Array): string | undefined {
  const r = decodeFrame(input);
  return r.ok ? undefined : r.reason;
}

function expectReason(input: Uint8Array, reason: string, what: string): void {
  const r = decodeFrame(input);
  assert.equal(r.ok, false, `${what} should be refused`);
  assert.equal((r as { reason: string }).reason, reason, what);
}

const key = new Uint8Array(32).fill(7);
const nonce = new Uint8Array(32).fill(9);
const sig = new Uint8Array(64).fill(3);
const id = new Uint8Array(32).fill(1);
const validBodies = {
  hello: () => [FrameType.Hello, 0, key, nonce, ['relay'], ['ws://x'], Want.Needed] as unknown[],
  proof: () => [FrameType.Proof, sig] as unknown[],
  'proof with a card': () => [FrameType.Proof, sig, key, sig] as unknown[],
  error: () => [FrameType.Error, 'BUSY', 'full', [[key, ['ws://y'], []]]] as unknown[],
  ping: () => [FrameType.Ping, 5] as unknown[],
  pong: () => [FrameType.Pong, 5] as unknown[],
  need: () => [FrameType.Need, true] as unknown[],
  packet: () => [FrameType.Packet, id, id, 64, 1234, 1, Uint8Array.of(1, 2), key, sig] as unknown[],
  ask: () => [FrameType.Ask, [3, 7]] as unknown[],
  tell: () => [FrameType.Tell, [[key, ['ws://y'], []]]] as unknown[],
};

function packetOfSize(total: number): Uint8Array {
  const base: PacketFrame = { type: FrameType.Packet, src: id, dst: id, hops: 9, id: 77, kind: 1, payload: new Uint8Array(0), publicKey: key, signature: sig };
  let payloadLength = total - encodeFrame(base).length;
  // The payload's CBOR length prefix grows with the payload: adjust until the total is exact.
  for (let i = 0; i < 4; i++) {
    const size = encodeFrame({ ...base, payload: new Uint8Array(payloadLength) }).length;
    if (size === total) break;
    payloadLength += total - size;
  }
  const frame = encodeFrame({ ...base, payload: new Uint8Array(payloadLength).fill(0xab) });
  assert.equal(frame.length, total, 'test setup: packet of the exact size');
  return frame;
}

// ---------------------------------------------------------------- tests

describe('codec round trips', () => {
  const cases: [string, fc.Arbitrary<Frame>][] = [
    ['hello', helloFrame],
    ['proof', proofFrame],
    ['error', errorFrame],
    ['ping/pong', pingFrame],
    ['need', needFrame],
    ['packet', packetFrame],
  ];
  for (const [name, arb] of cases) {
    it(`${name} frames decode to what was encoded`, () => {
      fc.assert(
        fc.property(arb, (frame) => {
          const wire = encodeFrame(frame);
          assert.equal(wire[0], WIRE_VERSION, 'the first byte is the wire version');
          const r = decodeFrame(wire);
          assert.ok(r.ok, `refused: ${r.ok ? '' : r.reason}`);
          assert.deepEqual(r.value, frame);
        }),
        { numRuns: 150 },
      );
    });
  }

  it('text that opens with a byte order mark reads back with it, a replacement character in it or not (cborg alone drops it; fast-check found both)', () => {
    for (const text of ['\uFEFF', '\uFEFFA', 'A\uFEFF', '\uFEFF\uFEFF', '\uFEFF\uFFFD']) {
      const error: Frame = { type: FrameType.Error, code: text, message: text, referrals: [{ publicKey: key, addrs: [text], caps: [text] }] };
      assert.deepEqual(decodeFrame(encodeFrame(error)), { ok: true, value: error }, JSON.stringify(text));
    }
    // So the bytes with the mark and the bytes without it are two texts, not one.
    const hello = (caps: string[]) => decodeFrame(encodeFrame({ type: FrameType.Hello, minor: 0, want: Want.Join, publicKey: key, nonce, caps, addrs: [] }));
    assert.notDeepEqual(hello(['\uFEFFwebrtc']), hello(['webrtc']));
  });

  it('accepts fields at their exact limits', () => {
    const hello = {
      type: FrameType.Hello,
      minor: Number.MAX_SAFE_INTEGER,
      want: Want.Join,
      publicKey: key,
      nonce,
      caps: Array.from({ length: MAX_CAPS }, () => 'c'.repeat(64)),
      addrs: Array.from({ length: MAX_ADDRS }, () => 'a'.repeat(MAX_ADDR_LENGTH)),
    } as const;
    assert.deepEqual(decodeFrame(encodeFrame(hello)), { ok: true, value: hello });
    const error = {
      type: FrameType.Error,
      code: 'C'.repeat(64),
      message: 'm'.repeat(1024),
      referrals: Array.from({ length: MAX_REFERRALS }, () => ({ publicKey: key, addrs: [], caps: [] })),
    } as const;
    assert.deepEqual(decodeFrame(encodeFrame(error)), { ok: true, value: error });
    const frame = packetOfSize(MAX_FRAME_BYTES);
    assert.equal(decodeFrame(frame).ok, true, 'a frame of exactly MAX_FRAME_BYTES is fine');
  });
});

describe('codec refusals', () => {
  it('truncated: fewer than two bytes, or not bytes at all', () => {
    expectReason(new Uint8Array(0), 'truncated', 'empty input');
    expectReason(Uint8Array.of(WIRE_VERSION), 'truncated', 'a version byte alone');
    expectReason(null as unknown as Uint8Array, 'truncated', 'null');
    expectReason([1, 0x80] as unknown as Uint8Array, 'truncated', 'a plain array');
  });

  it('a valid frame cut short anywhere is malformed CBOR', () => {
    fc.assert(
      fc.property(anyFrame, fc.nat(), (frame, at) => {
        const wire = encodeFrame(frame);
        const cut = 2 + (at % (wire.length - 2));
        expectReason(wire.subarray(0, cut), 'malformed-cbor', `frame type ${frame.type} cut to ${cut} of ${wire.length} bytes`);
      }),
      { numRuns: 300 },
    );
  });

  it('oversize: more than MAX_FRAME_BYTES, whatever the content', () => {
    expectReason(packetOfSize(MAX_FRAME_BYTES + 1), 'oversize', 'a well-formed packet one byte too long');
    expectReason(new Uint8Array(MAX_FRAME_BYTES + 1), 'oversize', 'zeros');
    expectReason(new Uint8Array(10 * MAX_FRAME_BYTES).fill(0xff), 'oversize', 'a huge blob');
  });

  it('unknown version byte, even with a well-formed body', () => {
    for (const version of [0, 2, 3, 0x7f, 0xff]) {
      expectReason(rawFrame(validBodies.ping(), version), 'unknown-version', `version ${version}`);
    }
    // Sanity: the same body under the right version is accepted.
    assert.equal(decodeFrame(rawFrame(validBodies.ping())).ok, true);
  });

  it('garbage, trailing bytes and non-canonical CBOR are malformed', () => {
    const cases: [string, number[]][] = [
      ['a reserved additional-info value', [0x1c]],
      ['a lone break code', [0xff]],
      ['an array promising more items than present', [0x83, 0x04]],
      ['an indefinite-length array', [0x9f, 0x04, 0x01, 0xff]],
      ['a non-minimal integer (1 in two bytes)', [0x82, 0x18, 0x04, 0x01]],
      ['undefined inside a frame', [0x82, 0x04, 0xf7]],
      ['NaN inside a frame', [0x82, 0x04, 0xf9, 0x7e, 0x00]],
      ['a byte string longer than the input', [0x82, 0x02, 0x58, 0x40, 0x01]],
    ];
    for (const [what, cbor] of cases) expectReason(withVersion(WIRE_VERSION, cbor), 'malformed-cbor', what);
    const ping = encodeFrame({ type: FrameType.Ping, n: 1 });
    expectReason(Uint8Array.from([...ping, 0x00]), 'malformed-cbor', 'a valid frame with a trailing byte');
  });

  it('CBOR that is not a frame array', () => {
    expectReason(rawFrame(4), 'not-a-frame', 'a bare integer');
    expectReason(rawFrame('hello'), 'not-a-frame', 'a string');
    expectReason(rawFrame([]), 'not-a-frame', 'an empty array');
    expectReason(rawFrame(new Map([[0, 4]])), 'not-a-frame', 'a map');
    expectReason(rawFrame(key), 'not-a-frame', 'a byte string');
  });

  it('unknown frame types', () => {
    for (const t of [0, 11, 255, 1_000_000, -1, '1', 1.5, true, null]) {
      expectReason(rawFrame([t, 5]), 'unknown-frame-type', `type ${JSON.stringify(t)}`);
    }
  });

  it('rest frames carry nothing but their type', () => {
    const d = decodeFrame(encodeFrame({ type: FrameType.Rest }));
    assert.ok(d.ok && d.value.type === FrameType.Rest, 'a rest frame round-trips');
    expectReason(rawFrame([FrameType.Rest, 5]), 'bad-rest', 'a rest frame with a field');
  });

  /** Replaces element `i` of a valid body (or truncates/extends it) and expects `reason`. */
  const mutations: [keyof typeof validBodies, string, (b: unknown[]) => unknown[], string][] = [
    ['hello', 'minor negative', (b) => set(b, 1, -1), 'bad-hello'],
    ['hello', 'minor fractional', (b) => set(b, 1, 1.5), 'bad-hello'],
    ['hello', 'minor as text', (b) => set(b, 1, '0'), 'bad-hello'],
    ['hello', 'public key of 31 bytes', (b) => set(b, 2, new Uint8Array(31)), 'bad-hello'],
    ['hello', 'public key of 33 bytes', (b) => set(b, 2, new Uint8Array(33)), 'bad-hello'],
    ['hello', 'public key as text', (b) => set(b, 2, 'k'.repeat(32)), 'bad-hello'],
    ['hello', 'nonce of 16 bytes', (b) => set(b, 3, new Uint8Array(16)), 'bad-hello'],
    ['hello', 'caps not a list', (b) => set(b, 4, 'relay'), 'bad-hello'],
    ['hello', `${MAX_CAPS + 1} caps`, (b) => set(b, 4, Array(MAX_CAPS + 1).fill('c')), 'bad-hello'],
    ['hello', 'a cap of 65 characters', (b) => set(b, 4, ['c'.repeat(65)]), 'bad-hello'],
    ['hello', 'a cap that is a number', (b) => set(b, 4, [1]), 'bad-hello'],
    ['hello', `${MAX_ADDRS + 1} addrs`, (b) => set(b, 5, Array(MAX_ADDRS + 1).fill('ws://a')), 'bad-hello'],
    ['hello', `an addr of ${MAX_ADDR_LENGTH + 1} characters`, (b) => set(b, 5, ['a'.repeat(MAX_ADDR_LENGTH + 1)]), 'bad-hello'],
    ['hello', 'want 4', (b) => set(b, 6, 4), 'bad-hello'],
    ['hello', 'want as boolean', (b) => set(b, 6, true), 'bad-hello'],
    ['hello', 'want missing', (b) => b.slice(0, 6), 'bad-hello'],
    ['hello', 'an extra field', (b) => [...b, 0], 'bad-hello'],
    ['proof', 'signature of 63 bytes', (b) => set(b, 1, new Uint8Array(63)), 'bad-proof'],
    ['proof', 'signature of 65 bytes', (b) => set(b, 1, new Uint8Array(65)), 'bad-proof'],
    ['proof', 'signature as text', (b) => set(b, 1, 'x'), 'bad-proof'],
    ['proof', 'signature missing', (b) => b.slice(0, 1), 'bad-proof'],
    ['proof', 'an extra field', (b) => [...b, sig], 'bad-proof'],
    ['proof with a card', 'a card key of 31 bytes', (b) => set(b, 2, new Uint8Array(31)), 'bad-proof'],
    ['proof with a card', 'a card signature of 63 bytes', (b) => set(b, 3, new Uint8Array(63)), 'bad-proof'],
    ['proof with a card', 'a card signature missing', (b) => b.slice(0, 3), 'bad-proof'],
    ['proof with a card', 'an extra field', (b) => [...b, sig], 'bad-proof'],
    ['error', 'code of 65 characters', (b) => set(b, 1, 'C'.repeat(65)), 'bad-error-frame'],
    ['error', 'code as number', (b) => set(b, 1, 503), 'bad-error-frame'],
    ['error', 'message of 1025 characters', (b) => set(b, 2, 'm'.repeat(1025)), 'bad-error-frame'],
    ['error', 'referrals not a list', (b) => set(b, 3, key), 'bad-error-frame'],
    ['error', `${MAX_REFERRALS + 1} referrals`, (b) => set(b, 3, Array(MAX_REFERRALS + 1).fill([key, [], []])), 'bad-error-frame'],
    ['error', 'a referral with a 31-byte key', (b) => set(b, 3, [[new Uint8Array(31), [], []]]), 'bad-error-frame'],
    ['error', 'a referral of two fields', (b) => set(b, 3, [[key, []]]), 'bad-error-frame'],
    ['error', 'a referral with addrs as text', (b) => set(b, 3, [[key, 'ws://a', []]]), 'bad-error-frame'],
    ['error', 'referrals missing', (b) => b.slice(0, 3), 'bad-error-frame'],
    ['ping', 'n negative', (b) => set(b, 1, -5), 'bad-ping'],
    ['ping', 'n fractional', (b) => set(b, 1, 0.5), 'bad-ping'],
    ['pong', 'n as text', (b) => set(b, 1, '5'), 'bad-ping'],
    ['pong', 'n missing', (b) => b.slice(0, 1), 'bad-ping'],
    ['need', 'need as number', (b) => set(b, 1, 1), 'bad-need'],
    ['need', 'need as null', (b) => set(b, 1, null), 'bad-need'],
    ['need', 'an extra field', (b) => [...b, false], 'bad-need'],
    ['packet', 'src of 31 bytes', (b) => set(b, 1, new Uint8Array(31)), 'bad-packet'],
    ['packet', 'dst of 33 bytes', (b) => set(b, 2, new Uint8Array(33)), 'bad-packet'],
    ['packet', 'dst as text', (b) => set(b, 2, 'f'.repeat(64)), 'bad-packet'],
    ['packet', 'hop limit 256', (b) => set(b, 3, 256), 'bad-packet'],
    ['packet', 'hop limit negative', (b) => set(b, 3, -1), 'bad-packet'],
    ['packet', 'id negative', (b) => set(b, 4, -1), 'bad-packet'],
    ['packet', 'id fractional', (b) => set(b, 4, 2.5), 'bad-packet'],
    ['packet', 'kind 256', (b) => set(b, 5, 256), 'bad-packet'],
    ['packet', 'payload as text', (b) => set(b, 6, 'data'), 'bad-packet'],
    ['packet', 'public key of 31 bytes', (b) => set(b, 7, new Uint8Array(31)), 'bad-packet'],
    ['packet', 'signature of 65 bytes', (b) => set(b, 8, new Uint8Array(65)), 'bad-packet'],
    ['packet', 'signature missing', (b) => b.slice(0, 8), 'bad-packet'],
    ['ask', 'bucket 256', (b) => set(b, 1, [256]), 'bad-ask'],
    ['ask', 'bucket negative', (b) => set(b, 1, [-1]), 'bad-ask'],
    ['ask', 'bucket as text', (b) => set(b, 1, ['3']), 'bad-ask'],
    ['ask', `${MAX_ASKED_BUCKETS + 1} buckets`, (b) => set(b, 1, Array(MAX_ASKED_BUCKETS + 1).fill(1)), 'bad-ask'],
    ['ask', 'buckets not a list', (b) => set(b, 1, 3), 'bad-ask'],
    ['ask', 'an extra field', (b) => [...b, 0], 'bad-ask'],
    ['tell', `${MAX_REFERRALS + 1} peers`, (b) => set(b, 1, Array(MAX_REFERRALS + 1).fill([key, [], []])), 'bad-tell'],
    ['tell', 'a peer with a 33-byte key', (b) => set(b, 1, [[new Uint8Array(33), [], []]]), 'bad-tell'],
    ['tell', 'peers missing', (b) => b.slice(0, 1), 'bad-tell'],
  ];
  for (const [kind, what, mutate, reason] of mutations) {
    it(`${kind}: ${what} -> ${reason}`, () => {
      assert.equal(decodeFrame(rawFrame(validBodies[kind]())).ok, true, 'the unmutated body is valid');
      expectReason(rawFrame(mutate(validBodies[kind]())), reason, `${kind} with ${what}`);
    });
  }
});

function set(body: unknown[], index: number, value: unknown): unknown[] {
  const out = body.slice();
  out[index] = value;
  return out;
}

describe('decodeFrame is total', () => {
  const check = (input: Uint8Array) => {
    let r: ReturnType<typeof decodeFrame>;
    try {
      r = decodeFrame(input);
    } catch (err) {
      assert.fail(`decodeFrame threw on ${Buffer.from(input).toString('hex').slice(0, 80)}: ${String(err)}`);
    }
    if (r.ok) {
      // Whatever it accepts is a frame it can write back and read again to the same value.
      assert.deepEqual(decodeFrame(encodeFrame(r.value)), r);
    } else {
      assert.ok(DECODE_REASONS.has(r.reason), `unlisted reason ${r.reason}`);
    }
  };

  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), check), { numRuns: 3000 });
  });

  it('never throws on arbitrary bytes after the right version byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (tail) => check(Uint8Array.from([WIRE_VERSION, ...tail]))),
      { numRuns: 3000 },
    );
  });

  it('never throws on arbitrary CBOR values', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.oneof(fc.integer(), fc.string(), fc.uint8Array({ maxLength: 70 }), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 })), { maxLength: 10 }),
        (type, body) => check(rawFrame([type, ...body])),
      ),
      { numRuns: 1000 },
    );
  });

  it('never throws on mutated valid frames', () => {
    const mutated = fc
      .tuple(anyFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete')), { minLength: 1, maxLength: 6 }))
      .map(([frame, edits]) => {
        const b = [...encodeFrame(frame)];
        for (const [at, value, op] of edits) {
          const i = at % (b.length + 1);
          if (op === 'flip' && i < b.length) b[i] = b[i]! ^ (value || 1);
          else if (op === 'insert') b.splice(i, 0, value);
          else if (op === 'delete' && b.length > 0) b.splice(i % b.length, 1);
        }
        return Uint8Array.from(b);
      });
    fc.assert(fc.property(mutated, check), { numRuns: 3000 });
  });

  it('reports a reason for every refusal the mutations reach', () => {
    // The mutated-frame property is only meaningful if mutations reach many refusal classes.
    const seen = new Set<string>();
    for (const frame of fc.sample(anyFrame, { numRuns: 400, seed: 42 })) {
      const wire = encodeFrame(frame);
      for (const i of [0, 1, 2, wire.length - 1]) {
        const m = wire.slice();
        m[i] = m[i]! ^ 0x40;
        const reason = reasonOf(m);
        if (reason) seen.add(reason);
      }
    }
    for (const expected of ['unknown-version', 'malformed-cbor', 'unknown-frame-type']) {
      assert.ok(seen.has(expected), `mutations reached ${expected} (saw ${[...seen].join(', ')})`);
    }
  });
});
