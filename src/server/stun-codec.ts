/**
 * A small STUN codec (RFC 8489), enough to answer Binding requests: a browser behind a NAT
 * asks "what address do you see me at?" and uses the answer (its server-reflexive candidate)
 * for hole punching. Pure: bytes in, bytes out, no sockets, so the fuzzer drives it directly.
 *
 * Nothing here throws on bad input: `answerStun` returns either a reply or a drop reason, and
 * the caller counts the drop. We never authenticate (a Binding answer tells the asker only
 * its own address), so MESSAGE-INTEGRITY and friends are accepted and ignored.
 */

export const STUN_MAGIC_COOKIE = 0x2112a442;
const HEADER = 20;
/** Binding requests are tens of bytes; anything near a full datagram is not one. */
export const STUN_MAX_BYTES = 1280;

export const StunMethod = { Binding: 0x001 } as const;
export const StunAttr = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Realm: 0x0014,
  Nonce: 0x0015,
  MessageIntegritySha256: 0x001c,
  PasswordAlgorithm: 0x001d,
  Userhash: 0x001e,
  XorMappedAddress: 0x0020,
  Priority: 0x0024,
  UseCandidate: 0x0025,
  Software: 0x8022,
  Fingerprint: 0x8028,
} as const;

/** Comprehension-required attributes (below 0x8000) we understand, even if we ignore them. */
const UNDERSTOOD = new Set<number>([
  StunAttr.MappedAddress,
  StunAttr.Username,
  StunAttr.MessageIntegrity,
  StunAttr.ErrorCode,
  StunAttr.UnknownAttributes,
  StunAttr.Realm,
  StunAttr.Nonce,
  StunAttr.MessageIntegritySha256,
  StunAttr.PasswordAlgorithm,
  StunAttr.Userhash,
  StunAttr.XorMappedAddress,
  StunAttr.Priority,
  StunAttr.UseCandidate,
]);

export type StunClass = 'request' | 'indication' | 'success' | 'error';

export interface StunAttribute {
  type: number;
  value: Uint8Array;
}

export interface StunMessage {
  cls: StunClass;
  method: number;
  transactionId: Uint8Array;
  attributes: StunAttribute[];
}

/** Every reason a datagram is not answered. A new reason must be added here (the fuzz test checks). */
export const STUN_DROP_REASONS = [
  'truncated',
  'oversize',
  'not-stun',
  'bad-length',
  'bad-attribute',
  'bad-fingerprint',
  'not-a-request',
  'unknown-method',
  'bad-address',
] as const;
export type StunDropReason = (typeof STUN_DROP_REASONS)[number];

export type StunDecoded = { ok: true; value: StunMessage } | { ok: false; reason: StunDropReason };

/** Where a datagram came from, as the socket reports it. */
export interface StunPeer {
  address: string;
  port: number;
}

const CLASSES: StunClass[] = ['request', 'indication', 'success', 'error'];

export function decodeStun(b: Uint8Array): StunDecoded {
  if (b.length < HEADER) return { ok: false, reason: 'truncated' };
  if (b.length > STUN_MAX_BYTES) return { ok: false, reason: 'oversize' };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = v.getUint16(0);
  // The top two bits of every STUN message are zero and the cookie is fixed: that is how STUN
  // tells itself apart from anything else arriving on the port.
  if (type & 0xc000 || v.getUint32(4) !== STUN_MAGIC_COOKIE) return { ok: false, reason: 'not-stun' };
  const length = v.getUint16(2);
  if (length % 4 !== 0 || length !== b.length - HEADER) return { ok: false, reason: 'bad-length' };
  const cls = CLASSES[((type >> 4) & 1) | ((type >> 7) & 2)]!;
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  const attributes: StunAttribute[] = [];
  let at = HEADER;
  while (at < b.length) {
    if (at + 4 > b.length) return { ok: false, reason: 'bad-attribute' };
    const t = v.getUint16(at);
    const len = v.getUint16(at + 2);
    const end = at + 4 + len;
    if (end > b.length) return { ok: false, reason: 'bad-attribute' };
    if (t === StunAttr.Fingerprint) {
      // FINGERPRINT is always last, and covers everything before it.
      if (len !== 4 || end !== b.length) return { ok: false, reason: 'bad-fingerprint' };
      if (v.getUint32(at + 4) !== fingerprintOf(b.subarray(0, at))) return { ok: false, reason: 'bad-fingerprint' };
    }
    attributes.push({ type: t, value: b.slice(at + 4, end) });
    at = end + ((4 - (len % 4)) % 4);
  }
  if (at !== b.length) return { ok: false, reason: 'bad-attribute' };
  return { ok: true, value: { cls, method, transactionId: b.slice(8, 20), attributes } };
}

/** Encodes a message; with `fingerprint`, appends a FINGERPRINT attribute (what browsers send too). */
export function encodeStun(m: StunMessage, fingerprint = true): Uint8Array {
  const body = m.attributes.reduce((n, a) => n + 4 + pad4(a.value.length), 0);
  const out = new Uint8Array(HEADER + body + (fingerprint ? 8 : 0));
  const v = new DataView(out.buffer);
  const c = CLASSES.indexOf(m.cls);
  const type = (m.method & 0x000f) | ((m.method & 0x0070) << 1) | ((m.method & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7);
  v.setUint16(0, type);
  v.setUint16(2, out.length - HEADER);
  v.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(m.transactionId.subarray(0, 12), 8);
  let at = HEADER;
  for (const a of m.attributes) {
    v.setUint16(at, a.type);
    v.setUint16(at + 2, a.value.length);
    out.set(a.value, at + 4);
    at += 4 + pad4(a.value.length);
  }
  if (fingerprint) {
    v.setUint16(at, StunAttr.Fingerprint);
    v.setUint16(at + 2, 4);
    v.setUint32(at + 4, fingerprintOf(out.subarray(0, at)));
  }
  return out;
}

/**
 * The server's whole job: a Binding request gets a success response carrying the sender's
 * address in XOR-MAPPED-ADDRESS; a request naming comprehension-required attributes we do not
 * know gets error 420 listing them (RFC 8489 section 6.3.1); anything else is dropped.
 */
export function answerStun(bytes: Uint8Array, from: StunPeer): { reply: Uint8Array } | { drop: StunDropReason } {
  const d = decodeStun(bytes);
  if (!d.ok) return { drop: d.reason };
  const m = d.value;
  if (m.cls !== 'request') return { drop: 'not-a-request' };
  if (m.method !== StunMethod.Binding) return { drop: 'unknown-method' };
  const unknown = m.attributes.map((a) => a.type).filter((t) => t < 0x8000 && !UNDERSTOOD.has(t));
  if (unknown.length > 0) {
    return { reply: encodeStun({ cls: 'error', method: m.method, transactionId: m.transactionId, attributes: [errorCode(420, 'Unknown Attribute'), unknownAttributes(unknown)] }) };
  }
  const address = xorMappedAddress(from, m.transactionId);
  if (!address) return { drop: 'bad-address' };
  return { reply: encodeStun({ cls: 'success', method: m.method, transactionId: m.transactionId, attributes: [address] }) };
}

/** A Binding request, as a client sends it (tests and the lab use it to ask our server). */
export function bindingRequest(transactionId: Uint8Array): Uint8Array {
  return encodeStun({ cls: 'request', method: StunMethod.Binding, transactionId, attributes: [] });
}

/** Reads XOR-MAPPED-ADDRESS out of a success response: the address the server saw. */
export function readXorMappedAddress(m: StunMessage): StunPeer | undefined {
  const a = m.attributes.find((x) => x.type === StunAttr.XorMappedAddress);
  if (!a || a.value.length < 8) return undefined;
  const family = a.value[1];
  const port = ((a.value[2]! << 8) | a.value[3]!) ^ (STUN_MAGIC_COOKIE >>> 16);
  const mask = xorMask(m.transactionId);
  if (family === 1 && a.value.length === 8) return { address: [0, 1, 2, 3].map((i) => a.value[4 + i]! ^ mask[i]!).join('.'), port };
  if (family === 2 && a.value.length === 20) {
    const raw = Array.from({ length: 16 }, (_, i) => a.value[4 + i]! ^ mask[i]!);
    const groups = Array.from({ length: 8 }, (_, i) => ((raw[2 * i]! << 8) | raw[2 * i + 1]!).toString(16));
    return { address: groups.join(':'), port };
  }
  return undefined;
}

function xorMappedAddress(from: StunPeer, transactionId: Uint8Array): StunAttribute | undefined {
  const ip = parseIp(from.address);
  if (!ip || !Number.isInteger(from.port) || from.port < 0 || from.port > 65535) return undefined;
  const mask = xorMask(transactionId);
  const value = new Uint8Array(4 + ip.length);
  value[1] = ip.length === 4 ? 1 : 2;
  const xport = from.port ^ (STUN_MAGIC_COOKIE >>> 16);
  value[2] = xport >> 8;
  value[3] = xport & 0xff;
  for (let i = 0; i < ip.length; i++) value[4 + i] = ip[i]! ^ mask[i]!;
  return { type: StunAttr.XorMappedAddress, value };
}

/** The cookie followed by the transaction id: what addresses are XORed with. */
function xorMask(transactionId: Uint8Array): Uint8Array {
  const mask = new Uint8Array(16);
  new DataView(mask.buffer).setUint32(0, STUN_MAGIC_COOKIE);
  mask.set(transactionId.subarray(0, 12), 4);
  return mask;
}

function errorCode(code: number, reason: string): StunAttribute {
  const text = new TextEncoder().encode(reason);
  const value = new Uint8Array(4 + text.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(text, 4);
  return { type: StunAttr.ErrorCode, value };
}

function unknownAttributes(types: number[]): StunAttribute {
  const value = new Uint8Array(2 * types.length);
  types.forEach((t, i) => new DataView(value.buffer).setUint16(2 * i, t));
  return { type: StunAttr.UnknownAttributes, value };
}

/**
 * An IPv4 or IPv6 address in bytes, or undefined. An IPv4-mapped IPv6 address (a dual-stack
 * socket's view of an IPv4 sender) is answered as the IPv4 address the sender knows itself by.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped) return parseIp(mapped[1]!);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) {
    const parts = text.split('.').map(Number);
    return parts.every((p) => p <= 255) ? Uint8Array.from(parts) : undefined;
  }
  const bare = text.replace(/%.*$/, ''); // a zone index (fe80::1%eth0) is local to the sender
  if (!/^[0-9a-f:]+$/i.test(bare) || bare.length > 39) return undefined;
  const halves = bare.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  if (all.some((g) => g.length === 0 || g.length > 4)) return undefined;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (the ISO HDLC one zlib uses) XORed with "STUN", as RFC 8489 section 14.7 defines. */
function fingerprintOf(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return ((c ^ 0xffffffff) ^ 0x5354554e) >>> 0;
}
