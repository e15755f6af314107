/**
 * Two ends of one WebRTC link's data plane (src/browser/fast-path.ts) in Node, as two host tabs
 * would hold them, and a tab without the link behind a relay channel: the DataChannel between
 * them is replaced by handing each written frame to the other's `take` (the seam RtcHost gives
 * it), so a test can alter, replay or withhold any frame. WebCrypto is Node's, the same API the
 * tabs use. Used by test/core/fast-path-forgery.test.ts and owed-answers.test.ts.
 */
import assert from 'node:assert/strict';
import { appId } from '../../src/core/app-namespace.js';
import { toHex } from '../../src/core/bytes.js';
import { decodeFrame, FrameType, type PacketFrame } from '../../src/core/codec.js';
import { derivePairKey, exportE2ePublicKey, generateE2eKeys } from '../../src/core/e2e-crypto.js';
import { FastPath } from '../../src/browser/fast-path.js';
import type { OwedAnswer, UnrunRequest } from '../../src/browser/protocol.js';
import type { RtcHost } from '../../src/browser/rtc-host.js';

export const KEY = 'link-1';
/** The path through the node, which these tests never take (the link is never gone here). */
export const noNode = (): Promise<never> => Promise.reject(new Error('went through the node'));

export interface End {
  fast: FastPath;
  id: string;
  wire: Uint8Array[];
  handedOn: Uint8Array[];
  inbox: { from: string; data: unknown; port: number }[];
  /** The DataChannel is open (sendOwn writes); false: the link is gone. */
  open: boolean;
  /** The grant it was given, for another tab of the same node to copy (relay grants). */
  grant: GrantEvent;
  /** Answers it handed to its node to send (owed-answers.ts). */
  home: OwedAnswer[];
  /** Requests nothing ran in it that it handed to its node to run (`taken-request`). */
  unrun: UnrunRequest[];
}

export type GrantEvent = Parameters<FastPath['grant']>[0];

/** A handler in a tab without the link: what it answers a request with. */
export type TabHandler = (data: unknown) => Promise<{ ok: boolean; data: string }>;

/** A tab of `host`'s node without the link: sends and answers only (a relay grant naming channel `via`); `handler`: it handles port 1. */
export function otherTab(host: End, via: string, lane: number, handler?: TabHandler): End {
  const end: End = { fast: undefined as unknown as FastPath, id: host.id, wire: [], handedOn: [], inbox: [], open: false, grant: { ...host.grant, lane, via, inbound: false }, home: [], unrun: [] };
  end.fast = new FastPath({
    rtc: { sendOwn: async () => false, sendNow: () => false, toNode: () => undefined } as unknown as RtcHost,
    listening: () => true,
    deliver: (from, data, port) => void end.inbox.push({ from, data, port }),
    handles: (port) => port === 1 && handler !== undefined,
    runHandler: async (_from, data) => handler!(data),
    traffic: () => undefined,
    answerHome: (a) => void end.home.push(a),
    runHome: (r) => void end.unrun.push(r),
  });
  end.fast.grant(end.grant);
  return end;
}

/**
 * A's host tab, whose app has a second tab `a2` behind relay channel r1 (handling port 1 with
 * `handler`), and B on the other end of the link. `routes`: the node has named r1 as port 1's
 * handling tab; without it, the host tab has no route to hand the peer's requests on by.
 */
export async function hostWithRelayedTab(handler: TabHandler, routes = true) {
  const [a, b] = await pair();
  a.fast.grant({ ...a.grant, inbound: false });
  const a2 = otherTab(a, 'r1', 3, handler);
  const mc = new MessageChannel();
  a.fast.relays.open('r1', mc.port1);
  a2.fast.relays.open('r1', mc.port2);
  if (routes) a.fast.relays.setHandlers([[1, 'r1']]);
  return { a, b, a2, mc };
}

/** Two ends of one link; `bound`: its DTLS channel is bound to both (packets in the clear), with the pair key too or not. */
export async function pair(bound = false, sealing = true): Promise<[End, End]> {
  const made = await Promise.all(
    [0, 1].map(async () => {
      const keys = await generateE2eKeys();
      return { keys, publicKey: await exportE2ePublicKey(keys), id: crypto.getRandomValues(new Uint8Array(32)) };
    }),
  );
  const ends: End[] = [];
  for (const [i, me] of made.entries()) {
    const them = made[1 - i]!;
    const aes = await derivePairKey(me, them);
    const keys = sealing ? { aes: aes as CryptoKey, ownPublic: me.publicKey, peerPublic: them.publicKey } : {};
    const grant: GrantEvent = { ev: 'fast-grant', key: KEY, peer: toHex(them.id), self: toHex(me.id), bound, ...keys, app: appId(''), lane: 1 + i };
    const end: End = { fast: undefined as unknown as FastPath, id: toHex(me.id), wire: [], handedOn: [], inbox: [], open: true, grant, home: [], unrun: [] };
    // As RTCDataChannel.send does, the wire keeps a copy: the data plane writes its next frame
    // over the same scratch or pooled buffer (fast-path.ts).
    const rtc = {
      sendOwn: async (_key: string, frame: Uint8Array) => end.open && (end.wire.push(frame.slice()), true),
      sendNow: (_key: string, frame: Uint8Array) => end.open && (end.wire.push(frame.slice()), true),
      toNode: (_key: string, frame: Uint8Array) => void end.handedOn.push(frame),
    } as unknown as RtcHost;
    end.fast = new FastPath({
      rtc,
      listening: () => true,
      deliver: (from, data, port) => void end.inbox.push({ from, data, port }),
      handles: (port) => port === 1,
      runHandler: async (_from, data) => ({ ok: true, data: `echo:${String(data)}` }),
      traffic: () => undefined,
      answerHome: (a) => void end.home.push(a),
      runHome: (r) => void end.unrun.push(r),
    });
    end.fast.grant(grant);
    ends.push(end);
  }
  return ends as [End, End];
}

/** The frame `a` wrote last, decoded. */
export function lastPacket(e: End): PacketFrame {
  const d = decodeFrame(e.wire.at(-1)!);
  assert.ok(d.ok && d.value.type === FrameType.Packet, 'a packet frame was written');
  return d.value as PacketFrame;
}

export const dropped = (e: End, reason: string): number => e.fast.status().dropped[reason] ?? 0;
