/**
 * Peer memory as a JSON file: the core's PeerStore on disk. Writes are atomic and one at a
 * time. A file that is not valid JSON of the right shape is moved aside (to
 * `peers.json.corrupt-<time>`) and the node starts with empty memory: losing memory costs a
 * bootstrap, while refusing to start would cost the operator a manual fix. Records that parse
 * but do not validate are skipped by the core on restore.
 */
import { readFile, rename } from 'node:fs/promises';
import { MeshError } from '../core/errors.js';
import type { PeerStore, StoredPeer } from '../core/peer-memory.js';
import { writeFileAtomic } from './atomic-file.js';

const FORMAT = 'meshwork-peers';
const VERSION = 1;

export class JsonPeerStore implements PeerStore {
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly onWarning: (message: string) => void = () => undefined,
  ) {}

  async load(): Promise<StoredPeer[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new MeshError('STORE_CORRUPT', `the peers file ${this.path} cannot be read: ${(err as Error).message}`, { cause: err });
    }
    const peers = parse(text);
    if (peers) return peers;
    const aside = `${this.path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(this.path, aside);
    this.onWarning(`the peers file ${this.path} was corrupt: moved it to ${aside} and started with empty peer memory`);
    return [];
  }

  /** Saves are chained, so two overlapping saves cannot finish out of order. */
  save(peers: StoredPeer[]): Promise<void> {
    const text = `${JSON.stringify({ format: FORMAT, version: VERSION, savedAt: new Date().toISOString(), peers }, null, 1)}\n`;
    const next = this.writing.then(() => writeFileAtomic(this.path, text));
    this.writing = next.catch(() => undefined);
    return next;
  }
}

/** The peers array of a well-formed file, or undefined. Records themselves are checked by the core. */
function parse(text: string): StoredPeer[] | undefined {
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null) return undefined;
    const o = doc as Record<string, unknown>;
    if (o.format !== FORMAT || o.version !== VERSION || !Array.isArray(o.peers)) return undefined;
    return o.peers as StoredPeer[];
  } catch {
    return undefined;
  }
}
