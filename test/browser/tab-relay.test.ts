/**
 * The data plane across tabs (docs/DATA-PLANE.md, "Several tabs"), in real Chromium and Firefox:
 * browser A with two tabs of one app, the WebRTC link to browser B hosted by A's first tab. The
 * second tab's datagrams and requests to B are sealed in that tab and posted to the first over
 * the MessageChannel A's worker set up; the first writes them on the DataChannel and passes the
 * answers back. The counters prove the path: the second tab's frames went through the first
 * (`viaTab`, `relayedOut`), B opened them itself, and A's worker sealed and opened none of them.
 * B's datagrams to A are opened by the first tab and passed to the second over the same channel;
 * B's requests to A's app while it has two tabs are opened by the first tab too: it runs them
 * itself when it handles the port, else passes them to the tab that does over their channel and
 * writes that tab's answer on the DataChannel; A's worker asks no tab. When that tab closes with
 * requests flowing, none is lost and none runs twice (what was in flight goes to A's node, whose
 * worker asks another tab; then the first tab passes them to that one).
 * Closing the second tab leaves the first tab's path intact (its app is single-tab again: it
 * takes B's packets itself once more); closing the first re-homes the link to the second, which
 * then holds a grant for it and loses nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'puppeteer-core';
import { bootTab, browserAndServer, buildBundles, ENGINES, ensureBrowsers, log, status, waitFor, waitForRtcLinks, withLogs } from './harness.js';
import type { FastPathStatus } from '../../src/browser/protocol.js';
import { fastOf, inbox, probeDatagrams, probeRequests, probeUntil, request, send } from './fast-path-pages.js';

ensureBrowsers();
buildBundles();

/** What the node's worker sealed and opened itself (e2e.ts status). */
const workerE2e = (page: Page): Promise<{ sealed: number; opened: number }> =>
  page.evaluate(() => (window as any).mesh.status().then((s: any) => ({ sealed: s.e2e.sealed, opened: s.e2e.opened })));
/** The requests A's worker asked one of its tabs to run (host-handlers.ts `ask`). */
const workerAsked = (page: Page): Promise<number> => page.evaluate(() => (window as any).mesh.status().then((s: any) => s.tabRequests));
const delta = (after: FastPathStatus, before: FastPathStatus, k: keyof FastPathStatus): number => (after[k] as number) - (before[k] as number);

for (const engine of ENGINES) {
  describe(`the data plane across tabs (${engine})`, () => {
    const suite = browserAndServer(engine);

    /** A (one tab) and B (one tab) linked, each holding a grant for the other; then a second tab in A. */
    async function twoTabsAndB(name: string) {
      const { browser, server } = suite;
      const ctxA = await browser.createBrowserContext();
      const ctxB = await browser.createBrowserContext();
      const a1 = await bootTab(ctxA, server.http, `${engine}:${name}-A1`, { bootstrap: [server.url] });
      const b = await bootTab(ctxB, server.http, `${engine}:${name}-B`, { bootstrap: [server.url] });
      await waitForRtcLinks(a1.page, [b.id], 'A linked to B over webrtc');
      assert.equal(await request(a1.page, b.id, 'first'), 'echo:first');
      await waitFor('A1 and B hold a grant for each other', async () => (await fastOf(a1.page)).granted === 1 && (await fastOf(b.page)).granted === 1, 20_000);
      const a2 = await bootTab(ctxA, server.http, `${engine}:${name}-A2`, { bootstrap: [server.url] });
      assert.equal(a2.id, a1.id, 'the second tab shares the node');
      // A1 hosts the link; A2 gets a grant through it, and A1's is given again without inbound (its app has two tabs now).
      await waitFor('A2 holds a grant through A1, and A1 one of its own', async () => (await fastOf(a2.page)).granted === 1 && (await fastOf(a1.page)).granted === 1, 20_000);
      const hosted = await a1.page.evaluate(() => (window as any).mesh.status().then((s: any) => s.hostedBy));
      log(`hostedBy ${JSON.stringify(hosted)}`);
      return { ctxA, ctxB, a1, a2, b };
    }

    test("a second tab's requests and datagrams go tab 2 -> tab 1 -> DataChannel and are answered; closing tab 2 leaves tab 1's path intact", () =>
      withLogs(async () => {
        const { ctxA, ctxB, a1, a2, b } = await twoTabsAndB('relay');
        const N = 20;
        const [a1_0, a2_0, b_0, w_0] = [await fastOf(a1.page), await fastOf(a2.page), await fastOf(b.page), await workerE2e(a1.page)];
        for (let i = 0; i < N; i++) assert.equal(await request(a2.page, b.id, `t2-${i}`), `echo:t2-${i}`);
        for (let i = 0; i < N; i++) await send(a2.page, b.id, `dg${i}`);
        await waitFor(`B has the ${N} datagrams of the second tab`, async () => (await inbox(b.page, a2.id, 'dg')).length === N, 10_000);
        assert.deepEqual(await inbox(b.page, a2.id, 'dg'), Array.from({ length: N }, (_, i) => `dg${i}`), 'once each, in order');
        // The first tab, with its app now on two tabs, still sends on its own grant.
        for (let i = 0; i < N; i++) assert.equal(await request(a1.page, b.id, `t1-${i}`), `echo:t1-${i}`);
        const [a1_1, a2_1, b_1, w_1] = [await fastOf(a1.page), await fastOf(a2.page), await fastOf(b.page), await workerE2e(a1.page)];
        log(`A1 ${JSON.stringify(a1_1)} A2 ${JSON.stringify(a2_1)} B ${JSON.stringify(b_1)} worker ${JSON.stringify(w_0)} -> ${JSON.stringify(w_1)}`);
        assert.equal(delta(a2_1, a2_0, 'requests'), N, 'A2 sealed its requests itself');
        assert.equal(delta(a2_1, a2_0, 'sent'), N, 'and its datagrams');
        assert.equal(delta(a2_1, a2_0, 'viaTab'), 2 * N, 'all of them through the tab that hosts the link');
        assert.equal(delta(a2_1, a2_0, 'viaTabAnswers'), N, 'the answers came back from that tab');
        assert.equal(delta(a1_1, a1_0, 'relayedOut'), 2 * N, "A1 wrote A2's frames on its DataChannel");
        assert.equal(delta(a1_1, a1_0, 'relayedBack'), N, "and passed B's answers straight to A2");
        assert.equal(delta(a1_1, a1_0, 'requests'), N, "A1's own requests on its grant");
        assert.equal(delta(b_1, b_0, 'received'), 3 * N, 'B opened every request and datagram itself');
        assert.equal(delta(b_1, b_0, 'responses'), 2 * N, 'and answered on its fast path');
        assert.equal(w_1.sealed - w_0.sealed, 0, "A's worker sealed none of them");
        assert.equal(w_1.opened - w_0.opened, 0, "and opened none of the answers");
        for (const s of [a1_1, a2_1, b_1]) assert.deepEqual(s.dropped, {}, 'nothing dropped');

        // B's requests to A: A's app has two tabs, so they go through A's node (it picks the handling tab), answered.
        for (let i = 0; i < 5; i++) assert.equal(await request(b.page, a1.id, `in${i}`), `echo:in${i}`);
        // B's datagrams to A: A1 opens them and passes them to A2 over their channel; both tabs get each once.
        await probeDatagrams('A1 passing datagrams to A2', b.page, a1.id, a2.page, b.id, async () => (await fastOf(a1.page)).relayedData);
        const [a1_d, a2_d, w_d] = [await fastOf(a1.page), await fastOf(a2.page), await workerE2e(a1.page)];
        for (let i = 0; i < N; i++) await send(b.page, a1.id, `in-dg${i}`);
        const want = Array.from({ length: N }, (_, i) => `in-dg${i}`);
        for (const [name, page] of [['A1', a1.page], ['A2', a2.page]] as const) {
          await waitFor(`${name} has B's ${N} datagrams`, async () => (await inbox(page, b.id, 'in-dg')).length === N, 10_000);
          assert.deepEqual(await inbox(page, b.id, 'in-dg'), want, `${name}: each once, in order`);
        }
        const [a1_e, a2_e, w_e] = [await fastOf(a1.page), await fastOf(a2.page), await workerE2e(a1.page)];
        assert.equal(delta(a1_e, a1_d, 'relayedData'), N, 'A1 opened them and passed each to A2');
        assert.equal(delta(a2_e, a2_d, 'viaTabData'), N, 'A2 got each from A1');
        assert.equal(w_e.opened - w_d.opened, 0, "A's worker opened none of them");

        // The second tab closes: the channel goes, and A1's app is single-tab again: its grant takes B's packets once more.
        const a1Before = await fastOf(a1.page);
        await a2.page.close();
        await waitFor('A1 given its grant again with inbound', async () => {
          const s = await fastOf(a1.page);
          return s.granted === 1 && s.grants > a1Before.grants;
        }, 20_000);
        const a1_2 = await fastOf(a1.page);
        for (let i = 0; i < N; i++) assert.equal(await request(a1.page, b.id, `after${i}`), `echo:after${i}`);
        for (let i = 0; i < N; i++) assert.equal(await request(b.page, a1.id, `back${i}`), `echo:back${i}`);
        const a1_3 = await fastOf(a1.page);
        assert.equal(delta(a1_3, a1_2, 'requests'), N, "A1's requests on its fast path");
        assert.equal(delta(a1_3, a1_2, 'received'), 2 * N, "A1 opened B's answers and B's requests itself");
        assert.equal(delta(a1_3, a1_2, 'responses'), N, "and answered B's requests itself");
        assert.equal(delta(a1_3, a1_2, 'relayedOut'), 0, 'nothing relayed any more');
        assert.deepEqual(a1_3.dropped, {}, 'A1 dropped nothing');
        await ctxA.close();
        await ctxB.close();
      }));

    test("B's requests to A's app whose handler is only in the tab without the link go over the relay channel; closing that tab while requests flow loses none and runs none twice", () =>
      withLogs(async () => {
        const { ctxA, ctxB, a1, a2, b } = await twoTabsAndB('requests');
        await a1.page.evaluate(() => (window as any).T.unhandle());
        // The node tells A1 which tab handles port 1 (before the unhandle's reply): A2, over their channel.
        await probeRequests('A1 passing requests to A2', b.page, a1.id, 'probe', async () => (await fastOf(a2.page)).viaTabRequests);
        const N = 20;
        const [a1_0, a2_0, w_0, asked_0] = [await fastOf(a1.page), await fastOf(a2.page), await workerE2e(a1.page), await workerAsked(a1.page)];
        for (let i = 0; i < N; i++) assert.equal(await request(b.page, a1.id, `in${i}`), `echo:in${i}`);
        const [a1_1, a2_1, w_1, asked_1] = [await fastOf(a1.page), await fastOf(a2.page), await workerE2e(a1.page), await workerAsked(a1.page)];
        log(`A1 ${JSON.stringify(a1_1)} A2 ${JSON.stringify(a2_1)}`);
        assert.equal(delta(a1_1, a1_0, 'relayedRequests'), N, "A1 opened B's requests and passed them to A2");
        assert.equal(delta(a1_1, a1_0, 'relayedReplies'), N, "and wrote A2's answers on the DataChannel");
        assert.equal(delta(a1_1, a1_0, 'relayedRequestsToNode'), 0, 'none went to the node');
        assert.equal(delta(a2_1, a2_0, 'viaTabRequests'), N, 'A2 ran each');
        assert.equal(asked_1 - asked_0, 0, "A's worker asked no tab");
        assert.equal(w_1.opened - w_0.opened, 0, "A's worker opened none of them");
        assert.equal(w_1.sealed - w_0.sealed, 0, 'and sealed none of the answers');
        const handled = await a1.page.evaluate(() => (window as any).T.handled());
        for (let i = 0; i < N; i++) assert.equal(handled[`in${i}`], 1, `in${i} handled once`);
        for (const s of [a1_1, a2_1]) assert.deepEqual(s.dropped, {}, 'nothing dropped');

        // A third tab handles port 1 too; the node asks A2 first (it came first). A2 closes while B's requests flow.
        const a3 = await bootTab(ctxA, suite.server.http, `${engine}:requests-A3`, { bootstrap: [suite.server.url] });
        await waitFor('A3 holds a grant through A1', async () => (await fastOf(a3.page)).granted === 1, 20_000);
        await b.page.evaluate((to) => (window as any).T.startRequests(to, 20, 10_000), a1.id);
        const results = (): Promise<{ i: number; ok: boolean; err?: string }[]> => b.page.evaluate(() => (window as any).T.results);
        await waitFor('requests answered by A2', async () => (await results()).length >= 10, 20_000);
        await a2.page.close();
        const closedAt = (await results()).length;
        await waitFor('requests answered by A3 through A1', async () => (await fastOf(a3.page)).viaTabRequests >= 10, 30_000);
        await b.page.evaluate(() => (window as any).T.stopRequests());
        const sent = await b.page.evaluate(() => (window as any).T.sent as number);
        await waitFor(`all ${sent} requests settled`, async () => (await results()).length === sent, 30_000);
        const all = await results();
        log(`${sent} requests, ${closedAt} settled when A2 closed; A1 ${JSON.stringify(await fastOf(a1.page))} A3 ${JSON.stringify(await fastOf(a3.page))}`);
        assert.deepEqual(all.filter((r) => !r.ok), [], 'every request answered');
        const counts = await a1.page.evaluate(() => (window as any).T.handled());
        for (let i = 0; i < sent; i++) assert.equal(counts[`r${i}`], 1, `r${i} handled exactly once`);
        await ctxA.close();
        await ctxB.close();
      }));

    test('closing the tab that hosts the link re-homes it to the second tab, which then holds the grant and loses nothing', () =>
      withLogs(async () => {
        const { ctxA, ctxB, a1, a2, b } = await twoTabsAndB('rehome');
        for (let i = 0; i < 5; i++) assert.equal(await request(a2.page, b.id, `via${i}`), `echo:via${i}`);
        assert.equal((await fastOf(a2.page)).viaTab, 5, 'A2 sent through A1');
        const bBefore = await fastOf(b.page);
        await a1.page.close();
        await waitForRtcLinks(a2.page, [b.id], "A's link to B re-homed through A2");
        // After a re-home both nodes may dial at once: for a moment there are two links, and the
        // grant goes with the one kept. Counted once each side has one link to the other (a run
        // at load 10 counted while the second link still came up: the grant moved after the probe).
        await waitFor('one link each way between A and B', async () => {
          const [sa, sb] = [await status(a2.page), await status(b.page)];
          return sa.links.filter((l) => l.id === b.id).length === 1 && sb.links.filter((l) => l.id === a2.id).length === 1;
        }, 20_000);
        // Each request is answered, whichever way it goes while the link moves; then they go on A2's own grant.
        const probes = await probeUntil('a request of A2 written on its own DataChannel', async (i) => {
          const before = await fastOf(a2.page);
          assert.equal(await request(a2.page, b.id, `settle${i}`), `echo:settle${i}`);
          const after = await fastOf(a2.page);
          return after.requests > before.requests && after.viaTab === before.viaTab;
        });
        log(`re-home settled after ${probes} probe request(s)`);
        const a2_0 = await fastOf(a2.page);
        const N = 20;
        for (let i = 0; i < N; i++) assert.equal(await request(a2.page, b.id, `own${i}`), `echo:own${i}`);
        for (let i = 0; i < N; i++) assert.equal(await request(b.page, a2.id, `back${i}`), `echo:back${i}`);
        const a2_1 = await fastOf(a2.page);
        assert.equal(delta(a2_1, a2_0, 'requests'), N, "A2's requests on its own grant");
        assert.equal(delta(a2_1, a2_0, 'viaTab'), 0, 'none through another tab');
        assert.equal(delta(a2_1, a2_0, 'received'), 2 * N, "A2 opened B's answers and requests itself");
        assert.deepEqual(a2_1.dropped, {}, 'A2 dropped nothing');
        assert.deepEqual((await fastOf(b.page)).dropped, bBefore.dropped, 'B dropped nothing');
        await ctxA.close();
        await ctxB.close();
      }));
  });
}
