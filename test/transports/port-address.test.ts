/**
 * The per-address link cap reaches brokered WebRTC links: the hosting tab reads the peer's IP
 * from the selected ICE candidate pair (src/browser/rtc-host.ts) and sends it with the open
 * message; the worker's PortLink takes it as its remote address, and the node counts it like a
 * WebSocket peer's IP. Here the tab end is a PortLink over Node's MessageChannel that reports an
 * address, and real nodes link over the pairs (the browser side is test/browser/mesh.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { isMeshError } from '../../src/core/errors.js';
import { Identity } from '../../src/core/identity.js';
import { MeshNode } from '../../src/core/node.js';
import { PortLink, type PortLike } from '../../src/transports/port.js';
import { until } from '../helpers/wait.js';

const dom = (p: MessageChannel['port1']): PortLike => ({
  postMessage: (m, transfer) => p.postMessage(m, transfer as never),
  addEventListener: (_type, listener) => void p.on('message', (data: unknown) => listener({ data })),
  close: () => p.close(),
});

/** A brokered link as the worker sees it, whose hosting tab reports `address` (or none). */
async function brokered(peer: string, address: string | undefined): Promise<{ worker: PortLink; tab: PortLink }> {
  const { port1, port2 } = new MessageChannel();
  const worker = new PortLink(dom(port1), { transport: 'webrtc', remoteAddress: `webrtc:${peer.slice(0, 16)}`, learnAddress: true });
  const tab = new PortLink(dom(port2), { transport: 'webrtc' });
  tab.markOpen(address);
  await worker.opened;
  return { worker, tab };
}

describe('the per-address cap on brokered WebRTC links', () => {
  it('counts the address the hosting tab reports, refuses past the cap with ADDRESS_LIMIT, and leaves unknown addresses apart', async () => {
    const node = new MeshNode({ identity: await Identity.generate(), maxLinksPerAddress: 2, keepaliveMs: 0, encryption: false });
    await node.start();
    const peers: MeshNode[] = [];
    const link = async (address: string | undefined): Promise<string> => {
      const peer = new MeshNode({ identity: await Identity.generate(), keepaliveMs: 0, encryption: false });
      await peer.start();
      peers.push(peer);
      const { worker, tab } = await brokered(peer.id, address);
      assert.equal(worker.remoteAddress, address ?? `webrtc:${peer.id.slice(0, 16)}`, 'the worker end takes the reported address');
      node.addLink(worker, { outbound: false }).catch(() => undefined);
      return peer.addLink(tab, { outbound: true, expectedId: node.id }).then(
        () => 'linked',
        (err: unknown) => (isMeshError(err) ? `refused:${err.code}` : String(err)),
      );
    };
    try {
      const sameHost = [await link('192.0.2.77'), await link('192.0.2.77'), await link('192.0.2.77')];
      assert.deepEqual(sameHost, ['linked', 'linked', 'refused:ADDRESS_LIMIT'], 'two links from 192.0.2.77, the third refused, and told why');
      assert.equal(node.status().counters.dropped['handshake:ADDRESS_LIMIT'], 1, 'refused for its address');
      assert.equal(peers[2]!.status().counters.dropped['handshake:ADDRESS_LIMIT'], 1, 'the refused node counts the reason it was given');
      assert.equal(await link('198.51.100.5'), 'linked', 'another address is taken');
      assert.deepEqual([await link(undefined), await link(undefined)], ['linked', 'linked'], 'unknown addresses are one per peer');
      await until(() => node.linkIds().length === 5, 3_000, 'five links up');
      assert.equal(node.status().counters.dropped['handshake:ADDRESS_LIMIT'], 1, 'and nothing else was');
    } finally {
      await Promise.all([node, ...peers].map((n) => n.stop()));
    }
  });
});
