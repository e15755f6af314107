/**
 * The demo page in real Chromium: a server serves demo/ and three browser contexts (three
 * mesh nodes) open it. Each shows its own node id, the graph shows all three and the links
 * between them (the far ones learned from the others' topology summaries), and a chat
 * message typed in one page appears in the others. Screenshots go to test-results/.
 *
 *   node --import tsx --test test/demo/
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { buildBundles, ensureBrowsers, launch, log, startServer, waitFor, withLogs } from '../browser/harness.js';

const DEMO = fileURLToPath(new URL('../../demo', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));

ensureBrowsers(['chromium']);
buildBundles();

let browser: Browser;
let server: Awaited<ReturnType<typeof startServer>>;
const problems: string[] = [];

before(async () => {
  browser = await launch('chromium');
  // The demo on a second site opens through this server's hub: allow any app origin.
  server = await startServer({ static: DEMO, allowAppOrigins: ['*'] });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openDemo(name: string, width: number, height: number, context?: BrowserContext, dark = false, url = server.http): Promise<Page> {
  context ??= await browser.createBrowserContext();
  const page = await context.newPage();
  if (dark) await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  await page.setViewport({ width, height, deviceScaleFactor: 1 });
  page.on('console', (m) => {
    log(`[${name}] ${m.type()}: ${m.text()}`);
    if (m.type() === 'error') problems.push(`[${name}] console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`[${name}] page error: ${(e as Error).message ?? String(e)}`));
  page.on('requestfailed', (r) => problems.push(`[${name}] request failed: ${r.url()}`));
  await page.goto(url, { timeout: 20_000 });
  return page;
}

const nodeId = (page: Page) => page.$eval('#node-id', (el) => el.textContent ?? '');

/** The graph as drawn: node ids and undirected edges "a|b" (a < b). */
async function drawnGraph(page: Page): Promise<{ nodes: string[]; edges: string[] }> {
  return page.evaluate(() => ({
    nodes: [...document.querySelectorAll('#graph .node')].map((n) => n.getAttribute('data-id') ?? ''),
    edges: [...document.querySelectorAll('#graph .edge')].map((e) => `${e.getAttribute('data-a')}|${e.getAttribute('data-b')}`),
  }));
}

const edgeKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

/**
 * Resolves once the page draws frames again and the graph's nodes then stay where they are for
 * three looks 150 ms apart, or after `atMostMs`; with the time it took.
 */
async function layoutSettled(page: Page, atMostMs: number): Promise<number> {
  const t0 = Date.now();
  const end = t0 + atMostMs;
  // A page brought to the front draws again (the layout moves on each frame) only from its next frame.
  const frame = page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(true)))).catch(() => undefined);
  await Promise.race([frame, new Promise((r) => setTimeout(r, atMostMs))]);
  const where = () => page.evaluate(() => [...document.querySelectorAll('#graph .node')].map((n) => n.getAttribute('transform')).join(' '));
  let last = await where();
  for (let still = 0; still < 3 && Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 150));
    const now = await where();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return Date.now() - t0;
}

test('three browsers on the demo page: ids, a multi-hop graph, chat', { timeout: 90_000 }, () =>
  withLogs(async () => {
    const pages = [
      await openDemo('desktop', 1280, 800),
      await openDemo('phone', 375, 812),
      await openDemo('tablet', 900, 900, undefined, true),
    ];
    const ids: string[] = [];
    for (const [i, page] of pages.entries()) {
      ids.push(await waitFor(`page ${i} shows its node id`, async () => {
        const id = await nodeId(page);
        return /^[0-9a-f]{64}$/.test(id) ? id : undefined;
      }, 20_000));
    }
    assert.equal(new Set(ids).size, 3, 'three contexts, three nodes');

    // A second tab of the first browser shares its node, and both tabs say so.
    const twin = await openDemo('desktop/tab2', 1280, 800, pages[0]!.browserContext());
    await waitFor('the second tab shows the same node id', async () => (await nodeId(twin)) === ids[0], 20_000);
    for (const page of [pages[0]!, twin]) {
      await waitFor('"2 tabs" in both tabs', () => page.$eval('#self-tabs', (el) => el.textContent === '2 tabs'), 5_000);
    }

    // Every page draws all three browsers and every link among them: its own links directly,
    // the other two's link to each other from their published summaries.
    const wanted = [edgeKey(ids[0]!, ids[1]!), edgeKey(ids[0]!, ids[2]!), edgeKey(ids[1]!, ids[2]!)];
    for (const [i, page] of pages.entries()) {
      const g = await waitFor(`page ${i}'s graph shows the three browsers and their three links`, async () => {
        const d = await drawnGraph(page);
        return ids.every((id) => d.nodes.includes(id)) && wanted.every((e) => d.edges.includes(e)) ? d : undefined;
      }, 40_000, 250);
      assert.ok(g.nodes.includes(server.id), `page ${i}'s graph shows the server too`);
    }

    const text = `hello from ${ids[0]!.slice(0, 8)}`;
    await pages[0]!.type('#chat-input', text);
    await pages[0]!.keyboard.press('Enter');
    for (const [i, page] of [pages[1]!, pages[2]!, twin].entries()) {
      await waitFor(`the chat message in reader ${i}`, () =>
        page.$$eval('#chat-log li p', (ps, t) => ps.some((p) => p.textContent === t), text), 10_000, 100);
    }
    assert.equal(await pages[0]!.$$eval('#chat-log li p', (ps, t) => ps.filter((p) => p.textContent === t).length, text), 1, 'the sender shows its message once');
    await pages[1]!.type('#chat-input', 'and hello back from the phone');
    await pages[1]!.keyboard.press('Enter');
    await waitFor('the reply in page 0', () =>
      pages[0]!.$$eval('#chat-log li p', (ps) => ps.some((p) => p.textContent === 'and hello back from the phone')), 10_000, 100);

    // A ping from the graph, with the keyboard: focus page 0's node for page 2 and press Enter.
    await pages[0]!.$eval(`#graph .node[data-id="${ids[2]}"]`, (el) => (el as SVGGElement).focus());
    await pages[0]!.keyboard.press('Enter');
    const ping = await waitFor('a ping result in page 0', () =>
      pages[0]!.$eval('#ping-results li', (li) => (li.className === 'pending' ? undefined : `${li.className}: ${li.textContent}`)), 10_000, 100);
    assert.match(ping, /^ok: .* round trip$/);

    // A hidden page gets no animation frames, so its layout waits: show each page, let the
    // layout settle (no node moved for three looks 150 ms apart, or 2.5 s at most, the fixed
    // wait this replaced: a layout still moving then is pictured as it is), then take its picture.
    mkdirSync(RESULTS, { recursive: true });
    for (const [page, file] of [[pages[0]!, 'demo-desktop.png'], [pages[1]!, 'demo-375.png'], [pages[2]!, 'demo-900-dark.png']] as const) {
      await page.bringToFront();
      console.log(`# ${file}: layout settled in ${await layoutSettled(page, 2_500)} ms`);
      await page.screenshot({ path: `${RESULTS}/${file}`, fullPage: true });
    }
    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
  }));

test('the demo opened on a second site through the hub chats with the hub origin\'s demo', { timeout: 60_000 }, () =>
  withLogs(async () => {
    const second = await startServer({ static: DEMO }); // serves the demo only; the mesh is the hub's
    try {
      const hubUrl = `${server.http}meshwork/hub.html`;
      const viaHub = await openDemo('via-hub', 1000, 800, undefined, false, `http://localhost:${new URL(second.http).port}/?hub=${encodeURIComponent(hubUrl)}`);
      const direct = await openDemo('direct', 1000, 800);
      const hubId = await waitFor('the hub page shows its node id', async () => /^[0-9a-f]{64}$/.test(await nodeId(viaHub)) && nodeId(viaHub), 20_000);
      await waitFor('it says where its node runs', () => viaHub.$eval('#self-host', (el) => /through its hub \(one node per site\)/.test(el.textContent ?? '')), 5_000);
      assert.notEqual(hubId, await nodeId(direct));
      // Chat is pub/sub, best effort: a message sent while the two nodes are still joining can
      // meet a subscription that is moving between rendezvous. Send once the reader's graph
      // shows the sender's node, as a user would see before chatting (CI failed once without it).
      await waitFor('the hub page in the direct page\'s graph', () => direct.$(`#graph .node[data-id="${hubId}"]`), 30_000, 250);
      const text = `hello through the hub ${hubId.slice(0, 8)}`;
      await viaHub.type('#chat-input', text);
      await viaHub.keyboard.press('Enter');
      await waitFor('the message in the direct page', () => direct.$$eval('#chat-log li p', (ps, t) => ps.some((p) => p.textContent === t), text), 15_000, 100);
      assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
    } finally {
      await second.stop();
    }
  }));

test('the plain status page (startNode without static, serve --no-demo) shows its icon and logs no error', { timeout: 30_000 }, () =>
  withLogs(async () => {
    const plain = await startServer({ static: undefined });
    const context = await browser.createBrowserContext();
    try {
      const before = problems.length;
      const page = await openDemo('status-page', 1000, 700, context, false, plain.http);
      const icon = page.waitForResponse((r) => r.url().endsWith('/meshwork/favicon.svg'), { timeout: 10_000 });
      await page.reload();
      assert.equal((await icon).status(), 200, 'the icon the page links');
      await waitFor('the status summary', () => page.$eval('#summary', (el) => /^node [0-9a-f]{64}/.test(el.textContent ?? '')), 10_000);
      assert.deepEqual(problems.slice(before), [], 'no console errors (a favicon 404 would be one), page errors or failed requests');
    } finally {
      // The page polls the status every 2 s: close it before its server goes, or its refused
      // fetches would be console errors counted against the tests that follow.
      await context.close();
      await plain.stop();
    }
  }));

test('a file dropped on a node in the graph arrives with progress on both sides and its hash checked', { timeout: 90_000 }, () =>
  withLogs(async () => {
    const sender = await openDemo('file-sender', 1280, 900);
    const receiver = await openDemo('file-receiver', 1280, 900);
    const to = await waitFor('the receiver shows its node id', async () => /^[0-9a-f]{64}$/.test(await nodeId(receiver)) && nodeId(receiver), 20_000);
    // Pick the receiver in the sender's graph: that fills the file's destination. The graph draws
    // itself again as links come up, and a node drawn again loses the focus (a soak run at 17:58
    // pressed Enter on nothing), so the pick is made again until the destination shows it.
    const target = () => sender.$eval('#file-target', (el) => (el as HTMLInputElement).value);
    await waitFor('the pick filled the destination', async () => {
      const focused = await sender.$eval(`#graph .node[data-id="${to}"]`, (el) => ((el as SVGGElement).focus(), true)).catch(() => false);
      if (!focused) return false;
      await sender.keyboard.press('Enter');
      return (await target()) === to;
    }, 30_000, 250);
    assert.equal(await target(), to, 'the pick filled the destination');
    const dir = mkdtempSync(join(tmpdir(), 'meshwork-demo-file-'));
    try {
      const path = join(dir, 'photo.bin');
      writeFileSync(path, randomBytes(3 * 1024 * 1024 + 17));
      const input = await sender.$('#file-input');
      await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(path);
      // The panel may be laid out again as the graph redraws: a click that finds no box to press
      // (puppeteer: "not clickable", CI at 23:49) presses nothing, so it is tried again until one lands.
      await waitFor('the send button pressed', () => sender.click('#file-send').then(() => true, () => false), 20_000, 100);
      const done = (page: Page) => page.$eval('#file-transfers li', (li) => (li.className === 'pending' ? undefined : `${li.className}: ${li.textContent}`));
      const got = await waitFor('the receiver checked the hash', () => done(receiver), 60_000, 100);
      assert.match(got, /^ok: photo\.bin from .*hash checked/);
      const sent = await waitFor('the sender heard the hash back', () => done(sender), 20_000, 100);
      assert.match(sent, /^ok: .*delivered; hash checked by the receiver/);
      assert.equal(await receiver.$eval('#file-transfers li progress', (p) => (p as HTMLProgressElement).value), 1, 'a full progress bar');
      assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }));
