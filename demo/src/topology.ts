/**
 * The multi-hop view. A node's own status shows only its direct links; to draw more, every
 * demo page publishes a small, bounded summary of its node's links on one topic and keeps
 * what the others publish. Entries not refreshed within EXPIRE_MS are dropped, so nodes that
 * left fade out of the graph.
 */
import { isNodeId } from './names.js';

export const TOPOLOGY_TOPIC = 'topology';
export const PUBLISH_EVERY_MS = 4_000;
export const EXPIRE_MS = 20_000;
/** Links per summary: about a browser's link budget, so a summary stays a few KiB at most. */
export const MAX_SUMMARY_LINKS = 24;

export interface Summary {
  v: 1;
  id: string;
  links: string[];
}

export interface Entry {
  links: string[];
  seenAt: number;
}

export function encodeSummary(id: string, links: string[]): string {
  const summary: Summary = { v: 1, id, links: links.slice(0, MAX_SUMMARY_LINKS) };
  return JSON.stringify(summary);
}

/**
 * The summary in `data`, or undefined when it is malformed or claims to be about a node other
 * than its sender (packets are signed by their source, so `from` can be trusted; the body cannot).
 */
export function decodeSummary(from: string, data: unknown): Summary | undefined {
  if (typeof data !== 'string' || data.length > 8_192) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const s = value as Partial<Summary>;
  if (s.v !== 1 || s.id !== from || !isNodeId(s.id) || !Array.isArray(s.links)) return undefined;
  const links = s.links.filter(isNodeId).slice(0, MAX_SUMMARY_LINKS);
  return { v: 1, id: s.id, links };
}

/** What this page knows of other nodes' links, keyed by node id. */
export class TopologyBook {
  private readonly entries = new Map<string, Entry>();

  put(summary: Summary, now: number): void {
    this.entries.set(summary.id, { links: summary.links, seenAt: now });
  }

  /** Drops entries older than EXPIRE_MS; says whether anything went. */
  expire(now: number): boolean {
    let changed = false;
    for (const [id, e] of this.entries) {
      if (now - e.seenAt > EXPIRE_MS) {
        this.entries.delete(id);
        changed = true;
      }
    }
    return changed;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  *[Symbol.iterator](): IterableIterator<[string, Entry]> {
    yield* this.entries;
  }
}
