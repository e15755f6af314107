/**
 * The worker's relay channels between tabs (src/browser/relay-grants.ts): when a tab leaves, the
 * tab at the other end of its channel is told `relay-close`, with `said` when the leaving tab
 * told the node itself (it parked, or said `closing`): its `bye` is then on its way on the
 * channel, and the survivor waits for it (test/core/owed-answers.test.ts). A tab whose lock told
 * of its death gets no `said`. And the host tab's list of which tab takes the peer's streams on
 * each port (`fast-handlers` `streams`), from the worker's own HostStreams, told before a tab's
 * handleStreams call returns. The tabs are plain records with real MessagePorts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MeshNode } from '../../src/core/node.js';
import type { FastGrantMessage } from '../../src/browser/fast-grants.js';
import { HostStreams } from '../../src/browser/host-streams.js';
import type { HostEvent } from '../../src/browser/protocol.js';
import { RelayGrants, type RelayTab } from '../../src/browser/relay-grants.js';

interface Tab extends RelayTab {
  conn: never;
  fastPath: boolean;
  alive: boolean;
  parked: boolean;
  closingSaid: boolean;
  got: HostEvent[];
}

function tab(tabId: string): Tab {
  const t: Tab = {
    tabId, app: '', conn: undefined as never, alive: true, parked: false, closingSaid: false, origin: undefined, fastPath: true, listening: false, got: [],
    get saidLeaving() {
      return t.parked || t.closingSaid;
    },
    post(m: HostEvent, transfer?: Transferable[]) {
      for (const p of transfer ?? []) (p as MessagePort).close();
      t.got.push(m);
    },
  };
  return t;
}

/** T1 hosts a link to a peer; `others` are the node's other tabs. */
function setUp(...others: Tab[]) {
  const t1 = tab('t1');
  const tabs = [t1, ...others];
  const streams = new HostStreams<Tab>(() => relays.syncListeners());
  const relays = new RelayGrants({ tabs: () => tabs, laneOf: (t) => tabs.indexOf(t as Tab) + 1, handlers: () => [], streamHandlers: (app) => streams.of(app), log: () => undefined });
  const grant: FastGrantMessage = { ev: 'fast-grant', key: 'link-1', peer: 'p'.repeat(64), self: 's'.repeat(64), bound: true, app: new Uint8Array(8), lane: 1, inbound: false };
  const hostGrants = new Map([['link-1', { tab: t1 as RelayTab, message: grant }]]);
  relays.sync(hostGrants);
  return { t1, streams, sync: () => relays.sync(hostGrants) };
}

const closes = (t: Tab) => t.got.filter((m) => m.ev === 'relay-close');

describe("a relay channel's survivor is told how the other tab left", () => {
  test('parked or closing: relay-close says so; dead without a word: it does not', () => {
    const [t2, t3, t4] = [tab('t2'), tab('t3'), tab('t4')];
    const { t1, sync } = setUp(t2, t3, t4);
    const ports = t1.got.filter((m) => m.ev === 'relay-port').map((m) => (m as { ch: string }).ch);
    assert.equal(ports.length, 3, 'a channel from the host tab to each other tab');
    assert.equal(closes(t1).length, 0);

    t2.parked = true;
    sync();
    assert.deepEqual(closes(t1), [{ ev: 'relay-close', ch: ports[0], said: true }], 'parked: said');

    t3.closingSaid = true;
    t3.alive = false;
    sync();
    assert.deepEqual(closes(t1)[1], { ev: 'relay-close', ch: ports[1], said: true }, 'closing: said');

    t4.alive = false;
    sync();
    assert.deepEqual(closes(t1)[2], { ev: 'relay-close', ch: ports[2] }, 'its lock told: not said');
    assert.equal(closes(t1).length, 3);
  });
});

describe("the host tab learns which tab takes the peer's streams on each port", () => {
  /** The node's side of handleStreams: only the call; the node itself is not under test here. */
  const node = { handleStreams: () => () => undefined } as unknown as MeshNode;
  const lists = (t: Tab) => t.got.filter((m) => m.ev === 'fast-handlers').map((m) => (m as { streams?: unknown }).streams);

  test('the first live tab per port, `self` or its channel; one without the data plane or parked left out; told in the call', () => {
    const [t2, t3] = [tab('t2'), tab('t3')];
    t3.fastPath = false; // a page with fastPath: false: no channel to it
    const { t1, streams, sync } = setUp(t2, t3);
    const ch = (t1.got.find((m) => m.ev === 'relay-port') as { ch: string }).ch;
    streams.handle(node, t2, 20);
    assert.deepEqual(lists(t1).at(-1), [[20, ch]], 'T2 takes port 20: told before handle returned');
    streams.handle(node, t1, 21);
    streams.handle(node, t2, 21); // after T1: the node hands port 21's streams to T1
    streams.handle(node, t3, 22);
    assert.deepEqual(lists(t1).at(-1), [[20, ch], [21, 'self']], "port 22's only tab has no channel: the node's");
    t2.parked = true;
    sync();
    assert.deepEqual(lists(t1).at(-1), [[21, 'self']], 'T2 parked: its port goes to the node');
    t2.parked = false;
    sync();
    const ch2 = (t1.got.filter((m) => m.ev === 'relay-port').at(-1) as { ch: string }).ch; // a new channel: the old one went as T2 parked
    assert.deepEqual(lists(t1).at(-1), [[20, ch2], [21, 'self']], 'T2 runs again');
    streams.unhandle(t2, 20);
    assert.deepEqual(lists(t1).at(-1), [[21, 'self']], 'T2 stopped taking port 20');
    streams.unhandle(t1, 21);
    assert.deepEqual(lists(t1).at(-1), [[21, ch2]], 'T1 stopped taking port 21: T2 is next');
    assert.equal(lists(t1).length, 7, 'one message per change (and the first, empty), none for the same list');
  });
});
