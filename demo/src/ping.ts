/**
 * Ping any node by id: a request to the demo's ping port, timed in this tab. The tab API
 * reports no hop count for a reply, so the demo shows the round-trip time only. A node that
 * does not run the demo (a server, say) has no handler on that port: its ping times out.
 */
import type { Mesh } from 'meshwork/client';
import { byId, errorText, formatMs, h } from './dom.js';
import { isNodeId, nodeName, shortId } from './names.js';

export const PING_PORT = 7;
const PING_TIMEOUT_MS = 4_000;
const MAX_RESULTS = 6;

export class Pinger {
  private readonly form = byId<HTMLFormElement>('ping-form');
  private readonly input = byId<HTMLInputElement>('ping-input');
  private readonly button = byId<HTMLButtonElement>('ping-button');
  private readonly results = byId<HTMLOListElement>('ping-results');

  constructor(private readonly mesh: Mesh) {
    mesh.handle(PING_PORT, () => 'pong');
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.ping(this.input.value.trim().toLowerCase());
    });
    this.input.disabled = false;
    this.button.disabled = false;
  }

  /** Fills the field with `id` and pings it (a click on the graph). */
  pick(id: string): void {
    this.input.value = id;
    void this.ping(id);
  }

  private async ping(id: string): Promise<void> {
    if (!isNodeId(id)) {
      this.add('bad', 'A node id is 64 hexadecimal characters.');
      this.input.focus();
      return;
    }
    const who = `${nodeName(id)} (${shortId(id)})`;
    const item = this.add('pending', `Pinging ${who}…`);
    const t0 = performance.now();
    try {
      await this.mesh.request(id, 'ping', { port: PING_PORT, timeoutMs: PING_TIMEOUT_MS });
      item.className = 'ok';
      item.textContent = `${who}: ${formatMs(performance.now() - t0)} round trip`;
    } catch (err) {
      item.className = 'bad';
      const code = (err as { code?: string }).code;
      item.textContent =
        code === 'TIMEOUT'
          ? `${who}: no answer in ${PING_TIMEOUT_MS / 1000} s (nodes that do not run this demo, such as servers, do not answer pings)`
          : `${who}: ${errorText(err)}`;
    }
  }

  private add(className: string, text: string): HTMLLIElement {
    const item = h('li', { class: className }, text);
    this.results.prepend(item);
    while (this.results.children.length > MAX_RESULTS) this.results.lastElementChild?.remove();
    return item;
  }
}
