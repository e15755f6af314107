/**
 * Stands in for core/streams/service.ts in the browser node's bundles (worker.js, leader.js:
 * scripts/streams-build.mjs swaps it in), so that streams, about 5.5 KB gzipped, are loaded only
 * by a node that uses them. The real service (and HostStreams, the host's side of tab streams)
 * is in streams.js, loaded on first use: by the host before a tab's first stream request
 * (host.ts, `loadStreamCode`), or by the first Stream packet from a peer. Packets that arrive while it loads wait here, in order, and go to the
 * real service once it runs: none is lost or answered wrongly.
 */
import { encode, encodeInto } from 'cborg';
import { appId, appKey, checkApp, isAppId } from '../core/app-namespace.js';
import { decodeCbor, isBytes, isString, isUint } from '../core/codec.js';
import { BoundedMap } from '../core/dedupe.js';
import { isMeshError, MeshError } from '../core/errors.js';
import { idFromText } from '../core/id.js';
import { checkPort, safeCall } from '../core/node-checks.js';
import { MAX_PORT } from '../core/payloads.js';
import type { StreamHandler, StreamHost, StreamService as Real, StreamStatus } from '../core/streams/service.js';
import type { CoreStream } from '../core/streams/stream.js';
import type { HostStreams } from './host-streams.js';
import { TAB_CREDIT_BYTES } from './protocol.js';
import type { SharedName } from '../../scripts/streams-build.mjs';
import { STREAMS_GLOBAL, type StreamsGlobal } from './streams-global.js';

/** What streams.js imports from the node's modules (scripts/streams-build.mjs maps each import to this object). */
const DEPS: Record<SharedName, unknown> = { encode, encodeInto, appId, appKey, checkApp, isAppId, decodeCbor, isBytes, isString, isUint, BoundedMap, isMeshError, MeshError, idFromText, checkPort, safeCall, MAX_PORT, TAB_CREDIT_BYTES };

let code: typeof Real | undefined;
let hostCode: typeof HostStreams | undefined;
let loading: Promise<void> | undefined;

/** HostStreams (host-streams.ts), once streams.js ran. */
export function loadedHostStreams(): typeof HostStreams | undefined {
  return hostCode;
}

/** Loads streams.js once (again after a failure); resolves once it ran. */
export function loadStreamCode(): Promise<void> {
  loading ??= load().catch((err: unknown) => {
    loading = undefined;
    throw new MeshError('ABORTED', `the streams part did not load: ${err instanceof Error ? err.message : String(err)}`);
  });
  return loading;
}

async function load(): Promise<void> {
  const g = globalThis as unknown as Record<string, StreamsGlobal> & { importScripts?: (url: string) => void };
  g[STREAMS_GLOBAL] = { deps: DEPS };
  // A SharedWorker is one classic script (scripts/build-browser.mjs): it runs a second one with
  // importScripts, resolved against its own URL. A leader tab's node lives in a module (leader.js).
  if (typeof g.importScripts === 'function') g.importScripts('streams.js');
  else await import('./streams.js');
  const part = g[STREAMS_GLOBAL]!;
  if (!part.StreamService || !part.HostStreams) throw new Error('streams.js did not register its parts');
  code = part.StreamService;
  hostCode = part.HostStreams;
}

export class StreamService implements Pick<Real, 'open' | 'handle' | 'onPacket' | 'resetAll' | 'stopAll' | 'status'> {
  private real?: Real;
  /** Stream packets that came before the part was loaded, in their order. */
  private waiting: [string, Uint8Array][] = [];
  private stopped?: MeshError;

  constructor(private readonly host: StreamHost) {}

  open(to: string, port: number, options: { timeoutMs?: number; app?: string } = {}): CoreStream {
    return this.need().open(to, port, options);
  }

  handle(port: number, fn: StreamHandler, app = ''): () => void {
    return this.need().handle(port, fn, app);
  }

  onPacket(from: string, payload: Uint8Array): void {
    const real = this.part();
    if (real && this.waiting.length === 0) return real.onPacket(from, payload);
    if (this.stopped) return this.host.drop('stream:stopped');
    this.waiting.push([from, payload]);
    if (this.waiting.length > 1) return;
    loadStreamCode().then(
      () => this.flush(),
      () => {
        for (const _ of this.waiting) this.host.drop('stream:part-unavailable');
        this.waiting = [];
      },
    );
  }

  async resetAll(reason: string): Promise<void> {
    await this.real?.resetAll(reason);
  }

  stopAll(err: MeshError): void {
    this.stopped = err;
    this.real?.stopAll(err);
  }

  status(): StreamStatus {
    return this.real?.status() ?? { open: 0, retransmits: 0 };
  }

  private flush(): void {
    const real = this.part()!;
    // One at a time: a packet that arrives during this loop is queued behind the rest.
    while (this.waiting.length > 0) {
      const [from, payload] = this.waiting[0]!;
      real.onPacket(from, payload);
      this.waiting.shift();
    }
  }

  private part(): Real | undefined {
    if (!this.real && code) {
      this.real = new code(this.host);
      if (this.stopped) this.real.stopAll(this.stopped);
    }
    return this.real;
  }

  private need(): Real {
    const real = this.part();
    if (!real) throw new MeshError('ABORTED', 'the streams part is not loaded (loadStreamCode first)');
    return real;
  }
}
