/**
 * A server at its link budget: newcomers are refused with BUSY and a reason they can read
 * ("link budget of N is full"), counted on both sides, and the nodes it already has keep
 * being served. The clients are Node API nodes without a port (leaves), the kind the capacity
 * bench uses; their links are all the server's routing needs, so none is pushed out for a newcomer.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ServerNode } from '../../src/server/index.js';
import { within } from '../helpers/wait.js';
import { client, eventually, server, stopAll } from './helpers.js';

describe('a server at its link budget', { timeout: 60_000 }, () => {
  const nodes: ServerNode[] = [];
  after(() => stopAll(nodes));

  it('refuses newcomers with BUSY and keeps serving the nodes it has', async () => {
    const budget = 3;
    const s = await server({ linkBudget: budget });
    nodes.push(s);
    const members: ServerNode[] = [];
    for (let i = 0; i < budget; i++) {
      const c = await client([s.url!]);
      nodes.push(c);
      await within(c.linked(), 10_000, `member ${i} links`);
      c.handle(5, (m) => `member ${i}: ${String(m.data)}`);
      members.push(c);
    }
    // A client counts its link once it has the server's proof; the server admits it a moment later.
    await eventually(async () => assert.equal(s.status().links.length, budget), 10_000, 'the server holds every member', 20);

    const newcomer = await client([s.url!]);
    nodes.push(newcomer);
    // The refusal is counted by the dial that met it: `dial:BUSY`, from the server's BUSY frame.
    await eventually(async () => assert.ok((newcomer.status().counters.dropped['dial:BUSY'] ?? 0) >= 1), 10_000, 'the newcomer is refused', 20);
    assert.equal(newcomer.status().links.length, 0);
    assert.ok((s.status().counters.dropped['handshake:BUSY'] ?? 0) >= 1, 'the server counts the refusal');
    assert.deepEqual(s.status().links.map((l) => l.id).sort(), members.map((m) => m.id).sort(), 'no member was pushed out');

    // The members still reach each other through the server.
    for (const [i, m] of members.entries()) {
      const to = members[(i + 1) % members.length]!;
      const reply = await eventually(() => m.request(to.id, 'still there?', { port: 5, timeoutMs: 2_000 }), 10_000, `member ${i} reaches the next`);
      assert.match(String(reply), /^member \d: still there\?$/);
    }
  });
});
