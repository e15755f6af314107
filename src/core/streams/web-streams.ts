/**
 * The slice of WHATWG streams the core uses, typed here so that `core/` compiles without DOM or
 * Node type libraries (as webcrypto.ts does for WebCrypto). Node 20 and every current browser
 * provide `ReadableStream` and `WritableStream` globally; the public APIs hand these objects out
 * typed as the platform's own streams.
 */
export interface ReadableController<T> {
  enqueue(chunk: T): void;
  close(): void;
  error(e: unknown): void;
}

export interface WritableController {
  error(e: unknown): void;
}

export interface ReadableStreamLike<T> {
  readonly locked: boolean;
  cancel(reason?: unknown): Promise<void>;
  getReader(): { read(): Promise<{ done: boolean; value?: T }>; releaseLock(): void; cancel(reason?: unknown): Promise<void>; readonly closed: Promise<void> };
}

export interface WritableStreamLike<T> {
  readonly locked: boolean;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
  getWriter(): { write(chunk: T): Promise<void>; close(): Promise<void>; abort(reason?: unknown): Promise<void>; releaseLock(): void; readonly ready: Promise<void>; readonly closed: Promise<void> };
}

interface Streams {
  ReadableStream: new <T>(
    source: { start?(c: ReadableController<T>): void; pull?(c: ReadableController<T>): void | Promise<void>; cancel?(reason: unknown): void | Promise<void> },
    strategy?: { highWaterMark?: number },
  ) => ReadableStreamLike<T>;
  WritableStream: new <T>(
    sink: { start?(c: WritableController): void; write?(chunk: T): void | Promise<void>; close?(): void | Promise<void>; abort?(reason: unknown): void | Promise<void> },
    strategy?: { highWaterMark?: number },
  ) => WritableStreamLike<T>;
}

export function webStreams(): Streams {
  const g = globalThis as unknown as Partial<Streams>;
  if (!g.ReadableStream || !g.WritableStream) throw new Error('WHATWG streams (ReadableStream, WritableStream) are not available in this runtime');
  return g as Streams;
}
