/**
 * What the data plane's browser tests (fast-path.test.ts, tab-relay.test.ts) do in a page of
 * fixtures/app.html: read its counters, send and request on the fixture's ports (1: echo
 * requests, 5: datagrams into its inbox), and probe until the data plane has settled the way a
 * test needs before it counts.
 */
import assert from 'node:assert/strict';
import type { Page } from 'puppeteer-core';
import type { FastPathStatus } from '../../src/browser/protocol.js';
import { waitFor } from './harness.js';

/** The tab's data plane counters (status().fastPath). */
export const fastOf = (page: Page): Promise<FastPathStatus> => page.evaluate(() => (window as any).mesh.status().then((s: any) => s.fastPath));
export const request = (page: Page, to: string, data: string): Promise<unknown> => page.evaluate((t, d) => (window as any).mesh.request(t, d, { port: 1, timeoutMs: 10_000 }), to, data);
export const send = (page: Page, to: string, data: string): Promise<void> => page.evaluate((t, d) => (window as any).mesh.send(t, d, { port: 5 }), to, data);
/** The datagrams the page got on port 5 from `from` that start with `prefix`, in order. */
export const inbox = (page: Page, from: string, prefix: string): Promise<string[]> =>
  page.evaluate((f, p) => (window as any).T.inbox.filter((m: any) => m.from === f && m.port === 5 && String(m.data).startsWith(p)).map((m: any) => m.data), from, prefix);

/**
 * Probes until one shows what the test waits for: `probe(i)` sends probe `i` (0, 1, ...) and
 * tells whether it went that way. The grants and the lists of listening and handling tabs reach
 * the tabs a moment after the event that changes them, so a test probes rather than sleeps.
 * Resolves with the number of probes sent; fails after `timeoutMs` (waitFor).
 */
export async function probeUntil(what: string, probe: (i: number) => Promise<boolean>, timeoutMs = 20_000): Promise<number> {
  let probes = 0;
  await waitFor(what, () => probe(probes++), timeoutMs);
  return probes;
}

/** Echo requests from `page` to `to` until one makes `counter` (read where it must move) grow. */
export function probeRequests(what: string, page: Page, to: string, prefix: string, counter: () => Promise<number>): Promise<number> {
  return probeUntil(what, async (i) => {
    const before = await counter();
    assert.equal(await request(page, to, `${prefix}${i}`), `echo:${prefix}${i}`);
    return (await counter()) > before;
  });
}

/** Datagrams `probe<i>` from `page` to `to` until one reaches `listener` (from `from`) with `counter` grown over it. */
export function probeDatagrams(what: string, page: Page, to: string, listener: Page, from: string, counter: () => Promise<number>): Promise<number> {
  return probeUntil(what, async (i) => {
    const before = await counter();
    await send(page, to, `probe${i}`);
    await waitFor('the probe', async () => (await inbox(listener, from, 'probe')).length === i + 1, 5_000, 50);
    return (await counter()) > before;
  });
}
