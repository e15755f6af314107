/**
 * The ICE servers a server node hands to browser nodes over the mesh: its own STUN
 * (stun:host:port, the HTTP port number), the operator's `--ice-server` URLs, and, for TURN
 * URLs, short-lived credentials in the TURN REST convention that coturn checks with
 * `use-auth-secret` + `static-auth-secret`: username `<expiry unix seconds>:<node id>`,
 * credential base64(HMAC-SHA1(secret, username)). The secret never leaves the server.
 *
 * Browsers ask with a request to ICE_CONFIG_PORT (src/core/ice-protocol.ts); the reply is
 * end-to-end encrypted like any other, so the nodes that forward it cannot use the credential.
 */
import { createHmac } from 'node:crypto';
import { MeshError } from '../core/errors.js';
import type { IceConfigReply, IceServerEntry } from '../core/ice-protocol.js';

export { stunUrlFor } from '../core/ice-protocol.js';

/** One hour: long enough for a page visit, short enough that a leaked credential soon stops working. */
export const DEFAULT_TURN_TTL_SECONDS = 3600;

export interface IceConfigOptions {
  /** stun:host:port of this server's own STUN responder, when on. */
  ownStun?: string;
  /** The operator's stun:, turn: and turns: URLs. */
  iceServers: string[];
  turnSecret?: string;
  ttlSeconds?: number;
}

const ICE_URL = /^(stun|stuns|turn|turns):[^\s]+$/i;

/** Throws INVALID_ARGUMENT for a URL that is not stun:, turn: or turns:, or TURN without a secret. */
export function checkIceOptions(urls: string[] | undefined, turnSecret: string | undefined): void {
  for (const u of urls ?? []) {
    if (typeof u !== 'string' || !ICE_URL.test(u)) throw MeshError.invalid(`ICE server "${String(u)}" is not a stun:, turn: or turns: URL`);
    if (isTurn(u) && !turnSecret) throw MeshError.invalid(`ICE server "${u}" is TURN: it needs a TURN secret (--turn-secret) to hand out credentials`);
  }
  if (turnSecret !== undefined && (typeof turnSecret !== 'string' || turnSecret.length === 0)) throw MeshError.invalid('turnSecret must be a non-empty string');
}

const isTurn = (u: string) => /^turns?:/i.test(u);

/** The reply for node `requester` at wall-clock `nowMs`. */
export function iceConfigFor(o: IceConfigOptions, requester: string, nowMs: number): IceConfigReply {
  const ttl = o.ttlSeconds ?? DEFAULT_TURN_TTL_SECONDS;
  const servers: IceServerEntry[] = [];
  const stun = [...(o.ownStun ? [o.ownStun] : []), ...o.iceServers.filter((u) => !isTurn(u))];
  if (stun.length > 0) servers.push({ urls: stun });
  const turn = o.iceServers.filter(isTurn);
  if (turn.length > 0 && o.turnSecret) {
    const username = `${Math.floor(nowMs / 1000) + ttl}:${requester}`;
    const credential = createHmac('sha1', o.turnSecret).update(username).digest('base64');
    servers.push({ urls: turn, username, credential });
  }
  return { iceServers: servers, ttlSeconds: ttl };
}
