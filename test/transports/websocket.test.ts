/** The shared Link compliance suite, run against real WebSocket links (`ws` on loopback). */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { isMeshError } from '../../src/core/errors.js';
import { MAX_FRAME_BYTES } from '../../src/core/limits.js';
import type { PeerRecord } from '../../src/core/peer-memory.js';
import { fromBase64Url, HELLO_PROTOCOL, MAX_URL_HELLO_BYTES, PLAIN_PROTOCOL, toBase64Url, urlHello } from '../../src/transports/url-hello.js';
import { WebSocketLink } from '../../src/transports/websocket.js';
import { NodeWebSocketDialer } from '../../src/transports/websocket-node.js';
import { until } from '../helpers/wait.js';
import { runLinkCompliance } from './link-compliance.js';

async function makePair() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: MAX_FRAME_BYTES });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  // The server side's link is made in the connection handler itself, as the real server does.
  const accepted = new Promise<WebSocketLink>((resolve) => server.once('connection', (ws: WebSocket) => resolve(new WebSocketLink(ws))));
  const dialer = new NodeWebSocketDialer({ timeoutMs: 2000 });
  const { port } = server.address() as AddressInfo;
  const a = await dialer.dialAddress(`ws://127.0.0.1:${port}/`);
  const b = await accepted;
  return {
    a,
    b,
    async cleanup() {
      a.close('cleanup');
      b.close('cleanup');
      for (const ws of server.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

runLinkCompliance('websocket', makePair);

describe('NodeWebSocketDialer', () => {
  const peer = (addrs: string[]) => ({ id: 'ab'.repeat(32), publicKey: new Uint8Array(32), addrs, caps: [], lastSeen: 0, lastSuccess: 0, successes: 0, failures: 0 }) as unknown as PeerRecord;

  it('dials only peers with a ws:// or wss:// address', () => {
    const d = new NodeWebSocketDialer();
    assert.equal(d.canDial(peer(['ws://127.0.0.1:8080/mesh'])), true);
    assert.equal(d.canDial(peer(['wss://mesh.example/mesh'])), true);
    assert.equal(d.canDial(peer(['http://example.com/', 'mem:x'])), false);
    assert.equal(d.canDial(peer([])), false);
  });

  it('fails with DIAL_FAILED when nobody listens', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await assert.rejects(new NodeWebSocketDialer({ timeoutMs: 2000 }).dialAddress(`ws://127.0.0.1:${port}/mesh`), (err: unknown) => isMeshError(err, 'DIAL_FAILED'));
  });

  it('fails with DIAL_FAILED after its timeout when the far side never answers', async () => {
    const silent = createServer(() => undefined); // accepts TCP, never speaks HTTP
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const started = Date.now();
    try {
      await assert.rejects(new NodeWebSocketDialer({ timeoutMs: 300 }).dialAddress(`ws://127.0.0.1:${port}/mesh`), (err: unknown) => isMeshError(err, 'DIAL_FAILED'));
      assert.ok(Date.now() - started < 2000, 'the timeout, not some OS default, ended the dial');
    } finally {
      silent.close();
    }
  });
});

describe('the hello in the upgrade URL (url-hello.ts)', () => {
  /** A `ws` server recording each upgrade's URL and protocol and every frame it reads; `take`: it selects HELLO_PROTOCOL as a Meshwork server that takes URL hellos does. */
  async function recorder(take: boolean) {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, ...(take && { handleProtocols: (offered: Set<string>) => (offered.has(HELLO_PROTOCOL) ? HELLO_PROTOCOL : false) }) });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const seen: { url: string; protocol: string; frames: Uint8Array[] } = { url: '', protocol: '', frames: [] };
    server.on('connection', (ws: WebSocket, req) => {
      seen.url = req.url ?? '';
      seen.protocol = ws.protocol;
      ws.on('message', (data: Buffer) => seen.frames.push(new Uint8Array(data)));
    });
    const { port } = server.address() as AddressInfo;
    return { url: `ws://127.0.0.1:${port}/mesh?x=1`, seen, close: () => new Promise<void>((resolve) => (server.clients.forEach((c) => c.terminate()), server.close(() => resolve()))) };
  }
  const HELLO = Uint8Array.from({ length: 90 }, (_, i) => (i * 37) & 0xff);

  it('a server that took it: the link swallows the first send of those bytes, and only that one', async () => {
    const r = await recorder(true);
    try {
      const link = await new NodeWebSocketDialer({ timeoutMs: 2000 }).dialAddress(r.url, () => HELLO);
      assert.equal(r.seen.protocol, HELLO_PROTOCOL);
      assert.deepEqual(urlHello(r.seen.url), HELLO, 'the URL carries the hello');
      assert.match(r.seen.url, /x=1/, 'and keeps its own query');
      assert.equal(link.remoteAddress, r.url, 'the link is named by the address dialled, not by the hello');
      link.send(HELLO);
      link.send(HELLO); // a second hello is the session's bug, not the link's to hide: it goes
      link.send(Uint8Array.of(7));
      await until(() => r.seen.frames.length >= 2, 3000, 'frames after the hello');
      assert.deepEqual(r.seen.frames, [HELLO, Uint8Array.of(7)]);
      link.close('done');
    } finally {
      await r.close();
    }
  });

  it('a server that does not take it (an older one: `ws` selects the first protocol offered) gets the hello as a frame', async () => {
    const r = await recorder(false);
    try {
      const link = await new NodeWebSocketDialer({ timeoutMs: 2000 }).dialAddress(r.url, () => HELLO);
      assert.equal(r.seen.protocol, PLAIN_PROTOCOL);
      link.send(HELLO);
      await until(() => r.seen.frames.length >= 1, 3000, 'the hello as a frame');
      assert.deepEqual(r.seen.frames, [HELLO]);
      link.close('done');
    } finally {
      await r.close();
    }
  });

  it('base64url: round trips, and refuses padding, foreign characters, stray bits and oversize', () => {
    for (let n = 0; n < 8; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => 250 - i * 31);
      assert.deepEqual(fromBase64Url(toBase64Url(b)), b);
    }
    assert.equal(toBase64Url(Uint8Array.of(0xfb, 0xff)), '-_8');
    assert.equal(fromBase64Url('-_8='), undefined);
    assert.equal(fromBase64Url('ab+c'), undefined);
    assert.equal(fromBase64Url('-_9'), undefined, 'nonzero leftover bits: one text per byte string');
    assert.equal(fromBase64Url('abcde'), undefined);
    assert.equal(urlHello('/mesh'), undefined);
    assert.equal(urlHello('/mesh?x=1'), undefined);
    assert.deepEqual(urlHello(`/mesh?hello=${toBase64Url(HELLO)}`), HELLO);
    assert.match((urlHello('/mesh?hello=%25') as { error: string }).error, /base64url/);
    assert.match((urlHello('/mesh?hello=') as { error: string }).error, /base64url/);
    assert.match((urlHello(`/mesh?hello=${toBase64Url(new Uint8Array(MAX_URL_HELLO_BYTES + 1))}`) as { error: string }).error, /exceeds 1024/);
    assert.equal((urlHello(`/mesh?hello=${toBase64Url(new Uint8Array(MAX_URL_HELLO_BYTES))}`) as Uint8Array).length, MAX_URL_HELLO_BYTES);
  });
});
