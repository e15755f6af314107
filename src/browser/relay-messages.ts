/**
 * The messages on a relay channel (relay-channel.ts): what the two tabs' ends post each other
 * over the MessagePort the node's worker set up between them, one shape per `t`. Both ends play
 * both roles (client and host), so this one union is the whole protocol, both ways; the receiving
 * end checks the fields it relies on (RelayChannel's `onMessage`).
 */
import type { AppData } from '../core/payloads.js';

/** A posted frame whose answer comes back: a request's id (`rid`) or a reliable datagram's message id (`mid`), for `ms`. */
export type FrameRoute = { rid?: number; mid?: number; ms?: number };

export type RelayMessage =
  | ({ t: 'frame'; seq: number; key: string; frame: Uint8Array } & FrameRoute)
  | { t: 'ack'; seq: number; ok: boolean }
  /** The peer's Ack (its whole clear frame) to reliable datagram `mid` this tab sent through the host tab's link `key`. */
  | { t: 'rack'; key: string; from: string; mid: number; frame: Uint8Array }
  /** That Ack is for no send of this tab's (it went to the node under its id meanwhile): the host tab gives it to the node. */
  | { t: 'rack-refused'; key: string; frame: Uint8Array }
  | { t: 'answer'; rid: number; from: string; ok: boolean; data: AppData; code?: string }
  /** A datagram to this tab's app that the host tab opened (its app has several tabs: DATA-PLANE.md, "Several tabs"). */
  | { t: 'data'; from: string; port: number; data: AppData }
  /** A segment from the peer of link `key` (its whole frame) of a stream this tab runs through the host tab (relay-streams.ts). */
  | { t: 'stream'; key: string; frame: Uint8Array }
  /** Link `key` left the host tab: the streams this tab runs on it end (relay-streams.ts). */
  | { t: 'link-gone'; key: string }
  /** P's Open of stream `sid` on link `key`, passed here, is not taken: no handler for its port here any more (the host tab gives it to the node). */
  | { t: 'stream-refused'; key: string; sid: number }
  /**
   * A request to this tab's app that the host tab opened: this tab handles its port (the node said
   * so). `rid`: the peer's request id, for an answer the node sends instead.
   */
  | { t: 'request'; id: number; from: string; port: number; data: AppData; rid: number }
  /** The outcome of `request` `id`; `unhandled`: this tab has no handler for it any more (nothing ran). */
  | { t: 'reply'; id: number; ok: boolean; data: AppData; unhandled?: true }
  /**
   * This end closes (its tab parks or goes): the other stops posting at once, before the worker
   * tells it. `running`: requests whose handler had started here and not answered, when the tab
   * parks or goes for good (`closing`: its pagehide, or close()). `asked`: the requests this end
   * asked the other to run and had no reply to when it left (their answers go through the node).
   */
  | { t: 'bye'; running?: number[]; closing?: true; asked?: number[] };
