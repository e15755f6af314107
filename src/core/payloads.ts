/**
 * The payloads of each packet kind, CBOR-encoded inside the signed packet and validated as
 * strictly as frames: a payload that does not parse is a counted drop, never an exception.
 */
import { encode, encodeInto } from 'cborg';
import { decodeCbor, decodePeerInfoList, isBytes, isString, isUint, peerInfoToWire, type PeerInfo } from './codec.js';
import { ID_BYTES } from './id.js';
import { isAppId } from './app-namespace.js';

export type AppData = string | Uint8Array;

/** `app`: the destination app's wire id (app-namespace.ts), empty for the default app. */
export interface DataPayload { app: Uint8Array; port: number; data: AppData }
export interface RequestPayload { app: Uint8Array; port: number; requestId: number; data: AppData }
/**
 * `code`: on a failure only, a MeshError code the requester rejects with (errors.ts remoteCode:
 * HANDLER_CLOSED); absent, the failure is REMOTE_ERROR. Sent as a fourth element only when set,
 * so every other Response is encoded as before.
 */
export interface ResponsePayload { requestId: number; ok: boolean; data: AppData; code?: string }
export interface LookupPayload { requestId: number }
export interface FoundPayload { requestId: number; peers: PeerInfo[] }
export interface SubscribePayload { topic: Uint8Array }
export interface PublishPayload { topic: Uint8Array; name: string; data: AppData }
export interface PublishDownPayload { inner: Uint8Array }
export interface SignalPayload { body: string }
/** Asks a node for its X25519 key, telling it ours (empty when we have none). */
export interface KeyRequestPayload { requestId: number; key: Uint8Array }
/** A node's X25519 key (empty: it does not encrypt); requestId 0 when unasked. */
export interface KeyReplyPayload { requestId: number; key: Uint8Array }
/**
 * A key card (key-cards.ts) answering KeyRequest `requestId`: the card's owner's Ed25519 key
 * (its id is the key's hash), its X25519 key, and its signature over both.
 */
export interface KeyCardPayload { requestId: number; publicKey: Uint8Array; key: Uint8Array; signature: Uint8Array }
/**
 * Unreachable (unreachable.ts): the packet of ours with id `packetId` and kind `kind`, for
 * `dst`, was dropped by the sender for want of a route; `proof` is the first bytes of that
 * packet's signature (PROOF_BYTES), which shows the sender saw it.
 */
/** Bytes of the dropped packet's signature an Unreachable repeats: 128 bits nobody off its path can guess. */
export const UNREACHABLE_PROOF_BYTES = 16;
export interface UnreachablePayload { dst: Uint8Array; packetId: number; kind: number; proof: Uint8Array }
/** An encrypted payload: the sender's X25519 key, the first bytes of the recipient's, a nonce, the ciphertext. */
export interface SealedPayload { senderKey: Uint8Array; recipientTag: Uint8Array; nonce: Uint8Array; ciphertext: Uint8Array }
/** A datagram the sender retries until acknowledged; `messageId` is the same in every copy. */
export interface ReliableDataPayload { app: Uint8Array; port: number; messageId: number; data: AppData }
export interface AckPayload { messageId: number }

export const MAX_FOUND = 32;
/** The marker that opens a sealed payload: every plaintext payload that may be sealed opens with a shorter array instead. */
export const SEALED_MARK = 'e2e/1';
export const RECIPIENT_TAG_BYTES = 8;
export const MAX_PORT = 65535;
/** A failed Response's error code (errors.ts): a short name. */
const MAX_CODE_LENGTH = 32;

const isData = (v: unknown): v is AppData => typeof v === 'string' || v instanceof Uint8Array;
const isPort = (v: unknown): v is number => isUint(v) && v <= MAX_PORT;
const isKey = (v: unknown): v is Uint8Array => isBytes(v) && (v.length === 0 || v.length === 32);

function parse<T>(bytes: Uint8Array, length: number, build: (a: unknown[]) => T | undefined, views = false): T | undefined {
  const r = decodeCbor(bytes, views);
  if (!r.ok || !Array.isArray(r.value) || r.value.length !== length) return undefined;
  return build(r.value);
}

/**
 * `v` in CBOR. `into` (the data plane's scratch buffer, fast-path.ts): written there when it
 * fits, and the result is a view of it, valid until the next write; else a buffer of its own.
 */
function encodeTo(v: unknown, into?: Uint8Array): Uint8Array {
  if (into) {
    try {
      return into.subarray(0, encodeInto(v, into).written);
    } catch {
      // Larger than the scratch buffer.
    }
  }
  return encode(v);
}

/**
 * The application payloads take `into` to encode into (encodeTo), and decode with `views` (byte
 * strings as views into `b`: the caller owns `b`, cbor-strict.ts) for the data plane.
 */
export const Payload = {
  data: {
    encode: (p: DataPayload, into?: Uint8Array) => encodeTo([p.app, p.port, p.data], into),
    decode: (b: Uint8Array, views = false) => parse(b, 3, ([app, port, data]) => (isAppId(app) && isPort(port) && isData(data) ? { app, port, data } : undefined), views),
  },
  request: {
    encode: (p: RequestPayload, into?: Uint8Array) => encodeTo([p.app, p.port, p.requestId, p.data], into),
    decode: (b: Uint8Array, views = false) =>
      parse(b, 4, ([app, port, requestId, data]) => (isAppId(app) && isPort(port) && isUint(requestId) && isData(data) ? { app, port, requestId, data } : undefined), views),
  },
  response: {
    encode: (p: ResponsePayload, into?: Uint8Array) => encodeTo(p.code !== undefined && !p.ok ? [p.requestId, p.ok, p.data, p.code] : [p.requestId, p.ok, p.data], into),
    decode: (b: Uint8Array, views = false): ResponsePayload | undefined => {
      const r = decodeCbor(b, views);
      if (!r.ok || !Array.isArray(r.value) || (r.value.length !== 3 && r.value.length !== 4)) return undefined;
      const [requestId, ok, data, code] = r.value as unknown[];
      if (!isUint(requestId) || typeof ok !== 'boolean' || !isData(data)) return undefined;
      if (r.value.length === 3) return { requestId, ok, data };
      return !ok && isString(code, MAX_CODE_LENGTH) ? { requestId, ok, data, code } : undefined;
    },
  },
  lookup: {
    encode: (p: LookupPayload) => encode([p.requestId]),
    decode: (b: Uint8Array) => parse(b, 1, ([requestId]) => (isUint(requestId) ? { requestId } : undefined)),
  },
  found: {
    encode: (p: FoundPayload) => encode([p.requestId, p.peers.map(peerInfoToWire)]),
    decode: (b: Uint8Array) =>
      parse(b, 2, ([requestId, peers]) => {
        const list = decodePeerInfoList(peers, MAX_FOUND);
        return isUint(requestId) && list ? { requestId, peers: list } : undefined;
      }),
  },
  subscribe: {
    encode: (p: SubscribePayload) => encode([p.topic]),
    decode: (b: Uint8Array) => parse(b, 1, ([topic]) => (isBytes(topic, ID_BYTES) ? { topic } : undefined)),
  },
  publish: {
    encode: (p: PublishPayload) => encode([p.topic, p.name, p.data]),
    decode: (b: Uint8Array) =>
      parse(b, 3, ([topic, name, data]) => (isBytes(topic, ID_BYTES) && isString(name, 256) && isData(data) ? { topic, name, data } : undefined)),
  },
  publishDown: {
    encode: (p: PublishDownPayload) => encode([p.inner]),
    decode: (b: Uint8Array) => parse(b, 1, ([inner]) => (isBytes(inner) ? { inner } : undefined)),
  },
  signal: {
    encode: (p: SignalPayload) => encode([p.body]),
    decode: (b: Uint8Array) => parse(b, 1, ([body]) => (isString(body, 32 * 1024) ? { body } : undefined)),
  },
  keyRequest: {
    encode: (p: KeyRequestPayload) => encode([p.requestId, p.key]),
    decode: (b: Uint8Array) => parse(b, 2, ([requestId, key]) => (isUint(requestId) && isKey(key) ? { requestId, key } : undefined)),
  },
  keyReply: {
    encode: (p: KeyReplyPayload) => encode([p.requestId, p.key]),
    decode: (b: Uint8Array) => parse(b, 2, ([requestId, key]) => (isUint(requestId) && isKey(key) ? { requestId, key } : undefined)),
  },
  keyCard: {
    encode: (p: KeyCardPayload) => encode([p.requestId, p.publicKey, p.key, p.signature]),
    decode: (b: Uint8Array) =>
      parse(b, 4, ([requestId, publicKey, key, signature]) =>
        isUint(requestId) && isBytes(publicKey, 32) && isBytes(key, 32) && isBytes(signature, 64) ? { requestId, publicKey, key, signature } : undefined,
      ),
  },
  unreachable: {
    encode: (p: UnreachablePayload) => encode([p.dst, p.packetId, p.kind, p.proof]),
    decode: (b: Uint8Array) =>
      parse(b, 4, ([dst, packetId, kind, proof]) =>
        isBytes(dst, ID_BYTES) && isUint(packetId) && isUint(kind) && kind <= 255 && isBytes(proof, UNREACHABLE_PROOF_BYTES) ? { dst, packetId, kind, proof } : undefined,
      ),
  },
  sealed: {
    encode: (p: SealedPayload) => encode([SEALED_MARK, p.senderKey, p.recipientTag, p.nonce, p.ciphertext]),
    /** Undefined for anything that is not a well-formed sealed payload (a plaintext one included). */
    decode: (b: Uint8Array) =>
      parse(b, 5, ([mark, senderKey, recipientTag, nonce, ciphertext]) =>
        mark === SEALED_MARK && isBytes(senderKey, 32) && isBytes(recipientTag, RECIPIENT_TAG_BYTES) && isBytes(nonce, 12) && isBytes(ciphertext) && ciphertext.length >= 16
          ? { senderKey, recipientTag, nonce, ciphertext }
          : undefined,
      ),
  },
  reliableData: {
    encode: (p: ReliableDataPayload) => encode([p.app, p.port, p.messageId, p.data]),
    decode: (b: Uint8Array) =>
      parse(b, 4, ([app, port, messageId, data]) => (isAppId(app) && isPort(port) && isUint(messageId) && isData(data) ? { app, port, messageId, data } : undefined)),
  },
  ack: {
    encode: (p: AckPayload) => encode([p.messageId]),
    decode: (b: Uint8Array) => parse(b, 1, ([messageId]) => (isUint(messageId) ? { messageId } : undefined)),
  },
};

/** Whether a payload opens with the sealed marker (cheap: one CBOR head and five bytes). */
export function looksSealed(b: Uint8Array): boolean {
  // 0x85: an array of 5; 0x65: a text string of 5 bytes; then the marker's bytes.
  if (b.length < 7 || b[0] !== 0x85 || b[1] !== 0x65) return false;
  for (let i = 0; i < SEALED_MARK.length; i++) if (b[2 + i] !== SEALED_MARK.charCodeAt(i)) return false;
  return true;
}
