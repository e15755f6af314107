/**
 * Idle WebRTC links in real Chromium (docs/ROUTING.md, "Idle WebRTC links"): two browser nodes
 * linked over WebRTC and to a server close their WebRTC link as IDLE once it carried no
 * application traffic for `idleLinkMs`, keep their server links, still answer each other's
 * requests through the server meanwhile, and a burst of requests brings the direct WebRTC link
 * back. The idle time is 5 s here instead of the default 120 s: a connect() option, so the test
 * takes seconds instead of minutes; the rule does not depend on its value. (Not much shorter:
 * each time the link comes up, both ends must see it before it closes as idle again.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'puppeteer-core';
import { bootTab, type Booted, buildBundles, ensureBrowsers, launch, startServer, status, waitFor, waitForRtcLinks, withLogs } from './harness.js';

const IDLE_MS = 5_000;

ensureBrowsers(['chromium']);
buildBundles();

describe('idle WebRTC links (chromium)', () => {
  let browser: Browser;
  let s0: Awaited<ReturnType<typeof startServer>>;
  let s1: Awaited<ReturnType<typeof startServer>>;

  before(async () => {
    browser = await launch('chromium');
    s0 = await startServer(); // serves the pages
    s1 = await startServer(); // the bootstrap both nodes keep a link to
  });
  after(async () => {
    await browser?.close();
    await s0?.stop();
    await s1?.stop();
  });

  test('an idle WebRTC link closes, requests go through the server, a burst brings the link back', () =>
    withLogs(async () => {
      const tabs: Booted[] = [];
      for (let i = 0; i < 2; i++) tabs.push(await bootTab(await browser.createBrowserContext(), s0.http, `idle:n${i}`, { bootstrap: [s1.url], idleLinkMs: IDLE_MS }));
      const [a, b] = tabs as [Booted, Booted];
      await waitForRtcLinks(a.page, [b.id], 'n0 linked to n1 over webrtc');
      // No application traffic: the link closes as idle, the server links stay.
      const idle = async (t: Booted) => {
        const s = await status(t.page);
        return !s.links.some((l) => l.transport === 'webrtc') && s.links.some((l) => l.transport === 'websocket');
      };
      await waitFor('both nodes closed their idle webrtc link and kept the server', async () => (await idle(a)) && (await idle(b)), 6 * IDLE_MS);
      // Still reachable: a request is answered through the server.
      const ask = (data: string) => a.page.evaluate((to, d) => (window as any).mesh.request(to, d, { port: 1, timeoutMs: 10_000 }), b.id, data);
      assert.equal(await ask('through the server'), 'echo:through the server');
      // A burst of requests: the direct link is wanted again and dialled.
      for (let i = 0; i < 4; i++) assert.equal(await ask(`burst ${i}`), `echo:burst ${i}`);
      await waitForRtcLinks(a.page, [b.id], 'the direct webrtc link is back after the burst', 20_000);
      await waitForRtcLinks(b.page, [a.id], 'n1 sees it too', 20_000);
      assert.equal(await ask('direct'), 'echo:direct');
    }));
});
