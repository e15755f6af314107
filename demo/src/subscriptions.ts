/**
 * The demo's topic subscriptions, renewed when this node's links change.
 *
 * Why: the node sends a subscription toward the topic's rendezvous once, when the tab
 * subscribes, and then only on its periodic refresh (every 20 s). A tab subscribes right after
 * connect(), before the node has any link, so without a renewal the first chat messages after
 * a join can miss it for up to 20 s; the same happens when a newcomer becomes the rendezvous.
 * Subscribing again makes the node send its subscription at once, over its current links.
 * Remove this once the node re-sends subscriptions on link changes itself.
 */
import type { Mesh, TopicMessage } from 'meshwork/client';

export class Subscriptions {
  private readonly fns = new Map<string, (m: TopicMessage) => void>();
  private readonly offs = new Map<string, () => void>();
  private linkKey = '';
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly mesh: Mesh) {}

  add(topic: string, fn: (m: TopicMessage) => void): void {
    this.fns.set(topic, fn);
    this.offs.set(topic, this.mesh.subscribe(topic, fn));
  }

  /** Call with every status: renews (debounced) when the set of linked ids changed. */
  linksAre(ids: string[]): void {
    const key = [...ids].sort().join();
    if (key === this.linkKey) return;
    this.linkKey = key;
    if (ids.length === 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.renew(), 300);
  }

  private renew(): void {
    // Off then on: the last listener going makes the tab unsubscribe, the new one subscribe
    // again, and the node sends a fresh subscription upstream. Both calls go out in order.
    for (const [topic, fn] of this.fns) {
      this.offs.get(topic)?.();
      this.offs.set(topic, this.mesh.subscribe(topic, fn));
    }
  }
}
