/**
 * A grant as the tab holds it (docs/DATA-PLANE.md, "When a grant is given and taken back"), and
 * the numbering of the tab's own request ids: what fast-path.ts and tab-relay.ts agree on.
 */
import { bytesEqual } from '../core/bytes.js';
import { idFromText } from '../core/id.js';
import { LANES, PacketSequence } from '../core/replay-guard.js';
import type { PacketHead } from '../core/sealed-frame.js';
import type { HostEvent } from './protocol.js';

export type GrantEvent = Extract<HostEvent, { ev: 'fast-grant' }>;

export interface Grant {
  key: string;
  peer: string;
  peerId: Uint8Array;
  selfId: Uint8Array;
  /** The link's channel is bound to the peer: our packets go in the clear inside it, and the peer's are taken so. */
  bound: boolean;
  /** The pair key, when the node may seal to the peer: sealed packets from it are opened here. */
  sealing?: { aes: CryptoKey; ownPublic: Uint8Array; peerPublic: Uint8Array };
  app: Uint8Array;
  seq: PacketSequence;
  lane: number;
  /** May take the peer's Data and Request packets (the app has no other tab); Responses to our own requests always. */
  inbound: boolean;
  /** The link lives in another tab: frames go to it over this relay channel (tab-relay.ts). */
  via?: string;
}

/** The grant the node's message describes; `seq`: its lane's numbering, kept across grants. */
export function makeGrant(g: GrantEvent, seq: PacketSequence): Grant {
  const sealing = g.aes && g.ownPublic && g.peerPublic ? { aes: g.aes, ownPublic: g.ownPublic, peerPublic: g.peerPublic } : undefined;
  return {
    key: g.key, peer: g.peer, peerId: idFromText(g.peer), selfId: idFromText(g.self), bound: g.bound, sealing, app: g.app, seq, lane: g.lane,
    inbound: g.inbound !== false && g.via === undefined, ...(g.via !== undefined ? { via: g.via } : {}),
  };
}

/** The grants a tab holds now, by peer and by link key, and its lanes' numbering (fast-path.ts). */
export class TabGrants {
  readonly byPeer = new Map<string, Grant>();
  readonly byKey = new Map<string, Grant>();
  /** One numbering per lane, kept across grants: a lane granted again continues above its last id. */
  private readonly lanes = new Map<number, PacketSequence>();

  /** The node's grant; it replaces the tab's earlier one for that peer. */
  give(g: GrantEvent): void {
    const old = this.byPeer.get(g.peer);
    if (old) this.forget(old);
    let seq = this.lanes.get(g.lane);
    if (!seq) this.lanes.set(g.lane, (seq = new PacketSequence(() => Date.now(), g.lane)));
    const grant = makeGrant(g, seq);
    this.byPeer.set(g.peer, grant);
    this.byKey.set(g.key, grant);
  }

  /** Takes back the grant for link `key`: the one taken, or undefined when there was none. */
  take(key: string): Grant | undefined {
    const g = this.byKey.get(key);
    if (g) this.forget(g);
    return g;
  }

  /** The grant for link `key` when this tab hosts the link (not a relay grant). */
  hostOf(key: string): Grant | undefined {
    const g = this.byKey.get(key);
    return g && g.via === undefined ? g : undefined;
  }

    /** Those whose link's channel is bound to the peer. */
  get bound(): number {
    let n = 0;
    for (const g of this.byPeer.values()) if (g.bound) n++;
    return n;
  }

  private forget(g: Grant): void {
    if (this.byPeer.get(g.peer) === g) this.byPeer.delete(g.peer);
    if (this.byKey.get(g.key) === g) this.byKey.delete(g.key);
  }
}

/** Sent by the link's own peer, to us: only such a packet travels inside the channel alone. */
export function fromPeer(g: Pick<Grant, 'peerId' | 'selfId'>, p: PacketHead): boolean {
  return bytesEqual(p.src, g.peerId) && bytesEqual(p.dst, g.selfId);
}

/**
 * The node's request ids count up from 1; a tab's live above this, in a range of its lane's
 * (lanes 1-7), so that neither the node's nor another tab's ever meet them, also where one tab
 * routes another's answers (tab-relay.ts). Within the range a tab starts from the clock (8 per
 * ms), so a tab given a lane after an earlier one starts above the ids that one used.
 */
const TAB_REQUEST_BASE = 2 ** 40;
export function firstRequestId(lane: number): number {
  return TAB_REQUEST_BASE * lane + (Date.now() % 2 ** 36) * 8;
}

/** The lane whose tab sent request `id` (the node's worker asks, for an answer that reached it); undefined: the node's own. */
export function requestLane(id: number): number | undefined {
  const lane = Math.floor(id / TAB_REQUEST_BASE);
  return Number.isSafeInteger(id) && lane >= 1 && lane < LANES ? lane : undefined;
}
