/**
 * A raw WebSocket client misbehaving on /mesh: malformed frames, a text frame, a 5 MB frame.
 * Each is dropped with a reason (counters, close code) and the server keeps serving others.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ServerNode } from '../../src/server/index.js';
import { until, within } from '../helpers/wait.js';
import { client, eventually, server, stopAll } from './helpers.js';

/**
 * Deadlines in this file only turn a hang into a failure with a sentence: nothing here claims a
 * speed, and on a loaded 2-core machine opening 68 sockets at once took more than 3 s. (Polls use
 * `until`, not a message-less `assert.ok` retried: each failed one makes Node's assert re-parse
 * this source file to word its message, which under tsx took minutes.)
 */
const HUNG_MS = 15_000;

/** Opens a raw socket to the mesh endpoint. */
async function raw(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await within(new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), HUNG_MS, 'raw socket open');
  return ws;
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe('misbehaving clients on /mesh', { timeout: 8 * HUNG_MS }, () => {
  let s: ServerNode;
  let other: ServerNode;
  let c: ServerNode;
  const dropped = (reason: string) => s.status().counters.dropped[reason] ?? 0;

  before(async () => {
    s = await server();
    other = await server({ peers: [s.url!] });
    c = await client([s.url!]);
    other.handle(5, () => 'still here');
  });
  after(() => stopAll([c, other, s]));

  /** Proves the server still routes: c reaches `other` through the mesh. */
  const stillServes = async () => {
    assert.equal(await eventually(() => c.request(other.id, 'ok?', { port: 5, timeoutMs: 700 }), 10_000, 'request through the server'), 'still here');
  };

  it('counts malformed frames by reason and closes the link after too many', async () => {
    const ws = await raw(s.url!);
    const closed = closeOf(ws);
    ws.send(Uint8Array.of(1, 0xff, 0xfe)); // version byte, then bytes that are not CBOR
    ws.send(Uint8Array.of(1)); // truncated
    await until(() => dropped('malformed:malformed-cbor') >= 1 && dropped('malformed:truncated') >= 1, HUNG_MS, 'malformed drops counted');
    for (let i = 0; i < 20; i++) ws.send(Uint8Array.of(1, 0x9f, i));
    const { code, reason } = await within(closed, 5_000, 'the abusive link closes');
    assert.equal(code, 1000);
    assert.match(reason, /malformed/);
    await stillServes();
  });

  it('refuses a text frame with 1003', async () => {
    const ws = await raw(s.url!);
    const closed = closeOf(ws);
    ws.send('hello as text');
    const { code, reason } = await within(closed, 5_000, 'close after a text frame');
    assert.equal(code, 1003);
    assert.match(reason, /text frames/);
    assert.ok(dropped('ws:text-frame') >= 1, 'the text frame counted as a drop');
  });

  it('closes a connection that sends a 5 MB frame with 1009 and stays up', async () => {
    const ws = await raw(s.url!);
    const closed = closeOf(ws);
    ws.on('error', () => undefined); // the server may cut the socket while we still write
    ws.send(new Uint8Array(5 * 1024 * 1024));
    const { code } = await within(closed, 5_000, 'close after a 5 MB frame');
    assert.equal(code, 1009);
    await until(() => dropped('ws:frame-too-large') >= 1, HUNG_MS, 'oversize drop counted');
    await stillServes();
    const status = (await (await fetch(s.url!.replace(/^ws/, 'http').replace(/\/mesh$/, '/meshwork/status'))).json()) as { counters: { dropped: Record<string, number> } };
    assert.ok(status.counters.dropped['ws:frame-too-large']! >= 1, 'the drop shows in /meshwork/status');
  });

  it('refuses connections beyond its maximum with 503, and takes them again once some close', async () => {
    const small = await server({ linkBudget: 2 }); // room for 2 * 2 + 64 = 68 connections
    try {
      const idle = await Promise.all(Array.from({ length: 68 }, () => raw(small.url!)));
      const refused = await within(
        new Promise<number>((resolve) => {
          const ws = new WebSocket(small.url!);
          ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
          ws.on('error', () => undefined);
        }),
        HUNG_MS,
        'the 69th connection',
      );
      assert.equal(refused, 503);
      assert.ok((small.status().counters.dropped['http:too-many-connections'] ?? 0) >= 1, 'the refusal counted');
      const closed = closeOf(idle[0]!);
      idle[0]!.close();
      await closed;
      await eventually(async () => (await raw(small.url!)).close(), HUNG_MS, 'a connection once there is room');
      for (const ws of idle) ws.terminate();
    } finally {
      await small.stop();
    }
  });
});
