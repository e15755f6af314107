/**
 * The data plane in the host tab (docs/DATA-PLANE.md), in real Chromium and Firefox: two
 * browsers, one tab each, linked over WebRTC. The link's handshake binds its DTLS channel to
 * both identities, so each tab holds a grant for the other's link, and its datagrams and requests
 * to the other, and the other's to it, are written and taken in the tab, in the clear inside
 * DTLS (the counters in `status().fastPath` show it; the node's worker sees none of them). A
 * second tab of the app in one browser takes back that tab's right to take the peer's requests
 * (its grant is given again without `inbound`): those then go through its node, the peer's
 * datagrams go from the first tab to both (over the channel the node set up between them), its
 * own requests stay in the tab, and nothing is lost (test/browser/tab-relay.test.ts: the second
 * tab's own traffic). When the
 * first tab closes, its link's grant goes with the link, and the link re-homed through the
 * second tab (now the app's only one) is granted to that tab. A handler's outcome comes back on
 * the fast path however it ends: a value in the turn the request came (a datagram the handler
 * sends a microtask later arrives behind it), a promise's once it settles, a throw or a rejection
 * as REMOTE_ERROR, and an answer that is not data as a counted drop (the request times out).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'puppeteer-core';
import { bootTab, type Booted, browserAndServer, buildBundles, ENGINES, ensureBrowsers, log, waitFor, waitForRtcLinks, withLogs } from './harness.js';
import type { FastPathStatus } from '../../src/browser/protocol.js';
import { fastOf, inbox, probeDatagrams, probeRequests, request, send } from './fast-path-pages.js';

ensureBrowsers();
buildBundles();

type Fast = FastPathStatus;

for (const engine of ENGINES) {
  describe(`the data plane in the host tab (${engine})`, () => {
    const suite = browserAndServer(engine);

    test('a single tab sends and answers on the fast path; a second tab of the app takes its inbound back and nothing is lost; a re-homed link is granted to the new host tab', () =>
      withLogs(async () => {
        const { browser, server } = suite;
        const ctxA = await browser.createBrowserContext();
        const ctxB = await browser.createBrowserContext();
        const a: Booted = await bootTab(ctxA, server.http, `${engine}:A`, { bootstrap: [server.url] });
        const b: Booted = await bootTab(ctxB, server.http, `${engine}:B`, { bootstrap: [server.url] });
        await waitForRtcLinks(a.page, [b.id], 'A linked to B over webrtc');
        await waitForRtcLinks(b.page, [a.id], 'B linked to A over webrtc');

        // The first request makes the key exchange; each node then knows the other holds its key.
        assert.equal(await request(a.page, b.id, 'first'), 'echo:first');
        await waitFor('both tabs hold a grant for the other', async () => (await fastOf(a.page)).granted === 1 && (await fastOf(b.page)).granted === 1, 20_000);
        const a0 = await fastOf(a.page);
        const b0 = await fastOf(b.page);

        const N = 20;
        for (let i = 0; i < N; i++) assert.equal(await request(a.page, b.id, `fast${i}`), `echo:fast${i}`);
        for (let i = 0; i < N; i++) assert.equal(await request(b.page, a.id, `back${i}`), `echo:back${i}`);
        for (let i = 0; i < N; i++) await send(a.page, b.id, `dg${i}`);
        await waitFor(`B has the ${N} datagrams`, async () => (await inbox(b.page, a.id, 'dg')).length === N, 10_000);
        assert.deepEqual(await inbox(b.page, a.id, 'dg'), Array.from({ length: N }, (_, i) => `dg${i}`), 'datagrams arrive once each, in order');

        const a1 = await fastOf(a.page);
        const b1 = await fastOf(b.page);
        log(`fast path A ${JSON.stringify(a1)} B ${JSON.stringify(b1)}`);
        // A: N requests and N datagrams sent, N answers to B's requests; N responses and N requests of B received.
        assert.equal(a1.requests - a0.requests, N, 'A sent its requests on the fast path');
        assert.equal(a1.sent - a0.sent, N, 'A sent its datagrams on the fast path');
        assert.equal(a1.responses - a0.responses, N, "A answered B's requests on the fast path");
        assert.equal(a1.received - a0.received, 2 * N, "A opened B's responses and requests itself");
        assert.equal(b1.received - b0.received, 3 * N, "B opened A's requests, datagrams and responses itself");
        assert.equal(b1.responses - b0.responses, N, "B answered A's requests on the fast path");
        assert.deepEqual(a1.dropped, {}, 'A dropped nothing');
        assert.deepEqual(b1.dropped, {}, 'B dropped nothing');
        // The link's DTLS channel is bound to both identities (session.ts: the handshake signed
        // both fingerprints of the real session descriptions), so all of it crossed in the clear
        // inside DTLS, with no AES-GCM: A wrote 3N and took 2N, B wrote 2N and took 3N.
        assert.equal(a1.bound, 1, "A's grant is for a bound channel");
        assert.equal(b1.bound, 1, "B's grant is for a bound channel");
        assert.equal(a1.clear - a0.clear, 5 * N, 'A: every packet in the clear inside DTLS');
        assert.equal(b1.clear - b0.clear, 5 * N, 'B: every packet in the clear inside DTLS');
        for (const [page, peer] of [[a.page, b.id], [b.page, a.id]] as const) {
          const links = await page.evaluate(() => (window as any).mesh.status().then((s: any) => s.links));
          assert.equal(links.find((l: any) => l.id === peer)?.bound, true, 'status shows the link bound');
        }

        // A second tab of the app in browser B: B's first tab's grant is taken back at once, and
        // given again without inbound (A's requests are the node's to hand out; A's datagrams must
        // reach both tabs: the first tab passes them on once the node told it the listening tabs).
        const b2: Booted = await bootTab(ctxB, server.http, `${engine}:B2`, { bootstrap: [server.url] });
        assert.equal(b2.id, b.id, 'the second tab shares the node');
        await waitFor("B's first tab's grant given again without inbound", async () => {
          const s = await fastOf(b.page);
          return s.revoked > b1.revoked && s.granted === 1;
        }, 10_000);
        // The node tells B's first tab where the app's listening tabs are just after the grant:
        // A's datagrams go through B's node until then, so probe until one is passed on by the tab.
        await probeDatagrams("B's first tab passing A's datagrams to B2", a.page, b.id, b2.page, a.id, async () => (await fastOf(b.page)).relayedData);
        const bRevoked = await fastOf(b.page);

        // Datagrams from A (still a single tab: its grant stays) reach both tabs of B through B's first tab.
        for (let i = 0; i < N; i++) await send(a.page, b.id, `two${i}`);
        const want = Array.from({ length: N }, (_, i) => `two${i}`);
        for (const [name, page] of [['B', b.page], ['B2', b2.page]] as const) {
          await waitFor(`${name} has the ${N} datagrams sent after the second tab came`, async () => (await inbox(page, a.id, 'two')).length === N, 10_000);
          assert.deepEqual((await inbox(page, a.id, 'two')).sort(), [...want].sort(), `${name}: every datagram, once`);
        }
        // Requests both ways still answered: B's on B's first tab's grant; A's opened by B's first
        // tab, which handles port 1 and is the tab B's node would ask, and answered there.
        for (let i = 0; i < N; i++) assert.equal(await request(a.page, b.id, `after${i}`), `echo:after${i}`);
        for (let i = 0; i < N; i++) assert.equal(await request(b.page, a.id, `twotabs${i}`), `echo:twotabs${i}`);
        const b3 = await fastOf(b.page);
        assert.equal(b3.requests - bRevoked.requests, N, "B's first tab still sends its requests itself");
        assert.equal(b3.received - bRevoked.received, 3 * N, "and opens their answers, A's datagrams, which it passes to B2 too, and A's requests");
        assert.equal(b3.relayedData - bRevoked.relayedData, N, 'every datagram passed to B2 over their channel');
        assert.equal(b3.responses - bRevoked.responses, N, "A's requests answered by B's first tab itself (the node names it for port 1)");
        assert.equal(b3.relayedRequests - bRevoked.relayedRequests, 0, 'none passed to B2');
        const a3 = await fastOf(a.page);
        assert.equal(a3.granted, 1, 'A, a single tab, keeps its grant');
        assert.deepEqual(a3.dropped, {}, 'A dropped nothing');
        assert.deepEqual(b3.dropped, {}, 'B dropped nothing');

        // The first tab of B, which hosts the link, closes: the link closes (A's grant goes with
        // it), B's node re-homes it through B2, now its app's only tab, and both get a grant for
        // the new link.
        const aBefore = await fastOf(a.page);
        await b.page.close();
        await waitForRtcLinks(b2.page, [a.id], "B's link to A re-homed through B2");
        await waitFor('B2 and A hold a grant for the new link', async () => (await fastOf(b2.page)).granted === 1 && (await fastOf(a.page)).grants > aBefore.grants, 20_000);
        const aGranted = await fastOf(a.page);
        assert.ok(aGranted.revoked > aBefore.revoked, "A's grant for the closed link was taken back");
        // Both nodes may dial each other again at once (B's to re-home, A's to repair its mesh):
        // each keeps one of the two links, and while both are open neither is granted, so a first
        // grant may be taken back and given again for the link kept. The re-home has settled when
        // a request of A's is opened by B2 itself; the N after it must all be.
        const probes = await probeRequests('a request of A opened by B2 itself', a.page, b.id, 'settle', async () => (await fastOf(b2.page)).received);
        log(`re-home settled after ${probes} probe request(s)`);
        const b2Before = await fastOf(b2.page);
        for (let i = 0; i < N; i++) assert.equal(await request(a.page, b.id, `rehomed${i}`), `echo:rehomed${i}`);
        const b2After = await fastOf(b2.page);
        assert.equal(b2After.received - b2Before.received, N, "B2 opened A's requests itself");
        assert.equal(b2After.responses - b2Before.responses, N, 'and answered them on the fast path');
        assert.deepEqual(b2After.dropped, {}, 'B2 dropped nothing');
        await ctxA.close();
        await ctxB.close();
      }));

    test("a handler's outcome on the fast path: a value written in the turn the request came, a promise's once it settles, a throw as REMOTE_ERROR, what is not data a counted drop, no handler REFUSED", () =>
      withLogs(async () => {
        const { browser, server } = suite;
        const ctxs = [await browser.createBrowserContext(), await browser.createBrowserContext()];
        const a = await bootTab(ctxs[0]!, server.http, `${engine}:handlers-A`, { bootstrap: [server.url] });
        const b = await bootTab(ctxs[1]!, server.http, `${engine}:handlers-B`, { bootstrap: [server.url] });
        await waitForRtcLinks(a.page, [b.id], 'A linked to B over webrtc');
        assert.equal(await request(a.page, b.id, 'first'), 'echo:first');
        await waitFor('both tabs hold a grant for the other', async () => (await fastOf(a.page)).granted === 1 && (await fastOf(b.page)).granted === 1, 20_000);
        await b.page.evaluate(async () => {
          const mesh = (window as any).mesh;
          mesh.handle(11, (m: any) => `value:${m.data}`);
          mesh.handle(12, async (m: any) => `promise:${m.data}`);
          mesh.handle(13, () => {
            throw new Error('thrown');
          });
          mesh.handle(14, async () => {
            throw new Error('rejected');
          });
          mesh.handle(15, () => ({ not: 'data' }));
          // Sends a datagram one microtask after it returns: on the channel behind its answer
          // only if the answer is written in the handler's own turn.
          mesh.handle(16, (m: any) => {
            queueMicrotask(() => void mesh.send(m.from, `after:${m.data}`, { port: 5 }));
            return `first:${m.data}`;
          });
          await mesh.synced();
        });
        const a0 = await fastOf(a.page);
        const b0 = await fastOf(b.page);
        type Outcome = { ok: true; d: unknown } | { ok: false; code: string; message: string };
        const ask = (port: number, timeoutMs: number): Promise<Outcome> =>
          a.page.evaluate(
            (t, p, ms) => (window as any).mesh.request(t, 'x', { port: p, timeoutMs: ms }).then((d: unknown) => ({ ok: true, d }), (e: any) => ({ ok: false, code: e.code, message: String(e.message) })),
            b.id,
            port,
            timeoutMs,
          );
        assert.deepEqual(await ask(11, 10_000), { ok: true, d: 'value:x' });
        assert.deepEqual(await ask(12, 10_000), { ok: true, d: 'promise:x' });
        for (const [port, what] of [[13, 'thrown'], [14, 'rejected']] as const) {
          const o = await ask(port, 10_000);
          assert.ok(!o.ok && o.code === 'REMOTE_ERROR' && o.message.includes(what), `port ${port}: ${JSON.stringify(o)}`);
        }
        const notData = await ask(15, 1_500);
        assert.ok(!notData.ok && notData.code === 'TIMEOUT', `port 15: ${JSON.stringify(notData)}`);
        // No handler on port 17: B's tab gives the request to its node, which refuses it at once.
        const t0 = Date.now();
        const none = await ask(17, 10_000);
        assert.ok(!none.ok && none.code === 'REFUSED' && none.message.includes('port 17'), `port 17: ${JSON.stringify(none)}`);
        assert.ok(Date.now() - t0 < 10_000, 'before the timeout');
        const order = await a.page.evaluate(async (t) => {
          const d = await (window as any).mesh.request(t, 'y', { port: 16, timeoutMs: 10_000 });
          return { d, datagramFirst: (window as any).T.inbox.some((m: any) => m.data === 'after:y') };
        }, b.id);
        assert.deepEqual(order, { d: 'first:y', datagramFirst: false }, 'the answer came before the datagram sent after it');
        await waitFor('the datagram behind the answer', async () => (await inbox(a.page, b.id, 'after:')).length === 1, 10_000);
        const a1 = await fastOf(a.page);
        const b1 = await fastOf(b.page);
        assert.equal(a1.requests - a0.requests, 7, 'A sent every request on the fast path');
        assert.equal(b1.responses - b0.responses, 5, 'B answered all but the one that is not data and the one it has no handler for on the fast path');
        assert.ok(b1.handedOn - b0.handedOn >= 1, 'B gave the request it has no handler for to its node');
        assert.equal((b1.dropped['fast:reply-unsent'] ?? 0) - (b0.dropped['fast:reply-unsent'] ?? 0), 1, 'the answer that is not data is counted');
        for (const c of ctxs) await c.close();
      }));

    test('traffic on the fast path keeps the link from closing as idle (the tab tells its node)', () =>
      withLogs(async () => {
        const { browser, server } = suite;
        // The node never sees these packets; without the tab's report it would close the link as
        // idle after IDLE_MS (test/browser/idle.test.ts shows that it does when nothing flows).
        const IDLE_MS = 6_000;
        const ctxs = [await browser.createBrowserContext(), await browser.createBrowserContext()];
        const a = await bootTab(ctxs[0]!, server.http, `${engine}:idle-A`, { bootstrap: [server.url], idleLinkMs: IDLE_MS });
        const b = await bootTab(ctxs[1]!, server.http, `${engine}:idle-B`, { bootstrap: [server.url], idleLinkMs: IDLE_MS });
        await waitForRtcLinks(a.page, [b.id], 'A linked to B over webrtc');
        assert.equal(await request(a.page, b.id, 'first'), 'echo:first');
        await waitFor('A holds a grant for B', async () => (await fastOf(a.page)).granted === 1, 20_000);
        const before = await fastOf(a.page);
        // Requests for two idle times, one every 100 ms. Without the tab's report the node's last
        // application packet is the first request above, so the link would close one idle time
        // into the loop (and its grant be taken back: the checks below), well inside the window.
        const done: number = await a.page.evaluate(async (to, ms) => {
          const end = Date.now() + ms;
          let n = 0;
          while (Date.now() < end) {
            await (window as any).mesh.request(to, `keep${n}`, { port: 1, timeoutMs: 10_000 });
            n++;
            await new Promise((r) => setTimeout(r, 100));
          }
          return n;
        }, b.id, 2 * IDLE_MS);
        const after = await fastOf(a.page);
        const s = await a.page.evaluate(() => (window as any).mesh.status());
        assert.ok(s.links.some((l: any) => l.id === b.id && l.transport === 'webrtc'), 'the WebRTC link is still up');
        assert.equal(after.revoked, before.revoked, 'the grant was never taken back (the link never closed)');
        assert.equal(after.requests - before.requests, done, `all ${done} requests went on the fast path`);
        for (const c of ctxs) await c.close();
      }));
  });
}
