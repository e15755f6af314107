/**
 * `meshwork sim` as a user meets it: with --json the last line is one JSON object carrying the
 * figures the docs promise, the same seed prints the same figures, and bad options fail with
 * one clear line.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { startChild } from '../helpers/child.js';
import { within } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function sim(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = startChild(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'sim', ...args], { cwd: ROOT });
  const code = await within(child.closed, 120_000, `meshwork sim ${args.join(' ')}`);
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

describe('meshwork sim', () => {
  it('ends with one JSON line of figures, the same for the same seed', async () => {
    const args = ['--nodes', '40', '--messages', '60', '--seed', '7', '--json'];
    const [first, second] = await Promise.all([sim(...args), sim(...args)]);
    assert.equal(first.code, 0, first.stderr);
    const a = lastJson(first.stdout);
    const b = lastJson(second.stdout);
    for (const key of ['nodes', 'messages', 'delivered', 'deliveryRate', 'hopsMean', 'hopsP50', 'hopsP99', 'linksMean', 'linksMax', 'convergeSeconds', 'wallSeconds', 'peakRssMB']) {
      assert.equal(typeof a[key], 'number', `${key} is a number`);
    }
    assert.equal(a.nodes, 40);
    assert.equal(a.messages, 60);
    assert.equal(a.deliveryRate, 1);
    assert.ok((a.linksMax as number) <= 24);
    const { wallSeconds: _w1, peakRssMB: _r1, ...restA } = a;
    const { wallSeconds: _w2, peakRssMB: _r2, ...restB } = b;
    assert.deepEqual(restA, restB, 'the same seed gives the same figures');
  });

  it('refuses bad options with one clear line and a non-zero exit', async () => {
    for (const [args, says] of [
      [['--nodes', 'many'], /--nodes must be a whole number/],
      [['--nodes', '1'], /--nodes must be from 2/],
      [['--churn', '1.5'], /--churn must be a number from 0/],
      [['--link-budget', '1'], /--link-budget must be from 2/],
      [['--frobnicate'], /unknown option '--frobnicate'/],
    ] as const) {
      const r = await sim(...args);
      assert.notEqual(r.code, 0, `${args.join(' ')} fails`);
      assert.match(r.stderr, says);
    }
  });
});
