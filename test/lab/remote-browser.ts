/**
 * The test's side of browser-driver.ts: a browser running in a lab namespace, its pages
 * evaluated by sending the function's source over the driver's stdin. Every call is bounded.
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Lab } from './netns.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('./browser-driver.ts', import.meta.url));

export type LabEngine = 'chromium' | 'firefox';

export class RemoteBrowser {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly logs: string[] = [];
  private readonly send: (line: string) => void;

  constructor(lab: Lab, ns: string, readonly engine: LabEngine, origin: string, readonly name: string) {
    const child = lab.spawn(ns, [process.execPath, '--import', 'tsx', DRIVER, engine, origin], { cwd: ROOT });
    this.send = (line) => child.stdin!.write(`${line}\n`);
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: child.stderr! }).on('line', (line) => this.log(`stderr: ${line}`));
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`${name}: driver exited (${code})`));
      this.pending.clear();
    });
  }

  /** Opens a page (in its own browser context: its own mesh node) at `url`; resolves with its handle. */
  async open(url: string, timeoutMs = 90_000): Promise<RemotePage> {
    const n = (await this.call({ op: 'open', url }, timeoutMs)) as number;
    return new RemotePage(this, n, `${this.name}/${n}`);
  }

  close(): Promise<unknown> {
    return this.call({ op: 'close' }, 20_000).catch(() => undefined);
  }

  /** @internal */
  call(m: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${String(m.op)} got no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      this.send(JSON.stringify({ ...m, id }));
    });
  }

  private onLine(line: string): void {
    let m: { id?: number; ok?: boolean; value?: unknown; error?: string; log?: string };
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      return this.log(`stdout: ${line}`);
    }
    if (m.log !== undefined) return this.log(m.log);
    const p = this.pending.get(m.id!);
    if (!p) return;
    this.pending.delete(m.id!);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(`${this.name}: ${m.error}`));
  }

  private log(text: string): void {
    this.logs.push(`${new Date().toISOString().slice(11, 23)} [${this.name}] ${text}`);
    if (this.logs.length > 2000) this.logs.splice(0, 500);
  }
}

export class RemotePage {
  constructor(
    private readonly browser: RemoteBrowser,
    private readonly n: number,
    readonly name: string,
  ) {}

  /** Runs `fn(...args)` in the page and resolves with its (awaited, JSON-able) result. */
  eval<A extends unknown[], T>(fn: (...args: A) => T | Promise<T>, ...args: A): Promise<T> {
    const expr = `(${fn.toString()})(...${JSON.stringify(args)})`;
    return this.browser.call({ op: 'eval', page: this.n, expr }, 60_000) as Promise<T>;
  }

  /** Evaluates a script given as text (no bundler helpers can sneak into it); resolves with its awaited value. */
  evalText<T>(expr: string): Promise<T> {
    return this.browser.call({ op: 'eval', page: this.n, expr }, 60_000) as Promise<T>;
  }

  close(): Promise<unknown> {
    return this.browser.call({ op: 'close-page', page: this.n }, 20_000);
  }

  /** Closes the tab but keeps its browser context (storage): `reopen()` then starts the node warm. */
  closeTab(): Promise<unknown> {
    return this.browser.call({ op: 'close-tab', page: this.n }, 20_000);
  }

  /** Loads the page again in a new tab of the same context. */
  async reopen(timeoutMs = 90_000): Promise<void> {
    await this.browser.call({ op: 'reopen', page: this.n }, timeoutMs);
  }
}
