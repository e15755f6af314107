/**
 * The node's two key pairs in IndexedDB: its Ed25519 identity and its X25519 key for end-to-end
 * encryption. Where the browser can store a CryptoKey by structured clone (Chromium, Firefox,
 * and WebKit pages), the private keys are non-extractable CryptoKeys: no script ever sees their
 * bytes. A WebKit SharedWorker cannot clone a CryptoKey at all (DataCloneError, measured in
 * WebKitGTK 2.50): there the keys are kept as PKCS#8 bytes, imported as non-extractable
 * CryptoKeys on every start. That costs something: anything able to read this origin's
 * IndexedDB (script injected into the origin, a browser extension, a copy of the profile) can
 * copy the private keys and impersonate the node; with CryptoKeys it could only use them while
 * it runs in the origin. `KeyStorage` says which one a node uses; docs/BROWSER.md has the rest.
 */
import { Identity } from '../core/identity.js';
import { hasWork } from '../core/pow.js';
import { generateKeyPair } from './generate-key-pair.js';
import { IdbPeerStore, kv, openDbEarly } from './store.js';

/** `cryptokey`: non-extractable CryptoKeys by structured clone. `bytes`: PKCS#8 bytes, the fallback. */
export type KeyStorage = 'cryptokey' | 'bytes';

/** How a key pair is kept when CryptoKeys cannot be cloned. */
interface KeyBytes {
  format: 'pkcs8';
  pkcs8: Uint8Array<ArrayBuffer>;
  publicKey: Uint8Array<ArrayBuffer>;
}

interface Algorithm {
  name: 'Ed25519' | 'X25519';
  privateUsages: KeyUsage[];
  publicUsages: KeyUsage[];
}

const ED25519: Algorithm = { name: 'Ed25519', privateUsages: ['sign'], publicUsages: ['verify'] };
const X25519: Algorithm = { name: 'X25519', privateUsages: ['deriveBits'], publicUsages: [] };

function isKeyBytes(v: unknown): v is KeyBytes {
  const b = v as KeyBytes | undefined;
  return b?.format === 'pkcs8' && b.pkcs8 instanceof Uint8Array && b.publicKey instanceof Uint8Array;
}

function isCryptoKeyPair(v: unknown): v is CryptoKeyPair {
  const p = v as CryptoKeyPair | undefined;
  return !!p?.privateKey && !!p.publicKey && !(p.privateKey instanceof Uint8Array);
}

/** True for the error a structured clone of a CryptoKey raises where it is not supported. */
function isCloneError(err: unknown): boolean {
  return (err as { name?: string } | undefined)?.name === 'DataCloneError';
}

async function fromBytes(alg: Algorithm, b: KeyBytes): Promise<CryptoKeyPair> {
  const [privateKey, publicKey] = await Promise.all([
    crypto.subtle.importKey('pkcs8', b.pkcs8, { name: alg.name }, false, alg.privateUsages),
    crypto.subtle.importKey('raw', b.publicKey, { name: alg.name }, true, alg.publicUsages),
  ]);
  return { privateKey, publicKey };
}

async function generateBytes(alg: Algorithm): Promise<KeyBytes> {
  const pair = await generateKeyPair(alg.name, true, [...alg.privateUsages, ...alg.publicUsages]);
  const [pkcs8, publicKey] = await Promise.all([crypto.subtle.exportKey('pkcs8', pair.privateKey), crypto.subtle.exportKey('raw', pair.publicKey)]);
  return { format: 'pkcs8', pkcs8: new Uint8Array(pkcs8), publicKey: new Uint8Array(publicKey) };
}

async function fromStored(alg: Algorithm, v: unknown): Promise<{ pair: CryptoKeyPair; storage: KeyStorage } | undefined> {
  if (isKeyBytes(v)) return { pair: await fromBytes(alg, v), storage: 'bytes' };
  if (isCryptoKeyPair(v)) return { pair: v, storage: 'cryptokey' };
  return undefined;
}

/** Progress of making an identity with proof of work (`powBits`): keys tried so far, of about `expected`. */
export interface WorkProgress {
  bits: number;
  tried: number;
  expected: number;
  done: boolean;
  ms: number;
}

/** Asked of the identity key: whether its public key carries the work, and where to report tries. */
interface WorkDemand {
  bits: number;
  onProgress: (p: WorkProgress) => void;
}

/** Reported this often while keys are tried: enough for a live counter, cheap for the worker. */
const PROGRESS_EVERY_MS = 200;

/**
 * The key pair stored under `name`, created on first use: as CryptoKeys where they clone, as
 * bytes where they do not. Two racing creators agree on the first one stored. With `work`, a
 * new pair is generated until its public key carries `work.bits` of proof of work (about
 * 2^bits tries, each an async WebCrypto call, so the thread stays responsive), and a stored
 * pair without that much work is replaced: a mesh asking for work refuses it anyway.
 */
async function loadOrCreatePair(db: IDBDatabase, name: string, alg: Algorithm, work?: WorkDemand): Promise<{ pair: CryptoKeyPair; storage: KeyStorage }> {
  const stored = await fromStored(alg, await kv.get<unknown>(db, name));
  const replace = !!stored && !!work && !hasWork(await rawPublicKey(stored.pair), work.bits);
  if (stored && !replace) return stored;
  const store = (value: unknown) => (replace ? kv.put(db, name, value).then(() => true) : kv.add(db, name, value));
  let added: boolean;
  try {
    const pair = await generateUntil(work, async () => {
      const p = await generateKeyPair(alg.name, false, [...alg.privateUsages, ...alg.publicUsages]);
      return { value: p, publicKey: await rawPublicKey(p) };
    });
    added = await store(pair);
    if (added) return { pair, storage: 'cryptokey' };
  } catch (err) {
    if (!isCloneError(err)) throw err;
    const bytes = await generateUntil(work, async () => {
      const b = await generateBytes(alg);
      return { value: b, publicKey: b.publicKey };
    });
    added = await store(bytes);
    if (added) return { pair: await fromBytes(alg, bytes), storage: 'bytes' };
  }
  const winner = await fromStored(alg, await kv.get<unknown>(db, name));
  if (!winner) throw new Error(`${name} vanished from IndexedDB`);
  return winner;
}

async function rawPublicKey(pair: CryptoKeyPair): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
}

/** Calls `make` until its key carries the work asked (at once when none is asked), reporting progress. */
async function generateUntil<T>(work: WorkDemand | undefined, make: () => Promise<{ value: T; publicKey: Uint8Array }>): Promise<T> {
  if (!work || work.bits <= 0) return (await make()).value;
  const started = Date.now();
  const expected = 2 ** work.bits;
  let tried = 0;
  let reported = 0;
  for (;;) {
    const { value, publicKey } = await make();
    tried++;
    const done = hasWork(publicKey, work.bits);
    if (done || Date.now() - reported >= PROGRESS_EVERY_MS) {
      reported = Date.now();
      work.onProgress({ bits: work.bits, tried, expected, done, ms: reported - started });
    }
    if (done) return value;
  }
}

export interface NodeKeys {
  identity: Identity;
  /** Undefined where this browser has no X25519: the node then runs without encryption. */
  e2eKeys?: CryptoKeyPair;
  /** How the private keys are kept; `bytes` when either pair had to fall back. */
  keyStorage: KeyStorage;
}

/**
 * The keys a node would start with, worked out before anyone asked for a node: a worker starts
 * for a connect(), whose hello comes tens of ms later. Both pairs are read; where one is missing,
 * a fresh non-extractable pair is made for it at once (beside the database's opening), and
 * `adding` says what loadOrCreateKeys must store before the node may use them. On a first visit
 * the fresh pairs usually go into the database as it is made (openWithEarlyKeys), and then
 * nothing is left to read or store.
 */
export interface EarlyKeys {
  keys: NodeKeys;
  adding: [string, unknown][];
}

/** The origin's database, opening, and the keys a node would start with (EarlyKeys). */
export interface EarlyStart {
  db: Promise<IDBDatabase>;
  /** True once `db` resolved if this open made the database: nothing else is stored in it yet. */
  readonly created: boolean;
  /** Undefined where the general path must decide (earlyKeys). */
  keys: Promise<EarlyKeys | undefined>;
}

/**
 * Opens the database and makes fresh pairs at once, side by side. Where the open makes the
 * database (a first visit) and the fresh pairs are there by then, they are added in the
 * transaction that makes it: no pair can be stored before it, and another opener (a racing
 * creator) waits for it, so they are the node's keys once the open succeeds, without a read and
 * a write of their own after it (about 15 ms of a first connect(): docs/BENCHMARKS.md). So a
 * preload() on a first visit stores the keys with the database it makes; it still dials nothing.
 */
export function openWithEarlyKeys(): EarlyStart {
  // Made whether or not the read finds pairs: a returning visit wastes two key generations (off
  // this thread), a first visit does not wait for the read before making them.
  const drafting = Promise.all([
    generateKeyPair('Ed25519', false, [...ED25519.privateUsages, ...ED25519.publicUsages]),
    generateKeyPair('X25519', false, X25519.privateUsages),
  ]);
  let drafts: [CryptoKeyPair, CryptoKeyPair] | undefined;
  drafting.then((d) => (drafts = d), () => undefined);
  const draftIdentity = drafting.then(([pair]) => Identity.fromKeyPair(pair));
  draftIdentity.catch(() => undefined);
  let seeded = false;
  let created = false;
  const db = openDbEarly((store) => {
    created = true;
    if (!drafts) return;
    try {
      store.add(drafts[0], 'identity');
      store.add(drafts[1], 'e2e-keys');
      seeded = true;
    } catch {
      // A CryptoKey that does not clone (a WebKit worker): the general path stores bytes. The
      // clone fails before anything is added, so the transaction goes on and makes the database.
    }
  });
  const keys = (async (): Promise<EarlyKeys | undefined> => {
    await db;
    if (seeded) return { keys: { identity: await draftIdentity, e2eKeys: drafts![1], keyStorage: 'cryptokey' }, adding: [] };
    return earlyKeys(db, drafting, draftIdentity);
  })();
  return { db, keys: keys.catch(() => undefined), get created() { return created; } };
}

/**
 * Undefined where the general path must decide: a pair stored as bytes beside a missing one (the
 * new one would have to be bytes too), no Ed25519 or X25519 in this engine, a read that failed.
 */
async function earlyKeys(dbOpening: Promise<IDBDatabase>, drafting: Promise<[CryptoKeyPair, CryptoKeyPair]>, draftIdentity: Promise<Identity>): Promise<EarlyKeys | undefined> {
  const [storedId, storedE2e] = await kv.getAll(await dbOpening, ['identity', 'e2e-keys']);
  const [id, e2e] = [await fromStored(ED25519, storedId), await fromStored(X25519, storedE2e)];
  if ((!id || !e2e) && (id?.storage === 'bytes' || e2e?.storage === 'bytes')) return undefined;
  const draft = id && e2e ? undefined : await drafting;
  const e2ePair = e2e?.pair ?? draft![1];
  const adding: [string, unknown][] = [];
  if (!id) adding.push(['identity', draft![0]]);
  if (!e2e) adding.push(['e2e-keys', e2ePair]);
  const keyStorage: KeyStorage = id?.storage === 'bytes' || e2e?.storage === 'bytes' ? 'bytes' : 'cryptokey';
  const identity = id ? await Identity.fromKeyPair(id.pair) : await draftIdentity;
  return { keys: { identity, e2eKeys: e2ePair, keyStorage }, adding };
}

/**
 * The node's keys; with `powBits` > 0 its identity carries that much proof of work (see
 * core/pow.ts). With `early` (earlyKeys), the common cases take one IndexedDB step at most: none
 * where both pairs were stored, one transaction adding the missing ones on a first visit (one
 * commit, not one per pair). Anything else, including a racing creator (the add finds a pair
 * there: nothing is written) or a CryptoKey that does not clone, takes the general path below.
 */
export async function loadOrCreateKeys(db: IDBDatabase, powBits = 0, onProgress: (p: WorkProgress) => void = () => undefined, early?: Promise<EarlyKeys | undefined>): Promise<NodeKeys> {
  const e = await early;
  // A key without the work asked is refused by the mesh: a stored one is replaced below, a draft dropped.
  if (e && hasWork(e.keys.identity.publicKey, powBits)) {
    const stored = e.adding.length === 0 || (await kv.addAll(db, e.adding).then(() => true, () => false));
    if (stored) return e.keys;
  }
  const id = await loadOrCreatePair(db, 'identity', ED25519, powBits > 0 ? { bits: powBits, onProgress } : undefined);
  const e2e = await loadOrCreatePair(db, 'e2e-keys', X25519).catch(() => undefined);
  const keyStorage: KeyStorage = id.storage === 'bytes' || e2e?.storage === 'bytes' ? 'bytes' : 'cryptokey';
  return { identity: await Identity.fromKeyPair(id.pair), e2eKeys: e2e?.pair, keyStorage };
}

/** What the host's node starts from: its peer store and its keys, from the early start. `onDb`: the database is open. */
export async function nodeState(early: EarlyStart, powBits: number, onProgress: (p: WorkProgress) => void, onDb: () => void): Promise<{ store: IdbPeerStore; keys: NodeKeys }> {
  const db = await early.db;
  onDb();
  const store = new IdbPeerStore(db, early.created); // its read of peer memory runs beside the keys' loading
  // A browser without X25519 in WebCrypto runs without encryption (peers then send it plaintext).
  return { store, keys: await loadOrCreateKeys(db, powBits, onProgress, early.keys) };
}
