/**
 * An unsigned Packet frame with a sealed payload, written and read in one pass over one buffer:
 * the host tab's data plane (src/browser/fast-path.ts) sends and claims nothing else, once per
 * packet, so it skips the general codec's three CBOR encodes (payload, envelope, frame, each a
 * fresh copy of the ciphertext) and two strict decodes (each copying it again).
 *
 * `writeSealedPacket` gives exactly the bytes of `encodeFrame` over `Payload.sealed.encode`
 * (test/core/sealed-frame.test.ts checks it byte for byte). `readSealedPacket` accepts only that
 * exact shape (minimal CBOR heads, definite lengths, nothing after the frame) and returns views
 * into the frame, no copies; anything else is undefined, and the caller leaves the frame to the
 * node, whose strict decoder (codec.ts) judges it. So whatever this reads, the strict decoder
 * would read the same way (the test checks that over mutated frames too).
 */
import { ARRAY, BYTES, headBytes, readByte, readBytes, readHead, seek, tell, TEXT, UINT, writeHead } from './cbor-head.js';
import { ID_BYTES } from './id.js';
import { MAX_FRAME_BYTES, WIRE_VERSION } from './limits.js';
import { FrameType } from './codec.js';
import { looksSealed, RECIPIENT_TAG_BYTES, SEALED_MARK } from './payloads.js';
import { E2E_KEY_BYTES, NONCE_BYTES, TAG_BYTES } from './e2e-crypto.js';

export interface SealedPacket extends PacketHead {
  senderKey: Uint8Array;
  recipientTag: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

const MARK = Array.from(SEALED_MARK, (c) => c.charCodeAt(0));

function writeBytes(out: Uint8Array, at: number, b: Uint8Array): number {
  at = writeHead(out, at, BYTES, b.length);
  out.set(b, at);
  return at + b.length;
}

/** The fields of a routed packet the one-pass writer and reader deal with, besides its payload. */
export interface PacketHead {
  src: Uint8Array;
  dst: Uint8Array;
  hops: number;
  id: number;
  kind: number;
}

/** An unsigned packet whose payload is in the clear: only ever inside a bound channel (session.ts). */
export interface PlainPacket extends PacketHead {
  payload: Uint8Array;
}

/**
 * Where a frame is written: `length` bytes, every one of which the writer sets (so they need
 * not be zero). By default a new buffer; the data plane passes a scratch or pooled one (fast-path.ts).
 */
export type FrameBytes = (length: number) => Uint8Array;
const fresh: FrameBytes = (length) => new Uint8Array(length);

/**
 * Where the writers below put the payload, as module state rather than an object or a closure
 * per frame: they run to completion without calling out (the readers' cursor is cbor-head.ts's,
 * for the same reason: docs/BENCHMARKS.md, "Firefox: what the tab allocates").
 */
let pos = 0;

/**
 * Writes an unsigned Packet frame whose payload is `payloadLength` bytes, all but the payload,
 * which the caller writes at `pos` (set here); no closure, as the frame is written per packet.
 */
function writeUnsigned(p: PacketHead, payloadLength: number, alloc: FrameBytes = fresh): Uint8Array {
  const length =
    1 + 1 + 1 + headBytes(p.src.length) + p.src.length + headBytes(p.dst.length) + p.dst.length + headBytes(p.hops) + headBytes(p.id) +
    headBytes(p.kind) + headBytes(payloadLength) + payloadLength + 2;
  const out = alloc(length);
  out[0] = WIRE_VERSION;
  let at = writeHead(out, 1, ARRAY, 9);
  at = writeHead(out, at, UINT, FrameType.Packet);
  at = writeBytes(out, at, p.src);
  at = writeBytes(out, at, p.dst);
  at = writeHead(out, at, UINT, p.hops);
  at = writeHead(out, at, UINT, p.id);
  at = writeHead(out, at, UINT, p.kind);
  pos = writeHead(out, at, BYTES, payloadLength);
  // The empty public key and signature of an unsigned packet.
  out[length - 2] = BYTES << 5;
  out[length - 1] = BYTES << 5;
  return out;
}

/** The frame `encodeFrame` writes for this packet with `Payload.sealed.encode` as its payload, unsigned. */
export function writeSealedPacket(p: SealedPacket): Uint8Array {
  const sealedLength =
    1 + 1 + MARK.length + headBytes(p.senderKey.length) + p.senderKey.length + headBytes(p.recipientTag.length) + p.recipientTag.length +
    headBytes(p.nonce.length) + p.nonce.length + headBytes(p.ciphertext.length) + p.ciphertext.length;
  const out = writeUnsigned(p, sealedLength);
  let at = writeHead(out, pos, ARRAY, 5);
  at = writeHead(out, at, TEXT, MARK.length);
  out.set(MARK, at);
  at += MARK.length;
  at = writeBytes(out, at, p.senderKey);
  at = writeBytes(out, at, p.recipientTag);
  at = writeBytes(out, at, p.nonce);
  writeBytes(out, at, p.ciphertext);
  return out;
}

/** The frame `encodeFrame` writes for this unsigned packet with its payload in the clear, in the bytes `alloc` gives. */
export function writePlainPacket(p: PlainPacket, alloc?: FrameBytes): Uint8Array {
  const out = writeUnsigned(p, p.payload.length, alloc);
  out.set(p.payload, pos);
  return out;
}

/** The head of the frame read last by readUnsigned, and where its payload ends (it starts at the read cursor). */
let src: Uint8Array | undefined;
let dst: Uint8Array | undefined;
let hops = 0;
let id = 0;
let kind = 0;
let end = 0;

/**
 * Reads the head of an unsigned Packet frame in its one exact encoding into the variables above
 * (the read cursor at the payload's start); false for anything else.
 */
function readUnsigned(frame: Uint8Array): boolean {
  if (frame.length > MAX_FRAME_BYTES || frame[0] !== WIRE_VERSION) return false;
  seek(1);
  if (readHead(frame, ARRAY) !== 9 || readHead(frame, UINT) !== FrameType.Packet) return false;
  src = readBytes(frame, ID_BYTES);
  dst = readBytes(frame, ID_BYTES);
  if (!src || !dst) return false;
  hops = readHead(frame, UINT);
  id = readHead(frame, UINT);
  kind = readHead(frame, UINT);
  if (hops < 0 || hops > 255 || id < 0 || kind < 0 || kind > 255) return false;
  const payloadLength = readHead(frame, BYTES);
  // The payload, then exactly the empty key and signature of an unsigned packet, and the end.
  end = tell() + payloadLength;
  return payloadLength >= 0 && end + 2 === frame.length && frame[end] === BYTES << 5 && frame[end + 1] === BYTES << 5;
}

/**
 * The fields of an unsigned Packet frame with a sealed payload, as views into `frame`; undefined
 * for any other frame or any other encoding of one (see the file comment).
 */
export function readSealedPacket(frame: Uint8Array): SealedPacket | undefined {
  if (!readUnsigned(frame)) return undefined;
  if (readHead(frame, ARRAY) !== 5 || readHead(frame, TEXT) !== MARK.length) return undefined;
  for (const c of MARK) if (readByte(frame) !== c) return undefined;
  const senderKey = readBytes(frame, E2E_KEY_BYTES);
  const recipientTag = readBytes(frame, RECIPIENT_TAG_BYTES);
  const nonce = readBytes(frame, NONCE_BYTES);
  const ciphertext = readBytes(frame);
  if (!senderKey || !recipientTag || !nonce || !ciphertext || ciphertext.length < TAG_BYTES || tell() !== end) return undefined;
  return { src: src!, dst: dst!, hops, id, kind, senderKey, recipientTag, nonce, ciphertext };
}

/**
 * The fields of an unsigned Packet frame whose payload is not a sealed envelope (what a bound
 * channel carries), the payload a view into `frame`; undefined for anything else. The payload's
 * own CBOR is left to the strict payload decoder (payloads.ts).
 */
export function readPlainPacket(frame: Uint8Array): PlainPacket | undefined {
  if (!readUnsigned(frame)) return undefined;
  const payload = frame.subarray(tell(), end);
  if (looksSealed(payload)) return undefined;
  return { src: src!, dst: dst!, hops, id, kind, payload };
}
