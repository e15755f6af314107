// Stream throughput from a second tab of an app (docs/DATA-PLANE.md, "Streams from a tab without
// the link"): the relay path (the tab runs the stream itself and posts its segments to the host
// tab over their channel: one MessagePort leg each way) against the node's path (a tab with
// `fastPath: false` in the same browser: tab -> worker -> host tab -> DataChannel, two legs each
// way), in the same run, rounds alternated. Not part of the product or the tests: run it by hand,
//   node --import tsx scripts/probes/relay-streams.ts [chromium|firefox] [rounds] [MiB] [out|in]
// Browser A: tab A1 hosts the WebRTC link to B (booted first, alone), A2 holds a relay grant,
// A3 goes through the node. B: one tab. `out` (the default): A2 and A3 stream to B, which reads
// with no timer (T.streamServe). `in`: B streams to A's app, port 20 taken by A2 (A1 hands it
// the stream: relay path) and port 21 by A3 (the node hands it the stream: node path), each
// reading with no timer. Throughput is the writer's time from open to its close()
// acknowledged by the reader (T.streamSend `ms`).
import type { Engine } from '../../test/browser/harness.js';
import { bootTab, buildBundles, ensureBrowsers, launch, startServer, waitFor, waitForRtcLinks } from '../../test/browser/harness.js';

const engine = (process.argv[2] ?? 'chromium') as Engine;
const rounds = Number(process.argv[3] ?? 3);
const total = Number(process.argv[4] ?? 8) * 1024 * 1024;
const inbound = process.argv[5] === 'in';

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
  if (!inbound) await b.page.evaluate(() => (window as any).T.streamServe(20));
  const a2 = await bootTab(ctxA, server.http, 'probe:A2', { bootstrap: [server.url] });
  const a3 = await bootTab(ctxA, server.http, 'probe:A3', { bootstrap: [server.url], fastPath: false });
  const fastOf = (p: typeof a2.page) => p.evaluate(() => (window as any).mesh.status().then((s: any) => s.fastPath));
  await waitFor('A2 holds a relay grant', async () => (await fastOf(a2.page)).bound === 1, 30_000);
  if (inbound) {
    await a2.page.evaluate(() => (window as any).T.streamServe(20));
    await a3.page.evaluate(() => (window as any).T.streamServe(21));
  }
  const paths = { relay: a2.page, node: a3.page };
  const send = (name: keyof typeof paths, seed: number) =>
    inbound
      ? b.page.evaluate((to, port, n, sd) => (window as any).T.streamSend(to, port, n, 256 * 1024, sd), a1.id, name === 'relay' ? 20 : 21, total, seed)
      : paths[name].evaluate((to, n, sd) => (window as any).T.streamSend(to, 20, n, 256 * 1024, sd), b.id, total, seed);
  const mbps: Record<string, number[]> = { relay: [], node: [] };
  for (let r = 0; r <= rounds; r++) {
    const order = (r % 2 === 0 ? ['relay', 'node'] : ['node', 'relay']) as (keyof typeof paths)[];
    for (const name of order) {
      const out = await send(name, r + 1);
      if (out.error) throw new Error(`${name}: ${out.error} ${out.message}`);
      const v = total / 1e6 / (out.ms / 1000);
      if (r > 0) mbps[name]!.push(v); // round 0 warms up, not counted
      console.log(`round ${r}${r === 0 ? ' (warm-up)' : ''} ${name}: ${v.toFixed(2)} MB/s (${Math.round(out.ms)} ms)`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const s2 = await fastOf(a2.page);
  const s1 = await fastOf(a1.page);
  const nodeStreams = await a2.page.evaluate(() => (window as any).mesh.status().then((s: any) => s.streams));
  console.log(JSON.stringify({ engine, direction: inbound ? 'B -> A2 / A3' : 'A2 / A3 -> B', MiB: total / 1024 / 1024, rounds, relayMBps: mbps.relay, nodeMBps: mbps.node, relayMedian: median(mbps.relay), nodeMedian: median(mbps.node), ratio: median(mbps.relay) / median(mbps.node), a1: { relayedStreamOpens: s1.relayedStreamOpens, relayedStreamOpensToNode: s1.relayedStreamOpensToNode }, a2: { streamsOpened: s2.streamsOpened, streamsAccepted: s2.streamsAccepted, viaTabStreamOut: s2.viaTabStreamOut, viaTabStreamIn: s2.viaTabStreamIn }, workerStreams: nodeStreams }));
} finally {
  await browser.close();
  await server.stop();
}
