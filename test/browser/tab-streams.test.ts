/**
 * Streams on the tab's data plane (docs/DATA-PLANE.md, "Streams"), in real Chromium and Firefox
 * over a real WebRTC link: two browsers with one tab each run their streams to each other in the tab, on
 * the bound DataChannel (`status().fastPath` counts them; the node's worker holds none); a
 * stream the node holds (from a second tab) and one a tab holds run to the same peer at once;
 * and when the tab holding a stream closes, the far end hears ABORTED at once, not TIMEOUT. A
 * second tab of the app (a relay grant) runs its streams itself through the host tab's channel
 * (docs/DATA-PLANE.md, "Streams from a tab without the link"), beside the host tab's own; when
 * the host tab closes mid-stream both ends hear ABORTED. The peer's stream to a port the second
 * tab handles goes the same way: the host tab hands it the Open, and its segments go through.
 * (In the same case as the second tab's own streams: a case of its own would spend most of its
 * time linking two browsers again.)
 * Test/core/tab-streams.test.ts checks the claim rule frame by frame.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import type { FastPathStatus } from '../../src/browser/protocol.js';
import { bootTab, buildBundles, ENGINES, ensureBrowsers, launch, log, startServer, waitFor, waitForRtcLinks, withLogs } from './harness.js';

ensureBrowsers();
buildBundles();

let browser: Browser;
let server: Awaited<ReturnType<typeof startServer>>;

const fastOf = (page: Page): Promise<FastPathStatus> => page.evaluate(() => (window as any).mesh.status().then((s: any) => s.fastPath));
/** Streams the node (in the SharedWorker) holds now. */
const nodeStreams = (page: Page): Promise<number> => page.evaluate(() => (window as any).mesh.status().then((s: any) => s.streams.open));

/**
 * A1's and A2's statuses once they count the same segments through A1: the last acks may still
 * be on their way when a stream's data is read (A2 counts its own once A1's ack comes back).
 */
const relayCounts = (a1: Page, a2: Page): Promise<[FastPathStatus, FastPathStatus]> =>
  waitFor('A1 and A2 count the same segments through A1', async () => {
    const [x1, x2] = [await fastOf(a1), await fastOf(a2)];
    return x1.relayedStreamIn === x2.viaTabStreamIn && x1.relayedStreamOut === x2.viaTabStreamOut ? ([x1, x2] as [FastPathStatus, FastPathStatus]) : undefined;
  }, 10_000, 50);

/** Two browsers, one tab each, linked over WebRTC, each tab holding a bound grant for the other. */
async function linked(name: string) {
  const ctxA = await browser.createBrowserContext();
  const ctxB = await browser.createBrowserContext();
  const a = await bootTab(ctxA, server.http, `${name}:A`, { bootstrap: [server.url] });
  const b = await bootTab(ctxB, server.http, `${name}:B`, { bootstrap: [server.url] });
  await waitForRtcLinks(a.page, [b.id], 'A linked to B over webrtc');
  await waitForRtcLinks(b.page, [a.id], 'B linked to A over webrtc');
  await waitFor('both tabs hold a bound grant', async () => (await fastOf(a.page)).bound === 1 && (await fastOf(b.page)).bound === 1, 20_000);
  return { ctxA, ctxB, a, b };
}

/** A stream handler on `port` that reads slowly (a timer per chunk), hashes, then answers `backBytes` on the same stream. */
function slowServe(page: Page, port: number, backBytes: number): Promise<void> {
  return page.evaluate(
    (p, n) => {
      const w = window as any;
      w.R = { read: 0, results: [] };
      w.mesh.handleStreams(p, async (s: any) => {
        const chunks: any[] = [];
        try {
          const reader = s.readable.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            chunks.push(value);
            w.R.read += value.length;
            await new Promise((r) => setTimeout(r, 1));
          }
          const all = new Uint8Array(await new Blob(chunks).arrayBuffer());
          const back = w.T.content(n, 9);
          const writer = s.writable.getWriter();
          await writer.write(back);
          await writer.close();
          w.R.results.push({ bytes: all.length, sha256: await w.T.sha256(all), backSha: await w.T.sha256(back) });
        } catch (e: any) {
          w.R.results.push({ error: e.code ?? String(e), message: e.message, at: Date.now() });
        }
      });
      return w.mesh.synced();
    },
    port,
    backBytes,
  );
}

for (const engine of ENGINES) describe(`streams on the tab data plane (${engine})`, { timeout: 300_000 }, () => {
  before(async () => {
    browser = await launch(engine);
    server = await startServer();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('two one-tab browsers: a stream each way runs in the tabs, intact with a slow reader, half-closed, close() after the ack; the workers hold none', () =>
    withLogs(async () => {
      const { ctxA, ctxB, a, b } = await linked('each-way');
      const total = 6 * 1024 * 1024;
      await slowServe(b.page, 30, 1024 * 1024);
      await a.page.evaluate(() => (window as any).T.streamServe(31));
      const a0 = await fastOf(a.page);
      const b0 = await fastOf(b.page);
      // A -> B: 6 MB to B's slow reader, then B answers 1 MB on the same stream; B -> A: 3 MB.
      await a.page.evaluate((to, n) => {
        const T = (window as any).T;
        T.stream.back = undefined;
        T.sendAndReadBack(to, 30, n, 3).then((r: unknown) => (T.stream.back = r), (e: any) => (T.stream.back = { error: String(e.code ?? e), message: e.message }));
      }, b.id, total);
      await b.page.evaluate((to, n) => (window as any).T.startSend(to, 31, n, 256 * 1024, 4), a.id, 3 * 1024 * 1024);
      await waitFor('B read 2 MB of A\'s stream', () => b.page.evaluate(() => (window as any).R.read > 2 * 1024 * 1024), 60_000, 50);
      assert.deepEqual([await nodeStreams(a.page), await nodeStreams(b.page)], [0, 0], 'neither worker holds a stream while both run');
      const back = await waitFor('A read B\'s answer to its end', () => a.page.evaluate(() => (window as any).T.stream.back), 120_000, 100);
      const got = await waitFor('B hashed what A sent', () => b.page.evaluate(() => (window as any).R.results[0]), 10_000, 100);
      assert.equal(back.error, undefined, `A: ${back.error} ${back.message}`);
      assert.equal(got.error, undefined, `B: ${got.error} ${got.message}`);
      assert.equal(got.bytes, total, 'every byte reached B');
      assert.equal(got.sha256, back.sha256, 'A -> B: SHA-256 equal');
      assert.equal(back.backBytes, 1024 * 1024);
      assert.equal(back.backSha, got.backSha, 'B -> A on the same stream after the half-close: SHA-256 equal');
      const sent = await waitFor("B's close acknowledged", () => b.page.evaluate(() => (window as any).T.stream.outcome), 60_000, 100);
      const result = await waitFor('A hashed what B sent', () => a.page.evaluate(() => (window as any).T.stream.results[0]), 10_000, 100);
      assert.equal(sent.error, undefined, `B's stream: ${sent.error} ${sent.message}`);
      assert.equal(result.sha256, sent.sha256, 'B -> A: SHA-256 equal');
      const a1 = await fastOf(a.page);
      const b1 = await fastOf(b.page);
      log(`A ${JSON.stringify(a1)}\nB ${JSON.stringify(b1)}`);
      assert.deepEqual([a1.streamsOpened - a0.streamsOpened, a1.streamsAccepted - a0.streamsAccepted], [1, 1], 'A opened one stream and took one in the tab');
      assert.deepEqual([b1.streamsOpened - b0.streamsOpened, b1.streamsAccepted - b0.streamsAccepted], [1, 1], 'B too');
      // 6 MB + 3 MB in segments of at most 60 KiB: at least 150 data segments each way, plus acks.
      assert.ok(a1.streamSegmentsOut - a0.streamSegmentsOut > 100 && b1.streamSegmentsIn - b0.streamSegmentsIn > 100, 'segments written and taken in the tabs');
      assert.deepEqual([await nodeStreams(a.page), await nodeStreams(b.page)], [0, 0], 'still none in the workers');
      assert.equal(a1.dropped['fast:replay'] ?? 0, 0);
      await ctxA.close();
      await ctxB.close();
    }));

  it("a second tab streams through the host tab's channel (one leg each way), beside the host tab's own stream to the same peer, then takes the peer's stream the same way: all intact, none in A's worker", () =>
    withLogs(async () => {
      const { ctxA, ctxB, a, b } = await linked('relay');
      // A reader with no timer (T.streamServe): B's page is in the background once A2 opens, and
      // a background page's timers run once a second (slowServe would read a chunk a second).
      await b.page.evaluate(() => (window as any).T.streamServe(20));
      const before = await fastOf(a.page);
      const a2 = await bootTab(ctxA, server.http, 'relay:A2', { bootstrap: [server.url] });
      // A's first tab's grant is given again without inbound; A2 gets a relay grant through it.
      await waitFor("A's first tab granted again, A2 a relay grant", async () => {
        const s = await fastOf(a.page);
        return s.revoked > before.revoked && s.bound === 1 && (await fastOf(a2.page)).bound === 1;
      }, 20_000);
      const total = 4 * 1024 * 1024;
      await a2.page.evaluate((to, n) => (window as any).T.startSend(to, 20, n, 256 * 1024, 2), b.id, total);
      await a.page.evaluate((to, n) => (window as any).T.startSend(to, 20, n, 256 * 1024, 1), b.id, total);
      await waitFor('B read 1 MB', () => b.page.evaluate(() => (window as any).T.stream.read > 1024 * 1024), 60_000, 20);
      assert.deepEqual([await nodeStreams(a2.page), await nodeStreams(b.page)], [0, 0], 'neither worker holds a stream while they run');
      const outcomes = await Promise.all([a.page, a2.page].map((p, i) => waitFor(`A${i + 1}'s stream acknowledged`, () => p.evaluate(() => (window as any).T.stream.outcome), 120_000, 100)));
      for (const o of outcomes) assert.equal(o.error, undefined, `${o.error} ${o.message}`);
      const results = await waitFor('B read both', () => b.page.evaluate(() => ((window as any).T.stream.results.length === 2 ? (window as any).T.stream.results : undefined)), 30_000, 100);
      for (const r of results) assert.equal(r.error, undefined, `${r.error} ${r.message}`);
      assert.deepEqual(results.map((r: any) => r.sha256).sort(), outcomes.map((o: any) => o.sha256).sort(), 'both intact, SHA-256 equal');
      const [fa, fa2] = await relayCounts(a.page, a2.page);
      const fb = await fastOf(b.page);
      log(`outcomes ${JSON.stringify(outcomes)}\nA1 ${JSON.stringify(fa)}\nA2 ${JSON.stringify(fa2)}`);
      assert.equal(fa.streamsOpened - before.streamsOpened, 1, "A's first tab ran its own stream itself");
      assert.equal(fa2.streamsOpened, 1, 'A2 ran its stream itself, on its relay grant');
      // 4 MiB in segments of at most 60 KiB: at least 69 data segments out, and B's acks back.
      assert.ok(fa2.viaTabStreamOut! >= 69 && fa2.viaTabStreamIn! > 0, `A2: ${fa2.viaTabStreamOut} segments through A1, ${fa2.viaTabStreamIn} back`);
      assert.deepEqual([fa.relayedStreamOut, fa.relayedStreamIn], [fa2.viaTabStreamOut, fa2.viaTabStreamIn], "A1 wrote each of them, and passed back each of B's");
      assert.equal(fb.streamsAccepted, 2, "B's tab took both (both opened by tabs)");
      assert.deepEqual([await nodeStreams(a2.page), await nodeStreams(b.page)], [0, 0], 'still none in the workers');
      assert.equal(fa.dropped['fast:replay'] ?? 0, 0);

      // The other way: B's tab streams 4 MiB to a port only A2 handles. The worker tells A1 which
      // tab takes it before A2's handleStreams settles; A1 hands A2 the Open and passes the rest.
      await a2.page.evaluate(() => (window as any).T.streamServe(40));
      await b.page.evaluate((to, n) => (window as any).T.startSend(to, 40, n, 256 * 1024, 6), a.id, total);
      await waitFor('A2 read 1 MB', () => a2.page.evaluate(() => (window as any).T.stream.read > 1024 * 1024), 60_000, 20);
      assert.deepEqual([await nodeStreams(a.page), await nodeStreams(b.page)], [0, 0], "neither worker holds B's stream while it runs");
      const sent = await waitFor("B's stream acknowledged", () => b.page.evaluate(() => (window as any).T.stream.outcome), 120_000, 100);
      const got = await waitFor('A2 read it all', () => a2.page.evaluate(() => (window as any).T.stream.results[0]), 30_000, 100);
      assert.equal(sent.error, undefined, `B: ${sent.error} ${sent.message}`);
      assert.equal(got.error, undefined, `A2: ${got.error} ${got.message}`);
      assert.deepEqual([got.bytes, got.sha256], [total, sent.sha256], 'B -> A2: every byte, SHA-256 equal');
      const [ia, ia2] = await relayCounts(a.page, a2.page);
      log(`then A1 ${JSON.stringify(ia)}\nA2 ${JSON.stringify(ia2)}`);
      assert.deepEqual([ia.relayedStreamOpens, ia.relayedStreamOpensToNode, ia.streamsAccepted - fa.streamsAccepted, ia2.streamsAccepted], [1, 0, 0, 1], 'A1 handed the Open to A2 and took none itself');
      // 4 MiB in segments of at most 60 KiB: at least 69 data segments in, and A2's acks back.
      assert.ok(ia2.viaTabStreamIn! - fa2.viaTabStreamIn! >= 69, `A2: ${ia2.viaTabStreamIn! - fa2.viaTabStreamIn!} of B's segments passed by A1`);
      assert.deepEqual([ia.relayedStreamIn, ia.relayedStreamOut], [ia2.viaTabStreamIn, ia2.viaTabStreamOut], "A1 passed each of B's segments and wrote each of A2's");
      assert.deepEqual([await nodeStreams(a2.page), await nodeStreams(b.page)], [0, 0], 'still none in the workers');
      await ctxA.close();
      await ctxB.close();
    }));

  it('the host tab closes mid-stream from the second tab: both ends fail ABORTED at once, not TIMEOUT', () =>
    withLogs(async () => {
      const { ctxA, ctxB, a, b } = await linked('relay-closing');
      await b.page.evaluate(() => (window as any).T.streamServe(30)); // no timer: see above
      const a2 = await bootTab(ctxA, server.http, 'relay-closing:A2', { bootstrap: [server.url] });
      await waitFor('A2 holds a relay grant', async () => (await fastOf(a2.page)).bound === 1, 20_000);
      await a2.page.evaluate((to) => (window as any).T.startSend(to, 30, 64 * 1024 * 1024, 256 * 1024, 5), b.id);
      await waitFor('B read 1 MB', () => b.page.evaluate(() => (window as any).T.stream.read > 1024 * 1024), 60_000, 20);
      assert.equal((await fastOf(a2.page)).streamsOpened, 1, 'A2 holds its end');
      assert.ok((await fastOf(a.page)).relayedStreamOut! > 0, 'through A1');
      const t0 = Date.now();
      await a.page.close({ runBeforeUnload: false });
      const [r, o] = await Promise.all([
        waitFor("B's reader failed", () => b.page.evaluate(() => (window as any).T.stream.results[0]), 25_000, 50).then((x: any) => ({ ...x, at: Date.now() })),
        waitFor("A2's writer failed", () => a2.page.evaluate(() => (window as any).T.stream.outcome), 25_000, 50).then((x: any) => ({ ...x, at: Date.now() })),
      ]);
      console.log(`# B's reader: ${JSON.stringify(r)} after ${r.at - t0} ms; A2's writer: ${JSON.stringify(o)} after ${o.at - t0} ms`);
      assert.equal(r.error, 'ABORTED', `B: ABORTED, not ${r.error}: ${r.message}`);
      assert.equal(o.error, 'ABORTED', `A2: ABORTED, not ${o.error}: ${o.message}`);
      assert.ok(r.at - t0 < 10_000 && o.at - t0 < 10_000, `within 10 s (${r.at - t0}, ${o.at - t0} ms), where a silent end would wait 30 s for TIMEOUT`);
      await ctxA.close();
      await ctxB.close();
    }));

  it('the tab holding a stream closes mid-transfer: the far end hears ABORTED at once, not TIMEOUT', () =>
    withLogs(async () => {
      const { ctxA, ctxB, a, b } = await linked('closing');
      // A second tab keeps A's node running when the first closes (the link re-homes to it).
      await bootTab(ctxA, server.http, 'closing:A2', { bootstrap: [server.url] });
      await waitFor("A's first tab granted again", async () => (await fastOf(a.page)).bound === 1 && (await fastOf(a.page)).revoked > 0, 20_000);
      // A reader with no timer: B's page is in the background once A2 opens (Firefox: one window),
      // where a timer per chunk would read a chunk a second; 64 MiB outlast the close either way.
      await b.page.evaluate(() => (window as any).T.streamServe(30));
      await a.page.evaluate((to) => (window as any).T.startSend(to, 30, 64 * 1024 * 1024, 256 * 1024, 5), b.id);
      await waitFor('B read 1 MB', () => b.page.evaluate(() => (window as any).T.stream.read > 1024 * 1024), 60_000, 20);
      assert.equal((await fastOf(b.page)).streamsAccepted, 1, "B's tab holds the stream");
      assert.equal((await fastOf(a.page)).streamsOpened, 1, "A's first tab holds its end");
      const t0 = Date.now();
      await a.page.close({ runBeforeUnload: false });
      const r = await waitFor("B's reader failed", () => b.page.evaluate(() => (window as any).T.stream.results[0]), 25_000, 50).then((x: any) => ({ ...x, at: Date.now() }));
      const fb = await fastOf(b.page);
      console.log(`# B's reader: ${JSON.stringify(r)} after ${Date.now() - t0} ms; B ${JSON.stringify(fb)}`);
      assert.equal(r.error, 'ABORTED', `ABORTED, not ${r.error}: ${r.message}`);
      assert.ok(r.at - t0 < 10_000, `within 10 s (${r.at - t0} ms), where a silent end would wait 30 s for TIMEOUT`);
      await ctxA.close();
      await ctxB.close();
    }));
});
