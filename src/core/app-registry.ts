/**
 * Who listens where: message listeners per app, request handlers per (app, port). Filed under
 * the app's wire id (app-namespace.ts), so a packet reaches only the app whose id it names,
 * and every delivery says which app, by the name its listener registered.
 */
import { appId, appKey, checkApp } from './app-namespace.js';
import { MeshError } from './errors.js';
import { checkPort } from './node-checks.js';
import type { Message, RequestHandler } from './node-types.js';

interface Listeners {
  app: string;
  fns: Set<(m: Message) => void>;
}

export class AppRegistry {
  private readonly listeners = new Map<string, Listeners>();
  private readonly handlers = new Map<string, { app: string; fn: RequestHandler }>();

  /** Listens to datagrams for `app` (default: the default app). Returns the function that stops it. */
  onMessage(fn: (m: Message) => void, app?: string): () => void {
    const name = checkApp(app);
    const key = appKey(appId(name));
    let entry = this.listeners.get(key);
    if (!entry) this.listeners.set(key, (entry = { app: name, fns: new Set() }));
    entry.fns.add(fn);
    return () => {
      const e = this.listeners.get(key);
      if (!e?.fns.delete(fn) || e.fns.size > 0) return;
      this.listeners.delete(key);
    };
  }

  /** Answers requests on (`app`, `port`) with `fn`. Returns the function that unregisters it. */
  handle(port: number, fn: RequestHandler, app?: string): () => void {
    checkPort(port);
    const name = checkApp(app);
    const key = `${appKey(appId(name))}:${port}`;
    if (this.handlers.has(key)) throw MeshError.invalid(`port ${port} of ${name === '' ? 'the default app' : `app "${name}"`} already has a handler`);
    const entry = { app: name, fn };
    this.handlers.set(key, entry);
    return () => {
      if (this.handlers.get(key) === entry) this.handlers.delete(key);
    };
  }

  /** The app name and listeners of the app with wire id `id`, if it listens. */
  listenersOf(id: Uint8Array): Listeners | undefined {
    return this.listeners.get(appKey(id));
  }

  /** The handler for `port` of the app with wire id `id`, if any. */
  handlerOf(id: Uint8Array, port: number): { app: string; fn: RequestHandler } | undefined {
    return this.handlers.get(`${appKey(id)}:${port}`);
  }
}
