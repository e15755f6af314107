/**
 * Small hand-built meshes for tests: real MeshNodes over MemoryNetwork links on a virtual
 * clock, wired the way src/sim/simulation.ts wires them, plus "raw" peers that a test drives
 * frame by frame to play a misbehaving or hand-written node.
 */
import { createHash } from 'node:crypto';
import { concatBytes, utf8 } from '../../src/core/bytes.js';
import { decodeFrame, encodeFrame, FrameType, Want, type Frame, type HelloFrame } from '../../src/core/codec.js';
import { SeededRandom } from '../../src/core/clock.js';
import { Identity } from '../../src/core/identity.js';
import type { Link, LinkHandlers, TransportKind } from '../../src/core/link.js';
import type { PeerRecord } from '../../src/core/peer-memory.js';
import { MeshNode, type MeshNodeOptions } from '../../src/core/node.js';
import { MemoryNetwork, memoryDialer, type MemoryLink, type MemoryNetworkOptions } from '../../src/transports/memory.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';
import { drive, driveUntil } from './wait.js';

/** The same identity for the same label, every run. */
export function seededIdentity(label: string): Promise<Identity> {
  return Identity.fromSeed(new Uint8Array(createHash('sha256').update(`meshwork test/${label}`).digest()));
}

export interface TestNode {
  node: MeshNode;
  addr: string;
}

export class TestNet {
  readonly clock = new VirtualClock();
  readonly network: MemoryNetwork;
  readonly nodes: TestNode[] = [];
  private owners = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.network = new MemoryNetwork({ latencyMs: 5, seed: 'test', ...options });
  }

  /**
   * A node listening at `mem:<label>`, accepting every inbound link. Not started. `transportFor`
   * names the kind of the links it dials to a peer (memoryDialer): 'webrtc' stands in for a browser pair.
   */
  async addNode(label: string, options: Partial<MeshNodeOptions> = {}, transportFor?: (rec: PeerRecord) => TransportKind): Promise<TestNode> {
    const owner = this.owners++;
    const clock = this.clock.scoped(owner);
    const addr = `mem:${label}`;
    const network = this.network;
    const dialer = memoryDialer(network, addr, clock, transportFor);
    const node = new MeshNode({
      identity: await seededIdentity(label),
      clock,
      random: new SeededRandom(`test/${label}`),
      wallClock: () => this.clock.now(),
      dialer,
      addrs: [addr],
      keepaliveMs: 0,
      ...options,
    });
    node.actor.onBusy = (idle) => this.clock.track(idle);
    network.listen(addr, clock, (link) => void node.addLink(link, { outbound: false }).catch(() => undefined));
    const t = { node, addr };
    this.nodes.push(t);
    return t;
  }

  /** Opens a memory link from a raw address to `to`, for a test to drive by hand. */
  async rawDial(from: string, to: string): Promise<RawPeer> {
    const clock = this.clock.scoped(this.owners++);
    const link = await drive(this.clock, this.network.dial(from, to, clock), 1000, `raw dial to ${to}`);
    return new RawPeer(link);
  }

  /** A raw listener: the first link dialled to `addr` is handed to the returned promise. */
  rawListen(addr: string): Promise<RawPeer> {
    const clock = this.clock.scoped(this.owners++);
    return new Promise((resolve) => {
      const stop = this.network.listen(addr, clock, (link) => {
        stop();
        resolve(new RawPeer(link));
      });
    });
  }

  async stopAll(): Promise<void> {
    for (const t of this.nodes) await drive(this.clock, t.node.stop(), 5000, `stop ${t.addr}`);
  }
}

/** A Link that passes everything to `inner`: a test extends it to watch or change one thing. */
export class LinkWrapper implements Link {
  constructor(readonly inner: Link) {}
  get transport() {
    return this.inner.transport;
  }
  get bufferedAmount() {
    return this.inner.bufferedAmount;
  }
  get closed() {
    return this.inner.closed;
  }
  send(frame: Uint8Array): boolean {
    return this.inner.send(frame);
  }
  close(reason?: string): void {
    this.inner.close(reason);
  }
  attach(handlers: LinkHandlers): void {
    this.inner.attach(handlers);
  }
}

/** A link that can fall silent both ways without closing, as a dead worker's socket does. */
export class SilenceableLink extends LinkWrapper {
  silent = false;
  override send(frame: Uint8Array): boolean {
    return this.silent || super.send(frame);
  }
  override attach(handlers: LinkHandlers): void {
    super.attach({ ...handlers, frame: (bytes) => void (this.silent || handlers.frame(bytes)) });
  }
}

/** One end of a link, driven by the test: records every frame and the close it receives. */
export class RawPeer {
  readonly received: Uint8Array[] = [];
  closeReasons: string[] = [];

  constructor(readonly link: MemoryLink | Link) {
    link.attach({
      frame: (bytes) => void this.received.push(bytes),
      close: (reason) => void this.closeReasons.push(reason),
    });
  }

  /** Received frames that decode, in order. */
  frames(): Frame[] {
    const out: Frame[] = [];
    for (const bytes of this.received) {
      const d = decodeFrame(bytes);
      if (d.ok) out.push(d.value);
    }
    return out;
  }

  send(frame: Frame): void {
    this.link.send(encodeFrame(frame));
  }

  sendRaw(bytes: Uint8Array): void {
    this.link.send(bytes);
  }
}

/** What a signer proves, rebuilt from the protocol description (session.ts) rather than imported. */
export function transcript(signerKey: Uint8Array, verifierNonce: Uint8Array, signerNonce: Uint8Array): Uint8Array {
  return concatBytes(utf8('meshwork/1 link proof'), signerKey, verifierNonce, signerNonce);
}

export function hello(me: Identity, nonce: Uint8Array, want: HelloFrame['want'] = Want.Join, minor = 0): HelloFrame {
  return { type: FrameType.Hello, minor, want, publicKey: me.publicKey, nonce, caps: [], addrs: [] };
}

/**
 * Plays the raw side of a handshake with `node`: sends our hello, waits for the node's hello,
 * then sends the proof that `proof` computes (the honest one by default). `minor`: the wire minor our hello says.
 */
export async function rawHandshake(
  net: TestNet,
  raw: RawPeer,
  me: Identity,
  proof: (theirHello: HelloFrame, ourNonce: Uint8Array) => Promise<Uint8Array> = (h, n) => me.sign(transcript(me.publicKey, h.nonce, n)),
  minor = 0,
): Promise<HelloFrame> {
  const nonce = new Uint8Array(32).map((_, i) => i * 7 + 1);
  raw.send(hello(me, nonce, Want.Join, minor));
  await driveUntil(net.clock, () => raw.frames().some((f) => f.type === FrameType.Hello), 1000, "the node's hello");
  const theirs = raw.frames().find((f): f is HelloFrame => f.type === FrameType.Hello)!;
  raw.send({ type: FrameType.Proof, signature: await proof(theirs, nonce) });
  return theirs;
}
