/**
 * Faults in real browsers: two browser nodes, X and Y, each with an app tab and three tabs that
 * only host WebRTC connections. While X's app tab fires requests and reliable sends at Y's app
 * tab, host tabs of both are closed at random (the one hosting the X–Y connection first) and
 * replaced. Every request must end with its reply or a TIMEOUT (no hang), every reliable send
 * must resolve (and have been delivered exactly once) or time out (and have been delivered at
 * most once), and Y's app must see no request and no datagram twice.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrowserContext } from 'puppeteer-core';
import { alwaysVisible, bootTab, type Booted, browserAndServer, buildBundles, ENGINES, ensureBrowsers, log, sleep, status, waitFor, waitForRtcLinks, withLogs } from './harness.js';

ensureBrowsers();
buildBundles();

const HOST_TABS = 3;
const CHURN_MS = 12_000;
const TIMEOUT_MS = 3_000;
const DEADLINE_MS = 6_000;

interface Out {
  kind: 'request' | 'reliable';
  text: string;
  sent: number;
  settled: boolean;
  ok?: boolean;
  code?: string;
  at?: number;
}

/** A seeded generator, so a failing run can be replayed with the same choices. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

for (const engine of ENGINES) {
  describe(`faults in ${engine}`, () => {
    const suite = browserAndServer(engine);

    test('host tabs closed at random while requests and reliable sends flow: no hang, no duplicate', () =>
      withLogs(async () => {
        const url = `${suite.server.http}faults.html`;
        const opts = { bootstrap: [suite.server.url] };
        const side = async (name: string) => {
          const context: BrowserContext = await suite.browser.createBrowserContext();
          // Host tabs first: the node's first links are hosted by them, not by the app tab.
          const hosts: Booted[] = [];
          // Host tabs stand for windows of their own, visible beside the app's: the node places
          // links on visible tabs first, and the app tab is the one in front.
          for (let i = 0; i < HOST_TABS; i++) hosts.push(await bootTab(context, url, `${engine}:${name}/host${i}`, opts, alwaysVisible));
          const app = await bootTab(context, url, `${engine}:${name}/app`, opts);
          return { name, context, hosts, app, opened: HOST_TABS };
        };
        const X = await side('X');
        const Y = await side('Y');
        await Y.app.page.evaluate(() => (window as any).T.serve());
        await waitForRtcLinks(X.app.page, [Y.app.id], 'X linked to Y over webrtc');

        // The sending tab is the one in front, as a user's would be: browsers slow the timers of background tabs to one a second.
        await X.app.page.bringToFront();
        await X.app.page.evaluate((to, o) => (window as any).T.start(to, o), Y.app.id, { everyMs: 50, timeoutMs: TIMEOUT_MS, deadlineMs: DEADLINE_MS });
        const random = rng(7);
        const started = Date.now();
        let closed = 0;
        let closedHosting = 0;
        for (let turn = 0; Date.now() - started < CHURN_MS; turn++) {
          await sleep(600 + random() * 900);
          const s = turn % 2 === 0 ? X : Y;
          // The tab hosting the X–Y connection if it is one of the host tabs, else any host tab.
          const hosting: number[] = await Promise.all(s.hosts.map((h) => h.page.evaluate(() => (window as any).T.hosting() as number).catch(() => 0)));
          const busy = s.hosts.findIndex((_, i) => hosting[i]! > 0);
          const victim = busy >= 0 ? busy : Math.floor(random() * s.hosts.length);
          if (busy >= 0) closedHosting++;
          const [gone] = s.hosts.splice(victim, 1);
          await gone!.page.close();
          closed++;
          log(`closed ${s.name} host tab (hosting ${hosting[victim]} connections)`);
          s.hosts.push(await bootTab(s.context, url, `${engine}:${s.name}/host${s.opened++}`, opts, alwaysVisible));
          await X.app.page.bringToFront();
        }
        await X.app.page.evaluate(() => (window as any).T.stop());
        // Everything still open settles by its own deadline; allow a second beyond the longest.
        const out = await waitFor(
          'every request and reliable send settled',
          async () => {
            const o: Out[] = await X.app.page.evaluate(() => (window as any).T.out);
            return o.every((r) => r.settled) ? o : undefined;
          },
          DEADLINE_MS + 2_000,
          250,
        ).catch(async (err: Error) => {
          const o: Out[] = await X.app.page.evaluate(() => (window as any).T.out);
          throw new Error(`${err.message}: unsettled ${JSON.stringify(o.filter((r) => !r.settled).slice(0, 5))}`);
        });
        const got: Record<string, number> = await Y.app.page.evaluate(() => (window as any).T.got);
        const handled: Record<string, number> = await Y.app.page.evaluate(() => (window as any).T.handled);
        const xs = await status(X.app.page);
        const ys = await status(Y.app.page);

        // Where X's app tab sent its reliable datagrams from: itself through the host tab holding the link (a relay grant,
        // docs/DATA-PLANE.md "Reliable datagrams from a tab without the link"), handed to its node under their ids when that
        // tab closed, or through its node while it held no grant.
        const fx = (xs as unknown as { fastPath?: { reliableSent: number; reliableAckedViaTab: number; reliableToNode: number } }).fastPath;
        console.log(`# X's app tab: ${fx?.reliableSent} reliable sends begun in the tab, ${fx?.reliableAckedViaTab} acked through a host tab, ${fx?.reliableToNode} handed to the node`);
        assert.ok((fx?.reliableAckedViaTab ?? 0) > 0, "the churn hit the relay path: X's app tab sent reliable datagrams through a host tab");
        const requests = out.filter((r) => r.kind === 'request');
        const reliable = out.filter((r) => r.kind === 'reliable');
        const codes = (rs: Out[]) => [...new Set(rs.filter((r) => !r.ok).map((r) => r.code ?? 'wrong reply'))];
        console.log(
          `# ${engine}: ${closed} host tabs closed (${closedHosting} hosting the X–Y connection), re-homed X ${xs.rehomed} Y ${ys.rehomed}; ` +
            `requests ${requests.filter((r) => r.ok).length}/${requests.length} answered (failures: ${codes(requests).join(', ') || 'none'}); ` +
            `reliable ${reliable.filter((r) => r.ok).length}/${reliable.length} acknowledged (failures: ${codes(reliable).join(', ') || 'none'})`,
        );
        assert.ok(requests.length > 100 && reliable.length > 100, 'traffic flowed throughout');
        assert.ok(closedHosting >= 2, `tabs hosting the connection were closed (${closedHosting})`);
        // Every request got its reply or a TIMEOUT; every reliable send its ack or a TIMEOUT.
        assert.deepEqual(codes(requests).filter((c) => c !== 'TIMEOUT'), [], 'requests fail only with TIMEOUT');
        assert.deepEqual(codes(reliable).filter((c) => c !== 'TIMEOUT'), [], 'reliable sends fail only with TIMEOUT');
        // Nothing delivered twice: no request handled twice, no datagram seen twice.
        assert.deepEqual(Object.entries(handled).filter(([, n]) => n > 1), [], 'no request handled twice');
        assert.deepEqual(Object.entries(got).filter(([, n]) => n > 1), [], 'no reliable datagram delivered twice');
        for (const r of reliable) if (r.ok) assert.equal(got[r.text], 1, `${r.text} was acknowledged, so delivered`);
        assert.ok(requests.filter((r) => r.ok).length > requests.length / 2, 'most requests were answered');
        // And all of it encrypted end to end: sealed with the keys kept in IndexedDB when it went
        // through the server, inside the WebRTC link's DTLS channel, bound to both nodes, when direct.
        const e2e = (s: unknown) => (s as { e2e: { enabled: boolean; sealed: number; opened: number; directOpened: number; plaintextSent: number } }).e2e;
        assert.ok(e2e(xs).enabled && e2e(ys).enabled, 'both browser nodes encrypt');
        assert.equal(e2e(xs).plaintextSent + e2e(ys).plaintextSent, 0, 'nothing went in the clear outside DTLS');
        // Who took each datagram Y's app got: Y's node (it counts what it opened, sealed or inside
        // a bound channel), or a host tab of Y, which takes a peer's reliable datagram only sealed
        // with the pair key or clear inside its bound channel (test/core/fast-path-forgery.test.ts)
        // and counts it where it delivers: `reliableIn` when that tab is the app's, `viaTabData` in
        // the app's tab when a host tab passed it on (docs/DATA-PLANE.md, "Reliable datagrams").
        // The host tabs this test closes take their counts with them; the app's tab stays.
        const fy = (ys as unknown as { fastPath?: { reliableIn: number; viaTabData: number } }).fastPath ?? { reliableIn: 0, viaTabData: 0 };
        assert.ok(
          e2e(ys).opened + e2e(ys).directOpened + fy.reliableIn + fy.viaTabData >= Object.keys(got).length,
          `every datagram Y's app got was opened by Y's node or taken by a tab: node ${e2e(ys).opened} + ${e2e(ys).directOpened}, app tab ${fy.reliableIn} + ${fy.viaTabData}, got ${Object.keys(got).length}`,
        );
      }));
  });
}
