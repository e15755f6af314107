/**
 * The live mesh graph: an SVG drawn by hand and laid out by d3-force. Node positions survive
 * updates (the simulation keeps its node objects by id), so the picture moves only where the
 * mesh changed. Every node is a keyboard-focusable button: Enter or Space picks it.
 */
import { forceCenter, forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type Simulation, type SimulationLinkDatum, type SimulationNodeDatum } from 'd3-force';
import { nodeColour, nodeName, shortId } from './names.js';

export type NodeKind = 'self' | 'demo' | 'other';

export interface GraphModel {
  nodes: { id: string; kind: NodeKind }[];
  /** Undirected; `direct` marks this node's own links, the rest were learned from summaries. */
  edges: { a: string; b: string; direct: boolean }[];
}

interface SimNode extends SimulationNodeDatum {
  id: string;
  kind: NodeKind;
  el?: SVGGElement;
}

interface SimEdge extends SimulationLinkDatum<SimNode> {
  key: string;
  direct: boolean;
  el?: SVGLineElement;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const PAD = 22;

export class MeshGraph {
  private readonly nodes = new Map<string, SimNode>();
  private edges: SimEdge[] = [];
  private readonly edgeLayer: SVGGElement;
  private readonly nodeLayer: SVGGElement;
  private readonly sim: Simulation<SimNode, SimEdge>;
  private width = 600;
  private height = 400;
  private signature = '';
  private readonly still = matchMedia('(prefers-reduced-motion: reduce)').matches;

  constructor(
    private readonly svg: SVGSVGElement,
    private readonly onPick: (id: string) => void,
  ) {
    this.edgeLayer = svgEl('g', { class: 'edges' });
    this.nodeLayer = svgEl('g', { class: 'nodes' });
    svg.append(this.edgeLayer, this.nodeLayer);
    this.sim = forceSimulation<SimNode, SimEdge>()
      .force('link', forceLink<SimNode, SimEdge>().id((n) => n.id).distance(70).strength(0.6))
      .force('charge', forceManyBody<SimNode>().strength(-260))
      .force('collide', forceCollide<SimNode>(20))
      .force('center', forceCenter(0, 0))
      .force('x', forceX<SimNode>(0).strength(0.06))
      .force('y', forceY<SimNode>(0).strength(0.08))
      .on('tick', () => this.draw());
    if (this.still) this.sim.stop();
    new ResizeObserver(() => this.resize()).observe(svg);
    this.resize();
  }

  update(model: GraphModel): void {
    const signature = JSON.stringify(model);
    if (signature === this.signature) return;
    this.signature = signature;
    const wanted = new Set(model.nodes.map((n) => n.id));
    for (const [id, n] of this.nodes) {
      if (!wanted.has(id)) {
        n.el?.remove();
        this.nodes.delete(id);
      }
    }
    for (const m of model.nodes) {
      let n = this.nodes.get(m.id);
      if (!n) {
        // New nodes start near a random point of a small circle, not all on top of each other.
        const angle = Math.random() * 2 * Math.PI;
        n = { id: m.id, kind: m.kind, x: Math.cos(angle) * 40, y: Math.sin(angle) * 40 };
        this.nodes.set(m.id, n);
      }
      if (!n.el || n.kind !== m.kind) {
        n.kind = m.kind;
        n.el?.remove();
        n.el = this.nodeElement(n);
      }
    }
    // This node first in the layer, so it comes first in tab order.
    const selfNode = [...this.nodes.values()].find((n) => n.kind === 'self');
    if (selfNode?.el) this.nodeLayer.prepend(selfNode.el);

    for (const e of this.edges) e.el?.remove();
    this.edges = model.edges
      .filter((e) => this.nodes.has(e.a) && this.nodes.has(e.b))
      .map((e) => {
        const el = svgEl('line', { class: e.direct ? 'edge direct' : 'edge learned', 'data-a': e.a, 'data-b': e.b });
        this.edgeLayer.append(el);
        return { key: `${e.a}-${e.b}`, source: e.a, target: e.b, direct: e.direct, el };
      });

    this.sim.nodes([...this.nodes.values()]);
    this.fit();
    this.sim.force<ReturnType<typeof forceLink<SimNode, SimEdge>>>('link')!.links(this.edges);
    if (this.still) {
      this.sim.alpha(1).tick(200);
      this.draw();
    } else {
      this.sim.alpha(0.7).restart();
    }
  }

  private nodeElement(n: SimNode): SVGGElement {
    const name = nodeName(n.id);
    const what = n.kind === 'self' ? 'this node' : n.kind === 'demo' ? 'a browser running the demo' : 'a node not running the demo, such as a server';
    const g = svgEl('g', {
      class: `node ${n.kind}`,
      tabindex: '0',
      role: 'button',
      'data-id': n.id,
      'aria-label': `${name} (${shortId(n.id)}), ${what}. Ping it`,
    });
    const title = svgEl('title', {});
    title.textContent = `${name} · ${n.id}`;
    const r = n.kind === 'self' ? 13 : 10;
    const shape =
      n.kind === 'other'
        ? svgEl('rect', { x: String(-r), y: String(-r), width: String(2 * r), height: String(2 * r), rx: '3' })
        : svgEl('circle', { r: String(r) });
    shape.setAttribute('fill', nodeColour(n.id));
    shape.setAttribute('class', 'shape');
    const ring = svgEl('circle', { r: String(r + 5), class: 'focus-ring' });
    const label = svgEl('text', { y: String(r + 14), 'text-anchor': 'middle', class: 'label' });
    label.textContent = name;
    g.append(title, ring, shape, label);
    g.addEventListener('click', () => this.onPick(n.id));
    g.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        this.onPick(n.id);
      }
    });
    this.nodeLayer.append(g);
    return g;
  }

  private resize(): void {
    const box = this.svg.getBoundingClientRect();
    this.width = Math.max(200, box.width);
    this.height = Math.max(200, box.height);
    this.svg.setAttribute('viewBox', `${-this.width / 2} ${-this.height / 2} ${this.width} ${this.height}`);
    this.fit();
    this.draw();
  }

  /** Spreads the layout over the frame: a small mesh gets long links, a big one shorter ones. */
  private fit(): void {
    const span = Math.min(this.width, this.height);
    const distance = clamp(span / (1.5 + Math.sqrt(this.nodes.size)), 45, 150);
    this.sim.force<ReturnType<typeof forceLink<SimNode, SimEdge>>>('link')?.distance(distance);
    this.sim.force<ReturnType<typeof forceManyBody<SimNode>>>('charge')?.strength(-4 * distance);
  }

  private draw(): void {
    const maxX = this.width / 2 - PAD;
    const maxY = this.height / 2 - PAD;
    for (const n of this.nodes.values()) {
      // Keep every node inside the frame, however strong the repulsion.
      n.x = clamp(n.x ?? 0, -maxX, maxX);
      n.y = clamp(n.y ?? 0, -maxY, maxY - 10);
      n.el?.setAttribute('transform', `translate(${n.x.toFixed(1)},${n.y.toFixed(1)})`);
    }
    for (const e of this.edges) {
      const s = e.source as SimNode;
      const t = e.target as SimNode;
      if (typeof s !== 'object' || typeof t !== 'object' || !e.el) continue;
      e.el.setAttribute('x1', (s.x ?? 0).toFixed(1));
      e.el.setAttribute('y1', (s.y ?? 0).toFixed(1));
      e.el.setAttribute('x2', (t.x ?? 0).toFixed(1));
      e.el.setAttribute('y2', (t.y ?? 0).toFixed(1));
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}
