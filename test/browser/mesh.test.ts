/**
 * One engine at a time, one scenario: three browsers (contexts) join through a server, link to
 * each other over WebRTC, survive the closing of the tab that hosts their links, come back
 * after a restart through a server they learned of, and keep talking with every server gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext } from 'puppeteer-core';
import { startNode } from '../../src/server/index.js';
import {
  bootTab, type Booted, buildBundles, deliver, ENGINES, ensureBrowsers, launch, log, startServer, status, waitFor, waitForRtcLinks, withLogs,
} from './harness.js';

ensureBrowsers();
buildBundles();

for (const engine of ENGINES) {
  describe(`mesh of ${engine} nodes`, () => {
    let browser: Browser;
    let s0: Awaited<ReturnType<typeof startServer>>;
    let s1: Awaited<ReturnType<typeof startServer>>;
    let s2: Awaited<ReturnType<typeof startServer>>;
    const ctx: BrowserContext[] = [];
    const tabs: Booted[] = [];

    before(async () => {
      browser = await launch(engine);
      // s0 only serves the pages (their origin); s1 is the bootstrap; s2 joins through s1.
      s0 = await startServer();
      s1 = await startServer();
      s2 = await startServer({ peers: [s1.url!] });
    });
    after(async () => {
      await browser?.close();
      await s0?.stop();
      await s1?.stop();
      await s2?.stop();
    });

    test('three contexts link over webrtc and messages flow over those links', () =>
      withLogs(async () => {
        for (let i = 0; i < 3; i++) {
          ctx.push(await browser.createBrowserContext());
          tabs.push(await bootTab(ctx[i]!, s0.http, `${engine}:n${i}`, { bootstrap: [s1.url] }));
        }
        const ids = tabs.map((t) => t.id);
        assert.equal(new Set(ids).size, 3);
        const t0 = Date.now();
        for (let i = 0; i < 3; i++) {
          const others = ids.filter((_, j) => j !== i);
          const s = await waitForRtcLinks(tabs[i]!.page, others, `n${i} linked over webrtc to the other two`);
          log(`n${i} links: ${s.links.map((l) => `${l.id.slice(0, 8)}/${l.transport}`).join(' ')}`);
          // The hosting tab read each peer's address from the selected candidate pair: the
          // per-address link cap counts WebRTC links by it (test/transports/port-address.test.ts).
          const rtc = s.links.filter((l) => l.transport === 'webrtc') as { id: string; address?: string }[];
          console.log(`# ${engine}: n${i} webrtc link addresses: ${rtc.map((l) => l.address).join(' ')}`);
          // Firefox reports the peer's IP. Chromium hides a peer's host candidate behind its mDNS
          // name (an empty address in getStats): such a link keeps the placeholder of that very
          // peer, so it is counted apart, one per peer. But when the pair's remote candidate is
          // peer-reflexive (learned from the peer's own checks) Chromium reports its IP
          // (127.0.0.1 here, in some runs): either is right, anything else is not.
          const ip = /^(\d+\.\d+\.\d+\.\d+|[0-9a-f:]+)$/;
          for (const l of rtc) {
            if (engine === 'firefox') assert.match(l.address ?? '', ip);
            else assert.ok(l.address === `webrtc:${l.id.slice(0, 16)}` || ip.test(l.address ?? ''), `link to ${l.id.slice(0, 8)}: address ${l.address}`);
          }
        }
        console.log(`# ${engine}: three browsers fully linked over webrtc ${Date.now() - t0} ms after boot`);
        await deliver(tabs[0]!.page, tabs[2]!.page, ids[2]!, 'hello n2 from n0');
        await deliver(tabs[2]!.page, tabs[1]!.page, ids[1]!, 'hello n1 from n2');
        const reply = await tabs[1]!.page.evaluate((to) => (window as any).mesh.request(to, 'ping', { port: 1, timeoutMs: 5000 }), ids[0]!);
        assert.equal(reply, 'echo:ping');
      }));

    test('closing the tab that hosts the links re-homes them; requests after re-homing all succeed', () =>
      withLogs(async () => {
        const ids = tabs.map((t) => t.id);
        const first = tabs[0]!;
        const second = await bootTab(ctx[0]!, s0.http, `${engine}:n0/t2`, { bootstrap: [s1.url] });
        assert.equal(second.id, first.id);
        await second.page.evaluate((to) => (window as any).T.startRequests(to, 25, 3000), ids[1]!);
        await waitFor('requests answered before the close', () => second.page.evaluate(() => (window as any).T.results.filter((r: any) => r.ok).length >= 5), 20_000, 50);
        const closedAt = Date.now();
        await first.page.close();
        // Which side dials the new links is a race (as in streams.test.ts): n0 re-homes a link
        // (`rehomed`) unless the peer, which saw its channel close too, linked to it first; then
        // n0's re-home finds the peer linked and is not counted (a run at load 14 saw both peers
        // first). Either way the remaining tab, the node's only one, hosts both links.
        // What the node showed last, should it never re-link: the failure says which part was missing.
        let seen = '';
        const rehomed = await waitFor(
          'n0 re-linked over webrtc through its remaining tab',
          async () => {
            const s = await status(second.page);
            const hosts = Object.entries(s.hostedBy ?? {});
            seen = JSON.stringify({ tabs: s.tabs, rehomed: s.rehomed, hostedBy: s.hostedBy, links: s.links.map((l) => `${l.id.slice(0, 8)}:${l.transport}`) });
            const ok =
              s.tabs === 1 &&
              hosts.length === 1 &&
              hosts[0]![1] >= 2 &&
              [ids[1]!, ids[2]!].every((id) => s.links.some((l) => l.id === id && l.transport === 'webrtc'));
            return ok ? { s, at: Date.now() } : undefined;
          },
          20_000,
          50,
        ).catch((err: Error) => {
          throw new Error(`${err.message}; last seen ${seen}`);
        });
        await waitFor('more than 20 requests sent after re-homing answered', () =>
          second.page.evaluate((at) => (window as any).T.results.filter((r: any) => r.sent >= at && r.ok).length > 20, rehomed.at),
        );
        await second.page.evaluate(() => (window as any).T.stopRequests());
        // Every request sent settles: answered, or failed at its 3 s timeout.
        await waitFor('every request settled', () => second.page.evaluate(() => (window as any).T.results.length === (window as any).T.sent), 10_000, 50);
        const results: { i: number; sent: number; at: number; ok: boolean; err?: string }[] = await second.page.evaluate(() => (window as any).T.results);
        const oks = results.filter((r) => r.ok).sort((a, b) => a.at - b.at);
        let gap = 0;
        for (let k = 1; k < oks.length; k++) if (oks[k]!.at >= closedAt - 100) gap = Math.max(gap, oks[k]!.at - oks[k - 1]!.at);
        const after = results.filter((r) => r.sent >= rehomed.at);
        const failed = results.filter((r) => !r.ok);
        // Both ends re-dial at once more often than not: the crossed dials broker.ts settles.
        const crossing = (d: Record<string, number>) => ['webrtc:crossed-offer', 'dial:DUPLICATE', 'handshake:DUPLICATE'].map((k) => `${k} ${d[k] ?? 0}`).join(', ');
        console.log(
          `# ${engine}: tab closed; links re-homed after ${rehomed.at - closedAt} ms (${rehomed.s.rehomed ?? 0} dialled by n0; n0 counted ${crossing((await status(second.page)).counters?.dropped ?? {})}); longest gap between answered requests ${gap} ms; ` +
            `${results.length} requests, ${failed.length} failed (all sent before re-homing), ${after.length} sent after re-homing`,
        );
        for (const f of failed.slice(0, 5)) log(`failed request r${f.i} sent ${f.sent - closedAt} ms after close: ${f.err}`);
        assert.ok(after.length > 20, 'requests kept flowing after re-homing');
        assert.deepEqual(after.filter((r) => !r.ok), [], 'every request after re-homing succeeds');
        tabs[0] = second;
      }));

    test('a restarted browser keeps its id and returns through a server it learned of; a Node node reaches it there', () =>
      withLogs(async () => {
        const n2 = tabs[2]!;
        // n2 learned of s2 from the mesh (its bootstrap is s1) and has linked to it: remembered in IndexedDB.
        await waitFor('n2 linked to s2', async () => (await status(n2.page)).links.some((l) => l.id === s2.id));
        const before = (await status(n2.page)) as { startedAt?: number };
        await waitFor('s2 saved in peer memory (IndexedDB)', async () => ((await n2.page.evaluate(() => (window as any).T.savedPeerAddrs())) as string[]).includes(s2.url!));
        await s1.stop();
        await n2.page.close();
        // The worker ends once its last tab has gone, a moment after the close: until then a new tab
        // would join the old worker, so boot again until the node is a new one.
        const again = await waitFor('a new worker for the restarted browser', async () => {
          const tab = await bootTab(ctx[2]!, s0.http, `${engine}:n2-restarted`, { bootstrap: [s1.url] });
          const now = (await status(tab.page)) as { startedAt?: number };
          if ((now.startedAt ?? 0) > (before.startedAt ?? 0)) return tab;
          await tab.page.close();
          return undefined;
        });
        assert.equal(again.id, n2.id, 'same id after restart');
        tabs[2] = again;
        await waitFor('restarted n2 linked to s2 with s1 down', async () => (await status(again.page)).links.some((l) => l.id === s2.id && l.transport === 'websocket'));
        const outsider = await startNode({ peers: [s2.url!] });
        try {
          const reply = await waitFor('a Node node connected only to s2 reaches n2', () =>
            outsider.request(again.id, 'from node', { port: 1, timeoutMs: 2_000 }).catch(() => undefined),
          );
          assert.equal(reply, 'echo:from node');
        } finally {
          await outsider.stop();
        }
        const ids = tabs.map((t) => t.id);
        await waitForRtcLinks(again.page, [ids[0]!, ids[1]!], 'restarted n2 re-linked over webrtc');
      }));

    test('with every server stopped, browser-to-browser messages still flow', () =>
      withLogs(async () => {
        await s2.stop();
        await s0.stop();
        const ids = tabs.map((t) => t.id);
        for (const t of tabs) await waitFor('only webrtc links are left', async () => (await status(t.page)).links.every((l) => l.transport === 'webrtc'));
        await deliver(tabs[0]!.page, tabs[1]!.page, ids[1]!, 'no servers: n0 to n1');
        await deliver(tabs[1]!.page, tabs[2]!.page, ids[2]!, 'no servers: n1 to n2');
        await deliver(tabs[2]!.page, tabs[0]!.page, ids[0]!, 'no servers: n2 to n0');
        const reply = await tabs[2]!.page.evaluate((to) => (window as any).mesh.request(to, 'still here', { port: 1, timeoutMs: 5000 }), ids[1]!);
        assert.equal(reply, 'echo:still here');
      }));
  });
}
