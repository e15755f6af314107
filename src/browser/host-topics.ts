/**
 * Publications to an app's tabs: the node subscribes to a topic of an app while one of its tabs
 * does, and passes each publication to every such tab that is alive.
 */
import type { MeshNode } from '../core/node.js';
import { appKey, type TabSession } from './host-tab.js';

export class TabTopics {
  /** Keyed by app and topic (appKey). */
  private readonly byTopic = new Map<string, { tabs: Set<TabSession>; off: () => void }>();

  add(node: MeshNode, tab: TabSession, topic: string): void {
    const key = appKey(tab.app, topic);
    let entry = this.byTopic.get(key);
    if (!entry) {
      const tabs = new Set<TabSession>();
      const off = node.subscribe(
        topic,
        (m) => {
          for (const t of tabs) if (t.alive) t.conn.post({ ev: 'topic', topic: m.topic, from: m.from, data: m.data });
        },
        { app: tab.app },
      );
      entry = { tabs, off };
      this.byTopic.set(key, entry);
    }
    entry.tabs.add(tab);
  }

  remove(tab: TabSession, topic: string): void {
    this.removeKey(tab, appKey(tab.app, topic));
  }

  /** The tab is gone: its subscriptions go, and the node's with the last tab of each. */
  removeTab(tab: TabSession): void {
    for (const key of [...this.byTopic.keys()]) this.removeKey(tab, key);
  }

  private removeKey(tab: TabSession, key: string): void {
    const entry = this.byTopic.get(key);
    if (!entry) return;
    entry.tabs.delete(tab);
    if (entry.tabs.size === 0) {
      entry.off();
      this.byTopic.delete(key);
    }
  }
}
