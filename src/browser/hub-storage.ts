/**
 * Which node the hub iframe can reach. Browsers key a third-party iframe's SharedWorker, storage
 * and Web Locks by the top-level site, so by default the hub under site A and under site B reach
 * two nodes. Chromium's Storage Access API (with storage types) hands back a handle whose
 * `SharedWorker` and `locks` are the hub origin's unpartitioned ones: then every site shares one
 * node. What the engines here really do is in docs/BROWSER.md ("The hub: measured").
 */
import type { HubMode } from './hub-protocol.js';
import { WORKER_OPTIONS } from './protocol.js';
import { withTimeout } from './with-timeout.js';

export interface HubStorage {
  mode: HubMode;
  reason: string;
  /** Opens a port to the node's SharedWorker in this storage. */
  openWorker: (url: string) => SharedWorker;
  locks: LockManager;
}

/** The part of Chromium's StorageAccessHandle we use (not in TypeScript's DOM library yet). */
interface StorageAccessHandle {
  /** A method, not a constructor. */
  SharedWorker?: (url: string, options: WorkerOptions) => SharedWorker;
  locks?: LockManager;
}

type RequestWithTypes = (types: { SharedWorker: boolean; locks: boolean; indexedDB: boolean }) => Promise<StorageAccessHandle | undefined>;

const plainWorker = (url: string) => new SharedWorker(url, WORKER_OPTIONS);
const partitioned = (reason: string): HubStorage => ({ mode: 'per-site', reason, openWorker: plainWorker, locks: navigator.locks });

/** Whether asking can change anything: an embedded hub in a browser with the API. */
export function canAskForStorageAccess(): boolean {
  return window.top !== window && typeof document.requestStorageAccess === 'function';
}

/** On load: the shared node if access is already granted, else the per-site one. Never prompts. */
export async function openHubStorage(): Promise<HubStorage> {
  if (window.top === window) return { mode: 'shared', reason: 'the hub is the top-level page', openWorker: plainWorker, locks: navigator.locks };
  if (!canAskForStorageAccess()) return partitioned('this browser has no Storage Access API');
  // Ask only when access is already granted (or third-party cookies are allowed, which gives
  // access too): then no prompt and no user gesture are needed, and a page load never pops up a
  // question the user did not ask for.
  const state = await navigator.permissions.query({ name: 'storage-access' as PermissionName }).then(
    (s) => s.state,
    () => 'unknown to this browser',
  );
  const has = await document.hasStorageAccess().catch(() => false);
  if (state !== 'granted' && !has) return partitioned(`storage access permission: ${state}`);
  return requestHubStorage(5_000);
}

/**
 * Asks for storage access: call it from a user gesture in the hub frame (the browser may prompt;
 * `waitMs` bounds how long the hub waits for the answer).
 */
export async function requestHubStorage(waitMs: number): Promise<HubStorage> {
  try {
    const request = document.requestStorageAccess as unknown as RequestWithTypes;
    const handle = await withTimeout(request.call(document, { SharedWorker: true, locks: true, indexedDB: true }), waitMs, 'the storage access request');
    const open = handle?.SharedWorker;
    if (open && handle.locks) return { mode: 'shared', reason: 'storage access granted', openWorker: (url) => open.call(handle, url, WORKER_OPTIONS), locks: handle.locks };
    return partitioned('storage access granted, but this browser does not extend it to SharedWorker');
  } catch (err) {
    return partitioned(`storage access refused: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}
