/**
 * The MessagePort link (a tab's DataChannel reaching the SharedWorker) held to the Link
 * compliance suite, over Node's own MessageChannel: both ends of a pair are PortLinks, as the
 * worker end and the tab end are in a browser; and its lazy acks on a quiet link.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { PortLink, type PortLike } from '../../src/transports/port.js';
import { until } from '../helpers/wait.js';
import { runLinkCompliance } from './link-compliance.js';

runLinkCompliance('port', async () => {
  const { port1, port2 } = new MessageChannel();
  // Node's ports take listeners with `on`; the DOM shape is what PortLink asks for.
  const dom = (p: typeof port1): PortLike => ({
    postMessage: (m, transfer) => p.postMessage(m, transfer as never),
    addEventListener: (_type, listener) => void p.on('message', (data: unknown) => listener({ data })),
    close: () => p.close(),
  });
  const a = new PortLink(dom(port1));
  const b = new PortLink(dom(port2));
  return {
    a,
    b,
    async cleanup() {
      a.close();
      b.close();
    },
  };
});

describe('port link acks on a quiet link', () => {
  /** A PortLink pair over Node's MessageChannel that records what each end posts. */
  function tappedPair() {
    const { port1, port2 } = new MessageChannel();
    const posted: { from: 'a' | 'b'; m: Record<string, unknown> }[] = [];
    const dom = (p: typeof port1, from: 'a' | 'b'): PortLike => ({
      postMessage: (m, transfer) => (posted.push({ from, m: m as Record<string, unknown> }), p.postMessage(m, transfer as never)),
      addEventListener: (_type, listener) => void p.on('message', (data: unknown) => listener({ data })),
      close: () => p.close(),
    });
    const a = new PortLink(dom(port1, 'a'));
    const b = new PortLink(dom(port2, 'b'));
    const got = { a: 0, b: 0 };
    a.attach({ frame: () => void got.a++, close: () => undefined });
    b.attach({ frame: () => void got.b++, close: () => undefined });
    return { a, b, got, posted, port1, port2 };
  }

  it('a ping and its pong carry the ack: no ack message of its own', async () => {
    const { a, b, got, posted } = tappedPair();
    for (let i = 1; i <= 3; i++) {
      a.send(new Uint8Array(12)); // a ping
      await until(() => got.b === i, 2_000, `ping ${i} arrives`);
      b.send(new Uint8Array(12)); // its pong
      await until(() => got.a === i, 2_000, `pong ${i} arrives`);
      await new Promise((r) => setImmediate(r));
      assert.equal(a.bufferedAmount, 0, 'the pong carried the ack of the ping');
      assert.ok(b.bufferedAmount <= 12, 'at most the last small frame waits for its ack');
    }
    assert.deepEqual(
      posted.filter((p) => !('f' in p.m)),
      [],
      'only frames crossed the port',
    );
    a.close();
    b.close();
  });

  it('a second small frame without an answer asks for a prompt ack: nothing stays outstanding', async () => {
    const { a, b, got } = tappedPair();
    a.send(new Uint8Array(12));
    a.send(new Uint8Array(12));
    await until(() => got.b === 2, 2_000, 'both frames arrive');
    await until(() => a.bufferedAmount === 0, 2_000, 'both acknowledged');
    a.send(new Uint8Array(4096)); // larger than a lazy ack allows
    await until(() => a.bufferedAmount === 0, 2_000, 'a big frame is acknowledged at once');
    a.close();
    b.close();
  });
});
