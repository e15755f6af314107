/**
 * The node's persistent state in IndexedDB: its key pairs (key-store.ts says how they are kept)
 * and its peer memory. One database per origin, shared by the SharedWorker and any leader tab.
 */
import type { PeerStore, StoredPeer } from '../core/peer-memory.js';

const DB_NAME = 'meshwork';
const STORE = 'kv';

/**
 * `onCreate` runs inside the transaction that makes the database (a first visit): what it adds is
 * there before anyone else can read the database, since another opener waits for that transaction.
 */
export function openDb(name = DB_NAME, onCreate?: (store: IDBObjectStore) => void): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => onCreate?.(req.result.createObjectStore(STORE));
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('indexedDB.open failed'));
    req.onblocked = () => reject(new Error('indexedDB.open blocked'));
  });
}

function run<T>(db: IDBDatabase, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest | IDBRequest[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve((Array.isArray(req) ? req.map((r) => r.result) : req.result) as T);
    // The request that failed (reading the error of one still pending would throw).
    const failed = () => [req].flat().find((r) => r.readyState === 'done' && r.error)?.error;
    tx.onerror = () => reject(tx.error ?? failed() ?? new Error('indexedDB transaction failed'));
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
  /** Several keys read in one transaction, in order. */
  getAll: (db: IDBDatabase, keys: string[]) => run<unknown[]>(db, 'readonly', (s) => keys.map((k) => s.get(k))),
  /**
   * Writes every entry in one transaction (one commit, not one each) if none is there yet; rejects,
   * having written nothing, when one is (ConstraintError) or a value does not clone.
   */
  addAll: (db: IDBDatabase, entries: [string, unknown][]) => run<unknown>(db, 'readwrite', (s) => entries.map(([k, v]) => s.add(v, k))),
};

/**
 * `openDb` begun at once, for a host that will want the database as soon as a tab says hello: the
 * open then runs while the worker's first messages are delivered, off connect()'s path. A failure
 * is the caller's when it awaits the promise, never an unhandled rejection before.
 */
export function openDbEarly(onCreate?: (store: IDBObjectStore) => void): Promise<IDBDatabase> {
  const opening = openDb(undefined, onCreate);
  opening.catch(() => undefined);
  return opening;
}

/**
 * Peer memory as one IndexedDB value (it is small: bounded per distance bucket). The first read
 * starts as the store is made, so it runs beside the key pairs' loading and the node's start
 * takes it ready (the node loads once, at start).
 */
export class IdbPeerStore implements PeerStore {
  private first?: Promise<unknown>;

  /** `created`: the database was made by this open (a first visit), so there is nothing to read. */
  constructor(private readonly db: IDBDatabase, created = false) {
    this.first = created ? Promise.resolve(undefined) : kv.get<unknown>(db, 'peers');
    this.first.catch(() => undefined);
  }

  async load(): Promise<StoredPeer[]> {
    const reading = this.first ?? kv.get<unknown>(this.db, 'peers');
    this.first = undefined;
    const v = await reading;
    return Array.isArray(v) ? (v as StoredPeer[]) : [];
  }

  async save(peers: StoredPeer[]): Promise<void> {
    await kv.put(this.db, 'peers', peers);
  }
}
