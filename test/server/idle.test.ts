/**
 * 1 000 idle WebSocket connections against one server: past its connection cap the excess gets
 * a clear 503, the idle ones are closed at the handshake timeout, honest traffic over existing
 * links flows all along, and a new honest client connects once the idle ones are gone.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ServerNode } from '../../src/server/index.js';
import { until } from '../helpers/wait.js';
import { client, eventually, FAST, server, stopAll } from './helpers.js';

type Outcome = { ws: WebSocket; status: 'open' } | { status: number; body: string } | { status: 'error'; message: string };

function attempt(url: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve({ ws, status: 'open' }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    ws.once('error', (err) => resolve({ status: 'error', message: err.message }));
  });
}

describe('1 000 idle WebSocket connections', { timeout: 60_000 }, () => {
  const nodes: ServerNode[] = [];
  after(() => stopAll(nodes));

  it('refuses the excess with 503, times the idle ones out, keeps honest traffic flowing', async () => {
    const s = await server({ tuning: { ...FAST, handshakeTimeoutMs: 2_000 } }); // budget 256: room for 576 connections
    const other = await server({ peers: [s.url!] });
    const c = await client([s.url!]);
    nodes.push(s, other, c);
    other.handle(5, (m) => `re: ${String(m.data)}`);
    await eventually(() => c.request(other.id, 'warm up', { port: 5, timeoutMs: 700 }), 10_000, 'the honest pair reaches each other');

    const started = Date.now();
    const outcomes = await Promise.all(Array.from({ length: 1_000 }, () => attempt(s.url!)));
    const open = outcomes.filter((o): o is { ws: WebSocket; status: 'open' } => o.status === 'open');
    const refused = outcomes.filter((o) => o.status === 503);
    const cap = 2 * 256 + 64;
    console.log(`# 1000 idle sockets in ${Date.now() - started} ms: ${open.length} open, ${refused.length} refused with 503, ${outcomes.length - open.length - refused.length} other`);
    // Two servers' links (to other and c) hold connections too.
    assert.ok(open.length >= cap - 4 && open.length <= cap, `${open.length} accepted`);
    assert.equal(open.length + refused.length, 1_000, 'every attempt was either accepted or refused with 503');
    assert.match((refused[0] as { body: string }).body, /maximum of 576 connections/);
    assert.equal(s.status().counters.dropped['http:too-many-connections'], refused.length);

    // Honest requests over the existing links, while the idle sockets sit there.
    for (let i = 0; i < 10; i++) assert.equal(await c.request(other.id, `q${i}`, { port: 5, timeoutMs: 2_000 }), `re: q${i}`);

    const closedByServer = open.map((o) => new Promise<void>((resolve) => o.ws.once('close', () => resolve())));
    await Promise.all(closedByServer);
    const took = Date.now() - started;
    assert.ok(took < 8_000, `idle sockets closed after ${took} ms (handshake timeout 2 000 ms)`);
    assert.ok((s.status().counters.dropped['handshake:TIMEOUT'] ?? 0) >= open.length, 'each counted as a handshake timeout');
    await until(() => s.status().connections <= 4, 3_000, 'the server let go of them');

    // A newcomer gets in and is served.
    const late = await client([s.url!]);
    nodes.push(late);
    assert.equal(await eventually(() => late.request(other.id, 'late', { port: 5, timeoutMs: 700 }), 10_000, 'a new client after the flood'), 're: late');
  });
});
