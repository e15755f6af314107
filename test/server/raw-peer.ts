/**
 * A hand-driven peer over a real WebSocket: it speaks the handshake itself (so a test can stop
 * halfway), then sends whatever frames a test wants, at whatever rate, and can stop reading.
 */
import WebSocket from 'ws';
import { encodeFrame, FrameType, type HelloFrame } from '../../src/core/codec.js';
import type { Identity } from '../../src/core/identity.js';
import { WebSocketLink } from '../../src/transports/websocket.js';
import { hello, RawPeer, transcript } from '../helpers/mesh.js';
import { until, within } from '../helpers/wait.js';

export interface WsRawPeer {
  ws: WebSocket;
  raw: RawPeer;
  identity: Identity;
}

export async function openRaw(url: string, identity: Identity): Promise<WsRawPeer> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  await within(new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('unexpected-response', () => reject(new Error('refused'))))), 3000, 'raw open');
  return { ws, raw: new RawPeer(new WebSocketLink(ws)), identity };
}

/** Sends our hello; with `finish`, waits for the node's hello and proves our key. */
export async function handshake(p: WsRawPeer, finish = true): Promise<void> {
  const nonce = new Uint8Array(32).map((_, i) => i + 3);
  p.raw.send(hello(p.identity, nonce));
  if (!finish) return;
  await until(() => p.raw.frames().some((f) => f.type === FrameType.Hello), 3000, "the server's hello");
  const theirs = p.raw.frames().find((f): f is HelloFrame => f.type === FrameType.Hello)!;
  p.raw.send({ type: FrameType.Proof, signature: await p.identity.sign(transcript(p.identity.publicKey, theirs.nonce, nonce)) });
}

/** Many frames at once, written straight to the socket (bypassing the link's checks, as an attacker would). */
export function blast(p: WsRawPeer, frame: Parameters<typeof encodeFrame>[0], count: number): void {
  const bytes = encodeFrame(frame);
  for (let i = 0; i < count; i++) p.ws.send(bytes);
}
