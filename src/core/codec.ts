/**
 * The wire codec. A frame is one version byte followed by a CBOR array whose first element is
 * the frame type. Decoding validates everything: any malformed input becomes
 * `{ ok: false, reason }`, never an exception, so every drop can be counted with its reason.
 */
import { decode, encode } from 'cborg';
import { CborRefused, StrictTokenizer } from './cbor-strict.js';
import { MAX_ADDR_LENGTH, MAX_ADDRS, MAX_ASKED_BUCKETS, MAX_CAPS, MAX_FRAME_BYTES, MAX_REFERRALS, WIRE_VERSION } from './limits.js';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './identity.js';
import { ID_BYTES } from './id.js';

export const FrameType = {
  Hello: 1,
  Proof: 2,
  Error: 3,
  Ping: 4,
  Pong: 5,
  Need: 6,
  Packet: 7,
  Ask: 8,
  Tell: 9,
  /**
   * The sender has carried no application traffic on this WebRTC link for its idle time and
   * can spare it (idle-links.ts): the receiver closes it as IDLE if it can spare it too.
   * Sent only to peers of wire minor 1 or later.
   */
  Rest: 10,
} as const;

/** What a node says about a peer it knows: enough to verify and dial it. */
export interface PeerInfo {
  publicKey: Uint8Array;
  addrs: string[];
  caps: string[];
}

/** Why the sender opens this link: it decides whether a full peer makes room for it. */
export const Want = {
  /** Spare capacity: refuse it when full. */
  Optional: 0,
  /** The sender's routing invariant needs this link. */
  Needed: 1,
  /** The sender has no link at all yet. */
  Join: 2,
  /**
   * The sender's invariant needs this link and the nodes it knows in that bucket have all
   * refused it as full: the peer should make room even at the cost of a link only the other
   * side needs (that node has other choices more often than the sender).
   */
  Urgent: 3,
} as const;
export type WantLevel = (typeof Want)[keyof typeof Want];

export interface HelloFrame {
  type: typeof FrameType.Hello;
  minor: number;
  want: WantLevel;
  publicKey: Uint8Array;
  nonce: Uint8Array;
  caps: string[];
  addrs: string[];
}
export interface ProofFrame {
  type: typeof FrameType.Proof;
  signature: Uint8Array;
  /**
   * The sender's key card (key-cards.ts): its X25519 key signed by its identity, which the
   * receiver hands to nodes that ask for the sender's key through it. Sent only to peers of
   * wire minor 2 or later; the proof's signature does not cover it (the card's own does).
   */
  card?: KeyCard;
}
/** A node's X25519 key and its signature over it (key-cards.ts). */
export interface KeyCard {
  key: Uint8Array;
  signature: Uint8Array;
}
export interface ErrorFrame {
  type: typeof FrameType.Error;
  code: string;
  message: string;
  /** Peers the refusing node suggests instead (for example when it is full). */
  referrals: PeerInfo[];
}
export interface PingFrame {
  type: typeof FrameType.Ping | typeof FrameType.Pong;
  n: number;
}
/** Tells the peer whether this link is essential to the sender's routing invariant. */
export interface NeedFrame {
  type: typeof FrameType.Need;
  need: boolean;
}
export interface PacketFrame {
  type: typeof FrameType.Packet;
  src: Uint8Array;
  dst: Uint8Array;
  hops: number;
  id: number;
  kind: number;
  payload: Uint8Array;
  /** The source's Ed25519 key; empty in an unsigned packet (see packets.ts). */
  publicKey: Uint8Array;
  /** Empty in an unsigned packet. */
  signature: Uint8Array;
}

/**
 * Asks a linked peer for nodes it knows in some of the sender's empty buckets. A peer in the
 * sender's bucket c shares the sender's first c bits, so for every bucket b < c its own bucket
 * b is the same region of the id space: its links there are exactly what the sender lacks.
 */
export interface AskFrame {
  type: typeof FrameType.Ask;
  buckets: number[];
}
/** The answer to an Ask: peers in the asked buckets. */
export interface TellFrame {
  type: typeof FrameType.Tell;
  peers: PeerInfo[];
}

/** See FrameType.Rest. */
export interface RestFrame {
  type: typeof FrameType.Rest;
}

export type Frame = HelloFrame | ProofFrame | ErrorFrame | PingFrame | NeedFrame | PacketFrame | AskFrame | TellFrame | RestFrame;

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: string };

export function encodeFrame(frame: Frame): Uint8Array {
  let body: unknown[];
  switch (frame.type) {
    case FrameType.Hello:
      body = [frame.type, frame.minor, frame.publicKey, frame.nonce, frame.caps, frame.addrs, frame.want];
      break;
    case FrameType.Proof:
      body = frame.card ? [frame.type, frame.signature, frame.card.key, frame.card.signature] : [frame.type, frame.signature];
      break;
    case FrameType.Error:
      body = [frame.type, frame.code, frame.message, frame.referrals.map(peerInfoToWire)];
      break;
    case FrameType.Ping:
    case FrameType.Pong:
      body = [frame.type, frame.n];
      break;
    case FrameType.Need:
      body = [frame.type, frame.need];
      break;
    case FrameType.Packet:
      body = [frame.type, frame.src, frame.dst, frame.hops, frame.id, frame.kind, frame.payload, frame.publicKey, frame.signature];
      break;
    case FrameType.Ask:
      body = [frame.type, frame.buckets];
      break;
    case FrameType.Tell:
      body = [frame.type, frame.peers.map(peerInfoToWire)];
      break;
    case FrameType.Rest:
      body = [frame.type];
      break;
  }
  const cbor = encode(body);
  const out = new Uint8Array(cbor.length + 1);
  out[0] = WIRE_VERSION;
  out.set(cbor, 1);
  return out;
}

export function peerInfoToWire(p: PeerInfo): unknown[] {
  return [p.publicKey, p.addrs, p.caps];
}

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: true,
};

/**
 * Decodes CBOR without ever throwing. Invalid UTF-8, nesting deeper than MAX_CBOR_DEPTH and
 * lengths that promise more items than bytes remain get their own reasons (cbor-strict.ts).
 * `views`: byte strings read as views into `bytes`, not copies (cbor-strict.ts).
 */
export function decodeCbor(bytes: Uint8Array, views = false): DecodeResult<unknown> {
  try {
    return { ok: true, value: decode(bytes, { ...DECODE_OPTIONS, tokenizer: new StrictTokenizer(bytes, DECODE_OPTIONS, views) }) };
  } catch (err) {
    return { ok: false, reason: err instanceof CborRefused ? err.reason : 'malformed-cbor' };
  }
}

export function decodeFrame(bytes: Uint8Array): DecodeResult<Frame> {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) return fail('truncated');
  if (bytes.length > MAX_FRAME_BYTES) return fail('oversize');
  if (bytes[0] !== WIRE_VERSION) return fail('unknown-version');
  const cbor = decodeCbor(bytes.subarray(1));
  if (!cbor.ok) return cbor;
  const a = cbor.value;
  if (!Array.isArray(a) || a.length < 1) return fail('not-a-frame');
  const t = a[0];
  switch (t) {
    case FrameType.Hello: {
      const [, minor, publicKey, nonce, caps, addrs, want] = a;
      if (a.length !== 7 || !isUint(minor) || !isBytes(publicKey, PUBLIC_KEY_BYTES) || !isBytes(nonce, 32)) return fail('bad-hello');
      if (!isStringList(caps, MAX_CAPS, 64) || !isStringList(addrs, MAX_ADDRS, MAX_ADDR_LENGTH)) return fail('bad-hello');
      if (want !== Want.Optional && want !== Want.Needed && want !== Want.Join && want !== Want.Urgent) return fail('bad-hello');
      return ok({ type: t, minor, publicKey, nonce, caps, addrs, want });
    }
    case FrameType.Proof: {
      if ((a.length !== 2 && a.length !== 4) || !isBytes(a[1], SIGNATURE_BYTES)) return fail('bad-proof');
      if (a.length === 2) return ok({ type: t, signature: a[1] });
      if (!isBytes(a[2], 32) || !isBytes(a[3], SIGNATURE_BYTES)) return fail('bad-proof');
      return ok({ type: t, signature: a[1], card: { key: a[2], signature: a[3] } });
    }
    case FrameType.Error: {
      const [, code, message, referrals] = a;
      if (a.length !== 4 || !isString(code, 64) || !isString(message, 1024)) return fail('bad-error-frame');
      const peers = decodePeerInfoList(referrals, MAX_REFERRALS);
      if (!peers) return fail('bad-error-frame');
      return ok({ type: t, code, message, referrals: peers });
    }
    case FrameType.Ping:
    case FrameType.Pong:
      if (a.length !== 2 || !isUint(a[1])) return fail('bad-ping');
      return ok({ type: t, n: a[1] });
    case FrameType.Need:
      if (a.length !== 2 || typeof a[1] !== 'boolean') return fail('bad-need');
      return ok({ type: t, need: a[1] });
    case FrameType.Packet: {
      const [, src, dst, hops, id, kind, payload, publicKey, signature] = a;
      if (a.length !== 9 || !isBytes(src, ID_BYTES) || !isBytes(dst, ID_BYTES)) return fail('bad-packet');
      if (!isUint(hops) || hops > 255 || !isUint(id) || !isUint(kind) || kind > 255) return fail('bad-packet');
      if (!isBytes(payload) || !isBytes(publicKey) || !isBytes(signature)) return fail('bad-packet');
      // Signed (a key and a signature), or unsigned (neither): a sealed payload whose AEAD proves its source (packets.ts).
      const signed = publicKey.length === PUBLIC_KEY_BYTES && signature.length === SIGNATURE_BYTES;
      if (!signed && (publicKey.length !== 0 || signature.length !== 0)) return fail('bad-packet');
      return ok({ type: t, src, dst, hops, id, kind, payload, publicKey, signature });
    }
    case FrameType.Ask: {
      const buckets = a[1];
      if (a.length !== 2 || !Array.isArray(buckets) || buckets.length > MAX_ASKED_BUCKETS) return fail('bad-ask');
      if (!buckets.every((b) => isUint(b) && b < ID_BYTES * 8)) return fail('bad-ask');
      return ok({ type: t, buckets: buckets as number[] });
    }
    case FrameType.Tell: {
      const peers = a.length === 2 ? decodePeerInfoList(a[1], MAX_REFERRALS) : undefined;
      if (!peers) return fail('bad-tell');
      return ok({ type: t, peers });
    }
    case FrameType.Rest:
      if (a.length !== 1) return fail('bad-rest');
      return ok({ type: t });
    default:
      return fail('unknown-frame-type');
  }
}

export function decodePeerInfoList(value: unknown, max: number): PeerInfo[] | undefined {
  if (!Array.isArray(value) || value.length > max) return undefined;
  const out: PeerInfo[] = [];
  for (const item of value) {
    if (!Array.isArray(item) || item.length !== 3) return undefined;
    const [publicKey, addrs, caps] = item;
    if (!isBytes(publicKey, PUBLIC_KEY_BYTES)) return undefined;
    if (!isStringList(addrs, MAX_ADDRS, MAX_ADDR_LENGTH) || !isStringList(caps, MAX_CAPS, 64)) return undefined;
    out.push({ publicKey, addrs, caps });
  }
  return out;
}

export function isBytes(v: unknown, length?: number): v is Uint8Array {
  return v instanceof Uint8Array && (length === undefined || v.length === length);
}
export function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
export function isString(v: unknown, maxLength: number): v is string {
  return typeof v === 'string' && v.length <= maxLength;
}
function isStringList(v: unknown, maxItems: number, maxLength: number): v is string[] {
  return Array.isArray(v) && v.length <= maxItems && v.every((s) => isString(s, maxLength));
}
function ok<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}
function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
