/** The shared Link compliance suite, run against real WebSocket links (`ws` on loopback). */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { isMeshError } from '../../src/core/errors.js';
import { MAX_FRAME_BYTES } from '../../src/core/limits.js';
import type { PeerRecord } from '../../src/core/peer-memory.js';
import { WebSocketLink } from '../../src/transports/websocket.js';
import { NodeWebSocketDialer } from '../../src/transports/websocket-node.js';
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
