/**
 * The node's persistent state in IndexedDB: its key pairs (key-store.ts says how they are kept)
 * and its peer memory. One database per origin, shared by the SharedWorker and any leader tab.
 */
import type { PeerStore, StoredPeer } from '../core/peer-memory.js';

const DB_NAME = 'meshwork';
const STORE = 'kv';

export function openDb(name = DB_NAME): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('indexedDB.open failed'));
    req.onblocked = () => reject(new Error('indexedDB.open blocked'));
  });
}

function run<T>(db: IDBDatabase, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result as T);
    tx.onerror = () => reject(tx.error ?? req.error ?? new Error('indexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('indexedDB transaction aborted'));
  });
}

export const kv = {
  get: <T>(db: IDBDatabase, key: string) => run<T | undefined>(db, 'readonly', (s) => s.get(key)),
  put: (db: IDBDatabase, key: string, value: unknown) => run<unknown>(db, 'readwrite', (s) => s.put(value, key)),
  /** Writes only if the key is absent; resolves false when it was already there. */
  add: (db: IDBDatabase, key: string, value: unknown) =>
    run<unknown>(db, 'readwrite', (s) => s.add(value, key)).then(
      () => true,
      (err: unknown) => {
        if ((err as { name?: string })?.name === 'ConstraintError') return false;
        throw err;
      },
    ),
};

/** Peer memory as one IndexedDB value (it is small: bounded per distance bucket). */
export class IdbPeerStore implements PeerStore {
  constructor(private readonly db: IDBDatabase) {}

  async load(): Promise<StoredPeer[]> {
    const v = await kv.get<unknown>(this.db, 'peers');
    return Array.isArray(v) ? (v as StoredPeer[]) : [];
  }

  async save(peers: StoredPeer[]): Promise<void> {
    await kv.put(this.db, 'peers', peers);
  }
}
