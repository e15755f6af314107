/**
 * Frames the data plane claimed from a link (fast-path.ts `take`) and has not taken yet: being
 * opened (AES-GCM, a few at a time), or waiting behind the frames claimed before them. Once the
 * node hears nothing of a claimed frame, so a tab that parks or closes with some in that state
 * would lose them: a request its peer then waits out to its TIMEOUT, a datagram gone. Instead
 * the tab gives them back as its links close (`release`, from RtcHost.closeAll), on each link's
 * own port ahead of its close, and the node takes them as it would had the tab never claimed
 * them: it opens and checks each itself, since a frame is only bytes from the peer, and runs or
 * delivers it with its own handlers and listeners (docs/DATA-PLANE.md, "Answers that lost their
 * way"). A frame given back is never taken here too.
 */

/** One claimed frame, until it is taken here or given back to the node. */
export interface Claim {
  key: string;
  frame: Uint8Array;
}

export class ClaimedFrames {
  private readonly waiting = new Set<Claim>();

  /** A frame claimed from link `key`, taken later (after its opening, or the frames before it). */
  hold(key: string, frame: Uint8Array): Claim {
    const c = { key, frame };
    this.waiting.add(c);
    return c;
  }

  /** Its turn came: true when it is still this tab's to take (not given back meanwhile). */
  take(c: Claim): boolean {
    return this.waiting.delete(c);
  }

  /**
   * Gives every frame not taken yet back to the node, in the order they were claimed: each as a
   * copy, since its opening may still read the original (the node's port moves what it sends).
   * Returns how many.
   */
  release(toNode: (key: string, frame: Uint8Array) => void): number {
    const all = [...this.waiting];
    this.waiting.clear();
    for (const c of all) toNode(c.key, c.frame.slice());
    return all.length;
  }
}

/**
 * The data plane's inbound chain (fast-path.ts `take`): claimed frames are taken one after
 * another in the order they came, each once opened, unless given back to the node meanwhile.
 * While the chain is empty (`idle`), a clear frame (a bound link) is taken in the turn it comes,
 * with no promise in between (our own are written so too: outbound-queue.ts): the order stays,
 * and a round trip spends fewer microseconds in the tab (docs/DATA-PLANE.md, "On a bound channel").
 */
export class InboundChain {
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private readonly claimed = new ClaimedFrames();

  /** `failed`: a frame's taking threw (counted by the data plane). */
  constructor(private readonly failed: () => void) {}

  /** No frame waits on the chain. */
  get idle(): boolean {
    return this.queued === 0;
  }

  /**
   * `fn` after the frames claimed before it, once `opened` settles; unless it was given back to
   * the node meanwhile (`release`, for `giveBack`: all but a stream's segments, which the tab's
   * streams answer for: they end with the link).
   */
  after<T>(opened: Promise<T>, fn: (plain: T) => void, giveBack?: Claim): void {
    const claim = giveBack && this.claimed.hold(giveBack.key, giveBack.frame);
    this.queued++;
    this.chain = this.chain
      .then(() => opened)
      .then((plain) => void ((claim === undefined || this.claimed.take(claim)) && fn(plain)))
      .catch(() => this.failed())
      .finally(() => this.queued--);
  }

  /** The links close: every frame claimed and not taken goes to the node (ClaimedFrames.release). Returns how many. */
  release(toNode: (key: string, frame: Uint8Array) => void): number {
    return this.claimed.release(toNode);
  }
}
