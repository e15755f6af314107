/**
 * The Meshwork demo: one page, built on the public tab API only. It joins the mesh, shows this
 * node and its links, draws the mesh as far as the demo pages can see it, and offers a chat
 * room (pub/sub), a ping (request/response) and a file drop (a stream).
 */
import { connect, type BrowserStatus, type Mesh } from 'meshwork/client';
import { Chat } from './chat.js';
import { FileDrop } from './files.js';
import { byId, errorText } from './dom.js';
import { MeshGraph, type GraphModel, type NodeKind } from './graph.js';
import { renderProgress, renderSelf, renderStatus } from './panel.js';
import { Pinger } from './ping.js';
import { Subscriptions } from './subscriptions.js';
import { decodeSummary, encodeSummary, PUBLISH_EVERY_MS, TOPOLOGY_TOPIC, TopologyBook } from './topology.js';

/**
 * The demo's app name: its ports and topics stay apart from other apps on the same origin. It is
 * a `shared:` name so that demo pages opened on other origins through a hub (`?hub=`) join the
 * same chat and graph as the pages of the hub's own origin.
 */
const APP = 'shared:meshwork-demo';
/** `?hub=https://mesh.example/meshwork/hub.html`: share that origin's node from this page's origin. */
const HUB = new URLSearchParams(location.search).get('hub') ?? undefined;
const STATUS_EVERY_MS = 1_000;

/** The proof of work the server (or the hub's server) asks of every key; 0 when its status does not say. */
async function serverPowBits(): Promise<number> {
  try {
    const status = (await (await fetch(new URL('/meshwork/status', HUB ?? location.href), { cache: 'no-store' })).json()) as { powBits?: unknown };
    return typeof status.powBits === 'number' ? status.powBits : 0;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  renderProgress('connecting', 0, 'Starting this browser’s mesh node and dialling the server…');
  let mesh: Mesh;
  try {
    const powBits = await serverPowBits();
    mesh = await connect({
      app: APP,
      hub: HUB,
      powBits,
      // A new identity with proof of work takes about 2^powBits key generations: allow for it.
      timeoutMs: 15_000 + 2 ** powBits,
      onWork: (p) =>
        renderProgress('connecting', 0, p.done
          ? `Identity made: ${p.tried.toLocaleString()} keys tried in ${(p.ms / 1000).toFixed(1)} s. Dialling the server…`
          : `Making this browser’s identity with the proof of work the server asks (${p.bits} bits): ${p.tried.toLocaleString()} keys tried, about ${p.expected.toLocaleString()} expected…`),
    });
  } catch (err) {
    renderProgress('failed', 0, `The mesh node did not start: ${errorText(err)}. Is the browser bundle built (npm run build)?`);
    return;
  }
  renderSelf(mesh.id, mesh.host);
  if (HUB) {
    void mesh.status().then(({ hub }) => {
      if (hub) byId('self-host').textContent = `the SharedWorker of ${new URL(hub.url).origin}, through its hub (${hub.mode === 'shared' ? 'one node for every site' : 'one node per site'})`;
    });
  }
  renderProgress('started', 0, 'Node started. Waiting for a first link…');

  const pinger = new Pinger(mesh);
  const files = new FileDrop(mesh);
  const pick = (id: string) => {
    files.pick(id);
    pinger.pick(id);
  };
  const subscriptions = new Subscriptions(mesh);
  new Chat(mesh, subscriptions);
  const book = new TopologyBook();
  const graph = new MeshGraph(document.querySelector<SVGSVGElement>('svg#graph')!, pick);
  let last: BrowserStatus | undefined;

  const redraw = () => {
    if (!last) return;
    const model = graphModel(mesh.id, last, book);
    graph.update(model);
    const others = model.nodes.length - 1;
    byId('graph-count').textContent = `${model.nodes.length} ${model.nodes.length === 1 ? 'node' : 'nodes'}, ${model.edges.length} ${model.edges.length === 1 ? 'link' : 'links'}`;
    if (last.links.length === 0) renderProgress('started', others, 'No links right now: reconnecting…');
    else renderProgress('linked', others, others > 1 ? '' : 'Open this page in another browser or a private window to add a node.');
  };

  subscriptions.add(TOPOLOGY_TOPIC, (m) => {
    const s = decodeSummary(m.from, m.data);
    if (!s || s.id === mesh.id) return;
    book.put(s, Date.now());
    redraw();
  });

  const publishSummary = () => {
    if (!last || last.links.length === 0) return;
    mesh.publish(TOPOLOGY_TOPIC, encodeSummary(mesh.id, last.links.map((l) => l.id))).catch(() => undefined);
  };

  const poll = async () => {
    try {
      const s = await mesh.status();
      const firstLinks = (last?.links.length ?? 0) === 0 && s.links.length > 0;
      last = s;
      subscriptions.linksAre(s.links.map((l) => l.id));
      renderStatus(s, pick);
      book.expire(Date.now());
      redraw();
      if (firstLinks) publishSummary();
    } catch {
      // The node host may be restarting (a leader tab handing over): the next poll tries again.
    }
  };
  await poll();
  setInterval(() => void poll(), STATUS_EVERY_MS);
  // A little jitter, so tabs opened together do not publish in lockstep.
  setInterval(publishSummary, PUBLISH_EVERY_MS + Math.floor(Math.random() * 500));
}

/** This node's own links, plus every link other demo pages reported: the multi-hop picture. */
function graphModel(self: string, status: BrowserStatus, book: TopologyBook): GraphModel {
  const kinds = new Map<string, NodeKind>([[self, 'self']]);
  const edges = new Map<string, { a: string; b: string; direct: boolean }>();
  const addEdge = (a: string, b: string, direct: boolean) => {
    if (a === b) return;
    const [x, y] = a < b ? [a, b] : [b, a];
    const key = `${x}|${y}`;
    const old = edges.get(key);
    edges.set(key, { a: x, b: y, direct: direct || (old?.direct ?? false) });
  };
  const addNode = (id: string) => {
    if (!kinds.has(id)) kinds.set(id, book.has(id) ? 'demo' : 'other');
  };
  for (const l of status.links) {
    addNode(l.id);
    addEdge(self, l.id, true);
  }
  for (const [id, entry] of book) {
    addNode(id);
    for (const other of entry.links) {
      addNode(other);
      addEdge(id, other, false);
    }
  }
  return {
    nodes: [...kinds].map(([id, kind]) => ({ id, kind })).sort((a, b) => a.id.localeCompare(b.id)),
    edges: [...edges.values()].sort((p, q) => (p.a + p.b).localeCompare(q.a + q.b)),
  };
}

void main();
