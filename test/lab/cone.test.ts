/**
 * The network lab, two homes behind endpoint-independent ("cone") NAT routers, the server in
 * a third namespace; nothing configured in the pages. Proves: the browsers link directly
 * (STUN from `meshwork serve`), Chromium to Chromium and Chromium to Firefox; traffic resumes
 * after a home's uplink is down for 10 s; requests and reliable sends all complete at 40 ms
 * RTT and 1 % loss per WAN (netem, or the lab's delay line where the kernel has none), and a
 * stream arrives whole under that. Skipped, with the reason, where the lab cannot run (not root).
 */
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import { Lab, labUnavailable } from './netns.js';
import type { RemotePage } from './remote-browser.js';
import { bootPage, browserIn, labSuite, requests, rtcLink, startServer, statusOf, waitFor } from './scenario.js';

const skip = labUnavailable();

describe('lab: two homes behind cone NATs', { skip, timeout: 400_000 }, () => {
  const lab = new Lab(['cone', 'cone'], { shapeable: true });
  const { log, browsers, step } = labSuite(lab);
  let c1: { page: RemotePage; id: string };
  let c2: { page: RemotePage; id: string };
  let f2: { page: RemotePage; id: string };
  let delayed = false; // the WANs carry the added delay (from the 40 ms step on)

  before(async () => {
    await lab.up();
    await startServer(lab, [], log);
    const b = [browserIn(lab, 1, 'chromium'), browserIn(lab, 2, 'chromium'), browserIn(lab, 2, 'firefox')];
    browsers.push(...b);
    [c1, c2, f2] = (await Promise.all(b.map((x) => bootPage(x)))) as [typeof c1, typeof c1, typeof c1];
  });

  step('Chromium links to Chromium in the other home directly, with STUN from the server', async () => {
    const link = await rtcLink(c1.page, c2.id, 60_000);
    assert.equal(link.via, 'direct');
    const s = await statusOf(c1.page);
    assert.ok(s.ice.servers.some((e) => e.urls.includes('stun:198.51.100.10:8080')), `STUN from the server: ${JSON.stringify(s.ice)}`);
    const r = await requests(c1.page, c2.id, 5, 50, 5_000);
    assert.equal(r.ok, 5, r.errors.join('; '));
  });

  step('Chromium links to Firefox in the other home directly', async () => {
    const link = await rtcLink(c1.page, f2.id, 60_000);
    assert.equal(link.via, 'direct');
    const back = await rtcLink(f2.page, c1.id, 30_000);
    assert.equal(back.via, 'direct');
    const r = await requests(f2.page, c1.id, 5, 50, 5_000);
    assert.equal(r.ok, 5, r.errors.join('; '));
  });

  step('after home 1 is offline for 10 s, requests between the homes are answered within 10 s of its return', async () => {
    await lab.uplink(1, false);
    const downAt = Date.now();
    await waitFor('10 s of outage', async () => Date.now() - downAt >= 10_000, 11_000, 250);
    await lab.uplink(1, true);
    const upAt = Date.now();
    const back = await waitFor(
      'a request answered after the uplink returned',
      async () => {
        const r = await requests(c1.page, c2.id, 1, 0, 1_500);
        return r.ok === 1 ? Date.now() : undefined;
      },
      20_000,
      100,
    );
    console.log(`# lab: traffic resumed ${back - upAt} ms after the uplink returned`);
    assert.ok(back - upAt <= 10_000, `resumed after ${back - upAt} ms`);
  });

  step('at 40 ms RTT and 1 % loss on each WAN, requests and reliable sends all complete', async () => {
    const { delay } = await lab.shape(20, 1);
    delayed = delay;
    if (!delay) console.log(`# lab: no added delay (${lab.noDelayReason ?? 'no sch_netem'}): 1 % loss per WAN applied with iptables`);
    const r = await requests(c1.page, c2.id, 40, 25, 8_000);
    assert.equal(r.ok, 40, r.errors.join('; '));
    const sent = await c1.page.eval(async (to) => {
      const mesh = (window as any).mesh;
      const all = Array.from({ length: 20 }, (_, i) => mesh.send(to, `rel${i}`, { port: 7, reliable: true, deadlineMs: 20_000 }).then(() => 1, () => 0));
      return (await Promise.all(all)).reduce((a: number, b: number) => a + b, 0);
    }, c2.id);
    assert.equal(sent, 20, 'every reliable send acknowledged');
    const got = await c2.page.eval(() => (window as any).T.inbox.filter((m: any) => String(m.data).startsWith('rel')).length);
    assert.equal(got, 20, 'each delivered once');
    const sorted = [...r.ms].sort((a, b) => a - b);
    console.log(`# lab: request RTT${delay ? ' at 40 ms per WAN' : ' (no added delay)'}: p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms`);
  });

  step('at 1 % loss on each WAN, a stream of megabytes from one home to the other arrives whole and in order', async () => {
    // The WAN shaping of the step before is still on. With the delay too (80 ms RTT, about 2 %
    // loss each way end to end), loss-driven congestion control in SCTP and in the stream
    // allows about 100 KB/s (a 4 MB stream took 49 s), so the delayed lab sends 1 MB.
    const size = delayed ? 1 << 20 : 4 << 20;
    await c2.page.eval((port) => (window as any).T.streamServe(port), 31);
    const sent = await c1.page.eval((to, size) => (window as any).T.streamSend(to, 31, size, 64 * 1024, 7), c2.id, size);
    const got = await waitFor('the stream read to its end in the other home', async () => (await c2.page.eval(() => (window as any).T.stream.results))[0], 60_000, 250);
    assert.equal(got.error, undefined, `${got.error}: ${got.message}`);
    assert.equal(got.bytes, size);
    assert.equal(got.sha256, sent.sha256, 'SHA-256 equal at both ends');
    console.log(`# lab: ${size >> 20} MB stream at 1 % loss per WAN${delayed ? ', 40 ms RTT per WAN' : ''}: written in ${Math.round(sent.ms)} ms`);
  });
});
