/**
 * Partitions and heals on the simulator (src/sim/partition.ts): across a split, requests fail
 * with typed errors and every one of them ends; each side keeps serving itself; after the heal,
 * requests across are answered again within bounded virtual time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startChild } from '../helpers/child.js';
import { fileURLToPath } from 'node:url';
import { runPartition } from '../../src/sim/partition.js';
import { within } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('partition and heal', { timeout: 60_000 }, () => {
  it('fails cleanly across a split, and delivers everything again after the heal', async () => {
    const r = await runPartition({ nodes: 40, seed: 1, linkBudget: 12, requests: 100 });
    console.log(`# partition: across ${r.acrossDuringSplit.answered}/${r.acrossDuringSplit.sent} ${JSON.stringify(r.acrossDuringSplit.failed)}, healed in ${r.healSeconds} virtual s`);
    assert.equal(r.converged, true, 'setup: the mesh converged');
    for (const b of [r.before, r.acrossDuringSplit, r.withinDuringSplit, r.afterHeal]) assert.equal(b.unsettled, 0, 'every request ended');
    assert.equal(r.before.answered, r.before.sent);
    assert.equal(r.acrossDuringSplit.answered, 0, 'nothing crosses the split');
    const failed = r.acrossDuringSplit.failed;
    assert.equal((failed.TIMEOUT ?? 0) + (failed.UNREACHABLE ?? 0), r.acrossDuringSplit.sent, `typed failures: ${JSON.stringify(failed)}`);
    assert.equal(r.withinDuringSplit.answered, r.withinDuringSplit.sent, 'each side keeps serving itself');
    assert.ok(r.healSeconds >= 0 && r.healSeconds <= 120, `healed within 120 virtual s (took ${r.healSeconds})`);
    assert.equal(r.afterHeal.answered, r.afterHeal.sent, 'delivery back to 1 after the heal');
    assert.ok((r.drops['dial:DIAL_FAILED'] ?? 0) > 0, 'the dials across the split were counted as failed');
  });

  it('runs from the command line: meshwork sim --partition --json', async () => {
    const child = startChild(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'sim', '--partition', '--nodes', '20', '--messages', '20', '--link-budget', '10', '--json'], { cwd: ROOT });
    assert.equal(await within(child.closed, 60_000, 'meshwork sim --partition'), 0);
    const r = JSON.parse(child.stdout().trim().split('\n').pop()!) as { nodes: number; acrossDuringSplit: { answered: number }; afterHeal: { sent: number; answered: number }; healSeconds: number };
    assert.equal(r.nodes, 20);
    assert.equal(r.acrossDuringSplit.answered, 0);
    assert.ok(r.healSeconds >= 0);
    assert.equal(r.afterHeal.answered, r.afterHeal.sent);
  });
});
