/**
 * A tab says it is closing (docs/BROWSER.md, "Requests to a tab that goes"), in real browsers.
 * Node A has two tabs that handle port 2; A's worker asks A1 first. The server node requests A
 * on port 2: one request whose handler in A1 never finishes (`slow`), and a steady stream of
 * quick ones (every 5 ms). A1 then closes (puppeteer's page.close(), which runs its pagehide)
 * while its pagehide holds the page for 250 ms first, so the worker keeps asking it meanwhile
 * (Chromium): those requests reach A1's port and are never started there. A1's `closing` names `slow` as started:
 * its requester gets HANDLER_CLOSED and A2 never runs it; every quick request is answered, each
 * run exactly once, those A1 never started by A2 at once (no grace: the worker's counters say
 * which way each went). In Chromium, a renderer crash (CDP Page.crash: no pagehide, no word)
 * still goes through the grace: the requests A1 left go to A2 after it.
 *
 *   node --import tsx --test test/browser/tab-closing.test.ts
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrowserContext, Page } from 'puppeteer-core';
import type { MeshError } from '../../src/core/errors.js';
import { bootTab, type Booted, browserAndServer, buildBundles, ENGINES, ensureBrowsers, log, waitFor, waitForRtcLinks, withLogs } from './harness.js';
import { fastOf, probeRequests, request } from './fast-path-pages.js';

ensureBrowsers();
buildBundles();

/** The worker's counters of tabs that went (host-handlers.ts `gone`). */
interface Gone {
  closing: number;
  silent: number;
  moved: number;
  failed: number;
  afterGrace: number;
}
const gone = (page: Page): Promise<Gone> => page.evaluate(() => (window as any).mesh.status().then((s: any) => s.tabsGone));

/**
 * Before the page's scripts: a pagehide listener that runs before the mesh's (registered first)
 * and holds the page for the ms in the root element's `data-hold-pagehide` (the DOM: Firefox
 * runs this script in a realm of its own), so requests the worker asks meanwhile wait on the
 * tab's port, unstarted, when it says `closing`. Well under 500 ms: Chromium kills a closing
 * tab's renderer whose pagehide runs longer, and what it posted then is lost (a silent death).
 */
const HOLD_PAGEHIDE = `addEventListener('pagehide', () => {
  const until = performance.now() + Number(document.documentElement.dataset.holdPagehide ?? 0);
  while (performance.now() < until);
});`;
const HOLD_MS = 250;

/**
 * Port 2's handler in the tab: counts each start in localStorage (shared by the origin's tabs,
 * kept when one closes), in all and by tab (A1 holds slow, A2 does not); a payload starting with
 * `slow` never finishes in a tab told to hold it.
 */
async function handlePort2(page: Page, holdSlow: boolean): Promise<void> {
  await page.evaluate(async (hold) => {
    const w = window as any;
    w.mesh.handle(2, async (m: { data: string }) => {
      for (const k of [`started:${m.data}`, `in-${hold ? 'A1' : 'A2'}:${m.data}`]) localStorage.setItem(k, String(Number(localStorage.getItem(k) ?? 0) + 1));
      if (hold && m.data.startsWith('slow')) await new Promise(() => undefined);
      return `done:${m.data}`;
    });
    await w.mesh.synced();
  }, holdSlow);
}

/** How many times each payload's handler started, by any tab of the origin (`started`) or by one (`in-A1`, `in-A2`). */
const starts = (page: Page, prefix = 'started'): Promise<Record<string, number>> =>
  page.evaluate((p) => {
    const out: Record<string, number> = {};
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i)!;
      if (k.startsWith(`${p}:`)) out[k.slice(p.length + 1)] = Number(localStorage.getItem(k));
    }
    return out;
  }, prefix);

interface Outcome {
  ok: boolean;
  value?: string;
  code?: string;
}

for (const engine of ENGINES) {
  describe(`a tab that closes says so (${engine})`, () => {
    const suite = browserAndServer(engine);

    /**
     * A1 and A2 of one node, both handling port 2 (A1 first: the worker asks it first). A2 opens
     * first: Chromium starts the SharedWorker in the process of the page that makes it, and a
     * crash of A1's renderer must not take the worker with it.
     */
    async function twoTabs(name: string): Promise<{ ctx: BrowserContext; a1: Booted; a2: Booted }> {
      const ctx = await suite.browser.createBrowserContext();
      const a2 = await bootTab(ctx, suite.server.http, `${engine}:${name}-A2`, { bootstrap: [suite.server.url] });
      const a1 = await bootTab(ctx, suite.server.http, `${engine}:${name}-A1`, { bootstrap: [suite.server.url] }, (p) => p.evaluateOnNewDocument(HOLD_PAGEHIDE).then(() => undefined));
      assert.equal(a2.id, a1.id, 'one node');
      await handlePort2(a1.page, true);
      await handlePort2(a2.page, false);
      return { ctx, a1, a2 };
    }

    /** The server's request to A on port 2; its outcome once settled. */
    function ask(to: string, data: string, outcomes: Map<string, Outcome>): Promise<void> {
      return suite.server.request(to, data, { port: 2, timeoutMs: 20_000 }).then(
        (v) => void outcomes.set(data, { ok: true, value: String(v) }),
        (e: MeshError) => void outcomes.set(data, { ok: false, code: e.code }),
      );
    }

    /**
     * `slow` running in A1, then quick requests every 5 ms until `go` has closed A1 and the
     * worker's counters say how; returns every outcome, all settled.
     */
    async function closeWhileAsked(a1: Booted, a2: Booted, go: () => Promise<void>, settled: (g: Gone) => boolean) {
      const outcomes = new Map<string, Outcome>();
      const slow = ask(a1.id, 'slow', outcomes);
      await waitFor('A1 runs slow', async () => (await starts(a2.page))['slow'] === 1, 20_000, 50);
      let sent = 0;
      const flowing = setInterval(() => void ask(a1.id, `q${sent++}`, outcomes), 5);
      try {
        await waitFor('quick requests answered by A1', async () => [...outcomes.values()].filter((o) => o.ok).length >= 5, 20_000, 50);
        await go();
        let last: Gone | undefined;
        await waitFor('the worker settled what A1 left', async () => settled((last = await gone(a2.page))), 20_000, 50).catch((err: Error) => {
          log(`worker: ${JSON.stringify(last)}`);
          throw err;
        });
        // A few more after it: A2 alone answers them.
        const after = sent + 5;
        await waitFor('requests after A1 went sent', async () => sent >= after, 10_000, 20);
      } finally {
        clearInterval(flowing);
      }
      await waitFor(`all ${sent + 1} requests settled`, async () => outcomes.size === sent + 1, 25_000, 100);
      await slow;
      return { outcomes, sent };
    }

    test('a handler mid-run when its tab closes is not run again, its requester gets HANDLER_CLOSED; what the tab never started goes to the other tab at once, each run once', () =>
      withLogs(async () => {
        // In Chromium the case of requests A1 never started needs some to be asked during A1's
        // held pagehide, and they come from this process over the server's WebSocket: at load the
        // 250 ms can pass with none (moved 0 once in 11 runs at load 4-9, every other check held).
        // So the scenario runs again, on fresh tabs, until one has such requests: at most 3 times.
        for (let attempt = 1; ; attempt++) {
          const { ctx, a1, a2 } = await twoTabs(`closing${attempt}`);
          const before = await gone(a2.page);
          const { outcomes, sent } = await closeWhileAsked(
            a1,
            a2,
            async () => {
              await a1.page.evaluate((ms) => void (document.documentElement.dataset.holdPagehide = String(ms)), HOLD_MS);
              await a1.page.close();
            },
            (g) => g.closing > before.closing && g.failed > before.failed,
          );
          const after = await gone(a2.page);
          console.log(`# ${engine}, closing (attempt ${attempt}): ${sent} quick requests; worker: ${JSON.stringify(after)}`);
          assert.deepEqual(outcomes.get('slow'), { ok: false, code: 'HANDLER_CLOSED' }, "slow's requester is told its tab closed mid-run");
          const counts = await starts(a2.page);
          assert.equal(counts['slow'], 1, 'slow started once, in A1: A2 never ran it');
          for (let i = 0; i < sent; i++) {
            assert.deepEqual(outcomes.get(`q${i}`), { ok: true, value: `done:q${i}` }, `q${i} answered`);
            assert.equal(counts[`q${i}`], 1, `q${i} run exactly once`);
          }
          assert.equal(after.closing - before.closing, 1, 'A1 said it was closing');
          assert.equal(after.failed - before.failed, 1, 'one request failed: slow');
          assert.equal(after.afterGrace - before.afterGrace, 0, 'none waited for a grace');
          await ctx.close();
          // Firefox runs A1, A2 and the worker in one content process, and the worker's WebSocket
          // input goes through its main thread: while A1's pagehide holds that thread the worker
          // gets no request to ask A1 (moved was 0 in each Firefox run). In Chromium the worker runs
          // in A2's process and keeps asking A1.
          const moved = after.moved - before.moved;
          if (engine !== 'chromium' || moved >= 1) break;
          assert.ok(attempt < 3, `requests asked of A1 and never started went to A2 at its closing: none asked during the pagehide in ${attempt} attempts`);
        }
      }));

    if (engine === 'chromium') {
      test('a tab that crashes (no pagehide, no word) leaves its requests to the grace: each then goes to the other tab', () =>
        withLogs(async () => {
          const { ctx, a1, a2 } = await twoTabs('crash');
          const before = await gone(a2.page);
          const cdp = await a1.page.createCDPSession();
          const { outcomes, sent } = await closeWhileAsked(
            a1,
            a2,
            async () => {
              // Not awaited: the session dies with the renderer, and its answer may never come.
              void cdp.send('Page.crash').catch(() => undefined);
            },
            (g) => g.silent > before.silent && g.afterGrace > before.afterGrace,
          );
          const after = await gone(a2.page);
          console.log(`# ${engine}, crash: ${sent} quick requests; worker: ${JSON.stringify(after)}`);
          assert.equal(after.closing - before.closing, 0, 'A1 said nothing');
          assert.equal(after.silent - before.silent, 1, 'its lock told of its death');
          // What the grace cannot know: slow had started in A1, and A2 runs it again (BROWSER.md).
          assert.deepEqual(outcomes.get('slow'), { ok: true, value: 'done:slow' }, 'slow answered by A2 after the grace');
          assert.equal((await starts(a2.page))['slow'], 2, 'slow started in A1, then in A2');
          // The same holds for a quick request A1 had started, or answered into a port the crash
          // took, when it died: A2 runs it again after the grace. No tab runs one twice.
          const [inA1, inA2] = [await starts(a2.page, 'in-A1'), await starts(a2.page, 'in-A2')];
          let again = 0;
          for (let i = 0; i < sent; i++) {
            const q = `q${i}`;
            assert.deepEqual(outcomes.get(q), { ok: true, value: `done:${q}` }, `${q} answered`);
            assert.ok((inA1[q] ?? 0) <= 1 && (inA2[q] ?? 0) <= 1 && (inA1[q] ?? 0) + (inA2[q] ?? 0) >= 1, `${q} run once in each tab at most: A1 ${inA1[q]}, A2 ${inA2[q]}`);
            if (inA1[q] && inA2[q]) again++;
          }
          console.log(`# ${engine}, crash: ${again} quick requests started in A1 before the crash and run again by A2`);
          await ctx.close();
        }));
    }
  });
}

/**
 * Port 1's handler in the page (fixtures/index.html) replaced by one that counts each start in
 * localStorage as the fixture's does (`handled:<payload>`, shared by the origin's tabs) and holds
 * a payload starting with `hold` until the test calls `T.release()`; `on`: false unhandles only.
 */
function holdPort1(page: Page, on = true): Promise<void> {
  return page.evaluate(async (handle) => {
    const w = window as any;
    w.T.unhandle();
    w.T.unhandle = () => undefined;
    if (handle) {
      const held: (() => void)[] = [];
      w.T.release = () => held.splice(0).forEach((r) => r());
      w.T.unhandle = w.mesh.handle(1, async (m: { data: string }) => {
        localStorage.setItem(`handled:${m.data}`, String(Number(localStorage.getItem(`handled:${m.data}`) ?? 0) + 1));
        if (m.data.startsWith('hold')) await new Promise<void>((r) => held.push(r));
        return `echo:${m.data}`;
      });
    }
    await w.mesh.synced();
  }, on);
}

/** B's request to A on port 1, started in B's page; its outcome lands in `T.outcomes[data]` (with the ms it took). */
const startRequest = (b: Page, to: string, data: string, timeoutMs: number): Promise<void> =>
  b.evaluate((t, d, ms) => {
    const w = window as any;
    w.T.outcomes ??= {};
    const at = Date.now();
    w.mesh.request(t, d, { port: 1, timeoutMs: ms }).then(
      (v: unknown) => (w.T.outcomes[d] = { ok: true, value: v, ms: Date.now() - at }),
      (e: MeshError) => (w.T.outcomes[d] = { ok: false, code: e.code, ms: Date.now() - at }),
    );
  }, to, data, timeoutMs);
const outcomeOf = (b: Page, data: string): Promise<{ ok: boolean; value?: string; code?: string; ms: number } | undefined> => b.evaluate((d) => (window as any).T.outcomes?.[d], data);
const handled = (page: Page, data: string): Promise<number> => page.evaluate((d) => Number(localStorage.getItem(`handled:${d}`) ?? 0), data);

/** The worker's answers for its tabs' data planes (answers-home.ts) and the node's count of those it sent. */
const takenOf = (page: Page): Promise<{ failed: number; answered: number; refused: number; sent: number }> =>
  page.evaluate(() => (window as any).mesh.status().then((s: any) => ({ ...s.takenAnswers, sent: s.counters.takenAnswers })));

/** Long enough that an answer that comes is not a timeout by a mile; the test waits for the outcome, not for this. */
const PEER_TIMEOUT_MS = 20_000;

for (const engine of ENGINES) {
  describe(`a peer's request taken by a host tab that goes (${engine})`, () => {
    const suite = browserAndServer(engine);

    /**
     * Browser A with two tabs of one app, A1 hosting the WebRTC link to browser B; each holds a
     * grant. `run` gets them; both browsers close after it, whatever it does (a later test's B
     * must meet no node of this one).
     */
    async function withTwoTabsAndB(name: string, run: (t: { a1: Booted; a2: Booted; b: Booted }) => Promise<void>): Promise<void> {
      const { browser, server } = suite;
      const ctxA = await browser.createBrowserContext();
      const ctxB = await browser.createBrowserContext();
      try {
        await run(await twoTabsAndB(ctxA, ctxB, name));
      } finally {
        await ctxA.close();
        await ctxB.close();
      }
    }

    async function twoTabsAndB(ctxA: BrowserContext, ctxB: BrowserContext, name: string) {
      const { server } = suite;
      const a1 = await bootTab(ctxA, server.http, `${engine}:${name}-A1`, { bootstrap: [server.url] });
      const b = await bootTab(ctxB, server.http, `${engine}:${name}-B`, { bootstrap: [server.url] });
      await waitForRtcLinks(a1.page, [b.id], 'A linked to B over webrtc');
      assert.equal(await request(b.page, a1.id, 'first'), 'echo:first');
      await waitFor('A1 and B hold a grant for each other', async () => (await fastOf(a1.page)).granted === 1 && (await fastOf(b.page)).granted === 1, 20_000);
      const a2 = await bootTab(ctxA, server.http, `${engine}:${name}-A2`, { bootstrap: [server.url] });
      await waitFor('A2 holds a grant through A1', async () => (await fastOf(a2.page)).granted === 1 && (await fastOf(a1.page)).granted === 1, 20_000);
      return { a1, a2, b };
    }

    test("A1 runs B's request itself and closes mid-run: B gets HANDLER_CLOSED through A's node, not a timeout, and no tab runs it again", () =>
      withLogs(async () => {
        await withTwoTabsAndB('self', async ({ a1, a2, b }) => {
          await holdPort1(a2.page, false);
          await holdPort1(a1.page);
          // The node names A1 for port 1 (`self`): B's requests are run in A1 off its own link.
          await probeRequests('A1 running B\'s requests itself', b.page, a1.id, 'probe', async () => (await fastOf(a1.page)).responses);
          const before = await takenOf(a2.page);
          await startRequest(b.page, a1.id, 'hold-self', PEER_TIMEOUT_MS);
          await waitFor('A1 runs it', async () => (await handled(a2.page, 'hold-self')) === 1, 10_000, 50);
          await a1.page.close();
          const out = await waitFor('B has its outcome', () => outcomeOf(b.page, 'hold-self'), PEER_TIMEOUT_MS + 5_000, 100);
          const after = await takenOf(a2.page);
          console.log(`# ${engine}, self: B's outcome ${JSON.stringify(out)}; A's worker ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
          assert.equal(out.code, 'HANDLER_CLOSED', 'B is told the tab running it closed');
          assert.equal(after.failed - before.failed, 1, "A1's closing named it; A's node failed it");
          assert.equal(after.refused - before.refused, 0);
          assert.equal(await handled(a2.page, 'hold-self'), 1, 'run once, in A1');
        });
      }));

    test("A1 closes while A2 runs B's request that A1 passed to it: A2's answer reaches B through A's node, run once", () =>
      withLogs(async () => {
        await withTwoTabsAndB('relayed', async ({ a1, a2, b }) => {
          await holdPort1(a1.page, false);
          await holdPort1(a2.page);
          await probeRequests('A1 passing requests to A2', b.page, a1.id, 'probe', async () => (await fastOf(a2.page)).viaTabRequests);
          const before = await takenOf(a2.page);
          const relayed = (await fastOf(a1.page)).relayedRequests;
          await startRequest(b.page, a1.id, 'hold-relayed', PEER_TIMEOUT_MS);
          await waitFor('A2 runs it', async () => (await handled(a2.page, 'hold-relayed')) === 1, 10_000, 50);
          assert.equal((await fastOf(a1.page)).relayedRequests, relayed + 1, 'A1 passed it to A2 over their channel');
          await a1.page.close();
          await a2.page.evaluate(() => (window as any).T.release());
          const out = await waitFor('B has its outcome', () => outcomeOf(b.page, 'hold-relayed'), PEER_TIMEOUT_MS + 5_000, 100);
          const after = await takenOf(a2.page);
          console.log(`# ${engine}, relayed: B's outcome ${JSON.stringify(out)}; A's worker ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
          assert.deepEqual({ ok: out.ok, value: out.value }, { ok: true, value: 'echo:hold-relayed' }, "B gets A2's answer");
          assert.equal((await fastOf(a2.page)).answersHome, 1, 'A2 handed it to its node');
          assert.equal(after.answered - before.answered, 1);
          assert.equal(after.sent - before.sent, 1, "A's node sent it");
          assert.equal(await handled(a2.page, 'hold-relayed'), 1, 'run once');
        });
      }));

    if (engine === 'chromium') {
      test("A2 is frozen while it runs B's request that A1 passed to it: resumed, its answer reaches B through A's node, run once", () =>
        withLogs(async () => {
          await withTwoTabsAndB('parked', async ({ a1, a2, b }) => {
            await holdPort1(a1.page, false);
            await holdPort1(a2.page);
            await probeRequests('A1 passing requests to A2', b.page, a1.id, 'probe', async () => (await fastOf(a2.page)).viaTabRequests);
            const before = await takenOf(a1.page);
            await startRequest(b.page, a1.id, 'hold-parked', PEER_TIMEOUT_MS);
            await waitFor('A2 runs it', async () => (await handled(a1.page, 'hold-parked')) === 1, 10_000, 50);
            const cdp = await a2.page.createCDPSession();
            await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
            await waitFor('A1 hears A2 parked with it running', async () => ((await fastOf(a1.page)).dropped['fast:handler-parked'] ?? 0) === 1, 10_000, 50);
            await cdp.send('Page.setWebLifecycleState', { state: 'active' });
            await cdp.detach();
            await a2.page.evaluate(() => (window as any).T.release());
            const out = await waitFor('B has its outcome', () => outcomeOf(b.page, 'hold-parked'), PEER_TIMEOUT_MS + 5_000, 100);
            const after = await takenOf(a1.page);
            console.log(`# ${engine}, parked: B's outcome ${JSON.stringify(out)}; A's worker ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
            assert.deepEqual({ ok: out.ok, value: out.value }, { ok: true, value: 'echo:hold-parked' }, "B gets A2's answer");
            assert.equal((await fastOf(a2.page)).answersHome, 1, 'A2 handed it to its node');
            assert.equal(after.sent - before.sent, 1, "A's node sent it");
            assert.equal(await handled(a1.page, 'hold-parked'), 1, 'run once: not given to another tab meanwhile');
          });
        }));
    }
  });
}
