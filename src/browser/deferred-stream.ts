/**
 * A stream the app holds at once while the code that runs it is still loading (stream-tap.ts:
 * the tab's stream code is loaded on first use): `openStream` returns synchronously, so its
 * readable and writable pass each read, write, close and abort on to the real stream once it
 * is made. Reads stay pulled (high-water mark 0), so the real stream's window still follows the
 * app's reading.
 */
import { MeshError } from '../core/errors.js';
import type { MeshStream } from './tab-streams.js';

export function deferredStream(remote: string, port: number, made: Promise<MeshStream>): MeshStream {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  const readerOf = async () => (reader ??= (await made).readable.getReader());
  const writerOf = async () => (writer ??= (await made).writable.getWriter());
  const readable = new ReadableStream<Uint8Array>(
    {
      pull: async (c) => {
        const { done, value } = await (await readerOf()).read();
        if (done) c.close();
        else c.enqueue(value);
      },
      cancel: async (reason) => (await readerOf()).cancel(reason),
    },
    { highWaterMark: 0 },
  );
  const writable = new WritableStream<Uint8Array>({
    write: async (chunk) => (await writerOf()).write(chunk),
    close: async () => (await writerOf()).close(),
    abort: async (reason) => (await writerOf()).abort(reason),
  });
  return {
    remote,
    port,
    readable,
    writable,
    close: () => (writable.locked ? Promise.reject(MeshError.invalid('the writable is locked by a writer: close that writer instead')) : writable.close()),
    abort: (reason = 'aborted') => {
      void made.then((s) => s.abort(reason), () => undefined);
      const err = new MeshError('ABORTED', `stream aborted here: ${reason}`);
      void readable.cancel(err).catch(() => undefined);
      void writable.abort(err).catch(() => undefined);
    },
  };
}
