/**
 * Proof-of-work identities made by the browser node: against a server that asks `powBits` of
 * every key, a fresh browser makes an identity with that much work in its worker, reports its
 * progress to the page (`onWork`, then `status().work`), and links; the page's own timers keep
 * running meanwhile, which shows the work does not hold the tab's thread.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildBundles, ENGINES, ensureBrowsers, launch, openTab, startServer, status, waitFor, withLogs } from './harness.js';
import type { Browser } from 'puppeteer-core';
import type { ServerNode } from '../../src/server/index.js';

ensureBrowsers();
buildBundles();

const BITS = 10; // about 1 000 keys: long enough to watch, short enough for a test

interface Outcome {
  id: string;
  host: string;
  events: { tried: number; expected: number; done: boolean; at: number }[];
  ticks: number[];
  started: number;
}

for (const engine of ENGINES) {
  describe(`proof-of-work identities on ${engine}`, () => {
    let browser: Browser;
    let server: ServerNode & { http: string };
    before(async () => {
      browser = await launch(engine);
      server = await startServer({ powBits: BITS });
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    test(`a fresh node makes a ${BITS}-bit identity in its worker, shows progress, and links`, { timeout: 90_000 }, () =>
      withLogs(async () => {
        const page = await openTab(await browser.createBrowserContext(), server.http, `${engine}:pow`);
        // A string, not a function: the test runner's transform would name the inner functions
        // with a helper (__name) that does not exist in the page.
        const out = (await page.evaluate(`(async () => {
          const { connect } = await import('/meshwork/client.js');
          const events = [];
          const ticks = [];
          const timer = setInterval(() => ticks.push(performance.now()), 10);
          const started = performance.now();
          const mesh = await connect({ powBits: ${BITS}, timeoutMs: 60000, onWork: (p) => events.push({ tried: p.tried, expected: p.expected, done: p.done, at: performance.now() }) });
          clearInterval(timer);
          window.mesh = mesh;
          return { id: mesh.id, host: mesh.host, events, ticks, started };
        })()`)) as Outcome;
        assert.equal(out.host, 'shared-worker');
        const last = out.events.at(-1);
        assert.ok(last?.done, `progress ends with done: ${JSON.stringify(out.events)}`);
        assert.equal(last.expected, 2 ** BITS);
        assert.ok(last.tried >= 1);
        assert.ok(out.events.every((e, i) => i === 0 || e.tried >= out.events[i - 1]!.tried), 'the count only grows');
        // The page's timers ran while the worker was still trying keys.
        assert.ok(out.ticks.some((t) => t > out.started && t < last.at), `the tab ticked during the work (${out.ticks.length} ticks, work done after ${Math.round(last.at - out.started)} ms)`);
        // The server asks BITS of every key: a link proves the identity carries the work.
        const s = await waitFor('a link to the server', async () => {
          const st = await status(page);
          return st.links.some((l) => l.id === server.id) ? st : undefined;
        });
        const work = s.work;
        assert.equal(work?.bits, BITS);
        assert.equal(work?.done, true);
        console.log(`# ${engine}: ${BITS}-bit identity after ${work?.tried} keys in ${work?.ms} ms; ${out.events.length} progress events`);
        assert.ok((server.status().counters.dropped['handshake:INSUFFICIENT_WORK'] ?? 0) === 0, 'no key was refused for lack of work');
      }));
  });
}
