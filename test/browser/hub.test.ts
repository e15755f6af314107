/**
 * The hub: app pages on other origins share a node through /meshwork/hub.html in an iframe.
 * Three sites on loopback: the hub at 127.0.0.2, apps at 127.0.0.1 and at localhost (127.0.0.1
 * and 127.0.0.2 are different sites; ports do not make sites). What the engines here do with
 * storage access is measured by scripts/probes/storage-access.mjs and written in docs/BROWSER.md:
 * by default both run the hub per-site, and these tests assert that, with the hub reporting it.
 * Chromium reaches the shared mode when its user allows third-party cookies (then the Storage
 * Access API hands the hub a StorageAccessHandle): the last suite runs such a profile.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { hubNamespace, type HubStatus } from '../../src/browser/hub-protocol.js';
import type { MeshError } from '../../src/core/errors.js';
import type { MeshStream } from '../../src/server/index.js';
import { readAll } from '../helpers/streams.js';
import { bootTab, buildBundles, deliver, ENGINES, ensureBrowsers, launch, log, openTab, sleep, startServer, status, waitFor, withLogs } from './harness.js';

ensureBrowsers();
buildBundles();

type Server = Awaited<ReturnType<typeof startServer>>;

/** The same server reached by another host name: another origin, and maybe another site. */
const as = (server: Server, host: string) => `http://${host}:${new URL(server.http).port}`;

async function bootApp(ctx: BrowserContext, origin: string, name: string, options: Record<string, unknown>): Promise<{ page: Page; id: string }> {
  const page = await openTab(ctx, `${origin}/app.html`, name);
  const r = await page.evaluate((o) => (window as any).T.boot(o), options);
  log(`[${name}] booted ${String(r.id).slice(0, 12)} through the hub`);
  return { page, id: r.id as string };
}

for (const engine of ENGINES) {
  describe(`the hub on ${engine}`, () => {
    let browser: Browser;
    let hub: Server; // the hub's origin: http://127.0.0.2:<port>
    let siteA: Server; // app pages at http://127.0.0.1:<port>
    let siteA2: Server; // another origin of the same site
    let siteB: Server; // app pages at http://localhost:<port>: another site
    const hubUrl = () => `${hub.http}meshwork/hub.html`;
    before(async () => {
      // Firefox's own test switches: a storage-access prompt is answered "allow" at once, as a user would.
      browser = await launch(engine, { firefoxPrefs: { 'dom.storage_access.prompt.testing': true, 'dom.storage_access.prompt.testing.allow': true } });
      // The hub is closed by default: this one is opened to every origin, as an operator would with --allow-app-origin '*'.
      [hub, siteA, siteA2, siteB] = await Promise.all([startServer({ host: '127.0.0.2', allowAppOrigins: ['*'] }), startServer(), startServer(), startServer()]);
    });
    after(async () => {
      await browser?.close();
      await Promise.all([hub, siteA, siteA2, siteB].map((s) => s?.stop()));
    });

    test('apps on two sites get one node per site, the hub says so, and shared: apps exchange messages', () =>
      withLogs(async () => {
        const ctx = await browser.createBrowserContext();
        const a = await bootApp(ctx, as(siteA, '127.0.0.1'), `${engine}:site-a`, { hub: hubUrl(), app: 'shared:chat' });
        const b = await bootApp(ctx, as(siteB, 'localhost'), `${engine}:site-b`, { hub: hubUrl(), app: 'shared:chat' });
        const own = await bootTab(ctx, hub.http, `${engine}:hub-origin`); // a first-party tab of the hub's origin
        const withHub = (p: Page) => status(p) as Promise<Awaited<ReturnType<typeof status>> & { hub?: HubStatus }>;
        const [sa, sb] = [await withHub(a.page), await withHub(b.page)];
        console.log(`${engine}: hub status under site A: ${JSON.stringify(sa.hub)}; under site B: ${JSON.stringify(sb.hub)}`);
        for (const s of [sa, sb]) {
          assert.equal(s.hub?.mode, 'per-site');
          assert.match(s.hub!.reason, /storage access/);
          assert.equal(s.hub?.url, hubUrl());
        }
        assert.notEqual(a.id, b.id, 'the browser partitions the hub by top-level site');
        assert.notEqual(own.id, a.id, 'the hub origin\'s own node is a third one');
        assert.notEqual(own.id, b.id);
        // Both opted in to the same shared: namespace, so they reach each other across the mesh.
        await deliver(a.page, b.page, b.id, 'from site A');
        await deliver(b.page, a.page, a.id, 'from site B');
        await ctx.close();
      }));

    test('two origins of one site share its node, and neither sees the other\'s ports', () =>
      withLogs(async () => {
        const ctx = await browser.createBrowserContext();
        const [originA, originA2] = [as(siteA, '127.0.0.1'), as(siteA2, '127.0.0.1')];
        const a = await bootApp(ctx, originA, `${engine}:origin-a`, { hub: hubUrl(), app: 'chat' });
        const a2 = await bootApp(ctx, originA2, `${engine}:origin-a2`, { hub: hubUrl(), app: 'chat' });
        assert.equal(a.id, a2.id, 'one site, one partition, one node');
        // Nor does either count the other's tabs (SECURITY.md, "Origin isolation").
        assert.equal((await status(a.page)).tabs, 1);
        assert.equal((await status(a2.page)).tabs, 1);
        const appOf = (origin: string) => hubNamespace(origin, 'chat');
        // The hub server node is linked to the browser node: address each app by its namespace.
        const reply = await waitFor('a request reaches app A', () => hub.request(a.id, 'x', { app: appOf(originA), port: 1, timeoutMs: 2_000 }).catch(() => undefined));
        assert.equal(reply, 'app-echo:x');
        await hub.send(a.id, 'for A', { app: appOf(originA), port: 7 });
        await hub.send(a.id, 'for A2', { app: appOf(originA2), port: 7 });
        const inbox = (p: Page) => p.evaluate(() => (window as any).T.inbox.map((m: any) => `${m.data}@${m.port}`));
        await waitFor('both messages arrive', async () => (await inbox(a.page)).length > 0 && (await inbox(a2.page)).length > 0);
        await sleep(300);
        assert.deepEqual(await inbox(a.page), ['for A@7']);
        assert.deepEqual(await inbox(a2.page), ['for A2@7']);
        // An app page that closes leaves the node: its hub frame goes with it and the worker hears.
        // A (another origin) is not told; a second tab of A2's own origin and app is.
        const a2b = await bootApp(ctx, originA2, `${engine}:origin-a2-b`, { hub: hubUrl(), app: 'chat' });
        assert.equal((await status(a2b.page)).tabs, 2);
        const seenByA = async () => { const s = (await status(a.page)) as any; return JSON.stringify([s.tabs, s.parkedTabs, s.tabsGone]); };
        const seen = await seenByA();
        await a2.page.close();
        await waitFor("A2's other tab counts one tab of its app", async () => (await status(a2b.page)).tabs === 1, 10_000);
        assert.equal(await seenByA(), seen, "A's status did not move as A2's tab went");
        await ctx.close();
      }));

    test('the hub frame tells the node when its app page is hidden and shown again (new links go to visible tabs first)', () =>
      withLogs(async () => {
        const ctx = await browser.createBrowserContext();
        const origin = as(siteA, '127.0.0.1');
        const a = await bootApp(ctx, origin, `${engine}:visibility-a`, { hub: hubUrl(), app: 'chat' });
        // The node tells the app's other tabs, never the tab itself nor another app's.
        const b = await bootApp(ctx, origin, `${engine}:visibility-b`, { hub: hubUrl(), app: 'chat' });
        const other = await bootApp(ctx, origin, `${engine}:visibility-other`, { hub: hubUrl(), app: 'other' });
        const lines = new Map<Page, string[]>([a.page, b.page, other.page].map((p) => [p, []]));
        for (const [p, l] of lines) p.on('console', (m) => l.push(m.text()));
        const frame = a.page.frames().find((f) => f.url().startsWith(hubUrl()));
        assert.ok(frame, 'the app page holds the hub frame');
        // What the browser does to a frame whose page goes to the background; headless pages here
        // cannot be sent there on demand, so the frame's own document reports it.
        const show = (state: string) =>
          frame!.evaluate((st) => {
            Object.defineProperty(document, 'visibilityState', { value: st, configurable: true });
            document.dispatchEvent(new Event('visibilitychange'));
          }, state);
        const heard = (p: Page, state: string) => lines.get(p)!.filter((l) => new RegExp(`meshwork host: tab \\w+ ${state}`).test(l)).length;
        // A is a background tab now, and headless background tabs may be hidden already: start visible.
        await show('visible');
        const before = heard(b.page, 'visible');
        await show('hidden');
        await waitFor("the node hears that A's hub session is hidden (B's console)", async () => heard(b.page, 'hidden') > 0, 10_000, 50);
        await show('visible');
        await waitFor('and that it is visible again', async () => heard(b.page, 'visible') > before, 10_000, 50);
        assert.equal(heard(other.page, 'hidden') + heard(other.page, 'visible'), 0, 'another app of the same origin is not told');
        await ctx.close();
      }));

    test('an app page that closes says so through the hub: its handler mid-run fails HANDLER_CLOSED and runs in no other tab; an app of another origin cannot name its requests', () =>
      withLogs(async () => {
        const ctx = await browser.createBrowserContext();
        const [originA, originA2] = [as(siteA, '127.0.0.1'), as(siteA2, '127.0.0.1')];
        const work = hubNamespace(originA, 'work');
        // A1 and A2: two pages of origin A on one node (the hub's tabs there), both handling port
        // 2 of `work`; A1 registers first, so the worker asks it first. A1 never finishes `slow`.
        const a1 = await bootApp(ctx, originA, `${engine}:closing-A1`, { hub: hubUrl(), app: 'work' });
        const a2 = await bootApp(ctx, originA, `${engine}:closing-A2`, { hub: hubUrl(), app: 'work' });
        assert.equal(a1.id, a2.id, 'one node');
        for (const [page, tab] of [[a1.page, 'A1'], [a2.page, 'A2']] as const) {
          await page.evaluate(async (t) => {
            const w = window as any;
            w.mesh.handle(2, async (m: { data: string }) => {
              // Starts counted in localStorage: origin A's pages share it, and it outlives A1.
              const k = `in-${t}:${m.data}`;
              localStorage.setItem(k, String(Number(localStorage.getItem(k) ?? 0) + 1));
              if (t === 'A1' && m.data === 'slow') await new Promise(() => undefined);
              return `done:${m.data}`;
            });
            await w.mesh.synced();
          }, tab);
        }
        const starts = (): Promise<Record<string, number>> =>
          a2.page.evaluate(() => Object.fromEntries(Object.keys(localStorage).map((k) => [k, Number(localStorage.getItem(k))])));
        const gone = (): Promise<{ closing: number; failed: number; moved: number; afterGrace: number }> => a2.page.evaluate(() => (window as any).mesh.status().then((s: any) => s.tabsGone));
        // Another origin of the same site, on the same node through the same hub, speaking the
        // hub's wire itself: a hostile page would name other apps' requests in its `closing`.
        const crafted = await openTab(ctx, `${originA2}/app.html`, `${engine}:closing-crafted`);
        await crafted.evaluate(`(async (url) => {
          const { openHub } = await import('/meshwork/hub-link.js');
          const { conn } = await openHub(url, 15000);
          const replies = new Map();
          conn.onMessage((m) => replies.get(m && m.re)?.(m));
          window.ask = (m) => new Promise((resolve) => { replies.set(m.id, resolve); conn.post(m); });
          window.conn = conn;
          const hello = await window.ask({ op: 'hello', id: 1, tabId: 'crafted', app: 'work', bootstrap: [], canHost: false, rtc: false });
          if (!hello.ok) throw new Error('hello refused: ' + JSON.stringify(hello.error));
        })(${JSON.stringify(hubUrl())})`);

        assert.equal(await waitFor('the server reaches A1', () => hub.request(a1.id, 'warm', { app: work, port: 2, timeoutMs: 2_000 }).catch(() => undefined)), 'done:warm');
        let slow: { ok: boolean; value?: string; code?: string } | undefined;
        void hub.request(a1.id, 'slow', { app: work, port: 2, timeoutMs: 20_000 }).then(
          (v) => (slow = { ok: true, value: String(v) }),
          (e: MeshError) => (slow = { ok: false, code: e.code }),
        );
        await waitFor('A1 runs slow', async () => (await starts())['in-A1:slow'] === 1, 10_000, 50);
        const before = await gone();

        // The crafted app says it is closing and names every request id the node has given out
        // so far (they count from 1 across its tabs); its next call is answered after the worker took it.
        const after = await crafted.evaluate(`(async () => {
          window.conn.post({ op: 'closing', id: 0, started: Array.from({ length: 10000 }, (_, i) => i + 1) });
          return window.ask({ op: 'status', id: 2 });
        })()`) as { ok: boolean; error?: { message: string } };
        assert.equal(after.ok, false, 'the crafted app is gone from the node after its closing');
        const crafty = await gone();
        // Counted for its own app (origin A2), not for A's, which sees its own tabs only.
        assert.equal(crafty.closing - before.closing, 0, "the crafted app's closing is not A's to see");
        assert.equal(crafty.failed - before.failed, 0, 'and failed no request of another app');
        assert.equal(slow, undefined, 'slow still runs in A1');

        // A1 goes for good: its pagehide posts `closing` to the hub, which passes it on. Each engine
        // the way its hub frame hears it (scripts/probes/hub-pagehide.mjs, BROWSER.md "The hub"):
        // Chromium when the tab closes (before the frame's own pagehide), Firefox when the page
        // navigates away (after the frame's pagehide). Chromium's navigation and Firefox's tab close
        // lose it: the hub's bye and the grace, as for a tab gone without a word.
        if (engine === 'chromium') await a1.page.close();
        else await a1.page.goto(`${as(siteB, 'localhost')}/app.html`);
        await waitFor('slow settled', async () => slow, 10_000, 50);
        assert.deepEqual(slow, { ok: false, code: 'HANDLER_CLOSED' }, "slow's requester is told its tab closed mid-run");
        const end = await gone();
        console.log(`# ${engine}: worker after A1 closed: ${JSON.stringify(end)}`);
        assert.equal(end.closing - crafty.closing, 1, 'A1 said it was closing, through the hub');
        assert.equal(end.failed - crafty.failed, 1, 'one request failed: slow');
        assert.equal(end.afterGrace - crafty.afterGrace, 0, 'none waited for a grace');
        // A2 answers from now on; it never ran slow.
        assert.equal(await hub.request(a2.id, 'next', { app: work, port: 2, timeoutMs: 5_000 }), 'done:next');
        const counts = await starts();
        assert.equal(counts['in-A2:next'], 1);
        assert.equal(counts['in-A2:slow'], undefined, 'A2 never ran slow');
        await ctx.close();
      }));

    test('a hub app streams 2 MB to a Node node and reads 1 MB back on the same stream, SHA-256 equal both ways', () =>
      withLogs(async () => {
        const ctx = await browser.createBrowserContext();
        const originA = as(siteA, '127.0.0.1');
        const a = await bootApp(ctx, originA, `${engine}:streams`, { hub: hubUrl(), app: 'files' });
        const reply = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
        const replySha = createHash('sha256').update(reply).digest('hex');
        // The app's namespace as the node knows it: the hub scopes it by the app's origin.
        const got = new Promise<{ bytes: number; sha256: string }>((resolve, reject) =>
          hub.handleStreams(
            25,
            (st: MeshStream) => {
              readAll(st.readable)
                .then(async (r) => {
                  const w = st.writable.getWriter();
                  await w.write(reply);
                  await w.close();
                  return r;
                })
                .then(resolve, reject);
            },
            { app: hubNamespace(originA, 'files') },
          ),
        );
        const sent = await a.page.evaluate(async (to) => {
          const data = new Uint8Array(2 << 20).map((_, i) => (i * 13) & 0xff);
          const st = (window as any).mesh.openStream(to, { port: 25 });
          const w = st.writable.getWriter();
          for (let at = 0; at < data.length; at += 256 * 1024) await w.write(data.slice(at, at + 256 * 1024));
          await w.close();
          const back = new Uint8Array(await new Response(st.readable).arrayBuffer());
          // No named helper here: the test runner's transform would wrap it in a function the page lacks.
          const [sha256, backSha] = await Promise.all(
            [data, back].map(async (b) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join('')),
          );
          return { sha256, backBytes: back.length, backSha };
        }, hub.id);
        const r = await got;
        assert.equal(r.bytes, 2 << 20);
        assert.equal(r.sha256, sent.sha256, 'hub app -> Node: SHA-256 equal');
        assert.equal(sent.backBytes, reply.length);
        assert.equal(sent.backSha, replySha, 'Node -> hub app: SHA-256 equal');
        await ctx.close();
      }));

    test('the hub\'s button asks for storage access on a user gesture and reports the answer', () =>
      withLogs(async () => {
        const ctx = await browser.createBrowserContext();
        const a = await bootApp(ctx, as(siteA, '127.0.0.1'), `${engine}:gesture`, { hub: hubUrl(), app: 'chat' });
        const withHub = (p: Page) => status(p) as Promise<Awaited<ReturnType<typeof status>> & { hub?: HubStatus }>;
        assert.equal((await withHub(a.page)).hub?.reason, 'storage access permission: prompt');
        // The app shows the hub frame where it is; the user presses the hub's button (a real click).
        await a.page.evaluate(() => {
          const f = (window as any).mesh.hubFrame as HTMLIFrameElement;
          f.hidden = false;
          f.style.cssText = 'width: 320px; height: 80px; border: 0';
        });
        const frame = a.page.frames().find((f) => f.url() === hubUrl());
        assert.ok(frame, 'the hub frame');
        await frame.waitForSelector('#share', { visible: true, timeout: 5_000 });
        await frame.click('#share');
        const after = await waitFor('the hub reports the answer', async () => {
          const s = await withHub(a.page);
          return s.hub?.reason !== 'storage access permission: prompt' && s;
        }, 10_000);
        console.log(`${engine}: after the click: ${JSON.stringify(after.hub)}`);
        assert.equal(after.hub?.mode, 'per-site');
        if (engine === 'chromium') {
          // Headless Chromium 156 shows no prompt: it refuses at once.
          assert.match(after.hub!.reason, /^storage access refused: NotAllowedError/);
        } else {
          // Firefox 153 grants (its prompt answered "allow"), but only for cookies: no StorageAccessHandle, so
          // its SharedWorker and IndexedDB stay keyed by the top-level site.
          assert.equal(after.hub?.reason, 'storage access granted, but this browser does not extend it to SharedWorker');
        }
        assert.equal(after.id, a.id, 'still on the same node');
        const reply = await waitFor('the app still answers', () => hub.request(a.id, 'y', { app: hubNamespace(as(siteA, '127.0.0.1'), 'chat'), port: 1, timeoutMs: 2_000 }).catch(() => undefined));
        assert.equal(reply, 'app-echo:y');
        await ctx.close();
      }));

    test("an app through the hub cannot set the node's links-per-address cap, even with a hello of its own making; a first-party page that starts its node can", () =>
      withLogs(async () => {
        // Each in a fresh context, so each page's hello is the one that starts its node. Our client
        // never sends the cap through a hub; a hostile page would, so this one speaks the hub's
        // wire itself (openHub, then a hello it wrote) and asks for the node's status.
        const appCtx = await browser.createBrowserContext();
        const page = await openTab(appCtx, `${as(siteA, '127.0.0.1')}/app.html`, `${engine}:cap-app`);
        // A string, not a function: tsx would wrap the inner arrows in a helper the page lacks.
        const crafted = `(async (url) => {
          const { openHub } = await import('/meshwork/hub-link.js');
          const { conn } = await openHub(url, 15000);
          const replies = new Map();
          conn.onMessage((m) => replies.get(m && m.re)?.(m));
          const ask = (m) => new Promise((resolve) => { replies.set(m.id, resolve); conn.post(m); });
          const hello = await ask({ op: 'hello', id: 1, tabId: 'crafted', app: 'chat', bootstrap: ['ws://127.0.0.1:1/'], canHost: false, rtc: false, maxLinksPerAddress: 1, idleLinkMs: 5000 });
          if (!hello.ok) throw new Error('hello refused: ' + JSON.stringify(hello.error));
          const status = await ask({ op: 'status', id: 2 });
          return status.value.limits;
        })(${JSON.stringify(hubUrl())})`;
        const appLimits = (await page.evaluate(crafted)) as { maxLinksPerAddress: number; idleLinkMs: number };
        const ownCtx = await browser.createBrowserContext();
        const own = await bootTab(ownCtx, hub.http, `${engine}:cap-own`, { maxLinksPerAddress: 3 });
        const ownLimits = (await status(own.page) as unknown as { limits: { maxLinksPerAddress: number } }).limits;
        assert.equal(appLimits.maxLinksPerAddress, 16, 'the hub dropped the crafted cap: the node keeps the default');
        assert.equal(appLimits.idleLinkMs, 5_000, 'the rest of the crafted hello reached the node (it started the node)');
        assert.equal(ownLimits.maxLinksPerAddress, 3, 'a first-party page sets the cap of the node it starts');
        await appCtx.close();
        await ownCtx.close();
      }));

    test('a hub started with default options refuses every other origin with FORBIDDEN, and serves its own', () =>
      withLogs(async () => {
        const closed = await startServer({ host: '127.0.0.2' });
        try {
          const ctx = await browser.createBrowserContext();
          const url = `${closed.http}meshwork/hub.html`;
          for (const origin of [as(siteA, '127.0.0.1'), as(siteB, 'localhost')]) {
            const page = await openTab(ctx, `${origin}/app.html`, `${engine}:closed`);
            const err = await page.evaluate((hubUrl) => (window as any).T.boot({ hub: hubUrl, app: 'chat' }).then(() => undefined, (e: any) => ({ name: e.name, code: e.code, message: e.message })), url);
            assert.equal(err?.code, 'FORBIDDEN', `${origin} is refused`);
            assert.ok(err!.message.includes(`does not allow apps from ${origin}`));
            await page.close();
          }
          // The hub's own origin, through its own hub page, is served.
          const own = await bootApp(ctx, closed.http.replace(/\/$/, ''), `${engine}:closed-own`, { hub: url, app: 'chat' });
          assert.match(own.id, /^[0-9a-f]{64}$/);
          await ctx.close();
        } finally {
          await closed.stop();
        }
      }));

    test('a hub with an allow list refuses other origins with FORBIDDEN', () =>
      withLogs(async () => {
        const strict = await startServer({ host: '127.0.0.2', allowAppOrigins: [as(siteA, '127.0.0.1')] });
        try {
          const ctx = await browser.createBrowserContext();
          const url = `${strict.http}meshwork/hub.html`;
          const page = await openTab(ctx, `${as(siteB, 'localhost')}/app.html`, `${engine}:refused`);
          const err = await page.evaluate((hubUrl) => (window as any).T.boot({ hub: hubUrl }).then(() => undefined, (e: any) => ({ name: e.name, code: e.code, message: e.message })), url);
          assert.equal(err?.name, 'MeshError');
          assert.equal(err?.code, 'FORBIDDEN');
          assert.match(err!.message, /does not allow apps from http:\/\/localhost:\d+/);
          assert.equal(await page.evaluate(() => document.querySelectorAll('iframe').length), 0, 'the refused hub frame is gone');
          const allowed = await bootApp(ctx, as(siteA, '127.0.0.1'), `${engine}:allowed`, { hub: url });
          assert.match(allowed.id, /^[0-9a-f]{64}$/);
          await ctx.close();
        } finally {
          await strict.stop();
        }
      }));
  });
}

if (ENGINES.includes('chromium')) {
  describe('the hub on chromium with third-party cookies allowed: one node for every site', () => {
    let browser: Browser;
    let profile: string;
    let hub: Server;
    let siteA: Server;
    let siteB: Server;
    before(async () => {
      // A profile whose user allowed third-party cookies (Settings > Privacy): a user's choice,
      // not a test switch. Then storage access needs no prompt and comes with a handle.
      profile = mkdtempSync(`${tmpdir()}/meshwork-hub-profile-`);
      mkdirSync(`${profile}/Default`);
      writeFileSync(`${profile}/Default/Preferences`, JSON.stringify({ profile: { cookie_controls_mode: 0 } }));
      browser = await launch('chromium', { chromiumProfile: profile });
      [hub, siteA, siteB] = await Promise.all([startServer({ host: '127.0.0.2', allowAppOrigins: ['*'] }), startServer(), startServer()]);
    });
    after(async () => {
      await browser?.close();
      await Promise.all([hub, siteA, siteB].map((s) => s?.stop()));
      rmSync(profile, { recursive: true, force: true });
    });

    test('apps on two sites and the hub origin share one node; each origin keeps its own ports', () =>
      withLogs(async () => {
        const ctx = browser.defaultBrowserContext(); // the profile, not an off-the-record context
        const hubUrl = `${hub.http}meshwork/hub.html`;
        const [originA, originB] = [as(siteA, '127.0.0.1'), as(siteB, 'localhost')];
        const a = await bootApp(ctx, originA, 'shared:site-a', { hub: hubUrl, app: 'shared:chat' });
        const b = await bootApp(ctx, originB, 'shared:site-b', { hub: hubUrl, app: 'shared:chat' });
        const own = await bootTab(ctx, hub.http, 'shared:hub-origin');
        assert.equal(a.id, b.id, 'one node for both sites');
        assert.equal(own.id, a.id, 'and it is the hub origin\'s own node');
        const s = (await status(a.page)) as Awaited<ReturnType<typeof status>> & { hub?: HubStatus };
        console.log(`chromium, third-party cookies allowed: ${JSON.stringify(s.hub)}`);
        assert.deepEqual([s.hub?.mode, s.hub?.reason], ['shared', 'storage access granted']);
        assert.equal((await status(own.page)).tabs, 3);
        // Through the one node: A's datagram to its own node reaches B, which shares the port.
        await deliver(a.page, b.page, b.id, 'from site A, through one node');
        // Origin-scoped apps on that node: each sees only its own ports.
        const a2 = await bootApp(ctx, originA, 'shared:a-chat', { hub: hubUrl, app: 'chat' });
        const b2 = await bootApp(ctx, originB, 'shared:b-chat', { hub: hubUrl, app: 'chat' });
        assert.equal(a2.id, b2.id);
        await waitFor('the server reaches the node', () => hub.request(a.id, 'x', { app: hubNamespace(originA, 'chat'), port: 1, timeoutMs: 2_000 }).catch(() => undefined));
        await hub.send(a.id, 'for A', { app: hubNamespace(originA, 'chat'), port: 7 });
        await hub.send(a.id, 'for B', { app: hubNamespace(originB, 'chat'), port: 7 });
        const inbox = (p: Page) => p.evaluate(() => (window as any).T.inbox.map((m: any) => m.data));
        await waitFor('both arrive', async () => (await inbox(a2.page)).length > 0 && (await inbox(b2.page)).length > 0);
        await sleep(300);
        assert.deepEqual(await inbox(a2.page), ['for A']);
        assert.deepEqual(await inbox(b2.page), ['for B']);
        assert.ok(!(await inbox(a.page)).includes('for A'), 'the shared: app does not see origin-scoped ports');
      }));

    test("a hub app sees its own tabs only: a first-party page and another site's app coming and going move none of its counts", () =>
      withLogs(async () => {
        const ctx = browser.defaultBrowserContext();
        const hubUrl = `${hub.http}meshwork/hub.html`;
        const [originA, originB] = [as(siteA, '127.0.0.1'), as(siteB, 'localhost')];
        const a = await bootApp(ctx, originA, 'tabs:a', { hub: hubUrl, app: 'watch' });
        const FIRST_PARTY_ONLY = ['apps', 'rehomed', 'tabRequests', 'hostedBy', 'takenAnswers', 'fastGrants', 'streams'];
        const watched = async () => {
          const s = (await status(a.page)) as any;
          return { tabs: s.tabs, parkedTabs: s.parkedTabs, tabsGone: s.tabsGone, firstPartyOnly: FIRST_PARTY_ONLY.filter((k) => k in s) };
        };
        const start = await watched();
        assert.deepEqual([start.tabs, start.parkedTabs, start.firstPartyOnly], [1, 0, []], 'A counts itself alone and gets no counter of the other tabs');
        // The first party sees every tab of the node: the others' coming and going is real.
        const observer = await bootTab(ctx, hub.http, 'tabs:first-party');
        const everyTab = async () => (await status(observer.page)).tabs;
        const own = await bootTab(ctx, hub.http, 'tabs:first-party-2');
        const b = await bootApp(ctx, originB, 'tabs:b', { hub: hubUrl, app: 'watch' });
        assert.deepEqual([own.id, b.id], [a.id, a.id], 'one node');
        const all = await everyTab();
        const firstParty = (await status(observer.page)) as any;
        assert.deepEqual(FIRST_PARTY_ONLY.filter((k) => !(k in firstParty)), [], 'the first party gets them');
        assert.deepEqual(await watched(), start, 'their coming moved nothing A sees');
        await own.page.close();
        await b.page.close();
        await waitFor('the first party sees both go', async () => (await everyTab()) === all - 2, 10_000);
        assert.deepEqual(await watched(), start, 'nor their going');
        // A second tab of A's own app (origin and name): that A sees.
        const mine = await bootApp(ctx, originA, 'tabs:a-2', { hub: hubUrl, app: 'watch' });
        assert.equal((await watched()).tabs, 2);
        await mine.page.close();
        await waitFor('A counts its own app\'s tab gone', async () => (await watched()).tabs === 1, 10_000);
        await observer.page.close();
        await a.page.close();
      }));

    test('the attack of issue 17: another origin on the same node, under any name, gets nothing sent to the first-party chat and cannot answer for it', () =>
      withLogs(async () => {
        const ctx = browser.defaultBrowserContext();
        const hubUrl = `${hub.http}meshwork/hub.html`;
        const hubOrigin = hub.http.replace(/\/$/, '');
        const attackerOrigin = as(siteB, 'localhost');
        // The first-party app `chat`, on the hub's own origin: echoes on port 1, keeps an inbox.
        const chat = await bootTab(ctx, hub.http, 'attack:first-party-chat', { app: 'chat' });
        // The attacker: many apps through the hub, among them x182 (chat's slot under the old 8-bit
        // scheme), chat itself, look-alikes and the default app; each listens and answers on 1, 2 and 7.
        const names = ['x182', 'chat', '', 'Chat', 'chat ', 'shared:chat', '../chat', `${hubOrigin}/chat`, ...Array.from({ length: 16 }, (_, i) => `probe-${i}`)];
        const attacker = await openTab(ctx, `${attackerOrigin}/app.html`, 'attack:attacker');
        const attack = await attacker.evaluate(
          async (url, apps, client) => {
            const { connect } = await import(client);
            const w = window as any;
            w.caught = [];
            w.asked = [];
            w.meshes = [];
            for (const app of apps) {
              const m = await connect({ hub: url, app });
              m.onMessage((x: any) => w.caught.push({ app, data: x.data, port: x.port }));
              for (const port of [1, 2, 7]) m.handle(port, (x: any) => (w.asked.push({ app, port, data: x.data }), 'forged'));
              await m.status(); // calls are answered in order: the handlers above are registered
              w.meshes.push(m);
            }
            const s = await w.meshes[0].status();
            return { ids: w.meshes.map((m: any) => m.id), hub: s.hub, apps: s.apps ?? null };
          },
          hubUrl,
          names,
          '/meshwork/client.js',
        );
        assert.ok(attack.ids.every((id: string) => id === chat.id), 'the attacker is on the very node of the first-party chat');
        assert.deepEqual([attack.hub.mode, attack.hub.node], ['shared', chat.id], 'and its status says which node, in which mode');
        assert.equal(attack.apps, null, 'an app through the hub is not told which other sites use the node');
        // A first-party page lists what is attached to its node.
        const apps = (await chat.page.evaluate(() => (window as any).mesh.status())).apps as { origin: string; app: string; via: string; tabs: number }[];
        console.log(`attached apps: ${JSON.stringify(apps.map((x) => [x.origin, x.app, x.via, x.tabs]))}`);
        assert.ok(apps.some((x) => x.origin === hubOrigin && x.app === 'chat' && x.via === 'direct'));
        for (const name of names) assert.ok(apps.some((x) => x.origin === attackerOrigin && x.app === hubNamespace(attackerOrigin, name) && x.via === 'hub'), `lists ${name}`);

        // A Node peer (the server) talks to the first-party chat on that node.
        assert.equal(await waitFor('the server reaches chat', () => hub.request(chat.id, 'q', { app: 'chat', port: 1, timeoutMs: 2_000 }).catch(() => undefined)), 'echo:q');
        await hub.send(chat.id, 'secret datagram', { app: 'chat', port: 7 });
        await hub.send(chat.id, 'secret reliable', { app: 'chat', port: 7, reliable: true });
        // chat handles no port 2, and no attacker app's handler answers for it: the node refuses it.
        await assert.rejects(hub.request(chat.id, 'who answers port 2?', { app: 'chat', port: 2, timeoutMs: 1_500 }), (e: Error & { code?: string }) => e.code === 'REFUSED');
        // After the secrets, one sentinel to each attacker app: once every app has its own, anything
        // sent to chat before would have reached the attacker too.
        for (const name of names) await hub.send(chat.id, `sentinel ${name}`, { app: hubNamespace(attackerOrigin, name), port: 7 });
        await waitFor('every attacker app has its sentinel', () => attacker.evaluate((n) => (window as any).caught.filter((c: any) => c.data.startsWith('sentinel ')).length === n, names.length), 10_000);
        const firstParty = await chat.page.evaluate(() => (window as any).T.inbox.map((m: any) => m.data));
        assert.ok(firstParty.includes('secret datagram') && firstParty.includes('secret reliable'), 'chat got both');
        const caught = await attacker.evaluate(() => (window as any).caught);
        assert.deepEqual(caught.filter((c: any) => !c.data.startsWith('sentinel ')), [], 'the attacker caught nothing sent to chat');
        assert.ok(caught.every((c: any) => c.data === `sentinel ${c.app}`), 'each app got only its own sentinel');
        assert.deepEqual(await attacker.evaluate(() => (window as any).asked), [], 'no request to chat reached the attacker');

        // Sends from the attacker's apps leave from the node's id but in the attacker's namespaces:
        // a Node peer listening as chat hears none of them.
        const heardAsChat: string[] = [];
        const heardAsAttacker: string[] = [];
        const offs = [
          hub.onMessage((m) => heardAsChat.push(String(m.data)), { app: 'chat' }),
          hub.onMessage((m) => heardAsAttacker.push(String(m.data)), { app: hubNamespace(attackerOrigin, 'chat') }),
        ];
        try {
          await attacker.evaluate((to) => Promise.all((window as any).meshes.map((m: any) => m.send(to, 'forged from the attacker', { port: 7 }))), hub.id);
          await waitFor('the attacker\'s own namespace hears it', async () => heardAsAttacker.length > 0, 10_000);
          assert.deepEqual(heardAsChat, [], 'nothing arrives as chat');
        } finally {
          for (const off of offs) off();
        }
      }));
  });
}
