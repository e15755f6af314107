/** The demo's topology summaries: bounded, checked against their sender, and expired. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeSummary, encodeSummary, EXPIRE_MS, MAX_SUMMARY_LINKS, TopologyBook } from '../../demo/src/topology.js';

const id = (n: number) => n.toString(16).padStart(64, '0');

test('a summary round-trips and keeps at most MAX_SUMMARY_LINKS links', () => {
  const links = Array.from({ length: 40 }, (_, i) => id(i + 10));
  const s = decodeSummary(id(1), encodeSummary(id(1), links));
  assert.deepEqual(s, { v: 1, id: id(1), links: links.slice(0, MAX_SUMMARY_LINKS) });
});

test('a summary about another node than its sender, or malformed, is refused', () => {
  assert.equal(decodeSummary(id(2), encodeSummary(id(1), [id(3)])), undefined);
  assert.equal(decodeSummary(id(1), 'not json'), undefined);
  assert.equal(decodeSummary(id(1), new Uint8Array([1])), undefined);
  assert.equal(decodeSummary(id(1), JSON.stringify({ v: 2, id: id(1), links: [] })), undefined);
  assert.deepEqual(decodeSummary(id(1), JSON.stringify({ v: 1, id: id(1), links: ['x', 7, id(3)] }))?.links, [id(3)]);
});

test('entries not refreshed within EXPIRE_MS go', () => {
  const book = new TopologyBook();
  book.put({ v: 1, id: id(1), links: [] }, 0);
  book.put({ v: 1, id: id(2), links: [] }, 10_000);
  assert.equal(book.expire(EXPIRE_MS), false);
  assert.equal(book.expire(EXPIRE_MS + 1), true);
  assert.deepEqual([...book].map(([k]) => k), [id(2)]);
});
