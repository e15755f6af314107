/**
 * Meshwork's own CBOR (src/core/cbor.ts) against cborg, which it replaced: the encoder writes
 * the very bytes cborg wrote for every value Meshwork sends, and the strict decoder accepts the
 * same inputs as cborg behind the old strict tokenizer (test/helpers/cborg-reference.ts), reads
 * them to the same values, and refuses the rest with the same reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from 'cborg';
import fc from 'fast-check';
import { encodeCbor } from '../../src/core/cbor.js';
import { decodeCbor, encodeFrame } from '../../src/core/codec.js';
import { MAX_CBOR_DEPTH } from '../../src/core/limits.js';
import { referenceDecode } from '../helpers/cborg-reference.js';
import { anyFrame, fuzzInput } from '../fuzz/mutations.js';

/** Text with lone surrogates, astral characters and long runs, not only well-formed ASCII. */
const anyText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 60, maxLength: 300 }),
);
const anyInt = fc.oneof(
  fc.integer({ min: -30, max: 30 }),
  fc.constantFrom(23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -24, -25, -256, -257, -65536, -65537, -(2 ** 32), -(2 ** 32) - 1, Number.MIN_SAFE_INTEGER),
  fc.maxSafeInteger(),
);
/** Every kind of value Meshwork encodes: whole numbers, text, bytes, booleans, null, arrays. */
const sendable: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyInt,
    anyText,
    fc.uint8Array({ maxLength: 300 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 6 }),
  ),
})).value;

/** Any value cborg can write, maps, floats and undefined included: what a foreign encoder may send. */
const foreign: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyInt,
    fc.double(),
    fc.constantFrom(undefined, 0.5, -0, 1e300, 65504, 5.960464477539063e-8, 3.4028234663852886e38),
    anyText,
    fc.uint8Array({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.array(fc.tuple(fc.oneof(anyInt, fc.string({ maxLength: 4 }), fc.boolean()), tie('value')), { maxLength: 4 }).map((e) => new Map(e)),
  ),
})).value;

/** Raw items with random heads: every major type and additional-info value, minimal or not. */
const rawItem: fc.Arbitrary<number[]> = fc.letrec((tie) => ({
  item: fc.oneof(
    { depthSize: 'small' },
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 9 })).map(([b, rest]) => [b, ...rest]),
    fc
      .tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 24, max: 27 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }))
      .map(([major, info, arg]) => [(major << 5) | info, ...arg.slice(0, 2 ** (info - 24))]),
    fc.tuple(fc.constantFrom(0x80, 0xa0), fc.array(tie('item') as fc.Arbitrary<number[]>, { maxLength: 5 })).map(([m, items]) => [m | (m === 0xa0 ? items.length >> 1 : items.length), ...items.flat()]),
    fc.tuple(fc.constantFrom(0x40, 0x60), fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 })).map(([m, b]) => [m | b.length, ...b]),
  ),
})).item;

function sameAsReference(bytes: Uint8Array): void {
  const ours = decodeCbor(bytes);
  const theirs = referenceDecode(bytes);
  assert.deepStrictEqual(ours, theirs, `input ${Buffer.from(bytes).toString('hex').slice(0, 120)}`);
}

/** cborg's output as a plain Uint8Array (in Node, cborg hands out Buffers for some values). */
const cborg = (v: unknown) => new Uint8Array(encode(v));
const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/ /g, ''), 'hex'));

describe('cbor: encoding', () => {
  it('writes what cborg wrote, byte for byte, for every value Meshwork sends', () => {
    fc.assert(
      fc.property(sendable, (v) => {
        assert.deepStrictEqual(encodeCbor(v), cborg(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('writes every frame as cborg did, after the version byte', () => {
    fc.assert(
      fc.property(anyFrame, (frame) => {
        const wire = encodeFrame(frame);
        assert.deepStrictEqual(wire.slice(1), cborg(referenceBody(wire)));
      }),
      { numRuns: 500 },
    );
  });

  it('writes long values across the buffer it grows, and a fresh copy each time', () => {
    const big = new Uint8Array(300_000).fill(7);
    const a = encodeCbor([big, 'x'.repeat(70_000), big]);
    assert.deepStrictEqual(a, cborg([big, 'x'.repeat(70_000), big]));
    const b = encodeCbor([1]);
    assert.deepStrictEqual(b, Uint8Array.of(0x81, 0x01));
    assert.notEqual(a.buffer, b.buffer);
    assert.deepStrictEqual(encodeCbor([1, 2], 9), Uint8Array.of(9, 0x82, 0x01, 0x02));
  });

  it('refuses to encode what Meshwork never sends', () => {
    for (const v of [undefined, {}, new Map(), 1n, Symbol('s'), () => 1]) assert.throws(() => encodeCbor([v]), TypeError);
  });
});

/** The value cborg reads back from a frame's body (the reference accepts whatever encodeFrame writes). */
function referenceBody(wire: Uint8Array): unknown {
  const r = referenceDecode(wire.subarray(1));
  assert.ok(r.ok);
  return r.value;
}

describe('cbor: strict decoding agrees with cborg behind the strict tokenizer', () => {
  it('on values cborg writes, maps, floats and undefined included', () => {
    fc.assert(fc.property(foreign, (v) => sameAsReference(cborg(v))), { numRuns: 3000 });
  });

  it('on raw items with random heads', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(rawItem, fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 2 }), (item, tail) => {
        const input = Uint8Array.from([...item, ...tail]);
        sameAsReference(input);
        const r = decodeCbor(input);
        seen.add(r.ok ? 'ok' : r.reason);
      }),
      { numRuns: 10_000 },
    );
    // The comparison means something only if both sides accept some inputs and refuse others for each reason.
    assert.deepStrictEqual([...seen].sort(), ['invalid-utf8', 'malformed-cbor', 'ok']);
  });

  it('on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), sameAsReference), { numRuns: 10_000 });
  });

  it('on the fuzzer\'s mutated frames (length lies, deep nesting, bad UTF-8, splices)', () => {
    fc.assert(fc.property(fuzzInput, (b) => sameAsReference(b.subarray(1))), { numRuns: 5000 });
  });

  it('on every head at the edges of its size, of every major type', () => {
    const args: [number, number[]][] = [
      [23, []], [24, [23]], [24, [24]], [25, [0, 255]], [25, [1, 0]], [26, [0, 0, 255, 255]], [26, [0, 1, 0, 0]],
      [27, [0, 0, 0, 0, 255, 255, 255, 255]], [27, [0, 0, 0, 1, 0, 0, 0, 0]], [27, [0, 0x1f, 255, 255, 255, 255, 255, 254]],
      [27, [0, 0x1f, 255, 255, 255, 255, 255, 255]], [27, [0, 0x20, 0, 0, 0, 0, 0, 0]], [27, [255, 255, 255, 255, 255, 255, 255, 255]],
      [28, []], [29, []], [30, []], [31, []],
    ];
    for (let major = 0; major < 8; major++) {
      for (const [info, arg] of args) {
        const head = [(major << 5) | info, ...arg];
        sameAsReference(Uint8Array.from(head));
        sameAsReference(Uint8Array.from([...head, 0x01, 0x02, 0x03]));
      }
    }
  });

  it('on floats, simple values and tags', () => {
    const cases = [
      'f9 0000', 'f9 8000', 'f9 3c00', 'f9 7bff', 'f9 0001', 'f9 0400', 'f9 7c00', 'f9 fc00', 'f9 7e00', 'f9 7c01', 'f9 fe00',
      'fa 47c35000', 'fa 7f800000', 'fa 7fc00000', 'fa 00000001', 'fb 3ff0000000000000', 'fb 7ff0000000000000', 'fb 7ff8000000000001', 'fb 8000000000000000',
      'f9 3c', 'fa 0000', 'fb 00', 'f4', 'f5', 'f6', 'f7', 'f8 20', 'f0', 'e0', 'f3', 'fc', 'fd', 'fe', 'ff', 'c0 01', 'd8 20 01', 'c1 f9 3c00',
      '9f 01 ff', 'bf 01 02 ff', '5f 41 00 ff', '7f 61 61 ff', '82 01 ff', 'a1 01', 'a2 01 02 01 03', 'a2 61 61 01 61 61 02', 'a2 f4 01 f4 02', 'a2 f6 00 f6 00',
      'a2 41 00 01 41 00 02', 'a2 80 00 80 01', 'a1 f9 3c00 01', 'a2 01 01 f9 3c00 02',
    ];
    for (const c of cases) sameAsReference(hex(c));
  });

  it('on text: UTF-8 or not, a byte-order mark, replacement characters sent as such', () => {
    const cases = ['63 efbbbf', '64 efbbbf41', '61 ff', '62 c0af', '63 efbfbd', '63 eda080', '64 f0908080', '64 f4908080', '78 20' + '41'.repeat(31) + 'ff', '78 21' + 'efbbbf' + '41'.repeat(30)];
    for (const c of cases) sameAsReference(hex(c));
  });

  it('on nesting at the depth limit and beyond, empty containers included', () => {
    for (let depth = MAX_CBOR_DEPTH - 2; depth <= MAX_CBOR_DEPTH + 2; depth++) {
      for (const inner of ['01', '80', 'a0', '81 01', 'a1 01 02', '61 ff', '1c']) {
        sameAsReference(hex('81'.repeat(depth) + inner));
        sameAsReference(hex('a1 01'.repeat(depth) + inner));
        sameAsReference(hex('82 80'.repeat(depth) + inner));
      }
    }
  });

  it('reads byte strings as copies in plain Uint8Arrays, also from a Node Buffer (cborg behind the tokenizer gave views into it)', () => {
    const input = Buffer.from(cborg([Uint8Array.of(1, 2, 3), Uint8Array.of()]));
    const r = decodeCbor(input);
    assert.ok(r.ok);
    const [a, b] = r.value as Uint8Array[];
    assert.equal(Object.getPrototypeOf(a), Uint8Array.prototype);
    assert.equal(Object.getPrototypeOf(b), Uint8Array.prototype);
    input[2] = 9;
    assert.deepStrictEqual(a, Uint8Array.of(1, 2, 3));
  });

  it('refuses what is not a byte array at all, and nothing', () => {
    for (const v of [null, undefined, [1], 'x', new Uint16Array(2)]) assert.deepStrictEqual(decodeCbor(v as unknown as Uint8Array), { ok: false, reason: 'malformed-cbor' });
    sameAsReference(new Uint8Array(0));
  });
});
