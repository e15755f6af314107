/**
 * An Ack to a reliable datagram a host tab sends itself that reaches the node instead (on another
 * link to the peer, while links re-home; docs/DATA-PLANE.md, "Reliable datagrams"): the node
 * offers it to `onForeignAck` before counting it `late-ack` (services.ts `onAck`), and the worker
 * passes it to every live tab that held a grant (fast-grants.ts `ackTab`, `fast-ack`), where the
 * tab sending that message settles it (tab-reliable.ts `ackViaNode`: test/core/tab-reliable.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { systemRandom } from '../../src/core/clock.js';
import type { PacketFrame } from '../../src/core/codec.js';
import { Payload } from '../../src/core/payloads.js';
import { Services, type ServicesHost } from '../../src/core/services.js';
import { FastGrants, type FastTab } from '../../src/browser/fast-grants.js';
import type { HostEvent } from '../../src/browser/protocol.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';

const PEER = 'b'.repeat(64);

function services(foreignAck?: (from: string, id: number) => boolean) {
  const drops: string[] = [];
  const host = { clock: new VirtualClock().scoped(0), random: systemRandom, run: async (f: () => unknown) => f(), drop: (r: string) => void drops.push(r), foreignAck } as unknown as ServicesHost;
  return { s: new Services(host), drops };
}

const ack = (messageId: number) => ({ payload: Payload.ack.encode({ messageId }) }) as PacketFrame;

function tab(tabId: string): FastTab & { got: HostEvent[]; alive: boolean } {
  const t = { tabId, app: '', alive: true, parked: false, saidLeaving: false, origin: undefined, fastPath: true, got: [] as HostEvent[], post: (m: HostEvent) => void t.got.push(m) };
  return t;
}

describe('an Ack for a send the node is not making (late-ack)', () => {
  test('offered to onForeignAck first; counted late-ack only when nobody takes it', () => {
    const offered: [string, number][] = [];
    let take = true;
    const { s, drops } = services((from, id) => (offered.push([from, id]), take));
    s.onAck(PEER, ack(42));
    assert.deepEqual(offered, [[PEER, 42]]);
    assert.deepEqual(drops, [], 'taken: not a drop');
    take = false;
    s.onAck(PEER, ack(43));
    assert.deepEqual(drops, ['late-ack']);
    const bare = services();
    bare.s.onAck(PEER, ack(44));
    assert.deepEqual(bare.drops, ['late-ack'], 'without the option, as before');
  });

  test('the worker passes it to every live tab that held a grant (a lane), and says false when there is none', () => {
    const grants = new FastGrants({ node: () => undefined, tabs: () => [], hostedLinks: () => [], log: () => undefined });
    assert.equal(grants.ackTab(PEER, 7), false, 'no tab ever granted');
    const [t1, t2, t3] = [tab('t1'), tab('t2'), tab('t3')];
    grants.laneOf(t1);
    grants.laneOf(t2);
    t2.alive = false;
    assert.equal(grants.ackTab(PEER, 7), true);
    assert.deepEqual(t1.got, [{ ev: 'fast-ack', from: PEER, messageId: 7 }]);
    assert.deepEqual([t2.got, t3.got], [[], []], 'not to a dead tab, nor one without a lane');
  });
});
