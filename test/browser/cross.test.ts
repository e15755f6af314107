/** A Chromium node and a Firefox node link directly over WebRTC and exchange messages. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'puppeteer-core';
import { bootTab, buildBundles, deliver, ensureBrowsers, launch, startServer, waitForRtcLinks, withLogs } from './harness.js';

ensureBrowsers(['chromium', 'firefox']);
buildBundles();

let chromium: Browser;
let firefox: Browser;
let server: Awaited<ReturnType<typeof startServer>>;
before(async () => {
  [chromium, firefox] = await Promise.all([launch('chromium'), launch('firefox')]);
  server = await startServer();
});
after(async () => {
  await Promise.all([chromium?.close(), firefox?.close()]);
  await server?.stop();
});

test('a Chromium node and a Firefox node exchange messages over a direct WebRTC link', () =>
  withLogs(async () => {
    const c = await bootTab(await chromium.createBrowserContext(), server.http, 'chromium');
    const f = await bootTab(await firefox.createBrowserContext(), server.http, 'firefox');
    await waitForRtcLinks(c.page, [f.id], 'chromium linked to firefox over webrtc');
    await waitForRtcLinks(f.page, [c.id], 'firefox linked to chromium over webrtc');
    // Take the server away: what flows now can only flow over the direct link.
    await server.stop();
    await deliver(c.page, f.page, f.id, 'from chromium');
    await deliver(f.page, c.page, c.id, 'from firefox');
    const bytes = await f.page.evaluate(async (to) => {
      const r = await (window as any).mesh.request(to, new Uint8Array([1, 2, 3]), { port: 1, timeoutMs: 5000 });
      return r instanceof Uint8Array ? [...r] : String(r);
    }, c.id);
    assert.deepEqual(bytes, [1, 2, 3], 'bytes stay bytes across engines');
  }));
