import assert from 'node:assert/strict';
import type { IncomingMessage, Server } from 'node:http';
import { describe, test } from 'node:test';
import { bootTab, browserAndServer, buildBundles, deliver, ENGINES, ensureBrowsers, openTab, sleep, startServer, status, waitFor, withLogs } from './harness.js';

ensureBrowsers();
buildBundles();

for (const engine of ENGINES) {
  describe(`browser node on ${engine}`, () => {
    const suite = browserAndServer(engine);

    test('two tabs of one context share a node id; another context has another', () =>
      withLogs(async () => {
        const c1 = await suite.browser.createBrowserContext();
        const c2 = await suite.browser.createBrowserContext();
        const a = await bootTab(c1, suite.server.http, `${engine}:c1/t1`);
        const b = await bootTab(c1, suite.server.http, `${engine}:c1/t2`);
        const c = await bootTab(c2, suite.server.http, `${engine}:c2/t1`);
        assert.equal(a.id, b.id);
        assert.notEqual(a.id, c.id);
        assert.equal(a.host, 'shared-worker');
        const s = await waitFor('a websocket link to the server', async () => {
          const st = await status(a.page);
          return st.links.some((l) => l.id === suite.server.id && l.transport === 'websocket') ? st : undefined;
        });
        assert.equal(s.tabs, 2);
        assert.equal(s.keyStorage, 'cryptokey', 'non-extractable CryptoKeys where the worker can store them');
        assert.equal(s.webrtc, true);
        await c1.close();
        await c2.close();
      }));

    test('connect() resolves once the node has a link: the first request right after it is routed, not UNREACHABLE', () =>
      withLogs(async () => {
        const c1 = await suite.browser.createBrowserContext();
        const c2 = await suite.browser.createBrowserContext();
        const [a, b] = await Promise.all([bootTab(c1, suite.server.http, `${engine}:ready/a`), bootTab(c2, suite.server.http, `${engine}:ready/b`)]);
        // One try, no retry: before this change the first request failed at once with UNREACHABLE.
        const cardsGiven = suite.server.status().e2e.cardsGiven;
        const first = await a.page.evaluate(
          (to) => (window as any).mesh.request(to, 'first', { port: 1, timeoutMs: 5000 }).then((d: unknown) => ({ d }), (e: any) => ({ code: e.code, message: e.message })),
          b.id,
        );
        assert.deepEqual(first, { d: 'echo:first' });
        const st = await status(a.page);
        assert.ok(st.links.length > 0, 'linked when connect() resolved');
        // B's key came from its key card, which the server (B's link) gave at A's key request.
        assert.ok(suite.server.status().e2e.cardsGiven > cardsGiven, 'the server answered A with B’s key card');
        assert.ok((st.e2e?.keyCards ?? 0) >= 1, `A took a key card: ${JSON.stringify(st.e2e)}`);
        // status().boot: every step of the start, in the order it must happen (each side on its own clock).
        const { node, tab } = st.boot as { node: Record<string, number>; tab: Record<string, number> };
        const inOrder = (marks: Record<string, number>, names: string[]) => {
          for (let i = 1; i < names.length; i++) assert.ok(marks[names[i - 1]!]! <= marks[names[i]!]!, `${names[i - 1]} before ${names[i]}: ${JSON.stringify(marks)}`);
        };
        inOrder(node, ['host', 'hello', 'db', 'keys', 'started', 'link']);
        inOrder(node, ['hello', 'ws-dial', 'ws-open', 'link']);
        inOrder(tab, ['connect', 'lock', 'hello', 'ready']);
        await c1.close();
        await c2.close();
      }));

    test("the node dials the bootstrap server, and a later tab's other bootstrap, with its hello in the upgrade URL, which the server takes: one connection", () =>
      withLogs(async () => {
        const servers = [await startServer(), await startServer()];
        // The servers' http.Server (private): a second 'upgrade' listener only looks. Only the
        // browser's: the servers may link to each other once the node has told one of the other.
        const upgrades = servers.map((server) => {
          const seen: { url: string; protocols: string }[] = [];
          (server as unknown as { parts: { server: Server } }).parts.server.on('upgrade', (req: IncomingMessage) => {
            if (/Mozilla/.test(req.headers['user-agent'] ?? '')) seen.push({ url: req.url ?? '', protocols: String(req.headers['sec-websocket-protocol']) });
          });
          return seen;
        });
        const ctx = await suite.browser.createBrowserContext();
        try {
          const a = await bootTab(ctx, servers[0]!.http, `${engine}:url-hello`);
          const st = await status(a.page);
          assert.deepEqual(st.links.map((l) => l.transport), ['websocket']);
          // A second tab names another server: the node dials it too (host.ts dialBootstrap), the same way.
          const b = await bootTab(ctx, servers[0]!.http, `${engine}:url-hello/2`, { bootstrap: [servers[1]!.url] });
          await waitFor('a link to the second server', async () => ((await status(b.page)).links.some((l) => l.id === servers[1]!.id) ? true : undefined));
          for (const [i, server] of servers.entries()) {
            assert.equal(upgrades[i]!.length, 1, `one WebSocket from this browser to server ${i}: ${JSON.stringify(upgrades)}`);
            assert.match(upgrades[i]![0]!.url, /^\/mesh\?hello=[\w-]+$/);
            assert.equal(upgrades[i]![0]!.protocols, 'meshwork, meshwork-hello');
            // Had the node sent that hello again as a frame, the server would have refused the link ("second hello").
            assert.equal(server.status().counters.dropped['handshake:HANDSHAKE_FAILED'] ?? 0, 0);
          }
        } finally {
          await ctx.close();
          await Promise.all(servers.map((s) => s.stop()));
        }
      }));

    test('preload() starts the worker and dials nothing; connect() later takes that worker and starts the node', () =>
      withLogs(async () => {
        const server = await startServer();
        const ctx = await suite.browser.createBrowserContext();
        try {
          const page = await openTab(ctx, server.http, `${engine}:preload`);
          const answeredAt: number = await page.evaluate(() => (window as any).T.preload());
          // The worker runs (it answered) and has made no node: nothing reached the server.
          assert.equal(server.status().connections, 0, 'preload() dialled nothing');
          const r = await page.evaluate(() => (window as any).T.boot({}));
          const st = await status(page);
          // connect() found the preloaded worker: its host was made (Date.now(), as answeredAt) before that answer.
          assert.ok(st.startedAt <= answeredAt, `host made at ${st.startedAt}, answered at ${answeredAt}`);
          assert.equal(r.host, 'shared-worker');
          assert.equal(st.tabs, 1);
          assert.equal(server.status().connections, 1, 'one WebSocket from this browser');
          // The worker made its keys before the hello (key-store.ts earlyKeys) and stored them at
          // connect(): what IndexedDB holds now is the identity the node runs with, and an X25519 pair.
          const stored = await page.evaluate(() => new Promise<{ id: string; e2e: boolean }>((resolve, reject) => {
            const req = indexedDB.open('meshwork', 1);
            req.onerror = () => reject(req.error);
            req.onsuccess = () => {
              const tx = req.result.transaction('kv');
              const id = tx.objectStore('kv').get('identity');
              const e2e = tx.objectStore('kv').get('e2e-keys');
              tx.oncomplete = () => {
                if (!id.result) return resolve({ id: 'nothing stored', e2e: !!e2e.result });
                const pub = id.result.publicKey as CryptoKey | Uint8Array<ArrayBuffer>; // bytes where keys are kept so (WebKit)
                Promise.resolve(pub instanceof Uint8Array ? pub : crypto.subtle.exportKey('raw', pub))
                  .then((raw) => crypto.subtle.digest('SHA-256', raw))
                  .then((h) => resolve({ id: [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, '0')).join(''), e2e: !!e2e.result?.publicKey }), reject);
              };
            };
          }));
          assert.deepEqual(stored, { id: st.id, e2e: true });
        } finally {
          await ctx.close();
          await server.stop();
        }
      }));

    test('with no reachable bootstrap, connect() rejects with TIMEOUT; with waitForLink: false it resolves and mesh.ready waits', () =>
      withLogs(async () => {
        const ctx = await suite.browser.createBrowserContext();
        const page = await openTab(ctx, suite.server.http, `${engine}:no-link`);
        const dead = 'ws://127.0.0.1:9/mesh'; // the discard port: nothing listens there
        const err = await page.evaluate(
          (url) => (window as any).T.boot({ bootstrap: [url], timeoutMs: 1500 }).then(() => undefined, (e: any) => ({ code: e.code, message: e.message })),
          dead,
        );
        assert.equal(err?.code, 'TIMEOUT', JSON.stringify(err));
        assert.match(err.message, /first link/);
        const late = await page.evaluate(async (url) => {
          await (window as any).T.boot({ bootstrap: [url], waitForLink: false });
          // A settled `ready` wins this race (its callback is queued first); a pending one loses.
          const state = await Promise.race([(window as any).mesh.ready.then(() => 'ready'), Promise.resolve().then(() => 'waiting')]);
          return { state, links: (await (window as any).mesh.status()).links.length };
        }, dead);
        assert.deepEqual(late, { state: 'waiting', links: 0 });
        await ctx.close();
      }));
  });
}

for (const engine of ENGINES) {
  describe(`hosting fallbacks and app isolation on ${engine}`, () => {
    const suite = browserAndServer(engine);

    test('leader-tab fallback: tabs share the leader\'s node; the next tab takes over with the same id', () =>
      withLogs(async () => {
        const ctx = await suite.browser.createBrowserContext();
        const a = await bootTab(ctx, suite.server.http, `${engine}:leader`, { forceLeaderTab: true });
        const b = await bootTab(ctx, suite.server.http, `${engine}:follower`, { forceLeaderTab: true });
        assert.equal(a.host, 'leader-tab');
        assert.equal(b.host, 'leader-tab');
        assert.equal(a.id, b.id);
        const other = await bootTab(await suite.browser.createBrowserContext(), suite.server.http, `${engine}:other`);
        await waitFor('follower sees two tabs', async () => (await status(b.page)).tabs === 2);
        await deliver(other.page, b.page, b.id, 'to a follower tab');
        await a.page.close();
        await waitFor('the follower leads, same id', async () => {
          const s = await status(b.page).catch(() => undefined);
          return s && s.id === a.id && s.tabs === 1 && s.links.length > 0;
        });
        await deliver(other.page, b.page, b.id, 'after the leader left');
        const reply = await other.page.evaluate((to) => (window as any).mesh.request(to, 'x', { port: 1, timeoutMs: 5000 }), b.id);
        assert.equal(reply, 'echo:x');
      }));

    test('an app page served from another origin boots with connect({ bootstrap: [url] })', () =>
      withLogs(async () => {
        const web = await startServer(); // only serves the page: its origin is not the bootstrap's
        try {
          assert.notEqual(new URL(web.http).origin, new URL(suite.server.http).origin);
          const ctx = await suite.browser.createBrowserContext();
          const page = await openTab(ctx, `${web.http}app.html`, `${engine}:app`);
          const r = await page.evaluate((url) => (window as any).T.boot({ bootstrap: [url] }), suite.server.url!);
          const reply = await waitFor('the server reaches the app page', () =>
            suite.server.request(r.id, 'hi', { port: 1, timeoutMs: 2_000 }).catch(() => undefined),
          );
          assert.equal(reply, 'app-echo:hi');
          await ctx.close();
        } finally {
          await web.stop();
        }
      }));

    test('apps sharing a node see only their own ports', () =>
      withLogs(async () => {
        const ctx = await suite.browser.createBrowserContext();
        const alpha = await bootTab(ctx, suite.server.http, `${engine}:alpha`, { app: 'alpha' });
        const beta = await bootTab(ctx, suite.server.http, `${engine}:beta`, { app: 'beta' });
        assert.equal(alpha.id, beta.id);
        const sender = await bootTab(await suite.browser.createBrowserContext(), suite.server.http, `${engine}:alpha-sender`, { app: 'alpha' });
        await deliver(sender.page, alpha.page, alpha.id, 'for alpha only');
        await sleep(300);
        const betaInbox = await beta.page.evaluate(() => (window as any).T.inbox.length);
        assert.equal(betaInbox, 0, 'the other app saw nothing');
      }));
  });
}
