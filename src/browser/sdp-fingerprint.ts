/**
 * The DTLS certificate fingerprints a session description names (RFC 8122 `a=fingerprint`
 * lines, at session or media level), as the bytes of a channel binding (link.ts): the browser
 * checks the far end's certificate against the fingerprints of the description it was given, so
 * these bytes name the channel. Each line as `<algorithm lower case> <value upper case>`,
 * sorted and joined by newlines, so both ends derive the same bytes from the same description
 * whatever the order or case an engine writes. Undefined when it names none.
 */
import { utf8 } from '../core/bytes.js';

const LINE = /^a=fingerprint:([A-Za-z0-9-]+)[ \t]+([0-9A-Fa-f:]+)[ \t]*$/gm;
/** Far above any real description's (one or two lines of about 100 bytes): a binding stays small. */
const MAX_LINES = 8;

export function sdpFingerprints(sdp: string): Uint8Array | undefined {
  const seen = new Set<string>();
  for (const m of sdp.matchAll(LINE)) {
    seen.add(`${m[1]!.toLowerCase()} ${m[2]!.toUpperCase()}`);
    if (seen.size > MAX_LINES) return undefined;
  }
  if (seen.size === 0) return undefined;
  return utf8([...seen].sort().join('\n'));
}
