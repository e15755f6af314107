/**
 * A WebSocket peer that stops reading: the link's send buffer must stay bounded. Past its
 * bound the link closes with 1008 and counts `ws:slow-reader`, instead of queuing forever.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { WebSocketLink } from '../../src/transports/websocket.js';
import { within } from '../helpers/wait.js';

describe('a WebSocket peer that stops reading', { timeout: 20_000 }, () => {
  it('is cut off once the send buffer passes its bound, with a counted reason', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    const drops: string[] = [];
    const max = 1024 * 1024;
    const accepted = new Promise<WebSocketLink>((resolve) =>
      wss.once('connection', (ws: WebSocket) => resolve(new WebSocketLink(ws, { maxBufferedBytes: max, onDrop: (r) => drops.push(r) }))),
    );
    const reader = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
    reader.on('error', () => undefined);
    await within(new Promise((resolve) => reader.once('open', resolve)), 3000, 'open');
    reader.pause(); // stops reading from the socket: the kernel buffers fill, then ours would
    const link = await accepted;
    const closed = new Promise<string>((resolve) => link.attach({ frame: () => undefined, close: resolve }));
    const frame = new Uint8Array(64 * 1024);
    let sent = 0;
    let peak = 0;
    // Up to 256 MiB: far more than any kernel buffers, so only the bound can stop it.
    while (!link.closed && sent < 4096) {
      link.send(frame);
      sent++;
      peak = Math.max(peak, link.bufferedAmount);
      if (sent % 16 === 0) await new Promise((r) => setImmediate(r)); // let the socket flush what the kernel takes
    }
    assert.equal(link.closed, true, `closed after ${sent} frames of 64 KiB`);
    assert.match(await within(closed, 3000, 'close reported'), /reads too slowly/);
    assert.deepEqual(drops, ['ws:slow-reader']);
    assert.ok(peak <= max + frame.length, `buffered at most ${peak} bytes`);
    reader.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
});
