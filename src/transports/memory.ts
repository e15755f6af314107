/**
 * In-memory links for tests and the simulator: configurable latency, jitter, loss and
 * partitions, timed by an injected Clock so the simulator can run them on virtual time.
 * Frames keep their order even with jitter, as on a real ordered transport.
 */
import { type Clock, SeededRandom } from '../core/clock.js';
import { MeshError } from '../core/errors.js';
import { LINK_HIGH_WATER_BYTES, LinkBase, type TransportKind } from '../core/link.js';
import type { Dialer } from '../core/node.js';
import type { PeerRecord } from '../core/peer-memory.js';

export interface MemoryNetworkOptions {
  /** One-way delay of every frame, in ms. Default 5. */
  latencyMs?: number;
  /** Extra uniform random delay in [0, jitterMs). Default 0. */
  jitterMs?: number;
  /** Probability that a frame is silently lost. Default 0 (links are reliable). */
  loss?: number;
  /** Seed for jitter and loss. */
  seed?: number | string;
  /** How long a dial to an address nobody listens on takes to fail. Default 2000 ms. */
  dialTimeoutMs?: number;
}

type Listener = { clock: Clock; accept: (link: MemoryLink) => void };

export class MemoryNetwork {
  readonly latencyMs: number;
  readonly jitterMs: number;
  readonly loss: number;
  readonly dialTimeoutMs: number;
  private readonly seed: string;
  private listeners = new Map<string, Listener>();
  private groups = new Map<string, number>();
  private liveLinks = new Set<MemoryLink>();
  private pairCounter = new Map<string, number>();

  constructor(options: MemoryNetworkOptions = {}) {
    this.latencyMs = options.latencyMs ?? 5;
    this.jitterMs = options.jitterMs ?? 0;
    this.loss = options.loss ?? 0;
    this.dialTimeoutMs = options.dialTimeoutMs ?? 2000;
    this.seed = String(options.seed ?? 0);
  }

  /** Accepts links dialed to `address`. Returns a function that stops listening. */
  listen(address: string, clock: Clock, accept: (link: MemoryLink) => void): () => void {
    if (this.listeners.has(address)) throw new MeshError('PORT_IN_USE', `memory address ${address} is in use`);
    this.listeners.set(address, { clock, accept });
    return () => {
      if (this.listeners.get(address)?.accept === accept) this.listeners.delete(address);
    };
  }

  isListening(address: string): boolean {
    return this.listeners.has(address);
  }

  /**
   * Opens a link from `from` to the listener at `to`, after one round trip of latency. Both
   * ends report `transport` (default 'memory'): tests stand one in for a WebRTC DataChannel.
   */
  dial(from: string, to: string, clock: Clock, transport: TransportKind = 'memory'): Promise<MemoryLink> {
    return new Promise((resolve, reject) => {
      const fail = (why: string) => reject(new MeshError('DIAL_FAILED', `dial ${to}: ${why}`));
      clock.setTimeout(() => {
        const listener = this.listeners.get(to);
        if (!listener) return void clock.setTimeout(() => fail('nobody listens there'), Math.max(0, this.dialTimeoutMs - 2 * this.latencyMs));
        if (!this.sameSide(from, to)) return void clock.setTimeout(() => fail('partitioned'), Math.max(0, this.dialTimeoutMs - 2 * this.latencyMs));
        const key = `${from}>${to}`;
        const n = (this.pairCounter.get(key) ?? 0) + 1;
        this.pairCounter.set(key, n);
        const name = `${key}#${n}`;
        const a = new MemoryLink(this, clock, to, from, new SeededRandom(`${this.seed}/${name}/a`), transport);
        const b = new MemoryLink(this, listener.clock, from, to, new SeededRandom(`${this.seed}/${name}/b`), transport);
        a.peer = b;
        b.peer = a;
        this.liveLinks.add(a);
        this.liveLinks.add(b);
        listener.accept(b);
        resolve(a);
      }, 2 * this.latencyMs);
    });
  }

  /**
   * Splits the network: addresses in different groups can no longer reach each other, and
   * links across groups close with reason "partitioned". Addresses not named stay in group 0.
   */
  partition(groups: string[][]): void {
    this.groups.clear();
    groups.forEach((members, i) => members.forEach((m) => this.groups.set(m, i + 1)));
    for (const link of [...this.liveLinks]) {
      if (!this.sameSide(link.localAddress, link.remoteAddress)) link.close('partitioned');
    }
  }

  heal(): void {
    this.groups.clear();
  }

  sameSide(a: string, b: string): boolean {
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0);
  }

  /** @internal */
  forget(link: MemoryLink): void {
    this.liveLinks.delete(link);
  }
}

export class MemoryLink extends LinkBase {
  /** @internal */ peer?: MemoryLink;
  private inFlight = 0;
  private lastArrival = 0;
  private wantDrain = false;

  constructor(
    private readonly network: MemoryNetwork,
    private readonly clock: Clock,
    override readonly remoteAddress: string,
    readonly localAddress: string,
    private readonly random: SeededRandom,
    readonly transport: TransportKind = 'memory',
  ) {
    super();
  }

  get bufferedAmount(): number {
    return this.inFlight;
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) throw MeshError.linkClosed('memory link is closed');
    const n = this.network;
    const copy = frame.slice();
    const jitter = n.jitterMs > 0 ? this.random.float() * n.jitterMs : 0;
    const lost = n.loss > 0 && this.random.float() < n.loss;
    // Never deliver before an earlier frame: ordered like TCP or an ordered DataChannel.
    const arrival = Math.max(this.lastArrival, this.clock.now() + n.latencyMs + jitter);
    this.lastArrival = arrival;
    this.inFlight += copy.length;
    this.clock.setTimeout(() => {
      this.inFlight -= copy.length;
      if (this.wantDrain && this.inFlight <= LINK_HIGH_WATER_BYTES) {
        this.wantDrain = false;
        this.drained();
      }
      // Frames sent before a close still arrive, as data before a FIN does on TCP.
      if (!lost && this.peer && !this.peer.closed) this.peer.deliver(copy);
    }, Math.max(0, arrival - this.clock.now()));
    if (this.inFlight > LINK_HIGH_WATER_BYTES) {
      this.wantDrain = true;
      return false;
    }
    return true;
  }

  close(reason = 'closed by local side'): void {
    if (this.closed) return;
    this.closedWith(reason);
    this.network.forget(this);
    const peer = this.peer;
    // The far side learns of the close after the frames already in flight, one latency later.
    if (peer) this.clock.setTimeout(() => peer.remoteClosed(reason), Math.max(0, this.lastArrival - this.clock.now()) + this.network.latencyMs);
  }

  /** @internal */
  deliver(frame: Uint8Array): void {
    this.receive(frame);
  }

  /** @internal */
  remoteClosed(reason: string): void {
    if (this.closed) return;
    this.closedWith(reason);
    this.network.forget(this);
  }
}

/**
 * A node's Dialer on a memory network: it dials `mem:` addresses from its own address.
 * `transportFor` names the kind a dialled peer's link reports (tests: 'webrtc' between two
 * nodes that stand in for browsers); addresses dialled blind are 'memory'.
 */
export function memoryDialer(network: MemoryNetwork, from: string, clock: Clock, transportFor?: (rec: PeerRecord) => TransportKind): Dialer {
  const memAddr = (rec: PeerRecord) => rec.addrs.find((x) => x.startsWith('mem:'));
  return {
    dialAddress: (to) => network.dial(from, to, clock),
    canDial: (rec) => memAddr(rec) !== undefined,
    dial: (rec) => network.dial(from, memAddr(rec)!, clock, transportFor?.(rec)),
  };
}
