// Reliable datagrams' round trip (docs/DATA-PLANE.md, "Reliable datagrams"): how long
// `mesh.send(to, 64 bytes, { reliable: true })` takes to resolve (the peer's ack back), against a
// raw RTCDataChannel's ping in the same run. Not part of the product or the tests, nor of the bench
// (it would add minutes): run it by hand:
//   node --import tsx scripts/probes/reliable-rtt.ts [chromium|firefox] [rounds] [n] [second]
//
// Two mesh pages (bench/pages/mesh.html) in two contexts of one browser, linked over WebRTC with a
// bound grant each way; then, alternated in each round: `tab`, the app's reliable send (from this
// tree: sent and acked in the tab when it hosts the bound link), `node`, the same send through
// the node (`op: 'send'` straight to the worker, the path every reliable send took before), and
// `raw`, a raw DataChannel pair's 64-byte ping (bench/pages/raw.html). Prints each one's p50 and p90
// per round and the ratios of the medians over all rounds.
//
// `second` (docs/DATA-PLANE.md, "Reliable datagrams from a tab without the link"): the sends come
// from a second page of A's node, in A's context, which holds a relay grant (the link is the first
// page's): `tab` is then the relay path (copies A2 -> A1 -> DataChannel, the Ack back A1 -> A2),
// `node` the same tab's send through the node (A2 -> worker -> A1 -> DataChannel and back: the path
// before), the two alternated in order round by round.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium, launchFirefox, openPage, percentile, ROOT, startPageServer, waitFor } from '../../bench/lib.js';
import { startNode } from '../../src/server/index.js';

const engine = process.argv[2] ?? 'chromium';
const rounds = Number(process.argv[3] ?? 3);
const N = Number(process.argv[4] ?? 300);
const second = process.argv[5] === 'second';

/** `n` reliable sends of 64 bytes to `to`, one after another, each timed until it resolves; `viaNode`: straight to the node. */
function reliableRtt(page: Page, to: string, n: number, viaNode: boolean): Promise<number[]> {
  return page.evaluate(
    async (t, count, node) => {
      const mesh = (window as any).mesh;
      const buf = new Uint8Array(64);
      const out: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        if (node) await mesh.call({ op: 'send', to: t, data: buf, port: 4, reliable: true });
        else await mesh.send(t, buf, { port: 4, reliable: true });
        out.push(performance.now() - t0);
      }
      return out;
    },
    to,
    n,
    viaNode,
  );
}

const p = (xs: number[], q: number) => percentile(xs, q).toFixed(3);

async function main(): Promise<void> {
  const bundles = mkdtempSync(join(tmpdir(), 'meshwork-probe-'));
  execFileSync(process.execPath, ['scripts/build-browser.mjs', `--outdir=${bundles}`], { cwd: ROOT, stdio: 'inherit' });
  const browser: Browser = engine === 'firefox' ? await launchFirefox() : await launchChromium();
  const pages = await startPageServer(bundles);
  const server = await startNode({ port: 0, host: '127.0.0.1', tuning: { maintainMs: 5_000 } });
  try {
    const ctxA = await browser.createBrowserContext();
    const [ma, mb] = (await Promise.all([ctxA, browser.createBrowserContext()].map(async (c) => openPage(await c, `${pages.origin}/mesh.html`)))) as [Page, Page];
    const boot = (pg: Page) => pg.evaluate((o) => (window as any).T.boot(o), { bootstrap: [server.url] });
    await boot(ma);
    const b = await boot(mb);
    await waitFor('a WebRTC link', async () => {
      const s = await ma.evaluate(() => (window as any).mesh.status());
      return s.links.some((l: any) => l.id === b.id && l.transport === 'webrtc');
    }, 30_000, 100);
    await ma.evaluate((to) => (window as any).T.rtt(to, 100), b.id);
    await waitFor('a bound grant in A', async () => (await ma.evaluate(() => (window as any).mesh.status())).fastPath?.bound === 1, 20_000, 100);
    // The sending page: A's first (it hosts the link), or a second page of A's node with a relay grant through it.
    let from = ma;
    if (second) {
      from = await openPage(ctxA, `${pages.origin}/mesh.html`);
      await boot(from);
      await waitFor('a bound relay grant in A2', async () => (await from.evaluate(() => (window as any).mesh.status())).fastPath?.bound === 1, 20_000, 100);
    }
    const [ra, rb] = (await Promise.all([0, 1].map(async () => openPage(await browser.createBrowserContext(), `${pages.origin}/raw.html`)))) as [Page, Page];
    const offer = await ra.evaluate(() => (window as any).R.offer());
    const answer = await rb.evaluate((o) => (window as any).R.answer(o), offer);
    await ra.evaluate((a) => (window as any).R.accept(a), answer);
    // Warm up all three.
    await reliableRtt(from, b.id, 100, false);
    await reliableRtt(from, b.id, 100, true);
    await ra.evaluate(() => (window as any).R.rtt(100));
    const all = { tab: [] as number[], node: [] as number[], raw: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      const nodeFirst = second && r % 2 === 1;
      const before = nodeFirst ? await reliableRtt(from, b.id, N, true) : [];
      const tab = await reliableRtt(from, b.id, N, false);
      const node = nodeFirst ? before : await reliableRtt(from, b.id, N, true);
      const raw = (await ra.evaluate((n) => (window as any).R.rtt(n), N)) as number[];
      all.tab.push(...tab);
      all.node.push(...node);
      all.raw.push(...raw);
      console.log(`round ${r}: p50/p90 ms  tab ${p(tab, 0.5)}/${p(tab, 0.9)}  node ${p(node, 0.5)}/${p(node, 0.9)}  raw ${p(raw, 0.5)}/${p(raw, 0.9)}`);
    }
    const m = (xs: number[]) => percentile(xs, 0.5);
    const s = (await from.evaluate(() => (window as any).mesh.status())).fastPath;
    const h = (await ma.evaluate(() => (window as any).mesh.status())).fastPath;
    console.log(
      JSON.stringify({
        engine, from: second ? 'second tab (relay grant)' : 'host tab', rounds, n: N, tabP50Ms: +m(all.tab).toFixed(3), nodeP50Ms: +m(all.node).toFixed(3), rawP50Ms: +m(all.raw).toFixed(3),
        tabVsRaw: +(m(all.tab) / m(all.raw)).toFixed(2), nodeVsRaw: +(m(all.node) / m(all.raw)).toFixed(2), nodeVsTab: +(m(all.node) / m(all.tab)).toFixed(2),
        reliableSent: s?.reliableSent, reliableAcked: s?.reliableAcked, reliableToNode: s?.reliableToNode, reliableAckedViaTab: s?.reliableAckedViaTab,
        hostTab: second ? { relayedReliable: h?.relayedReliable, relayedAcks: h?.relayedAcks } : undefined,
      }),
    );
  } finally {
    await browser.close().catch(() => undefined);
    await pages.close().catch(() => undefined);
    await server.stop().catch(() => undefined);
    rmSync(bundles, { recursive: true, force: true });
  }
}

await main();
