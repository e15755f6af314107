/**
 * Datagrams to an app's tabs. The node listens for an app while one of its tabs listens, and
 * not after: datagrams for an app with no listening tab are then dropped as `no-listener`
 * (reliable ones are retried).
 */
import type { Message, MeshNode } from '../core/node.js';
import type { TabSession } from './host-tab.js';

export class TabListeners {
  /** The node's message listener of each app that has a listening tab. */
  private readonly byApp = new Map<string, () => void>();

  constructor(private readonly tabs: () => Iterable<TabSession>) {}

  /** A tab of `app` started or stopped listening, or went: the node listens for the app or stops. */
  update(node: MeshNode, app: string): void {
    const wanted = [...this.tabs()].some((t) => t.alive && t.listening && t.app === app);
    const off = this.byApp.get(app);
    if (wanted && !off) this.byApp.set(app, node.onMessage((msg) => this.deliver(msg), { app }));
    if (!wanted && off) {
      off();
      this.byApp.delete(app);
    }
  }

  /** To the listening tabs of exactly the app the message was sent to. */
  private deliver(msg: Message): void {
    const to = [...this.tabs()].filter((tab) => tab.alive && tab.listening && tab.app === msg.app);
    // The node is done with a delivered payload (a fresh buffer per packet), so the last tab
    // gets it transferred rather than copied; the others, if any, get copies first.
    const buffer = msg.data instanceof Uint8Array && msg.data.buffer instanceof ArrayBuffer ? msg.data.buffer : undefined;
    to.forEach((tab, i) => {
      tab.conn.post({ ev: 'message', from: msg.from, data: msg.data, port: msg.port }, i === to.length - 1 && buffer ? [buffer] : undefined);
    });
  }
}
