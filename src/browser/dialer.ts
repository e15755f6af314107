/**
 * The browser node's Dialer: WebSocket for peers with a ws:// or wss:// address (servers), and
 * WebRTC through the broker for peers that advertise the 'webrtc' capability (other browsers).
 */
import { MeshError } from '../core/errors.js';
import type { Link } from '../core/link.js';
import type { Dialer, HelloMaker } from '../core/node.js';
import type { PeerRecord } from '../core/peer-memory.js';
import { helloUrl, HELLO_PROTOCOLS } from '../transports/url-hello.js';
import { openWebSocketLink } from '../transports/websocket.js';
import type { RtcBroker } from './broker.js';
import { DialBackoff } from './dial-backoff.js';

import { WEBRTC_CAP } from '../core/reachability.js';

export { WEBRTC_CAP };
const WS_TIMEOUT_MS = 5_000;
/**
 * How long after the node's first link its WebRTC dials wait. A node that has just joined is
 * the one whose app is about to send its first messages, over that link: a key exchange and a
 * request, a few hops through the worker and the server. The neighbour links the node's
 * maintenance dials at the same moment set up a PeerConnection in a tab of each browser (offer,
 * ICE, DTLS), and that work held the first message up: 150 ms from send to arrival against
 * 57 ms with no dial, on two browsers sharing two cores (docs/BENCHMARKS.md, "Time to first
 * message"). Later dials (repairs, a peer woken by traffic) do not wait.
 */
export const RTC_SETTLE_MS = 400;

export function isWebSocketAddr(addr: string): boolean {
  return /^wss?:\/\//i.test(addr);
}

export class BrowserDialer implements Dialer {
  /** When WebRTC dials may start: `settleMs` after the node's first link came up (`linked()`); 0 until then. */
  private settledAt = 0;

  constructor(
    private readonly broker: RtcBroker,
    private readonly onDrop?: (reason: string) => void,
    /** WebRTC dials to peers that keep failing wait out a growing pause (dial-backoff.ts). */
    readonly backoff = new DialBackoff(),
    /** Told `ws-dial` and `ws-open` as a WebSocket dial starts and opens (boot marks). */
    private readonly onStep: (step: 'ws-dial' | 'ws-open') => void = () => undefined,
    private readonly settleMs = RTC_SETTLE_MS,
  ) {}

  /** A link of the node came up: the first one starts the wait before WebRTC dials (RTC_SETTLE_MS). */
  linked(): void {
    if (this.settledAt === 0) this.settledAt = Date.now() + this.settleMs;
  }

  /**
   * The socket carries `hello` in its upgrade URL (url-hello.ts): the server's proof comes with
   * the 101. That is why the bootstrap is no longer dialled as the tab says hello, before the
   * keys exist (a socket opened then could not carry the hello): over 80 ms of round trip the
   * node's start took 59 ms less so (p50), on loopback the same (docs/BENCHMARKS.md).
   */
  async dialAddress(addr: string, hello?: HelloMaker): Promise<Link> {
    if (!isWebSocketAddr(addr)) throw new MeshError('DIAL_FAILED', `dial ${addr}: a browser dials only ws:// and wss:// addresses`);
    let socket: WebSocket;
    let bytes: Uint8Array | undefined;
    try {
      this.onStep('ws-dial');
      bytes = hello?.();
      socket = bytes ? new WebSocket(helloUrl(addr, bytes), HELLO_PROTOCOLS) : new WebSocket(addr);
    } catch (err) {
      throw new MeshError('DIAL_FAILED', `dial ${addr}: ${(err as Error).message}`);
    }
    const link = await openWebSocketLink(socket, addr, WS_TIMEOUT_MS, { onDrop: this.onDrop }, bytes);
    this.onStep('ws-open');
    return link;
  }

  canDial(peer: PeerRecord): boolean {
    // WebRTC needs a live tab to host the PeerConnection and a link to carry the signalling.
    if (peer.addrs.some(isWebSocketAddr)) return true;
    return peer.caps.includes(WEBRTC_CAP) && this.backoff.allowed(peer.id) && this.broker.hasHost() && this.broker.canSignal();
  }

  dial(peer: PeerRecord, hello?: HelloMaker): Promise<Link> {
    const ws = peer.addrs.find(isWebSocketAddr);
    if (ws) return this.dialAddress(ws, hello);
    if (peer.caps.includes(WEBRTC_CAP)) return this.dialRtc(peer);
    return Promise.reject(new MeshError('DIAL_FAILED', `peer ${peer.id.slice(0, 12)} has no address this browser can dial`));
  }

  private async dialRtc(peer: PeerRecord): Promise<Link> {
    // A dial comes only once the node has a link (its signalling goes over one: canDial()).
    const wait = this.settledAt - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    this.backoff.started();
    let link: Link;
    try {
      link = await this.broker.dial(peer);
    } catch (err) {
      this.backoff.ended(peer.id, err);
      throw err;
    }
    this.backoff.ended(peer.id);
    return link;
  }
}
