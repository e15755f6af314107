/**
 * The SharedWorker entry: one node host for every tab of the origin. Each tab connects with its
 * own MessagePort; the host does the rest.
 */
import { portConn } from './conn.js';
import { NodeHost } from './host.js';

const host = new NodeHost('shared-worker');

// SharedWorkerGlobalScope is not in the DOM library this folder compiles against: name the one member we use.
const scope = globalThis as unknown as { onconnect: ((e: MessageEvent) => void) | null };
scope.onconnect = (e: MessageEvent) => {
  const port = e.ports[0];
  if (port) host.attach(portConn(port));
};
