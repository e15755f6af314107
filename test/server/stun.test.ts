/**
 * STUN in `startNode` / `meshwork serve`: real UDP datagrams to a real server's port, answered
 * with the address the server saw; bad datagrams counted; `stun: false` turns it off; and the
 * codec under the fuzzer (the long run is `npm run fuzz -- --target stun`).
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { bindingRequest, decodeStun, encodeStun, parseIp, readXorMappedAddress, StunAttr, type StunMessage } from '../../src/server/stun-codec.js';
import type { ServerNode } from '../../src/server/index.js';
import { checkStun, stunInput } from '../fuzz/targets.js';
import { until, within } from '../helpers/wait.js';
import { server } from './helpers.js';

/** Sends `bytes` from a fresh UDP socket and resolves with the first datagram back. */
async function ask(port: number, bytes: Uint8Array): Promise<{ reply: StunMessage; from: Socket }> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const got = new Promise<Uint8Array>((resolve) => socket.once('message', (m) => resolve(new Uint8Array(m))));
  socket.send(bytes, port, '127.0.0.1');
  const raw = await within(got, 5_000, 'a STUN answer');
  const d = decodeStun(raw);
  assert.ok(d.ok, `the answer is STUN (${d.ok ? '' : d.reason})`);
  return { reply: d.value, from: socket };
}

const txid = () => crypto.getRandomValues(new Uint8Array(12));

describe('STUN on the server port', { timeout: 30_000 }, () => {
  const nodes: ServerNode[] = [];
  after(async () => {
    for (const n of nodes) await n.stop();
  });

  it('answers a Binding request with the address and port it came from', async () => {
    const s = await server();
    nodes.push(s);
    const port = Number(new URL(s.url!).port);
    assert.equal(s.status().stun?.port, port, 'UDP at the HTTP port number');
    const id = txid();
    const { reply, from } = await ask(port, bindingRequest(id));
    assert.equal(reply.cls, 'success');
    assert.deepEqual(reply.transactionId, id);
    assert.deepEqual(readXorMappedAddress(reply), { address: '127.0.0.1', port: from.address().port });
    assert.ok(reply.attributes.some((a) => a.type === StunAttr.Fingerprint), 'the answer carries a fingerprint');
    from.close();
    assert.equal(s.status().stun?.answered, 1);
  });

  it('counts what it does not answer, and keeps answering', async () => {
    const s = await server();
    nodes.push(s);
    const port = Number(new URL(s.url!).port);
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    socket.send(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), port, '127.0.0.1');
    socket.send(encodeStun({ cls: 'indication', method: 1, transactionId: txid(), attributes: [] }), port, '127.0.0.1');
    await until(() => (s.status().counters.dropped['stun:not-stun'] ?? 0) === 1 && (s.status().counters.dropped['stun:not-a-request'] ?? 0) === 1, 5_000, 'both drops counted');
    socket.close();
    const { reply, from } = await ask(port, bindingRequest(txid()));
    assert.equal(reply.cls, 'success');
    from.close();
  });

  it('answers an unknown comprehension-required attribute with error 420 naming it', async () => {
    const s = await server();
    nodes.push(s);
    const req = encodeStun({ cls: 'request', method: 1, transactionId: txid(), attributes: [{ type: 0x7777, value: new Uint8Array(4) }] });
    const { reply, from } = await ask(Number(new URL(s.url!).port), req);
    from.close();
    assert.equal(reply.cls, 'error');
    const code = reply.attributes.find((a) => a.type === StunAttr.ErrorCode)!.value;
    assert.equal(code[2]! * 100 + code[3]!, 420);
    assert.deepEqual([...reply.attributes.find((a) => a.type === StunAttr.UnknownAttributes)!.value], [0x77, 0x77]);
  });

  it('stays off with stun: false', async () => {
    const s = await server({ stun: false });
    nodes.push(s);
    assert.equal(s.status().stun, undefined);
    // Prove the UDP port is free: we can bind it ourselves.
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(Number(new URL(s.url!).port), '127.0.0.1', () => resolve());
    });
    socket.close();
  });
});

describe('STUN codec', () => {
  it('parses IPv4, IPv6 and IPv4-mapped addresses, and refuses others', () => {
    assert.deepEqual([...parseIp('198.51.100.10')!], [198, 51, 100, 10]);
    assert.deepEqual([...parseIp('::ffff:10.0.0.2')!], [10, 0, 0, 2]);
    assert.deepEqual([...parseIp('2001:db8::1')!], [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 1]);
    for (const bad of ['256.1.1.1', '1:2:3', '1::2::3', 'host.example', '']) assert.equal(parseIp(bad), undefined, bad);
  });

  it('never throws on random and mutated datagrams, and gives a listed reason for each refusal', () => {
    fc.assert(fc.property(stunInput, checkStun), { numRuns: 5_000 });
  });
});
