/**
 * A browser on an https page joins the mesh over wss on the same port. The certificate is one a
 * throwaway CA signed (test/helpers/certs.ts); Chromium trusts exactly that server key by flag
 * (--ignore-certificate-errors-spki-list), so the page is a secure context like any real site.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'puppeteer-core';
import type { ServerNode } from '../../src/server/index.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { bootTab, buildBundles, ensureBrowsers, launch, startServer, status, waitFor, withLogs } from './harness.js';

ensureBrowsers(['chromium']);
buildBundles();

let certs: TestCerts;
let browser: Browser;
let server: ServerNode & { http: string };

before(async () => {
  certs = await makeTestCerts();
  browser = await launch('chromium', { chromiumArgs: [`--ignore-certificate-errors-spki-list=${certs.spkiHash}`] });
  server = await startServer({ tls: { cert: certs.cert, key: certs.key } });
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await certs?.remove();
});

test('a page served over https joins over wss and answers a request from the server', { timeout: 60_000 }, () =>
  withLogs(async () => {
    assert.match(server.http, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    const tab = await bootTab(await browser.createBrowserContext(), server.http, 'https');
    assert.equal(await tab.page.evaluate(() => window.isSecureContext && location.protocol), 'https:');
    await waitFor('a websocket link to the server', async () => (await status(tab.page)).links.some((l) => l.id === server.id && l.transport === 'websocket'));
    assert.equal(await server.request(tab.id, 'over wss', { port: 1, timeoutMs: 5_000 }), 'echo:over wss');
  }));
