/**
 * Clients without a port are leaves: nobody can dial them, so two of them can never link. When
 * two such clients are closer to each other than to any server, strict greedy routing alone
 * would strand their packets at the source; leaves hand their packets to their closest server
 * and servers never route through a leaf. Identities are picked to force that case.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareDistance, idFromText } from '../../src/core/id.js';
import { Identity } from '../../src/core/identity.js';
import type { Message, ServerNode } from '../../src/server/index.js';
import { until } from '../helpers/wait.js';
import { client, eventually, server, stopAll, tempDir } from './helpers.js';

/** True when `x` is closer to `target` than every id in `others`. */
function closest(target: string, x: string, others: string[]): boolean {
  return others.every((o) => compareDistance(idFromText(x), idFromText(o), idFromText(target)) < 0);
}

/** Two identities each closer to the other than to any of `servers`. */
async function mutuallyClosePair(servers: string[]): Promise<[Identity, Identity]> {
  const pool = await Promise.all(Array.from({ length: 48 }, () => Identity.generate()));
  for (const a of pool) {
    for (const b of pool) {
      if (a !== b && closest(a.idText, b.idText, servers) && closest(b.idText, a.idText, servers)) return [a, b];
    }
  }
  throw new Error('no mutually close pair in the pool (vanishingly unlikely)');
}

/** A data dir holding `identity`, in the PEM form the server writes itself. */
async function dataDirWith(identity: Identity, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const b64 = Buffer.from(await identity.exportPkcs8()).toString('base64');
  await writeFile(join(dir, 'identity.key'), `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`, { mode: 0o600 });
  return dir;
}

describe('two clients closer to each other than to any server', { timeout: 30_000 }, () => {
  const servers: ServerNode[] = [];
  let a: ServerNode;
  let b: ServerNode;
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    tmp = await tempDir('leaves');
    for (let i = 0; i < 3; i++) servers.push(await server({ peers: i === 0 ? [] : [servers[i - 1]!.url!] }));
    const [ia, ib] = await mutuallyClosePair(servers.map((s) => s.id));
    a = await client([servers[0]!.url!], { dataDir: await dataDirWith(ia, join(tmp.path, 'a')) });
    b = await client([servers[2]!.url!], { dataDir: await dataDirWith(ib, join(tmp.path, 'b')) });
    assert.equal(a.id, ia.idText);
    assert.equal(b.id, ib.idText);
  });
  after(async () => {
    await stopAll([a, b, ...servers]);
    await tmp.remove();
  });

  it('exchange datagrams and requests both ways', async () => {
    const inbox: Message[] = [];
    a.onMessage((m) => inbox.push(m));
    b.onMessage((m) => inbox.push(m));
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      await eventually(
        async () => {
          inbox.length = 0;
          await from.send(to.id, 'close neighbours', { port: 1 });
          await until(() => inbox.some((m) => m.from === from.id), 500, 'datagram');
        },
        10_000,
        `datagram ${from === a ? 'a -> b' : 'b -> a'}`,
      );
    }
    b.handle(2, () => 'yes');
    assert.equal(await eventually(() => a.request(b.id, 'there?', { port: 2, timeoutMs: 700 }), 10_000, 'request a -> b'), 'yes');
    // No server ever forwarded through a client: every link of a client is to a server.
    for (const c of [a, b]) for (const l of c.status().links) assert.ok(servers.some((s) => s.id === l.id), 'clients link only to servers');
  });
});
