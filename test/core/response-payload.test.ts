/**
 * A Response's optional error code (payloads.ts ResponsePayload): encoded only on a failure that
 * has one, so every other Response keeps its three elements; decoded strictly; and what the
 * requester rejects with (errors.ts remoteFailure): only a code a node may give crosses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from 'cborg';
import { remoteFailure } from '../../src/core/errors.js';
import { Payload } from '../../src/core/payloads.js';

describe('Response payload: the failure code', () => {
  it('is sent only with a failure, and read back', () => {
    const plain = Payload.response.encode({ requestId: 7, ok: true, data: 'x', code: 'HANDLER_CLOSED' });
    assert.deepEqual(plain, encode([7, true, 'x']), 'a success carries no code');
    assert.deepEqual(Payload.response.encode({ requestId: 7, ok: false, data: 'boom' }), encode([7, false, 'boom']), 'a failure without one: three elements, as before');
    const coded = Payload.response.encode({ requestId: 7, ok: false, data: 'gone', code: 'HANDLER_CLOSED' });
    assert.deepEqual(Payload.response.decode(coded), { requestId: 7, ok: false, data: 'gone', code: 'HANDLER_CLOSED' });
    assert.deepEqual(Payload.response.decode(plain), { requestId: 7, ok: true, data: 'x' });
  });

  it('refuses a code on a success, a code that is not a short string, and five elements', () => {
    assert.equal(Payload.response.decode(encode([7, true, 'x', 'HANDLER_CLOSED'])), undefined);
    assert.equal(Payload.response.decode(encode([7, false, 'x', 3])), undefined);
    assert.equal(Payload.response.decode(encode([7, false, 'x', 'C'.repeat(33)])), undefined);
    assert.equal(Payload.response.decode(encode([7, false, 'x', 'HANDLER_CLOSED', 1])), undefined);
  });

  it('rejects the requester with the code only when a node may give it', () => {
    const closed = remoteFailure('the tab closed', 'HANDLER_CLOSED');
    assert.equal(closed.code, 'HANDLER_CLOSED');
    assert.equal(closed.message, 'the tab closed');
    for (const code of [undefined, 'TIMEOUT', 'UNREACHABLE', 'NOT_A_CODE']) {
      const e = remoteFailure('boom', code);
      assert.equal(e.code, 'REMOTE_ERROR', `code ${code}`);
      assert.equal(e.message, 'remote handler failed: boom');
    }
  });
});
