/**
 * The network lab with home 2 behind a symmetric NAT (MASQUERADE --random-fully), where STUN
 * cannot open a direct path. Without TURN, requests between the homes are all answered through
 * the mesh and a failed direct dial is paused before the next (counted in status); with the
 * server handing out coturn credentials over the mesh, the browsers link through TURN.
 */
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import { Lab, labUnavailable } from './netns.js';
import { bootPage, browserIn, labSuite, ORIGIN, requests, rtcLink, startCoturn, startServer, statusOf, TURN_SECRET, TURN_URL, waitFor } from './scenario.js';

type Booted = Awaited<ReturnType<typeof bootPage>>;
const skip = labUnavailable();

describe('lab: a cone home and a symmetric home', { skip, timeout: 400_000 }, () => {
  const lab = new Lab(['cone', 'symmetric']);
  const { log, browsers, step } = labSuite(lab);

  before(async () => {
    await lab.up();
    await startCoturn(lab, log);
    await startServer(lab, ['--ice-server', TURN_URL, '--turn-secret', TURN_SECRET], log);
    browsers.push(browserIn(lab, 1, 'chromium'), browserIn(lab, 2, 'chromium'));
  });

  step('without TURN every request is answered through the mesh, and a failed dial is paused, not retried', async () => {
    // The page's own ICE config (STUN only) wins over the server's: these two nodes have no TURN.
    const rtc = { iceServers: [{ urls: `stun:${new URL(ORIGIN).hostname}:8080` }] };
    const [a, b] = (await Promise.all(browsers.map((x) => bootPage(x, { rtc })))) as [Booted, Booted];
    const started = Date.now();
    // Requests every 500 ms for 25 s, while the direct dial times out (15 s) and its node pauses
    // the next one (dial-backoff.ts: 10 s, doubling): the state that proves the back-off.
    const running = requests(a.page, b.id, 50, 500, 5_000);
    const [pa, pb] = await waitFor('a failed direct dial, and its node backing off from the peer', async () => {
      const both = await Promise.all([statusOf(a.page), statusOf(b.page)]);
      return both.some((s) => s.rtcDials.failed >= 1 && s.rtcDials.backingOff >= 1) ? both : undefined;
    }, 45_000);
    const r = await running;
    assert.equal(r.ok, 50, r.errors.join('; '));
    const [sa, sb] = await Promise.all([statusOf(a.page), statusOf(b.page)]);
    assert.ok(!sa.links.some((l) => l.id === b.id), 'no direct link could open');
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    console.log(`# lab: no TURN: ${sa.rtcDials.failed} + ${sb.rtcDials.failed} failed dials in ${secs} s; backing off at the first failure: ${pa.rtcDials.backingOff}, ${pb.rtcDials.backingOff}; now ${sa.rtcDials.backingOff}, ${sb.rtcDials.backingOff}`);
    // One dial each at most in the window: a second would need the 15 s timeout again after the pause.
    assert.ok(sa.rtcDials.failed <= 1 && sb.rtcDials.failed <= 1, `no dial retried at once: ${sa.rtcDials.failed}, ${sb.rtcDials.failed} failed`);
    await Promise.all([a.page.close(), b.page.close()]);
  });

  step('with TURN from the server, the homes link through the relay and requests use it', async () => {
    const [a, b] = (await Promise.all(browsers.map((x) => bootPage(x)))) as [Booted, Booted];
    const link = await rtcLink(a.page, b.id, 90_000);
    assert.equal(link.via, 'turn');
    const s = await statusOf(a.page);
    const turn = s.ice.servers.find((e) => e.urls.includes(TURN_URL));
    assert.ok(turn?.username?.endsWith(`:${a.id}`), `TURN credentials for this node: ${JSON.stringify(s.ice)}`);
    const r = await requests(a.page, b.id, 10, 50, 5_000);
    assert.equal(r.ok, 10, r.errors.join('; '));
    await waitFor('the link still through TURN', async () => (await rtcLink(b.page, a.id, 10_000)).via === 'turn', 20_000);
  });
});
