/**
 * Host tabs closed at random while requests flow. Browser A has several tabs, any of which may
 * host its WebRTC link to browser B; one tab requests B every 25 ms while the others are closed
 * and replaced at random. Every request must end with its reply or a typed error (a timeout),
 * and B must handle no request twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'puppeteer-core';
import { SeededRandom } from '../../src/core/clock.js';
import { bootTab, type Booted, buildBundles, ENGINES, ensureBrowsers, launch, log, sleep, startServer, waitForRtcLinks, withLogs } from './harness.js';

ensureBrowsers();
buildBundles();

interface Outcome { i: number; sent: number; at: number; ok: boolean; err?: string }

for (const engine of ENGINES) {
  describe(`host tabs closed at random on ${engine}`, () => {
    let browser: Browser;
    let s: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      browser = await launch(engine);
      s = await startServer();
    });
    after(async () => {
      await browser?.close();
      await s?.stop();
    });

    test('every request gets its reply or a timeout, and none is handled twice', () =>
      withLogs(async () => {
        const rng = new SeededRandom(`faults/${engine}`);
        const ctxA = await browser.createBrowserContext();
        const ctxB = await browser.createBrowserContext();
        // A's tabs host its WebRTC link and run its request handler; they are the ones closed.
        let tabsA: Booted[] = [];
        for (let k = 0; k < 3; k++) tabsA.push(await bootTab(ctxA, s.http, `${engine}:A${k}`, { bootstrap: [s.url] }));
        const b = await bootTab(ctxB, s.http, `${engine}:B`, { bootstrap: [s.url] });
        const a = tabsA[0]!.id;
        await waitForRtcLinks(b.page, [a], 'B linked to A over webrtc');

        await b.page.evaluate((to) => (window as any).T.startRequests(to, 25, 2000), a);
        let opened = 3;
        for (let round = 0; round < 5; round++) {
          await sleep(300 + rng.int(700));
          // A new tab first, so A always has one: the node lives while any tab is open.
          tabsA.push(await bootTab(ctxA, s.http, `${engine}:A${opened++}`, { bootstrap: [s.url] }));
          const victim = tabsA[rng.int(tabsA.length - 1)]!;
          tabsA = tabsA.filter((t) => t !== victim);
          log(`round ${round}: closing a tab of A`);
          await victim.page.close();
        }
        await sleep(1_000);
        await b.page.evaluate(() => (window as any).T.stopRequests());
        await sleep(2_500); // every outstanding request settles (timeout 2 s)
        const handled: Record<string, number> = await tabsA[0]!.page.evaluate(() => (window as any).T.handled());

        const results: Outcome[] = await b.page.evaluate(() => (window as any).T.results);
        const failed = results.filter((r) => !r.ok);
        const codes = [...new Set(failed.map((f) => (f.err ?? '').split(' ')[0]))];
        console.log(`# ${engine}: ${results.length} requests while 5 of A's tabs closed at random: ${results.length - failed.length} answered, ${failed.length} failed (${codes.join(', ') || 'none'})`);
        const ids = results.map((r) => r.i).sort((x, y) => x - y);
        assert.deepEqual(ids, ids.map((_, k) => k), 'each request ended exactly once');
        for (const f of failed) assert.match(f.err ?? '', /^TIMEOUT /, `request r${f.i} failed with ${f.err}`);
        assert.ok(results.length - failed.length > results.length / 2, 'most requests answered');
        assert.deepEqual(Object.entries(handled).filter(([, n]) => n > 1), [], 'no request handled twice');
        const answered = results.filter((r) => r.ok).map((r) => `r${r.i}`);
        for (const r of answered) assert.equal(handled[r], 1, `${r} was answered, so handled once`);
      }));
  });
}
