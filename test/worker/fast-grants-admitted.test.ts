/**
 * A host tab's data plane (src/browser/fast-grants.ts) is granted a WebRTC link only once the
 * node has admitted it. A channel opens before its handshake; a tab granted the link then (the
 * node already held the peer's sealing keys from an earlier link) wrote a request packet into the
 * handshake, and the peer refused the link (HANDSHAKE_FAILED: unexpected frame type 7) and closed
 * it: a re-homed link lost that way in test/browser/mesh.test.ts.
 *
 * The nodes are real, linked over MessagePort links; the link handed to the grants is the one
 * whose handshake is held back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FastGrants, type FastTab } from '../../src/browser/fast-grants.js';
import type { HostEvent } from '../../src/browser/protocol.js';
import { Identity } from '../../src/core/identity.js';
import type { Link } from '../../src/core/link.js';
import { MeshNode } from '../../src/core/node.js';
import { PortLink } from '../../src/transports/port.js';
import { until } from '../helpers/wait.js';

async function started(): Promise<MeshNode> {
  const n = new MeshNode({ identity: await Identity.generate(), keepaliveMs: 0 });
  await n.start();
  return n;
}

function openPair(): [PortLink, PortLink] {
  const { port1, port2 } = new MessageChannel();
  const [la, lb] = [new PortLink(port1, { transport: 'webrtc' }), new PortLink(port2, { transport: 'webrtc' })];
  la.markOpen();
  lb.markOpen();
  return [la, lb];
}

describe('fast-path grants', () => {
  it('wait for the node to admit the link: none while its handshake runs, one once it is done', async () => {
    const [a, b] = [await started(), await started()];
    try {
      // A first link: each node learns the other's sealing key and that the other holds its own.
      const [a1, b1] = openPair();
      await Promise.all([a.addLink(a1, { outbound: true, expectedId: b.id }), b.addLink(b1, { outbound: false })]);
      b.handle(1, () => 'pong');
      a.handle(1, () => 'pong');
      await a.request(b.id, 'ping', { port: 1, timeoutMs: 3_000 });
      await b.request(a.id, 'ping', { port: 1, timeoutMs: 3_000 });
      await until(() => a.fastPair(b.id) !== undefined, 3_000, 'a may seal to b without signing');
      a1.close('host tab closing');
      await until(() => !a.linkIds().includes(b.id), 3_000, 'the first link down');

      // The re-homed link: its channel is open, its handshake waits for b.
      const [a2, b2] = openPair();
      const got: HostEvent[] = [];
      const tab: FastTab = { tabId: 't1', app: '', alive: true, parked: false, saidLeaving: false, origin: undefined, fastPath: true, post: (m) => void got.push(m) };
      const hosted: { key: string; peer: string; tabId: string; link: Link }[] = [{ key: 'k2', peer: b.id, tabId: 't1', link: a2 }];
      let passes = 0; // `settled` is told after the revoke pass and after the grant pass of each refresh
      const grants = new FastGrants({ node: () => a, tabs: () => [tab], hostedLinks: () => hosted, log: () => undefined, settled: () => void passes++ });
      const linked = a.addLink(a2, { outbound: true, expectedId: b.id });
      grants.refresh();
      await until(() => passes >= 2, 3_000, 'the grant pass over');
      assert.deepEqual(got.filter((m) => m.ev === 'fast-grant'), [], 'no grant while the handshake runs');

      a.events.on('link-up', () => grants.refresh());
      await Promise.all([linked, b.addLink(b2, { outbound: false })]);
      await until(() => got.some((m) => m.ev === 'fast-grant'), 3_000, 'a grant once the link is admitted');
      const grant = got.find((m) => m.ev === 'fast-grant') as Extract<HostEvent, { ev: 'fast-grant' }>;
      assert.equal(grant.key, 'k2');
      assert.equal(grant.peer, b.id);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
