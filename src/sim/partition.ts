/**
 * Partition and heal, on the simulator: a converged mesh is split in two (memory links across
 * the split close, dials across fail), requests across it fail cleanly with typed errors, then
 * the split heals and requests across must all be answered again within a bounded virtual time.
 */
import { SeededRandom } from '../core/clock.js';
import { isMeshError } from '../core/errors.js';
import type { SimNode } from './simulation.js';
import { Simulation } from './simulation.js';

export interface PartitionOptions {
  nodes: number;
  seed: number;
  linkBudget: number;
  /** Requests per measurement. Default 100. */
  requests?: number;
  /** Virtual seconds the split lasts. Default 60. */
  splitSeconds?: number;
  /** Give up on the heal after this many virtual seconds. Default 600. */
  maxHealSeconds?: number;
  onProgress?: (line: string) => void;
}

/** What became of a batch of requests: answers, and failures by error code. */
export interface Batch {
  sent: number;
  answered: number;
  failed: Record<string, number>;
  /** Requests that neither answered nor failed: must be 0 (every request ends). */
  unsettled: number;
}

export interface PartitionResult {
  nodes: number;
  seed: number;
  converged: boolean;
  before: Batch;
  acrossDuringSplit: Batch;
  withinDuringSplit: Batch;
  /** Virtual seconds from the heal until a whole batch across the old split was answered; -1 if never. */
  healSeconds: number;
  afterHeal: Batch;
  drops: Record<string, number>;
  virtualSeconds: number;
}

const PORT = 7;
const TIMEOUT_MS = 5_000;

export async function runPartition(o: PartitionOptions): Promise<PartitionResult> {
  const requests = o.requests ?? 100;
  const log = o.onProgress ?? (() => undefined);
  const sim = new Simulation({ nodes: o.nodes, seed: o.seed, messages: 0, churn: 0, linkBudget: o.linkBudget, keepRunning: true, maxConvergeSeconds: 600 });
  const converged = (await sim.run()).converged;
  const rng = new SeededRandom(`meshwork-partition/${o.seed}`);
  for (const n of sim.nodes) n.node.handle(PORT, () => 'pong');
  const all = sim.nodes;
  const half = Math.ceil(all.length / 2);
  const [left, right] = [all.slice(0, half), all.slice(half)];
  const pick = (from: SimNode[]) => from[rng.int(from.length)]!;

  /** `n` requests from a random node of `src` to a random other node of `dst`, then waits out the timeout. */
  async function batch(n: number, src: SimNode[], dst: SimNode[]): Promise<Batch> {
    const b: Batch = { sent: 0, answered: 0, failed: {}, unsettled: 0 };
    for (let i = 0; i < n; i++) {
      const a = pick(src);
      let z = pick(dst);
      while (z === a) z = pick(dst);
      b.sent++;
      b.unsettled++;
      a.node.request(z.node.id, 'ping', { port: PORT, timeoutMs: TIMEOUT_MS }).then(
        () => (b.unsettled--, b.answered++),
        (err: unknown) => {
          b.unsettled--;
          const code = isMeshError(err) ? err.code : 'error';
          b.failed[code] = (b.failed[code] ?? 0) + 1;
        },
      );
      if (i % 10 === 9) await sim.clock.runUntil(sim.clock.now() + 10);
    }
    await sim.clock.runUntil(sim.clock.now() + TIMEOUT_MS + 1_000);
    return b;
  }

  const before = await batch(requests, all, all);
  log(`before the split: ${before.answered}/${before.sent} answered`);

  sim.network.partition([left.map((n) => n.addr), right.map((n) => n.addr)]);
  const acrossL = await batch(requests / 2, left, right);
  const acrossR = await batch(requests / 2, right, left);
  const acrossDuringSplit = merge(acrossL, acrossR);
  log(`split, across: ${acrossDuringSplit.answered}/${acrossDuringSplit.sent} answered, failed ${JSON.stringify(acrossDuringSplit.failed)}`);
  await sim.clock.runUntil(sim.clock.now() + (o.splitSeconds ?? 60) * 1_000);
  const withinDuringSplit = merge(await batch(requests / 2, left, left), await batch(requests / 2, right, right));
  log(`split, within each side: ${withinDuringSplit.answered}/${withinDuringSplit.sent} answered`);

  sim.network.heal();
  const healedAt = sim.clock.now();
  let healSeconds = -1;
  const deadline = healedAt + (o.maxHealSeconds ?? 600) * 1_000;
  while (sim.clock.now() < deadline) {
    const probe = merge(await batch(10, left, right), await batch(10, right, left));
    log(`healing, t+${Math.round((sim.clock.now() - healedAt) / 1000)} s: ${probe.answered}/${probe.sent} across answered`);
    if (probe.answered === probe.sent) {
      healSeconds = Math.round((sim.clock.now() - healedAt) / 1000);
      break;
    }
    await sim.clock.runUntil(sim.clock.now() + 5_000);
  }
  const afterHeal = await batch(requests, all, all);
  log(`after the heal: ${afterHeal.answered}/${afterHeal.sent} answered`);

  const drops: Record<string, number> = {};
  for (const n of sim.nodes) for (const [k, v] of n.node.counters.drops) drops[k] = (drops[k] ?? 0) + v;
  for (const n of sim.nodes) await n.node.stop();
  return { nodes: o.nodes, seed: o.seed, converged, before, acrossDuringSplit, withinDuringSplit, healSeconds, afterHeal, drops, virtualSeconds: Math.round(sim.clock.now() / 1000) };
}

function merge(a: Batch, b: Batch): Batch {
  const failed = { ...a.failed };
  for (const [k, v] of Object.entries(b.failed)) failed[k] = (failed[k] ?? 0) + v;
  return { sent: a.sent + b.sent, answered: a.answered + b.answered, failed, unsettled: a.unsettled + b.unsettled };
}
