/**
 * The data plane's one-pass Data / Request / Response payloads (src/core/payload-fast.ts) against
 * cborg and the strict decoder: the writer's bytes are cborg's, and whatever the reader accepts,
 * the strict decoder reads the same way; FastPayload (this first, Payload for the rest) reads and
 * writes exactly what Payload does.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from 'cborg';
import fc from 'fast-check';
import { decodeCbor } from '../../src/core/codec.js';
import { Payload } from '../../src/core/payloads.js';
import { FastPayload, readDataPayload, readRequestPayload, readResponsePayload, writeAppPayload, writeResponsePayload } from '../../src/core/payload-fast.js';

const scratch = new Uint8Array(1 << 17);
const sameBytes = (a: Uint8Array | undefined, b: Uint8Array) => assert.ok(a && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length)), 'the same bytes');
const plain = (p: object | undefined) => p && Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v instanceof Uint8Array ? [...v] : v]));
// Head-size boundaries of CBOR, and the request ids the data plane uses (2^40 x lane + clock).
const edges = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 * 3 + 1_764_000_000_000, Number.MAX_SAFE_INTEGER];
const arbUint = fc.oneof(fc.constantFrom(...edges), fc.nat(), fc.maxSafeNat());
const arbPort = fc.oneof(fc.constantFrom(0, 1, 23, 24, 255, 256, 65535), fc.integer({ min: 0, max: 65535 }));
const arbApp = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 16, maxLength: 16 }));
const arbData = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536).map((n) => new Uint8Array(n).fill(9)));

/** Byte-level edits: flip a bit, set a byte, cut, insert, delete. */
const edit = fc.oneof(
  fc.record({ op: fc.constant('flip'), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set'), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('cut'), at: fc.nat() }),
  fc.record({ op: fc.constant('insert'), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete'), at: fc.nat() }),
);
function mutate(b: Uint8Array, edits: { op: string; at: number; bit?: number; byte?: number }[]): Uint8Array {
  let a = [...b];
  for (const e of edits) {
    const at = a.length ? e.at % (a.length + 1) : 0;
    if (e.op === 'flip' && at < a.length) a[at]! ^= 1 << e.bit!;
    else if (e.op === 'set' && at < a.length) a[at] = e.byte!;
    else if (e.op === 'cut') a = a.slice(0, at);
    else if (e.op === 'insert') a.splice(at, 0, e.byte!);
    else if (e.op === 'delete') a.splice(at, 1);
  }
  return new Uint8Array(a);
}

describe('payload-fast: the data plane payloads in one pass', () => {
  test('the writer gives cborg\'s bytes (Data, Request, Response)', () => {
    fc.assert(
      fc.property(arbApp, arbPort, arbUint, arbData, fc.boolean(), (app, port, id, data, ok) => {
        sameBytes(writeAppPayload(scratch, app, port, undefined, data), encode([app, port, data]));
        sameBytes(writeAppPayload(scratch, app, port, id, data), encode([app, port, id, data]));
        sameBytes(writeResponsePayload(scratch, id, ok, data), encode([id, ok, data]));
        sameBytes(FastPayload.data.encode({ app, port, data }, scratch), Payload.data.encode({ app, port, data }));
        sameBytes(FastPayload.request.encode({ app, port, requestId: id, data }, scratch), Payload.request.encode({ app, port, requestId: id, data }));
        sameBytes(FastPayload.response.encode({ requestId: id, ok, data }, scratch), Payload.response.encode({ requestId: id, ok, data }));
      }),
      { numRuns: 500, seed: 18 },
    );
  });

  test('what does not fit, or is not of the handled shape, is left to cborg', () => {
    assert.equal(writeAppPayload(new Uint8Array(10), new Uint8Array(16), 1, 5, new Uint8Array(4)), undefined);
    assert.equal(writeResponsePayload(scratch, -1, true, new Uint8Array(4)), undefined);
    assert.equal(writeAppPayload(scratch, new Uint8Array(0), 1.5, undefined, new Uint8Array(4)), undefined);
    // A failed Response with a code, and text data, are cborg's (the same bytes as before either way).
    const failed = { requestId: 7, ok: false, data: 'gone', code: 'HANDLER_CLOSED' };
    assert.deepEqual([...FastPayload.response.encode(failed, scratch)], [...encode([7, false, 'gone', 'HANDLER_CLOSED'])]);
    assert.deepEqual(plain(FastPayload.response.decode(encode([7, false, 'gone', 'HANDLER_CLOSED']))), failed);
    assert.deepEqual(FastPayload.request.decode(encode([new Uint8Array(0), 3, 9, 'text'])), { app: new Uint8Array(0), port: 3, requestId: 9, data: 'text' });
    sameBytes(FastPayload.data.encode({ app: new Uint8Array(0), port: 2, data: 'text' }, scratch), encode([new Uint8Array(0), 2, 'text']));
    // An app id of another length and a port past 65535 read as the strict decoder's do: refused.
    assert.equal(FastPayload.data.decode(encode([new Uint8Array(3), 2, new Uint8Array(1)])), undefined);
    assert.equal(FastPayload.request.decode(encode([new Uint8Array(0), 65536, 1, new Uint8Array(1)])), undefined);
  });

  test('the reader reads what the writer wrote, as views into the payload', () => {
    fc.assert(
      fc.property(arbApp, arbPort, arbUint, arbData, fc.boolean(), (app, port, id, data, ok) => {
        const d = encode([app, port, data]);
        const r = readDataPayload(d)!;
        sameBytes(r.app, app);
        sameBytes(r.data, data);
        assert.equal(r.port, port);
        assert.equal(r.data.buffer, d.buffer, 'a view, not a copy');
        const q = readRequestPayload(encode([app, port, id, data]))!;
        sameBytes(q.data, data);
        assert.deepEqual([q.port, q.requestId], [port, id]);
        const a = readResponsePayload(encode([id, ok, data]))!;
        sameBytes(a.data, data);
        assert.deepEqual([a.requestId, a.ok], [id, ok]);
      }),
      { numRuns: 500, seed: 18 },
    );
  });

  test('mutated payloads: whatever the reader accepts, the strict decoder reads the same', () => {
    let accepted = 0;
    fc.assert(
      fc.property(arbApp, arbPort, arbUint, fc.uint8Array({ maxLength: 40 }), fc.boolean(), fc.array(edit, { minLength: 1, maxLength: 3 }), (app, port, id, data, ok, edits) => {
        const cases: [Uint8Array, (b: Uint8Array) => object | undefined, (b: Uint8Array) => object | undefined, (b: Uint8Array, views: boolean) => object | undefined][] = [
          [encode([app, port, data]), readDataPayload, FastPayload.data.decode, Payload.data.decode],
          [encode([app, port, id, data]), readRequestPayload, FastPayload.request.decode, Payload.request.decode],
          [encode([id, ok, data]), readResponsePayload, FastPayload.response.decode, Payload.response.decode],
        ];
        for (const [bytes, fast, both, strict] of cases) {
          const m = mutate(bytes, edits);
          const r = fast(m);
          // FastPayload (the fast reader first) and the strict decoder agree on every input.
          assert.deepEqual(plain(both(m)), plain(strict(m, false)));
          if (r === undefined) continue;
          accepted++;
          const s = decodeCbor(m);
          assert.ok(s.ok, 'the strict decoder reads it too');
          assert.deepEqual(Object.values(plain(r)!), (s.value as unknown[]).map((v) => (v instanceof Uint8Array ? [...v] : v)), 'the reader and the strict decoder agree');
        }
      }),
      { numRuns: 3_000, seed: 18 },
    );
    assert.ok(accepted > 300, `some mutated payloads are still well formed (${accepted})`);
  });

  test('non-minimal heads and integers past 2^53 - 1 are refused (the strict decoder judges them)', () => {
    // Port 5 in a one-byte head (non-minimal), request id 2^53 in eight bytes.
    assert.equal(readDataPayload(new Uint8Array([0x83, 0x40, 0x18, 5, 0x40])), undefined);
    assert.equal(FastPayload.data.decode(new Uint8Array([0x83, 0x40, 0x18, 5, 0x40])), undefined);
    const big = new Uint8Array([0x83, 0x1b, 0, 0x20, 0, 0, 0, 0, 0, 0, 0xf5, 0x40]);
    assert.equal(readResponsePayload(big), undefined);
    assert.equal(FastPayload.response.decode(big), undefined);
    // Trailing bytes.
    assert.equal(readResponsePayload(new Uint8Array([0x83, 1, 0xf5, 0x40, 0])), undefined);
  });
});
