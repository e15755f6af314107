/**
 * The wire form of stream segments: the plaintext inside a sealed Stream packet (PacketKind
 * Stream), CBOR-encoded and validated as strictly as every other payload. A segment that does
 * not parse is a counted drop, never an exception.
 *
 * Every segment names its stream by the opener's stream id and by which end sent it
 * (`fromOpener`), so both ends may open streams with the same id without colliding. Open, Data
 * and Fin are sequenced: they carry a sequence number per direction, are acknowledged and are
 * sent again until they are. Ack, Probe and Reset are not sequenced.
 */
import { encode, encodeInto } from 'cborg';
import { decodeCbor, isBytes, isString, isUint } from '../codec.js';
import { isAppId } from '../app-namespace.js';
import { MAX_PORT } from '../payloads.js';

/** Largest data one segment carries: a sealed packet of it stays well under the 64 KiB payload limit. */
export const SEGMENT_BYTES = 60 * 1024;
/** Most SACK ranges one Ack carries. */
export const MAX_SACK_RANGES = 8;
/** Longest reason text a Reset carries. */
export const MAX_REASON_CHARS = 512;

export const SegmentType = {
  /** Opens a stream to a port: the opener's sequence number 0. */
  Open: 0,
  Data: 1,
  /** Ends one direction (half-close): no data follows it in that direction. */
  Fin: 2,
  /** Cumulative acknowledgement, the receive window's limit, and the ranges received above it. */
  Ack: 3,
  /** Asks for an Ack: a sender whose window is closed uses it to learn when it reopens. */
  Probe: 4,
  /** Ends the stream at once, both directions; the receiving end reports it as a MeshError. */
  Reset: 5,
} as const;

interface Head {
  sid: number;
  /** Whether the end that sent this segment opened the stream. */
  fromOpener: boolean;
}
export type Sequenced =
  | (Head & { type: typeof SegmentType.Open; seq: number; port: number; app: Uint8Array })
  | (Head & { type: typeof SegmentType.Data; seq: number; data: Uint8Array })
  | (Head & { type: typeof SegmentType.Fin; seq: number });
export type AckSegment = Head & {
  type: typeof SegmentType.Ack;
  /** Every segment below this sequence number arrived. */
  next: number;
  /** The sender may send segments below this sequence number. */
  limit: number;
  /** Ranges [start, end) received above `next`, flattened: start0, end0, start1, end1, … */
  sack: number[];
};
export type Segment =
  | Sequenced
  | AckSegment
  | (Head & { type: typeof SegmentType.Probe })
  | (Head & { type: typeof SegmentType.Reset; code: string; reason: string });

export function isSequenced(s: Segment): s is Sequenced {
  return s.type === SegmentType.Open || s.type === SegmentType.Data || s.type === SegmentType.Fin;
}

/**
 * The segment in CBOR. `into` (a tab's scratch buffer, whose bytes are copied into the packet's
 * frame before the caller returns: tab-stream-plane.ts): written there when it fits, and the
 * result is a view of it; else, and without `into`, a buffer of its own.
 */
export function encodeSegment(s: Segment, into?: Uint8Array): Uint8Array {
  const fields = segmentFields(s);
  if (into) {
    try {
      return into.subarray(0, encodeInto(fields, into).written);
    } catch {
      // Larger than the scratch buffer.
    }
  }
  return encode(fields);
}

function segmentFields(s: Segment): unknown[] {
  const head = [s.type, s.sid, s.fromOpener ? 1 : 0];
  switch (s.type) {
    case SegmentType.Open:
      return [...head, s.seq, s.port, s.app];
    case SegmentType.Data:
      return [...head, s.seq, s.data];
    case SegmentType.Fin:
      return [...head, s.seq];
    case SegmentType.Ack:
      return [...head, s.next, s.limit, s.sack];
    case SegmentType.Probe:
      return head;
    case SegmentType.Reset:
      return [...head, s.code, s.reason];
  }
}

/**
 * The segment, or the reason it is refused. `views`: its bytes (a Data segment's data, an Open's
 * app) are views into `bytes`, not copies: only for a caller that owns `bytes` and never reuses
 * them (a tab's DataChannel message: tab-stream-plane.ts).
 */
export function decodeSegment(bytes: Uint8Array, views = false): Segment | string {
  const r = decodeCbor(bytes, views);
  if (!r.ok || !Array.isArray(r.value) || r.value.length < 3) return 'stream:malformed';
  const a = r.value as unknown[];
  const [type, sid, dir] = a;
  if (!isUint(type) || !isUint(sid) || (dir !== 0 && dir !== 1)) return 'stream:malformed';
  const head = { sid, fromOpener: dir === 1 };
  switch (type) {
    case SegmentType.Open:
      if (a.length === 6 && a[3] === 0 && isUint(a[4]) && a[4] <= MAX_PORT && isAppId(a[5]) && head.fromOpener) return { ...head, type, seq: 0, port: a[4], app: a[5] };
      break;
    case SegmentType.Data:
      if (a.length === 5 && isUint(a[3]) && isBytes(a[4]) && a[4].length > 0 && a[4].length <= SEGMENT_BYTES) return { ...head, type, seq: a[3], data: a[4] };
      break;
    case SegmentType.Fin:
      if (a.length === 4 && isUint(a[3])) return { ...head, type, seq: a[3] };
      break;
    case SegmentType.Ack: {
      const [next, limit, sack] = [a[3], a[4], a[5]];
      if (a.length === 6 && isUint(next) && isUint(limit) && limit >= next && isSack(sack, next)) return { ...head, type, next, limit, sack };
      break;
    }
    case SegmentType.Probe:
      if (a.length === 3) return { ...head, type };
      break;
    case SegmentType.Reset:
      if (a.length === 5 && isString(a[3], 32) && isString(a[4], MAX_REASON_CHARS)) return { ...head, type, code: a[3], reason: a[4] };
      break;
  }
  return 'stream:malformed';
}

/** Ranges strictly above `next`, increasing, non-empty, at most MAX_SACK_RANGES. */
function isSack(v: unknown, next: number): v is number[] {
  if (!Array.isArray(v) || v.length % 2 !== 0 || v.length > 2 * MAX_SACK_RANGES) return false;
  let floor = next;
  for (let i = 0; i < v.length; i += 2) {
    const start = v[i] as unknown;
    const end = v[i + 1] as unknown;
    if (!isUint(start) || !isUint(end) || start <= floor || end <= start) return false;
    floor = end;
  }
  return true;
}
