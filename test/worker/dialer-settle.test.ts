/**
 * BrowserDialer's wait before WebRTC dials (RTC_SETTLE_MS): a dial asked for right after the
 * node's first link reaches the broker only once the node has had its link for `settleMs`; a
 * dial after that, or one with no link announced, goes at once. The broker here records when
 * it is asked (it is what the dialer calls, not the thing under test).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RtcBroker } from '../../src/browser/broker.js';
import { BrowserDialer, WEBRTC_CAP } from '../../src/browser/dialer.js';
import { MeshError } from '../../src/core/errors.js';
import type { PeerRecord } from '../../src/core/peer-memory.js';

function recordingBroker() {
  const asked: { peer: string; at: number }[] = [];
  const broker = {
    hasHost: () => true,
    canSignal: () => true,
    dial: (peer: PeerRecord) => {
      asked.push({ peer: peer.id, at: performance.now() });
      return Promise.reject(new MeshError('DIAL_FAILED', 'recorded'));
    },
  } as unknown as RtcBroker;
  return { broker, asked };
}

const peer = (id: string) => ({ id, caps: [WEBRTC_CAP], addrs: [] }) as unknown as PeerRecord;

test('WebRTC dials wait settleMs after the first link, then go at once', async () => {
  const { broker, asked } = recordingBroker();
  const dialer = new BrowserDialer(broker, undefined, undefined, undefined, 400);
  const linkedAt = performance.now();
  dialer.linked();
  await assert.rejects(dialer.dial(peer('a')), /recorded/);
  assert.equal(asked.length, 1);
  assert.ok(asked[0]!.at - linkedAt >= 399, `asked after ${asked[0]!.at - linkedAt} ms`);
  // A second link does not start the wait again: the next dial goes at once.
  dialer.linked();
  const before = performance.now();
  await assert.rejects(dialer.dial(peer('b')), /recorded/);
  assert.ok(asked[1]!.at - before < 300, `second dial waited ${asked[1]!.at - before} ms`);
});

test('with no link announced (no host to tell it), a dial is not held', async () => {
  const { broker, asked } = recordingBroker();
  const dialer = new BrowserDialer(broker, undefined, undefined, undefined, 60_000);
  await assert.rejects(dialer.dial(peer('a')), /recorded/);
  assert.equal(asked.length, 1);
});
