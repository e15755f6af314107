/**
 * Wire-level mutations for fuzzing: bit flips, truncations, splices of two frames, inserted and
 * deleted bytes, CBOR headers that lie about a length, deep nesting and invalid UTF-8. Each is
 * data (fast-check shrinks it to the smallest failing edit), applied in order to a valid frame.
 */
import fc from 'fast-check';
import { encodeFrame, FrameType, Want, type Frame } from '../../src/core/codec.js';
import { WIRE_VERSION } from '../../src/core/limits.js';

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; at: number; other: Frame; from: number }
  | { op: 'insert'; at: number; byte: number }
  | { op: 'delete'; at: number }
  /** A header promising up to 2^64 - 1 bytes or items, with nothing behind it. */
  | { op: 'length-lie'; at: number; header: number[] }
  /** The body wrapped in `depth` one-item arrays. */
  | { op: 'nest'; depth: number }
  /** A text string of bytes that are not UTF-8. */
  | { op: 'bad-utf8'; at: number; bytes: readonly number[] };

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const short = fc.string({ maxLength: 40 });

/** Valid frames of every type, with the field sizes the codec expects. */
export const anyFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    type: fc.constant(FrameType.Hello),
    minor: fc.nat(),
    want: fc.constantFrom(Want.Optional, Want.Needed, Want.Join, Want.Urgent),
    publicKey: bytes(32),
    nonce: bytes(32),
    caps: fc.array(short, { maxLength: 3 }),
    addrs: fc.array(short, { maxLength: 3 }),
  }),
  fc.record({ type: fc.constant(FrameType.Proof), signature: bytes(64) }),
  fc.record({ type: fc.constant(FrameType.Proof), signature: bytes(64), card: fc.record({ key: bytes(32), signature: bytes(64) }) }),
  fc.record({
    type: fc.constant(FrameType.Error),
    code: short,
    message: short,
    referrals: fc.array(fc.record({ publicKey: bytes(32), addrs: fc.array(short, { maxLength: 2 }), caps: fc.array(short, { maxLength: 2 }) }), { maxLength: 3 }),
  }),
  fc.record({ type: fc.constantFrom(FrameType.Ping, FrameType.Pong), n: fc.nat() }),
  fc.record({ type: fc.constant(FrameType.Need), need: fc.boolean() }),
  fc.record({
    type: fc.constant(FrameType.Packet),
    src: bytes(32),
    dst: bytes(32),
    hops: fc.integer({ min: 0, max: 255 }),
    id: fc.nat(),
    kind: fc.integer({ min: 0, max: 255 }),
    payload: fc.uint8Array({ maxLength: 512 }),
    publicKey: bytes(32),
    signature: bytes(64),
  }),
  fc.record({ type: fc.constant(FrameType.Ask), buckets: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 }) }),
  fc.record({
    type: fc.constant(FrameType.Tell),
    peers: fc.array(fc.record({ publicKey: bytes(32), addrs: fc.array(short, { maxLength: 2 }), caps: fc.array(short, { maxLength: 2 }) }), { maxLength: 3 }),
  }),
) as fc.Arbitrary<Frame>;

const at = fc.nat();
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at }),
  fc.record({ op: fc.constant('splice' as const), at, other: anyFrame, from: at }),
  fc.record({ op: fc.constant('insert' as const), at, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at }),
  fc.record({
    op: fc.constant('length-lie' as const),
    at,
    // byte string, text, array, map: each with a 4-byte or an 8-byte length of all ones.
    header: fc.constantFrom(0x5a, 0x5b, 0x7a, 0x7b, 0x9a, 0x9b, 0xba, 0xbb).map((h) => [h, ...Array<number>((h & 31) === 26 ? 4 : 8).fill(0xff)]),
  }),
  fc.record({ op: fc.constant('nest' as const), depth: fc.integer({ min: 1, max: 20_000 }) }),
  fc.record({
    op: fc.constant('bad-utf8' as const),
    at,
    // Lone continuation bytes, an overlong '/', a truncated sequence, a surrogate half.
    bytes: fc.constantFrom([0x80], [0xc0, 0xaf], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xff, 0xfe]),
  }),
);

export function applyMutations(frame: Frame, mutations: Mutation[]): Uint8Array {
  let b = [...encodeFrame(frame)];
  for (const m of mutations) {
    const i = m.op === 'nest' ? 0 : m.at % (b.length + 1);
    switch (m.op) {
      case 'flip':
        if (i < b.length) b[i] = b[i]! ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.slice(0, i);
        break;
      case 'splice': {
        const other = [...encodeFrame(m.other)];
        b = [...b.slice(0, i), ...other.slice(m.from % other.length)];
        break;
      }
      case 'insert':
        b.splice(i, 0, m.byte);
        break;
      case 'delete':
        if (b.length > 0) b.splice(i % b.length, 1);
        break;
      case 'length-lie':
        b.splice(Math.max(1, i), 0, ...m.header);
        break;
      case 'nest':
        b = [WIRE_VERSION, ...Array<number>(m.depth).fill(0x81), ...b.slice(1)];
        break;
      case 'bad-utf8':
        // A text header of the right length, so only the encoding is wrong.
        b.splice(Math.max(1, i), 0, 0x60 + m.bytes.length, ...m.bytes);
        break;
    }
  }
  return Uint8Array.from(b);
}

/** A valid frame with one to six mutations applied. */
export const mutatedFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(anyFrame, fc.array(mutation, { minLength: 1, maxLength: 6 }))
  .map(([frame, ms]) => applyMutations(frame, ms));

/** Random bytes, usually behind the right version byte so they reach the CBOR decoder. */
export const randomFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.boolean(), fc.uint8Array({ maxLength: 400 }))
  .map(([versioned, tail]) => (versioned ? Uint8Array.from([WIRE_VERSION, ...tail]) : tail));

export const fuzzInput: fc.Arbitrary<Uint8Array> = fc.oneof({ arbitrary: mutatedFrame, weight: 3 }, { arbitrary: randomFrame, weight: 1 });
