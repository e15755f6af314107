/**
 * A Link over one WebSocket. It takes any object shaped like the WHATWG WebSocket (the
 * browser's and worker's global, Node 22's global, or the `ws` package's class), already open,
 * so one class serves every platform: dialling and listening stay with the platform code.
 * Uses no Node API.
 */
import { bytesEqual } from '../core/bytes.js';
import { MeshError } from '../core/errors.js';
import { LINK_HIGH_WATER_BYTES, LinkBase } from '../core/link.js';
import { MAX_FRAME_BYTES } from '../core/limits.js';
import { HELLO_PROTOCOL } from './url-hello.js';

/** The part of the WebSocket API this link uses. Event parameters are loose on purpose: browsers and `ws` type them differently. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  /** The subprotocol the server selected ('' for none); read once the socket is open. */
  readonly protocol?: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message' | 'close' | 'error' | 'open', listener: (event: any) => void): void;
}

export interface WebSocketLinkOptions {
  /** Shown in logs and used for per-address limits. */
  remoteAddress?: string;
  /**
   * Called with a reason for each frame this link refuses (oversize, text, WebSocket protocol
   * errors), so the owner can count it: the core never sees these frames.
   */
  onDrop?: (reason: string) => void;
  /** How often `bufferedAmount` is checked while above the high-water mark. Default 20 ms. */
  drainPollMs?: number;
  /**
   * Past this many bytes queued, the peer is not reading: the link closes (1008, counted as
   * `ws:slow-reader`) rather than buffer without bound. Default 8 MiB, above the 4 MiB at which
   * the node stops forwarding to a congested link, so only a peer that stops reading altogether
   * while still making us answer (pings) gets here.
   */
  maxBufferedBytes?: number;
  /** A frame that came before the socket's own: the hello the upgrade request carried (url-hello.ts). */
  firstFrame?: Uint8Array;
}

/** Default of WebSocketLinkOptions.maxBufferedBytes. */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

const OPEN = 1;
const CLOSE_NORMAL = 1000;
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_POLICY = 1008;
const CLOSE_TOO_BIG = 1009;
/** A close frame's reason holds at most 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123;

const CODE_NAMES: Record<number, string> = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status',
  1006: 'connection lost',
  1007: 'invalid payload',
  1008: 'policy violation',
  1009: 'message too big',
  1011: 'server error',
};

export class WebSocketLink extends LinkBase {
  readonly transport = 'websocket' as const;
  override readonly remoteAddress?: string;
  private pollTimer?: ReturnType<typeof setTimeout>;
  private lastError?: string;
  /** The hello the upgrade request delivered: the session's send of the same bytes is swallowed once. */
  private helloInUrl?: Uint8Array;

  constructor(
    private readonly socket: WebSocketLike,
    private readonly options: WebSocketLinkOptions = {},
  ) {
    super();
    this.remoteAddress = options.remoteAddress;
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (e: { data: unknown }) => this.onMessage(e.data));
    socket.addEventListener('error', (e: { message?: string; error?: { code?: string; message?: string } }) => this.onError(e));
    socket.addEventListener('close', (e: { code: number; reason: string }) => this.onClose(e.code, e.reason));
    if (socket.readyState > OPEN) this.closedWith('websocket was already closed');
    if (options.firstFrame) this.receive(options.firstFrame);
  }

  /** The server took `hello` from the upgrade request's URL: the first send of these bytes is already delivered. */
  helloDelivered(hello: Uint8Array): void {
    this.helloInUrl = hello;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) throw MeshError.linkClosed('websocket link is closed');
    // The far side would close the whole link over it; refuse it here, with a clear error.
    if (frame.length > MAX_FRAME_BYTES) throw MeshError.payloadTooLarge(frame.length, MAX_FRAME_BYTES);
    const inUrl = this.helloInUrl;
    if (inUrl) {
      // Only the very first send can be that hello; anything else goes, and nothing is swallowed later.
      this.helloInUrl = undefined;
      if (bytesEqual(inUrl, frame)) return true;
    }
    this.socket.send(frame);
    const max = this.options.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    if (this.socket.bufferedAmount > max) {
      this.refuse('slow-reader', CLOSE_POLICY, `the peer reads too slowly: over ${max} bytes queued`);
      return false;
    }
    if (this.socket.bufferedAmount <= LINK_HIGH_WATER_BYTES) return true;
    this.pollDrain();
    return false;
  }

  close(reason = 'closed by local side'): void {
    this.shut(CLOSE_NORMAL, reason);
  }

  private shut(code: number, reason: string): void {
    if (this.closed) return;
    this.stopPolling();
    this.closedWith(reason);
    // Frames already passed to send() go out before the close frame: WebSocket keeps order.
    const text = truncateUtf8(reason, MAX_REASON_BYTES);
    try {
      this.socket.close(code, text);
    } catch {
      // Browsers only let scripts close with 1000 or 3000-4999; `ws` takes any valid code.
      try {
        this.socket.close(CLOSE_NORMAL, text);
      } catch {
        // Closing a socket that is already going away is not an error worth surfacing.
      }
    }
  }

  private onMessage(data: unknown): void {
    if (this.closed) return;
    if (typeof data === 'string') return this.refuse('text-frame', CLOSE_UNSUPPORTED_DATA, 'text frames are not part of the protocol');
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined;
    if (!bytes) return this.refuse('unknown-data', CLOSE_UNSUPPORTED_DATA, 'unsupported message data');
    // `ws` enforces this with maxPayload before buffering; browsers have no such option.
    if (bytes.length > MAX_FRAME_BYTES) return this.refuse('frame-too-large', CLOSE_TOO_BIG, `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`);
    this.receive(bytes);
  }

  private refuse(what: string, code: number, reason: string): void {
    this.options.onDrop?.(`ws:${what}`);
    this.shut(code, reason);
  }

  private onError(e: { message?: string; error?: { code?: string; message?: string } }): void {
    // `ws` reports a refused oversize frame (maxPayload) as an error, then closes with 1009.
    const code = e.error?.code;
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.options.onDrop?.('ws:frame-too-large');
    else if (code?.startsWith('WS_ERR_')) this.options.onDrop?.('ws:protocol-error');
    this.lastError = e.error?.message ?? e.message ?? 'websocket error';
  }

  private onClose(code: number, reason: string): void {
    this.stopPolling();
    // A peer closing normally with a reason speaks for itself; anything else gets the code spelled out.
    if (code === CLOSE_NORMAL && reason) return this.closedWith(reason);
    const name = CODE_NAMES[code] ?? 'closed';
    const detail = [reason, this.lastError].filter(Boolean).join('; ');
    this.closedWith(`websocket closed: ${code} ${name}${detail ? ` (${detail})` : ''}`);
  }

  private pollDrain(): void {
    if (this.pollTimer !== undefined) return;
    const tick = () => {
      this.pollTimer = undefined;
      if (this.closed) return;
      if (this.socket.bufferedAmount > LINK_HIGH_WATER_BYTES) return this.schedule(tick);
      this.drained();
    };
    this.schedule(tick);
  }

  private schedule(tick: () => void): void {
    this.pollTimer = setTimeout(tick, this.options.drainPollMs ?? 20);
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }
}

/**
 * Wraps a socket that may still be connecting and resolves with the link once it is open. The
 * link exists from the start so that a frame arriving right behind the handshake is kept.
 */
export async function openWebSocketLink(
  socket: WebSocketLike,
  url: string,
  timeoutMs: number,
  options: WebSocketLinkOptions = {},
  /** The hello the socket's URL carries (url-hello.ts), if it does. */
  hello?: Uint8Array,
): Promise<WebSocketLink> {
  const link = new WebSocketLink(socket, { remoteAddress: url, ...options });
  await whenOpen(socket, url, timeoutMs);
  if (hello && socket.protocol === HELLO_PROTOCOL) link.helloDelivered(hello);
  return link;
}

/** Waits until `socket` is open, or rejects with DIAL_FAILED when it closes or the time runs out. */
export function whenOpen(socket: WebSocketLike, url: string, timeoutMs: number): Promise<void> {
  if (socket.readyState === OPEN) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let settled = false;
    let lastError = '';
    const finish = (err?: MeshError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => {
      finish(new MeshError('DIAL_FAILED', `dial ${url}: no answer within ${timeoutMs} ms`));
      try {
        socket.close();
      } catch {
        // Already failing; the timeout is the error that matters.
      }
    }, timeoutMs);
    socket.addEventListener('open', () => finish());
    socket.addEventListener('error', (e: { message?: string }) => (lastError = e.message ?? ''));
    socket.addEventListener('close', (e: { code: number; reason: string }) =>
      finish(new MeshError('DIAL_FAILED', `dial ${url}: ${lastError || e.reason || `closed with code ${e.code}`}`)),
    );
  });
}

/** Cuts `text` to at most `max` bytes of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, max: number): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= max) return text;
  let out = '';
  let size = 0;
  for (const ch of text) {
    const n = encoder.encode(ch).length;
    if (size + n > max - 3) break;
    out += ch;
    size += n;
  }
  return `${out}...`;
}
