/**
 * The node host's status for one tab (status()): the node's, in the browser's terms, with the
 * host's own counters. A page of this origin also gets `apps`, every app attached to the node
 * with its origin, so it can show its user which sites use the node, and each WebRTC link's
 * peer address; apps that came through the hub get neither: one site must not learn which other
 * sites its user visits, nor where the node's peers are. Nor when their tabs come and go: a hub
 * app's `tabs`, `parkedTabs` and `tabsGone` count its own app's tabs only (its origin, its app),
 * and it gets none of the counters that follow the other tabs (docs/SECURITY.md, "Origin isolation").
 */
import type { NodeStatus } from '../core/node.js';
import type { BootMarks } from './boot-marks.js';
import type { RtcBroker } from './broker.js';
import type { DialCounters } from './dial-backoff.js';
import type { FastGrants } from './fast-grants.js';
import type { IceClient, IceStatus } from './ice-client.js';
import type { KeyStorage, WorkProgress } from './key-store.js';
import type { AttachedApp, BrowserLinkStatus, BrowserStatus, HostKind } from './protocol.js';
import type { RelayGrants } from './relay-grants.js';
import type { GoneCounts, TabHandlers } from './host-handlers.js';
import type { AnswersHome } from './answers-home.js';
import { ownApp, type TabSession } from './host-tab.js';

export type HostStatus = BrowserStatus & {
  /** Of `tabs`, those frozen or cached. */
  parkedTabs: number;
  startedAt: number;
  /** Tabs that went and their unanswered requests (host-handlers.ts `gone`); a hub app: its own app's. */
  tabsGone: GoneCounts;
  counters: NodeStatus['counters'];
  e2e: NodeStatus['e2e'];
  rtcDials: DialCounters;
  ice: IceStatus;
} & Partial<FirstPartyCounters>;

/** What follows every tab of the node: for pages of the node's own origin only. */
interface FirstPartyCounters {
  /** Links moved to another tab as their host tab went or parked. */
  rehomed: number;
  /** Requests the node asked a tab to run. */
  tabRequests: number;
  /** Answers to the peers' requests the tabs' data planes took, sent by the node for them (answers-home.ts). */
  takenAnswers: AnswersHome['stats'];
  /** Links each tab hosts, by tab id. */
  hostedBy: Record<string, number>;
  fastGrants: { granted: number; revoked: number; relayGranted: number; relayRevoked: number };
  /** The node's own streams, every app's (tabs' streams through the node included; not those a tab runs on its data plane). */
  streams: NodeStatus['streams'];
}

/** What the host knows beyond the node's status. */
export interface HostStatusSources {
  kind: HostKind;
  tabs: ReadonlyMap<string, TabSession>;
  webrtc: boolean;
  keyStorage: KeyStorage;
  work?: WorkProgress;
  startedAt: number;
  handlers: Pick<TabHandlers, 'asked' | 'gone' | 'goneOf'>;
  takenAnswers: AnswersHome['stats'];
  broker: RtcBroker;
  dials: DialCounters;
  grants: FastGrants;
  relays?: RelayGrants;
  ice: IceClient;
  boot: BootMarks;
}

export function hostStatus(s: NodeStatus, tab: TabSession, h: HostStatusSources): HostStatus {
  const paths = h.broker.paths();
  const firstParty = tab.origin === undefined;
  const mine = ownApp(tab);
  const tabs = [...h.tabs.values()].filter((t) => firstParty || ownApp(t) === mine);
  return {
    id: s.id,
    host: h.kind,
    tabs: tabs.length,
    parkedTabs: tabs.filter((t) => t.parked).length,
    links: linkStatus(s, tab, paths, h.broker),
    knownPeers: s.knownPeers,
    webrtc: h.webrtc,
    keyStorage: h.keyStorage,
    ...(h.work && { work: h.work }),
    startedAt: h.startedAt,
    tabsGone: firstParty ? { ...h.handlers.gone } : h.handlers.goneOf(tab),
    counters: s.counters,
    e2e: s.e2e,
    rtcDials: h.dials,
    ice: h.ice.status(),
    limits: s.limits,
    boot: { node: h.boot },
    ...(firstParty ? { apps: attachedApps(h.tabs.values()), ...firstPartyCounters(h, s) } : {}),
  };
}

function firstPartyCounters(h: HostStatusSources, s: NodeStatus): FirstPartyCounters {
  return {
    streams: s.streams,
    rehomed: h.broker.rehomed,
    tabRequests: h.handlers.asked,
    takenAnswers: { ...h.takenAnswers },
    hostedBy: Object.fromEntries(h.broker.hostedBy()),
    fastGrants: { granted: h.grants.granted, revoked: h.grants.revoked, relayGranted: h.relays?.granted ?? 0, relayRevoked: h.relays?.revoked ?? 0 },
  };
}

/** Links; for pages of this origin also the peer address a WebRTC link counts under (never told to other sites). */
function linkStatus(s: NodeStatus, tab: TabSession, paths: Map<string, 'direct' | 'turn'>, broker: RtcBroker): BrowserLinkStatus[] {
  const addresses = tab.origin === undefined ? broker.addresses() : new Map<string, string>();
  return s.links.map((l) => {
    const via = l.transport === 'webrtc' ? paths.get(l.id) : undefined;
    const address = l.transport === 'webrtc' ? addresses.get(l.id) : undefined;
    return { id: l.id, transport: l.transport, rttMs: l.rttMs, ...(via ? { via } : {}), ...(address ? { address } : {}), ...(l.bound ? { bound: true } : {}) };
  });
}

function attachedApps(tabs: Iterable<TabSession>): AttachedApp[] {
  const byApp = new Map<string, AttachedApp>();
  for (const t of tabs) {
    if (!t.alive) continue;
    const origin = t.origin ?? self.location.origin;
    const key = JSON.stringify([origin, t.app]);
    const entry = byApp.get(key) ?? { origin, app: t.app, via: t.origin === undefined ? 'direct' : 'hub', tabs: 0 };
    entry.tabs++;
    byApp.set(key, entry);
  }
  return [...byApp.values()];
}
