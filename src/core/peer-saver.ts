/**
 * Peer memory across restarts: restored from the node's PeerStore at start, and written back
 * a while after it changed (saveDelayMs), so a burst of learning (a lookup's referrals, a
 * round of handshakes) costs one write rather than one per peer. A node without a store keeps
 * its memory for its life only.
 */
import type { Clock, TimerHandle } from './clock.js';
import type { PeerInfo } from './codec.js';
import type { PeerMemory, PeerRecord, PeerStore } from './peer-memory.js';

/** What the saver needs of its node. */
export interface PeerSaverHost {
  memory: PeerMemory;
  store?: PeerStore;
  clock: Clock;
  /** Wall-clock time: records keep when they were last seen across restarts. */
  wall: () => number;
  saveDelayMs: number;
  isStopped: () => boolean;
  /** A peer new to memory (the node's 'peer-learned' event). */
  learned: (id: string) => void;
}

export class PeerSaver {
  private timer?: TimerHandle;

  constructor(private readonly h: PeerSaverHost) {}

  /** Loads what the store kept (nothing without a store). */
  async restore(): Promise<void> {
    if (!this.h.store) return;
    const stored = await this.h.store.load();
    this.h.memory.restore(stored);
  }

  /** Remembers a peer; a new one is announced and saved soon. */
  learn(info: PeerInfo): PeerRecord | undefined {
    const { memory } = this.h;
    const known = memory.size;
    const rec = memory.learn(info, this.h.wall());
    if (rec && memory.size > known) {
      this.h.learned(rec.id);
      this.scheduleSave();
    }
    return rec;
  }

  /** Saves once the delay has passed; calls meanwhile join that one save. */
  scheduleSave(): void {
    if (!this.h.store || this.timer || this.h.isStopped()) return;
    this.timer = this.h.clock.setTimeout(() => {
      this.timer = undefined;
      void this.save();
    }, this.h.saveDelayMs);
  }

  /** Writes peer memory to the store now (if it changed). */
  async save(): Promise<void> {
    const { memory, store } = this.h;
    if (!store || !memory.dirty) return;
    memory.dirty = false;
    await store.save(memory.toStored());
  }

  /** The node stops: no save is left waiting (stop() saves once itself). */
  cancel(): void {
    this.timer?.cancel();
  }
}
