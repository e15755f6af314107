/**
 * One tab attached to the node host (host.ts): its connection, what it said in its hello, and
 * where it is in its life (alive, parked, hidden). The broker asks it to host PeerConnections
 * (broker.ts RtcHostTab) and the data plane grants it links (fast-grants.ts FastTab).
 */
import type { RtcHostTab } from './broker.js';
import type { FastTab } from './fast-grants.js';
import type { HeldConn } from './held-conn.js';
import type { HostEvent } from './protocol.js';

export class TabSession implements RtcHostTab, FastTab {
  alive = true;
  /** The tab asked for the data plane (fast-grants.ts). */
  fastPath = false;
  listening = false;
  /** Frozen or in the back/forward cache: hosts nothing and answers nothing until it says hello again. */
  parked = false;
  /** It said `closing` (its pagehide, or close()). */
  closingSaid = false;
  hidden = false;
  readonly lockAbort = new AbortController();

  constructor(
    readonly tabId: string,
    /** The app namespace, exact: a hub names `<origin>/<app>` (hub-protocol.ts). */
    readonly app: string,
    readonly canHost: boolean,
    readonly conn: HeldConn,
    /** The app's origin when it came through the hub; undefined for this origin's own pages. */
    readonly origin: string | undefined,
  ) {}

  /** It told the node it parks or closes; its relay channels' `bye`s went before that (mesh.ts). */
  get saidLeaving(): boolean {
    return this.parked || this.closingSaid;
  }

  openRtc(key: string, peer: string, initiator: boolean, port: MessagePort, iceServers: RTCIceServer[]): void {
    this.conn.post({ ev: 'rtc-open', key, peer, initiator, port, iceServers }, [port]);
  }

  signalRtc(key: string, body: string): void {
    this.conn.post({ ev: 'rtc-signal', key, body });
  }

  post(message: HostEvent, transfer?: Transferable[]): void {
    this.conn.post(message, transfer);
  }
}

/** An app's key for one port or one topic: apps never share an entry. */
export function appKey(app: string, portOrTopic: number | string): string {
  return JSON.stringify([app, portOrTopic]);
}

/**
 * A tab's own app as its origin sees it: the namespace and the origin that reached it (the hub's
 * for a hub app, '' for a page of the node's own origin). Apps of two origins that both name one
 * `shared:` namespace are two apps here: a hub app is told of its own tabs only (host-status.ts).
 */
export function ownApp(tab: TabSession): string {
  return JSON.stringify([tab.origin ?? '', tab.app]);
}
