/**
 * The data plane's one-pass frame writer and reader (src/core/sealed-frame.ts) against the
 * general codec: the writer's bytes are encodeFrame's, and whatever the reader accepts, the strict
 * decoder reads the same way (anything else the reader leaves to the node).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, FrameType, type PacketFrame } from '../../src/core/codec.js';
import { Payload } from '../../src/core/payloads.js';
import { readPlainPacket, readSealedPacket, writePlainPacket, writeSealedPacket, type PlainPacket, type SealedPacket } from '../../src/core/sealed-frame.js';
import { applyMutations, mutation } from '../fuzz/mutations.js';

const NONE = new Uint8Array(0);
const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

function viaCodec(p: SealedPacket, signed = false): PacketFrame {
  const payload = Payload.sealed.encode({ senderKey: p.senderKey, recipientTag: p.recipientTag, nonce: p.nonce, ciphertext: p.ciphertext });
  return {
    type: FrameType.Packet, src: p.src, dst: p.dst, hops: p.hops, id: p.id, kind: p.kind, payload,
    publicKey: signed ? bytes(32) : NONE, signature: signed ? bytes(64) : NONE,
  };
}

function packet(o: Partial<SealedPacket> = {}): SealedPacket {
  return { src: bytes(32, 1), dst: bytes(32, 2), hops: 64, id: 5, kind: 1, senderKey: bytes(32, 3), recipientTag: bytes(8, 4), nonce: bytes(12, 5), ciphertext: bytes(40, 6), ...o };
}

/** What the strict decoder reads from `frame`, in the reader's terms; undefined where it refuses it or it is no unsigned sealed packet. */
function strictRead(frame: Uint8Array): SealedPacket | undefined {
  const d = decodeFrame(frame);
  if (!d.ok || d.value.type !== FrameType.Packet || d.value.signature.length !== 0) return undefined;
  const env = Payload.sealed.decode(d.value.payload);
  if (!env) return undefined;
  const { src, dst, hops, id, kind } = d.value;
  return { src, dst, hops, id, kind, ...env };
}

const plain = (p: SealedPacket | PlainPacket | undefined) => p && Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v instanceof Uint8Array ? [...v] : v]));

const arbPacket: fc.Arbitrary<SealedPacket> = fc.record({
  src: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  dst: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  hops: fc.integer({ min: 0, max: 255 }),
  id: fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER)),
  kind: fc.integer({ min: 0, max: 255 }),
  senderKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  recipientTag: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  ciphertext: fc.uint8Array({ minLength: 16, maxLength: 600 }),
});

describe('sealed packet frames in one pass', () => {
  test('the writer gives exactly the codec bytes, and the reader reads them back as views into the frame', () => {
    const sizes = [16, 23, 24, 200, 255, 256, 65_535, 65_536, 90_000];
    const ids = [0, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
    for (const n of sizes) {
      for (const id of ids) {
        const p = packet({ id, ciphertext: bytes(n, n & 0xff), hops: id % 256, kind: (id >>> 3) % 256 });
        const frame = writeSealedPacket(p);
        assert.deepEqual(frame, encodeFrame(viaCodec(p)), `ciphertext ${n} bytes, id ${id}`);
        const r = readSealedPacket(frame);
        if (frame.length > 96 * 1024) {
          assert.equal(r, undefined, 'oversize: left to the node');
          continue;
        }
        assert.deepEqual(plain(r), plain(p));
        assert.equal(r!.ciphertext.buffer, frame.buffer, 'a view, not a copy');
      }
    }
    fc.assert(fc.property(arbPacket, (p) => {
      const frame = writeSealedPacket(p);
      assert.deepEqual(frame, encodeFrame(viaCodec(p)));
      assert.deepEqual(plain(readSealedPacket(frame)), plain(p));
    }), { numRuns: 500 });
  });

  test('other frames and other encodings are left to the node', () => {
    const p = packet();
    assert.equal(readSealedPacket(encodeFrame(viaCodec(p, true))), undefined, 'signed');
    assert.equal(readSealedPacket(encodeFrame({ type: FrameType.Ping, n: 1 })), undefined, 'not a packet');
    const unsealed = encodeFrame({ ...viaCodec(p), payload: Payload.data.encode({ app: NONE, port: 1, data: 'x' }) });
    assert.equal(readSealedPacket(unsealed), undefined, 'a plaintext payload');
    const good = writeSealedPacket(p);
    assert.equal(readSealedPacket(good.subarray(0, good.length - 1)), undefined, 'truncated');
    assert.equal(readSealedPacket(Uint8Array.from([...good, 0])), undefined, 'a byte after the frame');
    // hops = 64 written in a 3-byte head (0x19 0x00 0x40) instead of 0x18 0x40: not minimal.
    const at = 1 + 1 + 1 + 34 + 34; // version, array head, type, src, dst: then the hop limit
    assert.deepEqual([...good.subarray(at, at + 2)], [0x18, 64], 'the hop limit, 64, in a 2-byte head');
    const loose = Uint8Array.from([...good.subarray(0, at), 0x19, 0x00, ...good.subarray(at + 1)]);
    assert.equal(decodeFrame(loose).ok, false, 'the strict decoder refuses a head that is not minimal');
    assert.equal(readSealedPacket(loose), undefined, 'and so does the reader');
  });

  test('mutated frames: whatever the reader accepts, the strict decoder reads the same', () => {
    let accepted = 0;
    fc.assert(
      fc.property(arbPacket, fc.array(mutation, { minLength: 1, maxLength: 3 }), (p, ms) => {
        const frame = applyMutations(viaCodec(p), ms);
        const r = readSealedPacket(frame);
        if (r === undefined) return;
        accepted++;
        assert.deepEqual(plain(r), plain(strictRead(frame)), 'the reader and the strict decoder agree');
      }),
      { numRuns: 3_000, seed: 14 },
    );
    assert.ok(accepted > 100, `some mutated frames are still well-formed sealed packets (${accepted})`);
  });
});

/** An unsigned packet with its payload in the clear, as the codec writes it. */
function plainViaCodec(p: PlainPacket, signed = false): PacketFrame {
  return { type: FrameType.Packet, src: p.src, dst: p.dst, hops: p.hops, id: p.id, kind: p.kind, payload: p.payload, publicKey: signed ? bytes(32) : NONE, signature: signed ? bytes(64) : NONE };
}

/** What the strict decoder reads as an unsigned packet whose payload is no sealed envelope. */
function strictReadPlain(frame: Uint8Array): PlainPacket | undefined {
  const d = decodeFrame(frame);
  if (!d.ok || d.value.type !== FrameType.Packet || d.value.signature.length !== 0 || Payload.sealed.decode(d.value.payload)) return undefined;
  const { src, dst, hops, id, kind, payload } = d.value;
  return { src, dst, hops, id, kind, payload };
}

const arbPlain: fc.Arbitrary<PlainPacket> = fc.record({
  src: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  dst: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  hops: fc.integer({ min: 0, max: 255 }),
  id: fc.oneof(fc.nat(), fc.maxSafeNat()),
  kind: fc.integer({ min: 0, max: 255 }),
  payload: fc.oneof(
    fc.tuple(fc.uint8Array({ maxLength: 16 }), fc.integer({ min: 0, max: 65_535 }), fc.string({ maxLength: 300 })).map(([app, port, data]) => Payload.data.encode({ app, port, data })),
    fc.uint8Array({ maxLength: 600 }),
  ),
});

describe('plaintext packet frames in one pass (inside a bound channel)', () => {
  test('the writer gives exactly the codec bytes; the reader reads them back as views, and leaves sealed payloads alone', () => {
    for (const n of [0, 23, 24, 255, 256, 65_536]) {
      const payload = Payload.data.encode({ app: NONE, port: 7, data: bytes(n, 9) });
      const p: PlainPacket = { src: bytes(32, 1), dst: bytes(32, 2), hops: 64, id: 2 ** 40 + n, kind: 1, payload };
      const frame = writePlainPacket(p);
      assert.deepEqual(frame, encodeFrame(plainViaCodec(p)), `data ${n} bytes`);
      const r = readPlainPacket(frame);
      assert.deepEqual(plain(r), plain(p));
      assert.equal(r!.payload.buffer, frame.buffer, 'a view, not a copy');
      assert.equal(readSealedPacket(frame), undefined, 'no sealed packet');
    }
    fc.assert(fc.property(arbPlain, (p) => {
      const frame = writePlainPacket(p);
      assert.deepEqual(frame, encodeFrame(plainViaCodec(p)));
      assert.deepEqual(plain(readPlainPacket(frame)), plain(strictReadPlain(frame)));
    }), { numRuns: 500 });
    const sealed = writeSealedPacket(packet());
    assert.equal(readPlainPacket(sealed), undefined, 'a sealed envelope is not plaintext');
    const p: PlainPacket = { src: bytes(32, 1), dst: bytes(32, 2), hops: 64, id: 9, kind: 1, payload: Payload.data.encode({ app: NONE, port: 1, data: 'x' }) };
    assert.equal(readPlainPacket(encodeFrame(plainViaCodec(p, true))), undefined, 'signed: the node\'s');
  });

  test('mutated frames: whatever the plain reader accepts, the strict decoder reads the same', () => {
    let accepted = 0;
    fc.assert(
      fc.property(arbPlain, fc.array(mutation, { minLength: 1, maxLength: 3 }), (p, ms) => {
        const frame = applyMutations(plainViaCodec(p), ms);
        const r = readPlainPacket(frame);
        if (r === undefined) return;
        accepted++;
        assert.deepEqual(plain(r), plain(strictReadPlain(frame)), 'the reader and the strict decoder agree');
      }),
      { numRuns: 3_000, seed: 14 },
    );
    assert.ok(accepted > 100, `some mutated frames are still well-formed plain packets (${accepted})`);
  });
});
