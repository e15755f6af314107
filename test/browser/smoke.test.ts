import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'puppeteer-core';
import { bootTab, buildBundles, ENGINES, ensureBrowsers, launch, startServer, status, waitFor, withLogs } from './harness.js';

ensureBrowsers();
buildBundles();

for (const engine of ENGINES) {
  describe(`browser node on ${engine}`, () => {
    let browser: Browser;
    let server: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      browser = await launch(engine);
      server = await startServer();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    test('two tabs of one context share a node id; another context has another', () =>
      withLogs(async () => {
        const c1 = await browser.createBrowserContext();
        const c2 = await browser.createBrowserContext();
        const a = await bootTab(c1, server.http, `${engine}:c1/t1`);
        const b = await bootTab(c1, server.http, `${engine}:c1/t2`);
        const c = await bootTab(c2, server.http, `${engine}:c2/t1`);
        assert.equal(a.id, b.id);
        assert.notEqual(a.id, c.id);
        assert.equal(a.host, 'shared-worker');
        const s = await waitFor('a websocket link to the server', async () => {
          const st = await status(a.page);
          return st.links.some((l) => l.id === server.id && l.transport === 'websocket') ? st : undefined;
        });
        assert.equal(s.tabs, 2);
        await c1.close();
        await c2.close();
      }));
  });
}
