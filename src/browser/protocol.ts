/**
 * What tabs and the node host say to each other over a tab's MessagePort (or, for follower
 * tabs of a leader tab, over a BroadcastChannel). Requests carry an id and get exactly one
 * reply; events flow from the host to the tab unasked. Values are structured-clone friendly:
 * a string stays a string and a Uint8Array stays bytes.
 */
import type { AppData } from '../core/payloads.js';
import type { HubMode, HubStatus } from './hub-protocol.js';
import type { WorkProgress } from './key-store.js';

export type HostKind = 'shared-worker' | 'leader-tab';

/** Tab -> host: `op` names the call, `id` pairs it with its reply. */
export type TabRequest =
  /**
   * `rtc`: this browser's pages have RTCPeerConnection (the node then advertises 'webrtc');
   * `canHost`: this tab hosts PeerConnections for the node; `hidden`: the page is not visible.
   * A tab says hello again when it comes back from the freezer or the back/forward cache.
   * `origin`: set by the hub to the app's origin; absent for pages of the node's own origin.
   */
  | { op: 'hello'; tabId: string; app: string; bootstrap: string[]; canHost: boolean; rtc: boolean; hidden?: boolean; powBits?: number; idleLinkMs?: number; maxLinksPerAddress?: number; origin?: string; fastPath?: boolean }
  /** A notification (id 0, never answered). `parked`: the page is being frozen or cached (it gave up its links); `hidden`/`visible`: its visibility changed. */
  | { op: 'lifecycle'; state: 'parked' | 'hidden' | 'visible' }
  /**
   * A notification (id 0): the tab is going (pagehide, not persisted, or close()), posted after
   * every `reply` it posted. `started`: the rids of requests the host asked it to run whose handler
   * started and has not answered (they will not be; the host fails them: HANDLER_CLOSED). It runs
   * no request after this; the host gives the others it asked to another tab (host-handlers.ts).
   */
  | {
      op: 'closing'; started: number[];
      /**
       * The data plane (owed-answers.ts): the peers' requests this tab took off its links and
       * leaves unanswered. `failed`: their handler runs here (the node fails each with
       * HANDLER_CLOSED); `answers`: answered here and not written on the DataChannel yet (the node
       * sends each).
       */
      taken?: { failed: TakenRequest[]; answers: OwedAnswer[] };
    }
  /**
   * The data plane: the answer to a peer's request this tab's data plane took or ran, which
   * cannot go back the way the request came (its link or the relay channel to the tab that took
   * it is gone): the node sends it (MeshNode.answerTaken). Only for a peer the tab was granted.
   */
  | ({ op: 'taken-answer' } & OwedAnswer)
  /**
   * The data plane: a peer's request a host tab took and passed to this tab, which no longer
   * handles its port by the time the request became its own to answer (the host tab went): nothing
   * ran. The node runs it for this tab's app as if it had come to it (MeshNode.runTaken: another
   * tab's handler, or REFUSED). Only for a peer the tab was granted.
   */
  | ({ op: 'taken-request' } & UnrunRequest)
  /**
   * A notification (id 0): the tab's data plane no longer takes the peer's reliable datagrams under
   * the window `gen` it was handed with a grant (`rx`): `window` is what it remembers (id, ms left,
   * ...), merged into the node's, which takes them again once no tab holds one (window-holds.ts).
   */
  | { op: 'reliable-window'; gen: number; window: number[] }
  /** `messageId`: a reliable send the tab's data plane began itself, handed to the node under its id (tab-reliable.ts). */
  | { op: 'send'; to: string; data: AppData; port: number; reliable?: boolean; deadlineMs?: number; messageId?: number }
  | { op: 'request'; to: string; data: AppData; port: number; timeoutMs?: number }
  | { op: 'handle'; port: number }
  | { op: 'unhandle'; port: number }
  | { op: 'listen'; on: boolean }
  | { op: 'subscribe'; topic: string }
  | { op: 'unsubscribe'; topic: string }
  | { op: 'publish'; topic: string; data: AppData }
  | { op: 'status' }
  /** Answered once the node has its first link. */
  | { op: 'ready' }
  /** Answered at once, before a hello too (client.ts `preload`): the host takes a tab's requests in order, so every one posted before it has been taken (`mesh.synced()`). */
  | { op: 'sync' }
  | { op: 'reply'; rid: number; ok: boolean; data: AppData }
  | { op: 'rtc-signal'; key: string; body: string }
  /** The path ICE selected for a hosted PeerConnection (rtc-path.ts). */
  | { op: 'rtc-path'; key: string; via: 'direct' | 'turn' }
  /** Streams (host-streams.ts, tab-streams.ts): `sh` names the stream between this tab and the host. */
  | { op: 'stream-open'; sh: string; to: string; port: number; timeoutMs?: number }
  | { op: 'stream-handle'; port: number }
  | { op: 'stream-unhandle'; port: number }
  /** Answered once the node's stream accepted the chunk: the reply returns the tab's credit. */
  | { op: 'stream-write'; sh: string; data: Uint8Array }
  | { op: 'stream-close'; sh: string }
  | { op: 'stream-abort'; sh: string; reason: string }
  /** The tab may take `bytes` more of the stream. */
  | { op: 'stream-read'; sh: string; bytes: number }
  /** The data plane (fast-path.ts): this tab carried application packets to or from these peers on the links it hosts. */
  | { op: 'fast-traffic'; peers: string[] }
  | { op: 'bye' };

/**
 * A peer's request a tab's data plane took: `rid` is the peer's request id. A tab takes only a
 * sealed request or one in the clear inside a channel bound to the peer, both of which the core
 * counts as sealed (e2e.ts `open`), so the node's answer for it is always sealed (or direct).
 */
export interface TakenRequest {
  peer: string;
  rid: number;
}

/** Its answer: a value, or a failure (`data` its message) with a code a node may give. */
export interface OwedAnswer extends TakenRequest {
  ok: boolean;
  data: AppData;
  code?: string;
}

/** A taken request that nothing ran: its port and data, for the node to run (`taken-request`). */
export interface UnrunRequest extends TakenRequest {
  port: number;
  data: AppData;
}

export type TabRequestMessage = TabRequest & { id: number };

/** A tab's stream requests, run by the node's HostStreams (host-streams.ts `run`). */
export type StreamOp = Extract<TabRequest, { op: `stream-${string}` }>;

export interface ErrorInfo {
  code: string;
  message: string;
}

export type HostReply = { re: number; ok: true; value?: unknown } | { re: number; ok: false; error: ErrorInfo };

/** Host -> tab, unasked. */
export type HostEvent =
  | { ev: 'message'; from: string; data: AppData; port: number }
  | { ev: 'topic'; topic: string; from: string; data: AppData }
  | { ev: 'request'; rid: number; from: string; data: AppData; port: number }
  | { ev: 'rtc-open'; key: string; peer: string; initiator: boolean; port: unknown; iceServers?: RTCIceServer[] }
  | { ev: 'rtc-signal'; key: string; body: string }
  /** From a hub: storage access changed; after `shared`, the page is on another node and says hello again. */
  | { ev: 'hub-mode'; mode: HubMode; reason: string }
  | { ev: 'stream-incoming'; sh: string; from: string; port: number }
  | { ev: 'stream-data'; sh: string; data: Uint8Array }
  | { ev: 'stream-end'; sh: string }
  | { ev: 'stream-error'; sh: string; code: string; message: string }
  /**
   * The data plane in the host tab (docs/DATA-PLANE.md): this tab may seal and open Data, Request
   * and Response packets to and from `peer` itself, on the link it hosts under `key`. `aes` is the
   * pair's non-extractable AES-GCM key; `app` this tab's 16-byte app id; `lane` its packet-id lane.
   */
  | {
      ev: 'fast-grant'; key: string; peer: string; self: string; app: Uint8Array; lane: number;
      /** The link's DTLS channel is bound to the peer (session.ts): packets go in the clear inside it. */
      bound: boolean;
      /** The pair key, when the node may seal to the peer; without it the tab leaves sealed packets to the node. */
      aes?: CryptoKey; ownPublic?: Uint8Array; peerPublic?: Uint8Array;
      /**
       * The tab may also take the peer's Data and Request packets for its app (absent: true). False
       * while its app has other tabs: a datagram must reach every listening tab, which the node does.
       */
      inbound?: boolean;
      /**
       * The link is hosted by another tab (tab-relay.ts): frames go to that tab over the relay
       * channel `via` (a `relay-port` event), which writes them on the DataChannel and passes back
       * the answers to this tab's requests.
       */
      via?: string;
      /**
       * The tab also takes the peer's reliable datagrams for its app (a bound grant with `inbound`),
       * with the node's window for the peer (`gen` names it; `window`: id, ms left, ...); the node
       * refuses them until the tab hands its window back (`reliable-window`; tab-reliable-rx.ts).
       */
      rx?: { gen: number; window: number[] };
    }
  /** The grant for the link `key` is taken back: packets to and from its peer go through the node again. */
  | { ev: 'fast-revoke'; key: string; reason: string }
  /** One end of a MessageChannel to another tab of this node (tab-relay.ts): the relay channel `ch`. */
  | { ev: 'relay-port'; ch: string; port: unknown }
  /**
   * The tab at the other end of relay channel `ch` is gone or parked: what waits on it fails over
   * to the node. `said`: it told the node so, after posting its `bye` on the channel.
   */
  | { ev: 'relay-close'; ch: string; said?: true }
  /**
   * To a host tab whose app has several tabs: where a datagram to the app goes (`self`, or relay
   * channels), all its listening tabs; null: the node hands the app's datagrams out.
   */
  | { ev: 'fast-listeners'; tabs: string[] | null }
  /**
   * The answer to a request this tab sent on its data plane (its id is in the tab's lane) that
   * reached the node instead of the tab, e.g. on another link to the peer (tab-requests.ts).
   */
  | { ev: 'fast-answer'; rid: number; from: string; ok: boolean; data: AppData; code?: string }
  /** An Ack from `from` for a reliable datagram that reached the node instead of the tab sending it (tab-reliable.ts `ackViaNode`). */
  | { ev: 'fast-ack'; from: string; messageId: number }
  /**
   * To a host tab whose app has several tabs: for each port of the app, the tab the node would
   * ask to handle a request (host-handlers.ts ask), `self` or a relay channel; a port the node would
   * ask another tab (parked, or with no channel) is left out. Null: the node hands them out.
   * `streams`: the same for the peer's streams to the app (host-streams.ts, the tab that takes
   * an Open), so the host tab hands a peer's Open to that tab (relay-streams.ts `handOff`).
   */
  | { ev: 'fast-handlers'; ports: [number, string][] | null; streams?: [number, string][] | null }
  /** Diagnostics from the host, printed with console.debug in every tab (workers have no visible console in tests). */
  | { ev: 'log'; text: string }
  /** Making the node's identity with proof of work: keys tried so far (see ConnectOptions.powBits). */
  | ({ ev: 'work' } & WorkProgress);

export interface HelloReply {
  id: string;
  host: HostKind;
}

export interface BrowserLinkStatus {
  id: string;
  transport: 'webrtc' | 'websocket' | string;
  rttMs: number | null;
  /** WebRTC links: through a TURN relay, or direct (host or server-reflexive candidates); unknown until ICE says. */
  via?: 'direct' | 'turn';
  /**
   * WebRTC links, pages of the node's own origin only: the peer's address from the selected ICE
   * candidate pair, which the per-address link cap counts (`webrtc:<id>` while unknown).
   */
  address?: string;
  /** The link's DTLS channel is bound to the peer's identity (session.ts): packets go in it without a second seal. */
  bound?: boolean;
}

export interface BrowserStatus {
  id: string;
  host: HostKind;
  /** Tabs attached to the node; through a hub, those of this page's own app and origin only. */
  tabs: number;
  links: BrowserLinkStatus[];
  knownPeers: number;
  /** The node links to other browsers over WebRTC; false where pages have no RTCPeerConnection (WebSocket links only). */
  webrtc: boolean;
  /**
   * How the node's private keys are kept in IndexedDB: `cryptokey` (non-extractable CryptoKeys),
   * or `bytes` where the browser cannot store a CryptoKey from the worker (WebKit); see docs/BROWSER.md.
   */
  keyStorage: 'cryptokey' | 'bytes';
  /** Present when this node made its identity with proof of work since it started: how many keys it tried, in how long. */
  work?: WorkProgress;
  /** Present when this page reaches the node through a hub on another origin. */
  hub?: HubStatus;
  /** Pages of the node's own origin only: every app attached to the node now. */
  apps?: AttachedApp[];
  /** The data plane in this tab (docs/DATA-PLANE.md): absent when it is off (`connect({ fastPath: false })`). */
  fastPath?: FastPathStatus;
  /**
   * The node's `idleLinkMs` and `maxLinksPerAddress`, as the first tab to connect set them (or the
   * defaults): a later tab's options, and any app's that comes through a hub, do not change them.
   */
  limits: { idleLinkMs: number; maxLinksPerAddress: number };
  /**
   * When each step of the start happened (absolute ms, boot-marks.ts): `node` from the node host
   * (worker script ran, first hello, IndexedDB open, keys loaded, node started, WebSocket dialled and
   * open, first link up), `tab` from this tab's connect() (lock held, hello answered, ready).
   */
  boot?: { node: Record<string, number>; tab?: Record<string, number> };
}

/** What this tab's data plane did (fast-path.ts). */
export interface FastPathStatus {
  /** Peers this tab holds a grant for now. */
  granted: number;
  /** Of those, the ones whose link's DTLS channel is bound to the peer (packets in the clear inside it). */
  bound: number;
  /** Packets written or taken in the clear inside a bound channel (no AES-GCM). */
  clear: number;
  grants: number;
  revoked: number;
  sent: number;
  received: number;
  requests: number;
  responses: number;
  /** Frames this tab opened and handed on to the node (another app, no listener, a request of the node's). */
  handedOn: number;
  /** Host tab of a link (tab-relay.ts): frames other tabs sealed that this tab wrote on its DataChannel. */
  relayedOut: number;
  /** Host tab: Responses this tab opened and passed straight to the tab whose request they answer. */
  relayedBack: number;
  /** A tab without the link: datagrams and requests it sealed and sent through the host tab's channel (counted in sent/requests too), and its stream segments (viaTabStreamOut). */
  viaTab: number;
  /** A tab without the link: Responses to its requests that the host tab passed to it. */
  viaTabAnswers: number;
  /** Answers to this tab's requests that reached the node instead (on another link to the peer) and that the node passed on. */
  answersViaNode: number;
  /** Answers to the peer's requests this tab took whose link went before they were written: handed to the node, which sent them (owed-answers.ts). */
  answersHome: number;
  /** Requests another tab passed to this one that nothing ran here and whose way back went: handed to the node to run (`taken-request`). */
  requestsHome: number;
  /** Frames this tab claimed from its links and had not taken (being opened) when it parked or closed: given back to the node, which takes them itself (claimed-frames.ts). */
  givenBack: number;
  /** Host tab of an app with several tabs: datagrams it opened and passed to another listening tab of the app. */
  relayedData: number;
  /** Datagrams to this tab's app that the host tab of the link opened and passed to it. */
  viaTabData: number;
  /** Host tab of an app with several tabs: the peer's requests it opened and passed to the tab that handles their port. */
  relayedRequests: number;
  /** Host tab: those tabs' answers it wrote back on the DataChannel. */
  relayedReplies: number;
  /** Host tab: of those requests, the ones the other tab did not run (no handler any more, or it went first): handed to the node, which asks another tab. */
  relayedRequestsToNode: number;
  /** Requests to this tab's app that the host tab of the link opened and this tab handled. */
  viaTabRequests: number;
  /** Streams run in this tab (docs/DATA-PLANE.md, "Streams"): opened by it, and opened to it by the link's peer and taken here. */
  streamsOpened: number;
  streamsAccepted: number;
  /** Their Stream packets written on, and taken off, the DataChannel (in `clear` too). */
  streamSegmentsOut: number;
  streamSegmentsIn: number;
  /** Of those streams, the ones ended ABORTED because their link left the tab. */
  streamsAbortedByLink: number;
  /** Their segments sent again (a timeout or a fast retransmit): each may reach the peer twice, a `stream:duplicate` there. */
  streamRetransmits: number;
  /** Reliable datagrams this tab sent on its bound links itself (tab-reliable.ts), the copies it wrote (first ones included), the peer's acks it took, and the sends it handed to the node under their id when the link left the tab. */
  reliableSent: number;
  reliableCopies: number;
  reliableAcked: number;
  reliableToNode: number;
  /** Acks to this tab's reliable sends that reached its node instead (on another link to the peer) and that the node passed on. */
  reliableAckedViaNode: number;
  /**
   * The peer's reliable datagrams this tab took on its bound links itself (tab-reliable-rx.ts): delivered
   * here, the acks it wrote (duplicates' included), and the windows it handed back to the node.
   */
  reliableIn: number;
  reliableAckedOut: number;
  reliableWindowHandedBack: number;
  /**
   * Reliable datagrams from a tab without the link (relay-acks.ts). Host tab: the other tabs'
   * copies it wrote (in relayedOut too), the peer's Acks it passed back to them, those a tab
   * refused (its send had gone to the node) and it gave to the node, and routes pushed out by
   * the table's bound (their Acks reach the tab through the node). The tab without the link: the
   * acks the host tab passed back to it (in reliableAcked too).
   */
  relayedReliable: number;
  relayedAcks: number;
  relayedAcksToNode: number;
  ackRoutesEvicted: number;
  reliableAckedViaTab: number;
  /**
   * Host tab of a link: segments of streams another tab runs through it (relay-streams.ts) that
   * it wrote on the DataChannel, and the peer's it passed back to that tab. Absent (0) until
   * the data plane runs.
   */
  relayedStreamOut?: number;
  relayedStreamIn?: number;
  /** Host tab: the peer's Opens it handed to the tab that handles their port (their segments in relayedStreamIn too), and those that tab refused (no handler any more: given to the node). */
  relayedStreamOpens?: number;
  relayedStreamOpensToNode?: number;
  /** A tab without the link: its streams' segments the host tab wrote for it (acked; in `viaTab` too), and the peer's it passed to this tab. Absent (0) until the data plane runs. */
  viaTabStreamOut?: number;
  viaTabStreamIn?: number;
  dropped: Record<string, number>;
}

export interface AttachedApp {
  /** The app page's origin. */
  origin: string;
  /** Its namespace on the node (`<origin>/<app>` through the hub; `shared:` names as given). */
  app: string;
  /** `hub`: an app on another origin, through /meshwork/hub.html; `direct`: a page of this origin. */
  via: 'hub' | 'direct';
  tabs: number;
}

/** A duplex message channel between one tab and the host: a MessagePort or an adapter. */
export interface Conn {
  post(message: unknown, transfer?: Transferable[]): void;
  onMessage(fn: (message: unknown) => void): void;
  close(): void;
}

/** Whether pages of this browser can make WebRTC links (missing in some builds, or removed by policy). */
export function pageHasRtc(): boolean {
  return typeof RTCPeerConnection === 'function';
}

/** Bytes a tab may have in flight toward the host, and that the host may push ahead to a tab, per stream (host-streams.ts). */
export const TAB_CREDIT_BYTES = 1 << 20;

export const TAB_LOCK_PREFIX = 'meshwork:tab:';
export const LEADER_LOCK = 'meshwork:leader';
export const BROADCAST_NAME = 'meshwork:leader-tab';

/**
 * How every page and hub opens the node's worker. Options are part of a SharedWorker's identity:
 * a hub in a third-party iframe may only open one with `sameSiteCookies: 'none'` (Chromium), so
 * first-party pages do the same, or they would run a second node on the same identity. Browsers
 * without the option ignore it. No `type`: worker.js is one classic script (it starts sooner than a
 * module worker). The type is part of the identity too: a tab of a version that opened it as a
 * module, still open during an upgrade, makes a new tab's worker fail to start until it closes.
 */
export const WORKER_OPTIONS = { name: 'meshwork', sameSiteCookies: 'none' } as WorkerOptions;

/**
 * The reason a parking tab gives as it closes the channels it hosts. The node host may hear these
 * closes before the tab's `lifecycle` notice (they travel on other MessagePorts), and must hold
 * the tab's messages from the first of them: a message to a page in the back/forward cache evicts it.
 */
export const TAB_PARKED = 'host tab parked';
