/**
 * The data plane across tabs (docs/DATA-PLANE.md, "Several tabs"), node side: for every link
 * whose host tab T1 holds a grant (fast-grants.ts), every other tab T2 of the node that asked for
 * the data plane gets a grant too, naming a MessageChannel between T2 and T1 (tab-relay.ts).
 * T2 then seals its datagrams and requests to that peer itself, with the same pair key and a
 * packet-id lane of its own, and posts the frames to T1, which writes them on the DataChannel and
 * passes back the answers: one MessagePort leg each way instead of two through the worker.
 *
 * A relay grant lives exactly as long as the host grant it copies: a revoke of that one (the
 * link went, the key changed, the host tab parked or died) takes the relay grants back in the
 * same pass, before any await (FastGrants calls `sync` right after its revokes). A tab that
 * dies or parks loses its grants and channels; the tab at the other end of a channel is told
 * (`relay-close`), since a MessagePort says nothing when its tab dies (BROWSER-FACTS.md).
 *
 * Only where the node runs in a SharedWorker: a leader tab's followers talk to it over a
 * BroadcastChannel, which cannot carry a MessagePort.
 */
import { appId } from '../core/app-namespace.js';
import type { FastGrantMessage, FastTab } from './fast-grants.js';

/** A tab as the relays see it: `listening` to its app's datagrams. */
export interface RelayTab extends FastTab {
  readonly listening: boolean;
}

export interface RelayGrantsHost {
  tabs(): Iterable<RelayTab>;
  /** The tab's packet-id lane (FastGrants.laneOf): one allocator for host and relay grants alike. */
  laneOf(tab: FastTab): number | undefined;
  /** The handling tabs of each port of `app`, in the order the node asks them (host-handlers.ts `ask`). */
  handlers(app: string): Iterable<[number, readonly FastTab[]]>;
  /** The tabs taking streams on each port of `app`, in the order the node hands a stream out (host-streams.ts `incoming`). */
  streamHandlers?(app: string): Iterable<[number, readonly FastTab[]]>;
  log(text: string): void;
  /** A relay grant for `peer` went to `tab` (answers-home.ts). */
  granted?(tab: FastTab, peer: string): void;
  /** A host tab's listener list went from null to a list or back (fast-grants.ts gives it the peer's reliable datagrams only with one). */
  fanningChanged?(): void;
}

interface Channel {
  ch: string;
  a: FastTab;
  b: FastTab;
}

interface Given {
  tab: FastTab;
  key: string;
  /** The host grant it copies: another one (given again) means this one is given again too. */
  host: FastGrantMessage;
}

export class RelayGrants {
  /** By the two tab ids, sorted. */
  private readonly channels = new Map<string, Channel>();
  /** By link key and tab id. */
  private readonly given = new Map<string, Given>();
  private nextChannel = 1;
  /** The host grants of the last sync, for `syncListeners`. */
  private hostGrants: ReadonlyMap<string, { tab: FastTab; message: FastGrantMessage }> = new Map();
  /** The listener list last told to each host tab (JSON). */
  private readonly told = new Map<FastTab, string>();
  /** The handler routes last told to each host tab (JSON). */
  private readonly toldHandlers = new Map<FastTab, string>();
  granted = 0;
  revoked = 0;

  constructor(private readonly host: RelayGrantsHost) {}

  /** Matches the relay grants and channels to the host grants in force, `given` by link key. No await. */
  sync(hostGrants: ReadonlyMap<string, { tab: FastTab; message: FastGrantMessage }>): void {
    this.hostGrants = hostGrants;
    const tabs = [...this.host.tabs()].filter(eligible);
    for (const [id, c] of [...this.channels]) {
      if (eligible(c.a) && eligible(c.b)) continue;
      this.channels.delete(id);
      // `said`: the other tab told us it parks or closes, so its `bye` is on its way on the
      // channel, and the survivor waits for it rather than guess what ran there (relay-channel.ts).
      for (const [t, other] of [[c.a, c.b], [c.b, c.a]] as const) {
        if (t.alive) t.post({ ev: 'relay-close', ch: c.ch, ...(other.saidLeaving ? { said: true as const } : {}) });
      }
    }
    const wanted = new Map<string, Given>();
    for (const [key, h] of hostGrants) {
      if (!eligible(h.tab)) continue;
      for (const tab of tabs) if (tab !== h.tab) wanted.set(givenKey(key, tab), { tab, key, host: h.message });
    }
    for (const [id, g] of [...this.given]) {
      const w = wanted.get(id);
      if (w && w.tab === g.tab && w.host === g.host) continue;
      this.given.delete(id);
      this.revoked++;
      if (g.tab.alive) g.tab.post({ ev: 'fast-revoke', key: g.key, reason: w ? 'changed' : 'no longer eligible' });
    }
    for (const [id, w] of wanted) {
      if (this.given.has(id)) continue;
      const lane = this.host.laneOf(w.tab);
      const hostTab = hostGrants.get(w.key)!.tab;
      if (lane === undefined) continue;
      const ch = this.channel(hostTab, w.tab);
      if (!ch) continue;
      const message: FastGrantMessage = { ...w.host, app: appId(w.tab.app), lane, inbound: false, via: ch };
      try {
        w.tab.post(message);
      } catch (err) {
        this.host.log(`relay: cannot grant ${w.host.peer.slice(0, 8)} to tab ${w.tab.tabId.slice(0, 6)}: ${(err as Error).message}`);
        continue;
      }
      this.given.set(id, w);
      this.granted++;
      this.host.granted?.(w.tab, w.host.peer);
    }
    this.syncListeners();
  }

  /**
   * Tells each host tab whose app has several tabs where its peers' packets to its app go (on
   * every sync, and when a tab starts or stops listening or handling a port, before its reply).
   * Datagrams: every
   * listening tab of the app, itself (`self`) or over a channel. Null (the node hands them out)
   * unless every listener is running and has a channel to it: a parked tab gets its datagrams
   * when it comes back, from the node, and a tab without a channel only from the node.
   * Requests: per port, the tab the node would ask (the first running handling tab), when that
   * is the host tab or a tab it has a channel to; other ports are the node's to hand out.
   * Streams: per port, the tab the node would hand a stream to (the first live one taking
   * streams there), when it runs and is the host tab or has a channel to it.
   */
  syncListeners(): void {
    const all = [...this.host.tabs()].filter((t) => t.alive);
    const hosts = new Set<FastTab>();
    for (const h of this.hostGrants.values()) if (h.message.inbound === false && eligible(h.tab)) hosts.add(h.tab);
    for (const [tab] of [...this.told]) {
      if (hosts.has(tab)) continue;
      this.told.delete(tab);
      if (tab.alive) tab.post({ ev: 'fast-listeners', tabs: null });
    }
    for (const [tab] of [...this.toldHandlers]) {
      if (hosts.has(tab)) continue;
      this.toldHandlers.delete(tab);
      if (tab.alive) tab.post({ ev: 'fast-handlers', ports: null });
    }
    for (const t1 of hosts) this.syncHandlers(t1);
    for (const t1 of hosts) {
      const list = this.listFor(t1, all);
      const json = JSON.stringify(list);
      const was = this.told.get(t1);
      if (was === json) continue;
      this.told.set(t1, json);
      t1.post({ ev: 'fast-listeners', tabs: list });
      if ((was === undefined || was === 'null') !== (list === null)) this.host.fanningChanged?.();
    }
  }

  /** Where a datagram to host tab `t1`'s app goes: every listening tab, `self` or a channel; null unless each runs and has one (syncListeners). */
  private listFor(t1: FastTab, all: readonly RelayTab[]): string[] | null {
    const listeners = all.filter((t) => t.app === t1.app && t.listening);
    let list: string[] | null = listeners.length > 0 ? [] : null;
    for (const l of listeners) {
      if (!list) break;
      const ch = l === t1 ? 'self' : eligible(l) ? this.channelBetween(t1, l) : undefined;
      if (ch === undefined) list = null;
      else list.push(ch);
    }
    return list;
  }

  /** Whether host tab `t1` would be told a list of its app's listening tabs (not null): it may hand the app's datagrams out. */
  fansOut(t1: FastTab): boolean {
    return this.listFor(t1, [...this.host.tabs()].filter((t) => t.alive)) !== null;
  }

  /** The handler routes of host tab `t1`'s app: see syncListeners. */
  private syncHandlers(t1: FastTab): void {
    const ports: [number, string][] = [];
    for (const [port, tabs] of this.host.handlers(t1.app)) {
      // The node's own choice (host-handlers.ts `ask`): a running tab first, a parked one only if no other.
      const tab = tabs.find((t) => t.alive && !t.parked);
      if (!tab) continue;
      const to = tab === t1 ? 'self' : eligible(tab) ? this.channelBetween(t1, tab) : undefined;
      if (to !== undefined) ports.push([port, to]);
    }
    const streams: [number, string][] = [];
    for (const [port, tabs] of this.host.streamHandlers?.(t1.app) ?? []) {
      // The node's own choice (host-streams.ts `incoming`): the first live tab, parked or not; a parked one gets it from the node.
      const tab = tabs.find((t) => t.alive);
      const to = !tab || tab.parked ? undefined : tab === t1 ? 'self' : eligible(tab) ? this.channelBetween(t1, tab) : undefined;
      if (to !== undefined) streams.push([port, to]);
    }
    ports.sort((a, b) => a[0] - b[0]);
    streams.sort((a, b) => a[0] - b[0]);
    const json = JSON.stringify([ports, streams]);
    if (this.toldHandlers.get(t1) === json) return;
    this.toldHandlers.set(t1, json);
    t1.post({ ev: 'fast-handlers', ports, streams });
  }

  private channelBetween(a: FastTab, b: FastTab): string | undefined {
    const c = this.channels.get([a.tabId, b.tabId].sort().join('|'));
    return c && ((c.a === a && c.b === b) || (c.a === b && c.b === a)) ? c.ch : undefined;
  }

  /** The channel between two tabs, made and handed to both on first use. */
  private channel(a: FastTab, b: FastTab): string | undefined {
    const id = [a.tabId, b.tabId].sort().join('|');
    const had = this.channels.get(id);
    if (had && had.a === a && had.b === b) return had.ch;
    if (had && had.a === b && had.b === a) return had.ch;
    const ch = `r${this.nextChannel++}`;
    try {
      const mc = new MessageChannel();
      a.post({ ev: 'relay-port', ch, port: mc.port1 }, [mc.port1]);
      b.post({ ev: 'relay-port', ch, port: mc.port2 }, [mc.port2]);
    } catch (err) {
      this.host.log(`relay: no channel between tabs ${a.tabId.slice(0, 6)} and ${b.tabId.slice(0, 6)}: ${(err as Error).message}`);
      return undefined;
    }
    this.channels.set(id, { ch, a, b });
    return ch;
  }
}

/** A tab that may hold grants: running, a page of the node's own origin that asked for the data plane. */
function eligible(t: FastTab): boolean {
  return t.alive && !t.parked && t.fastPath && t.origin === undefined;
}

function givenKey(key: string, tab: FastTab): string {
  return `${key}\n${tab.tabId}`;
}
