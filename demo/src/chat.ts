/**
 * The chat room: one pub/sub topic. A message carries a random nonce so the tab that sent it
 * can skip its own copy when the publication comes back, while other tabs of the same browser
 * (same node id) still show it.
 */
import type { Mesh } from 'meshwork/client';
import type { Subscriptions } from './subscriptions.js';
import { byId, errorText, h } from './dom.js';
import { nodeColour, nodeName } from './names.js';

export const CHAT_TOPIC = 'chat';
const MAX_TEXT = 500;
const MAX_SHOWN = 200;

interface ChatMessage {
  v: 1;
  nonce: string;
  text: string;
}

export class Chat {
  private readonly sent = new Set<string>();
  private readonly log = byId<HTMLOListElement>('chat-log');
  private readonly form = byId<HTMLFormElement>('chat-form');
  private readonly input = byId<HTMLInputElement>('chat-input');
  private readonly note = byId<HTMLParagraphElement>('chat-note');

  constructor(
    private readonly mesh: Mesh,
    subscriptions: Subscriptions,
  ) {
    subscriptions.add(CHAT_TOPIC, (m) => {
      const msg = decode(m.data);
      if (msg && !this.sent.delete(msg.nonce)) this.show(m.from, msg.text);
    });
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.post();
    });
    this.input.disabled = false;
    byId<HTMLButtonElement>('chat-send').disabled = false;
  }

  private async post(): Promise<void> {
    const text = this.input.value.trim().slice(0, MAX_TEXT);
    if (!text) return;
    const msg: ChatMessage = { v: 1, nonce: crypto.randomUUID(), text };
    this.sent.add(msg.nonce);
    this.input.value = '';
    this.show(this.mesh.id, text);
    this.note.textContent = '';
    try {
      await this.mesh.publish(CHAT_TOPIC, JSON.stringify(msg));
    } catch (err) {
      this.sent.delete(msg.nonce);
      this.note.textContent = `Not sent: ${errorText(err)}`;
    }
  }

  private show(from: string, text: string): void {
    const mine = from === this.mesh.id;
    const item = h('li', { class: mine ? 'mine' : '' });
    const who = h('span', { class: 'who' }, mine ? `${nodeName(from)} (you)` : nodeName(from));
    who.style.setProperty('--node-colour', nodeColour(from));
    const time = h('time', { datetime: new Date().toISOString() }, new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    item.append(who, time, h('p', {}, text));
    this.log.append(item);
    while (this.log.children.length > MAX_SHOWN) this.log.firstElementChild?.remove();
    this.log.parentElement?.scrollTo({ top: this.log.parentElement.scrollHeight });
    byId('chat-empty').hidden = true;
  }
}

function decode(data: unknown): ChatMessage | undefined {
  if (typeof data !== 'string' || data.length > 4 * MAX_TEXT) return undefined;
  try {
    const v = JSON.parse(data) as Partial<ChatMessage>;
    if (v.v !== 1 || typeof v.nonce !== 'string' || typeof v.text !== 'string' || !v.text.trim()) return undefined;
    return { v: 1, nonce: v.nonce.slice(0, 64), text: v.text.slice(0, MAX_TEXT) };
  } catch {
    return undefined;
  }
}
