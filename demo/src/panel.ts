/** The side panel: join progress, this node, its links. Pure rendering from a status snapshot. */
import type { BrowserStatus } from 'meshwork/client';
import { byId, formatMs, h } from './dom.js';
import { nodeColour, nodeName, shortId } from './names.js';

export type Stage = 'connecting' | 'started' | 'linked' | 'failed';

/** connecting → linked → N peers, as a three-step list; `peers` counts the other nodes in view. */
export function renderProgress(stage: Stage, peers: number, detail = ''): void {
  const steps = byId<HTMLOListElement>('progress').children;
  const states: string[] =
    stage === 'failed' ? ['failed', 'todo', 'todo']
    : stage === 'connecting' ? ['active', 'todo', 'todo']
    : stage === 'started' ? ['done', 'active', 'todo']
    : peers > 0 ? ['done', 'done', 'done']
    : ['done', 'done', 'active'];
  const labels = [
    stage === 'connecting' ? 'Connecting…' : stage === 'failed' ? 'Could not start' : 'Node started',
    stage === 'linked' ? 'Linked' : stage === 'started' ? 'Linking…' : 'Linked',
    stage === 'linked' ? `${peers} ${peers === 1 ? 'peer' : 'peers'}` : 'Peers',
  ];
  for (let i = 0; i < 3; i++) {
    const li = steps[i] as HTMLElement;
    li.dataset.state = states[i]!;
    li.querySelector('.step-label')!.textContent = labels[i]!;
    if (states[i] === 'active') li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
  byId('progress-detail').textContent = detail;
}

export function renderSelf(id: string, host: string): void {
  const name = nodeName(id);
  byId('self-name').textContent = name;
  byId('self-swatch').style.background = nodeColour(id);
  byId('node-id').textContent = id;
  byId('self-host').textContent = host === 'shared-worker' ? 'a SharedWorker' : 'a leader tab';
  document.title = `${name} · Meshwork demo`;
  const copy = byId<HTMLButtonElement>('copy-id');
  copy.disabled = false;
  copy.onclick = () => {
    navigator.clipboard.writeText(id).then(
      () => flash(copy, 'Copied'),
      () => flash(copy, 'Select and copy'),
    );
  };
}

export function renderStatus(s: BrowserStatus, onPing: (id: string) => void): void {
  byId('self-tabs').textContent = `${s.tabs} ${s.tabs === 1 ? 'tab' : 'tabs'}`;
  byId('known-peers').textContent = String(s.knownPeers);
  byId('link-count').textContent = String(s.links.length);
  const body = byId<HTMLTableSectionElement>('links-body');
  const rows = [...s.links]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((l) => {
      const tr = h('tr');
      const nameCell = h('td');
      const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
      swatch.style.background = nodeColour(l.id);
      nameCell.append(swatch, h('span', {}, nodeName(l.id)), h('code', { class: 'muted' }, ` ${shortId(l.id)}`));
      const ping = h('button', { type: 'button', class: 'small', 'aria-label': `Ping ${nodeName(l.id)}` }, 'Ping');
      ping.addEventListener('click', () => onPing(l.id));
      const action = h('td');
      action.append(ping);
      tr.append(nameCell, h('td', {}, transportLabel(l)), l.rttMs === null ? h('td', { class: 'num muted', title: 'measured by the first keepalive, within 15 s' }, '…') : h('td', { class: 'num' }, formatMs(l.rttMs)), action);
      return tr;
    });
  // Rebuild only when something visible changed, so a focused Ping button keeps its focus.
  const key = s.links.map((l) => `${l.id}${transportLabel(l)}${formatMs(l.rttMs)}`).sort().join();
  if (body.dataset.key === key) return;
  const focused = document.activeElement?.getAttribute('aria-label');
  body.dataset.key = key;
  body.replaceChildren(...rows);
  byId('links-empty').hidden = rows.length > 0;
  if (focused) body.querySelector<HTMLButtonElement>(`button[aria-label="${CSS.escape(focused)}"]`)?.focus();
}

function flash(button: HTMLButtonElement, text: string): void {
  const old = button.dataset.label ?? button.textContent ?? '';
  button.dataset.label = old;
  button.textContent = text;
  setTimeout(() => (button.textContent = old), 1500);
}

/** WebRTC links say whether they go direct or through a TURN relay (known once ICE has chosen). */
function transportLabel(l: { transport: string; via?: 'direct' | 'turn' }): string {
  if (l.transport === 'websocket') return 'WebSocket';
  if (l.transport !== 'webrtc') return l.transport;
  return l.via === 'turn' ? 'WebRTC via TURN' : l.via === 'direct' ? 'WebRTC direct' : 'WebRTC';
}
