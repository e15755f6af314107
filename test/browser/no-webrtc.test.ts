/**
 * A browser node whose pages have no RTCPeerConnection (WebKitGTK's build, or WebRTC removed by
 * policy), tested in Chromium, where WebRTC exists for the others: the page's RTCPeerConnection
 * is deleted before any script runs. The node must not advertise 'webrtc', nobody may try to
 * open a WebRTC link to it, and its traffic to other browsers must go through the mesh.
 *
 *   node --import tsx --test test/browser/no-webrtc.test.ts
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootTab, browserAndServer, buildBundles, deliver, ensureBrowsers, log, status, waitFor, waitForRtcLinks, withLogs } from './harness.js';

ensureBrowsers(['chromium']);
buildBundles();

const suite = browserAndServer('chromium');

test('a node without RTCPeerConnection links over WebSocket only, is never dialled over WebRTC, and is reached through the mesh', () =>
  withLogs(async () => {
    const { browser, server } = suite;
    const noRtcContext = await browser.createBrowserContext();
    // Before the page's first script: this browser "has no WebRTC".
    const blank = await noRtcContext.newPage();
    blank.on('console', (m) => log(`[no-rtc] ${m.type()}: ${m.text()}`));
    await blank.evaluateOnNewDocument(() => {
      delete (window as any).RTCPeerConnection;
      delete (window as any).webkitRTCPeerConnection;
    });
    await blank.goto(server.http);
    await blank.waitForFunction(() => (window as any).ready === true);
    assert.equal(await blank.evaluate(() => typeof (window as any).RTCPeerConnection), 'undefined');
    const n = await blank.evaluate(() => (window as any).T.boot({}) as Promise<{ id: string; host: string }>);
    const b = await bootTab(await browser.createBrowserContext(), server.http, 'rtc-b');
    const c = await bootTab(await browser.createBrowserContext(), server.http, 'rtc-c');

    // The two WebRTC browsers link to each other directly, as always: the mesh is live around n.
    await waitForRtcLinks(b.page, [c.id], 'b and c linked over webrtc');
    const ns = await status(blank);
    assert.equal(ns.webrtc, false);
    assert.equal(ns.host, 'shared-worker');
    const learned = await waitFor('the server has learned n', async () => server.mesh.memory.get(n.id));
    assert.ok(!learned.caps.includes('webrtc'), `n advertises ${JSON.stringify(learned.caps)}`);

    // Datagrams and requests both ways between n and the WebRTC browsers: through the server.
    await deliver(blank, b.page, b.id, 'from the node without webrtc');
    await deliver(c.page, blank, n.id, 'to the node without webrtc');
    const reply = await c.page.evaluate((to) => (window as any).mesh.request(to, 'via the mesh', { port: 1, timeoutMs: 5_000 }), n.id);
    assert.equal(reply, 'echo:via the mesh');
    const back = await blank.evaluate((to) => (window as any).mesh.request(to, 'and back', { port: 1, timeoutMs: 5_000 }), b.id);
    assert.equal(back, 'echo:and back');

    // Nobody tried: no offer reached n (it would have been dropped as 'webrtc-no-host'), n has
    // only WebSocket links, and neither WebRTC browser has a link to n.
    const after = await status(blank);
    assert.equal(after.counters?.dropped['webrtc-no-host'] ?? 0, 0, 'no WebRTC offer reached n');
    assert.ok(after.links.length > 0 && after.links.every((l) => l.transport === 'websocket'), JSON.stringify(after.links));
    for (const t of [b, c]) {
      const s = await status(t.page);
      assert.ok(!s.links.some((l) => l.id === n.id), `${t.id.slice(0, 8)} has no link to n`);
    }
    await noRtcContext.close();
  }));
