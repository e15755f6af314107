/**
 * Figure: stream throughput. One stream between two browsers (fresh Chromium contexts linked over
 * WebRTC through the mesh: tab -> worker -> DataChannel -> worker -> tab), against a raw
 * RTCDataChannel between two pages (16 KiB messages, bufferedAmount flow control) and against
 * PeerJS sending the same number of bytes over its DataConnection, all in the same run.
 * Throughput is counted at the receiver, to its last byte; the best of the rounds of each, in
 * rotated rounds after one uncounted round (below).
 */
import type { BenchContext } from './run.js';
import { errorText, medianRoundRatio, openPage, ratio, round, startPeerServer, waitFor } from './lib.js';

const CHUNK = 256 * 1024;

export async function streams(c: BenchContext): Promise<Record<string, unknown>> {
  const total = (c.quick ? 8 : 32) * 1024 * 1024;
  const rounds = c.quick ? 3 : 4;

  // Raw floor.
  const [ra, rb] = await Promise.all([0, 1].map(async () => openPage(await c.context(), `${c.pages.origin}/raw.html`, c.log)));
  const offer = await ra!.evaluate(() => (window as any).R.offer());
  const answer = await rb!.evaluate((o) => (window as any).R.answer(o), offer);
  await ra!.evaluate((a) => (window as any).R.accept(a), answer);

  // Mesh: two browsers joined through the server node, then linked over WebRTC.
  const [ma, mb] = await Promise.all([0, 1].map(async () => openPage(await c.context(), `${c.pages.origin}/mesh.html`, c.log)));
  const a = await ma!.evaluate((o) => (window as any).T.boot(o), { bootstrap: [c.meshUrl] });
  const b = await mb!.evaluate((o) => (window as any).T.boot(o), { bootstrap: [c.meshUrl] });
  await waitFor('a WebRTC link between the two mesh nodes', async () => {
    const s = await ma!.evaluate(() => (window as any).mesh.status());
    return s.links.some((l: any) => l.id === b.id && l.transport === 'webrtc');
  }, 30_000, 100);
  await mb!.evaluate(() => (window as any).T.streamServe(20));

  // PeerJS: its server from npm on a free local port, two pages.
  let peerjsError: string | undefined;
  let stopPeer: (() => void) | undefined;
  let pa: import('puppeteer-core').Page | undefined;
  let pb: import('puppeteer-core').Page | undefined;
  try {
    const server = await startPeerServer(c.pages);
    stopPeer = server.stop;
    const peerOptions = server.options;
    [pa, pb] = await Promise.all([0, 1].map(async () => openPage(await c.context(), `${c.pages.origin}/peerjs.html`, c.log)));
    await pa!.evaluate((o) => (window as any).P.boot(o), peerOptions);
    const pbId = (await pb!.evaluate((o) => (window as any).P.boot(o), peerOptions)).id as string;
    await pb!.evaluate(() => (window as any).P.listenBytes());
    (pa as any).peerTo = pbId;
  } catch (err) {
    peerjsError = `PeerJS could not start: ${errorText(err)}`;
  }

  const raw: number[] = [];
  const mesh: number[] = [];
  const peerjs: number[] = [];
  const rawSize = 16 * 1024;
  // Each path once per round, the order turned by one each round, after one whole round that is
  // not counted (as bench/latency.ts does for its throughput, and for the same reason: the first
  // full-size round of a path is its slow one, and with one fixed order the path that always went
  // first took the machine's slow stretches).
  const paths: ((into: boolean) => Promise<void>)[] = [
    async (into) => {
      const rxBefore = await rb!.evaluate(() => ({ ...(window as any).R.rx }));
      const rt = await ra!.evaluate((n, s) => (window as any).R.tput(n, s), Math.ceil(total / rawSize), rawSize);
      const rxAfter = await rb!.evaluate(() => ({ ...(window as any).R.rx }));
      if (into) raw.push(((rxAfter.bytes - rxBefore.bytes) / (rxAfter.last - rt.start)) * 1e-3);
    },
    async (into) => {
      const mBefore = await mb!.evaluate(() => ({ ...(window as any).T.streamRx }));
      const mt = await ma!.evaluate((to, n, ch) => (window as any).T.streamSend(to, 20, n, ch), b.id, total, CHUNK);
      await waitFor('the stream read to its end', () => mb!.evaluate((d) => (window as any).T.streamRx.done > d, mBefore.done), 60_000, 20);
      const mAfter = await mb!.evaluate(() => ({ ...(window as any).T.streamRx }));
      if (into) mesh.push(((mAfter.bytes - mBefore.bytes) / (mAfter.last - mt.start)) * 1e-3);
    },
    async (into) => {
      if (!pa || !pb || peerjsError) return;
      try {
        const pBefore = await pb.evaluate(() => ({ ...(window as any).P.rx }));
        const pt = await pa.evaluate((to, n, ch) => (window as any).P.sendFile(to, n, ch), (pa as any).peerTo, total, 64 * 1024);
        await waitFor('PeerJS delivered every byte', () => pb!.evaluate((want) => (window as any).P.rx.bytes >= want, pBefore.bytes + total), 120_000, 20);
        const pAfter = await pb.evaluate(() => ({ ...(window as any).P.rx }));
        if (into) peerjs.push(((pAfter.bytes - pBefore.bytes) / (pAfter.last - pt.start)) * 1e-3);
      } catch (err) {
        peerjsError = errorText(err);
      }
    },
  ];
  for (const path of paths) await path(false);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < paths.length; i++) await paths[(i + r) % paths.length]!(true);
  }
  stopPeer?.();
  // Which path the mesh's streams took: run in the tabs on their data plane (docs/DATA-PLANE.md,
  // "Streams"), or through the workers (a tree without it, or no bound grant yet).
  const fast = await ma!.evaluate(() => (window as any).mesh.status().then((s: any) => s.fastPath)).catch(() => undefined);
  await Promise.all([ra, rb, ma, mb, pa, pb].map((p) => p?.close().catch(() => undefined)));
  const best = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
  return {
    bytesPerRound: total,
    streamMBps: round(best(mesh), 2),
    rawMBps: round(best(raw), 2),
    peerjsMBps: round(best(peerjs), 2),
    streamMBpsRounds: mesh.map((x) => round(x, 2)),
    rawMBpsRounds: raw.map((x) => round(x, 2)),
    peerjsMBpsRounds: peerjs.map((x) => round(x, 2)),
    streamThroughputRatio: ratio(best(mesh), best(raw)),
    streamVsPeerjs: ratio(best(mesh), best(peerjs)),
    // The same two, as the median of each round's own ratio (lib.ts medianRoundRatio).
    streamThroughputRatioRoundMedian: medianRoundRatio(mesh, raw),
    streamVsPeerjsRoundMedian: peerjs.length ? medianRoundRatio(mesh, peerjs) : null,
    peerjsError: peerjsError ?? null,
    /** Of the rounds' streams (the uncounted one included), those the sending tab ran itself. */
    streamsInTab: fast?.streamsOpened ?? 0,
    nodeIds: [a.id.slice(0, 12), b.id.slice(0, 12)],
  };
}
