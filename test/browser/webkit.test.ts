/**
 * The browser node in WebKit: Debian's WebKitGTK MiniBrowser over WebDriver (webkit.ts). This
 * build has SharedWorker, Web Locks and IndexedDB but no RTCPeerConnection, and its
 * SharedWorker cannot store a CryptoKey: the node keeps its keys as bytes and links over
 * WebSocket only, and its traffic to other browsers is routed through the mesh.
 *
 *   node --import tsx --test test/browser/webkit.test.ts
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { build as esbuild } from 'esbuild';
import type { Browser, Page } from 'puppeteer-core';
import { startNode, type ServerNode } from '../../src/server/index.js';
import { bootTab, buildBundles, ensureBrowsers, launch, startServer, status, waitFor, watchStreamsFetches, withLogs } from './harness.js';
import { readAll, writeAll } from '../helpers/streams.js';
import { launchWebKit, REMOTE_DRIVER, stopDisplay, wk, webkitMissing, type WebKitBrowser } from './webkit.js';

const missing = webkitMissing();
if (!missing) buildBundles();

after(() => stopDisplay());

const DEMO = fileURLToPath(new URL('../../demo', import.meta.url));
const GENERATE_KEY_PAIR = fileURLToPath(new URL('../../src/browser/generate-key-pair.ts', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));

describe('browser node on webkit', { skip: missing }, () => {
  let browser: WebKitBrowser;
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    server = await startServer();
    // Without the page cache a page that is left is gone, so leaving the only tab ends the worker.
      browser = await launchWebKit('webkit', { args: ['--enable-page-cache=false'] });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('connect() works: two tabs share one shared-worker node with keys kept as bytes; closing one keeps the node', () =>
    withLogs(async () => {
      const s = browser.session;
      const fixture = server.http;
      const first = await s.currentHandle();
      const a = await wk.boot(s, fixture);
      assert.equal(a.host, 'shared-worker');
      const st = await wk.status(s);
      const rtc = await s.run(() => typeof RTCPeerConnection === 'function');
      assert.equal(st.webrtc, rtc, 'the node claims WebRTC exactly when its pages have it');
      if (!REMOTE_DRIVER) {
        // WebKitGTK 2.50 as measured here; another WebKit (Safari) may differ.
        assert.equal(st.keyStorage, 'bytes', 'a WebKitGTK SharedWorker cannot store a CryptoKey');
        assert.equal(rtc, false, 'this WebKitGTK has no RTCPeerConnection');
      }
      const second = await s.newTab();
      const b = await wk.boot(s, fixture);
      assert.equal(b.id, a.id, 'one node for both tabs');
      await waitFor('the node counts two tabs', async () => (await wk.status(s)).tabs === 2);
      await s.closeTab();
      await s.switchTo(first);
      assert.ok((await s.handles()).every((h) => h !== second));
      await waitFor('the node counts one tab (Web Locks told it)', async () => (await wk.status(s)).tabs === 1);
      const reply = await waitFor('the server reaches the node through the remaining tab', () =>
        server.request(a.id, 'still here', { port: 1, timeoutMs: 2_000 }).catch(() => undefined),
      );
      assert.equal(reply, 'echo:still here');
    }));

  test('identity and peer memory survive a restart of the node (keys read back from bytes)', () =>
    withLogs(async () => {
      const s = browser.session;
      const fixture = server.http;
      const a = await wk.boot(s, fixture);
      const before = await wk.status(s);
      // Peer memory is written to IndexedDB a moment after a peer is learned: wait for it there.
      await waitFor('the server in stored peer memory', () =>
        s.run(
          () =>
            new Promise<boolean>((resolve) => {
              const r = indexedDB.open('meshwork');
              r.onsuccess = () => {
                const g = r.result.transaction('kv').objectStore('kv').get('peers');
                g.onsuccess = () => resolve(Array.isArray(g.result) && g.result.length > 0);
                g.onerror = () => resolve(false);
              };
              r.onerror = () => resolve(false);
            }),
        ),
      );
      // Leaving the page leaves the worker without tabs, and WebKit ends it. A new page starts a
      // new one (a later startedAt), which finds the server from memory alone: no bootstrap.
      const again = await waitFor(
        'a fresh worker after the only tab left',
        async () => {
          await s.goto('about:blank');
          const r = await wk.boot(s, fixture, { bootstrap: [] });
          const st = await wk.status(s);
          return st.startedAt !== before.startedAt ? { r, st } : undefined;
        },
        30_000,
      );
      assert.equal(again.r.id, a.id, 'the same identity');
      assert.equal(again.st.keyStorage, before.keyStorage);
      await waitFor('a link to the server, dialled from memory', async () => (await wk.status(s)).links.some((l) => l.id === server.id));
      const reply = await waitFor('a request from the server', () => server.request(a.id, 'warm', { port: 1, timeoutMs: 2_000 }).catch(() => undefined));
      assert.equal(reply, 'echo:warm');
    }));

  test('the demo renders with no console errors; screenshot in test-results/', () =>
    withLogs(async () => {
      const s = browser.session;
      const dir = recordingDemo();
      const demo = await startServer({ static: dir, peers: [server.url!] });
      try {
        await s.goto(demo.http);
        const id = await waitFor('the demo shows its node id', async () => {
          const text = await s.run(() => document.querySelector('#node-id')?.textContent ?? '');
          return /^[0-9a-f]{64}$/.test(text) ? text : undefined;
        }).catch(async (err: Error) => {
          // WebKitWebDriver shows no console: say what the page itself says (a failed start names its error).
          const shown = await s.run(() => document.querySelector('#progress-detail')?.textContent ?? '').catch(() => '?');
          throw new Error(`${err.message}; the page says: ${shown}`);
        });
        await waitFor('the demo graph shows the server', () => s.run((sid) => !!document.querySelector(`#graph .node[data-id="${sid}"]`), demo.id));
        mkdirSync(RESULTS, { recursive: true });
        writeFileSync(`${RESULTS}/demo-webkit.png`, await s.screenshot());
        const seen = await s.run(() => (window as any).__seen as { errors: string[]; debug: number });
        assert.ok(seen.debug > 0, 'the recorder saw the node host\'s debug lines: it is listening');
        assert.deepEqual(seen.errors, [], `console errors on the demo page (node ${id.slice(0, 8)})`);
      } finally {
        await demo.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }));

  // WebKitGTK rejects about one Ed25519 or X25519 generation in 130-270 with OperationError: a
  // node failed to start on about one first visit in fifteen before generateKeyPair drew again.
  // 1 200 draws through it must all succeed; raw draws beside them show the fault is there.
  test('key generation survives WebKit\'s sporadic OperationError (generateKeyPair draws again)', (t) =>
    withLogs(async () => {
      const s = browser.session;
      const dir = mkdtempSync(join(tmpdir(), 'meshwork-keygen-'));
      await esbuild({ entryPoints: [GENERATE_KEY_PAIR], bundle: true, format: 'esm', outfile: join(dir, 'generate-key-pair.js'), logLevel: 'warning' });
      writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module">import * as m from "./generate-key-pair.js"; window.keygen = m;</script>');
      const page = await startServer({ static: dir });
      try {
        await s.goto(page.http);
        await waitFor('the page loaded generateKeyPair', () => s.run(() => typeof (window as any).keygen?.generateKeyPair === 'function'));
        const r = await s.run(async () => {
          const { generateKeyPair } = (window as any).keygen;
          const out = { ok: 0, failed: [] as string[], retried: 0, rawFailed: 0 };
          for (const [name, usages] of [['Ed25519', ['sign', 'verify']], ['X25519', ['deriveBits']]] as const) {
            for (let i = 0; i < 600; i++) {
              await generateKeyPair(name, i % 2 === 0, usages, () => out.retried++).then(
                () => out.ok++,
                (e: Error) => out.failed.push(`${name}: ${e.name} ${e.message}`),
              );
              await crypto.subtle.generateKey({ name }, true, usages as unknown as KeyUsage[]).catch(() => out.rawFailed++);
            }
          }
          return out;
        });
        t.diagnostic(`generateKeyPair: ${r.ok} of 1200, ${r.retried} drawn again; raw generateKey beside it failed ${r.rawFailed} of 1200`);
        assert.deepEqual(r.failed, [], 'no key generation failed through generateKeyPair');
        assert.equal(r.ok, 1200);
      } finally {
        await page.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }));
});


/** One node of the cross-engine test, whatever drives it. */
interface Peer {
  name: string;
  id: string;
  send(to: string, data: string): Promise<void>;
  request(to: string, data: string): Promise<unknown>;
  /** Datagrams and publications received so far, as "from|data". */
  received(): Promise<string[]>;
  subscribe(topic: string): Promise<void>;
  publish(topic: string, data: string): Promise<void>;
  /** The node's counters (status().counters): what it dropped and why. */
  counters(): Promise<unknown>;
}

// In a page: records publications beside the test page's own inbox of datagrams.
const pageSubscribe = (topic: string) => {
  const w = window as any;
  w.T.topics = w.T.topics ?? [];
  w.mesh.subscribe(topic, (m: any) => w.T.topics.push(`${m.from}|${m.data}`));
};
const pageReceived = () => {
  const w = window as any;
  return [...w.T.inbox.map((m: any) => `${m.from}|${m.data}`), ...(w.T.topics ?? [])] as string[];
};

function puppeteerPeer(name: string, page: Page, id: string): Peer {
  return {
    name,
    id,
    send: (to, data) => page.evaluate((t, d) => (window as any).mesh.send(t, d, { port: 7 }), to, data),
    request: (to, data) => page.evaluate((t, d) => (window as any).mesh.request(t, d, { port: 1, timeoutMs: 5_000 }), to, data),
    received: () => page.evaluate(pageReceived),
    subscribe: (topic) => page.evaluate(pageSubscribe, topic),
    publish: (topic, data) => page.evaluate((t, d) => (window as any).mesh.publish(t, d), topic, data),
    counters: async () => (await status(page)).counters,
  };
}

function webkitPeer(name: string, s: WebKitBrowser['session'], id: string): Peer {
  return {
    name,
    id,
    send: (to, data) => s.run((t, d) => (window as any).mesh.send(t, d, { port: 7 }), to, data),
    request: (to, data) => s.run((t, d) => (window as any).mesh.request(t, d, { port: 1, timeoutMs: 5_000 }), to, data),
    received: () => s.run(pageReceived),
    subscribe: (topic) => s.run(pageSubscribe, topic),
    publish: (topic, data) => s.run((t, d) => (window as any).mesh.publish(t, d), topic, data),
    counters: async () => (await wk.status(s)).counters,
  };
}

function nodePeer(name: string, node: ServerNode): Peer {
  const got: string[] = [];
  node.onMessage((m) => got.push(`${m.from}|${String(m.data)}`));
  node.handle(1, (m) => `echo:${String(m.data)}`);
  return {
    name,
    id: node.id,
    send: (to, data) => node.send(to, data, { port: 7 }),
    request: (to, data) => node.request(to, data, { port: 1, timeoutMs: 5_000 }),
    received: async () => got,
    subscribe: async (topic) => void node.subscribe(topic, (m) => got.push(`${m.from}|${String(m.data)}`)),
    publish: (topic, data) => node.publish(topic, data),
    counters: async () => node.status().counters,
  };
}

/** `from` sends (again every second: routes may still be forming) until `to` has it. */
async function arrives(what: string, from: Peer, to: Peer, send: () => Promise<unknown>, timeoutMs = 20_000): Promise<void> {
  let last = 0;
  await waitFor(`"${what}" from ${from.name} at ${to.name}`, async () => {
    if (Date.now() - last > 1_000) {
      last = Date.now();
      await send().catch(() => undefined);
    }
    return (await to.received()).some((r) => r.startsWith(`${from.id}|`) && r.endsWith(`|${what}`));
  }, timeoutMs);
}

describe('webkit with chromium, firefox and node nodes', { skip: missing }, () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let nodeNode: ServerNode;
  let webkit: WebKitBrowser;
  let chromium: Browser;
  let firefox: Browser;
  /** streams.js fetched from the server that serves every page of this suite: none until a node's first stream. */
  let fetches: ReturnType<typeof watchStreamsFetches>;
  before(async () => {
    ensureBrowsers(['chromium', 'firefox']);
    server = await startServer();
    fetches = watchStreamsFetches(server);
    // A Node node without a port: like the WebKit node (no WebRTC here), nobody can dial it, so
    // both announce `leaf` (core/reachability.ts). Before they did, the WebKit node was a hop
    // and could be a topic's rendezvous that the browsers could not link to, and a publication
    // from it missed the Chromium subscriber in about half the runs (issue 13).
    nodeNode = await startNode({ peers: [server.url!], tuning: { maintainMs: 5_000 } });
    [webkit, chromium, firefox] = await Promise.all([launchWebKit('webkit-x'), launch('chromium'), launch('firefox')]);
  });
  after(async () => {
    fetches?.stop();
    await Promise.all([webkit?.close(), chromium?.close(), firefox?.close()]);
    await nodeNode?.stop();
    await server?.stop();
  });

  /**
   * A request, asked again after a TIMEOUT, at most three times: a request is best effort, and
   * once in about a dozen CI runs one sent seconds after these nodes joined went unanswered
   * (cause not found). Three unanswered in a row still fail the test.
   */
  const answered = async (p: Peer, to: string, data: string): Promise<unknown> => {
    for (let i = 1; ; i++) {
      try {
        return await p.request(to, data);
      } catch (err) {
        if (i === 3 || !/TIMEOUT|timed out/.test(String(err))) throw err;
        console.log(`# ${p.name}: request to ${to.slice(0, 8)} unanswered (${String(err)}); asking again`);
      }
    }
  };

  /** The peers of the first test, subscribed to `engines`: the pub/sub test below goes on with them. */
  let met: { wkPeer: Peer; others: Peer[]; topic: string; chromiumPage: Page } | undefined;

  test('datagrams and requests between a WebKit node and Chromium, Firefox and Node nodes, through the mesh', () =>
    withLogs(async () => {
      const w = await wk.boot(webkit.session, server.http);
      const c = await bootTab(await chromium.createBrowserContext(), server.http, 'chromium');
      const f = await bootTab(await firefox.createBrowserContext(), server.http, 'firefox');
      const wkPeer = webkitPeer('webkit', webkit.session, w.id);
      const others = [puppeteerPeer('chromium', c.page, c.id), puppeteerPeer('firefox', f.page, f.id), nodePeer('node', nodeNode)];
      // Subscribed first, so the subscriptions settle while the datagrams and requests run.
      const topic = 'engines';
      for (const p of [wkPeer, ...others]) await p.subscribe(topic);
      for (const o of others) {
        await arrives(`webkit to ${o.name}`, wkPeer, o, () => wkPeer.send(o.id, `webkit to ${o.name}`));
        await arrives(`${o.name} to webkit`, o, wkPeer, () => o.send(w.id, `${o.name} to webkit`));
        assert.equal(await answered(wkPeer, o.id, `ask ${o.name}`), `echo:ask ${o.name}`);
        assert.equal(await answered(o, w.id, `${o.name} asks`), `echo:${o.name} asks`);
      }
      // Without WebRTC in this WebKit, all of that went over WebSocket links and routed hops.
      const ws = await wk.status(webkit.session);
      if (!ws.webrtc) assert.ok(ws.links.every((l) => l.transport === 'websocket'), JSON.stringify(ws.links));
      if (!ws.webrtc) for (const page of [c.page, f.page]) assert.ok(!(await status(page)).links.some((l) => l.id === w.id), 'no browser linked to the WebKit node');
      met = { wkPeer, others, topic, chromiumPage: c.page };
    }));

  test('pub/sub between the WebKit node and the others', () =>
    withLogs(async () => {
      assert.ok(met, 'the first test met every peer');
      const { wkPeer, others, topic } = met;
      // A subscription sent while the mesh was still forming may have stopped at a node that is
      // not the topic's rendezvous; it gets there at its next renewal (every 20 s). So a
      // publication may take up to one renewal to reach everyone: wait that long and more.
      const PUBSUB_MS = 45_000;
      const drops = async (when: string) => {
        for (const p of [wkPeer, ...others]) console.log(`# ${when} ${p.name} ${p.id.slice(0, 8)} counters ${JSON.stringify(await p.counters().catch((e) => String(e)))}`);
        console.log(`# ${when} server ${server.id.slice(0, 8)} counters ${JSON.stringify(server.status().counters)}`);
      };
      await drops('before pub/sub:');
      try {
        for (const o of others) await arrives('news from webkit', wkPeer, o, () => wkPeer.publish(topic, 'news from webkit'), PUBSUB_MS);
        await arrives('news from firefox', others[1]!, wkPeer, () => others[1]!.publish(topic, 'news from firefox'), PUBSUB_MS);
      } finally {
        await drops('after pub/sub:');
      }
    }));

  /**
   * Streams to and from the WebKit node. Its streams part (streams.js) is loaded on first use, by
   * importScripts in its classic SharedWorker; a worker's fetch is not in any page's resource
   * timing, so the server counts it, with the user agent that asked. Without WebRTC here, every
   * stream goes over the WebSocket links and through the server.
   */
  test('4 MB streams both ways between the WebKit node and the Node node, and with Chromium: equal SHA-256 at both ends; WebKit fetches streams.js once, at its first stream', (t) =>
    withLogs(async () => {
      assert.ok(met, 'the first test met every peer');
      const s = webkit.session;
      const wkId = met.wkPeer.id;
      const chromiumPage = met.chromiumPage;
      const MB4 = 4 * 1024 * 1024;
      type Got = { from: string; bytes: number; sha256?: string; error?: string };
      /** A stream from the WebKit page of `total` xorshift bytes made there; resolves once it closed (all acknowledged), with the hash the page computed. */
      const fromWebKit = async (to: string, port: number, total: number, seed: number) => {
        await s.run((t, p, n, sd) => (window as any).T.startSend(t, p, n, 65_536, sd), to, port, total, seed);
        const sent = await waitFor(`the WebKit page's stream to ${to.slice(0, 8)} closed`, () => s.run(() => (window as any).T.stream.outcome as { sha256?: string; error?: string; ms?: number } | undefined), 30_000);
        assert.equal(sent.error, undefined, JSON.stringify(sent));
        return sent as { sha256: string; ms: number };
      };
      const wkResults = () => s.run(() => (window as any).T.stream.results as Got[]);

      assert.deepEqual(fetches.agents(), [], 'no node fetched streams.js before its first stream');
      const wkAgent = await s.run(() => navigator.userAgent);

      // WebKit opens, the Node node reads and hashes.
      const atNode: Got[] = [];
      nodeNode.handleStreams(21, (st) => {
        readAll(st.readable).then(
          (r) => atNode.push({ from: st.remote, ...r }),
          (e: { code?: string }) => atNode.push({ from: st.remote, bytes: -1, error: e.code ?? String(e) }),
        );
      });
      const sent = await fromWebKit(nodeNode.id, 21, MB4, 7);
      const got = await waitFor('the Node node read the stream to its end', async () => atNode[0], 30_000);
      assert.deepEqual(got, { from: wkId, bytes: MB4, sha256: sent.sha256 });
      assert.deepEqual(fetches.agents(), [wkAgent], "the WebKit node's first stream made it fetch streams.js, once");

      // The Node node opens, a handleStreams handler in the WebKit page reads and hashes.
      // streamServe resolves with mesh.synced(): the node takes port 22 before the Node node opens.
      await s.run(() => (window as any).T.streamServe(22));
      // Bounded by the stream itself: 20 s without an acknowledgement fails the write with TIMEOUT.
      const toWebKit = nodeNode.openStream(wkId, { port: 22, timeoutMs: 20_000 });
      const t0 = Date.now();
      const nodeSha = await writeAll(toWebKit.writable, MB4, 60 * 1024);
      const inPage = await waitFor('the WebKit page read the stream to its end', async () => (await wkResults())[0], 30_000);
      t.diagnostic(`4 MB WebKit to Node written in ${Math.round(sent.ms)} ms (page's clock); Node to WebKit written and read in ${Date.now() - t0} ms`);
      assert.deepEqual(inPage, { from: nodeNode.id, bytes: MB4, sha256: nodeSha });
      assert.equal(fetches.count(), 1, 'loaded once');

      // The same with the Chromium node, routed through the server: 1 MB each way.
      const MB1 = 1024 * 1024;
      const chromiumId = met.others[0]!.id;
      await chromiumPage.evaluate(() => (window as any).T.streamServe(23));
      const toChromium = await fromWebKit(chromiumId, 23, MB1, 11);
      const inChromium = await waitFor('the Chromium page read the stream to its end', () => chromiumPage.evaluate(() => (window as any).T.stream.results[0] as Got | undefined), 30_000);
      assert.deepEqual(inChromium, { from: wkId, bytes: MB1, sha256: toChromium.sha256 });
      await chromiumPage.evaluate((to, total) => (window as any).T.startSend(to, 22, total, 65_536, 13), wkId, MB1);
      const fromChromium = await waitFor('the Chromium page\'s stream closed', () => chromiumPage.evaluate(() => (window as any).T.stream.outcome as { sha256?: string; error?: string } | undefined), 30_000);
      assert.equal(fromChromium.error, undefined, JSON.stringify(fromChromium));
      const inPage2 = await waitFor('the WebKit page read the Chromium stream to its end', async () => (await wkResults())[1], 30_000);
      assert.deepEqual(inPage2, { from: chromiumId, bytes: MB1, sha256: fromChromium.sha256 });
      assert.equal(fetches.agents().filter((a) => a === wkAgent).length, 1, 'WebKit still fetched streams.js once');
    }));
});

/**
 * A copy of demo/ whose page first runs a recorder of console errors and uncaught errors
 * (classic WebDriver cannot read a WebKit console); the demo's own files are unchanged.
 */
function recordingDemo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-demo-'));
  cpSync(DEMO, dir, { recursive: true });
  const recorder = `<script>
  window.__seen = { errors: [], debug: 0 };
  const err = console.error.bind(console), dbg = console.debug.bind(console);
  console.error = (...a) => { __seen.errors.push(a.map(String).join(' ')); err(...a); };
  console.debug = (...a) => { __seen.debug++; dbg(...a); };
  addEventListener('error', (e) => __seen.errors.push('uncaught: ' + e.message));
  addEventListener('unhandledrejection', (e) => __seen.errors.push('unhandled rejection: ' + String(e.reason)));
</script>`;
  const page = join(dir, 'index.html');
  const html = readFileSync(page, 'utf8');
  writeFileSync(page, html.replace(/<head>/i, (h) => `${h}\n${recorder}`));
  return dir;
}
