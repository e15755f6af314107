/**
 * Streams in real browsers: 50 MB from Chromium to Firefox over their direct WebRTC link and
 * from a browser to a Node node, SHA-256 equal at both ends; a transfer that survives the tab
 * hosting its WebRTC link closing mid-way (the link re-homes to another tab, the stream goes
 * on); 100 small streams at once; an abort from either side reaching the other as ABORTED.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import type { MeshStream } from '../../src/server/index.js';
import { readAll } from '../helpers/streams.js';
import { bootTab, buildBundles, ensureBrowsers, launch, log, startServer, status, waitFor, waitForRtcLinks, withLogs } from './harness.js';

ensureBrowsers(['chromium', 'firefox']);
buildBundles();

const MB50 = 50 * 1024 * 1024;

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

/** Sends from `from` to node `to` on `port` and waits for `toPage` to have read and hashed it. */
async function transfer(from: Page, toPage: Page, to: string, total: number, what: string, during?: (read: number) => Promise<void>): Promise<{ ms: number }> {
  const before = await toPage.evaluate(() => (window as any).T.stream.results.length as number);
  await from.evaluate((t, n) => (window as any).T.startSend(t, 20, n, 256 * 1024, 7), to, total);
  let progressed = false;
  const result = await waitFor(
    what,
    async () => {
      const s = await toPage.evaluate(() => ({ read: (window as any).T.stream.read as number, results: (window as any).T.stream.results as any[] }));
      if (during && !progressed && s.read > total / 4) {
        progressed = true;
        await during(s.read);
      }
      return s.results.length > before ? s.results[s.results.length - 1] : undefined;
    },
    150_000,
    250,
  );
  const sent = await waitFor(`${what}: the sender's close acknowledged`, () => from.evaluate(() => (window as any).T.stream.outcome), 30_000, 100);
  assert.equal(sent.error, undefined, `${what}: sender ${sent.error} ${sent.message}`);
  assert.equal(result.error, undefined, `${what}: ${result.error} ${result.message}`);
  assert.equal(result.bytes, total, `${what}: every byte arrived`);
  assert.equal(result.sha256, sent.sha256, `${what}: SHA-256 equal at both ends`);
  return { ms: sent.ms };
}

describe('streams between browsers and Node', { timeout: 600_000 }, () => {
  it('50 MB from Chromium to Firefox over WebRTC, SHA-256 equal', () =>
    withLogs(async () => {
      const c = await bootTab(await chromium.createBrowserContext(), server.http, 'chromium');
      const f = await bootTab(await firefox.createBrowserContext(), server.http, 'firefox');
      await waitForRtcLinks(c.page, [f.id], 'chromium linked to firefox over webrtc');
      await f.page.evaluate(() => (window as any).T.streamServe(20));
      const { ms } = await transfer(c.page, f.page, f.id, MB50, '50 MB chromium -> firefox');
      console.log(`# 50 MB Chromium -> Firefox: ${(MB50 / 1e6 / (ms / 1000)).toFixed(1)} MB/s`);
      await c.page.close();
      await f.page.close();
    }));

  it('50 MB from a browser to a Node node, and 8 MB back on the same stream, SHA-256 equal', () =>
    withLogs(async () => {
      const c = await bootTab(await chromium.createBrowserContext(), server.http, 'chromium-node');
      // Node side: hash what arrives, then answer with 8 MB of its own on the same stream (half-close).
      const reply = new Uint8Array(8 * 1024 * 1024);
      for (let i = 0; i < reply.length; i += 4096) reply[i] = (i / 4096) & 0xff;
      const replySha = createHash('sha256').update(reply).digest('hex');
      const got = new Promise<{ bytes: number; sha256: string }>((resolve, reject) =>
        server.handleStreams(21, (s: MeshStream) => {
          readAll(s.readable)
            .then(async (r) => {
              const w = s.writable.getWriter();
              for (let at = 0; at < reply.length; at += 1 << 20) await w.write(reply.subarray(at, at + (1 << 20)));
              await w.close();
              return r;
            })
            .then(resolve, reject);
        }),
      );
      const t0 = Date.now();
      await c.page.evaluate((to, n) => {
        const T = (window as any).T;
        T.stream.back = undefined;
        T.sendAndReadBack(to, 21, n, 11).then((r: unknown) => (T.stream.back = r), (e: any) => (T.stream.back = { error: String(e.code ?? e) }));
      }, server.id, MB50);
      const r = await got;
      const seconds = (Date.now() - t0) / 1000;
      const sent = await waitFor('the answer read back in the browser', () => c.page.evaluate(() => (window as any).T.stream.back), 60_000, 250);
      console.log(`# 50 MB Chromium -> Node: ${(MB50 / 1e6 / seconds).toFixed(1)} MB/s`);
      assert.equal(sent.error, undefined, String(sent.error));
      assert.equal(r.bytes, MB50);
      assert.equal(r.sha256, sent.sha256, 'browser -> Node: SHA-256 equal');
      assert.equal(sent.backBytes, reply.length);
      assert.equal(sent.backSha, replySha, 'Node -> browser: SHA-256 equal');
      await c.page.close();
    }));

  it('a stream survives the tab hosting its WebRTC link closing mid-transfer (the link re-homes)', () =>
    withLogs(async () => {
      const ctx = await chromium.createBrowserContext();
      // The link comes up while the first tab is the only one: that tab hosts it.
      const host = await bootTab(ctx, server.http, 'rehome-host');
      const f = await bootTab(await firefox.createBrowserContext(), server.http, 'rehome-firefox');
      await waitForRtcLinks(host.page, [f.id], 'chromium linked to firefox over webrtc');
      // A durable stream is the node's, which retransmits over the new link, though the writer
      // tab's data plane is on. (Without `durable`, a second tab's stream runs in that tab through
      // the host tab and ends ABORTED when the host tab goes: tab-streams.test.ts, docs/STREAMS.md
      // "What survives what".)
      const writer = await bootTab(ctx, server.http, 'rehome-writer');
      await writer.page.evaluate(() => void ((window as any).T.stream.options = { durable: true }));
      await f.page.evaluate(() => (window as any).T.streamServe(20));
      const total = 20 * 1024 * 1024;
      {
        await transfer(writer.page, f.page, f.id, total, '20 MB while the hosting tab closes', async (read) => {
          log(`closing the hosting tab at ${read} bytes`);
          // The server stays: re-homing signals the new PeerConnection over the mesh, through it.
          await host.page.close();
        });
        // The 20 MB were all read, so a new WebRTC link carried the rest. Which side dialled it is
        // a race: the writer's node re-homes the link (`rehomed`), and Firefox's node repairs its
        // mesh, each as soon as it sees the close; when Firefox's link is up first, the writer's
        // re-home finds the peer linked and is not counted. Either way the writer tab, now the
        // node's only tab, hosts it.
        const s = await waitFor('the link re-homed to the writer tab', async () => {
          const st = await status(writer.page);
          const hosted = Object.values(st.hostedBy ?? {}).reduce((n, k) => n + k, 0);
          return hosted >= 1 && st.links.some((l) => l.id === f.id && l.transport === 'webrtc') ? st : undefined;
        }, 20_000);
        log(`re-homed by the writer's node: ${s.rehomed ?? 0} (0: Firefox's node dialled first)`);
        assert.ok(s.links.some((l) => l.id === f.id && l.transport === 'webrtc'), 'over webrtc still');
        const fast = (s as { fastPath?: { streamsOpened: number; viaTabStreamOut?: number } }).fastPath;
        assert.ok(fast, 'the writer tab has its data plane on (durable, not fastPath: false, kept the stream in the node)');
        assert.equal(fast.streamsOpened + (fast.viaTabStreamOut ?? 0), 0, 'the durable stream never ran in the writer tab');
      }
      await writer.page.close();
      await f.page.close();
    }));

  it('100 small streams at once, and aborts both ways reach the other end as ABORTED', () =>
    withLogs(async () => {
      const c = await bootTab(await chromium.createBrowserContext(), server.http, 'many');
      server.handleStreams(22, (s: MeshStream) => {
        void readAll(s.readable).then(async (r) => {
          const w = s.writable.getWriter();
          await w.write(new TextEncoder().encode(`${r.bytes}:${r.sha256}`));
          await w.close();
        });
      });
      const answers = (await c.page.evaluate((to) => (window as any).T.manySmall(to, 22, 100), server.id)) as string[];
      for (let i = 0; i < 100; i++) {
        const body = Buffer.from(`stream ${i} `.repeat(1 + i * 10));
        assert.equal(answers[i], `${body.length}:${createHash('sha256').update(body).digest('hex')}`, `stream ${i}`);
      }
      // The browser aborts: the Node end's reader fails with ABORTED and the reason.
      const nodeSide = new Promise<unknown>((resolve) => server.handleStreams(23, (s: MeshStream) => void readAll(s.readable).then(() => resolve('ended'), resolve)));
      await c.page.evaluate((to) => (window as any).T.writeThenAbort(to, 23, 'browser changed its mind'), server.id);
      const e1 = (await nodeSide) as { code?: string; message?: string };
      assert.equal(e1.code, 'ABORTED', `Node end sees ABORTED (${String(e1)})`);
      assert.match(e1.message ?? '', /browser changed its mind/);
      // Node aborts: the browser's writer fails with ABORTED.
      server.handleStreams(24, (s: MeshStream) => s.abort('node says no'));
      const e2 = (await c.page.evaluate((to) => (window as any).T.writeUntilError(to, 24), server.id)) as { code: string; message: string };
      assert.equal(e2.code, 'ABORTED', `browser sees ABORTED (${e2.message})`);
      assert.match(e2.message, /node says no/);
      await c.page.close();
    }));
});
