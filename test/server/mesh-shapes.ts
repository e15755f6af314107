/**
 * Scenario shared by the line and star tests: servers joined in a shape, two Node API clients
 * at its far ends, and the three services carried across with their data types intact.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isMeshError, type Message, type ServerNode } from '../../src/server/index.js';
import { until, within } from '../helpers/wait.js';
import { client, eventually, server, stopAll } from './helpers.js';

export type Shape = 'line' | 'star';

/** Whom server i dials at start: its predecessor (line) or the hub (star). */
function peersOf(shape: Shape, servers: ServerNode[], i: number): string[] {
  if (i === 0) return [];
  return [(shape === 'line' ? servers[i - 1]! : servers[0]!).url!];
}

export function meshScenario(count: number, shape: Shape): void {
  describe(`${count} servers in a ${shape}`, { timeout: 30_000 }, () => {
    const servers: ServerNode[] = [];
    let a: ServerNode;
    let b: ServerNode;
    const inbox: Message[] = [];

    before(async () => {
      for (let i = 0; i < count; i++) servers.push(await server({ peers: peersOf(shape, servers, i) }));
      // The clients hang off the two ends: the first and last server of a line, two leaves of a star.
      a = await client([servers[shape === 'line' ? 0 : 1]!.url!]);
      b = await client([servers[count - 1]!.url!]);
      b.onMessage((m) => inbox.push(m));
      b.handle(7, (m) => (typeof m.data === 'string' ? `echo:${m.data}` : Uint8Array.from(m.data).reverse()));
    });
    after(() => stopAll([a, b, ...servers]));

    /** Sends until one copy of `data` arrives at b (early sends may find no route yet). */
    const deliver = (data: string | Uint8Array) =>
      eventually(
        async () => {
          inbox.length = 0;
          await a.send(b.id, data, { port: 3 });
          await until(() => inbox.length > 0, 500, 'datagram at b');
          return inbox[0]!;
        },
        15_000,
        `datagram from a to b across ${count} servers in a ${shape}`,
      );

    it('carries datagrams between clients: strings stay strings, bytes stay bytes', async () => {
      const text = await deliver('hello, mesh');
      assert.equal(text.data, 'hello, mesh');
      assert.equal(text.from, a.id);
      assert.equal(text.port, 3);
      const bytes = await deliver(Uint8Array.of(0, 1, 2, 255));
      assert.ok(bytes.data instanceof Uint8Array, 'bytes arrive as a Uint8Array');
      assert.deepEqual(bytes.data, Uint8Array.of(0, 1, 2, 255));
      // A Node Buffer goes in; plain bytes come out.
      const buffered = await deliver(Buffer.from('buffer'));
      assert.equal(Object.getPrototypeOf(buffered.data), Uint8Array.prototype);
      assert.deepEqual(buffered.data, new TextEncoder().encode('buffer'));
    });

    it('answers requests between clients and from servers to clients', async () => {
      const ask = (from: ServerNode, data: string | Uint8Array) =>
        eventually(() => from.request(b.id, data, { port: 7, timeoutMs: 700 }), 15_000, `request from ${from.id.slice(0, 8)} to b`);
      assert.equal(await ask(a, 'ping'), 'echo:ping');
      assert.deepEqual(await ask(a, Uint8Array.of(1, 2, 3)), Uint8Array.of(3, 2, 1));
      const middle = servers[Math.floor(count / 2)]!;
      assert.equal(await ask(middle, 'from the middle'), 'echo:from the middle');
    });

    it('fails a request to a port nobody handles with MeshError REFUSED, before its timeout', async () => {
      await assert.rejects(within(a.request(b.id, 'anyone?', { port: 4242, timeoutMs: 10_000 }), 5_000, 'request'), (err: unknown) => isMeshError(err, 'REFUSED') && /port 4242/.test((err as Error).message));
    });

    it('publishes to subscribers on a client and on a server', async () => {
      const seen = new Map<string, unknown>();
      const middle = servers[Math.floor(count / 2)]!;
      b.subscribe('weather', (m) => seen.set('b', m.data));
      middle.subscribe('weather', (m) => seen.set('middle', m.data));
      const bytes = Uint8Array.of(9, 8, 7);
      await eventually(
        async () => {
          seen.clear();
          await a.publish('weather', bytes);
          await until(() => seen.size === 2, 700, `publication at both subscribers (got ${[...seen.keys()].join(', ') || 'none'})`);
        },
        15_000,
        'publication from a',
      );
      assert.deepEqual(seen.get('b'), bytes);
      assert.deepEqual(seen.get('middle'), bytes);
      const text = new Promise<unknown>((resolve) => b.subscribe('weather', (m) => resolve(m.data)));
      await a.publish('weather', 'sunny');
      assert.equal(await within(text, 2_000, 'text publication'), 'sunny');
    });
  });
}
