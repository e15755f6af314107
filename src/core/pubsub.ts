/**
 * Publish/subscribe: a topic's rendezvous is the node closest to the hash of its name.
 * Subscriptions travel hop by hop toward it, and each hop remembers who subscribed through it,
 * so the subscribers form a tree rooted at the rendezvous. A publication is routed to the
 * rendezvous and handed down the tree, wrapped whole so every subscriber can check the
 * publisher's signature. Nothing is flooded: a node that no subscriber's path crosses never
 * sees the topic.
 */
import { encodeFrame, type PacketFrame } from './codec.js';
import { toHex } from './bytes.js';
import type { Clock, TimerHandle } from './clock.js';
import { RecentSet } from './dedupe.js';
import { appTopic, localTopic } from './app-namespace.js';
import { MeshError } from './errors.js';
import { idFromText, type NodeId } from './id.js';
import type { Identity } from './identity.js';
import { DEFAULT_HOP_LIMIT } from './limits.js';
import { checkData, safeCall } from './node-checks.js';
import type { TopicMessage } from './node-types.js';
import { createPacket, PacketKind } from './packets.js';
import { type AppData, Payload } from './payloads.js';
import type { RoutingTable } from './routing-table.js';
import { topicId, TopicTree } from './topic-tree.js';

/** Publications remembered per node to drop a second copy. */
const PUBLISH_DEDUPE = 4096;

/** What pub/sub needs of its node. */
export interface PubSubHost {
  identity: Identity;
  clock: Clock;
  table: RoutingTable;
  /** How often subscriptions are renewed; a child not heard from for three periods is dropped. */
  subscribeRefreshMs: number;
  /** Runs a task on the node's actor. */
  run<T>(task: () => T | Promise<T>): Promise<T>;
  /** Signs and routes a packet of ours (call inside the actor). */
  originate(dst: NodeId, kind: number, payload: Uint8Array): Promise<void>;
  nextPacketId(): number;
  drop(reason: string): void;
}

export class PubSub {
  private readonly topics = new TopicTree();
  private readonly seen = new RecentSet(PUBLISH_DEDUPE);
  private resubscribeQueued = false;
  /** Renewals run on a timer only while there is a topic: a node with none sets no timer. */
  private refreshTimer?: TimerHandle;
  private stopped = false;

  constructor(private readonly host: PubSubHost) {}

  stop(): void {
    this.stopped = true;
    this.refreshTimer?.cancel();
  }

  get topicCount(): number {
    return [...this.topics.all()].length;
  }

  /** Receives every publication on `topic` from now on. Returns an unsubscribe function. */
  subscribe(topic: string, fn: (m: TopicMessage) => void, app = ''): () => void {
    checkTopic(topic);
    const wire = appTopic(app, topic);
    checkTopic(wire);
    const t = this.topics.ensure(topicId(wire), wire);
    // Told in the app's own terms: its topic name, and which app.
    const local = (m: Omit<TopicMessage, 'app'>) => fn({ ...m, topic: localTopic(app, m.topic), app });
    t.local.add(local);
    this.armRefresh();
    void this.host.run(() => this.subscribeUpstream(t.topic, true));
    return () => void t.local.delete(local);
  }

  /** Publishes to every subscriber of `topic`. */
  publish(topic: string, data: AppData, app = ''): Promise<void> {
    checkTopic(topic);
    const wire = appTopic(app, topic);
    checkTopic(wire);
    checkData(data);
    const tid = topicId(wire);
    return this.host.run(() => this.host.originate(tid, PacketKind.Publish, Payload.publish.encode({ topic: tid, name: wire, data })));
  }

  /** Forgets children whose subscriptions lapsed (inside the actor). */
  expire(): void {
    this.topics.expire(this.host.clock.now());
  }

  /**
   * A new link may be a better way toward a topic's rendezvous (or the first way at all, for a
   * node that subscribed before it had links): renew subscriptions shortly after links come up.
   */
  resubscribeSoon(): void {
    if (this.resubscribeQueued || this.topicCount === 0) return;
    this.resubscribeQueued = true;
    this.host.clock.setTimeout(() => void this.host.run(async () => ((this.resubscribeQueued = false), await this.refresh())), 200);
  }

  /** Renews every subscription toward its rendezvous (inside the actor). */
  async refresh(): Promise<void> {
    this.expire();
    for (const t of [...this.topics.all()]) await this.subscribeUpstream(t.topic, true);
  }

  /** Renews (and expires) every subscribeRefreshMs while any topic is left. */
  private armRefresh(): void {
    if (this.refreshTimer || this.stopped) return;
    this.refreshTimer = this.host.clock.setTimeout(
      () =>
        void this.host.run(async () => {
          this.refreshTimer = undefined;
          // Re-armed even when a renewal throws: a timer that stopped would let every
          // subscription through this node lapse at its parent, silently and for good.
          try {
            await this.refresh();
          } finally {
            if (this.topicCount > 0) this.armRefresh();
          }
        }),
      this.host.subscribeRefreshMs,
    );
  }

  /** A subscription that came through us (inside the actor): remember the child, pass it on. */
  async onSubscribe(src: string, p: PacketFrame): Promise<void> {
    const s = Payload.subscribe.decode(p.payload);
    if (!s) return this.host.drop('bad-payload');
    const t = this.topics.ensure(s.topic, '');
    const isNew = t.children.size === 0 && t.local.size === 0;
    t.children.set(src, this.host.clock.now() + 3 * this.host.subscribeRefreshMs);
    this.armRefresh();
    await this.subscribeUpstream(s.topic, isNew);
  }

  /** A publication that reached its rendezvous, us (inside the actor). */
  async onPublish(p: PacketFrame): Promise<void> {
    const d = Payload.publish.decode(p.payload);
    if (!d || toHex(d.topic) !== toHex(p.dst)) return this.host.drop('bad-payload');
    await this.fanOut(p);
  }

  /** Delivers a verified publication here and hands it to every child in the tree. */
  async fanOut(p: PacketFrame): Promise<void> {
    if (!this.seen.add(`${toHex(p.src)}:${p.id}`)) return this.host.drop('duplicate-publication');
    const d = Payload.publish.decode(p.payload);
    if (!d) return this.host.drop('bad-payload');
    const t = this.topics.get(toHex(d.topic));
    if (!t) return;
    const m: Omit<TopicMessage, 'app'> = { from: toHex(p.src), data: d.data, topic: d.name };
    for (const fn of t.local) safeCall(() => fn(m));
    const inner = encodeFrame(p);
    for (const child of t.children.keys()) {
      // The publisher is not skipped: it may be the parent of other subscribers (its own
      // subscription, or one relayed through it), and it fans the publication out in turn.
      await this.host.originate(idFromText(child), PacketKind.PublishDown, Payload.publishDown.encode({ inner })).catch(() => this.host.drop('publication-unroutable'));
    }
  }

  private async subscribeUpstream(topic: NodeId, force: boolean): Promise<void> {
    const t = this.topics.get(toHex(topic));
    if (!t) return;
    const now = this.host.clock.now();
    if (!force && now - t.lastUpstream < this.host.subscribeRefreshMs / 2) return;
    const next = this.host.table.nextHop(topic);
    if (!next) return; // we are the rendezvous
    t.lastUpstream = now;
    const packet = await createPacket(this.host.identity, topic, PacketKind.Subscribe, Payload.subscribe.encode({ topic }), this.host.nextPacketId(), DEFAULT_HOP_LIMIT);
    if (next.state === 'open') next.sendFrame(packet);
  }
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > 256) throw MeshError.invalid('a topic is a string of 1 to 256 characters');
}
