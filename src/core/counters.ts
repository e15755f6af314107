/** Counters of what a node did and, above all, of what it dropped and why. */
export class Counters {
  readonly drops = new Map<string, number>();
  forwarded = 0;
  delivered = 0;
  sent = 0;

  drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  dropped(reason: string): number {
    return this.drops.get(reason) ?? 0;
  }

  toJSON(): { forwarded: number; delivered: number; sent: number; dropped: Record<string, number> } {
    return { forwarded: this.forwarded, delivered: this.delivered, sent: this.sent, dropped: Object.fromEntries(this.drops) };
  }
}
