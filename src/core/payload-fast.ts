/**
 * The Data, Request and Response payloads of the data plane (src/browser/fast-path.ts), written
 * and read in one pass with no allocation but the result: once per packet on both sides of every
 * round trip, where cborg's general encoder and the strict tokenizer built a token per item
 * (about 0.7 KB of garbage per decode). In Firefox a round trip grows with what the two tabs
 * allocate, not only with the time they run (docs/BENCHMARKS.md, "Firefox: what the tab
 * allocates"), so these go without.
 *
 * Only the common shape is handled: byte-string data (and, for a Response, no error code).
 * The writer gives exactly cborg's bytes (minimal heads; test/core/payload-fast.test.ts checks
 * it byte for byte); the reader accepts only that exact encoding (minimal heads, definite
 * lengths, integers up to 2^53 - 1, nothing after) and returns views into the input, as the
 * strict decoder with `views` does. Anything else, it returns undefined and `FastPayload` falls
 * back to Payload (payloads.ts: cborg and the strict decoder), which judges it as before: whatever
 * this reads, they would read the same (the test checks that over mutated payloads too). Only the
 * data plane imports this (the worker's bundle does not carry it).
 */

import { isAppId } from './app-namespace.js';
import { headBytes, writeHead } from './cbor-head.js';
import { type AppData, type DataPayload, MAX_PORT, Payload, type RequestPayload, type ResponsePayload } from './payloads.js';

const UINT = 0;
const BYTES = 2;
const ARRAY = 4;
const FALSE = 0xf4;
const TRUE = 0xf5;
const TWO_32 = 0x100000000;

const safeUint = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** [app, port, data] (a Data payload: `requestId` undefined) or [app, port, requestId, data] (a Request) into `into`, or undefined when it does not fit or is not of the handled shape. */
export function writeAppPayload(into: Uint8Array, app: Uint8Array, port: number, requestId: number | undefined, data: Uint8Array): Uint8Array | undefined {
  const request = requestId !== undefined;
  if (!safeUint(port) || (request && !safeUint(requestId))) return undefined;
  const length = 1 + headBytes(app.length) + app.length + headBytes(port) + (request ? headBytes(requestId) : 0) + headBytes(data.length) + data.length;
  if (length > into.length) return undefined;
  let at = writeHead(into, 0, ARRAY, request ? 4 : 3);
  at = writeHead(into, at, BYTES, app.length);
  into.set(app, at);
  at = writeHead(into, at + app.length, UINT, port);
  if (request) at = writeHead(into, at, UINT, requestId);
  at = writeHead(into, at, BYTES, data.length);
  into.set(data, at);
  return into.subarray(0, at + data.length);
}

/** [requestId, ok, data] into `into`, or undefined (see writeAppPayload). */
export function writeResponsePayload(into: Uint8Array, requestId: number, ok: boolean, data: Uint8Array): Uint8Array | undefined {
  if (!safeUint(requestId)) return undefined;
  const length = 1 + headBytes(requestId) + 1 + headBytes(data.length) + data.length;
  if (length > into.length) return undefined;
  let at = writeHead(into, 0, ARRAY, 3);
  at = writeHead(into, at, UINT, requestId);
  into[at++] = ok ? TRUE : FALSE;
  at = writeHead(into, at, BYTES, data.length);
  into.set(data, at);
  return into.subarray(0, at + data.length);
}

/**
 * A cursor over one payload. Module state rather than an object per read: the readers below run
 * to completion without calling out, so one position serves them all.
 */
let pos = 0;

/** The argument of a minimal head of `major` at `pos` (advanced past it), or -1. */
function head(b: Uint8Array, major: number): number {
  const first = b[pos];
  if (first === undefined || first >> 5 !== major) return -1;
  const info = first & 31;
  if (info < 24) {
    pos += 1;
    return info;
  }
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (size === 0 || pos + 1 + size > b.length) return -1;
  let n = 0;
  for (let i = 1; i <= size; i++) n = n * 256 + b[pos + i]!;
  // Minimal only (what strict cborg requires), and no integer past 2^53 - 1 (it refuses those).
  if (n < (size === 1 ? 24 : size === 2 ? 0x100 : size === 4 ? 0x10000 : TWO_32) || n > Number.MAX_SAFE_INTEGER) return -1;
  pos += 1 + size;
  return n;
}

/** A byte string at `pos` as a view into `b`, or undefined. */
function bytes(b: Uint8Array): Uint8Array | undefined {
  const n = head(b, BYTES);
  if (n < 0 || pos + n > b.length) return undefined;
  const view = b.subarray(pos, pos + n);
  pos += n;
  return view;
}

/** A Data payload [app, port, data] in the exact shape above, byte strings as views into `b`; else undefined. */
export function readDataPayload(b: Uint8Array): { app: Uint8Array; port: number; data: Uint8Array } | undefined {
  pos = 0;
  if (head(b, ARRAY) !== 3) return undefined;
  const app = bytes(b);
  const port = head(b, UINT);
  const data = bytes(b);
  if (!app || port < 0 || !data || pos !== b.length) return undefined;
  return { app, port, data };
}

/** A Request payload [app, port, requestId, data] in the exact shape above, byte strings as views into `b`; else undefined. */
export function readRequestPayload(b: Uint8Array): { app: Uint8Array; port: number; requestId: number; data: Uint8Array } | undefined {
  pos = 0;
  if (head(b, ARRAY) !== 4) return undefined;
  const app = bytes(b);
  const port = head(b, UINT);
  const requestId = head(b, UINT);
  const data = bytes(b);
  if (!app || port < 0 || requestId < 0 || !data || pos !== b.length) return undefined;
  return { app, port, requestId, data };
}

/** A Response payload [requestId, ok, data] in the exact shape above, `data` a view into `b`; else undefined. */
export function readResponsePayload(b: Uint8Array): { requestId: number; ok: boolean; data: Uint8Array } | undefined {
  pos = 0;
  if (head(b, ARRAY) !== 3) return undefined;
  const requestId = head(b, UINT);
  const flag = b[pos++];
  const data = bytes(b);
  if (requestId < 0 || (flag !== TRUE && flag !== FALSE) || !data || pos !== b.length) return undefined;
  return { requestId, ok: flag === TRUE, data };
}

const isBytesData = (d: AppData): d is Uint8Array => d instanceof Uint8Array;
const isPort = (n: number): boolean => n <= MAX_PORT;

/**
 * Payload's data, request and response, as the data plane calls them (`into` its scratch buffer,
 * decoding with views): this file's one pass first, Payload's for anything else.
 */
export const FastPayload = {
  data: {
    encode: (p: DataPayload, into: Uint8Array): Uint8Array => (isBytesData(p.data) && writeAppPayload(into, p.app, p.port, undefined, p.data)) || Payload.data.encode(p, into),
    decode: (b: Uint8Array): DataPayload | undefined => {
      const f = readDataPayload(b);
      return f && isAppId(f.app) && isPort(f.port) ? f : Payload.data.decode(b, true);
    },
  },
  request: {
    encode: (p: RequestPayload, into: Uint8Array): Uint8Array => (isBytesData(p.data) && writeAppPayload(into, p.app, p.port, p.requestId, p.data)) || Payload.request.encode(p, into),
    decode: (b: Uint8Array): RequestPayload | undefined => {
      const f = readRequestPayload(b);
      return f && isAppId(f.app) && isPort(f.port) ? f : Payload.request.decode(b, true);
    },
  },
  response: {
    encode: (p: ResponsePayload, into: Uint8Array): Uint8Array =>
      (!(p.code !== undefined && !p.ok) && isBytesData(p.data) && writeResponsePayload(into, p.requestId, p.ok, p.data)) || Payload.response.encode(p, into),
    decode: (b: Uint8Array): ResponsePayload | undefined => readResponsePayload(b) ?? Payload.response.decode(b, true),
  },
};
