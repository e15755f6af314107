/**
 * Dialling WebSocket links from Node with the `ws` package: the Dialer a server (or a Node
 * client) hands its MeshNode, so it can reach configured bootstrap URLs and any remembered
 * peer that advertises a ws:// or wss:// address.
 */
import { rootCertificates } from 'node:tls';
import WebSocket from 'ws';
import { MeshError } from '../core/errors.js';
import { MAX_FRAME_BYTES } from '../core/limits.js';
import type { Dialer, HelloMaker } from '../core/node.js';
import type { PeerRecord } from '../core/peer-memory.js';
import { helloUrl, HELLO_PROTOCOLS } from './url-hello.js';
import { openWebSocketLink, type WebSocketLink } from './websocket.js';

export interface NodeDialerOptions {
  /** How long one dial may take, connection and WebSocket handshake included. Default 5 000 ms. */
  timeoutMs?: number;
  /** Told about each frame a dialled link refuses (see WebSocketLinkOptions.onDrop). */
  onDrop?: (reason: string) => void;
  /** Authorities (PEM) trusted for wss:// besides Node's built-in list. */
  ca?: (string | Uint8Array)[];
}

export function isWebSocketUrl(addr: string): boolean {
  try {
    const u = new URL(addr);
    return u.protocol === 'ws:' || u.protocol === 'wss:';
  } catch {
    return false;
  }
}

export class NodeWebSocketDialer implements Dialer {
  private readonly inFlight = new Set<WebSocket>();
  private closed = false;

  constructor(private readonly options: NodeDialerOptions = {}) {}

  canDial(peer: PeerRecord): boolean {
    return peer.addrs.some(isWebSocketUrl);
  }

  dial(peer: PeerRecord, hello?: HelloMaker): Promise<WebSocketLink> {
    const url = peer.addrs.find(isWebSocketUrl);
    if (!url) return Promise.reject(new MeshError('DIAL_FAILED', `peer ${peer.id.slice(0, 16)}… has no ws:// or wss:// address`));
    return this.dialAddress(url, hello);
  }

  /** With `hello`, the dialler's hello goes in the upgrade request (url-hello.ts). */
  async dialAddress(url: string, hello?: HelloMaker): Promise<WebSocketLink> {
    if (this.closed) throw new MeshError('DIAL_FAILED', `dial ${url}: the dialer is closed`);
    if (!isWebSocketUrl(url)) throw new MeshError('DIAL_FAILED', `dial ${url}: not a ws:// or wss:// URL`);
    const timeoutMs = this.options.timeoutMs ?? 5_000;
    // Compression is off: frames are already compact, and inflating untrusted input costs CPU.
    // Node's `ca` replaces its built-in list, so extra authorities are added to that list.
    const ca = this.options.ca && [...rootCertificates, ...this.options.ca.map((c) => (typeof c === 'string' ? c : Buffer.from(c)))];
    const bytes = hello?.();
    const target = bytes ? helloUrl(url, bytes) : url;
    const socket = new WebSocket(target, bytes ? HELLO_PROTOCOLS : [], { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, handshakeTimeout: timeoutMs, ...(ca && { ca }) });
    this.inFlight.add(socket);
    let link: WebSocketLink;
    try {
      link = await openWebSocketLink(socket, url, timeoutMs, { onDrop: this.options.onDrop }, bytes);
    } catch (err) {
      socket.terminate();
      throw err;
    } finally {
      this.inFlight.delete(socket);
    }
    if (this.closed) {
      socket.terminate();
      throw new MeshError('DIAL_FAILED', `dial ${url}: the dialer closed meanwhile`);
    }
    return link;
  }

  /** Abandons dials in flight, so a stopping node does not wait for their timeouts. */
  close(): void {
    this.closed = true;
    for (const s of this.inFlight) s.terminate();
    this.inFlight.clear();
  }
}
