/**
 * The CI-sized fuzz run: the codec under random and mutated frames, and a live node's handshake
 * and open link under the same. The long run is `npm run fuzz` (scripts/fuzz.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, FrameType } from '../../src/core/codec.js';
import { WIRE_VERSION } from '../../src/core/limits.js';
import { applyMutations, fuzzInput } from '../fuzz/mutations.js';
import { checkCodec, checkLiveLink, fuzzLinkCase } from '../fuzz/targets.js';

const ping = { type: FrameType.Ping, n: 7 } as const;
const reason = (b: Uint8Array) => {
  const r = decodeFrame(b);
  return r.ok ? 'ok' : r.reason;
};

describe('fuzz: codec', () => {
  it('never throws on random and mutated frames, and gives a listed reason for each refusal', () => {
    fc.assert(fc.property(fuzzInput, checkCodec), { numRuns: 5_000 });
  });

  it('refuses text that is not UTF-8, where cborg alone would substitute U+FFFD', () => {
    const frame = encodeFrame({ type: FrameType.Error, code: 'X', message: 'ok', referrals: [] });
    // The code field 'X' (0x61 0x58) becomes a 2-byte text of an overlong '/'.
    const i = frame.indexOf(0x58) - 1;
    const bad = Uint8Array.from([...frame.subarray(0, i), 0x62, 0xc0, 0xaf, ...frame.subarray(i + 2)]);
    assert.equal(reason(bad), 'invalid-utf8');
    // A replacement character that was sent as such (valid UTF-8) is text like any other.
    const sent = encodeFrame({ type: FrameType.Error, code: '\uFFFD', message: 'ok', referrals: [] });
    assert.equal(reason(sent), 'ok');
  });

  it('refuses deep nesting as too-deep instead of recursing, at any depth', () => {
    for (const depth of [9, 100, 50_000]) assert.equal(reason(applyMutations(ping, [{ op: 'nest', depth }])), 'too-deep', `depth ${depth}`);
  });

  it('refuses a declared length beyond the input at once', () => {
    for (const header of [[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0xba, 0xff, 0xff, 0xff, 0xff], [0x5a, 0x7f, 0xff, 0xff, 0xff]]) {
      assert.equal(reason(Uint8Array.from([WIRE_VERSION, ...header, 0x01])), 'malformed-cbor');
    }
  });
});

describe('fuzz: live handshake and open link', { timeout: 60_000 }, () => {
  it('counts every malformed frame, closes with a reason, times out unfinished handshakes, keeps serving', async () => {
    await fc.assert(fc.asyncProperty(fuzzLinkCase, checkLiveLink), { numRuns: 40 });
  });
});
