/**
 * The node host's status for one tab (status()): the node's, in the browser's terms, with the
 * host's own counters. A page of this origin also gets `apps`, every app attached to the node
 * with its origin, so it can show its user which sites use the node, and each WebRTC link's
 * peer address; apps that came through the hub get neither: one site must not learn which other
 * sites its user visits, nor where the node's peers are.
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
import type { TabHandlers } from './host-handlers.js';
import type { AnswersHome } from './answers-home.js';
import type { TabSession } from './host-tab.js';

export type HostStatus = BrowserStatus & {
  parkedTabs: number;
  startedAt: number;
  rehomed: number;
  tabRequests: number;
  /** Tabs that went and their unanswered requests (host-handlers.ts `gone`). */
  tabsGone: TabHandlers['gone'];
  /** Answers to the peers' requests the tabs' data planes took, sent by the node for them (answers-home.ts). */
  takenAnswers: AnswersHome['stats'];
  hostedBy: Record<string, number>;
  counters: NodeStatus['counters'];
  e2e: NodeStatus['e2e'];
  rtcDials: DialCounters;
  fastGrants: { granted: number; revoked: number; relayGranted: number; relayRevoked: number };
  ice: IceStatus;
};

/** What the host knows beyond the node's status. */
export interface HostStatusSources {
  kind: HostKind;
  tabs: ReadonlyMap<string, TabSession>;
  webrtc: boolean;
  keyStorage: KeyStorage;
  work?: WorkProgress;
  startedAt: number;
  tabRequests: number;
  tabsGone: TabHandlers['gone'];
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
  return {
    id: s.id,
    host: h.kind,
    tabs: h.tabs.size,
    parkedTabs: [...h.tabs.values()].filter((t) => t.parked).length,
    links: linkStatus(s, tab, paths, h.broker),
    knownPeers: s.knownPeers,
    webrtc: h.webrtc,
    keyStorage: h.keyStorage,
    ...(h.work && { work: h.work }),
    startedAt: h.startedAt,
    rehomed: h.broker.rehomed,
    tabRequests: h.tabRequests,
    tabsGone: { ...h.tabsGone },
    takenAnswers: { ...h.takenAnswers },
    hostedBy: Object.fromEntries(h.broker.hostedBy()),
    counters: s.counters,
    e2e: s.e2e,
    rtcDials: h.dials,
    fastGrants: { granted: h.grants.granted, revoked: h.grants.revoked, relayGranted: h.relays?.granted ?? 0, relayRevoked: h.relays?.revoked ?? 0 },
    ice: h.ice.status(),
    limits: s.limits,
    boot: { node: h.boot },
    ...(tab.origin === undefined ? { apps: attachedApps(h.tabs.values()) } : {}),
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
