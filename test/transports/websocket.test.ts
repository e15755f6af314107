/** The shared Link compliance suite, run against real WebSocket links (`ws` on loopback). */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_FRAME_BYTES } from '../../src/core/limits.js';
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
