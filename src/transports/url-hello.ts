/**
 * The dialler's hello in the WebSocket upgrade request (issue 14): `?hello=<base64url of the
 * encoded hello frame>`, with the subprotocols `meshwork` and `meshwork-hello` offered in that
 * order. A server that took the hello selects `meshwork-hello` and treats the bytes as the link's
 * first frame, so its hello and proof leave right after the 101: the dialler's link is up a round
 * trip sooner than when its hello went as the first frame of the open socket.
 *
 * Wire compatibility: an older Meshwork server ignores the query and, like any `ws` server
 * without a protocol hook, selects the first protocol offered (`meshwork`): the dialler then
 * sends its hello as a frame, as before. A browser fails a socket whose server selects none of
 * the protocols it offered, so `meshwork` always comes first. An older client sends neither.
 *
 * Nothing new is trusted: the URL's hello is the same unauthenticated claim the frame was, and
 * both proofs still follow it. Uses no Node API (the browser's dialer uses it too).
 */

export const HELLO_PROTOCOL = 'meshwork-hello';
/** Offered first: what a server that does not take URL hellos selects (see the file comment). */
export const PLAIN_PROTOCOL = 'meshwork';
/** The protocols a dialler with a hello in its URL offers, in this order. */
export const HELLO_PROTOCOLS = [PLAIN_PROTOCOL, HELLO_PROTOCOL];
/** Longest hello a server takes from a URL, decoded: a key, a nonce, a few caps and addresses. */
export const MAX_URL_HELLO_BYTES = 1024;
const PARAM = 'hello';

/** `addr` with the hello in its query (any query it had is kept). */
export function helloUrl(addr: string, hello: Uint8Array): string {
  const u = new URL(addr);
  u.searchParams.set(PARAM, toBase64Url(hello));
  return u.toString();
}

/**
 * The hello in an upgrade request's path and query: undefined when there is none, an error's
 * reason when it is malformed or over MAX_URL_HELLO_BYTES.
 */
export function urlHello(pathAndQuery: string): Uint8Array | { error: string } | undefined {
  const q = pathAndQuery.indexOf('?');
  if (q < 0) return undefined;
  const text = new URLSearchParams(pathAndQuery.slice(q + 1)).get(PARAM);
  if (text === null) return undefined;
  // Checked before decoding: 4 characters carry 3 bytes.
  if (text.length > Math.ceil((MAX_URL_HELLO_BYTES * 4) / 3)) return { error: `the hello in the URL exceeds ${MAX_URL_HELLO_BYTES} bytes` };
  const bytes = fromBase64Url(text);
  if (!bytes || bytes.length === 0) return { error: 'the hello in the URL is not base64url' };
  return bytes;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 4) / 3));
    for (let k = 0; k < chars; k++) out += ALPHABET[(n >> (18 - 6 * k)) & 63];
  }
  return out;
}

/** Unpadded base64url only; undefined for anything else (a length of 1 mod 4 included). */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let j = 0;
  for (let i = 0; i < text.length; i++) {
    const v = ALPHABET.indexOf(text.charAt(i));
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  // Leftover bits must be zero: one text per byte string, so the URL cannot vary the claim's form.
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}
