/**
 * Links per network address, against eclipse by one host: without a cap, one machine running
 * many identities could fill a node's whole link budget. The "network address" of a link is
 * what the transport knows of the far end: the IP of a WebSocket peer (an IPv6 /64 counts as
 * one address, since one host commonly holds the whole prefix), the host of a ws:// URL we
 * dialled, or a memory address in the simulator. Links with no known address (WebRTC links
 * brokered by a tab, MessagePort pipes) are not capped: the worker does not learn the peer's
 * IP. Loopback is not capped either: behind a reverse proxy every client arrives from
 * 127.0.0.1, and local tests run many nodes there.
 */
import type { Session } from './session.js';

// Declared here so core compiles without DOM types; every JavaScript runtime we target has it.
declare const URL: { new (url: string): { hostname: string } };

/** Default most links from one network address. */
export const DEFAULT_MAX_LINKS_PER_ADDRESS = 16;

/** The address `remote` counts under, or undefined when it is not capped. */
export function networkAddressOf(remote: string | undefined): string | undefined {
  if (!remote) return undefined;
  if (remote.startsWith('mem:')) return remote;
  let host = remote;
  if (remote.includes('://')) {
    try {
      host = new URL(remote).hostname;
    } catch {
      return undefined;
    }
  }
  host = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (host.startsWith('::ffff:') && host.includes('.')) host = host.slice(7); // IPv4 mapped into IPv6
  if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return undefined;
  if (host.includes(':')) return `${expandIpv6(host).slice(0, 4).join(':')}::/64`;
  return host;
}

/** How many of `links` count under `address`. */
export function linksFrom(links: Iterable<Session>, address: string): number {
  let n = 0;
  for (const s of links) if (networkAddressOf(s.link.remoteAddress) === address) n++;
  return n;
}

function expandIpv6(host: string): string[] {
  const [head = '', tail] = host.split('::');
  const a = head ? head.split(':') : [];
  const b = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(Math.max(0, 8 - a.length - b.length)).fill('0');
  return [...a, ...zeros, ...b].map((g) => g.replace(/^0+(?=.)/, ''));
}
