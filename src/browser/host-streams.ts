/**
 * Streams for tabs, host side. A stream belongs to the node, which lives in the host (the
 * SharedWorker or the leader tab); the tab that opened or accepted it holds proxies of its
 * readable and writable, joined over the tab's Conn (see tab-streams.ts). Both directions are
 * paced by credit, so neither end of the Conn holds more than a bounded amount per stream:
 * - tab -> node: each `stream-write` is answered once the node's stream accepted the chunk
 *   (its send buffer had room); the tab keeps at most TAB_CREDIT_BYTES unanswered;
 * - node -> tab: the host reads from the node's stream only as far as the tab granted with
 *   `stream-read`, and the tab grants only as its own reader reads.
 * The node's stream window then carries that pace end to end.
 *
 * This file is built into streams.js with the core service, loaded on first use
 * (lazy-stream-service.ts): the host makes its HostStreams then (host.ts, withStreams).
 */
import { MeshError } from '../core/errors.js';
import type { MeshNode } from '../core/node.js';
import type { CoreStream } from '../core/streams/stream.js';
import { type Conn, type StreamOp, TAB_CREDIT_BYTES } from './protocol.js';

export interface StreamTab {
  readonly alive: boolean;
  readonly app: string;
  readonly conn: Conn;
}

interface Entry<T extends StreamTab> {
  tab: T;
  sh: string;
  core: CoreStream;
  writer: ReturnType<CoreStream['writable']['getWriter']>;
  reader: ReturnType<CoreStream['readable']['getReader']>;
  /** Writes run one after another, in the order the tab sent them. */
  chain: Promise<void>;
  credit: number;
  reading: boolean;
  readDone: boolean;
  writeDone: boolean;
}

export class HostStreams<T extends StreamTab = StreamTab> {
  private readonly entries = new Map<T, Map<string, Entry<T>>>();
  /** Ports taking streams, by app and port (`portKey`): tabs of one app share its ports, no other app sees them. */
  private readonly ports = new Map<string, { port: number; app: string; tabs: T[]; off: () => void }>();
  private nextHandle = 1;

  /**
   * `changed`: a tab started or stopped taking streams on a port, told in the call (before the
   * tab's call is answered), so the host tab of a link learns which tab takes its peer's
   * streams (relay-grants.ts) before that tab's handleStreams settles.
   */
  constructor(private readonly changed: () => void = () => undefined) {}

  /** The tabs taking streams on each port of `app`, in the order `incoming` tries them. */
  of(app: string): [number, readonly T[]][] {
    const out: [number, readonly T[]][] = [];
    for (const e of this.ports.values()) if (e.app === app) out.push([e.port, e.tabs]);
    return out;
  }

  /** Runs one of `tab`'s stream requests (host.ts). */
  run(node: MeshNode, tab: T, m: StreamOp): unknown {
    switch (m.op) {
      case 'stream-open':
        return this.open(node, tab, m.sh, m.to, m.port, m.timeoutMs);
      case 'stream-handle':
        return this.handle(node, tab, m.port);
      case 'stream-unhandle':
        return this.unhandle(tab, m.port);
      case 'stream-write':
        return this.write(tab, m.sh, m.data);
      case 'stream-close':
        return this.close(tab, m.sh);
      case 'stream-abort':
        return this.abort(tab, m.sh, m.reason);
      case 'stream-read':
        return this.grant(tab, m.sh, m.bytes);
    }
  }

  /** Opens a stream for `tab`, known to it as `sh`. */
  open(node: MeshNode, tab: T, sh: string, to: string, port: number, timeoutMs?: number): void {
    if (this.entries.get(tab)?.has(sh)) throw MeshError.invalid(`stream handle ${sh} is in use`);
    this.adopt(tab, sh, node.openStream(to, { port, timeoutMs, app: tab.app }));
  }

  handle(node: MeshNode, tab: T, port: number): void {
    const k = portKey(tab.app, port);
    let entry = this.ports.get(k);
    if (!entry) {
      const off = node.handleStreams(port, (core) => this.incoming(k, core), { app: tab.app });
      entry = { port, app: tab.app, tabs: [], off };
      this.ports.set(k, entry);
    }
    if (!entry.tabs.includes(tab)) entry.tabs.push(tab);
    this.changed();
  }

  unhandle(tab: T, port: number): void {
    const k = portKey(tab.app, port);
    const entry = this.ports.get(k);
    if (!entry) return;
    entry.tabs = entry.tabs.filter((t) => t !== tab);
    if (entry.tabs.length === 0) {
      entry.off();
      this.ports.delete(k);
    }
    this.changed();
  }

  /** Resolves once the node's stream accepted `data`: the tab's credit comes back with the reply. */
  write(tab: T, sh: string, data: Uint8Array): Promise<void> {
    const e = this.get(tab, sh);
    const done = e.chain.then(() => e.writer.write(data));
    e.chain = done.catch(() => undefined);
    return done;
  }

  /** Ends the tab's writing after what it wrote; resolves once the other end acknowledged all of it. */
  async close(tab: T, sh: string): Promise<void> {
    const e = this.get(tab, sh);
    await e.chain;
    await e.writer.close();
    e.writeDone = true;
    this.settle(e);
  }

  abort(tab: T, sh: string, reason: string): void {
    const e = this.entries.get(tab)?.get(sh);
    if (!e) return;
    e.core.abort(reason);
    this.forget(e);
  }

  /** The tab may receive `bytes` more of this stream. */
  grant(tab: T, sh: string, bytes: number): void {
    const e = this.entries.get(tab)?.get(sh);
    if (!e || !(bytes > 0)) return;
    e.credit = Math.min(e.credit + bytes, TAB_CREDIT_BYTES);
    void this.pump(e);
  }

  /** The tab is gone: its streams end (the other ends see ABORTED), its ports stop accepting. */
  tabDied(tab: T): void {
    for (const e of [...(this.entries.get(tab)?.values() ?? [])]) {
      e.core.abort('the tab holding the stream closed');
      this.forget(e);
    }
    this.entries.delete(tab);
    for (const { port } of [...this.ports.values()]) this.unhandle(tab, port);
  }

  private incoming(k: string, core: CoreStream): void {
    const tab = this.ports.get(k)?.tabs.find((t) => t.alive);
    if (!tab) return core.abort(`no open tab takes streams on port ${core.port}`);
    const sh = `h${this.nextHandle++}`;
    this.adopt(tab, sh, core);
    tab.conn.post({ ev: 'stream-incoming', sh, from: core.remote, port: core.port });
  }

  private adopt(tab: T, sh: string, core: CoreStream): void {
    const e: Entry<T> = {
      tab,
      sh,
      core,
      writer: core.writable.getWriter(),
      reader: core.readable.getReader(),
      chain: Promise.resolve(),
      credit: 0,
      reading: false,
      readDone: false,
      writeDone: false,
    };
    // A failure that no pending read or write will report (the tab only writes, say) still reaches the tab.
    e.writer.closed.catch((err: unknown) => this.failed(e, err));
    let map = this.entries.get(tab);
    if (!map) this.entries.set(tab, (map = new Map()));
    map.set(sh, e);
  }

  /** Reads from the node's stream as far as the tab's credit goes, and posts each chunk (its buffer transferred). */
  private async pump(e: Entry<T>): Promise<void> {
    if (e.reading || e.readDone) return;
    e.reading = true;
    try {
      while (e.credit > 0) {
        const { done, value } = await e.reader.read();
        if (done) {
          e.readDone = true;
          e.tab.conn.post({ ev: 'stream-end', sh: e.sh });
          this.settle(e);
          return;
        }
        // A copy owns its whole buffer, so transferring it takes nothing else along.
        const chunk = value!.slice();
        e.credit -= chunk.length;
        e.tab.conn.post({ ev: 'stream-data', sh: e.sh, data: chunk }, [chunk.buffer]);
      }
    } catch (err) {
      this.failed(e, err);
    } finally {
      e.reading = false;
    }
  }

  private failed(e: Entry<T>, err: unknown): void {
    if (!this.entries.get(e.tab)?.has(e.sh)) return;
    const code = err instanceof MeshError ? err.code : 'ABORTED';
    e.tab.conn.post({ ev: 'stream-error', sh: e.sh, code, message: err instanceof Error ? err.message : String(err) });
    this.forget(e);
  }

  private settle(e: Entry<T>): void {
    if (e.readDone && e.writeDone) this.forget(e);
  }

  private forget(e: Entry<T>): void {
    this.entries.get(e.tab)?.delete(e.sh);
  }

  private get(tab: T, sh: string): Entry<T> {
    const e = this.entries.get(tab)?.get(sh);
    if (!e) throw new MeshError('ABORTED', `stream ${sh} is gone`);
    return e;
  }
}

function portKey(app: string, port: number): string {
  return `${app}\n${port}`;
}
