/** Counters of what a node did and, above all, of what it dropped and why. */
export class Counters {
  readonly drops = new Map<string, number>();
  forwarded = 0;
  delivered = 0;
  sent = 0;
  /** Responses to requests a browser tab's data plane took, sent by the node for it (services.ts answerTaken). */
  takenAnswers = 0;
  /** Unreachable answers we sent for packets we dropped as `no-route`, and those we took for our own (unreachable.ts). */
  unreachableSent = 0;
  unreachableHeard = 0;

  drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  dropped(reason: string): number {
    return this.drops.get(reason) ?? 0;
  }

  toJSON(): { forwarded: number; delivered: number; sent: number; takenAnswers: number; unreachableSent: number; unreachableHeard: number; dropped: Record<string, number> } {
    const { forwarded, delivered, sent, takenAnswers, unreachableSent, unreachableHeard } = this;
    return { forwarded, delivered, sent, takenAnswers, unreachableSent, unreachableHeard, dropped: Object.fromEntries(this.drops) };
  }
}
