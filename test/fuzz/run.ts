/**
 * The long fuzz run: `npm run fuzz -- --runs 1000000 [--target codec|link|stun|all] [--seed N]`.
 * Runs the same properties as test/core/fuzz.test.ts, many more times, and reports throughput
 * and heap growth (measured after a forced GC, so a leak shows as growth, not as garbage).
 * Exits 1 on the first counterexample (printed with its seed and path, for replay) or when the
 * heap grows past --max-heap-growth-mb (default 64).
 */
import fc from 'fast-check';
import { parseArgs } from 'node:util';
import { fuzzInput } from './mutations.js';
import { checkCodec, checkLiveLink, checkStun, fuzzLinkCase, stunInput } from './targets.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    target: { type: 'string', default: 'all' },
    seed: { type: 'string' },
    'max-heap-growth-mb': { type: 'string', default: '64' },
  },
});
const runs = Number(values.runs);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
if (!Number.isSafeInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
if (!['codec', 'link', 'stun', 'all'].includes(values.target)) throw new Error('--target is codec, link, stun or all');
const maxGrowth = Number(values['max-heap-growth-mb']) * 2 ** 20;

const gc = (globalThis as { gc?: () => void }).gc;
function heap(): number {
  gc?.();
  return process.memoryUsage().heapUsed;
}
process.on('unhandledRejection', (err) => {
  console.error('unhandled rejection during fuzzing:', err);
  process.exit(1);
});

async function run(name: string, n: number, body: () => Promise<void> | void): Promise<void> {
  const start = performance.now();
  const h0 = heap();
  await body();
  const growth = heap() - h0;
  const s = (performance.now() - start) / 1000;
  console.log(`${name}: ${n} runs in ${s.toFixed(1)} s (${Math.round(n / s)}/s), heap growth ${(growth / 2 ** 20).toFixed(1)} MB`);
  if (growth > maxGrowth) {
    console.error(`${name}: heap grew by more than ${maxGrowth / 2 ** 20} MB`);
    process.exit(1);
  }
}

console.log(`fuzz seed ${seed}${gc ? '' : ' (no --expose-gc: heap figures include garbage)'}`);
try {
  if (values.target === 'codec' || values.target === 'all') await run('codec', runs, () => fc.assert(fc.property(fuzzInput, checkCodec), { numRuns: runs, seed }));
  // A live link costs a node and a virtual-time handshake per case: a fiftieth of the runs.
  const linkRuns = Math.max(1, Math.floor(runs / 50));
  if (values.target === 'stun' || values.target === 'all') await run('stun', runs, () => fc.assert(fc.property(stunInput, checkStun), { numRuns: runs, seed }));
  if (values.target === 'link' || values.target === 'all') await run('link', linkRuns, () => fc.assert(fc.asyncProperty(fuzzLinkCase, checkLiveLink), { numRuns: linkRuns, seed }));
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
