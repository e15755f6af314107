/**
 * How a browser node gets ICE servers (STUN, TURN with credentials) from a server node over
 * the mesh: a request to ICE_CONFIG_PORT of a node that advertises ICE_CAP; the reply is JSON.
 * The shapes are checked here, on the receiving side, so a bad reply is a counted drop and
 * never reaches an RTCPeerConnection.
 */

/** The capability of a node that answers ICE config requests (server nodes that listen). */
export const ICE_CAP = 'ice';
/**
 * The wire port of ICE config requests. Wire port 65535 is local port 255 of the named-app slot
 * 255 (src/browser/apps.ts): on server nodes it is reserved for this service.
 */
export const ICE_CONFIG_PORT = 65535;
export const ICE_CONFIG_ASK = 'ice-config/1';

export interface IceServerEntry {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface IceConfigReply {
  iceServers: IceServerEntry[];
  /** How long the credentials stay valid; ask again before then. */
  ttlSeconds: number;
}

const MAX_SERVERS = 16;
const MAX_URLS = 16;
const MAX_TEXT = 512;
const ICE_URL = /^(stun|stuns|turn|turns):[^\s]+$/i;

const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT;

/** The reply if `data` is a well-formed one, else undefined. */
export function parseIceConfig(data: unknown): IceConfigReply | undefined {
  if (typeof data !== 'string' || data.length > 16_384) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { iceServers, ttlSeconds } = v as { iceServers?: unknown; ttlSeconds?: unknown };
  if (!Number.isInteger(ttlSeconds) || (ttlSeconds as number) < 10 || (ttlSeconds as number) > 30 * 86_400) return undefined;
  if (!Array.isArray(iceServers) || iceServers.length > MAX_SERVERS) return undefined;
  const servers: IceServerEntry[] = [];
  for (const s of iceServers as unknown[]) {
    if (typeof s !== 'object' || s === null) return undefined;
    const { urls, username, credential } = s as Record<string, unknown>;
    if (!Array.isArray(urls) || urls.length === 0 || urls.length > MAX_URLS || !urls.every((u) => text(u) && ICE_URL.test(u))) return undefined;
    if ((username !== undefined && !text(username)) || (credential !== undefined && !text(credential))) return undefined;
    servers.push({ urls: urls as string[], ...(username === undefined ? {} : { username }), ...(credential === undefined ? {} : { credential }) });
  }
  return { iceServers: servers, ttlSeconds: ttlSeconds as number };
}

/**
 * stun:host:port for a server's ws:// or wss:// URL: the same host and port number, over UDP
 * (where `meshwork serve` answers STUN). Undefined for anything else.
 */
export function stunUrlFor(wsUrl: string): string | undefined {
  const m = /^(wss?):\/\/(?:[^@/]*@)?(\[[0-9a-f:.]+\]|[^/:?#[\]]+)(?::(\d{1,5}))?(?:[/?#]|$)/i.exec(wsUrl);
  if (!m) return undefined;
  const port = m[3] ?? (m[1]!.toLowerCase() === 'wss' ? '443' : '80');
  return `stun:${m[2]!.toLowerCase()}:${port}`;
}
