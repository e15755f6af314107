/**
 * The payloads of each packet kind, CBOR-encoded inside the signed packet and validated as
 * strictly as frames: a payload that does not parse is a counted drop, never an exception.
 */
import { encode } from 'cborg';
import { decodeCbor, decodePeerInfoList, isBytes, isString, isUint, peerInfoToWire, type PeerInfo } from './codec.js';
import { ID_BYTES } from './id.js';

export type AppData = string | Uint8Array;

export interface DataPayload { port: number; data: AppData }
export interface RequestPayload { port: number; requestId: number; data: AppData }
export interface ResponsePayload { requestId: number; ok: boolean; data: AppData }
export interface LookupPayload { requestId: number }
export interface FoundPayload { requestId: number; peers: PeerInfo[] }
export interface SubscribePayload { topic: Uint8Array }
export interface PublishPayload { topic: Uint8Array; name: string; data: AppData }
export interface PublishDownPayload { inner: Uint8Array }
export interface SignalPayload { body: string }

export const MAX_FOUND = 32;
export const MAX_PORT = 65535;

const isData = (v: unknown): v is AppData => typeof v === 'string' || v instanceof Uint8Array;
const isPort = (v: unknown): v is number => isUint(v) && v <= MAX_PORT;

function parse<T>(bytes: Uint8Array, length: number, build: (a: unknown[]) => T | undefined): T | undefined {
  const r = decodeCbor(bytes);
  if (!r.ok || !Array.isArray(r.value) || r.value.length !== length) return undefined;
  return build(r.value);
}

export const Payload = {
  data: {
    encode: (p: DataPayload) => encode([p.port, p.data]),
    decode: (b: Uint8Array) => parse(b, 2, ([port, data]) => (isPort(port) && isData(data) ? { port, data } : undefined)),
  },
  request: {
    encode: (p: RequestPayload) => encode([p.port, p.requestId, p.data]),
    decode: (b: Uint8Array) =>
      parse(b, 3, ([port, requestId, data]) => (isPort(port) && isUint(requestId) && isData(data) ? { port, requestId, data } : undefined)),
  },
  response: {
    encode: (p: ResponsePayload) => encode([p.requestId, p.ok, p.data]),
    decode: (b: Uint8Array) =>
      parse(b, 3, ([requestId, ok, data]) => (isUint(requestId) && typeof ok === 'boolean' && isData(data) ? { requestId, ok, data } : undefined)),
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
};
