/**
 * The simulator: N nodes running the real core (MeshNode, real Ed25519 signatures) over
 * in-memory links, on virtual time. Nodes join through a few bootstrap nodes; once the routing
 * invariant holds everywhere, random datagrams measure delivery and hops. With churn, nodes
 * are replaced continuously for 30 virtual minutes while datagrams flow.
 */
import { SeededRandom } from '../core/clock.js';
import { Identity } from '../core/identity.js';
import { MeshNode } from '../core/node.js';
import { MemoryNetwork, memoryDialer } from '../transports/memory.js';
import { checkBucketInvariant } from './validator.js';
import { mean, percentile, round } from './stats.js';
import { VirtualClock } from './virtual-clock.js';

/** How long a new node has to join before it counts as a destination under churn. */
export const JOIN_WINDOW_MS = 10_000;

export interface SimOptions {
  nodes: number;
  seed: number;
  /** Datagrams sent between random pairs once converged (or during churn). */
  messages: number;
  /** Fraction of nodes replaced per virtual minute; 0 for a static network. */
  churn: number;
  linkBudget: number;
  bootstraps?: number;
  latencyMs?: number;
  jitterMs?: number;
  /** Virtual ms between two joins. Default 10. */
  joinSpacingMs?: number;
  /** Give up waiting for convergence after this many virtual seconds. Default 1800. */
  maxConvergeSeconds?: number;
  /** Virtual minutes of churn. Default 30. */
  churnMinutes?: number;
  /** End-to-end encryption of the datagrams (a key exchange per new pair, AES-GCM per datagram). Default true. */
  encryption?: boolean;
  /** Leave the nodes running after `run` (for inspection in tests). */
  keepRunning?: boolean;
  onProgress?: (p: SimProgress) => void;
}

export interface SimProgress {
  phase: 'joining' | 'converging' | 'messages' | 'churn';
  virtualSeconds: number;
  alive: number;
  detail: string;
}

export interface SimResult {
  nodes: number;
  seed: number;
  churn: number;
  linkBudget: number;
  messages: number;
  delivered: number;
  deliveryRate: number;
  hopsMean: number;
  hopsP50: number;
  hopsP99: number;
  linksMean: number;
  linksMax: number;
  knownPeersMean: number;
  converged: boolean;
  convergeSeconds: number;
  virtualSeconds: number;
  drops: Record<string, number>;
}

export interface SimNode {
  index: number;
  addr: string;
  node: MeshNode;
  alive: boolean;
  bornAt: number;
  unlisten: () => void;
}

export class Simulation {
  readonly clock = new VirtualClock();
  readonly network: MemoryNetwork;
  private readonly rng: SeededRandom;
  readonly nodes: SimNode[] = [];
  private readonly deaths = new Map<number, number>();
  private readonly retiredDrops = new Map<string, number>();
  private nextIndex = 0;
  private readonly o: Required<Omit<SimOptions, 'onProgress'>> & Pick<SimOptions, 'onProgress'>;
  /** message marker -> hops when delivered */
  private readonly deliveries = new Map<string, number>();

  constructor(options: SimOptions) {
    this.o = {
      bootstraps: 3,
      latencyMs: 20,
      jitterMs: 10,
      joinSpacingMs: 10,
      maxConvergeSeconds: 1800,
      churnMinutes: 30,
      keepRunning: false,
      encryption: true,
      ...options,
    };
    this.rng = new SeededRandom(`meshwork-sim/${options.seed}`);
    this.network = new MemoryNetwork({ latencyMs: this.o.latencyMs, jitterMs: this.o.jitterMs, seed: options.seed, dialTimeoutMs: 3000 });
  }

  async run(): Promise<SimResult> {
    const o = this.o;
    // 1. Bootstraps, linked to each other, then everyone else joining through them.
    const bootAddrs: string[] = [];
    for (let i = 0; i < Math.min(o.bootstraps, o.nodes); i++) {
      const n = await this.spawn(bootAddrs.slice());
      bootAddrs.push(n.addr);
    }
    for (let i = bootAddrs.length; i < o.nodes; i++) {
      await this.clock.runUntil(this.clock.now() + o.joinSpacingMs);
      await this.spawn([bootAddrs[i % bootAddrs.length]!]);
      if (i % 100 === 0) this.progress('joining', `${i}/${o.nodes} joined`);
    }
    const joinedAt = this.clock.now();

    // 2. Run until the routing invariant holds on every node.
    let converged = false;
    let convergeSeconds = 0;
    const deadline = joinedAt + o.maxConvergeSeconds * 1000;
    while (this.clock.now() < deadline) {
      await this.clock.runUntil(this.clock.now() + 5000);
      const report = checkBucketInvariant(this.linkMap());
      this.progress('converging', `${report.violations} nodes missing ${report.missingBuckets} bucket links`);
      if (report.violations === 0) {
        converged = true;
        convergeSeconds = (this.clock.now() - joinedAt) / 1000;
        break;
      }
    }
    if (!converged) convergeSeconds = (this.clock.now() - joinedAt) / 1000;

    // 3. Traffic: static, or while nodes come and go.
    const sent = o.churn > 0 ? await this.churnPhase() : await this.messagePhase();
    const hops = [...this.deliveries.values()];
    const alive = this.alive();
    const linkCounts = alive.map((n) => n.node.linkIds().length);
    const drops: Record<string, number> = {};
    for (const [k, v] of this.retiredDrops) drops[k] = v;
    for (const n of this.nodes) for (const [k, v] of n.node.counters.drops) drops[k] = (drops[k] ?? 0) + v;
    if (!this.o.keepRunning) for (const n of alive) await n.node.stop();
    return {
      nodes: o.nodes,
      seed: o.seed,
      churn: o.churn,
      linkBudget: o.linkBudget,
      messages: sent,
      delivered: hops.length,
      deliveryRate: sent === 0 ? 0 : round(hops.length / sent, 4),
      hopsMean: round(mean(hops)),
      hopsP50: percentile(hops, 50),
      hopsP99: percentile(hops, 99),
      linksMean: round(mean(linkCounts)),
      linksMax: Math.max(0, ...linkCounts),
      knownPeersMean: round(mean(alive.map((n) => n.node.memory.size))),
      converged,
      convergeSeconds: round(convergeSeconds, 1),
      virtualSeconds: round(this.clock.now() / 1000, 1),
      drops,
    };
  }

  private async messagePhase(): Promise<number> {
    const alive = this.alive();
    let sent = 0;
    for (let k = 0; k < this.o.messages; k++) {
      const [a, b] = this.pickPair(alive);
      if (!a || !b) break;
      if (this.send(a, b, k)) sent++;
      if (k % 10 === 9) await this.clock.runUntil(this.clock.now() + 1);
    }
    await this.clock.runUntil(this.clock.now() + 10_000);
    this.progress('messages', `${this.deliveries.size}/${sent} delivered`);
    return sent;
  }

  /**
   * Replaces `churn` of the nodes per virtual minute, in small steps, for the churn period,
   * sending datagrams all along between nodes that have been up for the join window (10 s).
   * A datagram counts only if its destination was alive when it was sent and stayed alive
   * long enough for delivery (10 s).
   */
  private async churnPhase(): Promise<number> {
    const o = this.o;
    const stepMs = 5000;
    const steps = (o.churnMinutes * 60_000) / stepMs;
    const perStep = (o.churn * o.nodes * stepMs) / 60_000;
    const perStepMessages = o.messages / steps;
    let carryKill = 0;
    let carryMsg = 0;
    const pending: { marker: string; dst: number; at: number }[] = [];
    let counted = 0;
    let k = 0;
    const bootCount = Math.min(o.bootstraps, o.nodes);
    for (let step = 0; step < steps; step++) {
      carryKill += perStep;
      while (carryKill >= 1) {
        carryKill--;
        const victims = this.alive().filter((n) => n.index >= bootCount);
        const v = victims[this.rng.int(victims.length)];
        if (v) this.kill(v);
        const boots = this.alive().filter((n) => n.index < bootCount);
        const via = boots[this.rng.int(boots.length)] ?? this.alive()[0];
        if (via) await this.spawn([via.addr]);
      }
      carryMsg += perStepMessages;
      while (carryMsg >= 1) {
        carryMsg--;
        // Both ends must have been up for the join window: a node that started a moment ago has
        // not linked yet, and nobody could deliver to it.
        const settled = this.alive().filter((n) => this.clock.now() - n.bornAt >= JOIN_WINDOW_MS);
        const [a, b] = this.pickPair(settled);
        if (a && b && this.send(a, b, k)) pending.push({ marker: `m${k}`, dst: b.index, at: this.clock.now() });
        k++;
      }
      await this.clock.runUntil(this.clock.now() + stepMs);
      this.progress('churn', `minute ${((step * stepMs) / 60_000).toFixed(1)}, ${this.deliveries.size}/${pending.length} delivered`);
    }
    await this.clock.runUntil(this.clock.now() + 10_000);
    // Count only datagrams whose destination lived through the delivery window.
    for (const p of pending) {
      const survived = (this.deaths.get(p.dst) ?? Infinity) > p.at + 10_000;
      if (survived) counted++;
      else this.deliveries.delete(p.marker);
    }
    return counted;
  }

  private send(a: SimNode, b: SimNode, k: number): boolean {
    const marker = `m${k}`;
    a.node.send(b.node.id, marker, { port: 1 }).catch(() => undefined);
    return true;
  }

  private pickPair(alive: SimNode[]): [SimNode | undefined, SimNode | undefined] {
    if (alive.length < 2) return [undefined, undefined];
    const a = alive[this.rng.int(alive.length)]!;
    let b = a;
    while (b === a) b = alive[this.rng.int(alive.length)]!;
    return [a, b];
  }

  private async spawn(bootstrap: string[]): Promise<SimNode> {
    const index = this.nextIndex++;
    const addr = `mem:${index}`;
    const clock = this.clock.scoped(index);
    const identity = await Identity.fromSeed(this.rng.bytes(32));
    const network = this.network;
    const dialer = memoryDialer(network, addr, clock);
    const node = new MeshNode({
      identity,
      clock,
      random: new SeededRandom(`${this.o.seed}/node/${index}`),
      wallClock: () => this.clock.now(),
      dialer,
      addrs: [addr],
      bootstrap,
      linkBudget: this.o.linkBudget,
      keepaliveMs: 0,
      encryption: this.o.encryption,
    });
    node.actor.onBusy = (idle) => this.clock.track(idle);
    const sim: SimNode = { index, addr, node, alive: true, bornAt: this.clock.now(), unlisten: () => {} };
    sim.unlisten = network.listen(addr, clock, (link) => void node.addLink(link, { outbound: false }).catch(() => undefined));
    node.onMessage((m) => {
      if (typeof m.data === 'string' && !this.deliveries.has(m.data)) this.deliveries.set(m.data, m.hops);
    });
    this.nodes.push(sim);
    await node.start();
    return sim;
  }

  /** Stops a node and forgets it, keeping only its drop counters and time of death. */
  private kill(n: SimNode): void {
    n.alive = false;
    this.deaths.set(n.index, this.clock.now());
    n.unlisten();
    void n.node.stop();
    for (const [k, v] of n.node.counters.drops) this.retiredDrops.set(k, (this.retiredDrops.get(k) ?? 0) + v);
    this.nodes.splice(this.nodes.indexOf(n), 1);
  }

  private alive(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  private linkMap(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const n of this.alive()) m.set(n.node.id, n.node.linkIds());
    return m;
  }

  private progress(phase: SimProgress['phase'], detail: string): void {
    this.o.onProgress?.({ phase, virtualSeconds: this.clock.now() / 1000, alive: this.alive().length, detail });
  }
}
