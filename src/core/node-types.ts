/** The public shapes of a MeshNode: its options, what it delivers and what it reports. */
import type { Clock, Random } from './clock.js';
import type { WantLevel } from './codec.js';
import type { Counters } from './counters.js';
import type { E2eStatus } from './e2e.js';
import type { StreamStatus } from './streams/service.js';
import type { Identity } from './identity.js';
import type { Link } from './link.js';
import type { SessionOptions } from './session.js';
import type { CryptoKeyPairLike } from './webcrypto.js';
import type { AppData } from './payloads.js';
import type { MeshErrorCode } from './errors.js';
import type { PeerRecord, PeerStore } from './peer-memory.js';
import type { RateLimits } from './rate-limit.js';

/**
 * Makes the encoded hello the dial's session will send (its nonce drawn now). A WebSocket dialer
 * calls it before the socket opens and carries the bytes in its upgrade request: the server then
 * answers with its hello and proof right after the upgrade, a round trip sooner. Such a link must
 * not send the same hello again (transports/websocket.ts). Other dialers ignore it.
 */
export type HelloMaker = () => Uint8Array;

/** How a node opens links to peers it has learned of. Transports provide implementations. */
export interface Dialer {
  /** Opens a link to a configured address (a bootstrap), whose node id we may not know. */
  dialAddress(addr: string, hello?: HelloMaker): Promise<Link>;
  /** Whether this dialer can reach the peer (it has a usable address, or a signalling path). */
  canDial(peer: PeerRecord): boolean;
  dial(peer: PeerRecord, hello?: HelloMaker): Promise<Link>;
}

/** How a link is handed to the node (MeshNode.addLink). */
export interface LinkOptions {
  outbound: boolean;
  expectedId?: string;
  want?: WantLevel;
  /** The session's options, made before the dial because its hello went with the dial: used as they are. */
  prepared?: SessionOptions;
}

export interface MeshNodeOptions {
  identity: Identity;
  clock?: Clock;
  random?: Random;
  /** Wall-clock time for peer memory; defaults to Date.now. */
  wallClock?: () => number;
  dialer?: Dialer;
  store?: PeerStore;
  /** Addresses dialled at start (and again whenever the node has no link at all). */
  bootstrap?: string[];
  /**
   * Dial the bootstrap as soon as the node's keys are ready at start, before its key card is
   * signed and its peer memory read, rather than after (the browser host: that socket's open is
   * on connect()'s path). Default false: a node's order of events at start stays as it was
   * (the simulator's draws and timings).
   */
  dialBootstrapFirst?: boolean;
  /** Addresses at which others can dial this node, told to every peer. */
  addrs?: string[];
  caps?: string[];
  /** Most links this node keeps at once. Default 24. */
  linkBudget?: number;
  /** Longest interval between maintenance rounds (lookups and repairs). Default 30 000 ms. */
  maintainMs?: number;
  /**
   * The keepalive unit: a link that carried nothing for three of them is closed then (45 s by
   * default); a quiet link is pinged after two (by the side that dialled it) and traffic counts
   * as proof of life (liveness.ts). 0 disables. Default 15 000 ms.
   */
  keepaliveMs?: number;
  /**
   * A WebRTC link that carried no application traffic (datagrams, requests and replies,
   * streams, publications) for this long is closed as IDLE, when both ends keep a link to a
   * server; traffic between the two nodes through the mesh dials it again (idle-links.ts,
   * docs/ROUTING.md). 0 never closes idle links. Default 120 000 ms.
   */
  idleLinkMs?: number;
  handshakeTimeoutMs?: number;
  /** Default request timeout. Default 5 000 ms. */
  requestTimeoutMs?: number;
  /** How long the node waits after a change of peer memory before saving it. Default 2 000 ms. */
  saveDelayMs?: number;
  /** How often subscriptions are renewed up the tree. Default 20 000 ms. */
  subscribeRefreshMs?: number;
  /** Dials in flight at once. Default 4. */
  maxPendingDials?: number;
  /**
   * End-to-end encryption of datagrams, requests and replies (X25519 + AES-GCM). Default true.
   * Off, the node sends plaintext and tells senders that ask for its key that it has none.
   */
  encryption?: boolean;
  /** Never send or accept application payloads in the clear: ENCRYPTION_UNAVAILABLE instead. Default false. */
  requireEncryption?: boolean;
  /** The node's X25519 key pair (kept beside its identity); a fresh one in memory when absent. */
  e2eKeys?: CryptoKeyPairLike;
  /** Flood limits per link and per source id (rate-limit.ts); Infinity disables one. */
  rateLimits?: Partial<RateLimits>;
  /** Most links from one network address (address-limit.ts). Default 16. */
  maxLinksPerAddress?: number;
  /** Proof of work asked of every peer's key and carried by ours (pow.ts). Default 0: none. */
  powBits?: number;
  /**
   * A reply whose request id this node did not give out (it numbers its own from 1): offered
   * here before it is dropped as `late-response`; true when taken. In a browser, a tab sends
   * requests under ids of its own (src/browser/tab-grant.ts), and a reply that reaches the node
   * instead of the tab (it came on another link to the peer) goes on to that tab. `code`: a
   * failure's (payloads.ts ResponsePayload).
   */
  onForeignResponse?: (from: string, requestId: number, ok: boolean, data: AppData, code?: string) => boolean;
  /**
   * An Ack for a reliable datagram this node is not sending: offered here before it is dropped as
   * `late-ack`; true when taken. In a browser, a tab sends reliable datagrams on its link itself
   * (src/browser/tab-reliable.ts), and an Ack that reaches the node instead (on another link to
   * the peer, while links re-home) goes on to the tabs, the one sending that message settles it.
   */
  onForeignAck?: (from: string, messageId: number) => boolean;
}

export interface Message {
  from: string;
  data: AppData;
  port: number;
  /** The app it was sent to ('' for the default app), as its listener or handler named it. */
  app: string;
  /** Links the packet crossed. */
  hops: number;
}

export interface TopicMessage {
  from: string;
  data: AppData;
  /** The topic as the subscribing app named it. */
  topic: string;
  app: string;
}

export interface LinkStatus {
  id: string;
  transport: string;
  rttMs: number | null;
  outbound: boolean;
  bucket: number;
  peerNeedsUs: boolean;
  addrs: string[];
  /** Bytes queued toward the peer and not yet sent: a slow reader shows here (bounded; docs/SECURITY.md). */
  bufferedBytes: number;
  /**
   * The handshake bound the link's secure channel (DTLS) to both identities (session.ts):
   * application packets to and from this peer travel inside it without a second seal.
   */
  bound: boolean;
}

export interface NodeStatus {
  id: string;
  addrs: string[];
  links: LinkStatus[];
  knownPeers: number;
  linkBudget: number;
  topics: number;
  counters: ReturnType<Counters['toJSON']>;
  e2e: E2eStatus;
  /** Streams open now, and segments sent again since the node started. */
  streams: StreamStatus;
  /** Limits the node runs with (its options, or their defaults): a browser node takes them from the tab that started it. */
  limits: { idleLinkMs: number; maxLinksPerAddress: number };
}

export interface NodeEvents {
  'link-up': { id: string; transport: string; outbound: boolean };
  'link-down': { id: string; transport: string; reason: string };
  drop: { reason: string };
  'peer-learned': { id: string };
  /** What this node may seal to `id` changed (e2e.ts keyState): a host tab's data plane grant is checked again. */
  'peer-key': { id: string };
  /**
   * `by`, the node closest to `id`, dropped a packet of ours for `id` for want of a route and
   * said so (unreachable.ts): `id` is most likely gone. The broker fails its dial to `id` on a
   * `signal`; pending requests and key requests to `id` have already failed with UNREACHABLE.
   */
  unreachable: { id: string; by: string; kind: 'signal' | 'request' | 'key' };
}

/** The answer to a request a browser tab's data plane took, sent by the node for it (MeshNode.answerTaken): a value, or a failure with its message and a code a node may give. */
export type TakenAnswer = { ok: true; data: AppData } | { ok: false; message: string; code?: MeshErrorCode };

export type RequestHandler = (m: Message) => AppData | void | Promise<AppData | void>;
export type SignalHandler = (from: string, body: string) => void;
