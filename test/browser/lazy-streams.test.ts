/**
 * A browser node loads its streams part (/meshwork/streams.js) only on first use
 * (src/browser/lazy-stream-service.ts): a node whose apps never use streams, and to which no
 * peer opens one, never fetches it; a peer's stream makes the node fetch it, and the packets
 * that came before it ran are answered as they would have been (a refusal on a port no app
 * takes, the data on one an app takes); a leader-tab node loads it with import(). A tab that
 * runs its stream itself on its data plane (docs/DATA-PLANE.md, "Streams") spares its node the
 * part. What the
 * browsers fetch is read from the server's own HTTP requests.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MeshStream } from '../../src/server/server-node.js';
import { readAll, writeAll } from '../helpers/streams.js';
import { bootTab, browserAndServer, buildBundles, deliver, ENGINES, ensureBrowsers, waitFor, watchStreamsFetches, withLogs } from './harness.js';

ensureBrowsers();
buildBundles();

for (const engine of ENGINES) {
  describe(`streams loaded on first use, ${engine}`, () => {
    const suite = browserAndServer(engine);

    test('nodes that never use streams never fetch streams.js; a node fetches it when its app takes streams, and the other when its app opens one', () =>
      withLogs(async () => {
        const fetches = watchStreamsFetches(suite.server);
        try {
          const c1 = await suite.browser.createBrowserContext();
          const c2 = await suite.browser.createBrowserContext();
          const a = await bootTab(c1, suite.server.http, `${engine}:lazy/a`);
          const b = await bootTab(c2, suite.server.http, `${engine}:lazy/b`);
          // Messages, requests and status, both ways: everything but streams.
          await deliver(a.page, b.page, b.id, 'no streams here');
          await deliver(b.page, a.page, a.id, 'nor here');
          const echo = await a.page.evaluate((to) => (window as any).mesh.request(to, 'ping', { port: 1, timeoutMs: 10_000 }), b.id);
          assert.equal(echo, 'echo:ping');
          await a.page.evaluate(() => (window as any).mesh.status());
          assert.equal(fetches.count(), 0, 'no node fetched streams.js');

          await b.page.evaluate(() => (window as any).T.streamServe(20));
          await waitFor("b's node fetched streams.js", async () => fetches.count() === 1);
          // a's tab hosts its link to b, bound: it runs the stream it opens itself (docs/DATA-PLANE.md, "Streams").
          const fastOf = (p: typeof a.page) => p.evaluate(() => (window as any).mesh.status().then((s: any) => s.fastPath));
          await waitFor("a's tab holds a bound grant for b", async () => (await fastOf(a.page)).bound === 1, 30_000);
          const sent = await a.page.evaluate((to) => {
            const T = (window as any).T;
            return T.streamSend(to, 20, 300_000, 16_384, 5);
          }, b.id);
          assert.equal(sent.error, undefined, JSON.stringify(sent));
          const got = await waitFor('the stream read to its end in b', () => b.page.evaluate(() => (window as any).T.stream.results[0]), 30_000);
          assert.deepEqual(got, { from: a.id, bytes: 300_000, sha256: sent.sha256 });
          assert.equal((await fastOf(a.page)).streamsOpened, 1, "a's tab ran the stream itself (tab-stream-plane.js)");
          assert.equal(fetches.count(), 1, "so a's node never needed streams.js");
          await c1.close();
          await c2.close();
        } finally {
          fetches.stop();
        }
      }));

    test("a peer's stream makes the node load streams.js: refused on a port no app takes, delivered on one an app takes", () =>
      withLogs(async () => {
        const fetches = watchStreamsFetches(suite.server);
        try {
          const ctx = await suite.browser.createBrowserContext();
          const b = await bootTab(ctx, suite.server.http, `${engine}:lazy/inbound`);
          assert.equal(fetches.count(), 0);
          // Open, data and close leave at once: they reach b's node before its streams part runs.
          const refused = suite.server.openStream(b.id, { port: 7, timeoutMs: 20_000 }) as MeshStream;
          const outcome = await Promise.allSettled([writeAll(refused.writable, 50_000, 10_000), readAll(refused.readable)]);
          for (const o of outcome) {
            assert.equal(o.status, 'rejected');
            assert.equal((o as PromiseRejectedResult).reason.code, 'REFUSED', String((o as PromiseRejectedResult).reason));
          }
          assert.equal(fetches.count(), 1, 'the first Stream packet made the node fetch streams.js');

          // streamServe resolves with mesh.synced(): the node takes port 20 before the server opens
          // (handleStreams reaches the node as a message; an Open that overtook it was refused).
          await b.page.evaluate(() => (window as any).T.streamServe(20));
          const s = suite.server.openStream(b.id, { port: 20, timeoutMs: 20_000 }) as MeshStream;
          const sha256 = await writeAll(s.writable, 200_000, 16_384);
          const got = await waitFor('the stream read to its end in the tab', () => b.page.evaluate(() => (window as any).T.stream.results[0]), 30_000);
          assert.deepEqual(got, { from: suite.server.id, bytes: 200_000, sha256 });
          assert.equal(fetches.count(), 1, 'loaded once');
          await ctx.close();
        } finally {
          fetches.stop();
        }
      }));

    test('a leader-tab node loads streams.js with import() when its app takes streams', () =>
      withLogs(async () => {
        const fetches = watchStreamsFetches(suite.server);
        try {
          const ctx = await suite.browser.createBrowserContext();
          const b = await bootTab(ctx, suite.server.http, `${engine}:lazy/leader`, { forceLeaderTab: true });
          assert.equal(b.host, 'leader-tab');
          assert.equal(fetches.count(), 0);
          await b.page.evaluate(() => (window as any).T.streamServe(20));
          const s = suite.server.openStream(b.id, { port: 20, timeoutMs: 20_000 }) as MeshStream;
          const sha256 = await writeAll(s.writable, 200_000, 16_384);
          const got = await waitFor('the stream read to its end in the leader tab', () => b.page.evaluate(() => (window as any).T.stream.results[0]), 30_000);
          assert.deepEqual(got, { from: suite.server.id, bytes: 200_000, sha256 });
          assert.equal(fetches.count(), 1);
          const entries = await b.page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));
          assert.ok(entries.includes('/meshwork/streams.js'), `the page fetched it: ${entries.join(' ')}`);
          await ctx.close();
        } finally {
          fetches.stop();
        }
      }));
  });
}
