/** Runs one simulation in its own process (so the bench can time it out): prints one JSON line. */
import { Simulation } from '../src/sim/simulation.js';

const [nodes, messages] = process.argv.slice(2).map(Number);
const started = performance.now();
let peakRss = process.memoryUsage().rss;
const sim = new Simulation({
  nodes: nodes!,
  seed: 1,
  messages: messages!,
  churn: 0,
  linkBudget: 24,
  onProgress: (p) => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    process.stderr.write(`${p.phase} t=${p.virtualSeconds.toFixed(0)}s alive=${p.alive} ${p.detail}\n`);
  },
});
const r = await sim.run();
peakRss = Math.max(peakRss, process.memoryUsage().rss);
console.log(JSON.stringify({ ...r, wallSeconds: Math.round((performance.now() - started) / 100) / 10, peakRssMB: Math.round(peakRss / 2 ** 20) }));
process.exit(0);
