/**
 * The PeerConnection broker, tab side: this tab makes the RTCPeerConnection and DataChannel the
 * node host asked for, and joins the channel to the MessagePort the host handed over.
 *
 * Backpressure toward the peer: a frame from the node is acknowledged only once the
 * DataChannel's `bufferedAmount` is back under its low-water mark, so the node's PortLink sees
 * a full window and stops. From the peer a DataChannel cannot be paused; a node that stops
 * consuming is cut off once a bounded amount is outstanding.
 */
import { PortLink } from '../transports/port.js';
import { selectedPath, type RtcPath } from './rtc-path.js';

const CHANNEL_LOW_WATER = 256 * 1024;
/** Past this many bytes queued on the DataChannel, the tab's own sends (sendOwn) wait for it to drain. */
const OWN_HIGH_WATER = 1024 * 1024;
/** Bytes from the peer the node may leave unconsumed before the link is cut. */
const MAX_UNCONSUMED = 16 * 1024 * 1024;
const GATHER_TIMEOUT_MS = 3_000;
/** Frames from the peer held while its address is read (it only sends its hello by then). */
const MAX_HELD_FRAMES = 64;
/** How long reading the selected candidate pair may take before the link opens without it. */
const STATS_TIMEOUT_MS = 1_000;

interface Entry {
  key: string;
  pc: RTCPeerConnection;
  pipe: PortLink;
  dc?: RTCDataChannel;
  owed: number;
  early: Uint8Array[];
  /** Frames from the peer held until the node knows the peer's address (see wire). */
  inbound?: Uint8Array[];
  /** The tab's own sends (sendOwn) waiting for the channel to drain. */
  drainWaiters: (() => void)[];
}

/**
 * The data plane in this tab (fast-path.ts): `take` may claim a frame from the peer before it
 * goes to the node (true: claimed); `gone` hears that a link's entry went; `release`, that every
 * link is about to close (the tab parks or goes): frames it claimed and has not taken go to the
 * node now (toNode), while their links still carry them.
 */
export interface RtcTap {
  take(key: string, frame: Uint8Array): boolean;
  /** `last` writes a frame on the channel while it is still open (the tab's streams' Resets), whatever the pipe's state. */
  gone(key: string, last: (frame: Uint8Array) => boolean): void;
  release(): void;
}

export class RtcHost {
  private readonly entries = new Map<string, Entry>();
  tap?: RtcTap;

  constructor(
    private readonly signal: (key: string, body: string) => void,
    /** The page's own configuration (`connect({ rtc })`): when given, it wins over the node's ICE servers. */
    private readonly config?: RTCConfiguration,
    /** Told which path ICE selected once a channel opens, and again when it changes. */
    private readonly onPath: (key: string, via: RtcPath) => void = () => undefined,
  ) {}

  get count(): number {
    return this.entries.size;
  }

  /** `iceServers`: what the node host was handed by a server (or its STUN defaults). */
  open(key: string, initiator: boolean, port: MessagePort, iceServers: RTCIceServer[] = []): void {
    const pc = new RTCPeerConnection(this.config ?? { iceServers });
    // framesGivenUp: each DataChannel message's buffer is handed on to the node as it is.
    const pipe = new PortLink(port, { transport: 'webrtc', autoAck: false, framesGivenUp: true, onClosed: () => this.drop(key) });
    const e: Entry = { key, pc, pipe, owed: 0, early: [], drainWaiters: [] };
    this.entries.set(key, e);
    pipe.attach({ frame: (b) => this.toChannel(e, b), close: () => this.drop(key) });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') pipe.close(`peer connection ${pc.connectionState}`);
      if (pc.connectionState === 'connected' && e.dc?.readyState === 'open') this.reportPath(e);
    });
    if (initiator) {
      this.wire(e, pc.createDataChannel('meshwork', { ordered: true }));
      void this.describe(e, 'offer');
    } else {
      pc.addEventListener('datachannel', (ev) => this.wire(e, ev.channel));
    }
  }

  /** Signalling from the peer, through the mesh and the node host. */
  async onSignal(key: string, body: string): Promise<void> {
    const e = this.entries.get(key);
    if (!e) return;
    try {
      const m = JSON.parse(body) as { t: string; sdp?: string };
      if (m.t === 'offer' && m.sdp) {
        await e.pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
        await this.describe(e, 'answer');
      } else if (m.t === 'answer' && m.sdp) {
        await e.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      } else if (m.t === 'bye') {
        e.pipe.close('peer gave up');
      }
    } catch (err) {
      e.pipe.close(`signalling failed: ${(err as Error).message}`);
    }
  }

  /** The tab parks or goes: every link closes, after the frames the data plane claimed and did not take (RtcTap `release`). */
  closeAll(reason = 'host tab closing'): void {
    this.tap?.release();
    for (const e of [...this.entries.values()]) e.pipe.close(reason);
  }

  /** Sets our local description, waits for ICE gathering, and sends the whole SDP in one signal. */
  private async describe(e: Entry, t: 'offer' | 'answer'): Promise<void> {
    try {
      await e.pc.setLocalDescription();
      await gathered(e.pc);
      const sdp = e.pc.localDescription?.sdp;
      if (!sdp) throw new Error('no local description');
      this.signal(e.key, JSON.stringify({ k: e.key, t, sdp }));
    } catch (err) {
      e.pipe.close(`could not make an ${t}: ${(err as Error).message}`);
    }
  }

  private wire(e: Entry, dc: RTCDataChannel): void {
    e.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = CHANNEL_LOW_WATER;
    dc.addEventListener('open', () => {
      const early = e.early;
      e.early = [];
      for (const b of early) this.toChannel(e, b);
      // The node caps links per network address (docs/SECURITY.md); a worker never sees the
      // peer's IP, so this tab reads it from the selected candidate pair and tells it with the
      // open. The peer's frames wait until then, so its hello is judged with the address known.
      e.inbound = [];
      void remoteAddressOf(e.pc).then((address) => {
        const held = e.inbound ?? [];
        e.inbound = undefined;
        e.pipe.markOpen(address);
        for (const b of held) this.fromChannel(e, b);
        this.reportPath(e);
      });
    });
    dc.addEventListener('close', () => e.pipe.close('data channel closed'));
    dc.addEventListener('message', (ev: MessageEvent) => {
      if (e.pipe.closed) return;
      const data = ev.data as ArrayBuffer | string;
      if (typeof data === 'string') return e.pipe.close('text on the data channel');
      if (e.inbound) {
        e.inbound.push(new Uint8Array(data));
        if (e.inbound.length > MAX_HELD_FRAMES) e.pipe.close('too many frames before the channel was set up');
        return;
      }
      this.fromChannel(e, new Uint8Array(data));
    });
    dc.addEventListener('bufferedamountlow', () => {
      const n = e.owed;
      e.owed = 0;
      e.pipe.ack(n);
      const waiters = e.drainWaiters;
      e.drainWaiters = [];
      for (const wake of waiters) wake();
    });
  }

  private reportPath(e: Entry): void {
    selectedPath(e.pc).then(
      (via) => via && !e.pipe.closed && this.onPath(e.key, via),
      () => undefined,
    );
  }

  /**
   * A frame this tab made (the data plane), on the link `key`: written in the order of the calls,
   * among the node's frames. While more than OWN_HIGH_WATER bytes wait on the channel it waits
   * for the channel to drain first, so the tab cannot starve the node's frames; the node's
   * window (toChannel) sees these bytes in `bufferedAmount` too. False when the link is gone.
   * Once it settles the frame's buffer is the caller's again: `send()` copied the bytes (the data
   * plane writes its next frames over it, fast-path.ts), and nothing here keeps it.
   */
  async sendOwn(key: string, frame: Uint8Array): Promise<boolean> {
    for (;;) {
      const sent = this.write(key, frame);
      if (sent !== undefined) return sent;
      await new Promise<void>((resolve) => this.entries.get(key)!.drainWaiters.push(resolve));
    }
  }

  /**
   * sendOwn in this turn, or undefined when it would have to wait (the channel is full, or other
   * sends already wait for it to drain, which must go first). The frame is not kept (sendOwn).
   */
  sendNow(key: string, frame: Uint8Array): boolean | undefined {
    if (this.entries.get(key)?.drainWaiters.length) return undefined;
    return this.write(key, frame);
  }

  /** True: written; false: the link is gone; undefined: over OWN_HIGH_WATER, wait for the drain. */
  private write(key: string, frame: Uint8Array): boolean | undefined {
    const e = this.entries.get(key);
    const dc = e?.dc;
    if (!e || !dc || dc.readyState !== 'open' || e.pipe.closed) return false;
    if (dc.bufferedAmount > OWN_HIGH_WATER) return undefined;
    try {
      dc.send(frame as Uint8Array<ArrayBuffer>);
      return true;
    } catch {
      return false;
    }
  }

  /** A frame from the peer that the data plane opened and hands on to the node after all. */
  toNode(key: string, frame: Uint8Array): void {
    const e = this.entries.get(key);
    if (e) this.toPipe(e, frame);
  }

  private fromChannel(e: Entry, b: Uint8Array): void {
    if (e.pipe.closed) return;
    if (this.tap?.take(e.key, b)) return;
    this.toPipe(e, b);
  }

  private toPipe(e: Entry, b: Uint8Array): void {
    if (e.pipe.closed) return;
    e.pipe.send(b);
    if (e.pipe.bufferedAmount > MAX_UNCONSUMED) e.pipe.close('the node is not consuming its data channel');
  }

  private toChannel(e: Entry, b: Uint8Array): void {
    const dc = e.dc;
    if (!dc || dc.readyState !== 'open') {
      e.early.push(b);
      return;
    }
    try {
      dc.send(b as Uint8Array<ArrayBuffer>);
    } catch (err) {
      return e.pipe.close(`data channel send failed: ${(err as Error).message}`);
    }
    if (dc.bufferedAmount <= CHANNEL_LOW_WATER) e.pipe.ack(b.length);
    else e.owed += b.length;
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    if (!e.pipe.closed) e.pipe.close('closed');
    for (const wake of e.drainWaiters) wake();
    e.drainWaiters = [];
    this.tap?.gone(key, (frame) => {
      try {
        if (e.dc?.readyState !== 'open') return false;
        e.dc.send(frame as Uint8Array<ArrayBuffer>);
        return true;
      } catch {
        return false;
      }
    });
    try {
      e.dc?.close();
      e.pc.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * The peer's IP from the selected candidate pair, or undefined: unknown, hidden (Chromium 156
 * reports an empty address for a peer's host candidate, which it only ever saw as an mDNS
 * `.local` name, though the IP of a peer-reflexive one; Firefox 153 reports the IP), or a TURN
 * relay's address, which many unrelated peers share and which must not count as one host.
 */
export async function remoteAddressOf(pc: RTCPeerConnection): Promise<string | undefined> {
  try {
    const stats = await Promise.race([pc.getStats(), new Promise<undefined>((r) => setTimeout(r, STATS_TIMEOUT_MS))]);
    if (!stats) return undefined;
    let pair: RTCIceCandidatePairStats | undefined;
    stats.forEach((r: RTCStats & Record<string, unknown>) => {
      if (r.type === 'transport' && typeof r.selectedCandidatePairId === 'string') pair = stats.get(r.selectedCandidatePairId) as RTCIceCandidatePairStats | undefined;
    });
    // Firefox marks the pair instead of naming it on a transport.
    if (!pair) stats.forEach((r: RTCStats & Record<string, unknown>) => void (r.type === 'candidate-pair' && r.selected === true && (pair = r as unknown as RTCIceCandidatePairStats)));
    const remote = pair && (stats.get(pair.remoteCandidateId) as (RTCStats & { address?: string; ip?: string; candidateType?: string }) | undefined);
    const address = remote?.address ?? remote?.ip;
    if (!address || remote?.candidateType === 'relay') return undefined;
    return /^[0-9.]+$/.test(address) || address.includes(':') ? address : undefined;
  } catch {
    return undefined;
  }
}

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      clearTimeout(timer);
      resolve();
    };
    // Without STUN servers gathering ends in milliseconds; with unreachable ones, send what we have.
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', done);
    pc.addEventListener('icecandidate', (ev) => {
      if (!ev.candidate) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
