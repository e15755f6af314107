/**
 * `kill -9` of a server in the middle of traffic, then a restart from the same data dir: the same
 * id, peer memory intact (peers.json parses, no temp files left), and traffic through it again.
 * During the outage every request gets its reply or a TIMEOUT, and none is handled twice.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import type { ServerNode } from '../../src/server/index.js';
import { startChild, type Child } from '../helpers/child.js';
import { sleep, until, within } from '../helpers/wait.js';
import { client, eventually, stopAll, tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `meshwork serve` from source, as a separate process we can kill, and the id it prints. */
function serve(port: number, dataDir: string): Child & { id: Promise<string> } {
  const child = startChild(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'serve', '--port', String(port), '--data-dir', dataDir], { cwd: ROOT });
  const id = child.line(/meshwork: node ([0-9a-f]{64})/).then((m) => m[1]!);
  id.catch(() => undefined);
  return { ...child, id };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('kill -9 and restart', { timeout: 60_000 }, () => {
  const nodes: ServerNode[] = [];
  const children: Child[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of children) c.proc.kill('SIGKILL');
    await stopAll(nodes);
    for (const c of cleanups) await c();
  });

  it('comes back with the same id and intact memory, and traffic through it resumes', async () => {
    const dir = await tempDir('crash');
    cleanups.push(dir.remove);
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/mesh`;
    let child = serve(port, dir.path);
    children.push(child);
    const id = await within(child.id, 15_000, 'the server starts');

    // Two leaves (no port: they cannot link to each other), so a's requests to b cross the server.
    const a = await client([url]);
    const b = await client([url]);
    nodes.push(a, b);
    const handled = new Map<string, number>();
    b.handle(5, (m) => {
      handled.set(String(m.data), (handled.get(String(m.data)) ?? 0) + 1);
      return `re: ${String(m.data)}`;
    });
    // Each probe its own payload: a probe that timed out may still be handled, and the retry is
    // another request, not a second handling of the same one (checked at the end).
    let probe = 0;
    await eventually(() => a.request(b.id, `warm up ${probe++}`, { port: 5, timeoutMs: 700 }), 10_000, 'a reaches b through the server');
    await until(() => readdirSync(dir.path).includes('peers.json'), 10_000, 'the server saved its peer memory');
    // A stale temp file, as a crash mid-save would leave one.
    await writeFile(join(dir.path, '.peers.json.tmp-99999-deadbeef'), '{"format":"meshwork-pe');

    // Requests every 20 ms through the kill, the outage and the restart.
    const outcomes: Promise<string>[] = [];
    let answered = 0;
    let sending = true;
    const traffic = (async () => {
      for (let i = 0; sending; i++) {
        outcomes.push(
          a.request(b.id, `q${i}`, { port: 5, timeoutMs: 1_000 }).then(
            (r) => (r === `re: q${i}` ? (answered++, 'ok') : `wrong reply ${String(r)}`),
            (err: unknown) => (isMeshError(err) ? err.code : String(err)),
          ),
        );
        await sleep(20); // the pace of the traffic, not a wait for anything
      }
    })();
    await until(() => answered >= 3, 10_000, 'requests answered before the kill');
    child.proc.kill('SIGKILL');
    await child.closed;
    const files = await readdir(dir.path);
    JSON.parse(await readFile(join(dir.path, 'peers.json'), 'utf8')); // whole, whatever the moment of the kill

    child = serve(port, dir.path);
    children.push(child);
    assert.equal(await within(child.id, 15_000, 'the server restarts'), id, 'same id from the data dir');
    const after = await readdir(dir.path);
    assert.deepEqual(after.filter((f) => f.includes('.tmp-')), [], `no temp files left (before restart: ${files.join(', ')})`);
    const status = (await (await fetch(`http://127.0.0.1:${port}/meshwork/status`)).json()) as { knownPeers: number };
    assert.ok(status.knownPeers >= 2, `memory restored: ${status.knownPeers} known peers`);

    await eventually(() => a.request(b.id, `back ${probe++}`, { port: 5, timeoutMs: 700 }), 15_000, 'traffic through the restarted server');
    const answeredBefore = answered;
    await until(() => answered >= answeredBefore + 3, 10_000, 'requests of the traffic answered after the restart');
    sending = false;
    await traffic;
    const results = await Promise.all(outcomes);
    const tally = results.reduce<Record<string, number>>((t, r) => ((t[r] = (t[r] ?? 0) + 1), t), {});
    console.log(`# requests across kill -9 and restart: ${JSON.stringify(tally)}`);
    for (const r of results) assert.ok(['ok', 'TIMEOUT', 'UNREACHABLE', 'CONGESTED'].includes(r), `each request got its reply or a typed error, got ${r}`);
    assert.ok((tally.ok ?? 0) > 0 && (tally.TIMEOUT ?? 0) + (tally.UNREACHABLE ?? 0) > 0, 'some answered, some lost to the outage');
    for (const [q, n] of handled) assert.equal(n, 1, `${q} handled once`);
  });
});

