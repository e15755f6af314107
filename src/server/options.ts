/** The options of startNode, checked up front so a mistake fails with one clear sentence. */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MeshError } from '../core/errors.js';
import { checkPowBits } from '../core/pow.js';
import type { MeshNodeOptions } from '../core/node.js';
import { isWebSocketUrl } from '../transports/websocket-node.js';
import { checkIceOptions } from './ice-config.js';

export interface StartNodeOptions {
  /** TCP port for HTTP and the WebSocket endpoint (0 picks a free one). Without it the node only dials out. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1 (this machine only). */
  host?: string;
  /** ws:// or wss:// URLs of servers to join through (needed only on the very first start). */
  peers?: string[];
  /** Directory for the identity key and peer memory. Without it both live in memory only and are lost on stop. */
  dataDir?: string;
  /** Directory served at `/`. Without it `/` shows a small built-in status page. */
  static?: string;
  /**
   * Send static files and the browser bundle in brotli or gzip to browsers that accept it, each
   * file compressed once and kept (at most 32 MB of copies). Default true; false where a proxy in
   * front compresses already.
   */
  compress?: boolean;
  /** Browser origins allowed to open the mesh endpoint (e.g. https://example.com). Default: any. */
  allowOrigins?: string[];
  /**
   * App origins allowed to use this server's hub page (/meshwork/hub.html) from an iframe, e.g.
   * https://chat.example. Default: none (only the server's own origin). `['*']` opens the hub to
   * every origin, which lends any site this origin's browser node (docs/SECURITY.md, "Origin isolation").
   */
  allowAppOrigins?: string[];
  /** Most links kept at once. Default 256. */
  linkBudget?: number;
  /** The URL others should dial to reach this node, when it differs from ws://host:port/mesh (proxies, 0.0.0.0). */
  publicUrl?: string;
  /**
   * Answer STUN binding requests on UDP at the same port number as HTTP, so browsers behind NAT
   * learn their public address from this server (docs/NETWORKS.md). Default true when listening.
   */
  stun?: boolean;
  /**
   * stun:, turn: and turns: URLs handed to browser nodes that ask this server (over the mesh),
   * after this server's own STUN. TURN URLs need `turnSecret`.
   */
  iceServers?: string[];
  /** The TURN REST shared secret (coturn's static-auth-secret): TURN credentials are made from it per browser node. */
  turnSecret?: string;
  /** Lifetime of the TURN credentials handed out. Default 3 600 s; browsers ask again before it ends. */
  turnTtlSeconds?: number;
  /**
   * Serve https:// and wss:// on the one port with this certificate (PEM, the chain after the
   * leaf) and its private key (PEM). Without it the port speaks plain http:// and ws://.
   */
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
  /**
   * Certificates (PEM) of authorities trusted, besides Node's built-in list, when dialling wss://
   * peers: for servers whose certificates a private CA signed.
   */
  ca?: string | Uint8Array | (string | Uint8Array)[];
  /** How long one outgoing dial may take. Default 5 000 ms. */
  dialTimeoutMs?: number;
  /** End-to-end encryption of datagrams, requests and replies (docs/ENCRYPTION.md). Default true. */
  encryption?: boolean;
  /** Never send or accept application payloads in the clear (ENCRYPTION_UNAVAILABLE instead). Default false. */
  requireEncryption?: boolean;
  /** Receives non-fatal problems (a corrupt peers file set aside). Default: process.emitWarning. */
  onWarning?: (message: string) => void;
  /**
   * Proof of work asked of every peer's key, and generated for a new identity of ours (about
   * 2^powBits key generations; see docs/SECURITY.md). Default 0. Every node of a mesh must agree.
   */
  powBits?: number;
  /** Advanced: timings and abuse limits passed to the core MeshNode (tests shorten them; see docs/SECURITY.md). */
  tuning?: Pick<
    MeshNodeOptions,
    'maintainMs' | 'keepaliveMs' | 'handshakeTimeoutMs' | 'requestTimeoutMs' | 'saveDelayMs' | 'subscribeRefreshMs' | 'rateLimits' | 'maxLinksPerAddress'
  >;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_LINK_BUDGET = 256;

/**
 * Throws MeshError INVALID_ARGUMENT for the first bad option; returns the normalised origins.
 * `appOrigins` is null for a hub open to every origin (`'*'`), else the list (empty: closed).
 */
export async function checkOptions(o: StartNodeOptions): Promise<{ origins?: Set<string>; appOrigins: string[] | null }> {
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)) {
    throw MeshError.invalid(`port must be a whole number from 0 to 65535, got ${String(o.port)}`);
  }
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host.length === 0)) throw MeshError.invalid('host must be a non-empty string');
  for (const p of o.peers ?? []) if (!isWebSocketUrl(p)) throw MeshError.invalid(`peer "${p}" is not a ws:// or wss:// URL`);
  if (o.publicUrl !== undefined && !isWebSocketUrl(o.publicUrl)) throw MeshError.invalid(`publicUrl "${o.publicUrl}" is not a ws:// or wss:// URL`);
  if (o.linkBudget !== undefined && (!Number.isInteger(o.linkBudget) || o.linkBudget < 2)) {
    throw MeshError.invalid(`linkBudget must be a whole number of at least 2, got ${String(o.linkBudget)}`);
  }
  if (o.powBits !== undefined) checkPowBits(o.powBits);
  checkIceOptions(o.iceServers, o.turnSecret);
  if (o.turnTtlSeconds !== undefined && (!Number.isInteger(o.turnTtlSeconds) || o.turnTtlSeconds < 60 || o.turnTtlSeconds > 7 * 86_400)) {
    throw MeshError.invalid(`turnTtlSeconds must be a whole number from 60 to 604800, got ${String(o.turnTtlSeconds)}`);
  }
  if (o.tls !== undefined && (!isPem(o.tls.cert) || !isPem(o.tls.key))) throw MeshError.invalid('tls needs both cert and key, as PEM text');
  if (o.ca !== undefined && ![o.ca].flat().every(isPem)) throw MeshError.invalid('ca must be PEM text (or a list of them)');
  if (o.static !== undefined) {
    const s = await stat(resolve(o.static)).catch(() => undefined);
    if (!s?.isDirectory()) throw MeshError.invalid(`static dir ${resolve(o.static)} does not exist or is not a directory`);
  }
  const appOrigins = checkAppOrigins(o.allowAppOrigins ?? []);
  if (!o.allowOrigins) return { appOrigins };
  return { origins: new Set(o.allowOrigins.map(normaliseOrigin)), appOrigins };
}

/** The hub's allow list: closed when empty, open to all with '*' (which then stands alone). */
function checkAppOrigins(list: string[]): string[] | null {
  if (!list.includes('*')) return [...new Set(list.map(normaliseOrigin))];
  if (list.length > 1) throw MeshError.invalid(`allowed app origin "*" opens the hub to every origin: it cannot be combined with a list`);
  return null;
}

/** "https://Example.com/" and "https://example.com" name the same origin: compare the normal form. */
function normaliseOrigin(text: string): string {
  try {
    const u = new URL(text);
    if ((u.protocol === 'http:' || u.protocol === 'https:') && u.pathname === '/' && !u.search && !u.hash) return u.origin;
  } catch {
    // fall through to the error
  }
  throw MeshError.invalid(`allowed origin "${text}" is not an origin such as https://example.com`);
}

function isPem(v: unknown): boolean {
  const text = typeof v === 'string' ? v : v instanceof Uint8Array ? new TextDecoder().decode(v) : '';
  return text.includes('-----BEGIN ');
}

/** The ws:// (wss:// with TLS) URL of a listener, with IPv6 literals bracketed and wildcard hosts made dialable locally. */
export function listenerUrl(host: string, port: number, tls = false): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `${tls ? 'wss' : 'ws'}://${h.includes(':') ? `[${h}]` : h}:${port}/mesh`;
}
