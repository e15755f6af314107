/**
 * Replays past the dedupe window, against a live server over a real WebSocket: a datagram, a
 * request and a signal, each delivered once, then 20 000 other packets from the same source
 * (more than twice the 8 192 the dedupe set remembers), then the three replayed. Without the
 * per-source window (src/core/replay-guard.ts) all three would be accepted again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appId } from '../../src/core/app-namespace.js';
import { encodeFrame } from '../../src/core/codec.js';
import { Identity } from '../../src/core/identity.js';
import { createPacket, PacketKind } from '../../src/core/packets.js';
import { Payload } from '../../src/core/payloads.js';
import { MAX_SKEW_MS, packetIdAt } from '../../src/core/replay-guard.js';
import { topicId } from '../../src/core/topic-tree.js';
import type { ServerNode } from '../../src/server/index.js';
import { until } from '../helpers/wait.js';
import { server } from './helpers.js';
import { handshake, openRaw, type WsRawPeer } from './raw-peer.js';

const OTHERS = Number(process.env.REPLAY_OTHERS ?? 20_000);
const DEFAULT_APP = new Uint8Array(0);
const NOBODY = appId('nobody');
const dropped = (s: ServerNode, reason: string) => s.status().counters.dropped[reason] ?? 0;

describe('replays beyond the dedupe window', () => {
  let s: ServerNode;
  let p: WsRawPeer;
  const datagrams: string[] = [];
  let handled = 0;

  before(async () => {
    // No rate limits: the point is 20 000 packets accepted in between, not the flood limits.
    s = await server({ tuning: { rateLimits: { linkFramesPerSec: Infinity, linkBytesPerSec: Infinity, sourcePacketsPerSec: Infinity } } });
    s.onMessage((m) => void (m.port === 6 && datagrams.push(String(m.data))));
    s.handle(5, () => void handled++);
    p = await openRaw(s.url!, await Identity.generate());
    await handshake(p);
    await until(() => s.mesh.linkIds().includes(p.identity.idText), 3_000, 'the raw peer is linked');
  });
  after(async () => {
    p?.ws.terminate();
    await s?.stop();
  });

  it('refuses a datagram, a request and a signal replayed after 20 000 other packets from their source', async () => {
    const dst = s.mesh.identity.id;
    const t0 = Date.now();
    let n = 0;
    const packet = (kind: number, payload: Uint8Array) => createPacket(p.identity, dst, kind, payload, packetIdAt(t0, n++), 64);
    const datagram = await packet(PacketKind.Data, Payload.data.encode({ app: DEFAULT_APP, port: 6, data: 'once' }));
    const request = await packet(PacketKind.Request, Payload.request.encode({ app: DEFAULT_APP, port: 5, requestId: 1, data: 'q' }));
    const signal = await packet(PacketKind.Signal, Payload.signal.encode({ body: 'offer' }));
    const signals0 = dropped(s, 'no-signal-handler'); // a server has no signal handler: each delivered signal counts here
    for (const pk of [datagram, request, signal]) p.raw.send(pk);
    await until(() => datagrams.length === 1 && handled === 1 && dropped(s, 'no-signal-handler') === signals0 + 1, 5_000, 'all three delivered once');

    // 20 000 others from the same source, to an app nobody runs: each is verified,
    // passes the dedupe and the window, and is counted as no-listener.
    const idle0 = dropped(s, 'no-listener');
    // Signed 500 at a time (WebCrypto signs off the main thread), sent in order of their ids.
    for (let i = 0; i < OTHERS; i += 500) {
      const batch = Array.from({ length: Math.min(500, OTHERS - i) }, (_, j) => packet(PacketKind.Data, Payload.data.encode({ app: NOBODY, port: 7, data: `other ${i + j}` })));
      for (const pk of await Promise.all(batch)) p.raw.send(pk);
    }
    await until(() => dropped(s, 'no-listener') === idle0 + OTHERS, 60_000, `${OTHERS} other packets delivered`).catch((e) => assert.fail(`${(e as Error).message}: ${JSON.stringify(s.status().counters)}`));
    assert.equal(dropped(s, 'duplicate'), 0, 'the dedupe set caught none of them');

    const old0 = dropped(s, 'replay:old');
    for (const pk of [datagram, request, signal]) p.raw.send(pk);
    await until(() => dropped(s, 'replay:old') === old0 + 3, 5_000, 'the three replays refused');
    // A packet after the replays is still delivered: the link and the source are fine.
    p.raw.send(await packet(PacketKind.Data, Payload.data.encode({ app: DEFAULT_APP, port: 6, data: 'after' })));
    await until(() => datagrams.length === 2, 5_000, 'a fresh datagram delivered');
    assert.deepEqual(datagrams, ['once', 'after']);
    assert.equal(handled, 1, 'the request was handled once');
    assert.equal(dropped(s, 'no-signal-handler'), signals0 + 1, 'the signal was delivered once');
  });

  it('refuses a publication wrapped again in a fresh PublishDown after 5 000 others, once its dedupe set forgot it', async () => {
    const q = await openRaw(s.url!, await Identity.generate());
    const news: string[] = [];
    const off = s.subscribe('news', (m) => void news.push(String(m.data)));
    try {
      await handshake(q);
      await until(() => s.mesh.linkIds().includes(q.identity.idText), 3_000, 'linked');
      const dst = s.mesh.identity.id;
      const tid = topicId('news');
      const t0 = Date.now();
      let n = 0;
      const publication = (data: string) => createPacket(q.identity, tid, PacketKind.Publish, Payload.publish.encode({ topic: tid, name: 'news', data }), packetIdAt(t0, n++), 64);
      // Each wrapping is a new packet of q's (a new id): only the publication inside repeats.
      const wrapped = async (inner: Awaited<ReturnType<typeof publication>>) =>
        createPacket(q.identity, dst, PacketKind.PublishDown, Payload.publishDown.encode({ inner: encodeFrame(inner) }), packetIdAt(t0, n++), 64);
      const first = await publication('first');
      q.raw.send(await wrapped(first));
      await until(() => news.length === 1, 5_000, 'the publication delivered');
      // More than the 4 096 publications the subscriber's dedupe set remembers.
      const others = 5_000;
      for (let i = 0; i < others; i += 250) {
        const batch = await Promise.all(Array.from({ length: Math.min(250, others - i) }, (_, j) => publication(`other ${i + j}`)));
        for (const pk of await Promise.all(batch.map(wrapped))) q.raw.send(pk);
      }
      await until(() => news.length === 1 + others, 60_000, `${others} other publications delivered`);
      const old0 = dropped(s, 'publication:replay:old');
      q.raw.send(await wrapped(first));
      await until(() => dropped(s, 'publication:replay:old') === old0 + 1, 5_000, 'the re-wrapped publication refused');
      q.raw.send(await wrapped(await publication('after')));
      await until(() => news.includes('after'), 5_000, 'a fresh publication delivered');
      assert.equal(news.filter((x) => x === 'first').length, 1, 'the first publication delivered once');
    } finally {
      off();
      q.ws.terminate();
    }
  });

  it('refuses a first packet from an unknown source whose time is off by more than the bound', async () => {
    const q = await openRaw(s.url!, await Identity.generate());
    try {
      await handshake(q);
      await until(() => s.mesh.linkIds().includes(q.identity.idText), 3_000, 'linked');
      const stale = await createPacket(q.identity, s.mesh.identity.id, PacketKind.Data, Payload.data.encode({ app: DEFAULT_APP, port: 6, data: 'stale' }), packetIdAt(Date.now() - MAX_SKEW_MS - 60_000), 64);
      const skew0 = dropped(s, 'replay:clock-skew');
      q.raw.send(stale);
      await until(() => dropped(s, 'replay:clock-skew') === skew0 + 1, 5_000, 'refused as clock-skew');
      const fresh = await createPacket(q.identity, s.mesh.identity.id, PacketKind.Data, Payload.data.encode({ app: DEFAULT_APP, port: 6, data: 'fresh' }), packetIdAt(Date.now()), 64);
      q.raw.send(fresh);
      await until(() => datagrams.includes('fresh'), 5_000, 'a packet of now is delivered');
      assert.ok(!datagrams.includes('stale'));
    } finally {
      q.ws.terminate();
    }
  });
});
