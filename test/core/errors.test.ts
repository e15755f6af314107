import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshError } from '../../src/core/errors.js';

test('instanceof MeshError holds for a MeshError from another copy of the module (the tab loads its lazy parts as separate files), and for nothing else', async () => {
  // A query string makes the loader evaluate the module a second time: another class, as another bundle file has.
  const copy = (await import(`../../src/core/errors.js?copy=${Date.now()}`)) as typeof import('../../src/core/errors.js');
  assert.notEqual(copy.MeshError, MeshError, 'a second copy of the class');
  const theirs = copy.MeshError.timeout('a request', 5);
  assert.ok(theirs instanceof MeshError);
  assert.ok(new MeshError('UNREACHABLE', 'x') instanceof copy.MeshError);
  assert.ok(theirs instanceof Error);
  assert.equal(theirs.code, 'TIMEOUT');
  for (const other of [new Error('x'), { code: 'TIMEOUT', name: 'MeshError' }, null, undefined, 'MeshError', 42]) {
    assert.equal(other instanceof MeshError, false, `not a MeshError: ${String(other)}`);
  }
});
