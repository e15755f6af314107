/**
 * Streams between Node nodes over real WebSocket servers: 50 MB through a relay with SHA-256
 * equal at both ends, and a transfer that survives the relay carrying it leaving mid-way.
 * Clients have no port, so nothing links them directly: every byte crosses a server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MeshStream, ServerNode } from '../../src/server/index.js';
import { readAll, writeAll } from '../helpers/streams.js';
import { within } from '../helpers/wait.js';
import { client, eventually, server, stopAll } from './helpers.js';

function accepted(node: ServerNode, port: number): Promise<MeshStream> {
  return new Promise((resolve) => node.handleStreams(port, resolve));
}

describe('streams over WebSocket servers', { timeout: 180_000 }, () => {
  const servers: ServerNode[] = [];
  let a: ServerNode;
  let b: ServerNode;

  before(async () => {
    for (let i = 0; i < 3; i++) servers.push(await server({ peers: servers.map((s) => s.url!) }));
    a = await client([servers[0]!.url!]);
    b = await client([servers[2]!.url!]);
    b.handle(1, () => 'here');
    await eventually(() => a.request(b.id, 'there?', { port: 1, timeoutMs: 700 }), 20_000, 'a reaches b');
  });
  after(() => stopAll([a, b, ...servers]));

  it('carries 50 MB from one client to another through the servers, SHA-256 equal', async () => {
    const incoming = accepted(b, 20);
    const s = a.openStream(b.id, { port: 20 });
    const t0 = Date.now();
    const writing = writeAll(s.writable, 50_000_000, 256 * 1024);
    const remote = await within(incoming, 10_000, 'accepted');
    const [sent, got] = await within(Promise.all([writing, readAll(remote.readable)]), 150_000, '50 MB');
    const seconds = (Date.now() - t0) / 1000;
    console.log(`# 50 MB Node to Node through a server: ${(50 / seconds).toFixed(1)} MB/s, ${a.status().streams.retransmits} segments sent again`);
    assert.equal(got.bytes, 50_000_000);
    assert.equal(got.sha256, sent);
  });

  it('survives the server carrying it leaving mid-transfer (the path re-routes, the endpoints retransmit)', async () => {
    // Both clients first link to more than one server, so a way around the leaving one exists.
    await eventually(async () => assert.ok(a.status().links.length >= 2 && b.status().links.length >= 2, 'two links each'), 20_000, 'clients linked to two servers each');
    const incoming = accepted(b, 21);
    const s = a.openStream(b.id, { port: 21 });
    const total = 30_000_000;
    let read = 0;
    let relayGone: Promise<string> | undefined;
    const forwardedAt = servers.map((x) => x.status().counters.forwarded);
    const writing = writeAll(s.writable, total, 64 * 1024);
    const remote = await within(incoming, 10_000, 'accepted');
    const reading = readAll(remote.readable, (n) => {
      read = n;
      if (!relayGone && n > total / 4) {
        // The server that forwarded the most since the start is the one carrying the stream.
        const carried = servers.map((x, i) => x.status().counters.forwarded - forwardedAt[i]!);
        const i = carried.indexOf(Math.max(...carried));
        relayGone = servers[i]!.stop().then(() => servers[i]!.id);
      }
    });
    const [sent, got] = await within(Promise.all([writing, reading]), 150_000, `transfer with a relay leaving (read ${read} bytes)`);
    const gone = await relayGone!;
    console.log(`# 30 MB with relay ${gone.slice(0, 8)} leaving at a quarter: ${a.status().streams.retransmits} segments sent again`);
    assert.equal(got.bytes, total);
    assert.equal(got.sha256, sent);
  });
});
