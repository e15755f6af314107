/**
 * The ICE servers this browser node's PeerConnections use, unless the page passed its own
 * (`connect({ rtc })`). Until a server answers, the default is STUN at every bootstrap server
 * (stun:host:port: `meshwork serve` answers STUN on its HTTP port number), which is all two
 * homes behind ordinary NAT routers need. Then it asks a server node over the mesh (a request
 * to ICE_CONFIG_PORT of a node with ICE_CAP: a linked one first, else one from memory, routed)
 * and uses its list, TURN credentials included, asking again before they expire.
 */
import { ICE_CAP, ICE_CONFIG_ASK, ICE_CONFIG_PORT, parseIceConfig, stunUrlFor, type IceServerEntry } from '../core/ice-protocol.js';
import type { MeshNode } from '../core/node.js';

const ASK_TIMEOUT_MS = 5_000;
/** After a failed ask: try again this much later (doubling up to RETRY_MAX_MS). */
const RETRY_MS = 5_000;
const RETRY_MAX_MS = 120_000;

export interface IceStatus {
  /** The node the current list came from; undefined while on the bootstrap defaults. */
  from?: string;
  servers: IceServerEntry[];
  /** Wall-clock ms when the list is asked for again. */
  renewAt?: number;
  asks: number;
  failures: number;
}

export class IceClient {
  private defaults: IceServerEntry[] = [];
  private got?: { from: string; servers: IceServerEntry[]; renewAt: number };
  private asking?: Promise<void>;
  private timer?: ReturnType<typeof setTimeout>;
  private retryMs = RETRY_MS;
  private asks = 0;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly node: () => MeshNode | undefined,
    private readonly onDrop: (reason: string) => void = () => undefined,
  ) {}

  /** A bootstrap server's URL: its STUN joins the defaults. */
  addBootstrap(wsUrl: string): void {
    const stun = stunUrlFor(wsUrl);
    if (!stun || this.defaults.some((d) => d.urls.includes(stun))) return;
    this.defaults = [{ urls: [...(this.defaults[0]?.urls ?? []), stun] }];
  }

  /** What a PeerConnection made now should use. */
  servers(): IceServerEntry[] {
    return this.got?.servers ?? this.defaults;
  }

  /** Waits up to `ms` for an ask in flight, so the first dials use what a server handed out. */
  async ready(ms: number): Promise<void> {
    if (!this.asking) return;
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.asking, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
  }

  /** A link came up: if we have no list yet and the peer hands them out, ask it now. */
  linkUp(id: string): void {
    if (this.got || this.asking || this.stopped) return;
    if (this.node()?.memory.get(id)?.caps.includes(ICE_CAP)) void this.ask();
  }

  status(): IceStatus {
    return { from: this.got?.from, servers: this.servers(), renewAt: this.got?.renewAt, asks: this.asks, failures: this.failures };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Asks one server; on success schedules the renewal, on failure a retry with a growing pause. */
  ask(): Promise<void> {
    this.asking ??= this.askOnce().finally(() => (this.asking = undefined));
    return this.asking;
  }

  private async askOnce(): Promise<void> {
    const node = this.node();
    const target = node && this.pickServer(node);
    if (!node || !target) return this.later(this.retryMs);
    this.asks++;
    try {
      const reply = parseIceConfig(await node.request(target, ICE_CONFIG_ASK, { port: ICE_CONFIG_PORT, timeoutMs: ASK_TIMEOUT_MS }));
      if (!reply) {
        this.onDrop('ice:bad-config');
        throw new Error('bad ICE config');
      }
      // Ask again at four fifths of the lifetime, so a PeerConnection made late still has time left.
      const renewInMs = reply.ttlSeconds * 800;
      this.got = { from: target, servers: reply.iceServers, renewAt: Date.now() + renewInMs };
      this.retryMs = RETRY_MS;
      this.later(renewInMs);
    } catch {
      this.failures++;
      this.later(this.retryMs);
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    }
  }

  private later(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.ask(), ms);
  }

  /** A linked server first (one hop), else the most recently useful server in memory (routed). */
  private pickServer(node: MeshNode): string | undefined {
    const has = (id: string) => node.memory.get(id)?.caps.includes(ICE_CAP) === true;
    const linked = node.linkIds().filter(has);
    if (this.got && linked.includes(this.got.from)) return this.got.from;
    if (linked.length > 0) return linked[0];
    return node.memory.mostRecentlyUseful(64).find((r) => r.caps.includes(ICE_CAP))?.id;
  }
}
