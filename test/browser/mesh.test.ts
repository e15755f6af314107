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
  bootTab, type Booted, buildBundles, deliver, ENGINES, ensureBrowsers, launch, log, sleep, startServer, status, waitFor, waitForRtcLinks, withLogs,
} from './harness.js';

ensureBrowsers();
buildBundles();

for (const engine of ENGINES) {
  describe(`mesh of ${engine} nodes`, () => {
    let browser: Browser;
    let s1: Awaited<ReturnType<typeof startServer>>;
    let s2: Awaited<ReturnType<typeof startServer>>;
    const ctx: BrowserContext[] = [];
    const tabs: Booted[] = [];

    before(async () => {
      browser = await launch(engine);
      s1 = await startServer();
      s2 = await startServer({ peers: [s1.url!] });
    });
    after(async () => {
      await browser?.close();
      await s1?.stop();
      await s2?.stop();
    });

    test('three contexts link over webrtc and messages flow over those links', () =>
      withLogs(async () => {
        for (let i = 0; i < 3; i++) {
          ctx.push(await browser.createBrowserContext());
          tabs.push(await bootTab(ctx[i]!, s1.http, `${engine}:n${i}`, { bootstrap: [s1.url] }));
        }
        const ids = tabs.map((t) => t.id);
        assert.equal(new Set(ids).size, 3);
        const t0 = Date.now();
        for (let i = 0; i < 3; i++) {
          const others = ids.filter((_, j) => j !== i);
          const s = await waitForRtcLinks(tabs[i]!.page, others, `n${i} linked over webrtc to the other two`);
          log(`n${i} links: ${s.links.map((l) => `${l.id.slice(0, 8)}/${l.transport}`).join(' ')}`);
        }
        console.log(`# ${engine}: three browsers fully linked over webrtc ${Date.now() - t0} ms after boot`);
        await deliver(tabs[0]!.page, tabs[2]!.page, ids[2]!, 'hello n2 from n0');
        await deliver(tabs[2]!.page, tabs[1]!.page, ids[1]!, 'hello n1 from n2');
        const reply = await tabs[1]!.page.evaluate((to) => (window as any).mesh.request(to, 'ping', { port: 1, timeoutMs: 5000 }), ids[0]!);
        assert.equal(reply, 'echo:ping');
      }));
  });
}
