/**
 * The mesh's WebSocket endpoint at /mesh on the node's HTTP server. Each accepted socket
 * becomes a WebSocketLink handed to the node, which runs the handshake. `ws` refuses frames
 * above MAX_FRAME_BYTES before buffering them (maxPayload), closing that connection with 1009.
 * Browsers always send Origin, other servers do not: `origins` restricts browsers only.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_FRAME_BYTES } from '../core/limits.js';
import { HELLO_PROTOCOL, PLAIN_PROTOCOL, urlHello } from '../transports/url-hello.js';
import { WebSocketLink } from '../transports/websocket.js';

export const MESH_PATH = '/mesh';

export interface MeshEndpointOptions {
  origins?: Set<string>;
  /** Open connections at most, handshaken or not: a flood of idle sockets must not exhaust the server. */
  maxConnections: number;
  accept: (link: WebSocketLink) => void;
  /** Counts refusals and refused frames, by reason. */
  drop: (reason: string) => void;
}

export interface MeshEndpoint {
  /** Open WebSocket connections, handshaken or not. */
  readonly connections: number;
  /** Waits up to `graceMs` for connections to finish closing, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

export function attachMeshEndpoint(server: Server, o: MeshEndpointOptions): MeshEndpoint {
  // Compression off: frames are compact already, and inflating untrusted input costs CPU.
  // A dialler's hello in the URL (url-hello.ts) is taken when it also offered HELLO_PROTOCOL;
  // otherwise the first protocol offered is selected, as `ws` does by default.
  const hellos = new WeakMap<IncomingMessage, Uint8Array>();
  const handleProtocols = (offered: Set<string>, req: IncomingMessage) =>
    hellos.has(req) && offered.has(HELLO_PROTOCOL) ? HELLO_PROTOCOL : offered.has(PLAIN_PROTOCOL) ? PLAIN_PROTOCOL : ([...offered][0] ?? false);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, handleProtocols });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy()); // a reset during the upgrade is not our crash
    if ((req.url ?? '').split('?')[0] !== MESH_PATH) return refuse(socket, 404, 'Not Found', `no WebSocket endpoint here; the mesh is at ${MESH_PATH}`);
    const origin = req.headers.origin;
    if (o.origins && origin !== undefined && !o.origins.has(origin)) {
      o.drop('http:origin-refused');
      return refuse(socket, 403, 'Forbidden', `origin ${origin} is not allowed to join this mesh (see --allow-origin)`);
    }
    if (wss.clients.size >= o.maxConnections) {
      o.drop('http:too-many-connections');
      return refuse(socket, 503, 'Service Unavailable', `this server holds its maximum of ${o.maxConnections} connections; try another`);
    }
    const hello = urlHello(req.url ?? '');
    if (hello && !(hello instanceof Uint8Array)) {
      o.drop('http:bad-hello');
      return refuse(socket, 400, 'Bad Request', hello.error);
    }
    if (hello) hellos.set(req, hello);
    wss.handleUpgrade(req, socket, head, (ws) => {
      // The URL's hello is the link's first frame, before any off the socket: the handshake runs as if it came as one.
      const firstFrame = ws.protocol === HELLO_PROTOCOL ? hello : undefined;
      o.accept(new WebSocketLink(ws, { remoteAddress: req.socket.remoteAddress, onDrop: o.drop, firstFrame }));
    });
  });
  return {
    get connections() {
      return wss.clients.size;
    },
    async close(graceMs) {
      const deadline = Date.now() + graceMs;
      while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Answers an upgrade we will not accept with a plain HTTP error that says why. */
function refuse(socket: Duplex, status: number, statusText: string, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
