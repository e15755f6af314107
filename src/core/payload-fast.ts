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
import { ARRAY, BYTES, headBytes, readByte, readBytes, readHead, seek, tell, UINT, writeHead } from './cbor-head.js';
import { type AppData, type DataPayload, MAX_PORT, Payload, type RequestPayload, type ResponsePayload } from './payloads.js';

const FALSE = 0xf4;
const TRUE = 0xf5;

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

/** A Data payload [app, port, data] in the exact shape above, byte strings as views into `b`; else undefined. */
export function readDataPayload(b: Uint8Array): { app: Uint8Array; port: number; data: Uint8Array } | undefined {
  seek(0);
  if (readHead(b, ARRAY) !== 3) return undefined;
  const app = readBytes(b);
  const port = readHead(b, UINT);
  const data = readBytes(b);
  if (!app || port < 0 || !data || tell() !== b.length) return undefined;
  return { app, port, data };
}

/** A Request payload [app, port, requestId, data] in the exact shape above, byte strings as views into `b`; else undefined. */
export function readRequestPayload(b: Uint8Array): { app: Uint8Array; port: number; requestId: number; data: Uint8Array } | undefined {
  seek(0);
  if (readHead(b, ARRAY) !== 4) return undefined;
  const app = readBytes(b);
  const port = readHead(b, UINT);
  const requestId = readHead(b, UINT);
  const data = readBytes(b);
  if (!app || port < 0 || requestId < 0 || !data || tell() !== b.length) return undefined;
  return { app, port, requestId, data };
}

/** A Response payload [requestId, ok, data] in the exact shape above, `data` a view into `b`; else undefined. */
export function readResponsePayload(b: Uint8Array): { requestId: number; ok: boolean; data: Uint8Array } | undefined {
  seek(0);
  if (readHead(b, ARRAY) !== 3) return undefined;
  const requestId = readHead(b, UINT);
  const flag = readByte(b);
  const data = readBytes(b);
  if (requestId < 0 || (flag !== TRUE && flag !== FALSE) || !data || tell() !== b.length) return undefined;
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
