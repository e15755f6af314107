/**
 * A – B – C on memory links, B's outgoing frames tapped (test/core/e2e.test.ts, key-cards.test.ts):
 * the test reads every byte B forwards and may alter it.
 */
import { SeededRandom } from '../../src/core/clock.js';
import { decodeFrame, FrameType, type PacketFrame } from '../../src/core/codec.js';
import type { Identity } from '../../src/core/identity.js';
import type { Link } from '../../src/core/link.js';
import { MeshNode, type Message, type MeshNodeOptions } from '../../src/core/node.js';
import { utf8 } from '../../src/core/bytes.js';
import { LinkWrapper, seededIdentity, TestNet } from './mesh.js';
import { drive, driveUntil } from './wait.js';

export const MARKER = 'MARKER-7f3a-secret-payload';

/** Does `haystack` contain `needle` anywhere? */
export function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** What B does to a frame it is about to send: returns the bytes to send instead, or null to swallow it. */
export type Tap = (frame: Uint8Array) => Uint8Array | null | Promise<Uint8Array | null>;

/** A Link that hands every outgoing frame to `tap` first (the tap may delay, read and rewrite it). */
class TappedLink extends LinkWrapper {
  private queue: Promise<void> = Promise.resolve();
  constructor(
    inner: Link,
    private readonly tap: () => Tap,
  ) {
    super(inner);
  }
  override send(frame: Uint8Array): boolean {
    // Kept in order even when the tap is asynchronous (re-signing).
    this.queue = this.queue.then(async () => {
      const out = await this.tap()(frame);
      if (out && !this.inner.closed) this.inner.send(out);
    }).catch((err: unknown) => console.log('tap failed', err));
    return true;
  }
}

export interface Chain {
  net: TestNet;
  a: MeshNode;
  b: MeshNode;
  c: MeshNode;
  aId: Identity;
  /** Every frame B sent, as it left B. */
  forwarded: Uint8Array[];
  setTap(t: Tap): void;
  inbox: Message[];
}

/** A – B – C on memory links, B's outgoing frames tapped. A and C have no address, so they cannot link directly. */
export async function chain(aOptions: Partial<MeshNodeOptions> = {}, cOptions: Partial<MeshNodeOptions> = {}): Promise<Chain> {
  const net = new TestNet();
  let tap: Tap = (f) => f;
  const forwarded: Uint8Array[] = [];
  const clock = net.clock.scoped(1000);
  const b = new MeshNode({ identity: await seededIdentity('e2e/b'), clock, random: new SeededRandom('e2e/b'), keepaliveMs: 0, addrs: ['mem:e2e-b'], wallClock: () => net.clock.now() });
  b.actor.onBusy = (idle) => net.clock.track(idle);
  net.network.listen('mem:e2e-b', clock, (link) =>
    void b
      .addLink(
        new TappedLink(link, () => (frame) => {
          forwarded.push(frame);
          return tap(frame);
        }),
        { outbound: false },
      )
      .catch(() => undefined),
  );
  const a = (await net.addNode('e2e/a', { addrs: [], bootstrap: ['mem:e2e-b'], ...aOptions })).node;
  const c = (await net.addNode('e2e/c', { addrs: [], bootstrap: ['mem:e2e-b'], ...cOptions })).node;
  await drive(net.clock, Promise.all([b.start(), a.start(), c.start()]), 1000, 'start');
  await driveUntil(net.clock, () => b.linkIds().length === 2, 5000, 'A and C linked to B');
  const inbox: Message[] = [];
  c.onMessage((m) => inbox.push(m));
  c.handle(5, (m) => `reply to ${String(m.data)}: ${MARKER}-reply`);
  return { net, a, b, c, aId: await seededIdentity('e2e/a'), forwarded, setTap: (t) => (tap = t), inbox };
}

/** Packets in `frames` of `kind` that travel from `src` (forwarded by B). */
export function packets(frames: Uint8Array[], kind: number, src?: MeshNode): PacketFrame[] {
  return frames
    .map((f) => decodeFrame(f))
    .flatMap((d) => (d.ok && d.value.type === FrameType.Packet && d.value.kind === kind ? [d.value] : []))
    .filter((p) => !src || Buffer.from(p.src).toString('hex') === src.id);
}

export const marker = utf8(MARKER);

