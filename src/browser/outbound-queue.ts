/**
 * The data plane's packets out (docs/DATA-PLANE.md, "Outbound" and "On a bound channel"): each of
 * the tab's packets to a granted peer is numbered in call order, sealed where its channel is not
 * bound (a few at a time), and written in call order: on the DataChannel when this tab hosts the
 * link, else posted to the tab that does over their relay channel. While nothing of ours waits, a
 * clear packet goes on the channel in the call that sends it, with no promise in between.
 */
import { DEFAULT_HOP_LIMIT } from '../core/limits.js';
import { writePlainPacket } from '../core/sealed-frame.js';
import type { FrameBuffers } from './frame-pool.js';
import type { GrantCrypto } from './grant-crypto.js';
import type { FrameRoute } from './relay-messages.js';
import type { RtcHost } from './rtc-host.js';
import type { Grant } from './tab-grant.js';
import type { TabRelays } from './tab-relay.js';


export interface OutboundHost {
  rtc: RtcHost;
  relays: TabRelays<Grant>;
  crypto: GrantCrypto;
  buffers: FrameBuffers;
  /** Counted here: packets written in the clear, and those another tab wrote for us. */
  stats: { clear: number; viaTab: number };
  /** After each packet: whether it left (false: the link is gone); what it returns, `queue` resolves with. */
  written(g: Grant, sent: boolean): boolean;
}

export class OutboundQueue {
  private chain: Promise<unknown> = Promise.resolve();
  /** Packets on the chain: while none is, a clear packet is written in the turn it is sent. */
  private queued = 0;

  constructor(private readonly host: OutboundHost) {}

  /**
   * Writes one packet of ours, after those queued before it: in the clear on a bound channel,
   * else sealed. Resolves as `written` says (false: the link is gone). `plaintext` may be a view
   * of the payload scratch buffer: it is used, or copied, before this returns.
   */
  queue(g: Grant, kind: number, plaintext: Uint8Array, route?: FrameRoute): Promise<boolean> {
    const sent = this.put(g, kind, plaintext, route);
    return typeof sent === 'boolean' ? Promise.resolve(sent) : sent;
  }

  /**
   * `queue`, but a packet written on the channel in this turn gives `written`'s answer at once,
   * not a promise of it: the request and answer paths then settle with no promise after `send()`,
   * which in Firefox delays the packet itself (docs/BENCHMARKS.md, "Firefox: what the tab allocates").
   */
  put(g: Grant, kind: number, plaintext: Uint8Array, route?: FrameRoute): boolean | Promise<boolean> {
    const { host } = this;
    // The id in call order, the sealing as soon as a crypto slot is free, the writing in call order.
    // (The packet's object made once: no spread of a head per packet.)
    let frame: Promise<Uint8Array>;
    if (g.bound) {
      host.stats.clear++;
      const p = { src: g.selfId, dst: g.peerId, hops: DEFAULT_HOP_LIMIT, id: g.seq.next(), kind, payload: plaintext };
      // Nothing of ours waits and this tab hosts the link: on the channel now, written in the
      // scratch buffer, which send() copies (undefined: the channel is full).
      if (this.queued === 0 && g.via === undefined) {
        const now = host.rtc.sendNow(g.key, writePlainPacket(p, host.buffers.now));
        if (now !== undefined) return host.written(g, now);
      }
      // It waits: a frame of its own, in a pooled buffer given back once written (write()); or it
      // moves to the host tab, whole.
      frame = Promise.resolve(writePlainPacket(p, g.via === undefined ? host.buffers.waiting : undefined));
    } else frame = host.crypto.seal(g.sealing!, { src: g.selfId, dst: g.peerId, hops: DEFAULT_HOP_LIMIT, id: g.seq.next(), kind }, plaintext.slice());
    this.queued++;
    const run = this.chain.then(async () => this.write(g, await frame, route));
    this.chain = run.catch(() => undefined).finally(() => this.queued--);
    return run.then(({ sent }) => sent).then((sent) => host.written(g, sent));
  }

  /**
   * Writes a frame: on the DataChannel when this tab hosts the link (the next frame waits for
   * it), else posted to the tab that does (the next frame waits only for the relay's window;
   * `sent` settles with that tab's ack).
   */
  private async write(g: Grant, frame: Uint8Array, route?: FrameRoute): Promise<{ sent: Promise<boolean> }> {
    const { host } = this;
    if (g.via === undefined) {
      const sent = await host.rtc.sendOwn(g.key, frame);
      // send() copied it (or the link is gone): nothing holds the frame any more.
      if (g.bound) host.buffers.give(frame);
      return { sent: Promise.resolve(sent) };
    }
    const posted = await host.relays.post(g.via, g.key, frame, route);
    return {
      sent: posted.sent.then((ok) => {
        if (ok) host.stats.viaTab++;
        return ok;
      }),
    };
  }
}
