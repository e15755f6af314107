/**
 * Publish/subscribe state of one node. Subscriptions travel hop by hop toward the node closest
 * to the topic's hash (the rendezvous); every node on the way remembers who subscribed through
 * it (its children) and subscribes upward in turn, unless it already has. Publications go to
 * the rendezvous and then down that tree, so no publication ever floods the network.
 */
import { toHex, utf8 } from './bytes.js';
import { hashToId, type NodeId } from './id.js';

export interface TopicState {
  topic: NodeId;
  name: string;
  /** Child node id -> when its subscription lapses (clock ms). */
  children: Map<string, number>;
  local: Set<(m: { from: string; data: string | Uint8Array; topic: string }) => void>;
  /** When we last subscribed upward. */
  lastUpstream: number;
}

export function topicId(name: string): NodeId {
  return hashToId(utf8(`meshwork/1 topic ${name}`));
}

export class TopicTree {
  private topics = new Map<string, TopicState>();

  get(topicHex: string): TopicState | undefined {
    return this.topics.get(topicHex);
  }

  ensure(topic: NodeId, name: string): TopicState {
    const key = toHex(topic);
    let t = this.topics.get(key);
    if (!t) this.topics.set(key, (t = { topic, name, children: new Map(), local: new Set(), lastUpstream: -Infinity }));
    if (!t.name && name) t.name = name;
    return t;
  }

  /** Drops lapsed children and topics nobody needs any more. */
  expire(now: number): void {
    for (const [key, t] of this.topics) {
      for (const [child, until] of t.children) if (until <= now) t.children.delete(child);
      if (t.children.size === 0 && t.local.size === 0) this.topics.delete(key);
    }
  }

  all(): IterableIterator<TopicState> {
    return this.topics.values();
  }
}
