/**
 * The `lab` part: figures through real NAT routers, in the network lab of test/lab (two homes
 * behind cone routers, `meshwork serve` in a third namespace; needs root). Two Chromium nodes,
 * one per home, nothing configured in the pages:
 * - time to a direct WebRTC link: from the start of both nodes' boot until one reports a
 *   `via: 'direct'` link to the other; against a raw RTCPeerConnection pair in the same two
 *   pages with the same STUN (the server's), signalled by the bench itself in one round trip:
 *   the floor for opening a DataChannel through these routers;
 * - recovery: home 1's uplink down 10 s; time from its return to the first answered request.
 * Not measured here: the PeerJS comparison through the lab, and figures at 40 ms RTT (this
 * machine's kernel has no sch_netem). Without root the part is skipped with the reason.
 */
import { Lab, labUnavailable, SERVER_IP } from '../test/lab/netns.js';
import type { RemotePage } from '../test/lab/remote-browser.js';
import { bootPage, browserIn, HTTP_PORT, requests, startServer, statusOf, waitFor } from '../test/lab/scenario.js';
import { percentile, ratio, round } from './lib.js';
import type { BenchContext } from './run.js';

export async function labFigures(c: BenchContext): Promise<Record<string, unknown>> {
  const why = labUnavailable();
  if (why) {
    console.log(`# lab: skipped: ${why}`);
    return { skipped: why };
  }
  const trials = c.quick ? 1 : 3;
  const lab = new Lab(['cone', 'cone']);
  const browsers = [] as ReturnType<typeof browserIn>[];
  try {
    await lab.up();
    await startServer(lab, [], c.log);
    browsers.push(browserIn(lab, 1, 'chromium'), browserIn(lab, 2, 'chromium'));
    const mesh: number[] = [];
    const raw: number[] = [];
    let recoveryMs: number | null = null;
    for (let i = 0; i < trials; i++) {
      const t0 = Date.now();
      const [a, b] = (await Promise.all(browsers.map((x) => bootPage(x)))) as [Awaited<ReturnType<typeof bootPage>>, Awaited<ReturnType<typeof bootPage>>];
      // Time to boot both, then until the direct link: the page load itself is not counted.
      const booted = Date.now();
      await waitFor('a direct link', async () => (await statusOf(a.page)).links.some((l) => l.id === b.id && l.via === 'direct'), 90_000, 50);
      mesh.push(Date.now() - booted);
      c.log.push(`trial ${i}: boot ${booted - t0} ms, direct link ${Date.now() - booted} ms after`);
      raw.push(await rawOpenMs(a.page, b.page));
      if (i === trials - 1) {
        await lab.uplink(1, false);
        const downAt = Date.now();
        await waitFor('10 s of outage', async () => Date.now() - downAt >= 10_000, 11_000, 250);
        await lab.uplink(1, true);
        const upAt = Date.now();
        recoveryMs = await waitFor('an answer after the uplink returned', async () => ((await requests(a.page, b.id, 1, 0, 1_500)).ok === 1 ? Date.now() - upAt : undefined), 30_000, 50);
      }
      await Promise.all([a.page.close(), b.page.close()]);
    }
    const med = (xs: number[]) => percentile(xs, 0.5);
    return {
      trials,
      meshDirectLinkMs: round(med(mesh), 0),
      meshDirectLinkTrialsMs: mesh,
      rawDcOpenMs: round(med(raw), 0),
      rawDcOpenTrialsMs: raw,
      directLinkVsRaw: ratio(med(mesh), med(raw)),
      outageRecoveryMs: recoveryMs,
      notMeasured: 'PeerJS through the lab; RTT and warm/cold at 40 ms (no sch_netem in this kernel)',
    };
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    await lab.down();
  }
}

/** A raw RTCPeerConnection pair between the two pages, with the server's STUN: ms until both channels are open. */
async function rawOpenMs(a: RemotePage, b: RemotePage): Promise<number> {
  const ice = [{ urls: `stun:${SERVER_IP}:${HTTP_PORT}` }];
  // As text: the bundler's name-keeping helpers must not end up inside the page's code.
  const setup = (init: boolean) => `(() => {
    const pc = new RTCPeerConnection({ iceServers: ${JSON.stringify(ice)} });
    window.rawPc = pc;
    window.rawT0 = performance.now();
    window.rawOpen = new Promise((resolve) => {
      const on = (ch) => { ch.onopen = () => resolve(performance.now() - window.rawT0); };
      if (${init}) on(pc.createDataChannel('raw')); else pc.ondatachannel = (e) => on(e.channel);
    });
    window.rawGathered = () => new Promise((r) => {
      if (pc.iceGatheringState === 'complete') r();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
      setTimeout(r, 3000);
    });
    return true;
  })()`;
  await a.evalText(setup(true));
  await b.evalText(setup(false));
  const offer = await a.eval(async () => {
    const w = window as any;
    await w.rawPc.setLocalDescription();
    await w.rawGathered();
    return w.rawPc.localDescription.sdp as string;
  });
  const answer = await b.eval(async (sdp: string) => {
    const w = window as any;
    await w.rawPc.setRemoteDescription({ type: 'offer', sdp });
    await w.rawPc.setLocalDescription();
    await w.rawGathered();
    return w.rawPc.localDescription.sdp as string;
  }, offer);
  await a.eval(async (sdp: string) => (window as any).rawPc.setRemoteDescription({ type: 'answer', sdp }), answer);
  const ms = await a.eval(() => Promise.race([(window as any).rawOpen, new Promise<number>((r) => setTimeout(() => r(-1), 15_000))]));
  await Promise.all([a.eval(() => (window as any).rawPc.close()), b.eval(() => (window as any).rawPc.close())]);
  if (ms < 0) throw new Error('the raw DataChannel did not open in 15 s');
  return Math.round(ms);
}
