/**
 * Figure 3: the re-homing gap. Browser A has two tabs; the first hosts the WebRTC link to
 * browser B. The second tab requests B every 20 ms; the first tab closes; the gap is the longest
 * time between two answered requests from the close on.
 */
import type { Page } from 'puppeteer-core';
import type { BenchContext } from './run.js';
import { openPage, round, sleep, waitFor } from './lib.js';

interface Outcome { i: number; sent: number; at: number; ok: boolean; err?: string }

export async function rehome(c: BenchContext): Promise<Record<string, unknown>> {
  const url = `${c.pages.origin}/mesh.html`;
  const ctxA = await c.context();
  const ctxB = await c.context();
  const boot = (p: Page) => p.evaluate((o) => (window as any).T.boot(o), { bootstrap: [c.meshUrl] });
  const status = (p: Page) => p.evaluate(() => (window as any).mesh.status());
  const a1 = await openPage(ctxA, url, c.log);
  const pb = await openPage(ctxB, url, c.log);
  const a = await boot(a1);
  const b = await boot(pb);
  await waitFor('a WebRTC link A-B', async () => (await status(a1)).links.some((l: any) => l.id === b.id && l.transport === 'webrtc'), 30_000);
  const a2 = await openPage(ctxA, url, c.log);
  await boot(a2);
  const before = await status(a2);
  await a2.evaluate((to) => (window as any).T.startRequests(to, 20, 3000), b.id);
  await sleep(600);
  const closedAt: number = await a2.evaluate(() => (window as any).absNow());
  await a1.close();
  const rehomed = await waitFor(
    'the link re-homed to the remaining tab',
    async () => {
      const s = await status(a2);
      return s.tabs === 1 && s.rehomed > before.rehomed && s.links.some((l: any) => l.id === b.id && l.transport === 'webrtc')
        ? await a2.evaluate(() => (window as any).absNow())
        : undefined;
    },
    15_000,
    25,
  ) as number;
  await sleep(c.quick ? 1500 : 3000);
  await a2.evaluate(() => (window as any).T.stopRequests());
  await sleep(3200); // every outstanding request settles (timeout 3 s)
  const results: Outcome[] = await a2.evaluate(() => (window as any).T.results);
  const oks = results.filter((r) => r.ok).sort((x, y) => x.at - y.at);
  // The gap: from the close (or the last answer before it) to the next answer, and any later gap.
  let gap = 0;
  let prev = Math.max(...oks.filter((r) => r.at < closedAt).map((r) => r.at), closedAt - 20);
  for (const r of oks.filter((r) => r.at >= closedAt)) {
    gap = Math.max(gap, r.at - prev);
    prev = r.at;
  }
  const failed = results.filter((r) => !r.ok);
  const firstOkAfter = oks.find((r) => r.at >= closedAt);
  return {
    rehomeGapMs: round(gap, 1),
    rehomedAfterMs: round(rehomed - closedAt, 1),
    firstAnswerAfterCloseMs: firstOkAfter ? round(firstOkAfter.at - closedAt, 1) : null,
    requests: results.length,
    failed: failed.length,
    failures: [...new Set(failed.map((f) => f.err))].slice(0, 3),
    requestEveryMs: 20,
    linksBefore: before.links.map((l: any) => `${l.transport}`).join(','),
    hostedByBefore: before.hostedBy,
    nodeA: a.id.slice(0, 12),
  };
}
