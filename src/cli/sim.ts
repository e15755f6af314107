/** `meshwork sim`: runs the simulator and prints its figures (one JSON line with --json). */
import type { Command } from 'commander';
import { runPartition } from '../sim/partition.js';
import { Simulation, type SimProgress } from '../sim/simulation.js';
import { parseFraction, parseInteger } from './options.js';

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description('simulate N nodes of the real core on in-memory links under a virtual clock')
    .option('--nodes <n>', 'number of nodes', parseInteger('--nodes', 2, 1_000_000), 1000)
    .option('--seed <s>', 'random seed: the same seed gives the same figures', parseInteger('--seed', 0, 2 ** 31), 1)
    .option('--messages <m>', 'datagrams sent between random pairs', parseInteger('--messages', 0, 10_000_000), 1000)
    .option('--churn <r>', 'fraction of nodes replaced per virtual minute (runs 30 virtual minutes)', parseFraction('--churn'), 0)
    .option('--link-budget <b>', 'most links per node', parseInteger('--link-budget', 2, 10_000), 24)
    .option('--no-encryption', 'send the datagrams in the clear (no key exchange, no AES-GCM)')
    .option('--json', 'end with one JSON line of results')
    .option('--partition', 'instead: split the converged mesh in two, measure requests across and within, heal, and time the recovery')
    .action(async (o: { nodes: number; seed: number; messages: number; churn: number; linkBudget: number; encryption: boolean; json?: boolean; partition?: boolean }) => {
      if (o.partition) return partition(o);
      const started = performance.now();
      let peakRss = process.memoryUsage().rss;
      const tty = process.stderr.isTTY;
      const sim = new Simulation({
        nodes: o.nodes,
        seed: o.seed,
        messages: o.messages,
        churn: o.churn,
        linkBudget: o.linkBudget,
        encryption: o.encryption,
        onProgress: (p: SimProgress) => {
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
          if (tty) process.stderr.write(`\r\x1b[K${p.phase} t=${p.virtualSeconds.toFixed(0)}s alive=${p.alive} ${p.detail}`);
        },
      });
      const result = await sim.run();
      if (tty) process.stderr.write('\r\x1b[K');
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      const out = { ...result, wallSeconds: Math.round((performance.now() - started) / 100) / 10, peakRssMB: Math.round(peakRss / 2 ** 20) };
      if (o.json) {
        console.log(JSON.stringify(out));
      } else {
        console.log(`nodes ${out.nodes}, seed ${out.seed}, churn ${out.churn}, link budget ${out.linkBudget}`);
        console.log(`converged: ${out.converged} after ${out.convergeSeconds} virtual s`);
        console.log(`delivered ${out.delivered}/${out.messages} (rate ${out.deliveryRate})`);
        console.log(`hops mean ${out.hopsMean}, p50 ${out.hopsP50}, p99 ${out.hopsP99}`);
        console.log(`links mean ${out.linksMean}, max ${out.linksMax}; known peers mean ${out.knownPeersMean}`);
        console.log(`wall ${out.wallSeconds} s, peak RSS ${out.peakRssMB} MB`);
      }
    });
}

/** `meshwork sim --partition`: the partition-and-heal scenario (src/sim/partition.ts). */
async function partition(o: { nodes: number; seed: number; messages: number; linkBudget: number; json?: boolean }): Promise<void> {
  const tty = process.stderr.isTTY;
  const result = await runPartition({
    nodes: o.nodes,
    seed: o.seed,
    linkBudget: o.linkBudget,
    requests: Math.max(2, o.messages),
    onProgress: (line) => (tty ? process.stderr.write(`\r\x1b[K${line}`) : undefined),
  });
  if (tty) process.stderr.write('\r\x1b[K');
  if (o.json) return console.log(JSON.stringify(result));
  const show = (b: { sent: number; answered: number; failed: Record<string, number> }) => `${b.answered}/${b.sent} answered${Object.keys(b.failed).length ? `, failed ${JSON.stringify(b.failed)}` : ''}`;
  console.log(`nodes ${result.nodes}, seed ${result.seed}, converged ${result.converged}`);
  console.log(`before the split:          ${show(result.before)}`);
  console.log(`across the split:          ${show(result.acrossDuringSplit)}`);
  console.log(`within each side:          ${show(result.withinDuringSplit)}`);
  console.log(`healed (all across answered) after ${result.healSeconds} virtual s`);
  console.log(`after the heal:            ${show(result.afterHeal)}`);
}
