/**
 * A Link carries whole frames (byte arrays) between two endpoints, in order, reliably, until
 * it closes. Every transport (memory, WebSocket, WebRTC DataChannel, MessagePort) implements
 * exactly this, and the shared compliance suite in test/transports holds them all to it.
 */
export type TransportKind = 'memory' | 'websocket' | 'webrtc' | 'port';

/**
 * What identifies the secure channel under a link, as each end sees it: for a WebRTC link, the
 * DTLS certificate fingerprints its two session descriptions name (the browser checks the far
 * certificate against `remote`). The link handshake signs over it (session.ts), so a link that
 * both ends bound is known to be one channel end to end, with no third party terminating it.
 */
export interface ChannelBinding {
  /** This end's certificate, as its own session description names it. */
  local: Uint8Array;
  /** The other end's, as the description it sent names it. */
  remote: Uint8Array;
}

export interface LinkHandlers {
  /** One whole frame from the other side. */
  frame(bytes: Uint8Array): void;
  /** The link is closed for good; called once. */
  close(reason: string): void;
  /** `bufferedAmount` fell back under the high-water mark after `send` returned false. */
  drain?(): void;
}

export interface Link {
  readonly transport: TransportKind;
  /** A transport-level address of the other side, when one is known (for per-address limits and logs). */
  readonly remoteAddress?: string;
  /** Bytes accepted by `send` and not yet handed to the network. */
  readonly bufferedAmount: number;
  readonly closed: boolean;
  /** The channel's identity (DTLS fingerprints), when the transport has one and knows it before the handshake. */
  readonly channelBinding?: ChannelBinding;
  /**
   * Queues one frame. Returns false once `bufferedAmount` is above the high-water mark: the
   * caller should wait for `drain` before sending more. Throws a MeshError LINK_CLOSED when closed.
   */
  send(frame: Uint8Array): boolean;
  /** Closes both directions; the other side's `close` handler receives `reason`. */
  close(reason?: string): void;
  /**
   * Attaches the owner. Frames and a close that arrived before this call are delivered to the
   * handlers as soon as they are attached, so nothing is lost between dial and handshake.
   */
  attach(handlers: LinkHandlers): void;
}

/** Default high-water mark of a link's send buffer. */
export const LINK_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Holds early events until a link's owner attaches. Transports extend this so the buffering
 * rule is written once.
 */
export abstract class LinkBase implements Link {
  abstract readonly transport: TransportKind;
  readonly remoteAddress?: string;
  channelBinding?: ChannelBinding;
  private handlers?: LinkHandlers;
  private early: Uint8Array[] = [];
  private closeReason?: string;
  private closeDelivered = false;

  abstract get bufferedAmount(): number;
  abstract send(frame: Uint8Array): boolean;
  abstract close(reason?: string): void;

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  attach(handlers: LinkHandlers): void {
    if (this.handlers) throw new Error('link already attached');
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const f of early) handlers.frame(f);
    if (this.closeReason !== undefined) this.deliverClose();
  }

  /** Transports call this for each received frame. */
  protected receive(frame: Uint8Array): void {
    if (this.closeDelivered) return;
    if (this.handlers) this.handlers.frame(frame);
    else this.early.push(frame);
  }

  /** Transports call this once when the link has closed, for whatever reason. */
  protected closedWith(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    if (this.handlers) this.deliverClose();
  }

  protected drained(): void {
    this.handlers?.drain?.();
  }

  private deliverClose(): void {
    if (this.closeDelivered) return;
    this.closeDelivered = true;
    this.handlers!.close(this.closeReason!);
  }
}
