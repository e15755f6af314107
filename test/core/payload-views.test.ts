/**
 * The data plane's per-message buffers and its one-pass payload reader (payload-reader.ts) (docs/DATA-PLANE.md, "Per-message work"): payloads
 * decoded with byte strings as views into the input (cbor-strict.ts `views`) read exactly what
 * the copying decoder reads and refuse exactly what it refuses; payloads encoded into a scratch
 * buffer and frames written into a reused one are the same bytes as fresh ones; the frame pool
 * hands a buffer out again only once it is given back. The same for stream segments, which a
 * tab's streams encode into the scratch buffer and decode with views (tab-stream-plane.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { appId } from '../../src/core/app-namespace.js';
import { decodeCbor } from '../../src/core/codec.js';
import { Payload } from '../../src/core/payloads.js';
import { writePlainPacket, type PlainPacket } from '../../src/core/sealed-frame.js';
import { FramePool } from '../../src/browser/frame-pool.js';
import { decodeSegment, encodeSegment, type Segment, SegmentType } from '../../src/core/streams/segments.js';

// Text of any code points (a byte order mark and replacement characters among them): the one-pass
// reader (payload-reader.ts) decodes text itself.
const data = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 60 }), fc.string({ unit: fc.constantFrom('\uFEFF', '\uFFFD', 'é', '😀', 'a'), maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 20 }));
const app = fc.constantFrom(appId(''), appId('chat'));
const port = fc.integer({ min: 0, max: 65_535 });
const uint = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const payloads = fc.oneof(
  fc.record({ app, port, data }).map((p) => ({ kind: 'data' as const, bytes: Payload.data.encode(p) })),
  fc.record({ app, port, requestId: uint, data }).map((p) => ({ kind: 'request' as const, bytes: Payload.request.encode(p) })),
  fc.record({ requestId: uint, ok: fc.boolean(), data }).map((p) => ({ kind: 'response' as const, bytes: Payload.response.encode(p) })),
  fc.record({ requestId: uint, ok: fc.constant(false), data, code: fc.string({ maxLength: 40 }) }).map((p) => ({ kind: 'response' as const, bytes: Payload.response.encode(p) })),
);
/** Byte edits: a flipped bit, a cut, an inserted byte. */
const edit = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);
type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never;

function applyEdits(b: Uint8Array, edits: Edit[]): Uint8Array {
  let out = b.slice();
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % out.length;
    if (e.op === 'flip' && out.length > 0) out[at]! ^= 1 << e.bit;
    else if (e.op === 'cut') out = out.slice(0, at);
    else if (e.op === 'insert') out = new Uint8Array([...out.subarray(0, at), e.byte, ...out.subarray(at)]);
  }
  return out;
}

/** The byte strings of a decoded value, in order. */
function byteStrings(v: unknown): Uint8Array[] {
  if (v instanceof Uint8Array) return [v];
  if (v && typeof v === 'object') return Object.values(v).flatMap(byteStrings);
  return [];
}

test('decoded with views, a payload reads as with copies, and its byte strings are views into the input', () => {
  fc.assert(
    fc.property(payloads, ({ kind, bytes }) => {
      const copied = Payload[kind].decode(bytes);
      const viewed = Payload[kind].decode(bytes, true);
      assert.deepEqual(viewed, copied);
      for (const b of byteStrings(viewed)) assert.equal(b.buffer, bytes.buffer, 'a view');
      for (const b of byteStrings(copied)) assert.notEqual(b.buffer, bytes.buffer, 'a copy');
    }),
    { numRuns: 500 },
  );
});

test('edited payloads: with views, the decoder accepts and refuses exactly what it does with copies', () => {
  let accepted = 0;
  fc.assert(
    fc.property(payloads, fc.array(edit, { minLength: 1, maxLength: 3 }), ({ kind, bytes }, edits) => {
      const b = applyEdits(bytes, edits);
      const copied = Payload[kind].decode(b);
      assert.deepEqual(Payload[kind].decode(b, true), copied);
      if (copied) accepted++;
    }),
    { numRuns: 2_000 },
  );
  assert.ok(accepted > 0, 'some edited payloads still read');
});

test('with views, a byte string whose length is not in its shortest head is refused, as with copies', () => {
  // [h'0102'] with the length 2 in one extra byte (0x58 0x02): not minimal.
  const long = new Uint8Array([0x81, 0x58, 0x02, 1, 2]);
  assert.deepEqual(decodeCbor(long, true), decodeCbor(long));
  assert.equal(decodeCbor(long, true).ok, false);
  // A length beyond the input, in each head size.
  for (const b of [[0x42, 1], [0x58, 30, 1], [0x59, 1, 0, 1], [0x5a, 0, 1, 0, 0, 1]]) {
    const r = decodeCbor(new Uint8Array(b), true);
    assert.equal(r.ok, false, `truncated ${b.join(',')}`);
    assert.deepEqual(r, decodeCbor(new Uint8Array(b)));
  }
  // The three minimal head sizes read as views.
  for (const n of [23, 24, 255, 256, 70_000]) {
    const enc = Payload.data.encode({ app: appId(''), port: 1, data: new Uint8Array(n).fill(3) });
    const m = Payload.data.decode(enc, true)!;
    assert.equal((m.data as Uint8Array).length, n);
    assert.equal((m.data as Uint8Array).buffer, enc.buffer);
  }
});

test('a payload encoded into a scratch buffer is the same bytes, and one that does not fit gets its own', () => {
  const scratch = new Uint8Array(512).fill(0xee);
  fc.assert(
    fc.property(fc.record({ app, port, requestId: uint, data }), (p) => {
      const into = Payload.request.encode(p, scratch);
      assert.deepEqual(into, Payload.request.encode(p));
      assert.equal(into.buffer, scratch.buffer);
    }),
    { numRuns: 300 },
  );
  const big = { app: appId(''), port: 2, data: new Uint8Array(600).fill(1) };
  const out = Payload.data.encode(big, scratch);
  assert.deepEqual(out, Payload.data.encode(big));
  assert.notEqual(out.buffer, scratch.buffer, 'too large for the scratch buffer: a buffer of its own');
});

const sid = fc.nat({ max: 2 ** 48 - 1 });
const head = fc.record({ sid, fromOpener: fc.boolean() });
const segments: fc.Arbitrary<Segment> = fc.oneof(
  fc.record({ h: head, seq: uint, data: fc.uint8Array({ minLength: 1, maxLength: 700 }) }).map(({ h, seq, data }) => ({ ...h, type: SegmentType.Data, seq, data })),
  fc.record({ sid, port, app }).map(({ sid, port, app }) => ({ sid, fromOpener: true, type: SegmentType.Open, seq: 0, port, app })),
  fc.record({ h: head, next: fc.nat({ max: 1000 }), more: fc.nat({ max: 64 }) }).map(({ h, next, more }) => ({ ...h, type: SegmentType.Ack, next, limit: next + more, sack: more > 2 ? [next + 1, next + 2] : [] })),
  fc.record({ h: head, seq: uint }).map(({ h, seq }) => ({ ...h, type: SegmentType.Fin, seq })),
  head.map((h) => ({ ...h, type: SegmentType.Reset, code: 'ABORTED', reason: 'gone' })),
);

test('stream segments: encoded into a scratch buffer the same bytes; decoded with views the same segment, edited ones refused alike', () => {
  const scratch = new Uint8Array(800).fill(0xee);
  let accepted = 0;
  fc.assert(
    fc.property(segments, fc.array(edit, { minLength: 0, maxLength: 2 }), (seg, edits) => {
      const fresh = encodeSegment(seg);
      const into = encodeSegment(seg, scratch);
      assert.deepEqual(into, fresh);
      assert.equal(into.buffer, scratch.buffer);
      const b = applyEdits(fresh, edits);
      const copied = decodeSegment(b);
      const viewed = decodeSegment(b, true);
      assert.deepEqual(viewed, copied);
      if (typeof viewed !== 'string') {
        accepted++;
        for (const v of byteStrings(viewed)) assert.equal(v.buffer, b.buffer, 'a view');
      }
    }),
    { numRuns: 1_000 },
  );
  assert.ok(accepted > 0);
  const big: Segment = { sid: 1, fromOpener: true, type: SegmentType.Data, seq: 3, data: new Uint8Array(900).fill(5) };
  assert.notEqual(encodeSegment(big, scratch).buffer, scratch.buffer, 'too large for the scratch buffer: a buffer of its own');
  assert.deepEqual(encodeSegment(big, scratch), encodeSegment(big));
});

test('a frame written into a used buffer is the same bytes as one written into a fresh one', () => {
  const pool = new FramePool(1 << 20);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 9_000 }), uint, (payload, id) => {
      const p: PlainPacket = { src: new Uint8Array(32).fill(1), dst: new Uint8Array(32).fill(2), hops: 64, id, kind: 1, payload };
      const frame = writePlainPacket(p, (n) => pool.take(n));
      assert.deepEqual(frame, writePlainPacket(p));
      frame.fill(0xab); // what the buffer holds when it is taken again
      pool.give(frame);
    }),
    { numRuns: 300 },
  );
});

test('the frame pool: a buffer given back serves the next frame of its size class, up to its byte bound', () => {
  const pool = new FramePool(3 * 20_480);
  const a = pool.take(16_444);
  assert.equal(a.length, 16_444);
  assert.equal(a.buffer.byteLength, 20_480, 'whole pages');
  assert.notEqual(pool.take(16_444).buffer, a.buffer, 'not given back: not handed out again');
  pool.give(a);
  const b = pool.take(17_000);
  assert.equal(b.buffer, a.buffer, 'the same class: the same buffer');
  assert.notEqual(pool.take(17_000).buffer, a.buffer, 'handed out once');
  assert.notEqual(pool.take(1_000).buffer.byteLength, 20_480, 'another class: a buffer of its own');
  const kept = [0, 1, 2, 3].map(() => pool.take(16_444));
  for (const f of kept) pool.give(f);
  const again = new Set([0, 1, 2, 3].map(() => pool.take(16_444).buffer));
  assert.equal([...again].filter((x) => kept.some((f) => f.buffer === x)).length, 3, 'at most its bound kept');
  const moved = pool.take(16_444);
  structuredClone(moved.buffer, { transfer: [moved.buffer] });
  pool.give(moved);
  // Kept, it would be handed out detached (length 0), and the view over it would throw.
  assert.equal(pool.take(16_444).buffer.byteLength, 20_480, 'a moved (detached) buffer is not kept');
});
