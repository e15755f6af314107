// Stream throughput from a second tab of an app (docs/DATA-PLANE.md, "Streams from a tab without
// the link"): the relay path (the tab runs the stream itself and posts its segments to the host
// tab over their channel: one MessagePort leg each way) against the node's path (a tab with
// `fastPath: false` in the same browser: tab -> worker -> host tab -> DataChannel, two legs each
// way), in the same run, rounds alternated. Not part of the product or the tests: run it by hand,
//   node --import tsx scripts/probes/relay-streams.ts [chromium|firefox] [rounds] [MiB]
// Browser A: tab A1 hosts the WebRTC link to B (booted first, alone), A2 holds a relay grant,
// A3 goes through the node. B: one tab, reading with no timer (T.streamServe). Throughput is the
// writer's time from open to its close() acknowledged by B (T.streamSend `ms`).
import type { Engine } from '../../test/browser/harness.js';
import { bootTab, buildBundles, ensureBrowsers, launch, startServer, waitFor, waitForRtcLinks } from '../../test/browser/harness.js';

const engine = (process.argv[2] ?? 'chromium') as Engine;
const rounds = Number(process.argv[3] ?? 3);
const total = Number(process.argv[4] ?? 8) * 1024 * 1024;

ensureBrowsers([engine]);
buildBundles();
const browser = await launch(engine);
const server = await startServer();
try {
  const ctxA = await browser.createBrowserContext();
  const ctxB = await browser.createBrowserContext();
  const a1 = await bootTab(ctxA, server.http, 'probe:A1', { bootstrap: [server.url] });
  const b = await bootTab(ctxB, server.http, 'probe:B', { bootstrap: [server.url] });
  await waitForRtcLinks(a1.page, [b.id], 'A linked to B over webrtc');
  await b.page.evaluate(() => (window as any).T.streamServe(20));
  const a2 = await bootTab(ctxA, server.http, 'probe:A2', { bootstrap: [server.url] });
  const a3 = await bootTab(ctxA, server.http, 'probe:A3', { bootstrap: [server.url], fastPath: false });
  const fastOf = (p: typeof a2.page) => p.evaluate(() => (window as any).mesh.status().then((s: any) => s.fastPath));
  await waitFor('A2 holds a relay grant', async () => (await fastOf(a2.page)).bound === 1, 30_000);
  const paths = { relay: a2.page, node: a3.page };
  const mbps: Record<string, number[]> = { relay: [], node: [] };
  for (let r = 0; r <= rounds; r++) {
    const order = (r % 2 === 0 ? ['relay', 'node'] : ['node', 'relay']) as (keyof typeof paths)[];
    for (const name of order) {
      const out = await paths[name].evaluate((to, n, seed) => (window as any).T.streamSend(to, 20, n, 256 * 1024, seed), b.id, total, r + 1);
      if (out.error) throw new Error(`${name}: ${out.error} ${out.message}`);
      const v = total / 1e6 / (out.ms / 1000);
      if (r > 0) mbps[name]!.push(v); // round 0 warms up, not counted
      console.log(`round ${r}${r === 0 ? ' (warm-up)' : ''} ${name}: ${v.toFixed(2)} MB/s (${Math.round(out.ms)} ms)`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const s2 = await fastOf(a2.page);
  const nodeStreams = await a2.page.evaluate(() => (window as any).mesh.status().then((s: any) => s.streams));
  console.log(JSON.stringify({ engine, MiB: total / 1024 / 1024, rounds, relayMBps: mbps.relay, nodeMBps: mbps.node, relayMedian: median(mbps.relay), nodeMedian: median(mbps.node), ratio: median(mbps.relay) / median(mbps.node), a2: { streamsOpened: s2.streamsOpened, viaTabStreamOut: s2.viaTabStreamOut, viaTabStreamIn: s2.viaTabStreamIn }, workerStreams: nodeStreams }));
} finally {
  await browser.close();
  await server.stop();
}
